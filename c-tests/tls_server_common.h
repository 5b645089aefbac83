/* What tls_server_new.c and tls_server_apply.c share: loading a guard, and a single-threaded TLS
 * server loop that reports every connection on stdout, so tests/tls_peers.rs can see what the
 * server (not the client) decided. Uses only gpcguard.h, OpenSSL and libc. */
#ifndef TLS_SERVER_COMMON_H
#define TLS_SERVER_COMMON_H

#include <gpcguard.h>
#include <openssl/ssl.h>

/* Prints what failed, gpcguard's result name and last error detail, and exits with status 2. */
void die_gpcguard(const char *what, gpcguard_result r);

/* Prints what failed and OpenSSL's error queue, and exits with status 2. */
void die_openssl(const char *what);

/* Builds a guard from a TOML file; exits on failure. */
gpcguard_guard *load_guard(const char *toml_path);

/* Listens on 127.0.0.1:port (0 = any free port) and serves until SIGTERM/SIGINT. Lines on stdout:
 *   READY port=N                        listening
 *   RELOADED | RELOAD-FAILED <detail>   after a SIGHUP (gpcguard_guard_reload)
 *   ACCEPTED protocol=P cipher=C resumed=0|1 allowed=0|1 reason=R status=S HOOK
 *   REFUSED ssl_error=N verify=<X509 verify result> errors=<OpenSSL error queue> HOOK
 * where HOOK is what the guard's handshake hook (gpcguard_guard_set_handshake_hook) was told
 * during that handshake: `hook=none`, or `hook=REASON hook_calls=N hook_message=MESSAGE`.
 * An accepted connection gets an HTTP/1.1 response whose status is gpcguard_check_peer_ssl's
 * verdict status and whose body is the ACCEPTED line. Returns the process exit status. */
int serve(gpcguard_guard *guard, SSL_CTX *ctx, int port);

/* Parses a port argument (0-65535); exits on a bad one. */
int parse_port(const char *arg);

#endif
