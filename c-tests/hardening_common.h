/* Shared by the hardening programs (panic_containment.c, fork_workers.c, stress_threads.c):
 * a failure counter, files of the test PKI (c-tests/make-pki.sh), a guard from its provider.toml,
 * and one allowed and one refused GP Connect request built here with an unsigned audit token.
 * Only include/gpcguard.h, OpenSSL and libc. Header-only: each program is one translation unit. */
#ifndef GPCGUARD_HARDENING_COMMON_H
#define GPCGUARD_HARDENING_COMMON_H

#include <gpcguard.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int hc_passed, hc_failed;
static const char *hc_program = "hardening";
static const char *hc_pki;

static inline void hc_check_at(int line, int ok, const char *fmt, ...) {
    if (ok) {
        atomic_fetch_add(&hc_passed, 1);
        return;
    }
    atomic_fetch_add(&hc_failed, 1);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s.c:%d: ", hc_program, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
#define CHECK(cond, ...) hc_check_at(__LINE__, (cond), __VA_ARGS__)

static inline int hc_report(void) {
    printf("%s: %d passed, %d failed\n", hc_program, atomic_load(&hc_passed), atomic_load(&hc_failed));
    return atomic_load(&hc_failed) ? 1 : 0;
}

/* The detail of the last failed call on this thread. */
static inline const char *hc_error(void) {
    static _Thread_local char buf[1024];
    gpcguard_last_error(buf, sizeof buf);
    return buf;
}

static inline const char *hc_path(const char *name) {
    static _Thread_local char paths[4][1024];
    static _Thread_local int next;
    char *p = paths[next++ % 4];
    snprintf(p, 1024, "%s/%s", hc_pki, name);
    return p;
}

static inline unsigned char *hc_read(const char *name, size_t *len) {
    const char *path = hc_path(name);
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

/* Copies PKI file `from` over `to` with a rename, so a reload reads one whole version. */
static inline int hc_swap_in(const char *from, const char *to) {
    size_t len;
    unsigned char *data = hc_read(from, &len);
    char tmp[1100], dest[1100];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", hc_pki, to);
    snprintf(dest, sizeof dest, "%s/%s", hc_pki, to);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f)
        ok = fclose(f) == 0 && ok;
    free(data);
    return ok && rename(tmp, dest) == 0;
}

/* A guard from the PKI's provider.toml (server identity included, CRLs root-ca.crl + sub-ca.crl). */
static inline gpcguard_guard *hc_guard(void) {
    gpcguard_config *cfg = NULL;
    gpcguard_result r = gpcguard_config_from_file(hc_path("provider.toml"), &cfg);
    CHECK(r == GPCGUARD_OK, "config_from_file: %s (%s)", gpcguard_result_name(r), hc_error());
    gpcguard_guard *guard = NULL;
    if (r == GPCGUARD_OK) {
        r = gpcguard_guard_new(cfg, &guard);
        CHECK(r == GPCGUARD_OK && guard, "guard_new: %s (%s)", gpcguard_result_name(r), hc_error());
    }
    gpcguard_config_free(cfg);
    return guard;
}

static inline void hc_b64url(const char *in, size_t len, char *out) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t n = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < len ? s[i + 2] : 0);
        size_t chars = i + 2 < len ? 4 : i + 1 < len ? 3 : 2;
        for (size_t c = 0; c < chars; c++)
            out[o++] = alphabet[(n >> (18 - 6 * c)) & 63];
    }
    out[o] = '\0';
}

/* The provider test pack's baseline audit token for patient/ *.read, valid at HC_NOW. */
#define HC_IAT 1503995582
#define HC_NOW (HC_IAT + 10)
static char hc_authorization[4096];

static inline void hc_make_authorization(void) {
    char claims[2048];
    snprintf(claims, sizeof claims,
             "{\"iss\":\"http://gpconnect-uat.answerappcloud.com/\",\"sub\":\"1\","
             "\"aud\":\"https://authorize.fhir.nhs.net/token\",\"exp\":%d,\"iat\":%d,"
             "\"reason_for_request\":\"directcare\",\"requested_scope\":\"patient/*.read\","
             "\"requesting_device\":{\"resourceType\":\"Device\",\"identifier\":[{\"system\":\"GPConnectTestSystem\",\"value\":\"Client\"}],"
             "\"model\":\"v1\",\"version\":\"1.1\"},"
             "\"requesting_organization\":{\"resourceType\":\"Organization\",\"identifier\":[{\"system\":"
             "\"https://fhir.nhs.uk/Id/ods-organization-code\",\"value\":\"GPCA0001\"}],\"name\":\"GP Connect Assurance\"},"
             "\"requesting_practitioner\":{\"resourceType\":\"Practitioner\",\"id\":\"1\",\"identifier\":["
             "{\"system\":\"https://fhir.nhs.uk/Id/sds-user-id\",\"value\":\"GCASDS0001\"},"
             "{\"system\":\"https://fhir.nhs.uk/Id/sds-role-profile-id\",\"value\":\"112233445566\"}],"
             "\"name\":[{\"family\":\"AssurancePractitioner\",\"given\":[\"AssuranceTest\"],\"prefix\":[\"Dr.\"]}]}}",
             HC_IAT + 300, HC_IAT);
    const char *header = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    char h64[128], c64[3000];
    hc_b64url(header, strlen(header), h64);
    hc_b64url(claims, strlen(claims), c64);
    snprintf(hc_authorization, sizeof hc_authorization, "Bearer %s.%s.", h64, c64);
}

/* Judges a patient read addressed to this provider (`right_recipient`) or to another ASID, and
 * returns the reason, or -1 when the call itself failed. */
static inline int hc_request_reason(const gpcguard_guard *guard, int right_recipient) {
    const char *to = right_recipient ? "918999198993" : "123456789123";
    const char *iid = "urn:nhs:names:services:gpconnect:fhir:rest:read:patient-1";
    const gpcguard_header headers[] = {
        {"Ssp-TraceID", 11, "5b1e7a4c-9f2d-4c1b-8e3a-2d6f0c9b7a15", 36},
        {"Ssp-From", 8, "200000000359", 12},
        {"Ssp-To", 6, to, strlen(to)},
        {"Ssp-InteractionID", 17, iid, strlen(iid)},
        {"Authorization", 13, hc_authorization, strlen(hc_authorization)},
    };
    gpcguard_request req = {
        .method = "GET", .method_len = 3,
        .target = "/Patient/2", .target_len = 10,
        .headers = headers, .header_count = sizeof headers / sizeof headers[0],
        .now = HC_NOW,
    };
    gpcguard_verdict *v = NULL;
    gpcguard_result r = gpcguard_check_request(guard, &req, &v);
    if (r != GPCGUARD_OK || !v)
        return -1;
    int reason = (int)gpcguard_verdict_reason(v);
    if ((reason == GPCGUARD_REASON_ALLOWED) != gpcguard_verdict_allowed(v))
        reason = -2; /* the accessors disagree: as wrong as a wrong verdict */
    gpcguard_verdict_free(v);
    return reason;
}

/* Judges a PEM chain now; the reason, or -1 when the call failed. */
static inline int hc_peer_reason(const gpcguard_guard *guard, const unsigned char *pem, size_t len) {
    gpcguard_verdict *v = NULL;
    gpcguard_result r = gpcguard_check_peer_pem(guard, pem, len, 0, &v);
    if (r != GPCGUARD_OK || !v)
        return -1;
    int reason = (int)gpcguard_verdict_reason(v);
    if ((reason == GPCGUARD_REASON_ALLOWED) != gpcguard_verdict_allowed(v))
        reason = -2;
    gpcguard_verdict_free(v);
    return reason;
}

static inline const char *hc_reason_name(int reason) {
    return reason < 0 ? (reason == -1 ? "call failed" : "accessors disagree") : gpcguard_reason_name((gpcguard_reason)reason);
}

#endif
