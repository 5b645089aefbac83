import java.io.File;
import java.io.IOException;
import java.util.logging.FileHandler;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import javax.servlet.http.HttpServlet;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;
import org.apache.catalina.Context;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.core.AprLifecycleListener;
import org.apache.catalina.servlets.DefaultServlet;
import org.apache.catalina.startup.Tomcat;
import org.apache.tomcat.util.descriptor.web.FilterDef;
import org.apache.tomcat.util.descriptor.web.FilterMap;
import org.gpcguard.tomcat9.GpcGuardFilter;
import org.gpcguard.tomcat9.GpcGuardListener;
import org.gpcguard.tomcat9.GpcGuardValve;

/**
 * An embedded Tomcat 9 as the GP Connect reference provider runs it, from Debian's jars: the APR
 * connector with the security page's own attributes, the gpcguard listener and Valve, and a
 * context "/filtered" guarded by the javax Filter instead. Usage:
 *   Tomcat9Main BASE PKI CONFIG TLS_PORT PLAIN_PORT WEBROOT [RELOAD_INTERVAL]
 * (the listener's reloadInterval, 1 second unless given).
 */
public final class Tomcat9Main {
    /** The test application's metadata endpoint: it sets its own caching headers, which gpcguard replaces. */
    public static final class Metadata extends HttpServlet {
        private static final long serialVersionUID = 1L;

        @Override
        protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
            resp.setHeader("Cache-Control", "public, max-age=3600");
            resp.setHeader("Strict-Transport-Security", "max-age=0");
            resp.setContentType("application/fhir+json");
            resp.getWriter().write("{\"resourceType\":\"CapabilityStatement\"}");
        }
    }

    public static void main(String[] args) throws Exception {
        String base = args[0], pki = args[1], config = args[2], webroot = args[5];
        int tlsPort = Integer.parseInt(args[3]), plainPort = Integer.parseInt(args[4]);

        Logger audit = Logger.getLogger("org.gpcguard.audit");
        FileHandler auditFile = new FileHandler(base + "/gpcguard-audit.log", true);
        auditFile.setFormatter(new SimpleFormatter());
        audit.addHandler(auditFile);
        audit.setUseParentHandlers(false);

        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(base);
        tomcat.getServer().addLifecycleListener(new AprLifecycleListener());
        GpcGuardListener guard = new GpcGuardListener();
        guard.setConfig(config);
        guard.setReloadInterval(args.length > 6 ? Integer.parseInt(args[6]) : 1);
        tomcat.getServer().addLifecycleListener(guard);

        // The security page's Tomcat/APR example, attribute for attribute.
        Connector tls = new Connector("org.apache.coyote.http11.Http11AprProtocol");
        tls.setPort(tlsPort);
        tls.setProperty("address", "127.0.0.1");
        tls.setScheme("https");
        tls.setSecure(true);
        tls.setProperty("SSLEnabled", "true");
        tls.setProperty("SSLCertificateFile", pki + "/server.pem");
        tls.setProperty("SSLCertificateKeyFile", pki + "/server.key");
        tls.setProperty("SSLCertificateChainFile", pki + "/sub-ca.pem");
        tls.setProperty("SSLCipherSuite", "AESGCM+EECDH,AESGCM+EDH,AES256+EECDH,AES256+EDH");
        tls.setProperty("SSLHonorCipherOrder", "true");
        tls.setProperty("SSLProtocol", "TLSv1.2");
        tls.setProperty("SSLVerifyClient", "require");
        tomcat.setConnector(tls);
        Connector plain = new Connector("org.apache.coyote.http11.Http11NioProtocol");
        plain.setPort(plainPort);
        plain.setProperty("address", "127.0.0.1");
        tomcat.getService().addConnector(plain);

        Context root = tomcat.addContext("", new File(webroot).getAbsolutePath());
        root.getPipeline().addValve(new GpcGuardValve());
        Tomcat.addServlet(root, "default", new DefaultServlet());
        root.addServletMappingDecoded("/", "default");
        Tomcat.addServlet(root, "metadata", new Metadata());
        root.addServletMappingDecoded("/A20047/STU3/1/gpconnect/metadata", "metadata");

        Context filtered = tomcat.addContext("/filtered", new File(webroot).getAbsolutePath());
        Tomcat.addServlet(filtered, "default", new DefaultServlet());
        filtered.addServletMappingDecoded("/", "default");
        FilterDef def = new FilterDef();
        def.setFilterName("gpcguard");
        def.setFilter(new GpcGuardFilter());
        filtered.addFilterDef(def);
        FilterMap map = new FilterMap();
        map.setFilterName("gpcguard");
        map.addURLPattern("/*");
        filtered.addFilterMap(map);

        tomcat.start();
        tomcat.getServer().await();
    }
}
