/* A TLS server whose SSL_CTX gpcguard makes (gpcguard_ssl_ctx_new): server identity and the whole
 * GP Connect policy come from the configuration file.
 * Usage: tls_server_new CONFIG.toml PORT   (PORT 0 = any free port; see tls_server_common.h) */
#include "tls_server_common.h"

#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s CONFIG.toml PORT\n", argv[0]);
        return 2;
    }
    int port = parse_port(argv[2]);
    gpcguard_guard *guard = load_guard(argv[1]);
    SSL_CTX *ctx = NULL;
    gpcguard_result r = gpcguard_ssl_ctx_new(guard, &ctx);
    if (r != GPCGUARD_OK)
        die_gpcguard("gpcguard_ssl_ctx_new", r);
    int status = serve(guard, ctx, port);
    SSL_CTX_free(ctx);
    gpcguard_guard_free(guard);
    return status;
}
