/* A small GP Connect provider built on gpcguard, for `make demo`: TLS from gpcguard_ssl_ctx_new,
 * every request judged by gpcguard_check_peer_ssl and gpcguard_check_request, allowed requests
 * answered with a canned FHIR resource, refusals with the verdict's status and OperationOutcome,
 * the response headers gpcguard lists on every response, and the audit record appended to a log.
 *
 * Usage: demo_provider CONFIG.toml PORT AUDIT.log
 * Prints "READY port=N" when listening and one line per connection: "STATUS REASON message" for a
 * request, "TLS-REFUSED REASON message" for a refused handshake (the guard's handshake hook; REASON
 * "-" when OpenSSL refused before the guard looked). SIGHUP reloads the guard, SIGTERM stops. Single-threaded and deliberately plain: it shows the calls, not a web server. */
#define _GNU_SOURCE
#include <gpcguard.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_HEAD 32768
#define MAX_HEADERS 128
#define MAX_BODY 65536

static volatile sig_atomic_t reload_requested, stop_requested;
static void on_signal(int sig) {
    if (sig == SIGHUP)
        reload_requested = 1;
    else
        stop_requested = 1;
}

/* What the guard's handshake hook said about the handshake in progress (one at a time here). */
static char handshake_refusal[1024];

static void on_refused_handshake(void *userdata, gpcguard_reason reason, const char *message) {
    snprintf(handshake_refusal, sizeof handshake_refusal, "%s %s", gpcguard_reason_name(reason), message);
}

static void die(const char *what, gpcguard_result r) {
    char detail[1024];
    gpcguard_last_error(detail, sizeof detail);
    fprintf(stderr, "demo_provider: %s: %s: %s\n", what, gpcguard_result_name(r), detail);
    exit(2);
}

static const char *canned_resource(const char *interaction) {
    if (strstr(interaction, ":metadata-1"))
        return "{\"resourceType\":\"CapabilityStatement\",\"status\":\"active\",\"kind\":\"instance\","
               "\"fhirVersion\":\"3.0.1\",\"format\":[\"application/fhir+json\"]}";
    return "{\"resourceType\":\"Patient\",\"id\":\"2\",\"identifier\":[{\"system\":"
           "\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"9000000009\"}],"
           "\"name\":[{\"family\":\"Demo\",\"given\":[\"Patient\"]}]}";
}

static void respond(SSL *ssl, unsigned status, const char *body) {
    char head[2048];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %u %s\r\nContent-Type: application/fhir+json;charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n",
                     status, status == 200 ? "OK" : "Refused", strlen(body));
    for (size_t i = 0; i < gpcguard_response_header_count() && n < (int)sizeof head; i++)
        n += snprintf(head + n, sizeof head - (size_t)n, "%s: %s\r\n", gpcguard_response_header_name(i),
                      gpcguard_response_header_value(i));
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    SSL_write(ssl, head, n);
    SSL_write(ssl, body, (int)strlen(body));
}

/* Reads the request head; returns its length up to and including the blank line, or -1. */
static int read_head(SSL *ssl, char *buf, int *have) {
    *have = 0;
    while (*have < MAX_HEAD - 1) {
        int n = SSL_read(ssl, buf + *have, MAX_HEAD - 1 - *have);
        if (n <= 0)
            return -1;
        *have += n;
        buf[*have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end)
            return (int)(end - buf) + 4;
    }
    return -1;
}

static void serve_request(gpcguard_guard *guard, SSL *ssl, FILE *audit) {
    static char buf[MAX_HEAD];
    int have = 0, head_len = read_head(ssl, buf, &have);
    if (head_len < 0) {
        respond(ssl, 400, "{\"resourceType\":\"OperationOutcome\"}");
        return;
    }
    /* Request line: METHOD SP TARGET SP VERSION CRLF; then "Name: value" lines. */
    char *line_end = strstr(buf, "\r\n");
    char *sp1 = memchr(buf, ' ', (size_t)(line_end - buf));
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
    if (!sp1 || !sp2) {
        respond(ssl, 400, "{\"resourceType\":\"OperationOutcome\"}");
        return;
    }
    gpcguard_header headers[MAX_HEADERS];
    size_t count = 0;
    long content_length = 0;
    for (char *p = line_end + 2; p < buf + head_len - 2 && count < MAX_HEADERS;) {
        char *eol = strstr(p, "\r\n");
        char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon) {
            headers[count] = (gpcguard_header){p, (size_t)(colon - p), colon + 1, (size_t)(eol - colon - 1)};
            if ((size_t)(colon - p) == 14 && strncasecmp(p, "Content-Length", 14) == 0)
                content_length = strtol(colon + 1, NULL, 10);
            count++;
        }
        p = eol + 2;
    }
    /* Drain a body (POST/PUT); the demo does not use it. */
    long body_seen = have - head_len;
    char sink[4096];
    while (body_seen < content_length && content_length <= MAX_BODY) {
        int n = SSL_read(ssl, sink, sizeof sink);
        if (n <= 0)
            break;
        body_seen += n;
    }

    gpcguard_verdict *peer = NULL, *verdict = NULL;
    gpcguard_result r = gpcguard_check_peer_ssl(guard, ssl, &peer);
    if (r != GPCGUARD_OK)
        die("gpcguard_check_peer_ssl", r);
    if (!gpcguard_verdict_allowed(peer)) {
        printf("%u %s %s\n", gpcguard_verdict_http_status(peer), gpcguard_reason_name(gpcguard_verdict_reason(peer)),
               gpcguard_verdict_message(peer));
        respond(ssl, gpcguard_verdict_http_status(peer), gpcguard_verdict_operation_outcome(peer));
        gpcguard_verdict_free(peer);
        return;
    }
    gpcguard_verdict_free(peer);

    gpcguard_request req = {
        .method = buf, .method_len = (size_t)(sp1 - buf),
        .target = sp1 + 1, .target_len = (size_t)(sp2 - sp1 - 1),
        .headers = headers, .header_count = count, .now = 0,
    };
    r = gpcguard_check_request(guard, &req, &verdict);
    if (r != GPCGUARD_OK)
        die("gpcguard_check_request", r);
    unsigned status = gpcguard_verdict_http_status(verdict);
    if (gpcguard_verdict_allowed(verdict))
        respond(ssl, status, canned_resource(gpcguard_verdict_interaction_id(verdict)));
    else
        respond(ssl, status, gpcguard_verdict_operation_outcome(verdict));
    /* The verdict message never holds the token or query values, so it may go to the log. */
    printf("%u %s %s\n", status, gpcguard_reason_name(gpcguard_verdict_reason(verdict)), gpcguard_verdict_message(verdict));
    fprintf(audit, "%s\n", gpcguard_verdict_audit_record(verdict));
    fflush(audit);
    gpcguard_verdict_free(verdict);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s CONFIG.toml PORT AUDIT.log\n", argv[0]);
        return 2;
    }
    gpcguard_config *cfg = NULL;
    gpcguard_guard *guard = NULL;
    SSL_CTX *ctx = NULL;
    gpcguard_result r = gpcguard_config_from_file(argv[1], &cfg);
    if (r != GPCGUARD_OK)
        die("gpcguard_config_from_file", r);
    if ((r = gpcguard_guard_new(cfg, &guard)) != GPCGUARD_OK)
        die("gpcguard_guard_new", r);
    gpcguard_config_free(cfg);
    if ((r = gpcguard_ssl_ctx_new(guard, &ctx)) != GPCGUARD_OK)
        die("gpcguard_ssl_ctx_new", r);
    /* A refused client certificate ends the handshake with an alert; the hook says why. */
    if ((r = gpcguard_guard_set_handshake_hook(guard, on_refused_handshake, NULL)) != GPCGUARD_OK)
        die("gpcguard_guard_set_handshake_hook", r);
    FILE *audit = fopen(argv[3], "a");
    if (!audit) {
        perror(argv[3]);
        return 2;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 16) ||
        getsockname(lfd, (struct sockaddr *)&addr, &len)) {
        perror("listen");
        return 2;
    }
    printf("READY port=%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    while (!stop_requested) {
        int fd = accept(lfd, NULL, NULL);
        if (reload_requested) {
            reload_requested = 0;
            r = gpcguard_guard_reload(guard);
            char detail[512] = "";
            if (r != GPCGUARD_OK)
                gpcguard_last_error(detail, sizeof detail);
            printf("%s %s\n", r == GPCGUARD_OK ? "RELOADED" : "RELOAD-FAILED", detail);
        }
        if (fd < 0)
            continue;
        struct timeval timeout = {.tv_sec = 10};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        SSL *ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        handshake_refusal[0] = '\0';
        if (SSL_accept(ssl) == 1) {
            serve_request(guard, ssl, audit);
            SSL_shutdown(ssl);
        } else {
            unsigned long e = ERR_peek_last_error();
            if (handshake_refusal[0])
                printf("TLS-REFUSED %s\n", handshake_refusal);
            else
                printf("TLS-REFUSED - %s\n", e ? ERR_reason_error_string(e) : "handshake failed");
            ERR_clear_error();
        }
        fflush(stdout);
        SSL_free(ssl);
        close(fd);
    }
    SSL_CTX_free(ctx);
    gpcguard_guard_free(guard);
    fclose(audit);
    return 0;
}
