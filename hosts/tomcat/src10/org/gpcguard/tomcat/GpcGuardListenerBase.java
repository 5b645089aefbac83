package org.gpcguard.tomcat;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.apache.catalina.Lifecycle;
import org.apache.catalina.LifecycleEvent;
import org.apache.catalina.LifecycleListener;
import org.apache.catalina.Server;
import org.apache.catalina.Service;
import org.apache.catalina.connector.Connector;
import org.gpcguard.GpcGuardException;
import org.gpcguard.Guard;

/**
 * What the GpcGuardListener of either Tomcat does whatever its TLS engine: loads the gpcguard
 * configuration before the server's init (a bad one fails startup with the key and file named),
 * shares the guard with the Valves and Filters of this class loader, reloads it by JMX
 * (org.gpcguard:type=GpcGuard, operation reload) or every {@code reloadInterval} seconds (a failed
 * reload keeps the old state), and closes it with the server. The subclass puts the TLS policy on
 * the connectors: {@link #beforeInit}, {@link #afterInit}, {@link #afterReload}.
 */
public abstract class GpcGuardListenerBase implements LifecycleListener {
    /** The guard of the listener of this JVM (one per Tomcat), for the TrustManager and the Valves. */
    private static volatile Guard shared;

    private final Logger log = Logger.getLogger(getClass().getName());
    private String config;
    private int reloadInterval;
    private Guard guard;
    private Server server;
    private ScheduledExecutorService reloader;
    private ObjectName mbeanName;
    private final AtomicLong reloads = new AtomicLong();
    private volatile String lastReloadError = "";

    public void setConfig(String config) {
        this.config = config;
    }

    public String getConfig() {
        return config;
    }

    /** Seconds between automatic reloads; 0 (the default) for none. */
    public void setReloadInterval(int seconds) {
        this.reloadInterval = seconds;
    }

    public int getReloadInterval() {
        return reloadInterval;
    }

    /** The listener's guard; refuses (fail closed) when no listener has loaded one. */
    static Guard requireGuard() {
        Guard g = shared;
        if (g == null) {
            throw new IllegalStateException("no gpcguard guard: add <Listener className=\"" + GpcGuardListenerBase.class.getPackageName()
                    + ".GpcGuardListener\" config=\"/etc/gpcguard/provider.toml\"/> under <Server>");
        }
        return g;
    }

    static Guard sharedGuard() {
        return shared;
    }

    /** The loaded guard (from the server's init on). */
    protected final Guard guard() {
        return guard;
    }

    protected final Server server() {
        return server;
    }

    /** Before the connectors' init, after the guard is loaded. */
    protected void beforeInit(Server server) {
    }

    /** After the connectors' init: the policy must be in force on them, or startup fails. */
    protected abstract void afterInit(Server server);

    /** After every reload, successful or not. */
    protected void afterReload() {
    }

    @Override
    public void lifecycleEvent(LifecycleEvent event) {
        if (!(event.getLifecycle() instanceof Server)) {
            return;
        }
        server = (Server) event.getLifecycle();
        switch (event.getType()) {
            case Lifecycle.BEFORE_INIT_EVENT:
                load();
                beforeInit(server);
                break;
            case Lifecycle.AFTER_INIT_EVENT:
                afterInit(server);
                break;
            case Lifecycle.AFTER_START_EVENT:
                startReloads();
                break;
            case Lifecycle.BEFORE_STOP_EVENT:
                stopReloads();
                break;
            case Lifecycle.AFTER_DESTROY_EVENT:
                if (shared == guard) {
                    shared = null;
                }
                if (guard != null) {
                    guard.close();
                }
                break;
            default:
                break;
        }
    }

    /**
     * Refuses to go on. Tomcat marks the server FAILED, but Catalina still starts the connectors
     * it has before it stops again: they are removed first, so nothing is served meanwhile.
     */
    protected final RuntimeException failStartup(String message, Throwable cause) {
        log.log(Level.SEVERE, message, cause);
        if (server != null) {
            for (Service service : server.findServices()) {
                for (Connector connector : service.findConnectors()) {
                    service.removeConnector(connector);
                }
            }
        }
        return new IllegalStateException(message, cause);
    }

    private void load() {
        if (config == null || config.isEmpty()) {
            throw failStartup("GpcGuardListener: the attribute config (the gpcguard TOML file) is required", null);
        }
        try {
            guard = Guard.fromFile(Path.of(config));
        } catch (GpcGuardException e) {
            throw failStartup("GpcGuardListener: the gpcguard configuration " + config + " is unusable: " + e.getMessage(), e);
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            throw failStartup("GpcGuardListener: gpcguard could not be loaded: " + e.getMessage(), e);
        }
        shared = guard;
        log.info("gpcguard " + Guard.version() + " loaded " + config);
    }

    private void startReloads() {
        try {
            MBeanServer mbs = ManagementFactory.getPlatformMBeanServer();
            mbeanName = new ObjectName("org.gpcguard:type=GpcGuard");
            if (!mbs.isRegistered(mbeanName)) {
                mbs.registerMBean(new GpcGuardControl(this), mbeanName);
            }
        } catch (Exception e) {
            log.log(Level.WARNING, "gpcguard: the JMX reload operation could not be registered", e);
        }
        if (reloadInterval > 0) {
            reloader = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "gpcguard-reload");
                t.setDaemon(true);
                return t;
            });
            reloader.scheduleWithFixedDelay(() -> {
                try {
                    reload();
                } catch (Exception e) {
                    // logged by reload(); the old state stays in force
                }
            }, reloadInterval, reloadInterval, TimeUnit.SECONDS);
        }
    }

    private void stopReloads() {
        if (reloader != null) {
            reloader.shutdownNow();
            reloader = null;
        }
        if (mbeanName != null) {
            try {
                ManagementFactory.getPlatformMBeanServer().unregisterMBean(mbeanName);
            } catch (Exception e) {
                // already gone
            }
            mbeanName = null;
        }
    }

    /** Re-reads the configuration's files; a failure keeps the old state, is logged and thrown. */
    public void reload() throws Exception {
        try {
            guard.reload();
            reloads.incrementAndGet();
            lastReloadError = "";
            log.fine("gpcguard reloaded " + config);
        } catch (GpcGuardException e) {
            lastReloadError = e.getMessage();
            log.severe("gpcguard reload of " + config + " failed, the previous state stays in force: " + e.getMessage());
            throw new Exception(e.getMessage());
        } finally {
            afterReload();
        }
    }

    public long getReloadCount() {
        return reloads.get();
    }

    public String getLastReloadError() {
        return lastReloadError;
    }
}
