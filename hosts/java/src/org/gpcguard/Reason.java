package org.gpcguard;

/**
 * Why a request or a peer certificate was judged as it was, numbered as
 * {@code enum gpcguard_reason} in gpcguard.h (stable, never reused; a test compares them with the
 * header and with the library's names).
 */
public enum Reason {
    ALLOWED(0),
    HEADER_MISSING(1),
    HEADER_INVALID(2),
    WRONG_RECIPIENT(3),
    INTERACTION_UNKNOWN(4),
    INTERACTION_MISMATCH(5),
    AUTHORIZATION_MISSING(6),
    JWT_MALFORMED(7),
    JWT_CLAIM_MISSING(8),
    JWT_CLAIM_INVALID(9),
    JWT_INVALID_RESOURCE(10),
    JWT_EXPIRED(11),
    SCOPE_DENIED(12),
    REQUEST_TOO_LARGE(13),
    CERT_MISSING(100),
    CERT_UNTRUSTED(101),
    CERT_EXPIRED(102),
    CERT_NOT_YET_VALID(103),
    CERT_REVOKED(104),
    CERT_REVOCATION_UNKNOWN(105),
    CERT_WRONG_HOST(106),
    CERT_MALFORMED(107),
    INTERNAL(200);

    private final int number;

    Reason(int number) {
        this.number = number;
    }

    /** The number of the C enum. */
    public int number() {
        return number;
    }

    /** The reason with this number; {@link #INTERNAL} (a refusal) for a number the binding does not know. */
    public static Reason fromNumber(int number) {
        Reason r = number >= 0 && number < BY_NUMBER.length ? BY_NUMBER[number] : null;
        return r == null ? INTERNAL : r;
    }

    private static final Reason[] BY_NUMBER = new Reason[INTERNAL.number + 1];

    static {
        for (Reason r : values()) {
            BY_NUMBER[r.number] = r;
        }
    }
}
