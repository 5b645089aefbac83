/* `make bench-java`: the same allowed request through the C ABI (gpcguard_check_request and the
 * verdict's strings, then gpcguard_verdict_free), median CPU ns/op (this thread's CPU clock: the
 * machine may be shared) of RUNS runs.
 * Usage: abi_bench CONFIG TOKEN NOW RUNS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpcguard.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    gpcguard_config *cfg;
    gpcguard_guard *g;
    if (argc != 5 || gpcguard_config_from_file(argv[1], &cfg) || gpcguard_guard_new(cfg, &g)) return 2;
    char auth[8192];
    snprintf(auth, sizeof auth, "Bearer %s", argv[2]);
    const char *h[][2] = {{"Ssp-TraceID", "09a01679-2564-0fb4-5129-aecc81ea2706"}, {"Ssp-From", "200000000359"},
                          {"Ssp-To", "918999198993"}, {"Ssp-InteractionID", "urn:nhs:names:services:gpconnect:fhir:rest:read:patient-1"},
                          {"Authorization", auth}, {"Host", "provider.example"}};
    gpcguard_header headers[6];
    for (int i = 0; i < 6; i++) headers[i] = (gpcguard_header){h[i][0], strlen(h[i][0]), h[i][1], strlen(h[i][1])};
    const char *target = "/A20047/STU3/1/gpconnect/Patient/2";
    gpcguard_request req = {"GET", 3, target, strlen(target), headers, 6, atoll(argv[3])};
    int runs = atoi(argv[4]), n = 100000;
    double t[64];
    if (runs > 64) runs = 64;
    for (int r = -1; r < runs; r++) {
        struct timespec a, b;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        for (int i = 0; i < n; i++) {
            gpcguard_verdict *v;
            if (gpcguard_check_request(g, &req, &v) || !gpcguard_verdict_allowed(v)) return 3;
            (void)gpcguard_verdict_message(v);
            (void)gpcguard_verdict_audit_record(v);
            gpcguard_verdict_free(v);
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        if (r >= 0) t[r] = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp);
    printf("abi %.0f\n", t[runs / 2]);
    return 0;
}
