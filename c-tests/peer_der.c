/* gpcguard_check_peer_der through the C ABI only (include/gpcguard.h), with the test PKI's
 * certificates turned into DER here (PEM_read_X509 + i2d_X509), as a Java host would pass
 * X509Certificate.getEncoded(): whole chains, the leaf alone beside the configured intermediate,
 * nothing, garbage, trailing bytes, truncation, and chains longer than max_peer_certificates.
 * Usage: peer_der PKI_DIR (made by c-tests/make-pki.sh). Prints each failure, then
 * "N passed, N failed"; exits 1 on any failure. */
#include "check.h"
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first certificate of a PEM file in the PKI, as DER (caller frees with OPENSSL_free). */
static gpcguard_bytes der_of(const char *name) {
    FILE *f = fopen(path_in_pki(name), "r");
    if (!f) {
        perror(path_in_pki(name));
        exit(2);
    }
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    unsigned char *der = NULL;
    int len = x ? i2d_X509(x, &der) : -1;
    X509_free(x);
    if (len <= 0) {
        fprintf(stderr, "peer_der: cannot read a certificate from %s\n", name);
        exit(2);
    }
    return (gpcguard_bytes){der, (size_t)len};
}

static void expect_at(int line, gpcguard_guard *guard, const char *label, const gpcguard_bytes *certs, size_t count, int64_t now,
                      gpcguard_reason want, const char *needle) {
    gpcguard_verdict *v = SENTINEL;
    gpcguard_result r = gpcguard_check_peer_der(guard, certs, count, now, &v);
    check_at(__FILE__, line, r == GPCGUARD_OK && v && v != SENTINEL, "%s: %s (%s)", label, gpcguard_result_name(r), error_detail());
    if (r != GPCGUARD_OK)
        return;
    gpcguard_reason got = gpcguard_verdict_reason(v);
    check_at(__FILE__, line, got == want, "%s: reason %s, want %s (%s)", label, gpcguard_reason_name(got), gpcguard_reason_name(want), gpcguard_verdict_message(v));
    int allowed = want == GPCGUARD_REASON_ALLOWED;
    uint16_t status = allowed ? 200 : want == GPCGUARD_REASON_CERT_MISSING ? 496 : 495;
    check_at(__FILE__, line, gpcguard_verdict_allowed(v) == allowed, "%s: allowed %d", label, gpcguard_verdict_allowed(v));
    check_at(__FILE__, line, gpcguard_verdict_http_status(v) == status, "%s: status %u, want %u", label, gpcguard_verdict_http_status(v), status);
    check_at(__FILE__, line, strcmp(gpcguard_verdict_error_code(v), allowed ? "" : "BAD_REQUEST") == 0, "%s: error code \"%s\"", label, gpcguard_verdict_error_code(v));
    const char *oo = gpcguard_verdict_operation_outcome(v);
    if (allowed)
        check_at(__FILE__, line, oo == NULL, "%s: allowed with an OperationOutcome", label);
    else
        check_at(__FILE__, line, oo && strstr(oo, "\"resourceType\":\"OperationOutcome\"") && strstr(oo, "\"BAD_REQUEST\""), "%s: OperationOutcome %s", label, oo ? oo : "NULL");
    check_at(__FILE__, line, strcmp(gpcguard_verdict_interaction_id(v), "") == 0, "%s: a peer verdict names an interaction", label);
    check_at(__FILE__, line, strcmp(gpcguard_verdict_audit_record(v), "") == 0, "%s: a peer verdict has an audit record", label);
    if (needle)
        check_at(__FILE__, line, strstr(gpcguard_verdict_message(v), needle) != NULL, "%s: message \"%s\" does not name `%s`", label, gpcguard_verdict_message(v), needle);
    gpcguard_verdict_free(v);
}
#define EXPECT(guard, label, certs, count, want, needle) expect_at(__LINE__, (guard), (label), (certs), (count), 0, (want), (needle))

static gpcguard_guard *make_guard(const char *max_peer_certificates) {
    gpcguard_config *cfg = NULL;
    CHECK(gpcguard_config_new(&cfg) == GPCGUARD_OK, "config_new");
    const char *settings[][2] = {
        {"provider_asid", "918999198993"},
        {"ssp_fqdn", "msg.dev.spine2.ncrs.nhs.uk"},
        {"trust_anchor", path_in_pki("root-ca.pem")},
        {"intermediate", path_in_pki("sub-ca.pem")},
        {"crl", path_in_pki("root-ca.crl")},
        {"crl", path_in_pki("sub-ca.crl")},
        {"max_peer_certificates", max_peer_certificates},
    };
    size_t n = sizeof settings / sizeof settings[0] - (max_peer_certificates ? 0 : 1);
    for (size_t i = 0; i < n; i++) {
        gpcguard_result r = gpcguard_config_set(cfg, settings[i][0], settings[i][1]);
        CHECK(r == GPCGUARD_OK, "set %s: %s (%s)", settings[i][0], gpcguard_result_name(r), error_detail());
    }
    gpcguard_guard *g = NULL;
    gpcguard_result r = gpcguard_guard_new(cfg, &g);
    CHECK(r == GPCGUARD_OK && g, "guard_new: %s (%s)", gpcguard_result_name(r), error_detail());
    gpcguard_config_free(cfg);
    return g;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PKI_DIR (made by c-tests/make-pki.sh)\n", argv[0]);
        return 2;
    }
    pki = argv[1];
    gpcguard_guard *guard = make_guard(NULL);
    if (!guard) {
        printf("peer_der: %d passed, %d failed\n", passed, failed);
        return 1;
    }
    gpcguard_bytes leaf = der_of("client-valid.pem"), sub = der_of("sub-ca.pem"), root = der_of("root-ca.pem");
    gpcguard_bytes revoked = der_of("client-revoked.pem"), expired = der_of("client-expired.pem");
    gpcguard_bytes unrelated = der_of("client-unrelated.pem"), wrong_host = der_of("client-wrong-fqdn.pem");

    gpcguard_bytes chain[] = {leaf, sub};
    EXPECT(guard, "leaf + sub-ca", chain, 2, GPCGUARD_REASON_ALLOWED, NULL);
    EXPECT(guard, "leaf alone (configured intermediate)", &leaf, 1, GPCGUARD_REASON_ALLOWED, NULL);
    gpcguard_bytes full[] = {leaf, sub, root};
    EXPECT(guard, "leaf + sub-ca + root", full, 3, GPCGUARD_REASON_ALLOWED, NULL);
    /* The verdicts of the other certificates match the PEM ones (api_basics). */
    EXPECT(guard, "revoked leaf", &revoked, 1, GPCGUARD_REASON_CERT_REVOKED, "sub-ca.crl");
    EXPECT(guard, "expired leaf", &expired, 1, GPCGUARD_REASON_CERT_EXPIRED, NULL);
    EXPECT(guard, "leaf of an unrelated CA", &unrelated, 1, GPCGUARD_REASON_CERT_UNTRUSTED, NULL);
    EXPECT(guard, "leaf for another host", &wrong_host, 1, GPCGUARD_REASON_CERT_WRONG_HOST, "msg.dev.spine2.ncrs.nhs.uk");
    gpcguard_bytes sub_first[] = {sub, leaf};
    EXPECT(guard, "sub-ca as the leaf", sub_first, 2, GPCGUARD_REASON_CERT_UNTRUSTED, NULL);

    /* Nothing presented. */
    EXPECT(guard, "count 0, certs NULL", NULL, 0, GPCGUARD_REASON_CERT_MISSING, NULL);
    EXPECT(guard, "count 0, certs set", chain, 0, GPCGUARD_REASON_CERT_MISSING, NULL);

    /* Not exactly one DER certificate per entry. */
    const unsigned char garbage_bytes[] = "this is not a certificate at all";
    gpcguard_bytes garbage = {garbage_bytes, sizeof garbage_bytes - 1};
    EXPECT(guard, "garbage", &garbage, 1, GPCGUARD_REASON_CERT_MALFORMED, NULL);
    gpcguard_bytes leaf_then_garbage[] = {leaf, garbage};
    EXPECT(guard, "valid leaf, garbage intermediate", leaf_then_garbage, 2, GPCGUARD_REASON_CERT_MALFORMED, "certificate 1");
    unsigned char *padded = malloc(leaf.len + 4);
    memcpy(padded, leaf.data, leaf.len);
    memcpy(padded + leaf.len, "\x00\x00\x05\x00", 4);
    for (size_t extra = 1; extra <= 4; extra++) {
        gpcguard_bytes trailing = {padded, leaf.len + extra};
        char label[64];
        snprintf(label, sizeof label, "leaf DER + %zu trailing bytes", extra);
        EXPECT(guard, label, &trailing, 1, GPCGUARD_REASON_CERT_MALFORMED, NULL);
    }
    unsigned char *two = malloc(leaf.len + sub.len);
    memcpy(two, leaf.data, leaf.len);
    memcpy(two + leaf.len, sub.data, sub.len);
    gpcguard_bytes concatenated = {two, leaf.len + sub.len};
    EXPECT(guard, "leaf and sub-ca in one entry", &concatenated, 1, GPCGUARD_REASON_CERT_MALFORMED, NULL);
    gpcguard_bytes truncated = {leaf.data, leaf.len - 1};
    EXPECT(guard, "leaf DER less its last byte", &truncated, 1, GPCGUARD_REASON_CERT_MALFORMED, NULL);
    gpcguard_bytes empty = {NULL, 0};
    EXPECT(guard, "one entry NULL, 0", &empty, 1, GPCGUARD_REASON_CERT_MALFORMED, NULL);
    free(two);
    free(padded);

    /* More certificates than max_peer_certificates (default 8): refused before any parsing. */
    gpcguard_bytes nine[9];
    nine[0] = leaf;
    for (int i = 1; i < 9; i++)
        nine[i] = sub;
    EXPECT(guard, "9 certificates (default limit 8)", nine, 9, GPCGUARD_REASON_CERT_MALFORMED, "max_peer_certificates");
    EXPECT(guard, "8 certificates (default limit 8)", nine, 8, GPCGUARD_REASON_ALLOWED, NULL);
    gpcguard_guard *two_max = make_guard("2");
    if (two_max) {
        EXPECT(two_max, "3 certificates, max_peer_certificates 2", full, 3, GPCGUARD_REASON_CERT_MALFORMED, "max_peer_certificates");
        EXPECT(two_max, "2 certificates, max_peer_certificates 2", chain, 2, GPCGUARD_REASON_ALLOWED, NULL);
        gpcguard_guard_free(two_max);
    }

    /* Caller bugs: results, not verdicts, and *out reset. */
    gpcguard_verdict *v = SENTINEL;
    gpcguard_bytes null_data = {NULL, 10};
    gpcguard_result r = gpcguard_check_peer_der(guard, &null_data, 1, 0, &v);
    CHECK(r == GPCGUARD_NULL_PARAMETER && v == NULL, "entry NULL, 10: %s", gpcguard_result_name(r));
    gpcguard_bytes second_null[] = {leaf, null_data};
    v = SENTINEL;
    r = gpcguard_check_peer_der(guard, second_null, 2, 0, &v);
    CHECK(r == GPCGUARD_NULL_PARAMETER && v == NULL, "second entry NULL, 10: %s", gpcguard_result_name(r));
    v = SENTINEL;
    r = gpcguard_check_peer_der(guard, NULL, 2, 0, &v);
    CHECK(r == GPCGUARD_NULL_PARAMETER && v == NULL, "certs NULL, count 2: %s", gpcguard_result_name(r));
    v = SENTINEL;
    r = gpcguard_check_peer_der(NULL, chain, 2, 0, &v);
    CHECK(r == GPCGUARD_NULL_PARAMETER && v == NULL, "NULL guard: %s", gpcguard_result_name(r));
    CHECK(gpcguard_check_peer_der(guard, chain, 2, 0, NULL) == GPCGUARD_NULL_PARAMETER, "NULL out");

    gpcguard_bytes all[] = {leaf, sub, root, revoked, expired, unrelated, wrong_host};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        OPENSSL_free((void *)all[i].data);
    gpcguard_guard_free(guard);
    printf("peer_der: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
