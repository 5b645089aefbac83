/*
 * libgpcguard_jni: the JNI binding of gpcguard, a thin shim over the public C ABI (gpcguard.h).
 *
 * Only JNI_OnLoad and JNI_OnUnload are exported (version script); the native methods of
 * org.gpcguard.Native are bound by RegisterNatives, so no Java_* symbol names exist to clash with
 * another copy of the library. Every method converts, calls gpcguard, and converts back: a request
 * is one call (its bytes pinned, the verdict copied into one Java byte array and freed before
 * returning).
 * Failures of a call become org.gpcguard.GpcGuardException(result, gpcguard_last_error).
 */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "gpcguard.h"

#ifndef GPCGUARD_JNI_BUILT_VERSION
#error "GPCGUARD_JNI_BUILT_VERSION (the library version this shim was built against) must be defined"
#endif

/* Bounds on what Java may hand over in one call; the library applies its own (smaller) limits,
 * these only keep the shim's own allocations bounded. */
#define MAX_HEADERS 4096
#define MAX_PEER_CERTS 64

static jclass exception_class; /* org.gpcguard.GpcGuardException */
static jmethodID exception_init;

/* Throws GpcGuardException(result, detail) with gpcguard_last_error as the detail (or `detail`
 * when given). Never called with an exception pending. */
static void throw_result(JNIEnv *env, gpcguard_result result, const char *detail) {
    char buf[1024];
    size_t len;
    if (detail) {
        len = strlen(detail);
        if (len >= sizeof buf) len = sizeof buf - 1;
        memcpy(buf, detail, len);
    } else {
        len = gpcguard_last_error(buf, sizeof buf);
        if (len >= sizeof buf) len = sizeof buf - 1;
    }
    jbyteArray text = (*env)->NewByteArray(env, (jsize)len);
    if (!text) return; /* OutOfMemoryError pending */
    (*env)->SetByteArrayRegion(env, text, 0, (jsize)len, (const jbyte *)buf);
    jobject ex = (*env)->NewObject(env, exception_class, exception_init, (jint)result, text);
    (*env)->DeleteLocalRef(env, text);
    if (ex) (*env)->Throw(env, (jthrowable)ex);
}

static void throw_argument(JNIEnv *env, const char *detail) {
    throw_result(env, GPCGUARD_INVALID_ARGUMENT, detail);
}

static gpcguard_guard *guard_of(JNIEnv *env, jlong handle) {
    gpcguard_guard *g = (gpcguard_guard *)(intptr_t)handle;
    if (!g) throw_result(env, GPCGUARD_NULL_PARAMETER, "the guard is closed");
    return g;
}

/* The verdict as one byte array, which Java's Verdict.fromPacked reads; the native verdict is
 * freed here in every case. Layout: allowed (0/1), has-OperationOutcome (0/1), HTTP status (2
 * bytes, big-endian), reason (4 bytes, big-endian), the byte lengths of the five strings (4 bytes
 * each, big-endian), then the five strings as UTF-8, each followed by a NUL (none holds one):
 * Spine code, message, OperationOutcome ("" when none), audit record, interaction. With the
 * lengths up front Java checks the layout in five steps instead of scanning every byte.
 * One array and no call back into Java: the cheapest crossing JNI offers. The bytes are put
 * together in C first (on the stack for the usual verdict) and copied in with one
 * SetByteArrayRegion: each JNI call costs far more than the copy. When `reuse` (may be NULL) is
 * long enough the verdict is written at its start and `reuse` returned: allocating a Java array
 * from native code is the dearest step of a request's crossing, and Java copies the verdict out
 * of it in compiled code for much less. */
static jbyteArray verdict_to_java(JNIEnv *env, gpcguard_verdict *v, jbyteArray reuse) {
    const char *oo = gpcguard_verdict_operation_outcome(v);
    const char *texts[5] = {gpcguard_verdict_error_code(v), gpcguard_verdict_message(v), oo ? oo : "",
                            gpcguard_verdict_audit_record(v), gpcguard_verdict_interaction_id(v)};
    size_t lens[5], total = 8 + 5 * 4;
    for (int i = 0; i < 5; i++) total += (lens[i] = texts[i] ? strlen(texts[i]) : 0) + 1;
    jbyte few[2048], *packed = total <= sizeof few ? few : (total <= INT32_MAX ? malloc(total) : NULL);
    jbyteArray out = NULL;
    if (packed) out = reuse && (*env)->GetArrayLength(env, reuse) >= (jsize)total ? reuse : (*env)->NewByteArray(env, (jsize)total);
    if (out) {
        uint16_t status = gpcguard_verdict_http_status(v);
        uint32_t reason = (uint32_t)gpcguard_verdict_reason(v);
        jbyte head[8] = {gpcguard_verdict_allowed(v) ? 1 : 0, oo ? 1 : 0, (jbyte)(status >> 8), (jbyte)status,
                         (jbyte)(reason >> 24), (jbyte)(reason >> 16), (jbyte)(reason >> 8), (jbyte)reason};
        memcpy(packed, head, 8);
        size_t at = 8;
        for (int i = 0; i < 5; i++) {
            /* total <= INT32_MAX: every length fits the four bytes. */
            uint32_t n = (uint32_t)lens[i];
            jbyte len[4] = {(jbyte)(n >> 24), (jbyte)(n >> 16), (jbyte)(n >> 8), (jbyte)n};
            memcpy(packed + at, len, 4);
            at += 4;
        }
        for (int i = 0; i < 5; i++) {
            if (lens[i]) memcpy(packed + at, texts[i], lens[i]);
            at += lens[i];
            packed[at++] = 0;
        }
        (*env)->SetByteArrayRegion(env, out, 0, (jsize)total, packed);
    } else if (!(*env)->ExceptionCheck(env)) {
        throw_result(env, GPCGUARD_INTERNAL, "a verdict too large for Java, or no memory to pack it");
    }
    if (packed != few) free(packed);
    gpcguard_verdict_free(v);
    return out;
}

static jstring static_string(JNIEnv *env, const char *s) {
    /* Only for static ASCII strings of the library (names, versions, cipher list). */
    return (*env)->NewStringUTF(env, s ? s : "");
}

/* ---- native methods of org.gpcguard.Native ---- */

static jstring n_version(JNIEnv *env, jclass cls) { return static_string(env, gpcguard_version()); }

static jstring n_builtVersion(JNIEnv *env, jclass cls) { return static_string(env, GPCGUARD_JNI_BUILT_VERSION); }

static jstring n_resultName(JNIEnv *env, jclass cls, jint r) {
    return static_string(env, gpcguard_result_name((gpcguard_result)r));
}

static jstring n_reasonName(JNIEnv *env, jclass cls, jint r) {
    return static_string(env, gpcguard_reason_name((gpcguard_reason)r));
}

static jstring n_cipherList(JNIEnv *env, jclass cls) { return static_string(env, gpcguard_cipher_list()); }

/* Response headers as {name0, value0, name1, value1, ...}. */
static jobjectArray n_responseHeaders(JNIEnv *env, jclass cls) {
    size_t n = gpcguard_response_header_count();
    jclass string_class = (*env)->FindClass(env, "java/lang/String");
    if (!string_class) return NULL;
    jobjectArray out = (*env)->NewObjectArray(env, (jsize)(2 * n), string_class, NULL);
    (*env)->DeleteLocalRef(env, string_class);
    for (size_t i = 0; out && i < n; i++) {
        jstring name = static_string(env, gpcguard_response_header_name(i));
        if (!name) return NULL;
        (*env)->SetObjectArrayElement(env, out, (jsize)(2 * i), name);
        (*env)->DeleteLocalRef(env, name);
        jstring value = static_string(env, gpcguard_response_header_value(i));
        if (!value) return NULL;
        (*env)->SetObjectArrayElement(env, out, (jsize)(2 * i + 1), value);
        (*env)->DeleteLocalRef(env, value);
    }
    return out;
}

/* Copies a Java byte[] (UTF-8 from Java) into a new NUL-terminated C string; NULL with an
 * exception pending on failure. A NUL inside is refused: C would cut the string there. */
static char *c_string(JNIEnv *env, jbyteArray a, const char *what) {
    if (!a) {
        throw_result(env, GPCGUARD_NULL_PARAMETER, what);
        return NULL;
    }
    jsize n = (*env)->GetArrayLength(env, a);
    char *s = malloc((size_t)n + 1);
    if (!s) {
        throw_result(env, GPCGUARD_INTERNAL, "out of memory");
        return NULL;
    }
    (*env)->GetByteArrayRegion(env, a, 0, n, (jbyte *)s);
    s[n] = '\0';
    if (memchr(s, '\0', (size_t)n)) {
        free(s);
        throw_argument(env, "a NUL byte inside a configuration string");
        return NULL;
    }
    return s;
}

/* Turns a configuration into a guard (the configuration is freed either way); 0 and a Java
 * exception on failure. */
static jlong guard_from_config(JNIEnv *env, gpcguard_config *cfg) {
    gpcguard_guard *g = NULL;
    gpcguard_result r = gpcguard_guard_new(cfg, &g);
    gpcguard_config_free(cfg);
    if (r != GPCGUARD_OK) {
        throw_result(env, r, NULL);
        return 0;
    }
    return (jlong)(intptr_t)g;
}

static jlong n_guardFromFile(JNIEnv *env, jclass cls, jbyteArray path_utf8) {
    char *path = c_string(env, path_utf8, "the configuration path is null");
    if (!path) return 0;
    gpcguard_config *cfg = NULL;
    gpcguard_result r = gpcguard_config_from_file(path, &cfg);
    free(path);
    if (r != GPCGUARD_OK) {
        throw_result(env, r, NULL);
        return 0;
    }
    return guard_from_config(env, cfg);
}

/* keys and values: UTF-8 byte arrays, pairwise; list keys append, as gpcguard_config_set does. */
static jlong n_guardFromSettings(JNIEnv *env, jclass cls, jobjectArray keys, jobjectArray values) {
    if (!keys || !values) {
        throw_result(env, GPCGUARD_NULL_PARAMETER, "keys or values are null");
        return 0;
    }
    jsize n = (*env)->GetArrayLength(env, keys);
    if (n != (*env)->GetArrayLength(env, values)) {
        throw_argument(env, "as many keys as values are needed");
        return 0;
    }
    gpcguard_config *cfg = NULL;
    gpcguard_result r = gpcguard_config_new(&cfg);
    if (r != GPCGUARD_OK) {
        throw_result(env, r, NULL);
        return 0;
    }
    for (jsize i = 0; i < n; i++) {
        jbyteArray k = (jbyteArray)(*env)->GetObjectArrayElement(env, keys, i);
        jbyteArray v = (jbyteArray)(*env)->GetObjectArrayElement(env, values, i);
        char *key = (*env)->ExceptionCheck(env) ? NULL : c_string(env, k, "a key is null");
        char *value = key ? c_string(env, v, "a value is null") : NULL;
        (*env)->DeleteLocalRef(env, k);
        (*env)->DeleteLocalRef(env, v);
        if (!value) {
            free(key);
            gpcguard_config_free(cfg);
            return 0;
        }
        r = gpcguard_config_set(cfg, key, value);
        free(key);
        free(value);
        if (r != GPCGUARD_OK) {
            gpcguard_config_free(cfg);
            throw_result(env, r, NULL);
            return 0;
        }
    }
    return guard_from_config(env, cfg);
}

static void n_reload(JNIEnv *env, jclass cls, jlong handle) {
    gpcguard_guard *g = guard_of(env, handle);
    if (!g) return;
    gpcguard_result r = gpcguard_guard_reload(g);
    if (r != GPCGUARD_OK) throw_result(env, r, NULL);
}

static void n_free(JNIEnv *env, jclass cls, jlong handle) { gpcguard_guard_free((gpcguard_guard *)(intptr_t)handle); }

/* One request: `data` holds method, target, then each header's name and value back to back
 * (ISO-8859-1 bytes as received); `lengths` = {method, target, name0, value0, name1, value1...}.
 * Every length is checked against `data` before the bytes are touched. The verdict comes back in
 * `reuse` when it fits there (see verdict_to_java), else in a new array. */
static jbyteArray n_checkRequest(JNIEnv *env, jclass cls, jlong handle, jbyteArray data, jintArray lengths, jlong now, jbyteArray reuse) {
    gpcguard_guard *g = guard_of(env, handle);
    if (!g) return NULL;
    if (!data || !lengths) {
        throw_result(env, GPCGUARD_NULL_PARAMETER, "request data or lengths are null");
        return NULL;
    }
    jsize data_len = (*env)->GetArrayLength(env, data);
    jsize count = (*env)->GetArrayLength(env, lengths);
    if (count < 2 || count % 2 != 0 || (count - 2) / 2 > MAX_HEADERS) {
        throw_argument(env, "request lengths: method, target, then a name and value per header (at most 4096)");
        return NULL;
    }
    size_t header_count = (size_t)(count - 2) / 2;
    /* Lengths and headers on the stack for ordinary requests, on the heap beyond. */
    jint few_lens[2 + 2 * 32], *lens = few_lens;
    gpcguard_header few[32], *headers = few;
    if (header_count > 32) {
        lens = malloc((size_t)count * sizeof *lens);
        headers = malloc(header_count * sizeof *headers);
        if (!lens || !headers) {
            free(lens);
            free(headers);
            throw_result(env, GPCGUARD_INTERNAL, "out of memory for headers");
            return NULL;
        }
    }
    (*env)->GetIntArrayRegion(env, lengths, 0, count, lens);
    int64_t sum = 0;
    for (jsize i = 0; i < count; i++) {
        if (lens[i] < 0) sum = INT64_MAX;
        else if (sum != INT64_MAX) sum += lens[i];
    }
    if (sum > data_len) {
        if (headers != few) {
            free(lens);
            free(headers);
        }
        throw_argument(env, "request lengths are negative or exceed the data");
        return NULL;
    }
    /* Pinned only around the pure-native check: no JNI call until it is released. */
    char *bytes = (*env)->GetPrimitiveArrayCritical(env, data, NULL);
    if (!bytes) {
        if (headers != few) {
            free(lens);
            free(headers);
        }
        return NULL; /* OutOfMemoryError pending */
    }
    size_t at = 0;
    gpcguard_request req = {.method = bytes, .method_len = (size_t)lens[0]};
    at += req.method_len;
    req.target = bytes + at;
    req.target_len = (size_t)lens[1];
    at += req.target_len;
    for (size_t i = 0; i < header_count; i++) {
        headers[i].name = bytes + at;
        headers[i].name_len = (size_t)lens[2 + 2 * i];
        at += headers[i].name_len;
        headers[i].value = bytes + at;
        headers[i].value_len = (size_t)lens[3 + 2 * i];
        at += headers[i].value_len;
    }
    req.headers = headers;
    req.header_count = header_count;
    req.now = (int64_t)now;
    gpcguard_verdict *v = NULL;
    gpcguard_result r = gpcguard_check_request(g, &req, &v);
    (*env)->ReleasePrimitiveArrayCritical(env, data, bytes, JNI_ABORT);
    if (headers != few) {
        free(lens);
        free(headers);
    }
    if (r != GPCGUARD_OK) {
        throw_result(env, r, NULL);
        return NULL;
    }
    return verdict_to_java(env, v, reuse);
}

/* A client certificate chain, leaf first, as DER byte arrays (X509Certificate.getEncoded()). */
static jbyteArray n_checkPeerDer(JNIEnv *env, jclass cls, jlong handle, jobjectArray certs, jlong now) {
    gpcguard_guard *g = guard_of(env, handle);
    if (!g) return NULL;
    jsize count = certs ? (*env)->GetArrayLength(env, certs) : 0;
    if (count > MAX_PEER_CERTS) {
        /* More than any Spine chain: judged by the library as too many, from the first ones. */
        count = MAX_PEER_CERTS + 1;
    }
    gpcguard_bytes items[MAX_PEER_CERTS + 1];
    jbyteArray arrays[MAX_PEER_CERTS + 1];
    jbyte *elems[MAX_PEER_CERTS + 1];
    jsize got = 0;
    jbyteArray result = NULL;
    for (; got < count; got++) {
        arrays[got] = (jbyteArray)(*env)->GetObjectArrayElement(env, certs, got);
        if (!arrays[got]) {
            if (!(*env)->ExceptionCheck(env)) throw_result(env, GPCGUARD_NULL_PARAMETER, "a certificate is null");
            goto out;
        }
        elems[got] = (*env)->GetByteArrayElements(env, arrays[got], NULL);
        if (!elems[got]) {
            (*env)->DeleteLocalRef(env, arrays[got]);
            goto out;
        }
        items[got].data = (const uint8_t *)elems[got];
        items[got].len = (size_t)(*env)->GetArrayLength(env, arrays[got]);
    }
    gpcguard_verdict *v = NULL;
    gpcguard_result r = gpcguard_check_peer_der(g, items, (size_t)count, (int64_t)now, &v);
    for (jsize i = 0; i < got; i++) {
        (*env)->ReleaseByteArrayElements(env, arrays[i], elems[i], JNI_ABORT);
        (*env)->DeleteLocalRef(env, arrays[i]);
    }
    got = 0;
    if (r != GPCGUARD_OK) {
        throw_result(env, r, NULL);
        return NULL;
    }
    return verdict_to_java(env, v, NULL);
out:
    for (jsize i = 0; i < got; i++) {
        (*env)->ReleaseByteArrayElements(env, arrays[i], elems[i], JNI_ABORT);
        (*env)->DeleteLocalRef(env, arrays[i]);
    }
    return result;
}

static jbyteArray n_trustAnchorsPem(JNIEnv *env, jclass cls, jlong handle) {
    gpcguard_guard *g = guard_of(env, handle);
    if (!g) return NULL;
    /* A reload between the two calls may change the length: ask again until it fits. */
    for (int attempt = 0; attempt < 8; attempt++) {
        size_t needed = 0;
        gpcguard_result r = gpcguard_guard_trust_anchors_pem(g, NULL, 0, &needed);
        if (r != GPCGUARD_OK) {
            throw_result(env, r, NULL);
            return NULL;
        }
        if (needed > INT32_MAX) break;
        uint8_t *buf = malloc(needed ? needed : 1);
        if (!buf) break;
        size_t again = 0;
        r = gpcguard_guard_trust_anchors_pem(g, buf, needed, &again);
        if (r != GPCGUARD_OK) {
            free(buf);
            throw_result(env, r, NULL);
            return NULL;
        }
        if (again <= needed) {
            jbyteArray out = (*env)->NewByteArray(env, (jsize)again);
            if (out) (*env)->SetByteArrayRegion(env, out, 0, (jsize)again, (const jbyte *)buf);
            free(buf);
            return out;
        }
        free(buf);
    }
    throw_result(env, GPCGUARD_INTERNAL, "the trust anchors could not be read");
    return NULL;
}

/* Tomcat native (tcnative): `tcn_ctx` is SSLHostConfig.getOpenSslContext(), tcnative's
 * tcn_ssl_ctxt_t, which begins {apr_pool_t *pool; SSL_CTX *ctx; ...} (every tcnative since
 * 1.1.34), and tcnative stores that struct as the SSL_CTX's app data. The pointer is used only
 * when that back-reference matches: anything else is refused (fail closed). */
static void n_applyToTcnativeContext(JNIEnv *env, jclass cls, jlong handle, jlong tcn_ctx) {
    gpcguard_guard *g = guard_of(env, handle);
    if (!g) return;
    void **tcn = (void **)(intptr_t)tcn_ctx;
    if (!tcn) {
        throw_result(env, GPCGUARD_NULL_PARAMETER, "the tcnative context is null");
        return;
    }
    SSL_CTX *ctx = (SSL_CTX *)tcn[1];
    if (!ctx || SSL_CTX_get_app_data(ctx) != (void *)tcn) {
        throw_result(env, GPCGUARD_INVALID_ARGUMENT,
                     "the tcnative context does not have the expected layout {pool, SSL_CTX *} "
                     "(SSL_CTX app data does not point back to it): unsupported tcnative version");
        return;
    }
    gpcguard_result r = gpcguard_ssl_ctx_apply(g, ctx);
    if (r != GPCGUARD_OK) throw_result(env, r, NULL);
}

static const JNINativeMethod METHODS[] = {
    {"version", "()Ljava/lang/String;", (void *)n_version},
    {"builtVersion", "()Ljava/lang/String;", (void *)n_builtVersion},
    {"resultName", "(I)Ljava/lang/String;", (void *)n_resultName},
    {"reasonName", "(I)Ljava/lang/String;", (void *)n_reasonName},
    {"cipherList", "()Ljava/lang/String;", (void *)n_cipherList},
    {"responseHeaders", "()[Ljava/lang/String;", (void *)n_responseHeaders},
    {"guardFromFile", "([B)J", (void *)n_guardFromFile},
    {"guardFromSettings", "([Ljava/lang/Object;[Ljava/lang/Object;)J", (void *)n_guardFromSettings},
    {"reload", "(J)V", (void *)n_reload},
    {"free", "(J)V", (void *)n_free},
    {"checkRequest", "(J[B[IJ[B)[B", (void *)n_checkRequest},
    {"checkPeerDer", "(J[Ljava/lang/Object;J)[B", (void *)n_checkPeerDer},
    {"trustAnchorsPem", "(J)[B", (void *)n_trustAnchorsPem},
    {"applyToTcnativeContext", "(JJ)V", (void *)n_applyToTcnativeContext},
};

/* "MAJOR.MINOR.PATCH" -> three numbers; false when it is not that form. */
static int parse_version(const char *s, unsigned v[3]) {
    return s && sscanf(s, "%u.%u.%u", &v[0], &v[1], &v[2]) == 3;
}

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM *vm, void *reserved) {
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) return JNI_ERR;
    /* The library must be the one this shim was built for: same major version (soname) and at
     * least the same minor/patch (the shim may call functions added since). */
    unsigned have[3], built[3];
    const char *running = gpcguard_version();
    if (!parse_version(running, have) || !parse_version(GPCGUARD_JNI_BUILT_VERSION, built) || have[0] != built[0] ||
        have[1] < built[1] || (have[1] == built[1] && have[2] < built[2])) {
        fprintf(stderr, "libgpcguard_jni: built for libgpcguard %s but loaded %s; refusing to load\n",
                GPCGUARD_JNI_BUILT_VERSION, running ? running : "(none)");
        return JNI_ERR;
    }
    jclass native_class = (*env)->FindClass(env, "org/gpcguard/Native");
    jclass e = (*env)->FindClass(env, "org/gpcguard/GpcGuardException");
    if (!native_class || !e) return JNI_ERR;
    exception_init = (*env)->GetMethodID(env, e, "<init>", "(I[B)V");
    if (!exception_init) return JNI_ERR;
    exception_class = (*env)->NewGlobalRef(env, e);
    if (!exception_class) return JNI_ERR;
    if ((*env)->RegisterNatives(env, native_class, METHODS, sizeof METHODS / sizeof METHODS[0]) != 0) return JNI_ERR;
    return JNI_VERSION_1_8;
}

JNIEXPORT void JNICALL JNI_OnUnload(JavaVM *vm, void *reserved) {
    JNIEnv *env;
    if ((*vm)->GetEnv(vm, (void **)&env, JNI_VERSION_1_8) != JNI_OK) return;
    if (exception_class) (*env)->DeleteGlobalRef(env, exception_class);
    exception_class = NULL;
}
