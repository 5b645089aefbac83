/*
 * ngx_http_gpcguard_module: the GP Connect API security model for an nginx provider, on
 * libgpcguard (include/gpcguard.h).
 *
 *   gpcguard on|off;                      http, server, location (default off)
 *   gpcguard_config /path/provider.toml;  http, server, location
 *   gpcguard_audit_log /path/audit.log|off;  http, server, location (default off)
 *   gpcguard_status;                      location: answers the guard's status (Prometheus text)
 *
 * What it does, and where:
 *  - configuration load (master, and `nginx -t`): one guard per distinct gpcguard_config file,
 *    built by the directive itself, so a bad file fails `nginx -t` with libgpcguard's message
 *    (which names the key and the file) and the nginx.conf line. Workers inherit the guards by
 *    fork. `nginx -s reload` parses the configuration again and so builds fresh guards (new
 *    CRLs); the old cycle's guards are freed with its pool.
 *  - postconfiguration: gpcguard_ssl_ctx_apply on the SSL_CTX of every server that enables the
 *    module, after ngx_http_ssl_module made it (see ngx_http_gpcguard_apply_tls).
 *  - access phase: the peer re-checked with gpcguard_check_peer_ssl, then the request with
 *    gpcguard_check_request (method, unparsed URI, headers). A refusal is answered here with the
 *    verdict's status, Content-Type application/fhir+json and the OperationOutcome.
 *  - header filter: gpcguard's response headers (Cache-Control: no-store, HSTS) on every response
 *    of an enabled location, nginx's own error pages and the module's refusals included.
 *
 * Fail closed: any call that cannot be made (gpcguard_result not OK) refuses the request with 500.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/ssl.h>

#include <gpcguard.h>


typedef struct {
    ngx_str_t                   path;      /* full path of the TOML file, NUL-terminated */
    gpcguard_guard             *guard;
} ngx_http_gpcguard_entry_t;


typedef struct {
    ngx_array_t                 guards;    /* of ngx_http_gpcguard_entry_t */
} ngx_http_gpcguard_main_conf_t;


typedef struct {
    /* The guard whose TLS policy this server's SSL_CTX gets: the server level's when the module
     * is on there, else the first enabled location's (filled while locations are merged). */
    gpcguard_guard             *tls_guard;
    ngx_str_t                   tls_guard_path;
} ngx_http_gpcguard_srv_conf_t;


typedef struct {
    ngx_flag_t                  enable;
    gpcguard_guard             *guard;         /* NGX_CONF_UNSET_PTR until merged */
    ngx_str_t                   config_path;
    ngx_open_file_t            *audit_log;     /* NULL: off */
    u_char                     *enable_file;   /* where `gpcguard on` was, for messages */
    ngx_uint_t                  enable_line;
} ngx_http_gpcguard_loc_conf_t;


static ngx_int_t ngx_http_gpcguard_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_gpcguard_header_filter(ngx_http_request_t *r);
static char *ngx_http_gpcguard_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_gpcguard_config(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_gpcguard_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static void *ngx_http_gpcguard_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_gpcguard_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_gpcguard_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_gpcguard_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static ngx_int_t ngx_http_gpcguard_init(ngx_conf_t *cf);
static char *ngx_http_gpcguard_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


static ngx_command_t  ngx_http_gpcguard_commands[] = {

    { ngx_string("gpcguard"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_gpcguard_enable,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gpcguard_config"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gpcguard_config,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gpcguard_audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_gpcguard_audit_log,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("gpcguard_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_gpcguard_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_gpcguard_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_gpcguard_init,                /* postconfiguration */

    ngx_http_gpcguard_create_main_conf,    /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_gpcguard_create_srv_conf,     /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_gpcguard_create_loc_conf,     /* create location configuration */
    ngx_http_gpcguard_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_gpcguard_module = {
    NGX_MODULE_V1,
    &ngx_http_gpcguard_module_ctx,         /* module context */
    ngx_http_gpcguard_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


/* ---- configuration ---------------------------------------------------------------------- */

/* libgpcguard's detail of the last failed call on this thread, in cf->pool. */
static u_char *
ngx_http_gpcguard_last_error(ngx_pool_t *pool)
{
    size_t   len;
    u_char  *buf;

    len = gpcguard_last_error(NULL, 0);
    buf = ngx_pnalloc(pool, len + 1);
    if (buf == NULL) {
        return (u_char *) "(out of memory)";
    }
    gpcguard_last_error((char *) buf, len + 1);
    return buf;
}


static void
ngx_http_gpcguard_free_guard(void *data)
{
    /* The SSL_CTXs this guard was applied to hold their own reference, so the order in which
     * the old cycle's pool cleanups run does not matter. */
    gpcguard_guard_free(data);
}


static char *
ngx_http_gpcguard_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gpcguard_loc_conf_t *lcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);  /* offset 0: lcf->enable */
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    lcf->enable_file = cf->conf_file->file.name.data;
    lcf->enable_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* Builds (or reuses) the guard of one configuration file. Done here, while the directive is
 * parsed, so that `nginx -t` reports a bad file at its gpcguard_config line. */
/* Called by the library on the worker that refused a handshake; the message names the
 * certificate and what failed, never anything from a request. */
static void
ngx_http_gpcguard_handshake_refused(void *userdata, gpcguard_reason reason, const char *message)
{
    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0, "gpcguard: TLS handshake refused (%s): %s",
                  gpcguard_reason_name(reason), message);
}


static char *
ngx_http_gpcguard_config(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gpcguard_loc_conf_t *lcf = conf;

    ngx_str_t                       *value, path;
    ngx_uint_t                       i;
    gpcguard_result                  rc;
    gpcguard_config                 *gcf;
    gpcguard_guard                  *guard;
    ngx_pool_cleanup_t              *cln;
    ngx_http_gpcguard_entry_t       *entry;
    ngx_http_gpcguard_main_conf_t   *mcf;

    if (lcf->guard != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (path.len == 0) {
        return "needs a file name";
    }

    /* Relative to the configuration prefix, as nginx takes ssl_certificate. */
    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gpcguard_module);
    entry = mcf->guards.elts;

    for (i = 0; i < mcf->guards.nelts; i++) {
        if (entry[i].path.len == path.len
            && ngx_strncmp(entry[i].path.data, path.data, path.len) == 0)
        {
            lcf->guard = entry[i].guard;
            lcf->config_path = entry[i].path;
            return NGX_CONF_OK;
        }
    }

    entry = ngx_array_push(&mcf->guards);
    if (entry == NULL) {
        return NGX_CONF_ERROR;
    }

    entry->path.len = path.len;
    entry->path.data = ngx_pnalloc(cf->pool, path.len + 1);
    if (entry->path.data == NULL) {
        return NGX_CONF_ERROR;
    }
    ngx_cpystrn(entry->path.data, path.data, path.len + 1);
    entry->guard = NULL;

    /* Registered before the guard exists so that no failure below can leak it. */
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    rc = gpcguard_config_from_file((const char *) entry->path.data, &gcf);
    if (rc != GPCGUARD_OK) {
        mcf->guards.nelts--;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "gpcguard_config \"%s\": %s (%s)",
                           entry->path.data, ngx_http_gpcguard_last_error(cf->pool),
                           gpcguard_result_name(rc));
        return NGX_CONF_ERROR;
    }

    rc = gpcguard_guard_new(gcf, &guard);
    gpcguard_config_free(gcf);

    if (rc != GPCGUARD_OK) {
        mcf->guards.nelts--;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "gpcguard_config \"%s\": %s (%s)",
                           entry->path.data, ngx_http_gpcguard_last_error(cf->pool),
                           gpcguard_result_name(rc));
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_gpcguard_free_guard;
    cln->data = guard;
    /* A refused client certificate ends the handshake with an alert only; this makes the error
     * log say which certificate and why. */
    gpcguard_guard_set_handshake_hook(guard, ngx_http_gpcguard_handshake_refused, NULL);

    entry->guard = guard;
    lcf->guard = guard;
    lcf->config_path = entry->path;

    return NGX_CONF_OK;
}


/* The audit file is opened through ngx_conf_open_file, like access_log: the master opens it
 * (O_APPEND) for each cycle, the workers inherit the descriptor, and `nginx -s reopen` (USR1)
 * reopens it for log rotation. */
static char *
ngx_http_gpcguard_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_gpcguard_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

    if (lcf->audit_log != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        lcf->audit_log = NULL;
        return NGX_CONF_OK;
    }

    if (value[1].len == 0) {
        return "needs a file name";
    }

    lcf->audit_log = ngx_conf_open_file(cf->cycle, &value[1]);
    if (lcf->audit_log == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_gpcguard_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_gpcguard_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gpcguard_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mcf->guards, cf->pool, 4, sizeof(ngx_http_gpcguard_entry_t))
        != NGX_OK)
    {
        return NULL;
    }

    return mcf;
}


static void *
ngx_http_gpcguard_create_srv_conf(ngx_conf_t *cf)
{
    /* zeroed: tls_guard = NULL */
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_gpcguard_srv_conf_t));
}


static void *
ngx_http_gpcguard_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_gpcguard_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_gpcguard_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    lcf->enable = NGX_CONF_UNSET;
    lcf->guard = NGX_CONF_UNSET_PTR;
    lcf->audit_log = NGX_CONF_UNSET_PTR;

    return lcf;
}


static char *
ngx_http_gpcguard_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_gpcguard_loc_conf_t *prev = parent;
    ngx_http_gpcguard_loc_conf_t *conf = child;

    ngx_http_gpcguard_srv_conf_t  *scf;

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable = prev->enable == NGX_CONF_UNSET ? 0 : prev->enable;
        conf->enable_file = prev->enable_file;
        conf->enable_line = prev->enable_line;
    }

    if (conf->guard == NGX_CONF_UNSET_PTR) {
        conf->guard = prev->guard;
        conf->config_path = prev->config_path;
    }
    if (conf->guard == NGX_CONF_UNSET_PTR) {
        conf->guard = NULL;
    }

    ngx_conf_merge_ptr_value(conf->audit_log, prev->audit_log, NULL);

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (conf->guard == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"gpcguard on\" in %s:%ui has no \"gpcguard_config\" "
                      "at its level or above", conf->enable_file, conf->enable_line);
        return NGX_CONF_ERROR;
    }

    /* ngx_http_merge_servers() points cf->ctx's srv_conf at the server being merged while it
     * merges that server's own loc_conf and then its locations, the server's first. */
    scf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_gpcguard_module);
    if (scf->tls_guard == NULL) {
        scf->tls_guard = conf->guard;
        scf->tls_guard_path = conf->config_path;
    }

    return NGX_CONF_OK;
}


/* ---- TLS ---------------------------------------------------------------------------------- */

/*
 * Puts the GP Connect TLS policy on the SSL_CTX of every server where the module is on.
 *
 * Why here: ngx_http_ssl_module creates each server's SSL_CTX in its merge_srv_conf, and
 * ngx_http_block() runs every module's postconfiguration only after all servers of all modules
 * are merged. So the contexts exist, carry nginx's settings (certificate, ssl_protocols,
 * ssl_ciphers, ssl_verify_client, ssl_session_cache...), and nothing of nginx touches them again
 * before the workers use them. gpcguard_ssl_ctx_apply therefore has the last word: protocol
 * (TLS 1.2 only), ciphers (server order), renegotiation and compression off, the mandatory
 * client certificate judged by the guard, and the stateful session cache off.
 *
 * ssl_session_cache: nginx's shared cache works through SSL_CTX session callbacks. OpenSSL
 * still asks a get-session callback when the cache mode is off, so gpcguard_ssl_ctx_apply removes
 * the callbacks as well: a gpcguard server never resumes a session by ID (so never without
 * verification), whatever ssl_session_cache says. nginx's info callback is kept: the one
 * gpcguard installs calls it. Session tickets stay honoured only while their certificate still
 * passes verification (gpcguard's ticket callback).
 *
 * SNI: OpenSSL fixes the protocol range and cipher list from the context the connection started
 * with, i.e. the default server of the address:port; nginx's servername callback only swaps the
 * certificate, verify mode and options. It also decrypts a session ticket with the first
 * context, before the switch. Hence the checks that every ssl address:port serving a guarded
 * server has a guarded default server, and that all guarded servers there share one guard (one
 * gpcguard_config): then every context a connection meets judges its session by the same guard
 * and state (libgpcguard still re-judges a resumption on the final context, and the access phase
 * re-checks the peer; docs/SECURITY.md, "Several TLS contexts").
 */
static ngx_int_t
ngx_http_gpcguard_apply_tls(ngx_conf_t *cf)
{
#if !(NGX_HTTP_SSL)
    ngx_http_core_srv_conf_t      **cscfp;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_gpcguard_srv_conf_t   *scf;
    ngx_uint_t                      s;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscfp = cmcf->servers.elts;
    for (s = 0; s < cmcf->servers.nelts; s++) {
        scf = cscfp[s]->ctx->srv_conf[ngx_http_gpcguard_module.ctx_index];
        if (scf->tls_guard != NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "gpcguard needs nginx built with ngx_http_ssl_module");
            return NGX_ERROR;
        }
    }
    return NGX_OK;
#else
    ngx_uint_t                      s, p, a, i, guarded;
    SSL_CTX                        *ctx;
    gpcguard_result                 rc;
    ngx_http_conf_port_t           *port;
    ngx_http_conf_addr_t           *addr;
    ngx_http_ssl_srv_conf_t        *sscf;
    ngx_http_core_srv_conf_t      **cscfp, **server, *first;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_gpcguard_srv_conf_t   *scf, *fscf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscfp = cmcf->servers.elts;

    for (s = 0; s < cmcf->servers.nelts; s++) {
        scf = cscfp[s]->ctx->srv_conf[ngx_http_gpcguard_module.ctx_index];
        if (scf->tls_guard == NULL) {
            continue;
        }

        sscf = cscfp[s]->ctx->srv_conf[ngx_http_ssl_module.ctx_index];
        ctx = sscf->ssl.ctx;

        if (ctx == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "gpcguard is on in the server at %s:%ui, which has no TLS "
                          "(\"ssl_certificate\" and \"listen ... ssl\" are needed)",
                          cscfp[s]->file_name, cscfp[s]->line);
            return NGX_ERROR;
        }

        rc = gpcguard_ssl_ctx_apply(scf->tls_guard, ctx);
        if (rc != GPCGUARD_OK) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "gpcguard_ssl_ctx_apply for the server at %s:%ui (\"%V\"): %s (%s)",
                          cscfp[s]->file_name, cscfp[s]->line, &scf->tls_guard_path,
                          ngx_http_gpcguard_last_error(cf->pool), gpcguard_result_name(rc));
            return NGX_ERROR;
        }

    }

    if (cmcf->ports == NULL) {
        return NGX_OK;
    }

    port = cmcf->ports->elts;
    for (p = 0; p < cmcf->ports->nelts; p++) {
        addr = port[p].addrs.elts;
        for (a = 0; a < port[p].addrs.nelts; a++) {
            server = addr[a].servers.elts;
            guarded = 0;
            for (i = 0; i < addr[a].servers.nelts; i++) {
                scf = server[i]->ctx->srv_conf[ngx_http_gpcguard_module.ctx_index];
                if (scf->tls_guard != NULL) {
                    guarded = 1;
                    break;
                }
            }
            if (!guarded) {
                continue;
            }

            if (!addr[a].opt.ssl) {
                ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                              "gpcguard: %V is not an ssl listener: every request to a "
                              "gpcguard location through it is refused with 496",
                              &addr[a].opt.addr_text);
                continue;
            }

            first = NULL;
            for (i = 0; i < addr[a].servers.nelts; i++) {
                scf = server[i]->ctx->srv_conf[ngx_http_gpcguard_module.ctx_index];
                if (scf->tls_guard == NULL) {
                    continue;
                }
                if (first == NULL) {
                    first = server[i];
                    continue;
                }
                fscf = first->ctx->srv_conf[ngx_http_gpcguard_module.ctx_index];
                if (scf->tls_guard != fscf->tls_guard) {
                    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                                  "gpcguard: the servers at %s:%ui (\"%V\") and %s:%ui (\"%V\") "
                                  "share %V with different gpcguard_config files; a TLS "
                                  "session is resumed by the server a connection starts on, "
                                  "before SNI picks the other, so servers with different "
                                  "guards need different addresses",
                                  first->file_name, first->line, &fscf->tls_guard_path,
                                  server[i]->file_name, server[i]->line,
                                  &scf->tls_guard_path, &addr[a].opt.addr_text);
                    return NGX_ERROR;
                }
            }

            scf = addr[a].default_server->ctx->srv_conf[ngx_http_gpcguard_module.ctx_index];
            if (scf->tls_guard == NULL) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "gpcguard: the default server of %V (%s:%ui) does not use "
                              "gpcguard, but TLS connections to %V start with its protocol "
                              "and cipher settings; make a gpcguard server the "
                              "default_server there or give it its own address",
                              &addr[a].opt.addr_text, addr[a].default_server->file_name,
                              addr[a].default_server->line, &addr[a].opt.addr_text);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
#endif
}


static ngx_int_t
ngx_http_gpcguard_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_gpcguard_access_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_gpcguard_header_filter;

    return ngx_http_gpcguard_apply_tls(cf);
}


/* ---- requests ----------------------------------------------------------------------------- */

/*
 * Marks a request as allowed by a guard. The mark is a pool cleanup, not a module ctx, because
 * nginx clears module ctxs on an internal redirect (try_files, error_page, named locations) but
 * keeps the request pool: an allowed request is not judged (and audited) twice when it is
 * redirected to another location with the same guard, and still gets the response headers if
 * it ends in a location where the module is off.
 */
static void
ngx_http_gpcguard_mark_cleanup(void *data)
{
}


static gpcguard_guard *
ngx_http_gpcguard_allowed_by(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->main->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_gpcguard_mark_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


static ngx_int_t
ngx_http_gpcguard_mark_allowed(ngx_http_request_t *r, gpcguard_guard *guard)
{
    ngx_pool_cleanup_t  *cln;

    for (cln = r->main->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_gpcguard_mark_cleanup) {
            cln->data = guard;
            return NGX_OK;
        }
    }

    cln = ngx_pool_cleanup_add(r->main->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }
    cln->handler = ngx_http_gpcguard_mark_cleanup;
    cln->data = guard;

    return NGX_OK;
}


static void
ngx_http_gpcguard_audit(ngx_http_request_t *r, ngx_http_gpcguard_loc_conf_t *lcf,
    const gpcguard_verdict *v)
{
    size_t       len;
    u_char      *line;
    const char  *record;

    if (lcf->audit_log == NULL || lcf->audit_log->fd == NGX_INVALID_FILE) {
        return;
    }

    record = gpcguard_verdict_audit_record(v);
    len = ngx_strlen(record);
    if (len == 0) {
        return;     /* peer verdicts have no record */
    }

    line = ngx_pnalloc(r->pool, len + 1);
    if (line == NULL) {
        return;
    }
    ngx_memcpy(line, record, len);
    line[len] = '\n';

    /* One write of one line on an O_APPEND descriptor: lines of concurrent workers do not
     * interleave. */
    if (ngx_write_fd(lcf->audit_log->fd, line, len + 1) != (ssize_t) (len + 1)) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                      "gpcguard: writing the audit record to \"%V\" failed",
                      &lcf->audit_log->name);
    }
}


/* Answers a refusal: the verdict's status, application/fhir+json, the OperationOutcome. The
 * header filter adds Cache-Control and HSTS like on any other response. */
static ngx_int_t
ngx_http_gpcguard_refuse(ngx_http_request_t *r, const gpcguard_verdict *v)
{
    size_t        len;
    ngx_buf_t    *b;
    ngx_int_t     rc;
    ngx_uint_t    status;
    ngx_chain_t   out;
    const char   *body;

    status = gpcguard_verdict_http_status(v);
    body = gpcguard_verdict_operation_outcome(v);

    if (body == NULL || status < 400 || status > 599) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    len = ngx_strlen(body);

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/fhir+json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    /* nginx's HTTP/1 status table has no reason phrase for these. */
    switch (status) {
    case 422:
        ngx_str_set(&r->headers_out.status_line, "422 Unprocessable Entity");
        break;
    case 495:
        ngx_str_set(&r->headers_out.status_line, "495 SSL Certificate Error");
        break;
    case 496:
        ngx_str_set(&r->headers_out.status_line, "496 SSL Certificate Required");
        break;
    default:
        break;
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }
    b->last = ngx_cpymem(b->pos, body, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The error log gets what gpcguard decided and why (the verdict's message names what was checked
 * and what failed, never the token or a query-string value). nginx's own request context would
 * append the whole request line, query string included, so these lines are written through a
 * copy of the connection's log without that handler, with the client and the path alone.
 */
static void
ngx_http_gpcguard_log_verdict(ngx_http_request_t *r, const char *what,
    const gpcguard_verdict *v)
{
    u_char      *q;
    ngx_log_t    log;
    ngx_str_t    path;
    ngx_uint_t   level, status;

    status = gpcguard_verdict_http_status(v);

    if (gpcguard_verdict_allowed(v)) {
        level = NGX_LOG_INFO;
    } else {
        level = status >= 500 ? NGX_LOG_ERR : NGX_LOG_WARN;
    }

    if (r->connection->log->log_level < level) {
        return;
    }

    log = *r->connection->log;
    log.handler = NULL;
    log.data = NULL;

    path = r->unparsed_uri;
    q = ngx_strlchr(path.data, path.data + path.len, '?');
    if (q) {
        path.len = q - path.data;
    }

    if (gpcguard_verdict_allowed(v)) {
        ngx_log_error(level, &log, 0,
                      "gpcguard allowed %s, client: %V, path: \"%V\"",
                      gpcguard_verdict_interaction_id(v), &r->connection->addr_text, &path);
        return;
    }

    ngx_log_error(level, &log, 0,
                  "gpcguard refused the %s: %ui %s %s: %s, client: %V, path: \"%V\"", what,
                  status, gpcguard_verdict_error_code(v),
                  gpcguard_reason_name(gpcguard_verdict_reason(v)),
                  gpcguard_verdict_message(v), &r->connection->addr_text, &path);
}


static ngx_int_t
ngx_http_gpcguard_fail(ngx_http_request_t *r, const char *call, gpcguard_result rc)
{
    u_char     *detail;
    ngx_log_t   log;

    /* Without nginx's request context, as in ngx_http_gpcguard_log_verdict. */
    log = *r->connection->log;
    log.handler = NULL;
    log.data = NULL;

    detail = ngx_http_gpcguard_last_error(r->pool);
    ngx_log_error(NGX_LOG_ERR, &log, 0, "gpcguard: %s failed: %s (%s), client: %V",
                  call, detail, gpcguard_result_name(rc), &r->connection->addr_text);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


/* The request as gpcguard_check_request takes it: method, the target exactly as received
 * (r->unparsed_uri: path and query, not normalised, so that gpcguard sees `..`, `%2F` and the
 * like), and every header line in order (repeats included, so that a repeated SSP header is
 * caught). */
static ngx_int_t
ngx_http_gpcguard_build_request(ngx_http_request_t *r, gpcguard_request *req)
{
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    gpcguard_header  *hs;

    n = 0;
    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    hs = ngx_palloc(r->pool, (n ? n : 1) * sizeof(gpcguard_header));
    if (hs == NULL) {
        return NGX_ERROR;
    }

    n = 0;
    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            hs[n].name = (const char *) h[i].key.data;
            hs[n].name_len = h[i].key.len;
            hs[n].value = (const char *) h[i].value.data;
            hs[n].value_len = h[i].value.len;
            n++;
        }
    }

    req->method = (const char *) r->method_name.data;
    req->method_len = r->method_name.len;
    req->target = (const char *) r->unparsed_uri.data;
    req->target_len = r->unparsed_uri.len;
    req->headers = hs;
    req->header_count = n;
    req->now = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gpcguard_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    gpcguard_result                grc;
    gpcguard_request               req;
    gpcguard_verdict              *v;
    ngx_http_gpcguard_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_gpcguard_module);

    if (!lcf->enable) {
        return NGX_DECLINED;
    }

    if (ngx_http_gpcguard_allowed_by(r) == lcf->guard) {
        return NGX_DECLINED;    /* internally redirected after this guard allowed it */
    }

    /* The peer, again: the handshake verified it with the server's guard, but a resumed session
     * (ticket) or a request on a connection older than the last reload may carry a certificate
     * the current state refuses, and a location may use another guard than its server. */
#if (NGX_HTTP_SSL)
    if (r->connection->ssl && r->connection->ssl->connection) {
        grc = gpcguard_check_peer_ssl(lcf->guard, r->connection->ssl->connection, &v);
        if (grc != GPCGUARD_OK) {
            return ngx_http_gpcguard_fail(r, "gpcguard_check_peer_ssl", grc);
        }
    } else
#endif
    {
        /* No TLS on this connection at all: gpcguard's "no certificate" verdict (496). */
        grc = gpcguard_check_peer_pem(lcf->guard, (const uint8_t *) "", 0, 0, &v);
        if (grc != GPCGUARD_OK) {
            return ngx_http_gpcguard_fail(r, "gpcguard_check_peer_pem", grc);
        }
    }

    if (!gpcguard_verdict_allowed(v)) {
        ngx_http_gpcguard_log_verdict(r, "client certificate", v);
        goto refuse;
    }
    gpcguard_verdict_free(v);

    if (ngx_http_gpcguard_build_request(r, &req) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    grc = gpcguard_check_request(lcf->guard, &req, &v);
    if (grc != GPCGUARD_OK) {
        return ngx_http_gpcguard_fail(r, "gpcguard_check_request", grc);
    }

    ngx_http_gpcguard_audit(r, lcf, v);

    if (!gpcguard_verdict_allowed(v)) {
        ngx_http_gpcguard_log_verdict(r, "request", v);
        goto refuse;
    }

    ngx_http_gpcguard_log_verdict(r, "request", v);
    gpcguard_verdict_free(v);

    if (ngx_http_gpcguard_mark_allowed(r, lcf->guard) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* NGX_OK, not NGX_DECLINED: with "satisfy all" the next access handlers still run. */
    return NGX_OK;

refuse:

    rc = ngx_http_gpcguard_refuse(r, v);
    gpcguard_verdict_free(v);

    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        return rc;
    }

    /* The response is sent (or being sent): finish the request here and stop the phases, so
     * that no other access module ("satisfy any") can turn the refusal into an allow. */
    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}


/* ---- response headers --------------------------------------------------------------------- */

/* Sets one header, replacing any of the same name already set (e.g. a backend's Cache-Control
 * through proxy_pass, or expires'): GP Connect wants exactly no-store. */
static ngx_int_t
ngx_http_gpcguard_set_header(ngx_http_request_t *r, const char *name, const char *value)
{
    size_t            name_len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    name_len = ngx_strlen(name);

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash != 0 && h[i].key.len == name_len
                && ngx_strncasecmp(h[i].key.data, (u_char *) name, name_len) == 0)
            {
                h[i].hash = 0;   /* not sent */
            }
        }
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.len = name_len;
    h->key.data = (u_char *) name;            /* static strings of libgpcguard */
    h->value.len = ngx_strlen(value);
    h->value.data = (u_char *) value;
    h->lowcase_key = NULL;

    return NGX_OK;
}


static ngx_int_t
ngx_http_gpcguard_header_filter(ngx_http_request_t *r)
{
    size_t                         i, n;
    const char                    *name, *value;
    ngx_http_gpcguard_loc_conf_t  *lcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);   /* a subrequest's headers are not sent */
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_gpcguard_module);

    if (!lcf->enable && ngx_http_gpcguard_allowed_by(r) == NULL) {
        return ngx_http_next_header_filter(r);
    }

    n = gpcguard_response_header_count();
    for (i = 0; i < n; i++) {
        name = gpcguard_response_header_name(i);
        value = gpcguard_response_header_value(i);
        if (name == NULL || value == NULL) {
            continue;
        }
        if (ngx_http_gpcguard_set_header(r, name, value) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


/* ---- status ------------------------------------------------------------------------------- */

/*
 * gpcguard_status: the location answers GET with the status of its guard (the one its
 * gpcguard_config names, at its level or above) in the Prometheus text format, rendered by
 * libgpcguard. Put it on a server only monitoring can reach, without `gpcguard on`.
 *
 * The verdict counters live in a shared zone ("gpcguard_status"), so every worker counts into
 * one block and the page shows them all; nginx keeps a zone of the same name and size across
 * `nginx -s reload`, and the new cycle's guards continue its counts.
 */
static ngx_int_t
ngx_http_gpcguard_status_zone_init(ngx_shm_zone_t *zone, void *data)
{
    char                            why[256];
    size_t                          size;
    void                           *counters;
    ngx_uint_t                      i;
    ngx_slab_pool_t                *sp;
    gpcguard_result                 rc;
    ngx_http_gpcguard_entry_t      *entry;
    ngx_http_gpcguard_main_conf_t  *mcf = zone->data;

    size = gpcguard_status_counters_size();
    sp = (ngx_slab_pool_t *) zone->shm.addr;

    if (data) {
        counters = data;                     /* the previous cycle's: counts continue */
    } else if (zone->shm.exists) {
        counters = sp->data;
    } else {
        counters = ngx_slab_calloc(sp, size);
        if (counters == NULL) {
            return NGX_ERROR;
        }
        sp->data = counters;
    }
    zone->data = counters;

    entry = mcf->guards.elts;
    for (i = 0; i < mcf->guards.nelts; i++) {
        rc = gpcguard_guard_share_counters(entry[i].guard, counters, size);
        if (rc != GPCGUARD_OK) {
            gpcguard_last_error(why, sizeof why);
            ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0, "gpcguard_status: %s (%s)", why,
                          gpcguard_result_name(rc));
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_gpcguard_status_handler(ngx_http_request_t *r)
{
    size_t                         len;
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_chain_t                    out;
    const char                    *text;
    gpcguard_status               *st;
    gpcguard_result                grc;
    ngx_http_gpcguard_loc_conf_t  *lcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_gpcguard_module);
    if (lcf->guard == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "gpcguard_status: no gpcguard_config at this location or above");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    grc = gpcguard_guard_status(lcf->guard, 0, &st);
    if (grc != GPCGUARD_OK) {
        return ngx_http_gpcguard_fail(r, "gpcguard_guard_status", grc);
    }

    text = gpcguard_status_prometheus(st);
    len = ngx_strlen(text);
    b = ngx_create_temp_buf(r->pool, len ? len : 1);
    if (b == NULL) {
        gpcguard_status_free(st);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    b->last = ngx_cpymem(b->last, text, len);
    gpcguard_status_free(st);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "text/plain; version=0.0.4");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;
    return ngx_http_output_filter(r, &out);
}


static char *
ngx_http_gpcguard_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                       name = ngx_string("gpcguard_status");
    ngx_shm_zone_t                 *zone;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_gpcguard_main_conf_t  *mcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    if (clcf->handler == ngx_http_gpcguard_status_handler) {
        return "is duplicate";
    }
    clcf->handler = ngx_http_gpcguard_status_handler;

    /* One zone for the http block, whichever status location asks first: a slab pool (8 pages,
     * nginx's minimum) holding one counter block. */
    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_gpcguard_module);
    zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize + gpcguard_status_counters_size(),
                                 &ngx_http_gpcguard_module);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }
    zone->init = ngx_http_gpcguard_status_zone_init;
    zone->data = mcf;

    return NGX_CONF_OK;
}
