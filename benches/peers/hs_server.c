/* The gpcguard TLS server of `make bench`: an SSL_CTX from gpcguard_ssl_ctx_new (TLS 1.2, the
 * Spine ciphers, mandatory client certificate verified with CRLs and the SSP FQDN), and a plain
 * accept loop: handshake, wait for the client's close, next. What a host adds per connection is
 * left out, as it is for openssl s_server -rev and nginx.
 *   hs_server CONFIG.toml PORT [HANDSHAKES]
 *       prints "READY port=N"; SIGHUP reloads; SIGTERM ends it and prints the counts. With
 *       HANDSHAKES it also ends by itself after that many accepted handshakes: run.py's callgrind
 *       runs stop it that way, so the stop never depends on when valgrind delivers a signal. */
#define _GNU_SOURCE /* ppoll */
#include <arpa/inet.h>
#include <errno.h>
#include <gpcguard.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t reload_requested, stop_requested;
static void on_signal(int sig) {
    if (sig == SIGHUP)
        reload_requested = 1;
    else
        stop_requested = 1;
}

static void die(const char *what, gpcguard_result r) {
    char detail[1024];
    gpcguard_last_error(detail, sizeof detail);
    fprintf(stderr, "%s: %s: %s\n", what, gpcguard_result_name(r), detail);
    exit(2);
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s CONFIG.toml PORT [HANDSHAKES]\n", argv[0]);
        return 2;
    }
    long max_handshakes = argc == 4 ? atol(argv[3]) : 0;
    gpcguard_config *cfg = NULL;
    gpcguard_guard *guard = NULL;
    SSL_CTX *ctx = NULL;
    gpcguard_result r;
    if ((r = gpcguard_config_from_file(argv[1], &cfg)) != GPCGUARD_OK)
        die("config", r);
    if ((r = gpcguard_guard_new(cfg, &guard)) != GPCGUARD_OK)
        die("guard", r);
    gpcguard_config_free(cfg);
    if ((r = gpcguard_ssl_ctx_new(guard, &ctx)) != GPCGUARD_OK)
        die("ssl_ctx", r);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: accept() returns EINTR */
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* The signals are blocked except inside ppoll: one that arrives between the flag check and the
     * wait ends the wait instead of being noticed only at the next connection (with no next
     * connection, the server would never stop). */
    sigset_t blocked, during_wait;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGHUP);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigprocmask(SIG_BLOCK, &blocked, &during_wait);
    sigdelset(&during_wait, SIGHUP);
    sigdelset(&during_wait, SIGTERM);
    sigdelset(&during_wait, SIGINT);

    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 128) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
        perror("listen");
        return 2;
    }
    printf("READY port=%d\n", ntohs(a.sin_port));
    fflush(stdout);

    long accepted = 0, refused = 0, resumed = 0;
    while (!stop_requested && (max_handshakes == 0 || accepted < max_handshakes)) {
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        int ready = ppoll(&pfd, 1, NULL, &during_wait);
        int fd = ready > 0 ? accept(lfd, NULL, NULL) : -1;
        if (reload_requested) {
            reload_requested = 0;
            r = gpcguard_guard_reload(guard);
            printf("%s\n", r == GPCGUARD_OK ? "RELOADED" : "RELOAD-FAILED");
            fflush(stdout);
        }
        if (fd < 0)
            continue;
        SSL *ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            accepted++;
            resumed += SSL_session_reused(ssl);
            char buf[256];
            while (SSL_read(ssl, buf, sizeof buf) > 0) {
            }
            SSL_shutdown(ssl);
        } else {
            refused++;
        }
        ERR_clear_error();
        SSL_free(ssl);
        close(fd);
    }
    printf("DONE accepted=%ld refused=%ld resumed=%ld\n", accepted, refused, resumed);
    SSL_CTX_free(ctx);
    gpcguard_guard_free(guard);
    return 0;
}
