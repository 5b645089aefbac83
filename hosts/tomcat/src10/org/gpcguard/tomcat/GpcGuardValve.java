package org.gpcguard.tomcat;

import jakarta.servlet.ServletException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.apache.catalina.Globals;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ValveBase;
import org.apache.tomcat.util.buf.ByteChunk;
import org.apache.tomcat.util.buf.MessageBytes;
import org.apache.tomcat.util.http.MimeHeaders;
import org.gpcguard.GpcGuardException;
import org.gpcguard.Guard;
import org.gpcguard.RequestBytes;
import org.gpcguard.Verdict;

/**
 * Per request (Engine, Host or Context): the client certificate again (the guard's current state,
 * so a reload reaches resumed and kept-alive connections; none: 496), then the request as
 * received (the raw request-target, never Tomcat's normalised path, and every header, repeats
 * kept) against the SSP header, interaction, JWT and scope rules. A refusal is answered here with
 * its status, application/fhir+json and the OperationOutcome, committed so no error page replaces
 * it. Cache-Control: no-store and HSTS go on every response, replacing the application's values.
 * The audit record of each request goes to the JULI logger {@code org.gpcguard.audit}; it never
 * holds the token or query values.
 *
 * <pre>{@code <Valve className="org.gpcguard.tomcat.GpcGuardValve"/>}</pre> uses the
 * GpcGuardListener's guard; {@code config="..."} gives the Valve its own.
 */
public final class GpcGuardValve extends ValveBase {
    private static final Logger LOG = Logger.getLogger(GpcGuardValve.class.getName());
    private static final ThreadLocal<RequestBytes> REQUEST = ThreadLocal.withInitial(RequestBytes::new);
    private static final byte[] INTERNAL_OUTCOME = ("{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\","
            + "\"code\":\"exception\",\"details\":{\"coding\":[{\"system\":\"https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1\","
            + "\"code\":\"INTERNAL_SERVER_ERROR\",\"display\":\"Internal server error\"}]},"
            + "\"diagnostics\":\"gpcguard could not judge the request\"}]}").getBytes(StandardCharsets.US_ASCII);

    private String config;
    private String auditLogger = "org.gpcguard.audit";
    private Guard own;
    private Guard guard;
    private Logger audit;
    private List<Map.Entry<String, String>> responseHeaders;

    public GpcGuardValve() {
        super(true);
    }

    /** A configuration of this Valve's own, instead of the listener's guard. */
    public void setConfig(String config) {
        this.config = config;
    }

    public String getConfig() {
        return config;
    }

    /** The JULI logger the audit records go to (default org.gpcguard.audit). */
    public void setAuditLogger(String name) {
        this.auditLogger = name;
    }

    public String getAuditLogger() {
        return auditLogger;
    }

    @Override
    protected synchronized void startInternal() throws LifecycleException {
        try {
            if (config != null && !config.isEmpty()) {
                own = Guard.fromFile(Path.of(config));
                guard = own;
            } else {
                guard = GpcGuardListener.requireGuard();
            }
            responseHeaders = Guard.responseHeaders();
        } catch (GpcGuardException e) {
            throw new LifecycleException("GpcGuardValve: the gpcguard configuration " + config + " is unusable: " + e.getMessage(), e);
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            throw new LifecycleException("GpcGuardValve: " + e.getMessage(), e);
        }
        audit = Logger.getLogger(auditLogger);
        super.startInternal();
    }

    @Override
    protected synchronized void stopInternal() throws LifecycleException {
        super.stopInternal();
        if (own != null) {
            own.close();
            own = null;
        }
    }

    @Override
    public void invoke(Request request, Response response) throws IOException, ServletException {
        setGuardHeaders(response);
        Verdict v;
        try {
            X509Certificate[] chain = (X509Certificate[]) request.getAttribute(Globals.CERTIFICATES_ATTR);
            v = guard.checkPeer(chain);
            if (v.allowed()) {
                v = guard.checkRequest(requestBytes(request.getMethod(), request.getCoyoteRequest()));
                audit.info(v.auditRecord());
            }
        } catch (Exception | Error e) {
            // Fail closed: no verdict, no access.
            LOG.log(Level.SEVERE, "gpcguard could not judge a request; refused with 500", e);
            refuse(response, 500, INTERNAL_OUTCOME);
            return;
        }
        if (!v.allowed()) {
            LOG.info("gpcguard refused " + v.httpStatus() + " " + v.reason() + " " + v.errorCode() + ": " + v.message());
            String outcome = v.operationOutcome();
            refuse(response, v.httpStatus(), outcome != null ? outcome.getBytes(StandardCharsets.UTF_8) : INTERNAL_OUTCOME);
            return;
        }
        getNext().invoke(request, response);
        if (!response.isCommitted()) {
            setGuardHeaders(response); // the application's own Cache-Control/HSTS are replaced
        }
    }

    private void setGuardHeaders(Response response) {
        if (!response.isCommitted()) {
            for (Map.Entry<String, String> h : responseHeaders) {
                response.setHeader(h.getKey(), h.getValue());
            }
        }
    }

    private void refuse(Response response, int status, byte[] body) throws IOException {
        if (response.isCommitted()) {
            return;
        }
        response.reset();
        response.setStatus(status);
        response.setContentType("application/fhir+json");
        response.setContentLength(body.length);
        setGuardHeaders(response);
        OutputStream out = response.getOutputStream();
        out.write(body);
        // Committed now: neither the ErrorReportValve nor an error page can replace it.
        response.flushBuffer();
    }

    /** The request as received: method, raw request-target (path and query), every header. */
    static RequestBytes requestBytes(String method, org.apache.coyote.Request coyote) {
        RequestBytes rb = REQUEST.get().clear();
        rb.method(method);
        MessageBytes uri = coyote.requestURI();
        if (uri.getType() == MessageBytes.T_BYTES) {
            ByteChunk b = uri.getByteChunk();
            rb.target(b.getBuffer(), b.getStart(), b.getLength());
        } else {
            rb.target(String.valueOf(uri.toString()));
        }
        MessageBytes query = coyote.queryString();
        if (!query.isNull()) {
            rb.appendToTarget("?");
            if (query.getType() == MessageBytes.T_BYTES) {
                ByteChunk b = query.getByteChunk();
                rb.appendToTarget(b.getBuffer(), b.getStart(), b.getLength());
            } else {
                rb.appendToTarget(query.toString());
            }
        }
        MimeHeaders headers = coyote.getMimeHeaders();
        for (int i = 0; i < headers.size(); i++) {
            MessageBytes name = headers.getName(i);
            MessageBytes value = headers.getValue(i);
            String n = name.getType() == MessageBytes.T_BYTES ? null : String.valueOf(name.toString());
            String val = value.getType() == MessageBytes.T_BYTES ? null : String.valueOf(value.toString());
            if (n == null && val == null) {
                ByteChunk nb = name.getByteChunk();
                ByteChunk vb = value.getByteChunk();
                rb.header(nb.getBuffer(), nb.getStart(), nb.getLength(), vb.getBuffer(), vb.getStart(), vb.getLength());
            } else {
                rb.header(n != null ? n : name.toString(), val != null ? val : value.toString());
            }
        }
        return rb;
    }
}
