#define _GNU_SOURCE /* ppoll */
#include "tls_server_common.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* What gpcguard_guard_set_handshake_hook reported during the handshake in progress (this server
 * handles one connection at a time, on one thread). */
struct hook_report {
    int calls;
    gpcguard_reason reason;
    char message[1024];
};
static struct hook_report hook_report;

static void on_refused_handshake(void *userdata, gpcguard_reason reason, const char *message) {
    struct hook_report *report = userdata;
    if (report->calls++ == 0) {
        report->reason = reason;
        snprintf(report->message, sizeof report->message, "%s", message ? message : "(NULL)");
    }
}

/* " hook=NAME hook_calls=N hook_message=MESSAGE" for the handshake just made (" hook=none" when
 * the hook was not called); the message last, since it holds spaces. */
static void describe_hook(char *buf, size_t len) {
    if (hook_report.calls == 0)
        snprintf(buf, len, " hook=none");
    else
        snprintf(buf, len, " hook=%s hook_calls=%d hook_message=%s", gpcguard_reason_name(hook_report.reason),
                 hook_report.calls, hook_report.message);
}

static volatile sig_atomic_t reload_requested;
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    if (sig == SIGHUP)
        reload_requested = 1;
    else
        stop_requested = 1;
}

void die_gpcguard(const char *what, gpcguard_result r) {
    char detail[1024];
    gpcguard_last_error(detail, sizeof detail);
    fprintf(stderr, "%s: %s: %s\n", what, gpcguard_result_name(r), detail);
    exit(2);
}

/* Drains OpenSSL's error queue into buf as "err; err; ...". */
static void openssl_errors(char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char one[256];
        ERR_error_string_n(e, one, sizeof one);
        int n = snprintf(buf + used, len - used, "%s%s", used ? "; " : "", one);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    if (buf[0] == '\0')
        snprintf(buf, len, "(none)");
}

void die_openssl(const char *what) {
    char errors[2048];
    openssl_errors(errors, sizeof errors);
    fprintf(stderr, "%s: %s\n", what, errors);
    exit(2);
}

gpcguard_guard *load_guard(const char *toml_path) {
    gpcguard_config *cfg = NULL;
    gpcguard_result r = gpcguard_config_from_file(toml_path, &cfg);
    if (r != GPCGUARD_OK)
        die_gpcguard("gpcguard_config_from_file", r);
    gpcguard_guard *guard = NULL;
    r = gpcguard_guard_new(cfg, &guard);
    gpcguard_config_free(cfg);
    if (r != GPCGUARD_OK)
        die_gpcguard("gpcguard_guard_new", r);
    return guard;
}

int parse_port(const char *arg) {
    char *end = NULL;
    long port = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "bad port `%s`\n", arg);
        exit(2);
    }
    return (int)port;
}

/* Reads the request head (or whatever arrives before EOF/timeout); its content does not matter. */
static void read_request_head(SSL *ssl) {
    char buf[4096];
    size_t have = 0;
    while (have < sizeof buf - 1) {
        int n = SSL_read(ssl, buf + have, (int)(sizeof buf - 1 - have));
        if (n <= 0)
            return;
        have += (size_t)n;
        buf[have] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return;
    }
}

static void handle_connection(gpcguard_guard *guard, SSL_CTX *ctx, int fd) {
    /* A peer that stalls must not wedge this single-threaded server. */
    struct timeval timeout = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);

    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
        die_openssl("SSL_new");
    ERR_clear_error();
    memset(&hook_report, 0, sizeof hook_report);
    int ret = SSL_accept(ssl);
    char hook[1200];
    describe_hook(hook, sizeof hook);
    if (ret != 1) {
        int ssl_error = SSL_get_error(ssl, ret);
        char errors[2048];
        openssl_errors(errors, sizeof errors);
        printf("REFUSED ssl_error=%d verify=%s errors=%s%s\n", ssl_error,
               X509_verify_cert_error_string(SSL_get_verify_result(ssl)), errors, hook);
        fflush(stdout);
        SSL_free(ssl);
        return;
    }

    /* The handshake passed; ask the guard again, as a host does before serving a request. */
    gpcguard_verdict *verdict = NULL;
    gpcguard_result r = gpcguard_check_peer_ssl(guard, ssl, &verdict);
    int allowed = 0;
    unsigned status = 500;
    const char *reason = "NO_VERDICT";
    if (r == GPCGUARD_OK) {
        allowed = gpcguard_verdict_allowed(verdict);
        status = gpcguard_verdict_http_status(verdict);
        reason = gpcguard_reason_name(gpcguard_verdict_reason(verdict));
    } else {
        reason = gpcguard_result_name(r);
    }

    char line[2048];
    snprintf(line, sizeof line, "ACCEPTED protocol=%s cipher=%s resumed=%d allowed=%d reason=%s status=%u%s\n",
             SSL_get_version(ssl), SSL_get_cipher_name(ssl), SSL_session_reused(ssl), allowed, reason, status, hook);
    gpcguard_verdict_free(verdict);
    fputs(line, stdout);
    fflush(stdout);

    read_request_head(ssl);
    char response[3072];
    int n = snprintf(response, sizeof response,
                     "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n\r\n%s",
                     status, allowed ? "OK" : "Refused", strlen(line), line);
    SSL_write(ssl, response, n);
    SSL_shutdown(ssl);
    SSL_free(ssl);
}

int serve(gpcguard_guard *guard, SSL_CTX *ctx, int port) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: the signal must end the wait below */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client that hangs up must not kill the server */

    /* The signals are blocked except inside ppoll, so a SIGHUP that arrives between the flag check
     * and the wait cannot be lost (it would leave the test waiting for RELOADED forever). */
    sigset_t blocked, during_wait;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGHUP);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigprocmask(SIG_BLOCK, &blocked, &during_wait);
    sigdelset(&during_wait, SIGHUP);
    sigdelset(&during_wait, SIGTERM);
    sigdelset(&during_wait, SIGINT);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t addr_len = sizeof addr;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &addr_len) != 0) {
        perror("listen on 127.0.0.1");
        return 2;
    }
    gpcguard_result hooked = gpcguard_guard_set_handshake_hook(guard, on_refused_handshake, &hook_report);
    if (hooked != GPCGUARD_OK)
        die_gpcguard("gpcguard_guard_set_handshake_hook", hooked);
    printf("READY port=%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    while (!stop_requested) {
        if (reload_requested) {
            reload_requested = 0;
            gpcguard_result r = gpcguard_guard_reload(guard);
            if (r == GPCGUARD_OK) {
                printf("RELOADED\n");
            } else {
                char detail[1024];
                gpcguard_last_error(detail, sizeof detail);
                printf("RELOAD-FAILED %s: %s\n", gpcguard_result_name(r), detail);
            }
            fflush(stdout);
            continue;
        }
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        int ready = ppoll(&pfd, 1, NULL, &during_wait);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            perror("ppoll");
            return 2;
        }
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        handle_connection(guard, ctx, fd);
        close(fd);
    }
    close(lfd);
    printf("STOPPED\n");
    fflush(stdout);
    return 0;
}
