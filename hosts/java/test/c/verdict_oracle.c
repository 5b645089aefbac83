/*
 * The C ABI's verdicts, for the Java tests to compare the JNI binding's with. Usage:
 *   verdict_oracle CONFIG.toml < requests
 * One request per line, fields separated by spaces, each field hex (so any byte travels):
 *   NOW METHOD TARGET [NAME VALUE]...      (NOW in decimal)
 * One line out per request, every field hex: allowed status reason code message outcome audit
 * interaction (outcome "-" when none).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpcguard.h"

static void hex_out(const char *s) {
    if (!s) {
        fputs(" -", stdout);
        return;
    }
    fputc(' ', stdout);
    if (!*s) fputc('=', stdout); /* empty */
    for (; *s; s++) printf("%02x", (unsigned char)*s);
}

/* Decodes a hex field in place; "=" is empty. */
static size_t unhex(char *s) {
    if (strcmp(s, "=") == 0) return 0;
    size_t n = strlen(s) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        s[i] = (char)v;
    }
    return n;
}

int main(int argc, char **argv) {
    gpcguard_config *cfg;
    gpcguard_guard *g;
    if (argc != 2 || gpcguard_config_from_file(argv[1], &cfg) != GPCGUARD_OK || gpcguard_guard_new(cfg, &g) != GPCGUARD_OK) {
        char e[512];
        gpcguard_last_error(e, sizeof e);
        fprintf(stderr, "verdict_oracle: %s\n", e);
        return 2;
    }
    gpcguard_config_free(cfg);
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        char *fields[512];
        size_t len[512], n = 0;
        for (char *t = strtok(line, " "); t && n < 512; t = strtok(NULL, " ")) fields[n++] = t;
        if (n < 3 || n % 2 == 0) {
            fprintf(stderr, "verdict_oracle: bad line\n");
            return 2;
        }
        long long now = atoll(fields[0]);
        for (size_t i = 1; i < n; i++) len[i] = unhex(fields[i]);
        gpcguard_header headers[256];
        size_t count = (n - 3) / 2;
        for (size_t i = 0; i < count; i++) {
            headers[i] = (gpcguard_header){fields[3 + 2 * i], len[3 + 2 * i], fields[4 + 2 * i], len[4 + 2 * i]};
        }
        gpcguard_request req = {fields[1], len[1], fields[2], len[2], headers, count, now};
        gpcguard_verdict *v;
        if (gpcguard_check_request(g, &req, &v) != GPCGUARD_OK) {
            fprintf(stderr, "verdict_oracle: check failed\n");
            return 2;
        }
        printf("%d %u %d", gpcguard_verdict_allowed(v), gpcguard_verdict_http_status(v), (int)gpcguard_verdict_reason(v));
        hex_out(gpcguard_verdict_error_code(v));
        hex_out(gpcguard_verdict_message(v));
        hex_out(gpcguard_verdict_operation_outcome(v));
        hex_out(gpcguard_verdict_audit_record(v));
        hex_out(gpcguard_verdict_interaction_id(v));
        putchar('\n');
        gpcguard_verdict_free(v);
    }
    gpcguard_guard_free(g);
    return 0;
}
