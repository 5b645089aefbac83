package org.gpcguard;

/**
 * The native methods of libgpcguard_jni, bound by its JNI_OnLoad (RegisterNatives). The library is
 * found through the system property {@code gpcguard.jni.library} (an absolute path) or else as
 * {@code gpcguard_jni} on {@code java.library.path}. A JVM can load it into one class loader only:
 * gpcguard.jar belongs on the server's class path ($CATALINA_BASE/lib), never inside a webapp.
 */
final class Native {
    private Native() {}

    /** Why loading failed, or null once loaded. */
    private static final String LOAD_ERROR;

    static {
        String error = null;
        String path = System.getProperty("gpcguard.jni.library");
        try {
            if (path != null && !path.isEmpty()) {
                System.load(path);
            } else {
                System.loadLibrary("gpcguard_jni");
            }
        } catch (UnsatisfiedLinkError e) {
            String what = e.getMessage() == null ? "" : e.getMessage();
            if (what.contains("already loaded in another classloader")) {
                error = "libgpcguard_jni is already loaded by another class loader; a JVM can load it once: "
                        + "put gpcguard.jar on the server's class path (e.g. $CATALINA_BASE/lib), not in a webapp ("
                        + what + ")";
            } else {
                error = "libgpcguard_jni could not be loaded (" + what + "); set -Dgpcguard.jni.library=/path/to/"
                        + "libgpcguard_jni.so or java.library.path";
            }
        }
        LOAD_ERROR = error;
    }

    /** Throws a clear error when the native library is not usable in this class loader. */
    static void require() {
        if (LOAD_ERROR != null) {
            throw new IllegalStateException(LOAD_ERROR);
        }
    }

    static native String version();
    static native String builtVersion();
    static native String resultName(int result);
    static native String reasonName(int reason);
    static native String cipherList();
    static native String[] responseHeaders();
    static native long guardFromFile(byte[] pathUtf8) throws GpcGuardException;
    static native long guardFromSettings(Object[] keysUtf8, Object[] valuesUtf8) throws GpcGuardException;
    static native void reload(long guard) throws GpcGuardException;
    static native void free(long guard);
    /**
     * The verdict packed as Verdict.fromPacked reads it: at the start of {@code reuse} (then
     * {@code reuse} itself is returned) when it fits there, else in a new array of its length.
     */
    static native byte[] checkRequest(long guard, byte[] data, int[] lengths, long now, byte[] reuse) throws GpcGuardException;
    static native byte[] checkPeerDer(long guard, Object[] certs, long now) throws GpcGuardException;
    static native byte[] trustAnchorsPem(long guard) throws GpcGuardException;
    static native void applyToTcnativeContext(long guard, long tcnativeContext) throws GpcGuardException;
}
