/* The load client of the Tomcat row of `make bench`: CONNECTIONS threads, each with one
 * keep-alive TLS 1.2 connection presenting a client certificate, sending REQUEST (a raw HTTP/1.1
 * request, Host header included) one at a time for SECONDS, reading each response whole
 * (Content-Length or chunked is not needed: Tomcat answers the static file and the Valve's
 * refusals with a Content-Length). A connection the server closes is opened again.
 *   tc_load PORT CERT KEY CAFILE REQUEST_FILE CONNECTIONS SECONDS
 * Prints "RESULT tomcat ok=.. failed=.. reconnects=.. secs=.. rps=..": ok counts 200 answers,
 * failed every other answer or a broken connection. The run ends after SECONDS whatever the
 * server does: every read and write has a timeout. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static SSL_CTX *ctx;
static int port;
static char *request;
static size_t request_len;
static double deadline;

struct counts {
    long ok, failed, reconnects;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static SSL *open_connection(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0)
        return NULL;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* No read or write waits longer than 5 s: a stuck server cannot hold the run past its bound. */
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return NULL;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    return ssl;
}

static void close_connection(SSL *ssl) {
    if (!ssl)
        return;
    int fd = SSL_get_fd(ssl);
    SSL_free(ssl);
    close(fd);
}

/* One request and its response: the HTTP status, 0 when the connection broke; *keep is cleared
 * when the server said it closes the connection. */
static int exchange(SSL *ssl, int *keep) {
    if (SSL_write(ssl, request, (int)request_len) != (int)request_len)
        return 0;
    char buf[65536];
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have == sizeof buf - 1)
            return 0;
        int n = SSL_read(ssl, buf + have, (int)(sizeof buf - 1 - have));
        if (n <= 0)
            return 0;
        have += (size_t)n;
        buf[have] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        return 0;
    long length = -1;
    *keep = 1;
    /* Header lines between the status line and the blank line (each ends in CRLF, the last at
     * `end`). */
    for (char *line = strstr(buf, "\r\n") + 2; line < end + 2;) {
        char *eol = strstr(line, "\r\n");
        if (!strncasecmp(line, "Content-Length:", 15))
            length = strtol(line + 15, NULL, 10);
        else if (!strncasecmp(line, "Connection:", 11) && memmem(line, (size_t)(eol - line), "close", 5))
            *keep = 0;
        line = eol + 2;
    }
    if (length < 0)
        return 0; /* no length: the body cannot be delimited on a kept connection */
    size_t body = have - (size_t)(end + 4 - buf);
    while ((long)body < length) {
        int n = SSL_read(ssl, buf, (int)sizeof buf);
        if (n <= 0)
            return 0;
        body += (size_t)n;
    }
    return (long)body == length ? status : 0;
}

static void *worker(void *arg) {
    struct counts *c = arg;
    SSL *ssl = NULL;
    while (now() < deadline) {
        if (!ssl) {
            ssl = open_connection();
            if (!ssl) {
                c->failed++;
                usleep(10000);
                continue;
            }
            c->reconnects++;
        }
        int keep = 1, status = exchange(ssl, &keep);
        if (status == 200)
            c->ok++;
        else
            c->failed++;
        if (!status || !keep) {
            close_connection(ssl);
            ssl = NULL;
        }
    }
    close_connection(ssl);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: tc_load PORT CERT KEY CAFILE REQUEST_FILE CONNECTIONS SECONDS\n");
        return 2;
    }
    port = atoi(argv[1]);
    int connections = atoi(argv[6]);
    double seconds = atof(argv[7]);
    if (connections < 1 || connections > 64 || seconds <= 0 || seconds > 600) {
        fprintf(stderr, "tc_load: 1..64 connections, 0..600 seconds\n");
        return 2;
    }
    FILE *f = fopen(argv[5], "rb");
    if (!f) {
        perror(argv[5]);
        return 2;
    }
    request = malloc(65536);
    request_len = fread(request, 1, 65536, f);
    fclose(f);
    if (!request_len || request_len == 65536) {
        fprintf(stderr, "tc_load: the request file is empty or too large\n");
        return 2;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 || SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_load_verify_locations(ctx, argv[4], NULL) != 1) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    pthread_t threads[64];
    struct counts counts[64];
    memset(counts, 0, sizeof counts);
    double start = now();
    deadline = start + seconds;
    for (int i = 0; i < connections; i++)
        if (pthread_create(&threads[i], NULL, worker, &counts[i]) != 0) {
            fprintf(stderr, "tc_load: pthread_create failed\n");
            return 2;
        }
    struct counts total = {0};
    for (int i = 0; i < connections; i++) {
        pthread_join(threads[i], NULL);
        total.ok += counts[i].ok;
        total.failed += counts[i].failed;
        total.reconnects += counts[i].reconnects;
    }
    double secs = now() - start;
    printf("RESULT tomcat ok=%ld failed=%ld reconnects=%ld secs=%.3f rps=%.1f\n", total.ok, total.failed, total.reconnects, secs,
           (double)total.ok / secs);
    SSL_CTX_free(ctx);
    return 0;
}
