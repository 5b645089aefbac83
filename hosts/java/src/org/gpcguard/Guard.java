package org.gpcguard;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A configured gpcguard: the GP Connect security model for one provider (gpcguard_guard).
 * Thread-safe: share one guard between every request thread. {@link #reload()} re-reads the files
 * the configuration names (CRLs, trust anchors) and swaps them in at once; a failed reload keeps
 * the old state. {@link #close()} waits for checks in flight, and every later call throws
 * {@link IllegalStateException}.
 */
public final class Guard implements AutoCloseable {
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    /** The native guard; 0 once closed. Read and used under the read lock, cleared under the write lock. */
    private long handle;
    private final String source;

    private Guard(long handle, String source) {
        this.handle = handle;
        this.source = source;
    }

    /** A guard from a TOML configuration file (relative paths inside are relative to its folder). */
    public static Guard fromFile(Path toml) throws GpcGuardException {
        Native.require();
        String path = toml.toAbsolutePath().toString();
        return new Guard(Native.guardFromFile(path.getBytes(StandardCharsets.UTF_8)), path);
    }

    /** A guard from key/value settings in order (the TOML keys; list keys append). */
    public static Guard fromSettings(List<Map.Entry<String, String>> settings) throws GpcGuardException {
        Native.require();
        Object[] keys = new Object[settings.size()];
        Object[] values = new Object[settings.size()];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = settings.get(i).getKey().getBytes(StandardCharsets.UTF_8);
            values[i] = settings.get(i).getValue().getBytes(StandardCharsets.UTF_8);
        }
        return new Guard(Native.guardFromSettings(keys, values), "settings");
    }

    /** A guard from alternating keys and values: {@code fromSettings("provider_asid", "9189...", ...)}. */
    public static Guard fromSettings(String... keysAndValues) throws GpcGuardException {
        if (keysAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("keys and values alternate: an even count is needed");
        }
        List<Map.Entry<String, String>> list = new ArrayList<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            list.add(Map.entry(keysAndValues[i], keysAndValues[i + 1]));
        }
        return fromSettings(list);
    }

    /** Where the configuration came from (the file's path, or "settings"), for messages. */
    public String source() {
        return source;
    }

    /** Re-reads every file the configuration names; on failure the old state stays and this throws. */
    public void reload() throws GpcGuardException {
        ReentrantReadWriteLock.ReadLock r = lock.readLock();
        r.lock();
        try {
            Native.reload(open());
        } finally {
            r.unlock();
        }
    }

    /** Judges one request at the system clock. */
    public Verdict checkRequest(RequestBytes request) throws GpcGuardException {
        return checkRequest(request, 0);
    }

    /** Judges one request at {@code now} (Unix seconds; 0 = the system clock). */
    public Verdict checkRequest(RequestBytes request, long now) throws GpcGuardException {
        int[] lengths = request.lengths();
        ReentrantReadWriteLock.ReadLock r = lock.readLock();
        r.lock();
        try {
            byte[] reuse = request.verdictBuffer();
            byte[] packed = Native.checkRequest(open(), request.data(), lengths, now, reuse);
            // The verdict owns its bytes: one written into the request's buffer is copied out.
            return packed == reuse ? Verdict.fromPackedPrefix(packed) : Verdict.fromPacked(packed);
        } finally {
            r.unlock();
        }
    }

    /** Judges one request given as strings (ISO-8859-1: one char per byte) at the system clock. */
    public Verdict checkRequest(String method, String target, List<Map.Entry<String, String>> headers)
            throws GpcGuardException {
        RequestBytes request = new RequestBytes().method(method).target(target);
        for (Map.Entry<String, String> h : headers) {
            request.header(h.getKey(), h.getValue());
        }
        return checkRequest(request, 0);
    }

    /** Judges a client certificate chain (leaf first, as the TLS peer sent it) at the system clock. */
    public Verdict checkPeer(X509Certificate[] chain) throws GpcGuardException {
        if (chain == null) {
            return checkPeerDer(new byte[0][], 0);
        }
        byte[][] der = new byte[chain.length][];
        for (int i = 0; i < chain.length; i++) {
            try {
                der[i] = chain[i].getEncoded();
            } catch (CertificateEncodingException e) {
                der[i] = new byte[0]; // judged as malformed by the library
            }
        }
        return checkPeerDer(der, 0);
    }

    /** Judges a client certificate chain given as DER certificates (leaf first) at {@code now} (0 = the clock). */
    public Verdict checkPeerDer(byte[][] der, long now) throws GpcGuardException {
        ReentrantReadWriteLock.ReadLock r = lock.readLock();
        r.lock();
        try {
            return Verdict.fromPacked(Native.checkPeerDer(open(), der, now));
        } finally {
            r.unlock();
        }
    }

    /** The configured trust anchors, as now loaded (for a TrustManager's accepted issuers). */
    public X509Certificate[] trustAnchors() throws GpcGuardException {
        byte[] pem;
        ReentrantReadWriteLock.ReadLock r = lock.readLock();
        r.lock();
        try {
            pem = Native.trustAnchorsPem(open());
        } finally {
            r.unlock();
        }
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            List<X509Certificate> out = new ArrayList<>();
            for (Object c : cf.generateCertificates(new ByteArrayInputStream(pem))) {
                out.add((X509Certificate) c);
            }
            return out.toArray(new X509Certificate[0]);
        } catch (CertificateException e) {
            throw new GpcGuardException(Result.PEM_INVALID, "the trust anchors could not be parsed by Java: " + e.getMessage());
        }
    }

    /**
     * Puts the GP Connect TLS policy (gpcguard_ssl_ctx_apply) on a Tomcat native (tcnative) context,
     * given as SSLHostConfig.getOpenSslContext(). The shim checks that the pointer is tcnative's
     * context (its SSL_CTX points back to it) and refuses anything else.
     */
    public void applyToTcnativeContext(long tcnativeContext) throws GpcGuardException {
        ReentrantReadWriteLock.ReadLock r = lock.readLock();
        r.lock();
        try {
            Native.applyToTcnativeContext(open(), tcnativeContext);
        } finally {
            r.unlock();
        }
    }

    /** Frees the native guard once the checks in flight have finished; later calls throw. Idempotent. */
    @Override
    public void close() {
        ReentrantReadWriteLock.WriteLock w = lock.writeLock();
        w.lock();
        try {
            if (handle != 0) {
                Native.free(handle);
                handle = 0;
            }
        } finally {
            w.unlock();
        }
    }

    private long open() {
        long h = handle;
        if (h == 0) {
            throw new IllegalStateException("the gpcguard guard (" + source + ") is closed");
        }
        return h;
    }

    /** The library version, e.g. "0.1.0". */
    public static String version() {
        Native.require();
        return Native.version();
    }

    /** The OpenSSL cipher string of the policy (gpcguard_cipher_list). */
    public static String cipherList() {
        Native.require();
        return Native.cipherList();
    }

    /** The headers to set on every response (Cache-Control: no-store, HSTS), in order. */
    public static List<Map.Entry<String, String>> responseHeaders() {
        Native.require();
        String[] flat = Native.responseHeaders();
        List<Map.Entry<String, String>> out = new ArrayList<>();
        for (int i = 0; i + 1 < flat.length; i += 2) {
            out.add(Map.entry(flat[i], flat[i + 1]));
        }
        return Collections.unmodifiableList(out);
    }

    /** The library's name of a result number (gpcguard_result_name). */
    public static String resultName(int number) {
        Native.require();
        return Native.resultName(number);
    }

    /** The library's name of a reason number (gpcguard_reason_name). */
    public static String reasonName(int number) {
        Native.require();
        return Native.reasonName(number);
    }
}
