import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;

/** The test application's metadata endpoint: it sets its own caching headers, which the Valve must replace. */
public class CacheControlServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.setHeader("Cache-Control", "public, max-age=3600");
        resp.setHeader("Strict-Transport-Security", "max-age=0");
        resp.setContentType("application/fhir+json");
        resp.getWriter().write("{\"resourceType\":\"CapabilityStatement\"}");
    }
}
