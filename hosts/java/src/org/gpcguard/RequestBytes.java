package org.gpcguard;

import java.util.Arrays;
import java.util.Objects;

/**
 * One request as received, in bytes, built in order: the method, the target (raw path and query,
 * as on the request line: never a decoded or normalised path), then every header with repeats
 * kept. Strings are taken as ISO-8859-1, which maps bytes 0x00-0xFF one to one (what Tomcat and
 * servlet containers decode header bytes with); a character above U+00FF cannot have come from
 * the wire and is refused. Reusable after {@link #clear()}; not thread-safe.
 */
public final class RequestBytes {
    private byte[] data = new byte[1024];
    private int size;
    private int[] lengths = new int[2 + 2 * 16];
    /** Where the native library writes the verdict of this request when it fits (the usual one
     * does), so that no Java array is allocated from native code; Guard copies it out. */
    private final byte[] verdict = new byte[2048];
    /** Segments written: 0 = nothing, 1 = method, 2 = target, then 2 per header. */
    private int segments;

    public RequestBytes clear() {
        size = 0;
        segments = 0;
        return this;
    }

    public RequestBytes method(String method) {
        state(0, "method first");
        return segment(method);
    }

    public RequestBytes method(byte[] b, int off, int len) {
        state(0, "method first");
        return segment(b, off, len);
    }

    /** The target; {@link #appendToTarget} may add to it (e.g. "?" and the query). */
    public RequestBytes target(String target) {
        state(1, "target after the method");
        return segment(target);
    }

    public RequestBytes target(byte[] b, int off, int len) {
        state(1, "target after the method");
        return segment(b, off, len);
    }

    public RequestBytes appendToTarget(byte[] b, int off, int len) {
        state(2, "appendToTarget right after the target");
        Objects.checkFromIndexSize(off, len, b.length);
        ensure(len);
        System.arraycopy(b, off, data, size, len);
        size += len;
        lengths[1] += len;
        return this;
    }

    public RequestBytes appendToTarget(String s) {
        state(2, "appendToTarget right after the target");
        int before = size;
        putLatin1(s);
        lengths[1] += size - before;
        return this;
    }

    public RequestBytes header(String name, String value) {
        requireHeaders();
        segment(name);
        return segment(value);
    }

    public RequestBytes header(byte[] name, int nameOff, int nameLen, byte[] value, int valueOff, int valueLen) {
        requireHeaders();
        segment(name, nameOff, nameLen);
        return segment(value, valueOff, valueLen);
    }

    int headerCount() {
        return (segments - 2) / 2;
    }

    byte[] data() {
        return data;
    }

    byte[] verdictBuffer() {
        return verdict;
    }

    /** The lengths array for the native call (a copy of exactly the written segments). */
    int[] lengths() {
        if (segments < 2 || segments % 2 != 0) {
            throw new IllegalStateException("a request needs a method, a target, and a value for every header name");
        }
        return Arrays.copyOf(lengths, segments);
    }

    private void requireHeaders() {
        if (segments < 2 || segments % 2 != 0) {
            throw new IllegalStateException("headers after the method and the target");
        }
    }

    private void state(int expected, String what) {
        if (segments != expected) {
            throw new IllegalStateException("RequestBytes: " + what);
        }
    }

    private RequestBytes segment(byte[] b, int off, int len) {
        Objects.checkFromIndexSize(off, len, b.length);
        ensure(len);
        System.arraycopy(b, off, data, size, len);
        size += len;
        push(len);
        return this;
    }

    private RequestBytes segment(String s) {
        int before = size;
        putLatin1(s);
        push(size - before);
        return this;
    }

    private void putLatin1(String s) {
        int n = s.length();
        ensure(n);
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c > 0xFF) {
                throw new IllegalArgumentException("a character above U+00FF cannot come from the wire; pass the bytes");
            }
            data[size + i] = (byte) c;
        }
        size += n;
    }

    private void push(int len) {
        if (segments == lengths.length) {
            lengths = Arrays.copyOf(lengths, lengths.length * 2);
        }
        lengths[segments++] = len;
    }

    private void ensure(int more) {
        if (more > Integer.MAX_VALUE - size) {
            throw new IllegalArgumentException("request too large");
        }
        if (size + more > data.length) {
            data = Arrays.copyOf(data, Math.max(size + more, Math.min(Integer.MAX_VALUE - 8, data.length * 2)));
        }
    }
}
