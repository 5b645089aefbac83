package org.gpcguard.tomcat9;

import java.lang.reflect.Method;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.logging.Level;
import java.util.logging.Logger;
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
import org.apache.tomcat.util.net.openssl.OpenSSLContext;
import org.gpcguard.GpcGuardException;

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
public final class GpcGuardListener extends GpcGuardListenerBase {
    private static final Logger LOG = Logger.getLogger(GpcGuardListener.class.getName());

    /**
     * The native contexts that have the policy, by the Java object that owns each (Tomcat's
     * OpenSSLContext): weak, so a context Tomcat dropped is forgotten with it.
     */
    private final Map<Object, Boolean> applied = new WeakHashMap<>();

    @Override
    protected void afterInit(Server server) {
        applyToNativeContexts(true);
    }

    /** Also applies the policy to any context Tomcat re-created that no connection has reached yet. */
    @Override
    protected void afterReload() {
        applyToNativeContexts(false);
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
        for (Service service : server().findServices()) {
            for (Connector connector : service.findConnectors()) {
                ProtocolHandler ph = connector.getProtocolHandler();
                if (!(ph instanceof AbstractHttp11Protocol) || !((AbstractHttp11Protocol<?>) ph).isSSLEnabled()) {
                    continue; // plain connectors: the Valve refuses their requests (no certificate, 496)
                }
                AbstractHttp11Protocol<?> http = (AbstractHttp11Protocol<?>) ph;
                for (SSLHostConfig c : http.findSslHostConfigs()) {
                    String where = "connector port " + connector.getPort() + " host " + c.getHostName();
                    Long ctx = applyOnce(c, where, !starting);
                    if (starting && (ctx == null || !ctx.equals(c.getOpenSslContext()))) {
                        throw failStartup("GpcGuardListener: the policy could not be applied to the native context of " + where
                                + " (see above); nothing is served without it", null);
                    }
                }
                if (starting) {
                    guardSni(connector, http);
                }
            }
        }
    }

    /**
     * Tomcat's OpenSSLContext owning the native context of {@code c}, and that context's address
     * as the owner itself holds it (its package-private getSSLContextID()): read from one object,
     * so a context Tomcat is replacing never pairs the new address with the old owner.
     */
    private static final class Owned {
        final Object owner;
        final long ctx;

        Owned(Object owner, long ctx) {
            this.owner = owner;
            this.ctx = ctx;
        }
    }

    private static Owned owned(SSLHostConfig c) throws ReflectiveOperationException {
        for (SSLHostConfigCertificate cert : c.getCertificates()) {
            Object owner = cert.getSslContext();
            if (!(owner instanceof OpenSSLContext)) {
                return null;
            }
            Method id = OpenSSLContext.class.getDeclaredMethod("getSSLContextID");
            id.setAccessible(true);
            long ctx = (Long) id.invoke(owner);
            return ctx == 0 ? null : new Owned(owner, ctx);
        }
        return null;
    }

    /**
     * Applies the policy to the native context of {@code c} unless it has it already (contexts are
     * known by their owner, so a freed context's address reused by a new one is applied anew, and
     * none is applied twice: applying replaces what handshakes in flight use). Returns the
     * context once it carries the policy, else null with the reason logged.
     */
    private synchronized Long applyOnce(SSLHostConfig c, String where, boolean recreated) {
        Owned o;
        try {
            o = owned(c);
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.log(Level.SEVERE, "gpcguard: the native context of " + where + " cannot be identified", e);
            return null;
        }
        if (o == null) {
            LOG.severe("gpcguard: " + where + " has no native (OpenSSL) context: use Http11AprProtocol with the AprLifecycleListener");
            return null;
        }
        if (applied.containsKey(o.owner)) {
            return o.ctx;
        }
        try {
            guard().applyToTcnativeContext(o.ctx);
        } catch (GpcGuardException | RuntimeException e) {
            LOG.log(Level.SEVERE, "gpcguard: the policy could not be applied to " + where, e);
            return null;
        }
        applied.put(o.owner, Boolean.TRUE);
        LOG.info("gpcguard policy applied to the " + (recreated ? "re-created " : "") + "native SSL_CTX of " + where
                + " (tcnative " + Library.TCN_MAJOR_VERSION + "." + Library.TCN_MINOR_VERSION + "." + Library.TCN_PATCH_VERSION + ")");
        return o.ctx;
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
            Owned start = owned(first);
            if (start == null) {
                throw failStartup("GpcGuardListener: " + where + " has no native context owned by Tomcat's OpenSSLContext", null);
            }
            SSLContext.registerDefault(first.getOpenSslContext(), new GuardedSni((SSLContext.SNICallBack) endpoint, http, where, start.owner));
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
        /**
         * The Java owner of the context every connection starts on. The endpoint keeps only its
         * address, and once reloadSslHostConfigs replaces it in the SSLHostConfig nothing else
         * would: its finalizer would free the context new connections still start on.
         */
        private final Object startContext;

        GuardedSni(SSLContext.SNICallBack endpoint, AbstractHttp11Protocol<?> http, String where, Object startContext) {
            this.endpoint = endpoint;
            this.http = http;
            this.where = where;
            this.startContext = startContext;
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
                        Long guarded = applyOnce(c, where + " host " + c.getHostName(), true);
                        return guarded != null && guarded == ctx ? ctx : 0;
                    }
                }
                // Tomcat is between making a context and handing it to its SSLHostConfig, or has
                // an owner we cannot see: nothing with the policy to move to.
                LOG.warning("gpcguard: " + where + " chose a native context without the policy; the connection stays on its first context");
                return 0;
            } catch (RuntimeException | Error e) {
                LOG.log(Level.SEVERE, "gpcguard: the server-name lookup failed; the connection stays on its first context", e);
                return 0;
            }
        }
    }
}
