/* Panic containment across the C ABI.
 *
 *   panic_containment PKI_DIR hooked    linked against a library built with `--features test-panic`
 *                                       (make panic-test, its own target folder: never shipped)
 *   panic_containment PKI_DIR shipped   linked against the normal release library
 *
 * hooked: deliberate panics inside gpcguard_check_peer_pem (an out-pointer call, panicking while it
 * holds the guard's state), gpcguard_config_set and gpcguard_version must come back as
 * GPCGUARD_PANIC (or the documented fallback), with a last-error detail saying so, the out-pointer
 * NULL, and the process still fully working afterwards: a new configuration, a new guard, a
 * reload, verdicts on the same guard that panicked and on the new one.
 * shipped: the hooks are absent: the `test_panic` key is an unknown key and GPCGUARD_TEST_PANIC
 * changes nothing.
 * Prints each failure, then "N passed, N failed"; exits 1 on any failure. */
#include "hardening_common.h"

#include <stdlib.h>

static char sentinel_storage;
#define SENTINEL ((void *)&sentinel_storage)

/* The process still works: verdicts on `guard`, a fresh configuration, guard and reload. */
static void still_working(gpcguard_guard *guard, const unsigned char *valid, size_t valid_len,
                          const unsigned char *revoked, size_t revoked_len, const char *after) {
    int r = hc_peer_reason(guard, valid, valid_len);
    CHECK(r == GPCGUARD_REASON_ALLOWED, "after %s: client-valid on the same guard: %s", after, hc_reason_name(r));
    r = hc_peer_reason(guard, revoked, revoked_len);
    CHECK(r == GPCGUARD_REASON_CERT_REVOKED, "after %s: client-revoked on the same guard: %s", after, hc_reason_name(r));
    r = hc_request_reason(guard, 1);
    CHECK(r == GPCGUARD_REASON_ALLOWED, "after %s: well-formed request: %s", after, hc_reason_name(r));
    r = hc_request_reason(guard, 0);
    CHECK(r == GPCGUARD_REASON_WRONG_RECIPIENT, "after %s: misaddressed request: %s", after, hc_reason_name(r));
    gpcguard_result res = gpcguard_guard_reload(guard);
    CHECK(res == GPCGUARD_OK, "after %s: reload: %s (%s)", after, gpcguard_result_name(res), hc_error());

    gpcguard_guard *fresh = hc_guard();
    if (fresh) {
        r = hc_peer_reason(fresh, valid, valid_len);
        CHECK(r == GPCGUARD_REASON_ALLOWED, "after %s: client-valid on a new guard: %s", after, hc_reason_name(r));
        r = hc_request_reason(fresh, 1);
        CHECK(r == GPCGUARD_REASON_ALLOWED, "after %s: request on a new guard: %s", after, hc_reason_name(r));
        gpcguard_guard_free(fresh);
    }
}

static void hooked(gpcguard_guard *guard, const unsigned char *valid, size_t valid_len,
                   const unsigned char *revoked, size_t revoked_len) {
    /* 1. A panic in the middle of a check, while the guard's state is borrowed. */
    setenv("GPCGUARD_TEST_PANIC", "gpcguard_check_peer_pem", 1);
    for (int round = 0; round < 3; round++) { /* a repeat proves nothing stayed poisoned or locked */
        gpcguard_verdict *v = SENTINEL;
        gpcguard_result r = gpcguard_check_peer_pem(guard, valid, valid_len, 0, &v);
        CHECK(r == GPCGUARD_PANIC, "check_peer_pem with the panic hook: %s, want GPCGUARD_PANIC", gpcguard_result_name(r));
        CHECK(v == NULL, "check_peer_pem panicked but left the out-pointer %p", (void *)v);
        CHECK(strstr(hc_error(), "panicked") != NULL, "last_error after the panic: \"%s\"", hc_error());
    }
    unsetenv("GPCGUARD_TEST_PANIC");
    still_working(guard, valid, valid_len, revoked, revoked_len, "a panic in check_peer_pem");

    /* 2. A panic while building a configuration: the configuration is unchanged and usable. */
    gpcguard_config *cfg = NULL;
    CHECK(gpcguard_config_new(&cfg) == GPCGUARD_OK, "config_new");
    gpcguard_result r = gpcguard_config_set(cfg, "test_panic", "1");
    CHECK(r == GPCGUARD_PANIC, "config_set(test_panic): %s, want GPCGUARD_PANIC", gpcguard_result_name(r));
    CHECK(strstr(hc_error(), "panicked") != NULL, "last_error after config_set panicked: \"%s\"", hc_error());
    r = gpcguard_config_set(cfg, "provider_asid", "918999198993");
    CHECK(r == GPCGUARD_OK, "config_set after a panic on the same configuration: %s (%s)", gpcguard_result_name(r), hc_error());
    gpcguard_config_free(cfg);
    still_working(guard, valid, valid_len, revoked, revoked_len, "a panic in config_set");

    /* 3. A function without a result code returns its documented fallback. */
    setenv("GPCGUARD_TEST_PANIC", "1", 1);
    const char *version = gpcguard_version();
    CHECK(version && strcmp(version, "unknown") == 0, "version with the panic hook: \"%s\", want \"unknown\"", version ? version : "NULL");
    unsetenv("GPCGUARD_TEST_PANIC");
    version = gpcguard_version();
    CHECK(version && strcmp(version, "unknown") != 0 && version[0], "version after the panic: \"%s\"", version ? version : "NULL");
    still_working(guard, valid, valid_len, revoked, revoked_len, "a panic in version");
}

static void shipped(gpcguard_guard *guard, const unsigned char *valid, size_t valid_len,
                    const unsigned char *revoked, size_t revoked_len) {
    gpcguard_config *cfg = NULL;
    CHECK(gpcguard_config_new(&cfg) == GPCGUARD_OK, "config_new");
    gpcguard_result r = gpcguard_config_set(cfg, "test_panic", "1");
    CHECK(r == GPCGUARD_CONFIG_UNKNOWN_KEY, "config_set(test_panic) in the shipped build: %s, want GPCGUARD_CONFIG_UNKNOWN_KEY",
          gpcguard_result_name(r));
    CHECK(strstr(hc_error(), "test_panic") != NULL, "unknown-key detail does not name test_panic: \"%s\"", hc_error());
    gpcguard_config_free(cfg);

    setenv("GPCGUARD_TEST_PANIC", "gpcguard_check_peer_pem", 1);
    int reason = hc_peer_reason(guard, valid, valid_len);
    CHECK(reason == GPCGUARD_REASON_ALLOWED, "shipped build with GPCGUARD_TEST_PANIC set: client-valid %s", hc_reason_name(reason));
    const char *version = gpcguard_version();
    CHECK(version && strcmp(version, "unknown") != 0, "shipped build with GPCGUARD_TEST_PANIC set: version \"%s\"", version ? version : "NULL");
    unsetenv("GPCGUARD_TEST_PANIC");
    still_working(guard, valid, valid_len, revoked, revoked_len, "the shipped-build checks");
}

int main(int argc, char **argv) {
    hc_program = "panic_containment";
    if (argc != 3 || (strcmp(argv[2], "hooked") != 0 && strcmp(argv[2], "shipped") != 0)) {
        fprintf(stderr, "usage: %s PKI_DIR hooked|shipped\n", argv[0]);
        return 2;
    }
    hc_pki = argv[1];
    hc_make_authorization();
    gpcguard_guard *guard = hc_guard();
    if (!guard)
        return hc_report();
    size_t valid_len, revoked_len;
    unsigned char *valid = hc_read("client-valid.pem", &valid_len);
    unsigned char *revoked = hc_read("client-revoked.pem", &revoked_len);
    if (strcmp(argv[2], "hooked") == 0)
        hooked(guard, valid, valid_len, revoked, revoked_len);
    else
        shipped(guard, valid, valid_len, revoked, revoked_len);
    free(valid);
    free(revoked);
    gpcguard_guard_free(guard);
    return hc_report();
}
