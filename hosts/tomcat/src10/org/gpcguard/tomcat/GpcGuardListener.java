package org.gpcguard.tomcat;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
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
import org.apache.coyote.ProtocolHandler;
import org.apache.coyote.http11.AbstractHttp11JsseProtocol;
import org.apache.coyote.http11.AbstractHttp11Protocol;
import org.apache.tomcat.util.net.SSLHostConfig;
import org.apache.tomcat.util.net.openssl.ciphers.OpenSSLCipherConfigurationParser;
import org.gpcguard.GpcGuardException;
import org.gpcguard.Guard;

/**
 * Tomcat 10.1 (JSSE): loads the gpcguard configuration and forces the GP Connect TLS policy onto
 * every TLS connector's SSLHostConfigs whatever server.xml says (spec "TLS mutual authentication"):
 * TLS 1.2 only, gpcguard_cipher_list() as JSSE names in server order, a required client
 * certificate judged by {@link GpcGuardTrustManager}, client-initiated renegotiation refused.
 * A bad configuration fails startup with the key and file named. Reload by JMX
 * (org.gpcguard:type=GpcGuard, operation reload) or every {@code reloadInterval} seconds.
 *
 * <pre>{@code <Listener className="org.gpcguard.tomcat.GpcGuardListener" config="/etc/gpcguard/provider.toml"/>}</pre>
 */
public final class GpcGuardListener implements LifecycleListener {
    private static final Logger LOG = Logger.getLogger(GpcGuardListener.class.getName());
    private static final String JSSE = "org.apache.tomcat.util.net.jsse.JSSEImplementation";
    static final String PROTOCOL = "TLSv1.2";

    /** The guard of the listener of this JVM (one per Tomcat), for the TrustManager and the Valves. */
    private static volatile Guard shared;

    private String config;
    private int reloadInterval;
    private Guard guard;
    private ScheduledExecutorService reloader;
    private ObjectName mbeanName;
    private final AtomicLong reloads = new AtomicLong();
    private volatile String lastReloadError = "";
    private final List<SSLHostConfig> guarded = new ArrayList<>();
    private Server server;

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
            throw new IllegalStateException("no gpcguard guard: add <Listener className=\"" + GpcGuardListener.class.getName()
                    + "\" config=\"/etc/gpcguard/provider.toml\"/> under <Server>");
        }
        return g;
    }

    static Guard sharedGuard() {
        return shared;
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
                forcePolicy(server);
                break;
            case Lifecycle.AFTER_INIT_EVENT:
                verifyPolicy();
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

    /** The JSSE names of the policy's cipher string, TLS 1.2 suites only, in the policy's order. */
    static List<String> jsseCiphers() {
        List<String> out = new ArrayList<>();
        for (String name : OpenSSLCipherConfigurationParser.parseExpression(Guard.cipherList())) {
            if (!OpenSSLCipherConfigurationParser.isTls13Cipher(name)) {
                out.add(name);
            }
        }
        return out;
    }

    private void forcePolicy(Server server) {
        // Read once by JSSE when its first server handshake runs: set before any connector starts.
        System.setProperty("jdk.tls.rejectClientInitiatedRenegotiation", "true");
        String ciphers = String.join(",", jsseCiphers());
        for (Service service : server.findServices()) {
            for (Connector connector : service.findConnectors()) {
                ProtocolHandler ph = connector.getProtocolHandler();
                if (!(ph instanceof AbstractHttp11Protocol) || !((AbstractHttp11Protocol<?>) ph).isSSLEnabled()) {
                    continue; // plain connectors: the Valve refuses their requests (no certificate, 496)
                }
                AbstractHttp11Protocol<?> http = (AbstractHttp11Protocol<?>) ph;
                if (!(ph instanceof AbstractHttp11JsseProtocol)) {
                    throw failStartup("GpcGuardListener: connector port " + connector.getPort() + " ("
                            + ph.getClass().getName() + ") is not a JSSE connector; use Http11NioProtocol", null);
                }
                ((AbstractHttp11JsseProtocol<?>) ph).setSslImplementationName(JSSE);
                for (SSLHostConfig c : http.findSslHostConfigs()) {
                    c.setProtocols(PROTOCOL);
                    c.setCiphers(ciphers);
                    c.setHonorCipherOrder(true);
                    c.setCertificateVerification("required");
                    c.setTrustManagerClassName(GpcGuardTrustManager.class.getName());
                    c.setCertificateRevocationListFile(null);
                    c.setCertificateRevocationListPath(null);
                    c.setDisableSessionTickets(true);
                    guarded.add(c);
                    LOG.info("gpcguard policy forced on connector port " + connector.getPort() + " host "
                            + c.getHostName() + ": " + PROTOCOL + ", ciphers " + ciphers
                            + ", client certificate required");
                }
            }
        }
    }

    /** After the connectors' init: what JSSE actually enabled must be the policy, or startup fails. */
    private void verifyPolicy() {
        Set<String> allowed = new HashSet<>(jsseCiphers());
        for (SSLHostConfig c : guarded) {
            String[] protocols = c.getEnabledProtocols();
            String[] ciphers = c.getEnabledCiphers();
            if (protocols == null || !Arrays.equals(protocols, new String[] {PROTOCOL})) {
                throw failStartup("GpcGuardListener: host " + c.getHostName() + " enabled protocols "
                        + Arrays.toString(protocols) + ", not exactly " + PROTOCOL, null);
            }
            List<String> tls12 = new ArrayList<>();
            for (String name : ciphers == null ? new String[0] : ciphers) {
                if (!OpenSSLCipherConfigurationParser.isTls13Cipher(name)) {
                    tls12.add(name); // TLS 1.3 suites are inert: the protocol is off
                }
            }
            if (tls12.isEmpty() || !allowed.containsAll(tls12)) {
                throw failStartup("GpcGuardListener: host " + c.getHostName() + " enabled ciphers "
                        + Arrays.toString(ciphers) + " outside the Spine list", null);
            }
            if (!GpcGuardTrustManager.class.getName().equals(c.getTrustManagerClassName())) {
                throw failStartup("GpcGuardListener: host " + c.getHostName() + " lost the gpcguard TrustManager", null);
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

    /** Re-reads the configuration's files; a failure keeps the old state, is logged and thrown. */
    public void reload() throws Exception {
        try {
            guard.reload();
            reloads.incrementAndGet();
            lastReloadError = "";
            LOG.fine("gpcguard reloaded " + config);
        } catch (GpcGuardException e) {
            lastReloadError = e.getMessage();
            LOG.severe("gpcguard reload of " + config + " failed, the previous state stays in force: " + e.getMessage());
            throw new Exception(e.getMessage());
        }
    }

    public long getReloadCount() {
        return reloads.get();
    }

    public String getLastReloadError() {
        return lastReloadError;
    }
}
