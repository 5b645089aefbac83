package org.gpcguard;

import java.nio.charset.StandardCharsets;

/**
 * A gpcguard call that could not be made (not a refusal: refusals are {@link Verdict}s): its
 * {@link Result} and the library's detail ({@code gpcguard_last_error}), which names the key and
 * file of a bad configuration.
 */
public final class GpcGuardException extends Exception {
    private static final long serialVersionUID = 1L;

    private final Result result;
    private final String detail;

    /** Called by the native library: the result number and the UTF-8 detail. */
    GpcGuardException(int result, byte[] detailUtf8) {
        this(Result.fromNumber(result), new String(detailUtf8, StandardCharsets.UTF_8));
    }

    public GpcGuardException(Result result, String detail) {
        super(result.name() + ": " + detail);
        this.result = result;
        this.detail = detail;
    }

    /** What failed, as the C ABI's result code. */
    public Result result() {
        return result;
    }

    /** The library's explanation (gpcguard_last_error). */
    public String detail() {
        return detail;
    }
}
