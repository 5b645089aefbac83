/* Peer: libjwt 1.10 (Debian libjwt-dev) judging the GP Connect audit token with the checks every
 * peer makes: alg none with no key, exp not past, exp - iat == 300, reason_for_request,
 * requested_scope, the ODS code and SDS user id identifiers (jansson for the nested claims), and
 * the practitioner's name.
 *   libjwt_peer TOKEN_FILE loop N      N judgements (callgrind runs it with two N)
 *   libjwt_peer TOKEN_FILE time RUNS   ns/op of RUNS timed runs, median printed */
#include <jansson.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int has_identifier(const char *resource_json, const char *system) {
    json_error_t err;
    json_t *r = json_loads(resource_json, 0, &err);
    if (r == NULL)
        return 0;
    int found = 0;
    json_t *ids = json_object_get(r, "identifier");
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        const char *s = json_string_value(json_object_get(id, "system"));
        const char *v = json_string_value(json_object_get(id, "value"));
        if (s && v && *v && strcmp(s, system) == 0)
            found = 1;
    }
    json_t *name = json_object_get(r, "name");
    if (strcmp(system, "https://fhir.nhs.uk/Id/sds-user-id") == 0)
        found = found && json_is_array(name) && json_array_size(name) > 0;
    else
        found = found && json_is_string(name) && *json_string_value(name);
    json_decref(r);
    return found;
}

static int judge(const char *token) {
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, NULL, 0) != 0)
        return 0;
    int ok = jwt_get_alg(jwt) == JWT_ALG_NONE;
    long exp = jwt_get_grant_int(jwt, "exp");
    long iat = jwt_get_grant_int(jwt, "iat");
    ok = ok && exp >= (long)time(NULL) && exp - iat == 300;
    const char *reason = jwt_get_grant(jwt, "reason_for_request");
    const char *scope = jwt_get_grant(jwt, "requested_scope");
    ok = ok && reason && strcmp(reason, "directcare") == 0 && scope && strcmp(scope, "patient/*.read") == 0;
    if (ok) {
        char *org = jwt_get_grants_json(jwt, "requesting_organization");
        char *prac = jwt_get_grants_json(jwt, "requesting_practitioner");
        ok = org && prac && has_identifier(org, "https://fhir.nhs.uk/Id/ods-organization-code") &&
             has_identifier(prac, "https://fhir.nhs.uk/Id/sds-user-id");
        free(org);
        free(prac);
    }
    jwt_free(jwt);
    return ok;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s TOKEN_FILE loop N | time RUNS\n", argv[0]);
        return 2;
    }
    static char token[16384];
    FILE *f = fopen(argv[1], "r");
    size_t n = f ? fread(token, 1, sizeof token - 1, f) : 0;
    if (f)
        fclose(f);
    token[n] = '\0';
    if (!judge(token)) {
        fprintf(stderr, "libjwt_peer: the token was not accepted\n");
        return 1;
    }
    long count = atol(argv[3]);
    if (strcmp(argv[2], "loop") == 0) {
        long ok = 0;
        for (long i = 0; i < count; i++)
            ok += judge(token);
        printf("RESULT loop libjwt %ld\n", ok);
        return ok == count ? 0 : 1;
    }
    double samples[64];
    if (count < 1 || count > 64)
        count = 7;
    long iters = 2000;
    for (long r = 0; r < count; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long i = 0; i < iters; i++)
            judge(token);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        samples[r] = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / iters;
    }
    qsort(samples, count, sizeof samples[0], cmp);
    printf("RESULT time libjwt %.1f runs=%ld iters=%ld\n", samples[count / 2], count, iters);
    return 0;
}
