/* The prefork model (nginx workers, Apache prefork): the guard and its SSL_CTX are built in the
 * parent, then used in forked children.
 *
 * 1. Four children at once each judge requests (allowed, misaddressed) and client certificates
 *    (valid, revoked, later-revoked) with gpcguard_check_request / gpcguard_check_peer_pem, and run
 *    real TLS 1.2 handshakes in memory (a BIO pair) against the parent's gpcguard_ssl_ctx_new
 *    context, reading the peer verdict with gpcguard_check_peer_ssl. Each exits 0 only when every
 *    check passed.
 * 2. One child swaps the SubCA CRL for the version that revokes client-later-revoked and calls
 *    gpcguard_guard_reload on its copy: it must then refuse that certificate (verdict and
 *    handshake), while the parent, which did not reload, still accepts it.
 * 3. Two children each reload once, so both count the same number of reloads: the first with the
 *    old CRL, the second after the file changed to the revoking one. A session ticket the first
 *    issues to client-later-revoked (the ticket keys are the parent's, shared by fork) must not
 *    resume in the second: it verifies the certificate in full and refuses the handshake.
 *
 * Usage: fork_workers PKI_DIR (made by c-tests/make-pki.sh; sub-ca.crl is changed and restored).
 * Prints each failure, then "N passed, N failed"; exits 1 on any failure. */
#include "hardening_common.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 4

/* A TLS 1.2 handshake in memory between a client presenting `cert_name` and a server on
 * `server_ctx`. Returns 1 when it completed (then *reason is the gpcguard_check_peer_ssl verdict),
 * 0 when the server refused it. */
static int handshake_resuming(const gpcguard_guard *guard, SSL_CTX *server_ctx, const char *cert_name, SSL_SESSION *offer,
                              SSL_SESSION **session, int *resumed, int *reason);

static int handshake(const gpcguard_guard *guard, SSL_CTX *server_ctx, const char *cert_name, int *reason) {
    int resumed = 0;
    return handshake_resuming(guard, server_ctx, cert_name, NULL, NULL, &resumed, reason);
}

/* handshake(), the client offering `offer` (may be NULL) for resumption; *session gets the
 * client's session afterwards (when `session` is not NULL and the handshake completed), *resumed
 * whether the server resumed it. */
static int handshake_resuming(const gpcguard_guard *guard, SSL_CTX *server_ctx, const char *cert_name, SSL_SESSION *offer,
                              SSL_SESSION **session, int *resumed, int *reason) {
    char cert[64], key[64];
    snprintf(cert, sizeof cert, "%s.pem", cert_name);
    snprintf(key, sizeof key, "%s.key", cert_name);
    SSL_CTX *client_ctx = SSL_CTX_new(TLS_client_method());
    CHECK(client_ctx && SSL_CTX_use_certificate_chain_file(client_ctx, hc_path(cert)) == 1 &&
              SSL_CTX_use_PrivateKey_file(client_ctx, hc_path(key), SSL_FILETYPE_PEM) == 1,
          "client identity %s", cert_name);
    SSL *client = SSL_new(client_ctx), *server = SSL_new(server_ctx);
    BIO *client_bio = NULL, *server_bio = NULL;
    CHECK(client && server && BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) == 1, "SSL objects");
    SSL_set_bio(client, client_bio, client_bio);
    SSL_set_bio(server, server_bio, server_bio);
    if (offer)
        CHECK(SSL_set_session(client, offer) == 1, "SSL_set_session");
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    int done = 0, client_done = 0, server_done = 0;
    for (int i = 0; i < 50 && !done; i++) { /* a TLS 1.2 handshake takes a few flights */
        if (!client_done) {
            int rc = SSL_do_handshake(client);
            client_done = rc == 1;
            int e = rc == 1 ? 0 : SSL_get_error(client, rc);
            if (rc != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                break;
        }
        if (!server_done) {
            int rc = SSL_do_handshake(server);
            server_done = rc == 1;
            int e = rc == 1 ? 0 : SSL_get_error(server, rc);
            if (rc != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                break;
        }
        done = client_done && server_done;
    }
    ERR_clear_error();
    *reason = -1;
    *resumed = server_done && SSL_session_reused(server);
    if (session && server_done) {
        *session = SSL_get1_session(client);
        /* A clean close: freed without one, the client's session would be marked unresumable. */
        SSL_set_shutdown(client, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    }
    if (server_done) {
        gpcguard_verdict *v = NULL;
        gpcguard_result r = gpcguard_check_peer_ssl(guard, server, &v);
        CHECK(r == GPCGUARD_OK && v, "check_peer_ssl: %s (%s)", gpcguard_result_name(r), hc_error());
        if (v)
            *reason = (int)gpcguard_verdict_reason(v);
        gpcguard_verdict_free(v);
    }
    SSL_free(client);
    SSL_free(server);
    SSL_CTX_free(client_ctx);
    return server_done;
}

struct pems {
    unsigned char *valid, *revoked, *later;
    size_t valid_len, revoked_len, later_len;
};

/* The checks every worker runs; `later_revoked` says whether this process's guard should know
 * that client-later-revoked is revoked. */
static void judge_everything(const char *who, gpcguard_guard *guard, SSL_CTX *ctx, const struct pems *p, int later_revoked) {
    for (int round = 0; round < 20; round++) {
        int r = hc_request_reason(guard, 1);
        CHECK(r == GPCGUARD_REASON_ALLOWED, "%s: well-formed request: %s", who, hc_reason_name(r));
        r = hc_request_reason(guard, 0);
        CHECK(r == GPCGUARD_REASON_WRONG_RECIPIENT, "%s: misaddressed request: %s", who, hc_reason_name(r));
        r = hc_peer_reason(guard, p->valid, p->valid_len);
        CHECK(r == GPCGUARD_REASON_ALLOWED, "%s: client-valid: %s", who, hc_reason_name(r));
        r = hc_peer_reason(guard, p->revoked, p->revoked_len);
        CHECK(r == GPCGUARD_REASON_CERT_REVOKED, "%s: client-revoked: %s", who, hc_reason_name(r));
        r = hc_peer_reason(guard, p->later, p->later_len);
        int want = later_revoked ? GPCGUARD_REASON_CERT_REVOKED : GPCGUARD_REASON_ALLOWED;
        CHECK(r == want, "%s: client-later-revoked: %s, want %s", who, hc_reason_name(r), hc_reason_name(want));
    }
    int reason = -1;
    CHECK(handshake(guard, ctx, "client-valid", &reason) && reason == GPCGUARD_REASON_ALLOWED,
          "%s: handshake with client-valid: verdict %s", who, hc_reason_name(reason));
    CHECK(!handshake(guard, ctx, "client-revoked", &reason), "%s: handshake with client-revoked completed", who);
    int completed = handshake(guard, ctx, "client-later-revoked", &reason);
    if (later_revoked)
        CHECK(!completed, "%s: handshake with client-later-revoked completed after the reload", who);
    else
        CHECK(completed && reason == GPCGUARD_REASON_ALLOWED, "%s: handshake with client-later-revoked: completed %d, verdict %s",
              who, completed, hc_reason_name(reason));
}

/* A child frees what it inherited and exits through exit(), not _exit(), so that LeakSanitizer
 * (and valgrind) check the child too. Returns the exit status. */
static int child_exit(gpcguard_guard *guard, SSL_CTX *ctx, struct pems *p) {
    free(p->valid);
    free(p->revoked);
    free(p->later);
    SSL_CTX_free(ctx);
    gpcguard_guard_free(guard);
    fflush(NULL);
    return atomic_load(&hc_failed) == 0 && atomic_load(&hc_passed) > 0 ? 0 : 1;
}

/* Waits for `pid` and returns 1 when it exited with status 0. */
static int child_succeeded(pid_t pid, const char *who) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        return 0;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 1;
    if (WIFSIGNALED(status))
        fprintf(stderr, "%s: killed by signal %d\n", who, WTERMSIG(status));
    else
        fprintf(stderr, "%s: exit status %d\n", who, WEXITSTATUS(status));
    return 0;
}

int main(int argc, char **argv) {
    hc_program = "fork_workers";
    if (argc != 2) {
        fprintf(stderr, "usage: %s PKI_DIR\n", argv[0]);
        return 2;
    }
    hc_pki = argv[1];
    hc_make_authorization();
    CHECK(hc_swap_in("subca-initial.crl", "sub-ca.crl"), "restore subca-initial.crl");
    gpcguard_guard *guard = hc_guard();
    if (!guard)
        return hc_report();
    SSL_CTX *ctx = NULL;
    gpcguard_result res = gpcguard_ssl_ctx_new(guard, &ctx);
    CHECK(res == GPCGUARD_OK && ctx, "ssl_ctx_new: %s (%s)", gpcguard_result_name(res), hc_error());
    if (!ctx)
        return hc_report();
    struct pems p;
    p.valid = hc_read("client-valid.pem", &p.valid_len);
    p.revoked = hc_read("client-revoked.pem", &p.revoked_len);
    p.later = hc_read("client-later-revoked.pem", &p.later_len);

    /* The parent uses both once before forking, as a host does while it starts. */
    judge_everything("parent before fork", guard, ctx, &p, 0);
    fflush(NULL);

    pid_t pids[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0, "fork");
        if (pids[i] == 0) {
            char who[32];
            snprintf(who, sizeof who, "worker %d", i);
            hc_program = "fork_workers (child)";
            atomic_store(&hc_passed, 0);
            atomic_store(&hc_failed, 0);
            judge_everything(who, guard, ctx, &p, 0);
            exit(child_exit(guard, ctx, &p));
        }
    }
    for (int i = 0; i < WORKERS; i++) {
        char who[32];
        snprintf(who, sizeof who, "worker %d", i);
        if (pids[i] > 0)
            CHECK(child_succeeded(pids[i], who), "%s failed", who);
    }

    /* A child reloads its copy of the guard with the later CRL. */
    pid_t reloader = fork();
    CHECK(reloader >= 0, "fork");
    if (reloader == 0) {
        hc_program = "fork_workers (reloading child)";
        atomic_store(&hc_passed, 0);
        atomic_store(&hc_failed, 0);
        CHECK(hc_swap_in("subca-revoked-later.crl", "sub-ca.crl"), "swap in subca-revoked-later.crl");
        gpcguard_result r = gpcguard_guard_reload(guard);
        CHECK(r == GPCGUARD_OK, "reload in the child: %s (%s)", gpcguard_result_name(r), hc_error());
        judge_everything("reloading child", guard, ctx, &p, 1);
        exit(child_exit(guard, ctx, &p));
    }
    if (reloader > 0)
        CHECK(child_succeeded(reloader, "reloading child"), "the reloading child failed");

    /* Two children, one reload each: the first under the old CRL issues a ticket (written to a
     * file, as a client would keep it), the second under the revoking CRL is offered it. */
    CHECK(hc_swap_in("subca-initial.crl", "sub-ca.crl"), "restore subca-initial.crl");
    pid_t issuer = fork();
    CHECK(issuer >= 0, "fork");
    if (issuer == 0) {
        hc_program = "fork_workers (ticket issuer)";
        atomic_store(&hc_passed, 0);
        atomic_store(&hc_failed, 0);
        gpcguard_result r = gpcguard_guard_reload(guard);
        CHECK(r == GPCGUARD_OK, "reload in the issuer: %s (%s)", gpcguard_result_name(r), hc_error());
        SSL_SESSION *session = NULL;
        int resumed = 0, reason = -1;
        int done = handshake_resuming(guard, ctx, "client-later-revoked", NULL, &session, &resumed, &reason);
        CHECK(done && reason == GPCGUARD_REASON_ALLOWED && session, "issuer: handshake with client-later-revoked: %d %s", done,
              hc_reason_name(reason));
        /* Control: the issuer resumes its own ticket. */
        SSL_SESSION *again = NULL;
        done = handshake_resuming(guard, ctx, "client-later-revoked", session, &again, &resumed, &reason);
        CHECK(done && resumed, "issuer: its own ticket did not resume (completed %d, resumed %d)", done, resumed);
        FILE *f = fopen(hc_path("fork-ticket.pem"), "w");
        CHECK(f && session && PEM_write_SSL_SESSION(f, session) == 1, "writing the session");
        if (f)
            fclose(f);
        SSL_SESSION_free(session);
        SSL_SESSION_free(again);
        exit(child_exit(guard, ctx, &p));
    }
    if (issuer > 0)
        CHECK(child_succeeded(issuer, "ticket issuer"), "the ticket issuer failed");
    CHECK(hc_swap_in("subca-revoked-later.crl", "sub-ca.crl"), "swap in subca-revoked-later.crl");
    pid_t judge = fork();
    CHECK(judge >= 0, "fork");
    if (judge == 0) {
        hc_program = "fork_workers (second reloader)";
        atomic_store(&hc_passed, 0);
        atomic_store(&hc_failed, 0);
        gpcguard_result r = gpcguard_guard_reload(guard);
        CHECK(r == GPCGUARD_OK, "reload in the second child: %s (%s)", gpcguard_result_name(r), hc_error());
        FILE *f = fopen(hc_path("fork-ticket.pem"), "r");
        SSL_SESSION *session = f ? PEM_read_SSL_SESSION(f, NULL, NULL, NULL) : NULL;
        if (f)
            fclose(f);
        CHECK(session != NULL, "reading the issuer's session");
        int resumed = 0, reason = -1;
        int done = handshake_resuming(guard, ctx, "client-later-revoked", session, NULL, &resumed, &reason);
        CHECK(!done && !resumed, "second child: the issuer's ticket for a certificate its CRL revokes was accepted "
              "(completed %d, resumed %d, verdict %s)", done, resumed, hc_reason_name(reason));
        SSL_SESSION_free(session);
        exit(child_exit(guard, ctx, &p));
    }
    if (judge > 0)
        CHECK(child_succeeded(judge, "second reloader"), "the second reloading child failed");
    remove(hc_path("fork-ticket.pem"));
    /* The file on disk now revokes client-later-revoked, but the parent's guard was not reloaded:
     * it must still hold the state it was built with. */
    judge_everything("parent after the child's reload", guard, ctx, &p, 0);
    CHECK(hc_swap_in("subca-initial.crl", "sub-ca.crl"), "restore subca-initial.crl");

    free(p.valid);
    free(p.revoked);
    free(p.later);
    SSL_CTX_free(ctx);
    gpcguard_guard_free(guard);
    return hc_report();
}
