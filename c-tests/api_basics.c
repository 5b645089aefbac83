/* Exercises the C ABI directly, through include/gpcguard.h only: NULL handling, out-pointers,
 * error details that name the key or file at fault, static strings, and gpcguard_check_peer_pem on
 * every certificate of the test PKI (c-tests/make-pki.sh).
 * Usage: api_basics PKI_DIR. Prints each failure, then "N passed, N failed"; exits 1 on any failure. */
#include "check.h"
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    unsigned char *buf = malloc(1 << 16);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

/* Expects `call` to fail with `want`, leaving a last-error detail that contains `needle`. */
static void expect_error(int line, const char *call, gpcguard_result got, gpcguard_result want, const char *needle) {
    const char *detail = error_detail();
    check_at(__FILE__, line, got == want, "%s: got %s, want %s (%s)", call, gpcguard_result_name(got), gpcguard_result_name(want), detail);
    if (needle)
        check_at(__FILE__, line, strstr(detail, needle) != NULL, "%s: error detail \"%s\" does not name `%s`", call, detail, needle);
}
#define EXPECT_ERROR(call, want, needle) expect_error(__LINE__, #call, (call), (want), (needle))

/* A configuration for the test PKI without the server identity; every setting must be accepted. */
static gpcguard_config *pki_config(int with_crls) {
    gpcguard_config *cfg = NULL;
    CHECK(gpcguard_config_new(&cfg) == GPCGUARD_OK && cfg, "gpcguard_config_new");
    const char *settings[][2] = {
        {"provider_asid", "918999198993"},
        {"ssp_fqdn", "msg.dev.spine2.ncrs.nhs.uk"},
        {"trust_anchor", path_in_pki("root-ca.pem")},
        {"intermediate", path_in_pki("sub-ca.pem")},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        gpcguard_result r = gpcguard_config_set(cfg, settings[i][0], settings[i][1]);
        CHECK(r == GPCGUARD_OK, "set %s: %s (%s)", settings[i][0], gpcguard_result_name(r), error_detail());
    }
    if (with_crls) {
        CHECK(gpcguard_config_set(cfg, "crl", path_in_pki("root-ca.crl")) == GPCGUARD_OK, "set crl root");
        CHECK(gpcguard_config_set(cfg, "crl", path_in_pki("sub-ca.crl")) == GPCGUARD_OK, "set crl sub");
    }
    return cfg;
}

static void test_null_parameters(void) {
    gpcguard_config *cfg = pki_config(1);
    gpcguard_guard *guard = NULL;
    CHECK(gpcguard_guard_new(cfg, &guard) == GPCGUARD_OK && guard, "guard_new: %s", error_detail());
    const uint8_t pem[] = "x";

    CHECK(gpcguard_config_new(NULL) == GPCGUARD_NULL_PARAMETER, "config_new(NULL)");
    gpcguard_config *cfg_out = SENTINEL;
    CHECK(gpcguard_config_from_file(NULL, &cfg_out) == GPCGUARD_NULL_PARAMETER, "config_from_file(NULL path)");
    CHECK(cfg_out == NULL, "config_from_file(NULL path) left the out-pointer set");
    CHECK(gpcguard_config_from_file(path_in_pki("provider.toml"), NULL) == GPCGUARD_NULL_PARAMETER, "config_from_file(NULL out)");
    CHECK(gpcguard_config_set(NULL, "provider_asid", "1") == GPCGUARD_NULL_PARAMETER, "config_set(NULL cfg)");
    CHECK(gpcguard_config_set(cfg, NULL, "1") == GPCGUARD_NULL_PARAMETER, "config_set(NULL key)");
    CHECK(gpcguard_config_set(cfg, "provider_asid", NULL) == GPCGUARD_NULL_PARAMETER, "config_set(NULL value)");

    gpcguard_guard *guard_out = SENTINEL;
    CHECK(gpcguard_guard_new(NULL, &guard_out) == GPCGUARD_NULL_PARAMETER, "guard_new(NULL cfg)");
    CHECK(guard_out == NULL, "guard_new(NULL cfg) left the out-pointer set");
    CHECK(gpcguard_guard_new(cfg, NULL) == GPCGUARD_NULL_PARAMETER, "guard_new(NULL out)");
    CHECK(gpcguard_guard_reload(NULL) == GPCGUARD_NULL_PARAMETER, "guard_reload(NULL)");

    SSL_CTX *ctx_out = SENTINEL;
    CHECK(gpcguard_ssl_ctx_new(NULL, &ctx_out) == GPCGUARD_NULL_PARAMETER, "ssl_ctx_new(NULL guard)");
    CHECK(ctx_out == NULL, "ssl_ctx_new(NULL guard) left the out-pointer set");
    CHECK(gpcguard_ssl_ctx_new(guard, NULL) == GPCGUARD_NULL_PARAMETER, "ssl_ctx_new(NULL out)");
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    CHECK(gpcguard_ssl_ctx_apply(NULL, ctx) == GPCGUARD_NULL_PARAMETER, "ssl_ctx_apply(NULL guard)");
    CHECK(gpcguard_ssl_ctx_apply(guard, NULL) == GPCGUARD_NULL_PARAMETER, "ssl_ctx_apply(NULL ctx)");

    gpcguard_verdict *v = SENTINEL;
    CHECK(gpcguard_check_peer_pem(NULL, pem, 1, 0, &v) == GPCGUARD_NULL_PARAMETER, "check_peer_pem(NULL guard)");
    CHECK(v == NULL, "check_peer_pem(NULL guard) left the out-pointer set");
    v = SENTINEL;
    CHECK(gpcguard_check_peer_pem(guard, NULL, 5, 0, &v) == GPCGUARD_NULL_PARAMETER, "check_peer_pem(NULL pem, len 5)");
    CHECK(v == NULL, "check_peer_pem(NULL pem) left the out-pointer set");
    CHECK(gpcguard_check_peer_pem(guard, pem, 1, 0, NULL) == GPCGUARD_NULL_PARAMETER, "check_peer_pem(NULL out)");
    v = SENTINEL;
    SSL *ssl = SSL_new(ctx);
    CHECK(gpcguard_check_peer_ssl(NULL, ssl, &v) == GPCGUARD_NULL_PARAMETER, "check_peer_ssl(NULL guard)");
    CHECK(v == NULL, "check_peer_ssl(NULL guard) left the out-pointer set");
    CHECK(gpcguard_check_peer_ssl(guard, NULL, &v) == GPCGUARD_NULL_PARAMETER, "check_peer_ssl(NULL ssl)");
    CHECK(gpcguard_check_peer_ssl(guard, ssl, NULL) == GPCGUARD_NULL_PARAMETER, "check_peer_ssl(NULL out)");

    /* Accessors on NULL must fail closed: a host that forgot a check must not read "allowed". */
    CHECK(!gpcguard_verdict_allowed(NULL), "verdict_allowed(NULL) is true");
    CHECK(gpcguard_verdict_reason(NULL) != GPCGUARD_REASON_ALLOWED, "verdict_reason(NULL) is ALLOWED");
    CHECK(gpcguard_verdict_http_status(NULL) != 200, "verdict_http_status(NULL) is 200");

    /* *_free(NULL) is a no-op (a crash here fails the run). */
    gpcguard_config_free(NULL);
    gpcguard_guard_free(NULL);
    gpcguard_verdict_free(NULL);
    CHECK(1, "free(NULL)");

    SSL_free(ssl);
    SSL_CTX_free(ctx);
    gpcguard_guard_free(guard);
    gpcguard_config_free(cfg);
}

static void test_configuration_errors(void) {
    gpcguard_config *cfg = NULL;
    gpcguard_config_new(&cfg);
    EXPECT_ERROR(gpcguard_config_set(cfg, "no_such_key", "1"), GPCGUARD_CONFIG_UNKNOWN_KEY, "no_such_key");
    EXPECT_ERROR(gpcguard_config_set(cfg, "require_crl", "maybe"), GPCGUARD_CONFIG_INVALID_VALUE, "require_crl");
    EXPECT_ERROR(gpcguard_config_set(cfg, "revocation", "sometimes"), GPCGUARD_CONFIG_INVALID_VALUE, "revocation");
    EXPECT_ERROR(gpcguard_config_set(cfg, "provider_asid", "not-an-asid"), GPCGUARD_CONFIG_INVALID_VALUE, "provider_asid");
    EXPECT_ERROR(gpcguard_config_set(cfg, "ssp_fqdn", "*.spine2.ncrs.nhs.uk"), GPCGUARD_CONFIG_INVALID_VALUE, "ssp_fqdn");

    /* Required keys, one missing at a time. */
    gpcguard_guard *guard = SENTINEL;
    EXPECT_ERROR(gpcguard_guard_new(cfg, &guard), GPCGUARD_CONFIG_MISSING_KEY, "provider_asid");
    CHECK(guard == NULL, "failed guard_new left the out-pointer set");
    gpcguard_config_set(cfg, "provider_asid", "918999198993");
    EXPECT_ERROR(gpcguard_guard_new(cfg, &guard), GPCGUARD_CONFIG_MISSING_KEY, "ssp_fqdn");
    gpcguard_config_set(cfg, "ssp_fqdn", "msg.dev.spine2.ncrs.nhs.uk");
    EXPECT_ERROR(gpcguard_guard_new(cfg, &guard), GPCGUARD_CONFIG_MISSING_KEY, "trust_anchor");
    gpcguard_config_free(cfg);

    /* require_crl (the default) without any crl: the guard must not start without revocation data. */
    cfg = pki_config(0);
    guard = SENTINEL;
    gpcguard_result r = gpcguard_guard_new(cfg, &guard);
    CHECK(r != GPCGUARD_OK && guard == NULL, "guard_new with require_crl and no crl: %s", gpcguard_result_name(r));
    CHECK(strstr(error_detail(), "crl") != NULL, "no-crl error \"%s\" does not name `crl`", error_detail());
    gpcguard_guard_free(r == GPCGUARD_OK ? guard : NULL);
    gpcguard_config_free(cfg);

    /* A file that does not exist is named in the error. */
    cfg = pki_config(1);
    gpcguard_config_set(cfg, "intermediate", "/nonexistent/gpcguard/sub-ca.pem");
    EXPECT_ERROR(gpcguard_guard_new(cfg, &guard), GPCGUARD_FILE_UNREADABLE, "/nonexistent/gpcguard/sub-ca.pem");
    gpcguard_config_free(cfg);
    EXPECT_ERROR(gpcguard_config_from_file("/nonexistent/gpcguard.toml", &cfg), GPCGUARD_FILE_UNREADABLE, "/nonexistent/gpcguard.toml");
    CHECK(cfg == NULL, "failed config_from_file left the out-pointer set");

    /* A CRL no configured CA issued must not be trusted (it could "unrevoke" anything). */
    cfg = pki_config(1);
    gpcguard_config_set(cfg, "crl", path_in_pki("unrelated-ca.crl"));
    EXPECT_ERROR(gpcguard_guard_new(cfg, &guard), GPCGUARD_CRL_INVALID, "unrelated-ca.crl");
    gpcguard_config_free(cfg);

    /* gpcguard_ssl_ctx_new needs the server identity. */
    cfg = pki_config(1);
    CHECK(gpcguard_guard_new(cfg, &guard) == GPCGUARD_OK, "guard_new: %s", error_detail());
    SSL_CTX *ctx = SENTINEL;
    EXPECT_ERROR(gpcguard_ssl_ctx_new(guard, &ctx), GPCGUARD_CONFIG_MISSING_KEY, "server_certificate");
    CHECK(ctx == NULL, "failed ssl_ctx_new left the out-pointer set");
    gpcguard_guard_free(guard);
    gpcguard_config_free(cfg);

    /* An unknown key inside a TOML file is named too. */
    char toml[] = "/tmp/gpcguard-api-basics-XXXXXX";
    int fd = mkstemp(toml);
    const char *text = "provider_asid = \"918999198993\"\nbogus_setting = true\n";
    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write temp TOML");
    close(fd);
    EXPECT_ERROR(gpcguard_config_from_file(toml, &cfg), GPCGUARD_CONFIG_UNKNOWN_KEY, "bogus_setting");
    unlink(toml);
}

static void test_static_strings(void) {
    CHECK(strcmp(gpcguard_result_name(GPCGUARD_OK), "GPCGUARD_OK") == 0, "result_name(OK)");
    CHECK(strcmp(gpcguard_result_name(GPCGUARD_NULL_PARAMETER), "GPCGUARD_NULL_PARAMETER") == 0, "result_name(NULL_PARAMETER)");
    CHECK(strcmp(gpcguard_result_name(GPCGUARD_CRL_INVALID), "GPCGUARD_CRL_INVALID") == 0, "result_name(CRL_INVALID)");
    const char *unknown = gpcguard_result_name((gpcguard_result)12345);
    CHECK(unknown && strcmp(unknown, "GPCGUARD_UNKNOWN_RESULT") == 0, "result_name(12345) = %s", unknown ? unknown : "NULL");
    /* The names take an int: any number is a defined call, including those no enum value has. */
    const int odd[] = {-1, INT_MIN, INT_MAX, 14, 99, 108, 199, 301}; /* neither a result nor a reason */
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        const char *name = gpcguard_result_name(odd[i]);
        CHECK(name && strcmp(name, "GPCGUARD_UNKNOWN_RESULT") == 0, "result_name(%d) = %s", odd[i], name ? name : "NULL");
        name = gpcguard_reason_name(odd[i]);
        CHECK(name && strcmp(name, "UNKNOWN") == 0, "reason_name(%d) = %s", odd[i], name ? name : "NULL");
    }
    CHECK(strcmp(gpcguard_reason_name(GPCGUARD_REASON_CERT_UNTRUSTED), "CERT_UNTRUSTED") == 0, "reason_name(CERT_UNTRUSTED)");
    CHECK(strcmp(gpcguard_cipher_list(), "AESGCM+EECDH:AESGCM+EDH:AES256+EECDH:AES256+EDH") == 0,
          "cipher_list = %s", gpcguard_cipher_list());
    CHECK(gpcguard_version() && gpcguard_version()[0] != '\0', "version is empty");

    /* gpcguard_last_error is snprintf-like: full length returned, output truncated and terminated. */
    gpcguard_config *cfg = NULL;
    gpcguard_config_new(&cfg);
    gpcguard_config_set(cfg, "no_such_key", "1");
    size_t full = gpcguard_last_error(NULL, 0);
    char small[8];
    memset(small, 'x', sizeof small);
    size_t again = gpcguard_last_error(small, sizeof small);
    CHECK(full > sizeof small && again == full, "last_error length %zu then %zu", full, again);
    CHECK(small[sizeof small - 1] == '\0' && strlen(small) == sizeof small - 1, "last_error truncation not NUL-terminated");
    gpcguard_config_free(cfg);
}

struct peer_case {
    const char *file;       /* PEM in the PKI dir (leaf, or leaf + intermediate) */
    gpcguard_reason reason; /* expected */
    uint16_t status;
};

static void check_pem_case(gpcguard_guard *guard, const char *label, const uint8_t *pem, size_t len,
                           gpcguard_reason want, uint16_t want_status) {
    gpcguard_verdict *v = NULL;
    gpcguard_result r = gpcguard_check_peer_pem(guard, pem, len, 0, &v);
    CHECK(r == GPCGUARD_OK && v, "check_peer_pem(%s): %s (%s)", label, gpcguard_result_name(r), error_detail());
    if (r != GPCGUARD_OK)
        return;
    gpcguard_reason got = gpcguard_verdict_reason(v);
    CHECK(got == want, "%s: reason %s, want %s (%s)", label, gpcguard_reason_name(got), gpcguard_reason_name(want),
          gpcguard_verdict_message(v));
    CHECK(gpcguard_verdict_http_status(v) == want_status, "%s: status %u, want %u", label, gpcguard_verdict_http_status(v), want_status);
    int allowed = want == GPCGUARD_REASON_ALLOWED;
    CHECK(gpcguard_verdict_allowed(v) == allowed, "%s: allowed %d, want %d", label, gpcguard_verdict_allowed(v), allowed);
    if (allowed) {
        CHECK(strcmp(gpcguard_verdict_error_code(v), "") == 0, "%s: allowed with error code", label);
        CHECK(gpcguard_verdict_operation_outcome(v) == NULL, "%s: allowed with an OperationOutcome", label);
    } else {
        CHECK(strcmp(gpcguard_verdict_error_code(v), "BAD_REQUEST") == 0, "%s: error code %s", label, gpcguard_verdict_error_code(v));
        const char *oo = gpcguard_verdict_operation_outcome(v);
        CHECK(oo && strstr(oo, "\"OperationOutcome\""), "%s: no OperationOutcome body", label);
        CHECK(gpcguard_verdict_message(v)[0] != '\0', "%s: empty message", label);
    }
    gpcguard_verdict_free(v);
}

static void test_check_peer_pem(void) {
    gpcguard_config *cfg = pki_config(1);
    gpcguard_guard *guard = NULL;
    CHECK(gpcguard_guard_new(cfg, &guard) == GPCGUARD_OK, "guard_new: %s", error_detail());
    gpcguard_config_free(cfg);
    if (!guard)
        return;
    const struct peer_case cases[] = {
        {"client-valid.pem", GPCGUARD_REASON_ALLOWED, 200},
        {"client-cn-only.pem", GPCGUARD_REASON_ALLOWED, 200},
        {"client-later-revoked.pem", GPCGUARD_REASON_ALLOWED, 200},
        {"client-expired.pem", GPCGUARD_REASON_CERT_EXPIRED, 495},
        {"client-not-yet-valid.pem", GPCGUARD_REASON_CERT_NOT_YET_VALID, 495},
        {"client-revoked.pem", GPCGUARD_REASON_CERT_REVOKED, 495},
        {"client-wrong-fqdn.pem", GPCGUARD_REASON_CERT_WRONG_HOST, 495},
        {"client-wrong-san.pem", GPCGUARD_REASON_CERT_WRONG_HOST, 495},
        {"client-unrelated.pem", GPCGUARD_REASON_CERT_UNTRUSTED, 495},
        {"client-server-eku.pem", GPCGUARD_REASON_CERT_UNTRUSTED, 495},
        {"server.pem", GPCGUARD_REASON_CERT_UNTRUSTED, 495},
        /* SHA-1 signed by the SubCA: refused as in the handshake. */
        {"client-sha1.pem", GPCGUARD_REASON_CERT_UNTRUSTED, 495},
        /* Leaf + a SubCA the RootCA issued that is not configured: never a link of the chain. */
        {"client-other-sub-chain.pem", GPCGUARD_REASON_CERT_UNTRUSTED, 495},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        unsigned char *pem = read_file(path_in_pki(cases[i].file), &len);
        check_pem_case(guard, cases[i].file, pem, len, cases[i].reason, cases[i].status);
        free(pem);
    }

    /* The chain as a peer presents it: leaf, then its intermediate. */
    size_t leaf_len, sub_len;
    unsigned char *leaf = read_file(path_in_pki("client-valid.pem"), &leaf_len);
    unsigned char *sub = read_file(path_in_pki("sub-ca.pem"), &sub_len);
    unsigned char *chain = malloc(leaf_len + sub_len);
    memcpy(chain, leaf, leaf_len);
    memcpy(chain + leaf_len, sub, sub_len);
    check_pem_case(guard, "client-valid.pem + sub-ca.pem", chain, leaf_len + sub_len, GPCGUARD_REASON_ALLOWED, 200);
    /* A truncated certificate and plain garbage are malformed; nothing at all is a missing one. */
    check_pem_case(guard, "truncated PEM", leaf, leaf_len / 2, GPCGUARD_REASON_CERT_MALFORMED, 495);
    const char *garbage = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    check_pem_case(guard, "garbage PEM", (const uint8_t *)garbage, strlen(garbage), GPCGUARD_REASON_CERT_MALFORMED, 495);
    check_pem_case(guard, "empty input", (const uint8_t *)"", 0, GPCGUARD_REASON_CERT_MISSING, 496);
    check_pem_case(guard, "NULL, 0", NULL, 0, GPCGUARD_REASON_CERT_MISSING, 496);
    free(chain);
    free(sub);
    free(leaf);
    gpcguard_guard_free(guard);
}

/* A certificate time as Unix seconds (OpenSSL reads it; the test does not parse ASN.1 itself). */
static int64_t cert_time(const ASN1_TIME *t) {
    struct tm tm;
    CHECK(ASN1_TIME_to_tm(t, &tm) == 1, "ASN1_TIME_to_tm");
    return (int64_t)timegm(&tm);
}

/* RFC 5280 4.1.2.5: a certificate is valid from its notBefore second through its notAfter second,
 * both included; judged at an explicit `now` through gpcguard_check_peer_pem. Revocation off, so
 * that only the leaf's own validity decides (the CAs are valid for years either side). */
static void test_validity_boundaries(void) {
    gpcguard_config *cfg = pki_config(0);
    CHECK(gpcguard_config_set(cfg, "revocation", "off") == GPCGUARD_OK, "set revocation off");
    CHECK(gpcguard_config_set(cfg, "require_crl", "false") == GPCGUARD_OK, "set require_crl false");
    gpcguard_guard *guard = NULL;
    CHECK(gpcguard_guard_new(cfg, &guard) == GPCGUARD_OK && guard, "guard_new: %s", error_detail());
    gpcguard_config_free(cfg);
    size_t len;
    unsigned char *pem = read_file(path_in_pki("client-valid.pem"), &len);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    CHECK(leaf != NULL, "client-valid.pem does not parse");
    if (!guard || !leaf) {
        free(pem);
        X509_free(leaf);
        gpcguard_guard_free(guard);
        return;
    }
    int64_t not_before = cert_time(X509_get0_notBefore(leaf)), not_after = cert_time(X509_get0_notAfter(leaf));
    const struct {
        const char *label;
        int64_t now;
        gpcguard_reason want;
    } cases[] = {
        {"notBefore - 1", not_before - 1, GPCGUARD_REASON_CERT_NOT_YET_VALID},
        {"notBefore", not_before, GPCGUARD_REASON_ALLOWED},
        {"notAfter", not_after, GPCGUARD_REASON_ALLOWED},
        {"notAfter + 1", not_after + 1, GPCGUARD_REASON_CERT_EXPIRED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gpcguard_verdict *v = NULL;
        gpcguard_result r = gpcguard_check_peer_pem(guard, pem, len, cases[i].now, &v);
        CHECK(r == GPCGUARD_OK && v, "check_peer_pem at %s: %s", cases[i].label, gpcguard_result_name(r));
        if (!v)
            continue;
        gpcguard_reason got = gpcguard_verdict_reason(v);
        CHECK(got == cases[i].want, "client-valid at %s (%lld): %s, want %s (%s)", cases[i].label, (long long)cases[i].now,
              gpcguard_reason_name(got), gpcguard_reason_name(cases[i].want), gpcguard_verdict_message(v));
        gpcguard_verdict_free(v);
    }
    X509_free(leaf);
    free(pem);
    gpcguard_guard_free(guard);
}

/* A reload that fails keeps the state in force; one that succeeds takes effect for the next check. */
static void test_reload(void) {
    char crl[] = "/tmp/gpcguard-api-basics-crl-XXXXXX";
    int fd = mkstemp(crl);
    size_t len;
    unsigned char *initial = read_file(path_in_pki("sub-ca.crl"), &len);
    CHECK(fd >= 0 && write(fd, initial, len) == (ssize_t)len, "write temp CRL");
    close(fd);
    free(initial);

    gpcguard_config *cfg = NULL;
    gpcguard_config_new(&cfg);
    const char *settings[][2] = {
        {"provider_asid", "918999198993"},         {"ssp_fqdn", "msg.dev.spine2.ncrs.nhs.uk"},
        {"trust_anchor", path_in_pki("root-ca.pem")}, {"intermediate", path_in_pki("sub-ca.pem")},
        {"crl", path_in_pki("root-ca.crl")},        {"crl", crl},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        CHECK(gpcguard_config_set(cfg, settings[i][0], settings[i][1]) == GPCGUARD_OK, "set %s", settings[i][0]);
    gpcguard_guard *guard = NULL;
    CHECK(gpcguard_guard_new(cfg, &guard) == GPCGUARD_OK, "guard_new: %s", error_detail());
    gpcguard_config_free(cfg); /* the guard must not depend on the configuration object */
    if (!guard) {
        unlink(crl);
        return;
    }
    size_t pem_len;
    unsigned char *pem = read_file(path_in_pki("client-later-revoked.pem"), &pem_len);
    check_pem_case(guard, "later-revoked before reload", pem, pem_len, GPCGUARD_REASON_ALLOWED, 200);

    unlink(crl);
    EXPECT_ERROR(gpcguard_guard_reload(guard), GPCGUARD_FILE_UNREADABLE, crl);
    check_pem_case(guard, "later-revoked after a failed reload", pem, pem_len, GPCGUARD_REASON_ALLOWED, 200);

    unsigned char *later = read_file(path_in_pki("subca-revoked-later.crl"), &len);
    FILE *f = fopen(crl, "wb");
    CHECK(f && fwrite(later, 1, len, f) == len, "write later CRL");
    fclose(f);
    free(later);
    gpcguard_result r = gpcguard_guard_reload(guard);
    CHECK(r == GPCGUARD_OK, "reload with the later CRL: %s (%s)", gpcguard_result_name(r), error_detail());
    check_pem_case(guard, "later-revoked after reload", pem, pem_len, GPCGUARD_REASON_CERT_REVOKED, 495);
    free(pem);
    unlink(crl);
    gpcguard_guard_free(guard);
}

/* The context gpcguard makes carries the policy itself (the TLS tests prove it on the wire). */
static void test_ssl_ctx_policy(void) {
    gpcguard_config *cfg = NULL;
    gpcguard_result r = gpcguard_config_from_file(path_in_pki("provider.toml"), &cfg);
    CHECK(r == GPCGUARD_OK, "config_from_file(provider.toml): %s (%s)", gpcguard_result_name(r), error_detail());
    gpcguard_guard *guard = NULL;
    r = gpcguard_guard_new(cfg, &guard);
    CHECK(r == GPCGUARD_OK, "guard_new(provider.toml): %s (%s)", gpcguard_result_name(r), error_detail());
    gpcguard_config_free(cfg);
    if (!guard)
        return;
    SSL_CTX *made = NULL;
    r = gpcguard_ssl_ctx_new(guard, &made);
    CHECK(r == GPCGUARD_OK && made, "ssl_ctx_new: %s (%s)", gpcguard_result_name(r), error_detail());
    SSL_CTX *host = SSL_CTX_new(TLS_server_method());
    r = gpcguard_ssl_ctx_apply(guard, host);
    CHECK(r == GPCGUARD_OK, "ssl_ctx_apply: %s (%s)", gpcguard_result_name(r), error_detail());
    SSL_CTX *ctxs[2] = {made, host};
    for (int i = 0; i < 2; i++) {
        SSL_CTX *ctx = ctxs[i];
        if (!ctx)
            continue;
        const char *which = i == 0 ? "ssl_ctx_new" : "ssl_ctx_apply";
        CHECK(SSL_CTX_get_min_proto_version(ctx) == TLS1_2_VERSION, "%s: min protocol %ld", which, SSL_CTX_get_min_proto_version(ctx));
        CHECK(SSL_CTX_get_max_proto_version(ctx) == TLS1_2_VERSION, "%s: max protocol %ld", which, SSL_CTX_get_max_proto_version(ctx));
        int mode = SSL_CTX_get_verify_mode(ctx);
        CHECK((mode & SSL_VERIFY_PEER) && (mode & SSL_VERIFY_FAIL_IF_NO_PEER_CERT), "%s: verify mode %d", which, mode);
        CHECK(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE, "%s: no server cipher preference", which);
    }
    SSL_CTX_free(made);
    SSL_CTX_free(host);
    gpcguard_guard_free(guard);
}

/* gpcguard_guard_trust_anchors_pem: the length alone, a buffer one byte short left untouched,
 * the exact size filled with the anchors' PEM (the same certificate as root-ca.pem). */
static void test_trust_anchors_pem(void) {
    gpcguard_config *cfg = pki_config(1);
    gpcguard_guard *guard = NULL;
    CHECK(gpcguard_guard_new(cfg, &guard) == GPCGUARD_OK, "guard_new: %s", error_detail());
    size_t needed = 0;
    CHECK(gpcguard_guard_trust_anchors_pem(NULL, NULL, 0, &needed) == GPCGUARD_NULL_PARAMETER, "trust_anchors_pem(NULL guard)");
    CHECK(gpcguard_guard_trust_anchors_pem(guard, NULL, 0, NULL) == GPCGUARD_NULL_PARAMETER, "trust_anchors_pem(NULL needed)");
    CHECK(gpcguard_guard_trust_anchors_pem(guard, NULL, 5, &needed) == GPCGUARD_NULL_PARAMETER, "trust_anchors_pem(NULL buf, len 5)");
    CHECK(gpcguard_guard_trust_anchors_pem(guard, NULL, 0, &needed) == GPCGUARD_OK && needed > 0, "trust_anchors_pem length");
    unsigned char *buf = malloc(needed);
    memset(buf, 'x', needed);
    size_t again = 0;
    CHECK(gpcguard_guard_trust_anchors_pem(guard, buf, needed - 1, &again) == GPCGUARD_OK && again == needed,
          "trust_anchors_pem with a short buffer reports the length");
    CHECK(buf[0] == 'x' && buf[needed - 2] == 'x', "trust_anchors_pem wrote into a buffer too small");
    CHECK(gpcguard_guard_trust_anchors_pem(guard, buf, needed, &again) == GPCGUARD_OK && again == needed, "trust_anchors_pem fill");
    size_t root_len;
    unsigned char *root = read_file(path_in_pki("root-ca.pem"), &root_len);
    CHECK(needed == root_len && memcmp(buf, root, needed) == 0, "trust_anchors_pem is not root-ca.pem");
    free(root);
    free(buf);
    gpcguard_guard_free(guard);
    gpcguard_config_free(cfg);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PKI_DIR (made by c-tests/make-pki.sh)\n", argv[0]);
        return 2;
    }
    pki = argv[1];
    test_null_parameters();
    test_configuration_errors();
    test_static_strings();
    test_check_peer_pem();
    test_validity_boundaries();
    test_reload();
    test_ssl_ctx_policy();
    test_trust_anchors_pem();
    printf("api_basics: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
