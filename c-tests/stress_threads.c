/* The reload stress of tests/stress_reload.rs through the C ABI: 8 pthreads judge requests and
 * client certificates on one guard while another thread swaps the SubCA CRL between two versions
 * (atomic rename) and calls gpcguard_guard_reload every ~2 ms.
 *
 * Every verdict must be right. The reloader publishes a sequence number around each reload (odd
 * while the file and the guard's state may change, even once the reload returned, with the CRL
 * version then in force). A checker reads it before and after a certificate check: when both
 * reads are the same even number, no reload ran during the check and the verdict on
 * client-later-revoked must be exactly that version's; otherwise either version's verdict is
 * right, and anything else (another reason, a failed call) is wrong. client-valid must always be
 * allowed, a well-formed request allowed and a misaddressed one refused with WRONG_RECIPIENT.
 *
 * Usage: stress_threads PKI_DIR [MILLISECONDS [MIN_RELOADS]] (defaults 1500 and 20; sub-ca.crl is
 * changed and restored). Runs for the time given and at least MIN_RELOADS reloads, at most
 * MAX_RELOADS. Prints the counts; exits 1 on any failure. */
#include "hardening_common.h"

#include <pthread.h>
#include <time.h>

#define CHECKERS 8
#define MAX_RELOADS 2000
#define MAX_ROUNDS 1000000

static gpcguard_guard *guard;
static unsigned char *valid_pem, *later_pem;
static size_t valid_len, later_len;
static atomic_bool stop;
static atomic_ulong sequence;     /* odd: a reload may be changing the state */
static atomic_int later_revoked;  /* the version in force while `sequence` is even */
static atomic_ulong rounds, exact_checks, seen_allowed, seen_revoked;

static void *checker(void *arg) {
    (void)arg;
    unsigned long n = 0;
    while (!atomic_load(&stop) && n < MAX_ROUNDS) {
        n++;
        int r = hc_request_reason(guard, 1);
        CHECK(r == GPCGUARD_REASON_ALLOWED, "well-formed request: %s", hc_reason_name(r));
        r = hc_request_reason(guard, 0);
        CHECK(r == GPCGUARD_REASON_WRONG_RECIPIENT, "misaddressed request: %s", hc_reason_name(r));
        r = hc_peer_reason(guard, valid_pem, valid_len);
        CHECK(r == GPCGUARD_REASON_ALLOWED, "client-valid: %s", hc_reason_name(r));

        unsigned long before = atomic_load(&sequence);
        int revoked_then = atomic_load(&later_revoked);
        r = hc_peer_reason(guard, later_pem, later_len);
        unsigned long after = atomic_load(&sequence);
        if (r == GPCGUARD_REASON_ALLOWED)
            atomic_fetch_add(&seen_allowed, 1);
        else if (r == GPCGUARD_REASON_CERT_REVOKED)
            atomic_fetch_add(&seen_revoked, 1);
        if (before == after && before % 2 == 0) {
            atomic_fetch_add(&exact_checks, 1);
            int want = revoked_then ? GPCGUARD_REASON_CERT_REVOKED : GPCGUARD_REASON_ALLOWED;
            CHECK(r == want, "client-later-revoked with %s in force: %s", revoked_then ? "the later CRL" : "the initial CRL",
                  hc_reason_name(r));
        } else {
            CHECK(r == GPCGUARD_REASON_ALLOWED || r == GPCGUARD_REASON_CERT_REVOKED,
                  "client-later-revoked during a reload: %s", hc_reason_name(r));
        }
    }
    atomic_fetch_add(&rounds, n);
    return NULL;
}

static double elapsed_ms(const struct timespec *since) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1e3 + (now.tv_nsec - since->tv_nsec) / 1e6;
}

int main(int argc, char **argv) {
    hc_program = "stress_threads";
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s PKI_DIR [MILLISECONDS [MIN_RELOADS]]\n", argv[0]);
        return 2;
    }
    hc_pki = argv[1];
    double run_ms = argc >= 3 ? atof(argv[2]) : 1500;
    /* Reloads made even when the time is up (valgrind runs ~30x slower); at least 2, so that
     * both CRL versions are loaded. */
    int min_reloads = argc == 4 ? atoi(argv[3]) : 20;
    if (min_reloads < 2)
        min_reloads = 2;
    hc_make_authorization();
    CHECK(hc_swap_in("subca-initial.crl", "sub-ca.crl"), "restore subca-initial.crl");
    guard = hc_guard();
    if (!guard)
        return hc_report();
    valid_pem = hc_read("client-valid.pem", &valid_len);
    later_pem = hc_read("client-later-revoked.pem", &later_len);

    pthread_t threads[CHECKERS];
    for (int i = 0; i < CHECKERS; i++)
        CHECK(pthread_create(&threads[i], NULL, checker, NULL) == 0, "pthread_create");

    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    int reloads = 0, revoked = 0;
    while ((elapsed_ms(&started) < run_ms || reloads < min_reloads) && reloads < MAX_RELOADS) {
        revoked = !revoked;
        atomic_fetch_add(&sequence, 1); /* odd */
        CHECK(hc_swap_in(revoked ? "subca-revoked-later.crl" : "subca-initial.crl", "sub-ca.crl"), "swap the CRL");
        gpcguard_result r = gpcguard_guard_reload(guard);
        CHECK(r == GPCGUARD_OK, "reload: %s (%s)", gpcguard_result_name(r), hc_error());
        atomic_store(&later_revoked, revoked);
        atomic_fetch_add(&sequence, 1); /* even */
        reloads++;
        nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < CHECKERS; i++)
        pthread_join(threads[i], NULL);

    CHECK(reloads >= min_reloads, "only %d reloads", reloads);
    CHECK(atomic_load(&exact_checks) > 0, "no check ran between reloads");
    CHECK(atomic_load(&seen_allowed) > 0 && atomic_load(&seen_revoked) > 0, "both CRL versions were not seen: allowed %lu, revoked %lu",
          atomic_load(&seen_allowed), atomic_load(&seen_revoked));
    printf("stress_threads: %d reloads, %lu rounds on %d threads (%lu later-revoked checks judged against a known CRL; "
           "allowed %lu, revoked %lu)\n",
           reloads, atomic_load(&rounds), CHECKERS, atomic_load(&exact_checks), atomic_load(&seen_allowed), atomic_load(&seen_revoked));
    CHECK(hc_swap_in("subca-initial.crl", "sub-ca.crl"), "restore subca-initial.crl");
    free(valid_pem);
    free(later_pem);
    gpcguard_guard_free(guard);
    return hc_report();
}
