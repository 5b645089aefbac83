package org.gpcguard.tomcat;

import java.net.Socket;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import org.gpcguard.Guard;
import org.gpcguard.Verdict;

/**
 * The JSSE TrustManager the listener installs on every guarded SSLHostConfig
 * (trustManagerClassName): each client chain is judged by gpcguard (gpcguard_check_peer_der:
 * chain to the Spine trust anchors, validity, CRLs, clientAuth, SSP FQDN) on the guard's current
 * state, so a reload takes effect at the next full handshake. JSSE resumes sessions without
 * calling it: the Valve's per-request re-check covers resumed and kept-alive connections.
 */
public final class GpcGuardTrustManager extends X509ExtendedTrustManager {
    private static final Logger LOG = Logger.getLogger(GpcGuardTrustManager.class.getName());

    /** Tomcat instantiates this by name; the guard is the listener's. */
    public GpcGuardTrustManager() {
        GpcGuardListener.requireGuard();
    }

    private static void judge(X509Certificate[] chain) throws CertificateException {
        Verdict v;
        try {
            v = GpcGuardListener.requireGuard().checkPeer(chain);
        } catch (Exception | Error e) {
            // Fail closed: no verdict, no handshake.
            LOG.log(Level.SEVERE, "gpcguard could not judge a client certificate; refused", e);
            throw new CertificateException("gpcguard could not judge the client certificate", e);
        }
        if (!v.allowed()) {
            LOG.info("gpcguard refused a client certificate at the handshake: " + v.reason() + ": " + v.message());
            throw new CertificateException(v.reason() + ": " + v.message());
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        judge(chain);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        judge(chain);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        judge(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        throw new CertificateException("gpcguard judges client certificates only");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        throw new CertificateException("gpcguard judges client certificates only");
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
        throw new CertificateException("gpcguard judges client certificates only");
    }

    /** The trust anchors now loaded: the CA names the server asks clients for. */
    @Override
    public X509Certificate[] getAcceptedIssuers() {
        try {
            Guard g = GpcGuardListener.requireGuard();
            return g.trustAnchors();
        } catch (Exception | Error e) {
            LOG.log(Level.WARNING, "gpcguard trust anchors unavailable", e);
            return new X509Certificate[0];
        }
    }
}
