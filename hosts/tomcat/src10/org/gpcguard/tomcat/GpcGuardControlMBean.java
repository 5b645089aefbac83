package org.gpcguard.tomcat;

/** JMX view of the listener's guard (org.gpcguard:type=GpcGuard). */
public interface GpcGuardControlMBean {
    /** Re-reads the configuration's files (CRLs, trust anchors); a failure keeps the old state and throws. */
    void reload() throws Exception;

    /** Successful reloads since start. */
    long getReloadCount();

    /** The detail of the last failed reload, "" when the last one succeeded. */
    String getLastReloadError();

    String getConfig();
}
