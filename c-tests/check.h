/* What the single-threaded C test programs share: counting checks, the sentinel that shows an
 * out-pointer was reset, gpcguard's last error, and paths into the test PKI (c-tests/make-pki.sh).
 * Each program sets `pki` from its argument and ends with check_summary(). Header-only: every
 * program is one translation unit. */
#ifndef GPCGUARD_C_TESTS_CHECK_H
#define GPCGUARD_C_TESTS_CHECK_H

#include <gpcguard.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
static const char *pki;

static void check_at(const char *file, int line, int ok, const char *fmt, ...) {
    if (ok) {
        passed++;
        return;
    }
    failed++;
    va_list ap;
    va_start(ap, fmt);
    const char *base = strrchr(file, '/');
    fprintf(stderr, "FAIL %s:%d: ", base ? base + 1 : file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
#define CHECK(cond, ...) check_at(__FILE__, __LINE__, (cond), __VA_ARGS__)

/* A non-NULL value that no allocation returns, to see that failures reset out-pointers to NULL. */
static char sentinel_storage;
#define SENTINEL ((void *)&sentinel_storage)

/* The detail of the last failed call on this thread. */
__attribute__((unused)) static const char *error_detail(void) {
    static char last_error[2048];
    gpcguard_last_error(last_error, sizeof last_error);
    return last_error;
}

/* PKI_DIR/name, in one of eight rotating buffers (enough for the arguments of one call). */
__attribute__((unused)) static const char *path_in_pki(const char *name) {
    static char paths[8][1024];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 1024, "%s/%s", pki, name);
    return p;
}

#endif
