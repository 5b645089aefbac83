package org.gpcguard;

/**
 * The outcome of a call, numbered as {@code enum gpcguard_result} in gpcguard.h (the numbers are
 * stable; a test compares them with the header and with the library's names).
 */
public enum Result {
    OK(0),
    NULL_PARAMETER(1),
    INVALID_ARGUMENT(2),
    PANIC(9),
    INTERNAL(10),
    CONFIG_UNKNOWN_KEY(100),
    CONFIG_INVALID_VALUE(101),
    CONFIG_MISSING_KEY(102),
    CONFIG_SYNTAX(103),
    FILE_UNREADABLE(200),
    PEM_INVALID(201),
    KEY_MISMATCH(202),
    CA_INVALID(203),
    CRL_INVALID(204),
    TLS_ERROR(300);

    private final int number;

    Result(int number) {
        this.number = number;
    }

    /** The number of the C enum. */
    public int number() {
        return number;
    }

    /** The result with this number; {@link #INTERNAL} for a number the binding does not know. */
    public static Result fromNumber(int number) {
        for (Result r : values()) {
            if (r.number == number) {
                return r;
            }
        }
        return INTERNAL;
    }
}
