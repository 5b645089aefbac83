package org.gpcguard.tomcat;

import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.FilterConfig;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.gpcguard.GpcGuardException;
import org.gpcguard.Guard;
import org.gpcguard.RequestBytes;
import org.gpcguard.Verdict;

/**
 * The Valve's checks as a servlet Filter, for embedded hosts (Spring Boot, an embedded Tomcat)
 * where a Valve is out of reach: the client certificate again, then the request with its raw
 * request URI (getRequestURI is not decoded or normalised) and query, every header with repeats
 * (grouped by name: the Servlet API does not give their interleaving). Refusals and the guard
 * headers as the Valve writes them. Prefer the Valve where possible: it sees requests no filter
 * is mapped to, and the exact header order.
 *
 * The guard: {@link #GpcGuardFilter(Guard)}, else the init parameter {@code config} (a TOML file,
 * a guard of the filter's own), else the GpcGuardListener's.
 */
public final class GpcGuardFilter implements Filter {
    private static final Logger LOG = Logger.getLogger(GpcGuardFilter.class.getName());
    private static final String INTERNAL_OUTCOME = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\","
            + "\"code\":\"exception\",\"details\":{\"coding\":[{\"system\":\"https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1\","
            + "\"code\":\"INTERNAL_SERVER_ERROR\",\"display\":\"Internal server error\"}]},"
            + "\"diagnostics\":\"gpcguard could not judge the request\"}]}";
    private static final ThreadLocal<RequestBytes> REQUEST = ThreadLocal.withInitial(RequestBytes::new);

    private Guard guard;
    private Guard own;
    private Logger audit = Logger.getLogger("org.gpcguard.audit");
    private List<Map.Entry<String, String>> responseHeaders;

    public GpcGuardFilter() {}

    public GpcGuardFilter(Guard guard) {
        this.guard = guard;
    }

    @Override
    public void init(FilterConfig config) throws ServletException {
        try {
            String file = config.getInitParameter("config");
            if (guard == null && file != null && !file.isEmpty()) {
                own = Guard.fromFile(Path.of(file));
                guard = own;
            } else if (guard == null) {
                guard = GpcGuardListener.requireGuard();
            }
            String auditLogger = config.getInitParameter("auditLogger");
            if (auditLogger != null) {
                audit = Logger.getLogger(auditLogger);
            }
            responseHeaders = Guard.responseHeaders();
        } catch (GpcGuardException | RuntimeException | UnsatisfiedLinkError e) {
            throw new ServletException("GpcGuardFilter: " + e.getMessage(), e);
        }
    }

    @Override
    public void destroy() {
        if (own != null) {
            own.close();
        }
    }

    @Override
    public void doFilter(ServletRequest req, ServletResponse resp, FilterChain chain) throws IOException, ServletException {
        if (!(req instanceof HttpServletRequest) || !(resp instanceof HttpServletResponse)) {
            throw new ServletException("GpcGuardFilter guards HTTP requests only");
        }
        HttpServletRequest request = (HttpServletRequest) req;
        HttpServletResponse response = (HttpServletResponse) resp;
        setGuardHeaders(response);
        Verdict v;
        try {
            v = guard.checkPeer((X509Certificate[]) request.getAttribute("jakarta.servlet.request.X509Certificate"));
            if (v.allowed()) {
                v = guard.checkRequest(requestBytes(request));
                audit.info(v.auditRecord());
            }
        } catch (Exception | Error e) {
            LOG.log(Level.SEVERE, "gpcguard could not judge a request; refused with 500", e);
            refuse(response, 500, INTERNAL_OUTCOME);
            return;
        }
        if (!v.allowed()) {
            LOG.info("gpcguard refused " + v.httpStatus() + " " + v.reason() + " " + v.errorCode() + ": " + v.message());
            refuse(response, v.httpStatus(), v.operationOutcome() != null ? v.operationOutcome() : INTERNAL_OUTCOME);
            return;
        }
        chain.doFilter(req, resp);
        setGuardHeaders(response);
    }

    private void setGuardHeaders(HttpServletResponse response) {
        if (!response.isCommitted()) {
            for (Map.Entry<String, String> h : responseHeaders) {
                response.setHeader(h.getKey(), h.getValue());
            }
        }
    }

    private void refuse(HttpServletResponse response, int status, String outcome) throws IOException {
        if (response.isCommitted()) {
            return;
        }
        byte[] body = outcome.getBytes(StandardCharsets.UTF_8);
        response.reset();
        response.setStatus(status);
        response.setContentType("application/fhir+json");
        response.setContentLength(body.length);
        setGuardHeaders(response);
        response.getOutputStream().write(body);
        response.flushBuffer();
    }

    private static RequestBytes requestBytes(HttpServletRequest request) {
        RequestBytes rb = REQUEST.get().clear().method(request.getMethod()).target(request.getRequestURI());
        String query = request.getQueryString();
        if (query != null) {
            rb.appendToTarget("?").appendToTarget(query);
        }
        for (Enumeration<String> names = request.getHeaderNames(); names.hasMoreElements(); ) {
            String name = names.nextElement();
            for (Enumeration<String> values = request.getHeaders(name); values.hasMoreElements(); ) {
                rb.header(name, values.nextElement());
            }
        }
        return rb;
    }
}
