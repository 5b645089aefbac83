/* gpcguard_check_request through the C ABI only (include/gpcguard.h), with jansson to read what
 * the library writes: for each case, the verdict's reason, HTTP status, Spine code and
 * interaction; for refusals the GP Connect OperationOutcome, field by field; for every verdict the
 * audit record (one JSON line, the provenance fields, never the token, the raw Authorization
 * header or a query-string value). The tokens are built here from the provider test pack's
 * baseline claims, with a base64url encoder of our own, each case changing one thing.
 * Usage: request_checks PKI_DIR (made by c-tests/make-pki.sh). Prints each failure, then
 * "N passed, N failed"; exits 1 on any failure. */
#define _GNU_SOURCE /* vasprintf, strndup */
#include "check.h"
#include <jansson.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static void die(const char *what) {
    fprintf(stderr, "request_checks: %s\n", what);
    exit(2);
}

static char *xstrdup(const char *s) {
    char *d = strdup(s);
    if (!d)
        die("out of memory");
    return d;
}

static char *xprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        die("out of memory");
    va_end(ap);
    return out;
}

/* ------------------------------------------------------------------------------------------- */
/* Tokens: the test pack's baseline claims (JwtFactory defaults), changed one member at a time. */

#define G "/A1/STU3/1/gpconnect"
#define URN "urn:nhs:names:services:gpconnect:"
#define PROVIDER_ASID "918999198993"
#define CONSUMER_ASID "200000000359"
#define TRACE_ID "5b1e7a4c-9f2d-4c1b-8e3a-2d6f0c9b7a15"
#define IAT 1503995582LL
#define NOW (IAT + 10)
#define JWT_HEADER "{\"alg\":\"none\",\"typ\":\"JWT\"}"

static const char *const BASELINE_CLAIMS =
    "{\"iss\":\"http://gpconnect-uat.answerappcloud.com/\",\"sub\":\"1\","
    "\"aud\":\"https://authorize.fhir.nhs.net/token\",\"exp\":1503995882,\"iat\":1503995582,"
    "\"reason_for_request\":\"directcare\",\"requested_scope\":\"patient/*.read\","
    "\"requesting_device\":{\"resourceType\":\"Device\","
    "\"identifier\":[{\"system\":\"GPConnectTestSystem\",\"value\":\"Client\"}],\"model\":\"v1\",\"version\":\"1.1\"},"
    "\"requesting_organization\":{\"resourceType\":\"Organization\","
    "\"identifier\":[{\"system\":\"https://fhir.nhs.uk/Id/ods-organization-code\",\"value\":\"GPCA0001\"}],"
    "\"name\":\"GP Connect Assurance\"},"
    "\"requesting_practitioner\":{\"resourceType\":\"Practitioner\",\"id\":\"1\",\"identifier\":["
    "{\"system\":\"https://fhir.nhs.uk/Id/sds-user-id\",\"value\":\"GCASDS0001\"},"
    "{\"system\":\"https://fhir.nhs.uk/Id/sds-role-profile-id\",\"value\":\"112233445566\"},"
    "{\"system\":\"https://consumersupplier.com/Id/user-guid\",\"value\":\"98ed4f78-814d-4266-8d5b-cde742f3093c\"}],"
    "\"name\":[{\"family\":\"AssurancePractitioner\",\"given\":[\"AssuranceTest\"],\"prefix\":[\"Dr.\"]}]}}";

/* RFC 4648 section 5, without padding. */
static char *b64url(const unsigned char *data, size_t len) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *out = malloc(len / 3 * 4 + 5);
    if (!out)
        die("out of memory");
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        size_t n = len - i < 3 ? len - i : 3;
        uint32_t v = (uint32_t)data[i] << 16;
        if (n > 1)
            v |= (uint32_t)data[i + 1] << 8;
        if (n > 2)
            v |= data[i + 2];
        for (size_t k = 0; k < n + 1; k++)
            out[o++] = alphabet[(v >> (18 - 6 * k)) & 63];
    }
    out[o] = '\0';
    return out;
}

static char *b64url_str(const char *s) {
    return b64url((const unsigned char *)s, strlen(s));
}

static json_t *baseline_claims(void) {
    json_error_t err;
    json_t *claims = json_loads(BASELINE_CLAIMS, 0, &err);
    if (!claims)
        die(err.text);
    return claims;
}

/* `claims` with the member at `path` (dot-separated, array indexes as numbers) replaced by `value`
 * (a new reference, stolen), or removed when `value` is NULL. */
static json_t *with(json_t *claims, const char *path, json_t *value) {
    char *copy = xstrdup(path);
    json_t *at = claims;
    char *part = copy;
    for (char *dot; (dot = strchr(part, '.')) != NULL; part = dot + 1) {
        *dot = '\0';
        at = json_is_array(at) ? json_array_get(at, strtoul(part, NULL, 10)) : json_object_get(at, part);
        if (!at)
            die("with: no such path");
    }
    int r;
    if (json_is_array(at))
        r = value ? json_array_set_new(at, strtoul(part, NULL, 10), value) : json_array_remove(at, strtoul(part, NULL, 10));
    else
        r = value ? json_object_set_new(at, part, value) : json_object_del(at, part);
    if (r != 0)
        die("with: cannot change the claims");
    free(copy);
    return claims;
}

/* header.payload.signature from raw JSON texts (a NULL signature is the empty one). */
static char *token_raw(const char *header_json, const char *payload_json, const char *signature) {
    char *h = b64url_str(header_json), *p = b64url_str(payload_json);
    char *t = xprintf("%s.%s.%s", h, p, signature ? signature : "");
    free(h);
    free(p);
    return t;
}

static char *token_of(const json_t *claims) {
    char *payload = json_dumps(claims, JSON_COMPACT);
    if (!payload)
        die("json_dumps");
    char *t = token_raw(JWT_HEADER, payload, NULL);
    free(payload);
    return t;
}

/* ------------------------------------------------------------------------------------------- */
/* Requests: a valid one per interaction, then one change at a time. */

#define MAX_HEADERS 160

struct req {
    char *method, *target;
    int n;
    char *names[MAX_HEADERS], *values[MAX_HEADERS];
    json_t *claims; /* what the Authorization token carries */
    int64_t now;
};

static void req_free(struct req *r) {
    free(r->method);
    free(r->target);
    for (int i = 0; i < r->n; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    json_decref(r->claims);
    free(r);
}

/* Appends a header. */
static struct req *req_add(struct req *r, const char *name, const char *value) {
    if (r->n == MAX_HEADERS)
        die("too many headers");
    r->names[r->n] = xstrdup(name);
    r->values[r->n] = xstrdup(value);
    r->n++;
    return r;
}

/* Replaces every header named `name` (any case) by one `value` where the first was, or removes
 * them all when `value` is NULL. */
static struct req *req_header(struct req *r, const char *name, const char *value) {
    int at = -1, kept = 0;
    for (int i = 0; i < r->n; i++) {
        if (strcasecmp(r->names[i], name) == 0) {
            if (at < 0)
                at = kept;
            free(r->names[i]);
            free(r->values[i]);
            continue;
        }
        r->names[kept] = r->names[i];
        r->values[kept] = r->values[i];
        kept++;
    }
    r->n = kept;
    if (!value)
        return r;
    if (at < 0)
        return req_add(r, name, value);
    memmove(&r->names[at + 1], &r->names[at], (size_t)(r->n - at) * sizeof r->names[0]);
    memmove(&r->values[at + 1], &r->values[at], (size_t)(r->n - at) * sizeof r->values[0]);
    r->names[at] = xstrdup(name);
    r->values[at] = xstrdup(value);
    r->n++;
    return r;
}

static struct req *req_bearer(struct req *r, const char *token) {
    char *auth = xprintf("Bearer %s", token);
    req_header(r, "Authorization", auth);
    free(auth);
    return r;
}

/* The token re-made from the request's claims with one member changed (NULL `value`: removed). */
static struct req *req_claim(struct req *r, const char *path, json_t *value) {
    with(r->claims, path, value);
    char *t = token_of(r->claims);
    req_bearer(r, t);
    free(t);
    return r;
}

static struct req *req_renames(struct req *r, const char *from, const char *to) {
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->names[i], from) == 0) {
            free(r->names[i]);
            r->names[i] = xstrdup(to);
        }
    return r;
}

static struct req *req_target(struct req *r, const char *target) {
    free(r->target);
    r->target = xstrdup(target);
    return r;
}

/* A valid request: `method` `G path`, interaction URN `tail`, the token with `scope`. */
static struct req *req_of(const char *method, const char *path, const char *tail, const char *scope) {
    struct req *r = calloc(1, sizeof *r);
    if (!r)
        die("out of memory");
    r->method = xstrdup(method);
    r->target = xprintf(G "%s", path);
    r->claims = with(baseline_claims(), "requested_scope", json_string(scope));
    char *id = xprintf(URN "%s", tail);
    char *token = token_of(r->claims);
    char *auth = xprintf("Bearer %s", token);
    req_add(r, "Ssp-TraceID", TRACE_ID);
    req_add(r, "Ssp-From", CONSUMER_ASID);
    req_add(r, "Ssp-To", PROVIDER_ASID);
    req_add(r, "Ssp-InteractionID", id);
    req_add(r, "Authorization", auth);
    req_add(r, "Accept", "application/fhir+json");
    free(id);
    free(token);
    free(auth);
    r->now = NOW;
    return r;
}

#define READ_PATIENT "fhir:rest:read:patient-1"
#define SEARCH_PATIENT "fhir:rest:search:patient-1"
#define STRUCTURED "fhir:operation:gpc.getstructuredrecord-1"
#define DOCUMENTS "documents:fhir:rest:search:documentreference-1"
#define NHS_NUMBER "9000000009"

static struct req *read_patient(void) { return req_of("GET", "/Patient/2", READ_PATIENT, "patient/*.read"); }
static struct req *search_patient(void) {
    return req_of("GET", "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|" NHS_NUMBER, SEARCH_PATIENT, "patient/*.read");
}
static struct req *structured(void) {
    return req_of("POST", "/structured/Patient/$gpc.getstructuredrecord", STRUCTURED, "patient/*.read");
}
static struct req *documents(void) {
    return req_of("GET", "/documents/Patient/2/DocumentReference?_include=DocumentReference:subject:Patient", DOCUMENTS, "patient/*.read");
}

/* ------------------------------------------------------------------------------------------- */
/* Running a request and judging everything the verdict says. */

static gpcguard_guard *guard;

static const char *header_value(const struct req *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}

/* What must never appear in a verdict: the whole Authorization value, each part of its token,
 * and each query-string value (all longer than a few characters, so a match is no coincidence). */
static int secrets_of(const struct req *r, char **out, int max) {
    int n = 0;
    const char *auth = header_value(r, "Authorization");
    if (auth && strlen(auth) > 8 && n < max)
        out[n++] = xstrdup(auth);
    const char *space = auth ? strchr(auth, ' ') : NULL;
    if (space) {
        char *token = xstrdup(space + 1), *save = NULL;
        for (char *part = strtok_r(token, ".", &save); part; part = strtok_r(NULL, ".", &save))
            if (strlen(part) > 8 && n < max)
                out[n++] = xstrdup(part);
        free(token);
    }
    const char *q = strchr(r->target, '?');
    if (q) {
        char *query = xstrdup(q + 1), *save = NULL;
        char *hash = strchr(query, '#');
        if (hash)
            *hash = '\0';
        for (char *param = strtok_r(query, "&", &save); param; param = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(param, '=');
            if (eq && strlen(eq + 1) > 4 && n < max)
                out[n++] = xstrdup(eq + 1);
        }
        free(query);
    }
    return n;
}

static const char *str_at(json_t *obj, const char *key) {
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "(absent)";
}

static int display_ok(const char *code, const char *display) {
    if (strcmp(code, "BAD_REQUEST") == 0)
        return strcmp(display, "Bad request") == 0;
    if (strcmp(code, "INVALID_RESOURCE") == 0)
        return strcmp(display, "Invalid validation of resource") == 0;
    return 0;
}

/* The GP Connect OperationOutcome of a refusal (spec 5.1), field by field. */
static void check_operation_outcome(int line, const char *label, const gpcguard_verdict *v, const char *want_code) {
    const char *body = gpcguard_verdict_operation_outcome(v);
    check_at(__FILE__, line, body != NULL, "%s: refusal without an OperationOutcome", label);
    if (!body)
        return;
    json_error_t err;
    json_t *oo = json_loads(body, 0, &err);
    check_at(__FILE__, line, oo != NULL, "%s: OperationOutcome is not JSON (%s): %s", label, err.text, body);
    if (!oo)
        return;
    check_at(__FILE__, line, strcmp(str_at(oo, "resourceType"), "OperationOutcome") == 0, "%s: resourceType %s", label, str_at(oo, "resourceType"));
    json_t *profile = json_object_get(json_object_get(oo, "meta"), "profile");
    const char *p0 = json_string_value(json_array_get(profile, 0));
    check_at(__FILE__, line, p0 && strcmp(p0, "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-OperationOutcome-1") == 0,
             "%s: meta.profile[0] = %s", label, p0 ? p0 : "(absent)");
    json_t *issues = json_object_get(oo, "issue");
    check_at(__FILE__, line, json_is_array(issues) && json_array_size(issues) == 1, "%s: %zu issues, want 1", label, json_array_size(issues));
    json_t *issue = json_array_get(issues, 0);
    check_at(__FILE__, line, strcmp(str_at(issue, "severity"), "error") == 0, "%s: severity %s", label, str_at(issue, "severity"));
    check_at(__FILE__, line, strcmp(str_at(issue, "code"), "invalid") == 0, "%s: issue code %s, want invalid", label, str_at(issue, "code"));
    json_t *codings = json_object_get(json_object_get(issue, "details"), "coding");
    check_at(__FILE__, line, json_is_array(codings) && json_array_size(codings) == 1, "%s: %zu codings, want 1", label, json_array_size(codings));
    json_t *coding = json_array_get(codings, 0);
    check_at(__FILE__, line, strcmp(str_at(coding, "system"), "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1") == 0,
             "%s: coding system %s", label, str_at(coding, "system"));
    check_at(__FILE__, line, strcmp(str_at(coding, "code"), want_code) == 0, "%s: coding code %s, want %s", label, str_at(coding, "code"), want_code);
    check_at(__FILE__, line, display_ok(want_code, str_at(coding, "display")), "%s: display \"%s\" for %s", label, str_at(coding, "display"), want_code);
    const char *diagnostics = str_at(issue, "diagnostics");
    check_at(__FILE__, line, strcmp(diagnostics, gpcguard_verdict_message(v)) == 0, "%s: diagnostics \"%s\" is not the message \"%s\"", label,
             diagnostics, gpcguard_verdict_message(v));
    json_decref(oo);
}

/* The audit record: one JSON line whose verdict, reason and status are the verdict's, whose path is
 * the target without its query. Returned parsed (the caller frees it), or NULL. */
static json_t *check_audit_record(int line, const char *label, const struct req *r, const gpcguard_verdict *v) {
    const char *text = gpcguard_verdict_audit_record(v);
    check_at(__FILE__, line, text && !strchr(text, '\n') && !strchr(text, '\r'), "%s: audit record is not one line: %s", label, text ? text : "NULL");
    json_error_t err;
    json_t *record = text ? json_loads(text, 0, &err) : NULL; /* 0: nothing may follow the object */
    check_at(__FILE__, line, json_is_object(record), "%s: audit record is not one JSON object (%s): %s", label, record ? "" : err.text, text ? text : "NULL");
    if (!json_is_object(record)) {
        json_decref(record);
        return NULL;
    }
    int allowed = gpcguard_verdict_allowed(v);
    check_at(__FILE__, line, strcmp(str_at(record, "verdict"), allowed ? "allowed" : "refused") == 0, "%s: audit verdict %s", label, str_at(record, "verdict"));
    const char *reason = gpcguard_reason_name(gpcguard_verdict_reason(v));
    check_at(__FILE__, line, strcmp(str_at(record, "reason"), reason) == 0, "%s: audit reason %s, want %s", label, str_at(record, "reason"), reason);
    json_t *status = json_object_get(record, "status");
    check_at(__FILE__, line, json_is_integer(status) && json_integer_value(status) == gpcguard_verdict_http_status(v), "%s: audit status", label);
    size_t path_len = strcspn(r->target, "?#");
    if (path_len < 256) {
        char *path = strndup(r->target, path_len);
        check_at(__FILE__, line, strcmp(str_at(record, "path"), path) == 0, "%s: audit path %s, want %s", label, str_at(record, "path"), path);
        free(path);
    }
    return record;
}

static void check_no_leak(int line, const char *label, const struct req *r, const gpcguard_verdict *v) {
    char *secrets[16];
    int n = secrets_of(r, secrets, 16);
    const char *oo = gpcguard_verdict_operation_outcome(v);
    const char *texts[3] = {gpcguard_verdict_audit_record(v), gpcguard_verdict_message(v), oo ? oo : ""};
    const char *names[3] = {"audit record", "message", "OperationOutcome"};
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < 3; t++)
            check_at(__FILE__, line, strstr(texts[t], secrets[i]) == NULL, "%s: the %s holds \"%.40s\"", label, names[t], secrets[i]);
        free(secrets[i]);
    }
}

static gpcguard_verdict *run(const struct req *r) {
    gpcguard_header headers[MAX_HEADERS];
    for (int i = 0; i < r->n; i++)
        headers[i] = (gpcguard_header){r->names[i], strlen(r->names[i]), r->values[i], strlen(r->values[i])};
    gpcguard_request q = {r->method, strlen(r->method), r->target, strlen(r->target), headers, (size_t)r->n, r->now};
    gpcguard_verdict *v = SENTINEL;
    gpcguard_result res = gpcguard_check_request(guard, &q, &v);
    CHECK(res == GPCGUARD_OK, "check_request: %s (%s)", gpcguard_result_name(res), error_detail());
    return res == GPCGUARD_OK ? v : NULL;
}

/* Runs `r` (and frees it), expecting `want`; for refusals after the interaction matched,
 * `interaction` is the ID the verdict must name ("" when none may be named). `needle`, when
 * given, must be in the message. Returns the parsed audit record (caller frees) or NULL. */
static json_t *expect_at(int line, const char *label, struct req *r, gpcguard_reason want, const char *interaction, const char *needle) {
    gpcguard_verdict *v = run(r);
    json_t *record = NULL;
    if (!v) {
        check_at(__FILE__, line, 0, "%s: no verdict", label);
        req_free(r);
        return NULL;
    }
    gpcguard_reason got = gpcguard_verdict_reason(v);
    check_at(__FILE__, line, got == want, "%s: reason %s, want %s (%s)", label, gpcguard_reason_name(got), gpcguard_reason_name(want), gpcguard_verdict_message(v));
    int allowed = want == GPCGUARD_REASON_ALLOWED;
    uint16_t status = allowed ? 200 : want == GPCGUARD_REASON_JWT_INVALID_RESOURCE ? 422 : 400;
    const char *code = allowed ? "" : want == GPCGUARD_REASON_JWT_INVALID_RESOURCE ? "INVALID_RESOURCE" : "BAD_REQUEST";
    check_at(__FILE__, line, gpcguard_verdict_allowed(v) == allowed, "%s: allowed is %d", label, gpcguard_verdict_allowed(v));
    check_at(__FILE__, line, gpcguard_verdict_http_status(v) == status, "%s: status %u, want %u", label, gpcguard_verdict_http_status(v), status);
    check_at(__FILE__, line, strcmp(gpcguard_verdict_error_code(v), code) == 0, "%s: Spine code \"%s\", want \"%s\"", label, gpcguard_verdict_error_code(v), code);
    check_at(__FILE__, line, strcmp(gpcguard_verdict_interaction_id(v), interaction) == 0, "%s: interaction \"%s\", want \"%s\"", label,
             gpcguard_verdict_interaction_id(v), interaction);
    if (needle)
        check_at(__FILE__, line, strstr(gpcguard_verdict_message(v), needle) != NULL, "%s: message \"%s\" does not name `%s`", label, gpcguard_verdict_message(v), needle);
    if (allowed)
        check_at(__FILE__, line, gpcguard_verdict_operation_outcome(v) == NULL, "%s: allowed with an OperationOutcome", label);
    else
        check_operation_outcome(line, label, v, code);
    record = check_audit_record(line, label, r, v);
    check_no_leak(line, label, r, v);
    gpcguard_verdict_free(v);
    req_free(r);
    return record;
}

#define EXPECT(label, r, want, interaction, needle) json_decref(expect_at(__LINE__, (label), (r), (want), (interaction), (needle)))
#define ALLOWED(label, r, interaction) EXPECT(label, r, GPCGUARD_REASON_ALLOWED, interaction, NULL)

/* ------------------------------------------------------------------------------------------- */

static void field_is(int line, const char *label, json_t *record, const char *key, const char *want) {
    if (!want)
        check_at(__FILE__, line, json_object_get(record, key) == NULL, "%s: audit record has %s = %s before it was established", label, key, str_at(record, key));
    else
        check_at(__FILE__, line, strcmp(str_at(record, key), want) == 0, "%s: audit %s = %s, want %s", label, key, str_at(record, key), want);
}
#define FIELD(label, record, key, want) field_is(__LINE__, (label), (record), (key), (want))

/* One valid request per capability, each with its whole provenance in the audit record. */
static void test_valid_requests(void) {
    struct {
        const char *label;
        struct req *(*make)(void);
        const char *tail, *method, *path;
    } cases[] = {
        {"foundations read patient", read_patient, READ_PATIENT, "GET", G "/Patient/2"},
        {"foundations search patient", search_patient, SEARCH_PATIENT, "GET", G "/Patient"},
        {"structured getstructuredrecord", structured, STRUCTURED, "POST", G "/structured/Patient/$gpc.getstructuredrecord"},
        {"documents DocumentReference search", documents, DOCUMENTS, "GET", G "/documents/Patient/2/DocumentReference"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *label = cases[i].label;
        char *id = xprintf(URN "%s", cases[i].tail);
        json_t *rec = expect_at(__LINE__, label, cases[i].make(), GPCGUARD_REASON_ALLOWED, id, NULL);
        if (rec) {
            FIELD(label, rec, "trace_id", TRACE_ID);
            FIELD(label, rec, "from", CONSUMER_ASID);
            FIELD(label, rec, "to", PROVIDER_ASID);
            FIELD(label, rec, "interaction", id);
            FIELD(label, rec, "method", cases[i].method);
            FIELD(label, rec, "path", cases[i].path);
            FIELD(label, rec, "ods_code", "GPCA0001");
            FIELD(label, rec, "sds_user_id", "GCASDS0001");
            FIELD(label, rec, "sds_role_id", "112233445566");
            FIELD(label, rec, "device", "Client");
            FIELD(label, rec, "scope", "patient/*.read");
            FIELD(label, rec, "reason_for_request", "directcare");
        }
        json_decref(rec);
        free(id);
    }
    /* Nothing of the query string reaches the record, not even its parameter names. */
    struct req *search = search_patient();
    gpcguard_verdict *v = run(search);
    if (v) {
        const char *rec = gpcguard_verdict_audit_record(v);
        CHECK(!strstr(rec, NHS_NUMBER) && !strstr(rec, "identifier") && !strchr(rec, '?'), "search audit record holds the query: %s", rec);
        gpcguard_verdict_free(v);
    }
    req_free(search);

    /* The same with the capabilities' other request shapes: metadata on each service root. */
    ALLOWED("foundations metadata", req_of("GET", "/metadata", "fhir:rest:read:metadata-1", "organization/*.read"), URN "fhir:rest:read:metadata-1");
    ALLOWED("structured metadata", req_of("GET", "/structured/metadata", "structured:fhir:rest:read:metadata-1", "organization/*.read"),
            URN "structured:fhir:rest:read:metadata-1");

    /* Header names in any case, values with surrounding SP/HTAB, a scheme in capitals. */
    struct req *r = read_patient();
    req_renames(r, "Ssp-TraceID", "ssp-traceid");
    req_renames(r, "Ssp-From", "SSP-FROM");
    req_renames(r, "Ssp-To", "sSP-tO");
    req_renames(r, "Ssp-InteractionID", "SSP-INTERACTIONID");
    req_renames(r, "Authorization", "aUTHORIZATION");
    ALLOWED("header names in odd case", r, URN READ_PATIENT);
    ALLOWED("Ssp-To with SP/HTAB around it", req_header(read_patient(), "Ssp-To", " \t" PROVIDER_ASID "\t "), URN READ_PATIENT);
    r = read_patient();
    char *auth = xstrdup(header_value(r, "Authorization"));
    memcpy(auth, "BEARER", 6);
    ALLOWED("scheme BEARER", req_header(r, "Authorization", auth), URN READ_PATIENT);
    free(auth);
    ALLOWED("someone else's odd header", req_add(read_patient(), "X-Other", "\x01\xff"), URN READ_PATIENT);
}

static void test_ssp_headers(void) {
    const char *ssp[] = {"Ssp-TraceID", "Ssp-From", "Ssp-To", "Ssp-InteractionID"};
    struct req *(*makers[])(void) = {read_patient, structured, documents};
    for (size_t m = 0; m < 3; m++)
        for (size_t i = 0; i < 4; i++) {
            char *label = xprintf("capability %zu without %s", m, ssp[i]);
            json_t *rec = expect_at(__LINE__, label, req_header(makers[m](), ssp[i], NULL), GPCGUARD_REASON_HEADER_MISSING, "", ssp[i]);
            if (rec)
                FIELD(label, rec, "ods_code", NULL);
            json_decref(rec);
            free(label);
        }
    for (size_t i = 0; i < 4; i++) {
        struct req *r = read_patient();
        char *value = xstrdup(header_value(r, ssp[i]));
        char *label = xprintf("%s twice", ssp[i]);
        EXPECT(label, req_add(r, ssp[i], value), GPCGUARD_REASON_HEADER_INVALID, "", NULL);
        free(label);
        free(value);
        label = xprintf("%s empty", ssp[i]);
        EXPECT(label, req_header(read_patient(), ssp[i], ""), GPCGUARD_REASON_HEADER_INVALID, "", NULL);
        free(label);
    }
    EXPECT("Ssp-From twice, the second in lower case", req_add(read_patient(), "ssp-from", CONSUMER_ASID), GPCGUARD_REASON_HEADER_INVALID, "", NULL);
    struct req *r = read_patient();
    char *auth = xstrdup(header_value(r, "Authorization"));
    /* Authorization is read after the interaction matched (API.md's order), so the verdict names it. */
    EXPECT("Authorization twice", req_add(r, "authorization", auth), GPCGUARD_REASON_HEADER_INVALID, URN READ_PATIENT, "Authorization");
    free(auth);
    EXPECT("Ssp-TraceID not a UUID", req_header(read_patient(), "Ssp-TraceID", "not-a-uuid"), GPCGUARD_REASON_HEADER_INVALID, "", "Ssp-TraceID");
    EXPECT("Ssp-From with CR LF", req_header(read_patient(), "Ssp-From", "2000\r\n00359"), GPCGUARD_REASON_HEADER_INVALID, "", NULL);

    json_t *rec = expect_at(__LINE__, "wrong Ssp-To", req_header(read_patient(), "Ssp-To", "123456789123"), GPCGUARD_REASON_WRONG_RECIPIENT, "", PROVIDER_ASID);
    if (rec) {
        FIELD("wrong Ssp-To", rec, "to", "123456789123");
        FIELD("wrong Ssp-To", rec, "from", CONSUMER_ASID);
        FIELD("wrong Ssp-To", rec, "ods_code", NULL);
        FIELD("wrong Ssp-To", rec, "scope", NULL);
    }
    json_decref(rec);
}

static void test_interactions_and_paths(void) {
    const char *unknown = URN "fhir:rest:read:nothing-1";
    json_t *rec = expect_at(__LINE__, "unknown interaction", req_header(read_patient(), "Ssp-InteractionID", unknown),
                            GPCGUARD_REASON_INTERACTION_UNKNOWN, "", NULL);
    if (rec)
        FIELD("unknown interaction", rec, "interaction", unknown);
    json_decref(rec);
    EXPECT("read:patient-2", req_header(read_patient(), "Ssp-InteractionID", URN "fhir:rest:read:patient-2"), GPCGUARD_REASON_INTERACTION_UNKNOWN, "", NULL);
    EXPECT("search interaction on a read", req_header(read_patient(), "Ssp-InteractionID", URN SEARCH_PATIENT), GPCGUARD_REASON_INTERACTION_MISMATCH, "", NULL);
    EXPECT("structured interaction under the foundations root",
           req_target(structured(), G "/Patient/$gpc.getstructuredrecord"), GPCGUARD_REASON_INTERACTION_MISMATCH, "", NULL);
    struct req *r = structured();
    free(r->method);
    r->method = xstrdup("GET");
    EXPECT("getstructuredrecord with GET", r, GPCGUARD_REASON_INTERACTION_MISMATCH, "", NULL);
    const char *paths[] = {
        "/Patient/..", "/Patient/.", "/Patient/%2e%2e", "/Patient%2F2", "/Patient/2%2F..%2F3", "/Patient/../Patient/2",
        "/Patient//2", "/Patient/2/", "/Patient/2#x", "/x/../Patient/2",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char *target = xprintf(G "%s", paths[i]);
        char *label = xprintf("path %s", paths[i]);
        EXPECT(label, req_target(read_patient(), target), GPCGUARD_REASON_INTERACTION_MISMATCH, "", NULL);
        free(label);
        free(target);
    }
    EXPECT("documents search with %2F in the id", req_target(documents(), G "/documents/Patient/2%2F3/DocumentReference"),
           GPCGUARD_REASON_INTERACTION_MISMATCH, "", NULL);
}

static void test_authorization(void) {
    const char *id = URN READ_PATIENT;
    EXPECT("no Authorization", req_header(read_patient(), "Authorization", NULL), GPCGUARD_REASON_AUTHORIZATION_MISSING, id, "Authorization");
    EXPECT("empty Authorization", req_header(read_patient(), "Authorization", ""), GPCGUARD_REASON_AUTHORIZATION_MISSING, id, NULL);
    EXPECT("Basic credentials", req_header(read_patient(), "Authorization", "Basic dXNlcjpwYXNzd29yZA=="), GPCGUARD_REASON_JWT_MALFORMED, id, NULL);
    EXPECT("Bearer without a token", req_header(read_patient(), "Authorization", "Bearer"), GPCGUARD_REASON_JWT_MALFORMED, id, NULL);
    EXPECT("token without a scheme", req_header(read_patient(), "Authorization", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."),
           GPCGUARD_REASON_JWT_MALFORMED, id, NULL);

    json_t *baseline = baseline_claims();
    char *payload = json_dumps(baseline, JSON_COMPACT);
    json_decref(baseline);
    char *tokens[][2] = {
        {"signed token (HS256 with a signature)", token_raw("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg")},
        {"alg none with a signature", token_raw(JWT_HEADER, payload, "c2lnbmF0dXJl")},
        {"third dot", NULL},
        {"no trailing dot", NULL},
        {"padding in the payload", NULL},
        {"a byte outside base64url", NULL},
        {"impossible base64 length", NULL},
        {"payload of raw JSON", NULL},
    };
    char *good = token_raw(JWT_HEADER, payload, NULL); /* header.payload. */
    size_t len = strlen(good);
    tokens[2][1] = xprintf("%s.", good);
    tokens[3][1] = strndup(good, len - 1);
    char *dot = strchr(good, '.');
    tokens[4][1] = xprintf("%.*s==.", (int)(len - 1), good);
    tokens[5][1] = xstrdup(good);
    tokens[5][1][(dot - good) + 10] = '*';
    /* A payload of 4k+1 characters is no base64 at all. */
    size_t payload_len = len - 1 - (size_t)(dot - good) - 1;
    tokens[6][1] = xprintf("%.*s.", (int)((size_t)(dot - good) + 1 + (payload_len - 1) / 4 * 4 + 1), good);
    tokens[7][1] = xprintf("%.*s.%s.", (int)(dot - good), good, payload);
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        EXPECT(tokens[i][0], req_bearer(read_patient(), tokens[i][1]), GPCGUARD_REASON_JWT_MALFORMED, id, NULL);
        free(tokens[i][1]);
    }
    free(good);
    free(payload);

    char big[9100];
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'A', sizeof big - 8);
    big[sizeof big - 1] = '\0';
    EXPECT("9 KB Authorization", req_header(read_patient(), "Authorization", big), GPCGUARD_REASON_REQUEST_TOO_LARGE, "", "max_authorization_bytes");
    /* Size is judged first: a missing SSP header does not hide it. */
    EXPECT("9 KB Authorization without Ssp-To", req_header(req_header(read_patient(), "Authorization", big), "Ssp-To", NULL),
           GPCGUARD_REASON_REQUEST_TOO_LARGE, "", NULL);
}

static void test_claims(void) {
    const char *id = URN READ_PATIENT;
    const char *claims[] = {"iss", "sub", "aud", "exp", "iat", "reason_for_request", "requested_scope",
                            "requesting_device", "requesting_organization", "requesting_practitioner"};
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        char *label = xprintf("claim %s missing", claims[i]);
        EXPECT(label, req_claim(read_patient(), claims[i], NULL), GPCGUARD_REASON_JWT_CLAIM_MISSING, id, claims[i]);
        free(label);
    }
    EXPECT("exp - iat = 301", req_claim(read_patient(), "exp", json_integer(IAT + 301)), GPCGUARD_REASON_JWT_CLAIM_INVALID, id, NULL);
    EXPECT("exp - iat = 299", req_claim(read_patient(), "exp", json_integer(IAT + 299)), GPCGUARD_REASON_JWT_CLAIM_INVALID, id, NULL);
    EXPECT("exp as a string", req_claim(read_patient(), "exp", json_string("1503995882")), GPCGUARD_REASON_JWT_CLAIM_INVALID, id, NULL);
    EXPECT("empty aud", req_claim(read_patient(), "aud", json_string("")), GPCGUARD_REASON_JWT_CLAIM_INVALID, id, NULL);

    struct req *r = read_patient();
    r->now = IAT + 301;
    EXPECT("expired (now = iat + 301)", r, GPCGUARD_REASON_JWT_EXPIRED, id, NULL);
    r = read_patient();
    r->now = IAT + 300;
    ALLOWED("last second of the token (now = exp)", r, id);
    /* now = 0 is the system clock: the 2017 baseline has long expired, a fresh token has not. */
    r = read_patient();
    r->now = 0;
    EXPECT("baseline token at the system clock", r, GPCGUARD_REASON_JWT_EXPIRED, id, NULL);
    r = read_patient();
    r->now = 0;
    int64_t t = (int64_t)time(NULL);
    with(r->claims, "iat", json_integer(t));
    ALLOWED("fresh token at the system clock", req_claim(r, "exp", json_integer(t + 300)), id);

    json_t *rec = expect_at(__LINE__, "unknown Device element", req_claim(read_patient(), "requesting_device.notAnElement", json_string("x")),
                            GPCGUARD_REASON_JWT_INVALID_RESOURCE, id, NULL);
    if (rec)
        FIELD("unknown Device element", rec, "trace_id", TRACE_ID);
    json_decref(rec);
    EXPECT("Device claim of resourceType Organization", req_claim(read_patient(), "requesting_device.resourceType", json_string("Organization")),
           GPCGUARD_REASON_JWT_INVALID_RESOURCE, id, NULL);
    EXPECT("Practitioner claim of resourceType Patient", req_claim(read_patient(), "requesting_practitioner.resourceType", json_string("Patient")),
           GPCGUARD_REASON_JWT_INVALID_RESOURCE, id, NULL);

    rec = expect_at(__LINE__, "write scope on a read", req_claim(read_patient(), "requested_scope", json_string("patient/*.write")),
                    GPCGUARD_REASON_SCOPE_DENIED, id, NULL);
    if (rec) {
        /* By the scope check every claim has been read: the record carries them. */
        FIELD("write scope on a read", rec, "ods_code", "GPCA0001");
        FIELD("write scope on a read", rec, "sds_user_id", "GCASDS0001");
        FIELD("write scope on a read", rec, "device", "Client");
        FIELD("write scope on a read", rec, "scope", "patient/*.write");
    }
    json_decref(rec);
    EXPECT("organization scope on getstructuredrecord", req_claim(structured(), "requested_scope", json_string("organization/*.read")),
           GPCGUARD_REASON_SCOPE_DENIED, URN STRUCTURED, NULL);
    EXPECT("write scope on DocumentReference search", req_claim(documents(), "requested_scope", json_string("patient/*.write")),
           GPCGUARD_REASON_SCOPE_DENIED, URN DOCUMENTS, NULL);
    EXPECT("scope outside the grammar", req_claim(read_patient(), "requested_scope", json_string("badScope")), GPCGUARD_REASON_JWT_CLAIM_INVALID, id, NULL);

    /* Member names equal ignoring ASCII case are refused as duplicates are, at any depth: a
     * binder that ignores case could read the other one. */
    const char *twins[] = {"Requested_Scope", "REQUESTED_SCOPE", "requesting_practitioner.name.0.Family"};
    for (size_t i = 0; i < sizeof twins / sizeof twins[0]; i++) {
        char *label = xprintf("case twin %s", twins[i]);
        EXPECT(label, req_claim(read_patient(), twins[i], json_string("patient/*.write")), GPCGUARD_REASON_JWT_MALFORMED, id,
               "the JWT payload has two members whose names differ only in case");
        free(label);
    }
}

static void test_sizes(void) {
    struct req *r = read_patient();
    while (r->n < 100) {
        char name[16];
        snprintf(name, sizeof name, "X-%d", r->n);
        req_add(r, name, "1");
    }
    ALLOWED("100 headers (the limit)", r, URN READ_PATIENT);
    r = read_patient();
    while (r->n < 101) {
        char name[16];
        snprintf(name, sizeof name, "X-%d", r->n);
        req_add(r, name, "1");
    }
    EXPECT("101 headers", r, GPCGUARD_REASON_REQUEST_TOO_LARGE, "", "max_header_count");
    char *target = malloc(9001);
    memset(target, 'a', 9000);
    target[9000] = '\0';
    memcpy(target, G "/Patient/2?q=", strlen(G "/Patient/2?q="));
    EXPECT("9000-byte target", req_target(read_patient(), target), GPCGUARD_REASON_REQUEST_TOO_LARGE, "", "max_target_bytes");
    free(target);
}

/* NULL pointers with length 0 are empty values; with a non-zero length they are caller bugs. */
static void test_null_and_lengths(void) {
    struct req *base = read_patient();
    gpcguard_header headers[MAX_HEADERS + 1];
    for (int i = 0; i < base->n; i++)
        headers[i] = (gpcguard_header){base->names[i], strlen(base->names[i]), base->values[i], strlen(base->values[i])};
    size_t n = (size_t)base->n;
    gpcguard_request ok = {"GET", 3, base->target, strlen(base->target), headers, n, NOW};
    gpcguard_verdict *v = NULL;
    CHECK(gpcguard_check_request(guard, &ok, &v) == GPCGUARD_OK && gpcguard_verdict_allowed(v), "baseline through a hand-made request");
    gpcguard_verdict_free(v);

    struct {
        const char *label;
        gpcguard_request req;
        gpcguard_reason want;
    } empties[] = {
        {"method NULL, 0", {NULL, 0, ok.target, ok.target_len, headers, n, NOW}, GPCGUARD_REASON_INTERACTION_MISMATCH},
        {"target NULL, 0", {"GET", 3, NULL, 0, headers, n, NOW}, GPCGUARD_REASON_INTERACTION_MISMATCH},
        {"headers NULL, 0", {"GET", 3, ok.target, ok.target_len, NULL, 0, NOW}, GPCGUARD_REASON_HEADER_MISSING},
        {"method counted short", {"GETX", 3, ok.target, ok.target_len, headers, n, NOW}, GPCGUARD_REASON_ALLOWED},
    };
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        v = SENTINEL;
        gpcguard_result r = gpcguard_check_request(guard, &empties[i].req, &v);
        CHECK(r == GPCGUARD_OK && v && v != SENTINEL, "%s: %s (%s)", empties[i].label, gpcguard_result_name(r), error_detail());
        if (r != GPCGUARD_OK)
            continue;
        CHECK(gpcguard_verdict_reason(v) == empties[i].want, "%s: reason %s, want %s", empties[i].label,
              gpcguard_reason_name(gpcguard_verdict_reason(v)), gpcguard_reason_name(empties[i].want));
        gpcguard_verdict_free(v);
    }

    /* The Authorization value NULL with length 0: present but empty. */
    for (size_t i = 0; i < n; i++)
        if (strcmp(headers[i].name, "Authorization") == 0)
            headers[i].value = NULL, headers[i].value_len = 0;
    v = NULL;
    CHECK(gpcguard_check_request(guard, &ok, &v) == GPCGUARD_OK && gpcguard_verdict_reason(v) == GPCGUARD_REASON_AUTHORIZATION_MISSING,
          "Authorization value NULL, 0: %s", gpcguard_reason_name(gpcguard_verdict_reason(v)));
    gpcguard_verdict_free(v);
    for (size_t i = 0; i < n; i++)
        headers[i] = (gpcguard_header){base->names[i], strlen(base->names[i]), base->values[i], strlen(base->values[i])};
    /* An extra header with a NULL, 0 name and value is no SSP header and no Authorization. */
    headers[n] = (gpcguard_header){NULL, 0, NULL, 0};
    gpcguard_request extra = ok;
    extra.header_count = n + 1;
    v = NULL;
    CHECK(gpcguard_check_request(guard, &extra, &v) == GPCGUARD_OK && gpcguard_verdict_allowed(v), "extra header NULL, 0 / NULL, 0: %s",
          gpcguard_reason_name(gpcguard_verdict_reason(v)));
    gpcguard_verdict_free(v);

    struct {
        const char *label;
        gpcguard_request req;
        int header_to_break; /* -1: none; else which header gets a NULL name (even) or value (odd) */
    } bad[] = {
        {"method NULL, 3", {NULL, 3, ok.target, ok.target_len, headers, n, NOW}, -1},
        {"target NULL, 12", {"GET", 3, NULL, 12, headers, n, NOW}, -1},
        {"headers NULL, 6", {"GET", 3, ok.target, ok.target_len, NULL, 6, NOW}, -1},
        {"header name NULL, 11", {"GET", 3, ok.target, ok.target_len, headers, n, NOW}, 0},
        {"header value NULL, 5", {"GET", 3, ok.target, ok.target_len, headers, n, NOW}, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gpcguard_header saved = headers[2];
        if (bad[i].header_to_break == 0)
            headers[2].name = NULL;
        if (bad[i].header_to_break == 1)
            headers[2].value = NULL;
        v = SENTINEL;
        gpcguard_result r = gpcguard_check_request(guard, &bad[i].req, &v);
        CHECK(r == GPCGUARD_NULL_PARAMETER, "%s: %s, want GPCGUARD_NULL_PARAMETER", bad[i].label, gpcguard_result_name(r));
        CHECK(v == NULL, "%s: *out is not NULL", bad[i].label);
        CHECK(error_detail()[0] != '\0', "%s: no last-error detail", bad[i].label);
        headers[2] = saved;
    }
    v = SENTINEL;
    CHECK(gpcguard_check_request(NULL, &ok, &v) == GPCGUARD_NULL_PARAMETER && v == NULL, "check_request(NULL guard)");
    v = SENTINEL;
    CHECK(gpcguard_check_request(guard, NULL, &v) == GPCGUARD_NULL_PARAMETER && v == NULL, "check_request(NULL req)");
    CHECK(gpcguard_check_request(guard, &ok, NULL) == GPCGUARD_NULL_PARAMETER, "check_request(NULL out)");
    req_free(base);
}

static void test_static_accessors(void) {
    size_t count = gpcguard_response_header_count();
    CHECK(count == 2, "response_header_count = %zu, want 2", count);
    int cache = 0, hsts = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name = gpcguard_response_header_name(i), *value = gpcguard_response_header_value(i);
        CHECK(name && value, "response header %zu is NULL", i);
        if (!name || !value)
            continue;
        if (strcmp(name, "Cache-Control") == 0)
            cache = strcmp(value, "no-store") == 0;
        if (strcmp(name, "Strict-Transport-Security") == 0)
            hsts = strncmp(value, "max-age=", 8) == 0 && atol(value + 8) >= 31536000;
    }
    CHECK(cache, "no Cache-Control: no-store among the response headers");
    CHECK(hsts, "no Strict-Transport-Security: max-age of a year or more among the response headers");
    CHECK(gpcguard_response_header_name(count) == NULL && gpcguard_response_header_value(count) == NULL, "response header %zu is not NULL", count);
    CHECK(gpcguard_response_header_name(SIZE_MAX) == NULL && gpcguard_response_header_value(SIZE_MAX) == NULL, "response header SIZE_MAX is not NULL");
    CHECK(strcmp(gpcguard_reason_name(GPCGUARD_REASON_JWT_EXPIRED), "JWT_EXPIRED") == 0, "reason_name(JWT_EXPIRED)");
    CHECK(strcmp(gpcguard_reason_name((gpcguard_reason)9999), "UNKNOWN") == 0, "reason_name(9999)");
    /* Accessors on NULL fail closed. */
    CHECK(gpcguard_verdict_operation_outcome(NULL) == NULL, "operation_outcome(NULL)");
    CHECK(strcmp(gpcguard_verdict_interaction_id(NULL), "") == 0, "interaction_id(NULL)");
    CHECK(strcmp(gpcguard_verdict_audit_record(NULL), "") == 0, "audit_record(NULL)");
    CHECK(strcmp(gpcguard_verdict_error_code(NULL), "INTERNAL_SERVER_ERROR") == 0, "error_code(NULL)");
    /* No input reaches GPCGUARD_REASON_INTERNAL (only an allocation failure inside OpenSSL's
     * verification or a broken built-in table does), so its answer is pinned here: a host that
     * lost its verdict answers it as an internal failure, 500, never as allowed. */
    CHECK(gpcguard_verdict_reason(NULL) == GPCGUARD_REASON_INTERNAL, "reason(NULL) = %d, want INTERNAL", (int)gpcguard_verdict_reason(NULL));
    CHECK(gpcguard_verdict_http_status(NULL) == 500, "http_status(NULL) = %u, want 500", (unsigned)gpcguard_verdict_http_status(NULL));
    CHECK(!gpcguard_verdict_allowed(NULL), "allowed(NULL)");
    CHECK(GPCGUARD_REASON_INTERNAL == 200, "GPCGUARD_REASON_INTERNAL = %d, want 200 (numbers are stable)", (int)GPCGUARD_REASON_INTERNAL);
    CHECK(strcmp(gpcguard_reason_name(GPCGUARD_REASON_INTERNAL), "INTERNAL") == 0, "reason_name(INTERNAL)");
    CHECK(strcmp(gpcguard_reason_name(GPCGUARD_REASON_CERT_REVOCATION_UNKNOWN), "CERT_REVOCATION_UNKNOWN") == 0, "reason_name(CERT_REVOCATION_UNKNOWN)");
}

static gpcguard_guard *make_guard(void) {
    gpcguard_config *cfg = NULL;
    CHECK(gpcguard_config_new(&cfg) == GPCGUARD_OK, "config_new");
    char *anchor = xprintf("%s/root-ca.pem", pki);
    const char *settings[][2] = {
        {"provider_asid", PROVIDER_ASID},
        {"ssp_fqdn", "msg.dev.spine2.ncrs.nhs.uk"},
        {"trust_anchor", anchor},
        {"revocation", "off"},
        {"service_root", "foundations=" G},
        {"service_root", "structured=" G "/structured"},
        {"service_root", "documents=" G "/documents"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        gpcguard_result r = gpcguard_config_set(cfg, settings[i][0], settings[i][1]);
        CHECK(r == GPCGUARD_OK, "set %s = %s: %s (%s)", settings[i][0], settings[i][1], gpcguard_result_name(r), error_detail());
    }
    gpcguard_guard *g = NULL;
    gpcguard_result r = gpcguard_guard_new(cfg, &g);
    CHECK(r == GPCGUARD_OK && g, "guard_new: %s (%s)", gpcguard_result_name(r), error_detail());
    gpcguard_config_free(cfg);
    free(anchor);
    return g;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PKI_DIR (made by c-tests/make-pki.sh)\n", argv[0]);
        return 2;
    }
    pki = argv[1];
    guard = make_guard();
    if (!guard) {
        printf("%d passed, %d failed\n", passed, failed);
        return 1;
    }
    test_valid_requests();
    test_ssp_headers();
    test_interactions_and_paths();
    test_authorization();
    test_claims();
    test_sizes();
    test_null_and_lengths();
    test_static_accessors();
    gpcguard_guard_free(guard);
    printf("request_checks: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
