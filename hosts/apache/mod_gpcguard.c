/*
 * mod_gpcguard: the GP Connect API security model in Apache httpd 2.4, through libgpcguard.
 *
 *   TLS      mod_ssl's own SSL_CTX of every virtual host with `GpcGuard On` gets the gpcguard
 *            policy (gpcguard_ssl_ctx_apply) in mod_ssl's `init_server` optional hook, which
 *            mod_ssl runs after it has applied all of its own SSL* directives to the context.
 *   Peer     each request re-verifies the connection's client certificate against the guard's
 *            current state (gpcguard_check_peer_ssl); the SSL* comes from mod_ssl's
 *            `pre_handshake` optional hook. A guarded request on a connection without TLS is
 *            refused as having no client certificate.
 *   Request  method, unparsed URI and headers go to gpcguard_check_request.
 *   Refusal  the verdict's status, Content-Type application/fhir+json and its OperationOutcome,
 *            written by the module itself (no ErrorDocument can replace it).
 *   Headers  Cache-Control: no-store and HSTS on every response of a guarded context, errors
 *            included, set last before the HTTP header filter so no other module can undo them.
 *   Audit    one JSON line per checked request in the GpcGuardAuditLog file; the verdict's
 *            message in the error log. Neither ever holds the token or a query-string value.
 *   Status   `SetHandler gpcguard-status` answers the context's guard status in the Prometheus
 *            text format (libgpcguard renders it); the verdict counters of every child process
 *            live in one shared mapping made before the children fork.
 *
 * Checks run in post_read_request when the virtual host itself has `GpcGuard On` (before
 * URI translation, so no rewrite, redirect or Satisfy setting can come first), and in
 * header_parser for a guard switched on in <Location>/<Directory> (after the per-directory
 * merge, still before any access or authentication hook).
 *
 * Guards are built while the configuration is read, one per distinct GpcGuardConfig file, so
 * `apachectl configtest` reports a bad gpcguard setting with the key and file; the forked
 * children share them. `apachectl graceful` re-reads the configuration and so every file the
 * guard names (CRLs, trust anchors).
 *
 * mod_ssl_openssl.h (which declares the optional hooks) is not shipped by Debian's apache2-dev:
 * the two prototypes are declared here, as mod_ssl defines them (modules/ssl/mod_ssl_openssl.h).
 */

#include <dlfcn.h>
#include <sys/mman.h>
#include <string.h>

#include <openssl/ssl.h>

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_hash.h"
#include "apr_optional_hooks.h"
#include "apr_strings.h"
#include "util_filter.h"

#include "gpcguard.h"

/* mod_ssl's optional hooks (mod_ssl_openssl.h): registered by name, run if mod_ssl is loaded. */
typedef int ssl_HOOK_init_server_t(server_rec *s, apr_pool_t *p, int is_proxy, SSL_CTX *ctx);
typedef int ssl_HOOK_pre_handshake_t(conn_rec *c, SSL *ssl, int is_proxy);

module AP_MODULE_DECLARE_DATA gpcguard_module;

#define UNSET (-1)
#define FILTER_NAME "GPCGUARD_HEADERS"
#define NOTE_CHECKED "gpcguard-checked"

/* An audit log file, shared by every context naming the same path; opened at post_config. */
typedef struct {
    const char *path;
    apr_file_t *file;
} audit_log;

/* A guard built from one GpcGuardConfig file. */
typedef struct {
    const char *path;
    gpcguard_guard *guard;
} guard_entry;

typedef struct {
    int enabled;              /* GpcGuard On|Off, UNSET when not said here */
    guard_entry *guard;       /* GpcGuardConfig, NULL when not said here */
    audit_log *audit;         /* GpcGuardAuditLog, NULL when not said here */
} dir_config;

/* The guards and audit logs of the configuration being read, in pconf; cleared with it. */
static apr_hash_t *guards_by_path;
static apr_hash_t *audit_logs_by_path;

/* The mod_ssl contexts the policy was applied to in this configuration round. */
static apr_hash_t *applied_servers;

static apr_status_t forget_tables(void *unused)
{
    guards_by_path = NULL;
    audit_logs_by_path = NULL;
    applied_servers = NULL;
    return APR_SUCCESS;
}

static apr_status_t free_guard(void *data)
{
    gpcguard_guard_free(((guard_entry *)data)->guard);
    return APR_SUCCESS;
}

static void ensure_tables(apr_pool_t *pconf)
{
    if (guards_by_path == NULL) {
        guards_by_path = apr_hash_make(pconf);
        audit_logs_by_path = apr_hash_make(pconf);
        applied_servers = apr_hash_make(pconf);
        apr_pool_cleanup_register(pconf, NULL, forget_tables, apr_pool_cleanup_null);
    }
}

static const char *last_error(apr_pool_t *p)
{
    char buf[1024];
    gpcguard_last_error(buf, sizeof buf);
    return apr_pstrdup(p, buf);
}

/* ---------------------------------------------------------------- configuration */

static void *create_dir_config(apr_pool_t *p, char *dir)
{
    dir_config *c = apr_pcalloc(p, sizeof *c);
    c->enabled = UNSET;
    return c;
}

static void *merge_dir_config(apr_pool_t *p, void *base_, void *add_)
{
    dir_config *base = base_, *add = add_, *c = apr_pcalloc(p, sizeof *c);
    c->enabled = add->enabled != UNSET ? add->enabled : base->enabled;
    c->guard = add->guard ? add->guard : base->guard;
    c->audit = add->audit ? add->audit : base->audit;
    return c;
}

static const char *set_enabled(cmd_parms *cmd, void *conf, int on)
{
    ((dir_config *)conf)->enabled = on;
    return NULL;
}

/* Builds the guard now (at most once per file per configuration round), so that a configuration
 * test reports a bad gpcguard file with the key and file the library names. */
static const char *set_config_file(cmd_parms *cmd, void *conf, const char *arg)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    guard_entry *entry;
    gpcguard_config *cfg = NULL;
    gpcguard_result rc;

    if (path == NULL) {
        return apr_pstrcat(cmd->pool, "GpcGuardConfig: invalid path ", arg, NULL);
    }
    ensure_tables(cmd->pool);
    entry = apr_hash_get(guards_by_path, path, APR_HASH_KEY_STRING);
    if (entry == NULL) {
        entry = apr_pcalloc(cmd->pool, sizeof *entry);
        entry->path = path;
        rc = gpcguard_config_from_file(path, &cfg);
        if (rc == GPCGUARD_OK) {
            rc = gpcguard_guard_new(cfg, &entry->guard);
        }
        gpcguard_config_free(cfg);
        if (rc != GPCGUARD_OK) {
            return apr_psprintf(cmd->pool, "GpcGuardConfig %s: %s (%s)", path,
                                last_error(cmd->pool), gpcguard_result_name(rc));
        }
        apr_pool_cleanup_register(cmd->pool, entry, free_guard, apr_pool_cleanup_null);
        apr_hash_set(guards_by_path, entry->path, APR_HASH_KEY_STRING, entry);
    }
    ((dir_config *)conf)->guard = entry;
    return NULL;
}

static const char *set_audit_log(cmd_parms *cmd, void *conf, const char *arg)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    audit_log *log;

    if (path == NULL) {
        return apr_pstrcat(cmd->pool, "GpcGuardAuditLog: invalid path ", arg, NULL);
    }
    ensure_tables(cmd->pool);
    log = apr_hash_get(audit_logs_by_path, path, APR_HASH_KEY_STRING);
    if (log == NULL) {
        log = apr_pcalloc(cmd->pool, sizeof *log);
        log->path = path;
        apr_hash_set(audit_logs_by_path, log->path, APR_HASH_KEY_STRING, log);
    }
    ((dir_config *)conf)->audit = log;
    return NULL;
}

static const command_rec gpcguard_commands[] = {
    AP_INIT_FLAG("GpcGuard", set_enabled, NULL, RSRC_CONF | ACCESS_CONF,
                 "On to enforce the GP Connect security model here (TLS policy, client "
                 "certificate, SSP headers, audit JWT, scope)"),
    AP_INIT_TAKE1("GpcGuardConfig", set_config_file, NULL, RSRC_CONF | ACCESS_CONF,
                  "the gpcguard provider configuration (TOML)"),
    AP_INIT_TAKE1("GpcGuardAuditLog", set_audit_log, NULL, RSRC_CONF | ACCESS_CONF,
                  "the file that receives one audit line per checked request"),
    {NULL, {NULL}, NULL, 0, 0, NULL}
};

static unsigned server_port(server_rec *s)
{
    return s->port ? s->port : (s->addrs ? s->addrs->host_port : 0);
}

static dir_config *server_level(server_rec *s)
{
    return ap_get_module_config(s->lookup_defaults, &gpcguard_module);
}

/* ---------------------------------------------------------------- TLS (mod_ssl hooks) */

static int ssl_init_server(server_rec *s, apr_pool_t *p, int is_proxy, SSL_CTX *ctx)
{
    dir_config *c = server_level(s);
    gpcguard_result rc;

    if (is_proxy || c->enabled != 1) {
        return DECLINED;
    }
    if (c->guard == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "gpcguard: GpcGuard On for %s:%u without GpcGuardConfig",
                     s->server_hostname, server_port(s));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rc = gpcguard_ssl_ctx_apply(c->guard->guard, ctx);
    if (rc != GPCGUARD_OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "gpcguard: applying the TLS policy of %s to %s:%u failed: %s (%s)",
                     c->guard->path, s->server_hostname, server_port(s), last_error(p),
                     gpcguard_result_name(rc));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* The policy turns the stateful session cache off; also drop mod_ssl's external cache
     * callbacks (SSLSessionCache), so no session stored by another virtual host sharing that
     * cache is ever looked up here. Tickets stay, checked by gpcguard on every resumption. */
    SSL_CTX_sess_set_new_cb(ctx, NULL);
    SSL_CTX_sess_set_get_cb(ctx, NULL);
    SSL_CTX_sess_set_remove_cb(ctx, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    ensure_tables(p);
    apr_hash_set(applied_servers, apr_pmemdup(p, &s, sizeof s), sizeof s, s);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "gpcguard: TLS policy of %s applied to %s:%u",
                 c->guard->path, s->server_hostname, server_port(s));
    return OK;
}

static int ssl_pre_handshake(conn_rec *c, SSL *ssl, int is_proxy)
{
    if (!is_proxy) {
        ap_set_module_config(c->conn_config, &gpcguard_module, ssl);
    }
    return DECLINED;
}

static SSL *connection_ssl(conn_rec *c)
{
    for (; c != NULL; c = c->master) {
        SSL *ssl = ap_get_module_config(c->conn_config, &gpcguard_module);
        if (ssl != NULL) {
            return ssl;
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- start-up */

static apr_status_t open_audit_logs(apr_pool_t *pconf, server_rec *s)
{
    apr_hash_index_t *hi;

    if (audit_logs_by_path == NULL) {
        return APR_SUCCESS;
    }
    for (hi = apr_hash_first(pconf, audit_logs_by_path); hi; hi = apr_hash_next(hi)) {
        audit_log *log = apr_hash_this_val(hi);
        /* Unbuffered append: each line is one write(2), whole even with many children. */
        apr_status_t rv = apr_file_open(&log->file, log->path,
                                        APR_FOPEN_WRITE | APR_FOPEN_APPEND | APR_FOPEN_CREATE,
                                        APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD,
                                        pconf);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "gpcguard: cannot open GpcGuardAuditLog %s",
                         log->path);
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* Runs after mod_ssl's post_config (which ran init_server): every virtual host that says
 * GpcGuard On must have a guard, and one with TLS must have had the policy applied. */
static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *base)
{
    server_rec *s;

    if (open_audit_logs(pconf, base) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (s = base; s; s = s->next) {
        dir_config *c = server_level(s);
        if (c->enabled != 1) {
            continue;
        }
        if (c->guard == NULL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         "gpcguard: GpcGuard On for %s:%u without GpcGuardConfig",
                         s->server_hostname, server_port(s));
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (applied_servers == NULL || apr_hash_get(applied_servers, &s, sizeof s) == NULL) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "gpcguard: GpcGuard On for %s:%u, which has no mod_ssl TLS: every request "
                         "there is refused as having no client certificate (496)",
                         s->server_hostname, server_port(s));
        }
    }
    return OK;
}

/* ---------------------------------------------------------------- responses */

static void set_response_headers(request_rec *r)
{
    size_t i, n = gpcguard_response_header_count();
    for (i = 0; i < n; i++) {
        const char *name = gpcguard_response_header_name(i);
        apr_table_unset(r->err_headers_out, name);
        apr_table_set(r->headers_out, name, gpcguard_response_header_value(i));
    }
}

/* Sits just before the HTTP header filter, after every content filter (mod_headers included). */
static apr_status_t headers_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    set_response_headers(f->r);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

static int guarded(request_rec *r)
{
    dir_config *c = ap_get_module_config(r->per_dir_config, &gpcguard_module);
    return (c && c->enabled == 1) || apr_table_get(r->notes, NOTE_CHECKED) != NULL;
}

static void insert_headers_filter(request_rec *r)
{
    if (guarded(r)) {
        ap_add_output_filter(FILTER_NAME, NULL, r, r->connection);
    }
}

static const char *status_line(request_rec *r, int status)
{
    switch (status) {
    case 495: return "495 SSL Certificate Error";
    case 496: return "496 SSL Certificate Required";
    default: return ap_get_status_line(status);
    }
}

/* A refusal in full: status, headers, the OperationOutcome. DONE ends the request here. */
static int refuse(request_rec *r, int status, const char *body)
{
    r->status = status;
    r->status_line = status_line(r, status);
    set_response_headers(r);
    ap_set_content_type(r, "application/fhir+json");
    ap_set_content_length(r, strlen(body));
    if (!r->header_only) {
        ap_rputs(body, r);
    }
    return DONE;
}

/* The answer when the library could not be called at all: fail closed with a 500. */
static const char INTERNAL_OUTCOME[] =
    "{\"resourceType\":\"OperationOutcome\",\"meta\":{\"profile\":[\"https://fhir.nhs.uk/STU3/"
    "StructureDefinition/GPConnect-OperationOutcome-1\"]},\"issue\":[{\"severity\":\"error\","
    "\"code\":\"processing\",\"details\":{\"coding\":[{\"system\":\"https://fhir.nhs.uk/STU3/"
    "CodeSystem/Spine-ErrorOrWarningCode-1\",\"code\":\"INTERNAL_SERVER_ERROR\",\"display\":"
    "\"Unexpected internal server error\"}]},\"diagnostics\":\"gpcguard could not judge the "
    "request\"}]}";

/* ---------------------------------------------------------------- audit */

/* `s` as a JSON string, control and non-ASCII bytes escaped: one plain-ASCII line. */
static const char *json_string(apr_pool_t *p, const char *s)
{
    size_t n = strlen(s), i, o = 0;
    char *out = apr_palloc(p, n * 6 + 3);
    out[o++] = '"';
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        }
        else if (ch < 0x20 || ch >= 0x7f) {
            o += (size_t)apr_snprintf(out + o, 7, "\\u%04x", ch);
        }
        else {
            out[o++] = (char)ch;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

/* One line: when, from where, then the library's record (or, for a refused peer, the reason). */
static void write_audit(request_rec *r, dir_config *c, const gpcguard_verdict *v, int peer)
{
    char when[APR_RFC822_DATE_LEN];
    const char *record = gpcguard_verdict_audit_record(v), *line, *fields;
    apr_size_t len;

    if (c->audit == NULL || c->audit->file == NULL) {
        return;
    }
    apr_rfc822_date(when, r->request_time);
    if (peer || record[0] != '{') {
        fields = apr_psprintf(r->pool, "\"verdict\":\"refused\",\"reason\":\"%s\",\"status\":%u,"
                              "\"check\":\"client_certificate\",\"method\":%s}",
                              gpcguard_reason_name(gpcguard_verdict_reason(v)),
                              (unsigned)gpcguard_verdict_http_status(v), json_string(r->pool, r->method));
    }
    else {
        fields = record + 1;
    }
    line = apr_psprintf(r->pool, "{\"time\":\"%s\",\"client\":%s,\"server\":%s,%s\n", when,
                        json_string(r->pool, r->useragent_ip ? r->useragent_ip : "-"),
                        json_string(r->pool, r->server->server_hostname ? r->server->server_hostname : "-"),
                        fields);
    len = strlen(line);
    if (apr_file_write_full(c->audit->file, line, len, NULL) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "gpcguard: cannot write to %s", c->audit->path);
    }
}

static void log_verdict(request_rec *r, const gpcguard_verdict *v, const char *what)
{
    if (gpcguard_verdict_allowed(v)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "gpcguard: %s allowed: %s", what,
                      gpcguard_verdict_interaction_id(v));
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "gpcguard: %s refused %u %s %s: %s", what,
                      (unsigned)gpcguard_verdict_http_status(v),
                      gpcguard_reason_name(gpcguard_verdict_reason(v)),
                      gpcguard_verdict_error_code(v), gpcguard_verdict_message(v));
    }
}

/* ---------------------------------------------------------------- the checks */

typedef struct {
    gpcguard_header *items;
    int count;
} header_list;

static int collect_header(void *data, const char *key, const char *value)
{
    header_list *h = data;
    h->items[h->count].name = key;
    h->items[h->count].name_len = strlen(key);
    h->items[h->count].value = value;
    h->items[h->count].value_len = strlen(value);
    h->count++;
    return 1;
}

static apr_status_t free_verdict(void *v)
{
    gpcguard_verdict_free(v);
    return APR_SUCCESS;
}

/* The whole judgement of one request under configuration `c`: peer, then request. */
static int check(request_rec *r, dir_config *c)
{
    const gpcguard_guard *guard;
    gpcguard_verdict *v = NULL;
    gpcguard_result rc;
    gpcguard_request req;
    header_list headers;
    SSL *ssl;
    int status;

    apr_table_setn(r->notes, NOTE_CHECKED, "1");
    if (c->guard == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "gpcguard: GpcGuard On without GpcGuardConfig here");
        return refuse(r, HTTP_INTERNAL_SERVER_ERROR, INTERNAL_OUTCOME);
    }
    guard = c->guard->guard;

    ssl = connection_ssl(r->connection);
    if (ssl != NULL) {
        rc = gpcguard_check_peer_ssl(guard, ssl, &v);
    }
    else {
        /* No TLS on this connection: judged as a peer without a certificate (496). */
        rc = gpcguard_check_peer_pem(guard, (const uint8_t *)"", 0, 0, &v);
    }
    if (rc != GPCGUARD_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "gpcguard: peer check failed: %s (%s)",
                      last_error(r->pool), gpcguard_result_name(rc));
        return refuse(r, HTTP_INTERNAL_SERVER_ERROR, INTERNAL_OUTCOME);
    }
    apr_pool_cleanup_register(r->pool, v, free_verdict, apr_pool_cleanup_null);
    if (!gpcguard_verdict_allowed(v)) {
        log_verdict(r, v, "client certificate");
        write_audit(r, c, v, 1);
        status = gpcguard_verdict_http_status(v);
        return refuse(r, status, gpcguard_verdict_operation_outcome(v));
    }

    headers.count = 0;
    headers.items = apr_pcalloc(r->pool, sizeof(gpcguard_header) * (apr_table_elts(r->headers_in)->nelts + 1));
    apr_table_do(collect_header, &headers, r->headers_in, NULL);
    memset(&req, 0, sizeof req);
    req.method = r->method;
    req.method_len = strlen(r->method);
    req.target = r->unparsed_uri ? r->unparsed_uri : "";
    req.target_len = strlen(req.target);
    req.headers = headers.items;
    req.header_count = (size_t)headers.count;
    req.now = 0;

    v = NULL;
    rc = gpcguard_check_request(guard, &req, &v);
    if (rc != GPCGUARD_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "gpcguard: request check failed: %s (%s)",
                      last_error(r->pool), gpcguard_result_name(rc));
        return refuse(r, HTTP_INTERNAL_SERVER_ERROR, INTERNAL_OUTCOME);
    }
    apr_pool_cleanup_register(r->pool, v, free_verdict, apr_pool_cleanup_null);
    log_verdict(r, v, "request");
    write_audit(r, c, v, 0);
    if (!gpcguard_verdict_allowed(v)) {
        status = gpcguard_verdict_http_status(v);
        return refuse(r, status, gpcguard_verdict_operation_outcome(v));
    }
    apr_table_set(r->subprocess_env, "GPCGUARD_INTERACTION_ID", gpcguard_verdict_interaction_id(v));
    return DECLINED;
}

/* A vhost-wide guard: before URI translation, with the server-level configuration. */
static int post_read_request(request_rec *r)
{
    dir_config *c = server_level(r->server);
    if (r->main != NULL || r->prev != NULL || c->enabled != 1) {
        return DECLINED;
    }
    return check(r, c);
}

/* A guard switched on (or replaced) in <Location>/<Directory>: after the per-directory merge,
 * before access control and authentication. Internal redirects of a request already judged
 * are not judged again. */
static int header_parser(request_rec *r)
{
    dir_config *c = ap_get_module_config(r->per_dir_config, &gpcguard_module);
    dir_config *vhost = server_level(r->server);
    request_rec *first = r;

    if (c->enabled != 1) {
        return DECLINED;
    }
    while (first->prev) {
        first = first->prev;
    }
    if (apr_table_get(first->notes, NOTE_CHECKED) != NULL || apr_table_get(r->notes, NOTE_CHECKED) != NULL) {
        /* Already judged: by the vhost-wide guard, by this same guard, or before a redirect.
         * A different guard named here still judges the request. */
        if (first != r || vhost->enabled != 1 || vhost->guard == c->guard) {
            return DECLINED;
        }
    }
    return check(r, c);
}

/* ---------------------------------------------------------------- status */

#define STATUS_HANDLER "gpcguard-status"
#define COUNTERS_KEY "gpcguard-shared-counters"

/* One anonymous shared mapping for the verdict counters of every guard in every child, made
 * once per parent process and kept in the process pool, which outlives restarts (this module is
 * unloaded and loaded again on each, its statics with it): counts continue across
 * `apachectl graceful`. */
static void *shared_counters(server_rec *s)
{
    void *mem = NULL;
    apr_pool_t *keep = s->process->pool;

    apr_pool_userdata_get(&mem, COUNTERS_KEY, keep);
    if (mem == NULL) {
        mem = mmap(NULL, gpcguard_status_counters_size(), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
            return NULL;
        }
        apr_pool_userdata_set(mem, COUNTERS_KEY, apr_pool_cleanup_null, keep);
    }
    return mem;
}

static int share_counters(server_rec *s)
{
    apr_hash_index_t *hi;
    void *mem;

    if (guards_by_path == NULL || apr_hash_count(guards_by_path) == 0) {
        return OK;
    }
    mem = shared_counters(s);
    if (mem == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "gpcguard: cannot map the shared verdict counters");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (hi = apr_hash_first(NULL, guards_by_path); hi; hi = apr_hash_next(hi)) {
        guard_entry *entry = apr_hash_this_val(hi);
        gpcguard_result rc = gpcguard_guard_share_counters(entry->guard, mem, gpcguard_status_counters_size());
        if (rc != GPCGUARD_OK) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "gpcguard: sharing the verdict counters: %s (%s)",
                         last_error(s->process->pconf), gpcguard_result_name(rc));
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

static int status_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *base)
{
    return share_counters(base);
}

static int status_handler(request_rec *r)
{
    dir_config *c;
    gpcguard_status *st;
    gpcguard_result rc;

    if (r->handler == NULL || strcmp(r->handler, STATUS_HANDLER) != 0) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    c = ap_get_module_config(r->per_dir_config, &gpcguard_module);
    if (c->guard == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "gpcguard: SetHandler " STATUS_HANDLER
                      " without GpcGuardConfig in this context or above");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rc = gpcguard_guard_status(c->guard->guard, 0, &st);
    if (rc != GPCGUARD_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "gpcguard_guard_status: %s (%s)",
                      last_error(r->pool), gpcguard_result_name(rc));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_set_content_type(r, "text/plain; version=0.0.4");
    if (!r->header_only) {
        ap_rputs(gpcguard_status_prometheus(st), r);
    }
    gpcguard_status_free(st);
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    Dl_info info;

    /* mod_ssl's contexts hold callbacks into libgpcguard until they are freed, which may be
     * after this module is unloaded on a restart: keep the library mapped for good. */
    if (dladdr((void *)gpcguard_version, &info) && info.dli_fname) {
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    }

    APR_OPTIONAL_HOOK(ssl, init_server, ssl_init_server, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ssl, pre_handshake, ssl_pre_handshake, NULL, NULL, APR_HOOK_MIDDLE);
    {
        static const char *const after_ssl[] = {"mod_ssl.c", NULL};
        ap_hook_post_config(post_config, after_ssl, NULL, APR_HOOK_LAST);
    }
    {
        /* After mod_ssl (its SNI/Host consistency check) and mod_remoteip (the client address the
         * audit line records). Hooks before this one can only refuse, never allow. */
        static const char *const after[] = {"mod_ssl.c", "mod_remoteip.c", NULL};
        ap_hook_post_read_request(post_read_request, after, NULL, APR_HOOK_MIDDLE);
    }
    ap_hook_header_parser(header_parser, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_insert_filter(insert_headers_filter, NULL, NULL, APR_HOOK_LAST);
    ap_hook_insert_error_filter(insert_headers_filter, NULL, NULL, APR_HOOK_LAST);
    ap_register_output_filter(FILTER_NAME, headers_filter, NULL, AP_FTYPE_PROTOCOL - 1);
    ap_hook_post_config(status_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(gpcguard) = {
    STANDARD20_MODULE_STUFF,
    create_dir_config,
    merge_dir_config,
    NULL,
    NULL,
    gpcguard_commands,
    register_hooks,
    AP_MODULE_FLAG_NONE
};
