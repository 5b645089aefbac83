package org.gpcguard.tomcat9;

import java.lang.management.ManagementFactory;
import java.lang.reflect.Method;
import java.nio.file.Path;
import java.util.Map;
import java.util.WeakHashMap;
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
import org.apache.coyote.AbstractProtocol;
import org.apache.coyote.ProtocolHandler;
import org.apache.coyote.http11.AbstractHttp11Protocol;
import org.apache.tomcat.jni.Library;
import org.apache.tomcat.jni.SSLContext;
import org.apache.tomcat.util.net.SSLHostConfig;
import org.apache.tomcat.util.net.SSLHostConfigCertificate;
import org.gpcguard.GpcGuardException;
import org.gpcguard.Guard;

/**
 * Tomcat 9 with the APR/native connector (Http11AprProtocol, AprLifecycleListener, tcnative), the
 * security page's own configuration: after the connectors' init, the native SSL_CTX of every TLS
 * SSLHostConfig gets gpcguard_ssl_ctx_apply — TLS 1.2 only, the Spine cipher list in server order,
 * no renegotiation, gpcguard's verify and ticket callbacks, alerts naming the failure: the same TLS
 * as the nginx and Apache modules. The context pointer (SSLHostConfig.getOpenSslContext()) is
 * used only when tcnative's version is known and its SSL_CTX points back to it; otherwise, or for
 * a TLS connector without a native context (JSSE), startup fails. Contexts Tomcat re-creates
 * ({@code reloadSslHostConfigs}) get the policy before any connection is moved to them, or no
 * connection is (see guardSni). Reload by JMX (org.gpcguard:type=GpcGuard) or every
 * {@code reloadInterval} seconds.
 *
 * <pre>{@code <Listener className="org.apache.catalina.core.AprLifecycleListener"/>
 * <Listener className="org.gpcguard.tomcat9.GpcGuardListener" config="/etc/gpcguard/provider.toml"/>}</pre>
 */
public final class GpcGuardListener implements LifecycleListener {
    private static final Logger LOG = Logger.getLogger(GpcGuardListener.class.getName());

    private static volatile Guard shared;

    private String config;
    private int reloadInterval;
    private Guard guard;
    private Server server;
    private ScheduledExecutorService reloader;
    private ObjectName mbeanName;
    private final AtomicLong reloads = new AtomicLong();
    private volatile String lastReloadError = "";
    /**
     * The native contexts that have the policy, by the Java object that owns each (Tomcat's
     * OpenSSLContext): weak, so a context Tomcat dropped is forgotten with it.
     */
    private final Map<Object, Long> applied = new WeakHashMap<>();

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

    static Guard requireGuard() {
        Guard g = shared;
        if (g == null) {
            throw new IllegalStateException("no gpcguard guard: add <Listener className=\"" + GpcGuardListener.class.getName()
                    + "\" config=\"/etc/gpcguard/provider.toml\"/> under <Server>");
        }
        return g;
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
                break;
            case Lifecycle.AFTER_INIT_EVENT:
                applyToNativeContexts(true);
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

    /** Refuses to go on, removing the connectors first so nothing is served while Tomcat stops. */
    private RuntimeException failStartup(String message, Throwable cause) {
        LOG.log(Level.SEVERE, message, cause);
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
        LOG.info("gpcguard " + Guard.version() + " loaded " + config);
    }

    /** tcnative's context struct begins {apr_pool_t *pool; SSL_CTX *ctx;} in every version since 1.1.34. */
    private static void requireKnownTcnative() {
        int major = Library.TCN_MAJOR_VERSION;
        int minor = Library.TCN_MINOR_VERSION;
        int patch = Library.TCN_PATCH_VERSION;
        boolean known = (major == 1 && (minor > 1 || (minor == 1 && patch >= 34))) || major == 2;
        if (!known) {
            throw new IllegalStateException("tcnative " + major + "." + minor + "." + patch
                    + " is not a version gpcguard knows (1.1.34 to 2.x); is the AprLifecycleListener before the GpcGuardListener?");
        }
    }

    /**
     * Applies the policy to each TLS SSLHostConfig's native context that has not had it yet and,
     * at startup, puts {@link GuardedSni} between tcnative and each connector's endpoint.
     */
    private synchronized void applyToNativeContexts(boolean starting) {
        try {
            requireKnownTcnative();
        } catch (RuntimeException | LinkageError e) {
            if (starting) {
                throw failStartup("GpcGuardListener: " + e.getMessage(), e);
            }
            LOG.severe("gpcguard: " + e.getMessage());
            return;
        }
        for (Service service : server.findServices()) {
            for (Connector connector : service.findConnectors()) {
                ProtocolHandler ph = connector.getProtocolHandler();
                if (!(ph instanceof AbstractHttp11Protocol) || !((AbstractHttp11Protocol<?>) ph).isSSLEnabled()) {
                    continue; // plain connectors: the Valve refuses their requests (no certificate, 496)
                }
                AbstractHttp11Protocol<?> http = (AbstractHttp11Protocol<?>) ph;
                for (SSLHostConfig c : http.findSslHostConfigs()) {
                    String where = "connector port " + connector.getPort() + " host " + c.getHostName();
                    String failure = applyOnce(c, where, !starting);
                    if (failure != null) {
                        if (starting) {
                            throw failStartup("GpcGuardListener: " + failure, null);
                        }
                        LOG.severe("gpcguard: " + failure);
                    }
                }
                if (starting) {
                    guardSni(connector, http);
                }
            }
        }
    }

    /**
     * Applies the policy to the native context of {@code c} unless it has it already (contexts are
     * known by their Java object, so a freed context's address reused by a new one is applied
     * anew). Returns null when the context carries the policy, else why not.
     */
    private synchronized String applyOnce(SSLHostConfig c, String where, boolean recreated) {
        Long ctx = c.getOpenSslContext();
        Object owner = null;
        for (SSLHostConfigCertificate cert : c.getCertificates()) {
            owner = cert.getSslContext();
            break;
        }
        if (ctx == null || ctx == 0 || owner == null) {
            return where + " has no native (OpenSSL) context: use Http11AprProtocol with the AprLifecycleListener";
        }
        if (ctx.equals(applied.get(owner))) {
            return null;
        }
        try {
            guard.applyToTcnativeContext(ctx);
        } catch (GpcGuardException | RuntimeException e) {
            LOG.log(Level.SEVERE, "gpcguard: the policy could not be applied to " + where, e);
            return "the policy could not be applied to " + where + ": " + e.getMessage();
        }
        applied.put(owner, ctx);
        LOG.info("gpcguard policy applied to the " + (recreated ? "re-created " : "") + "native SSL_CTX of " + where
                + " (tcnative " + Library.TCN_MAJOR_VERSION + "." + Library.TCN_MINOR_VERSION + "." + Library.TCN_PATCH_VERSION + ")");
        return null;
    }

    /**
     * Every APR connection starts on the context its connector had at bind (gpcguard's); tcnative
     * then asks the endpoint, by the client's server name, for the context to move the connection
     * to. After {@code reloadSslHostConfigs} that is a context Tomcat just made with only its own
     * settings, so the listener answers in the endpoint's place: the endpoint's choice once the
     * policy is on it, else 0 (the connection stays on the context it started on, which has it).
     */
    @SuppressWarnings("deprecation") // tcnative's Java API, deprecated in Tomcat 9 as 10.1 drops APR; this route needs it
    private void guardSni(Connector connector, AbstractHttp11Protocol<?> http) {
        String where = "connector port " + connector.getPort();
        try {
            Method getEndpoint = AbstractProtocol.class.getDeclaredMethod("getEndpoint");
            getEndpoint.setAccessible(true);
            Object endpoint = getEndpoint.invoke(http);
            SSLHostConfig first = null;
            for (SSLHostConfig c : http.findSslHostConfigs()) {
                if (c.getHostName().equals(http.getDefaultSSLHostConfigName())) {
                    first = c;
                }
            }
            if (!(endpoint instanceof SSLContext.SNICallBack) || first == null || first.getOpenSslContext() == null) {
                throw failStartup("GpcGuardListener: " + where + " is not an APR endpoint with a default SSLHostConfig", null);
            }
            SSLContext.registerDefault(first.getOpenSslContext(), new GuardedSni((SSLContext.SNICallBack) endpoint, http, where));
        } catch (ReflectiveOperationException | RuntimeException e) {
            if (e instanceof IllegalStateException) {
                throw (IllegalStateException) e;
            }
            throw failStartup("GpcGuardListener: the server-name lookup of " + where + " could not be guarded: " + e, e);
        }
    }

    /** tcnative's server-name callback for one connector (see guardSni). */
    private final class GuardedSni implements SSLContext.SNICallBack {
        private final SSLContext.SNICallBack endpoint;
        private final AbstractHttp11Protocol<?> http;
        private final String where;

        GuardedSni(SSLContext.SNICallBack endpoint, AbstractHttp11Protocol<?> http, String where) {
            this.endpoint = endpoint;
            this.http = http;
            this.where = where;
        }

        @Override
        public long getSslContext(String sniHostName) {
            try {
                long ctx = endpoint.getSslContext(sniHostName);
                if (ctx == 0) {
                    return 0;
                }
                for (SSLHostConfig c : http.findSslHostConfigs()) {
                    Long own = c.getOpenSslContext();
                    if (own != null && own == ctx) {
                        return applyOnce(c, where + " host " + c.getHostName(), true) == null ? ctx : 0;
                    }
                }
                LOG.severe("gpcguard: " + where + " chose a native context no SSLHostConfig owns; the connection stays on its first context");
                return 0;
            } catch (RuntimeException | Error e) {
                LOG.log(Level.SEVERE, "gpcguard: the server-name lookup failed; the connection stays on its first context", e);
                return 0;
            }
        }
    }

    private void startReloads() {
        try {
            MBeanServer mbs = ManagementFactory.getPlatformMBeanServer();
            mbeanName = new ObjectName("org.gpcguard:type=GpcGuard");
            if (!mbs.isRegistered(mbeanName)) {
                mbs.registerMBean(new GpcGuardControl(this), mbeanName);
            }
        } catch (Exception e) {
            LOG.log(Level.WARNING, "gpcguard: the JMX reload operation could not be registered", e);
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

    /** Re-reads the configuration's files (a failure keeps the old state) and re-applies the policy to re-created contexts. */
    public void reload() throws Exception {
        try {
            guard.reload();
            reloads.incrementAndGet();
            lastReloadError = "";
        } catch (GpcGuardException e) {
            lastReloadError = e.getMessage();
            LOG.severe("gpcguard reload of " + config + " failed, the previous state stays in force: " + e.getMessage());
            throw new Exception(e.getMessage());
        } finally {
            applyToNativeContexts(false);
        }
    }

    public long getReloadCount() {
        return reloads.get();
    }

    public String getLastReloadError() {
        return lastReloadError;
    }
}
