package org.gpcguard;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * The judgement on one request or client certificate chain. Immutable. A refusal carries the HTTP
 * status to answer with, the Spine error code, a message precise enough to fix the caller, and
 * the FHIR OperationOutcome to send as the body.
 */
public final class Verdict {
    private final boolean allowed;
    private final int httpStatus;
    private final Reason reason;
    /** The packed verdict: the five strings as the library wrote them (UTF-8, each followed by a NUL), never exposed. */
    private final byte[] texts;
    private final int[] starts;
    private final boolean hasOutcome;
    // Decoded on first use (a String is immutable, so a racy first decode is harmless): an allowed
    // request's message or interaction is often never read.
    private String errorCode;
    private String message;
    private String operationOutcome;
    private String auditRecord;
    private String interactionId;

    private Verdict(boolean allowed, int httpStatus, Reason reason, boolean hasOutcome, byte[] texts, int[] starts) {
        // Allowed only when the library says so and the reason agrees (fail closed).
        this.allowed = allowed && reason == Reason.ALLOWED;
        this.httpStatus = this.allowed ? httpStatus : (httpStatus >= 400 ? httpStatus : 500);
        this.reason = reason;
        this.hasOutcome = hasOutcome;
        this.texts = texts;
        this.starts = starts;
    }

    /**
     * Reads the array the native library made in the same call that judged: allowed,
     * has-OperationOutcome, status (2 bytes), reason (4 bytes, big-endian), the five strings'
     * byte lengths (4 bytes each, big-endian), then the five strings, UTF-8, each followed by a
     * NUL: Spine code, message, OperationOutcome, audit record, interaction.
     */
    static Verdict fromPacked(byte[] p) {
        int[] starts = layout(p);
        if (starts[5] != p.length) {
            throw malformed();
        }
        int status = (p[2] & 0xff) << 8 | (p[3] & 0xff);
        return new Verdict(p[0] == 1, status, Reason.fromNumber(be32(p, 4)), p[1] == 1, p, starts);
    }

    /** A packed verdict at the start of {@code buffer} (what follows it is not the verdict's), copied out. */
    static Verdict fromPackedPrefix(byte[] buffer) {
        return fromPacked(Arrays.copyOf(buffer, layout(buffer)[5]));
    }

    /** Where each string of a packed verdict starts, and (at 5) where the verdict ends. */
    private static int[] layout(byte[] p) {
        if (p.length < HEAD) {
            throw malformed();
        }
        int[] starts = new int[6];
        long at = HEAD;
        for (int i = 0; i < 5; i++) {
            starts[i] = (int) at;
            at += (be32(p, 8 + 4 * i) & 0xffffffffL) + 1;
            // Each string ends in the NUL the library wrote after it, within the array.
            if (at > p.length || p[(int) at - 1] != 0) {
                throw malformed();
            }
        }
        starts[5] = (int) at;
        return starts;
    }

    /** The fixed part of a packed verdict: 8 bytes of flags, status and reason, 5 string lengths. */
    private static final int HEAD = 8 + 5 * 4;

    private static int be32(byte[] p, int i) {
        return (p[i] & 0xff) << 24 | (p[i + 1] & 0xff) << 16 | (p[i + 2] & 0xff) << 8 | (p[i + 3] & 0xff);
    }

    private static IllegalStateException malformed() {
        return new IllegalStateException("gpcguard: a malformed verdict from the native library");
    }

    private String text(int i) {
        return new String(texts, starts[i], starts[i + 1] - starts[i] - 1, StandardCharsets.UTF_8);
    }

    /** True only when the request or peer is allowed. */
    public boolean allowed() {
        return allowed;
    }

    /** The HTTP status: 200 when allowed, 400/422 for requests, 495/496 for certificates, 500. */
    public int httpStatus() {
        return httpStatus;
    }

    public Reason reason() {
        return reason;
    }

    /** The Spine error code ("BAD_REQUEST", ...), "" when allowed. */
    public String errorCode() {
        String s = errorCode;
        return s != null ? s : (errorCode = text(0));
    }

    /** What was checked and what failed; never the token or a query-string value. */
    public String message() {
        String s = message;
        return s != null ? s : (message = text(1));
    }

    /** The OperationOutcome JSON to send with a refusal; null when allowed. */
    public String operationOutcome() {
        if (!hasOutcome) {
            return null;
        }
        String s = operationOutcome;
        return s != null ? s : (operationOutcome = text(2));
    }

    /** One JSON line for the audit log ("" for peer verdicts); never the token or query values. */
    public String auditRecord() {
        String s = auditRecord;
        return s != null ? s : (auditRecord = text(3));
    }

    /** The interaction ID the request matched, "" when none. */
    public String interactionId() {
        String s = interactionId;
        return s != null ? s : (interactionId = text(4));
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Verdict)) {
            return false;
        }
        Verdict v = (Verdict) o;
        return allowed == v.allowed && httpStatus == v.httpStatus && reason == v.reason
                && errorCode().equals(v.errorCode()) && message().equals(v.message())
                && Objects.equals(operationOutcome(), v.operationOutcome()) && auditRecord().equals(v.auditRecord())
                && interactionId().equals(v.interactionId());
    }

    @Override
    public int hashCode() {
        return Objects.hash(allowed, httpStatus, reason, errorCode(), message());
    }

    @Override
    public String toString() {
        return (allowed ? "allowed " : "refused ") + httpStatus + " " + reason + ": " + message();
    }
}
