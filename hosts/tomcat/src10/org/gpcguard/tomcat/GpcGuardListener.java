package org.gpcguard.tomcat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.logging.Logger;
import org.apache.catalina.Server;
import org.apache.catalina.Service;
import org.apache.catalina.connector.Connector;
import org.apache.coyote.ProtocolHandler;
import org.apache.coyote.http11.AbstractHttp11JsseProtocol;
import org.apache.coyote.http11.AbstractHttp11Protocol;
import org.apache.tomcat.util.net.SSLHostConfig;
import org.apache.tomcat.util.net.openssl.ciphers.OpenSSLCipherConfigurationParser;
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
public final class GpcGuardListener extends GpcGuardListenerBase {
    private static final Logger LOG = Logger.getLogger(GpcGuardListener.class.getName());
    private static final String JSSE = "org.apache.tomcat.util.net.jsse.JSSEImplementation";
    static final String PROTOCOL = "TLSv1.2";

    private final List<SSLHostConfig> guarded = new ArrayList<>();

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

    @Override
    protected void beforeInit(Server server) {
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
    @Override
    protected void afterInit(Server server) {
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
}
