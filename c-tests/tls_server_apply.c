/* A TLS server that makes its own SSL_CTX, loads its own certificate and key with OpenSSL, and only
 * then asks gpcguard to put the GP Connect policy on it (gpcguard_ssl_ctx_apply) — as nginx or
 * httpd modules do.
 * Usage: tls_server_apply CONFIG.toml PORT CERT_CHAIN.pem KEY.pem */
#include "tls_server_common.h"

#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s CONFIG.toml PORT CERT_CHAIN.pem KEY.pem\n", argv[0]);
        return 2;
    }
    int port = parse_port(argv[2]);
    gpcguard_guard *guard = load_guard(argv[1]);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        die_openssl("SSL_CTX_new");
    if (SSL_CTX_use_certificate_chain_file(ctx, argv[3]) != 1)
        die_openssl(argv[3]);
    if (SSL_CTX_use_PrivateKey_file(ctx, argv[4], SSL_FILETYPE_PEM) != 1)
        die_openssl(argv[4]);
    if (SSL_CTX_check_private_key(ctx) != 1)
        die_openssl("SSL_CTX_check_private_key");
    gpcguard_result r = gpcguard_ssl_ctx_apply(guard, ctx);
    if (r != GPCGUARD_OK)
        die_gpcguard("gpcguard_ssl_ctx_apply", r);
    int status = serve(guard, ctx, port);
    SSL_CTX_free(ctx);
    gpcguard_guard_free(guard);
    return status;
}
