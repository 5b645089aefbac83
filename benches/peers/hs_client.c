/* The TLS client of `make bench`: N TLS 1.2 mutual-auth handshakes with
 * ECDHE-RSA-AES256-GCM-SHA384 against 127.0.0.1:PORT, each closed at once.
 *   hs_client PORT CERT KEY CAFILE N full      a full handshake each time
 *   hs_client PORT CERT KEY CAFILE N resume    one full handshake, then resumptions of its session
 *   hs_client PORT CERT KEY CAFILE 2 pause     a full handshake, SIGSTOP (the driver revokes the
 *                                              certificate and reloads), then one resumption
 * Prints "RESULT client ok=.. failed=.. resumed=.. secs=..". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int handshake(SSL_CTX *ctx, int port, SSL_SESSION **session, int *reused) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (*session)
        SSL_set_session(ssl, *session);
    int ok = SSL_connect(ssl) == 1;
    if (ok) {
        /* TLS 1.2: the server's Finished comes only after it accepted the client certificate,
         * so a completed SSL_connect is an accepted one. */
        SSL_shutdown(ssl);
        *reused = SSL_session_reused(ssl);
        if (!*session)
            *session = SSL_get1_session(ssl);
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s PORT CERT KEY CAFILE N full|resume|pause\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    long n = atol(argv[5]);
    const char *mode = argv[6];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE-RSA-AES256-GCM-SHA384") != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, argv[4], NULL) != 1) {
        fprintf(stderr, "hs_client: bad client setup\n");
        return 2;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    long ok = 0, failed = 0, resumed = 0;
    SSL_SESSION *session = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        int reused = 0;
        if (strcmp(mode, "pause") == 0 && i == 1) {
            printf("FIRST ok=%ld\n", ok);
            fflush(stdout);
            raise(SIGSTOP);
        }
        if (handshake(ctx, port, &session, &reused))
            ok++;
        else
            failed++;
        resumed += reused;
        if (strcmp(mode, "full") == 0 && session) {
            SSL_SESSION_free(session);
            session = NULL;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("RESULT client ok=%ld failed=%ld resumed=%ld secs=%.6f\n", ok, failed, resumed,
           (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
