package org.gpcguard;

import java.nio.charset.StandardCharsets;
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
    private final String errorCode;
    private final String message;
    private final String operationOutcome;
    private final String auditRecord;
    private final String interactionId;

    Verdict(boolean allowed, int httpStatus, Reason reason, String errorCode, String message,
            String operationOutcome, String auditRecord, String interactionId) {
        // Allowed only when the library says so and the reason agrees (fail closed).
        this.allowed = allowed && reason == Reason.ALLOWED;
        this.httpStatus = this.allowed ? httpStatus : (httpStatus >= 400 ? httpStatus : 500);
        this.reason = reason;
        this.errorCode = errorCode;
        this.message = message;
        this.operationOutcome = operationOutcome;
        this.auditRecord = auditRecord;
        this.interactionId = interactionId;
    }

    /**
     * Called by the native library in the same call that judged: the strings come as one UTF-8
     * array, NUL-separated: Spine code, message, OperationOutcome, audit record, interaction ID.
     */
    static Verdict fromNative(boolean allowed, int status, int reason, boolean hasOutcome, byte[] texts) {
        String[] parts = new String[5];
        int start = 0;
        for (int i = 0; i < 5; i++) {
            int end = start;
            while (end < texts.length && texts[end] != 0) {
                end++;
            }
            parts[i] = new String(texts, start, end - start, StandardCharsets.UTF_8);
            start = end + 1;
        }
        return new Verdict(allowed, status, Reason.fromNumber(reason), parts[0], parts[1],
                hasOutcome ? parts[2] : null, parts[3], parts[4]);
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
        return errorCode;
    }

    /** What was checked and what failed; never the token or a query-string value. */
    public String message() {
        return message;
    }

    /** The OperationOutcome JSON to send with a refusal; null when allowed. */
    public String operationOutcome() {
        return operationOutcome;
    }

    /** One JSON line for the audit log ("" for peer verdicts); never the token or query values. */
    public String auditRecord() {
        return auditRecord;
    }

    /** The interaction ID the request matched, "" when none. */
    public String interactionId() {
        return interactionId;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Verdict)) {
            return false;
        }
        Verdict v = (Verdict) o;
        return allowed == v.allowed && httpStatus == v.httpStatus && reason == v.reason
                && errorCode.equals(v.errorCode) && message.equals(v.message)
                && Objects.equals(operationOutcome, v.operationOutcome) && auditRecord.equals(v.auditRecord)
                && interactionId.equals(v.interactionId);
    }

    @Override
    public int hashCode() {
        return Objects.hash(allowed, httpStatus, reason, errorCode, message);
    }

    @Override
    public String toString() {
        return (allowed ? "allowed " : "refused ") + httpStatus + " " + reason + ": " + message;
    }
}
