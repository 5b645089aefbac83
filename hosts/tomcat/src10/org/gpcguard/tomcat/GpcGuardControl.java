package org.gpcguard.tomcat;

/** The standard MBean (org.gpcguard:type=GpcGuard) through which JMX reloads the listener's guard. */
public final class GpcGuardControl implements GpcGuardControlMBean {
    private final GpcGuardListenerBase listener;

    GpcGuardControl(GpcGuardListenerBase listener) {
        this.listener = listener;
    }

    @Override
    public void reload() throws Exception {
        listener.reload();
    }

    @Override
    public long getReloadCount() {
        return listener.getReloadCount();
    }

    @Override
    public String getLastReloadError() {
        return listener.getLastReloadError();
    }

    @Override
    public String getConfig() {
        return listener.getConfig();
    }
}
