/* Deliberately faulty, built with exactly the flags of the sanitized test programs, to prove
 * that the sanitizers are really linked and armed (mk/hardening.mk expects each mode to fail
 * with its own report). A sanitizer build that silently lost its runtime would let these pass.
 *
 *   sanitizer_canary overflow   heap-buffer-overflow read         -> AddressSanitizer
 *   sanitizer_canary leak       a malloc never freed               -> LeakSanitizer
 *   sanitizer_canary ubsan      signed integer overflow            -> UndefinedBehaviorSanitizer
 *   sanitizer_canary clean      no fault: must exit 0 (the harness itself works)
 * The overflow and leak modes, built without sanitizers, are valgrind's canaries too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Kept out of the optimiser's sight so the faults happen at run time. */
volatile int canary_index = 16;
volatile int canary_big = 2147483647;
void *volatile canary_sink;

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    if (strcmp(argv[1], "overflow") == 0) {
        char *buf = malloc(16);
        memset(buf, 'x', 16);
        int c = buf[canary_index]; /* one past the end */
        free(buf);
        printf("read %d past the end and was not stopped\n", c);
        return 0;
    }
    if (strcmp(argv[1], "leak") == 0) {
        canary_sink = malloc(4096);
        canary_sink = NULL; /* the only pointer is gone */
        return 0;
    }
    if (strcmp(argv[1], "ubsan") == 0) {
        int n = canary_big + canary_index; /* signed overflow */
        printf("overflowed to %d and was not stopped\n", n);
        return 0;
    }
    return strcmp(argv[1], "clean") == 0 ? 0 : 2;
}
