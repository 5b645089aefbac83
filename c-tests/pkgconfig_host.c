/* A host program built the way a user builds one: `cc host.c $(pkg-config --cflags --libs gpcguard)`.
 * `make install-test` compiles it against an installed prefix and runs it; it checks that the
 * installed header and library agree (the version, a configuration round trip, a result name). */
#include <gpcguard.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *want = argc > 1 ? argv[1] : NULL;
    const char *have = gpcguard_version();
    if (want && strcmp(want, have) != 0) {
        fprintf(stderr, "pkgconfig_host: library version %s, expected %s\n", have, want);
        return 1;
    }
    gpcguard_config *cfg = NULL;
    if (gpcguard_config_new(&cfg) != GPCGUARD_OK || cfg == NULL) {
        fprintf(stderr, "pkgconfig_host: gpcguard_config_new failed\n");
        return 1;
    }
    gpcguard_result r = gpcguard_config_set(cfg, "no_such_key", "1");
    gpcguard_config_free(cfg);
    if (r != GPCGUARD_CONFIG_UNKNOWN_KEY || strcmp(gpcguard_result_name(r), "GPCGUARD_CONFIG_UNKNOWN_KEY") != 0) {
        fprintf(stderr, "pkgconfig_host: unknown key gave %s\n", gpcguard_result_name(r));
        return 1;
    }
    printf("pkgconfig_host: gpcguard %s linked and working\n", have);
    return 0;
}
