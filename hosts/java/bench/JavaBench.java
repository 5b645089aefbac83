import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.gpcguard.Guard;
import org.gpcguard.RequestBytes;
import org.gpcguard.Verdict;

/**
 * `make bench-java`: one allowed GP Connect request judged (a) through the JNI binding and (b) by
 * the same checks written in Java the way providers write them (Jackson + java.util.Base64).
 * Prints "jni NS" and "java NS" (median CPU ns/op of RUNS runs). Usage: JavaBench CONFIG TOKEN NOW RUNS
 */
public final class JavaBench {
    static final String ROOT = "/A20047/STU3/1/gpconnect";
    static final String PROVIDER = "918999198993";

    /** The checks a Java provider writes by hand: SSP headers, interaction, JWT envelope and claims, scope. */
    static final class JavaCheck {
        private static final Pattern UUID = Pattern.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
        private static final Pattern ASID = Pattern.compile("[0-9]{1,12}");
        private static final Pattern PATIENT_READ = Pattern.compile(Pattern.quote(ROOT) + "/Patient/[A-Za-z0-9\\-.]{1,64}");
        private static final Map<String, String> INTERACTIONS = Map.of(
                "urn:nhs:names:services:gpconnect:fhir:rest:read:patient-1", "GET patient/*.read");
        private final ObjectMapper mapper = new ObjectMapper();

        boolean check(String method, String target, List<String[]> headers, long now) throws Exception {
            String trace = null, from = null, to = null, iid = null, auth = null;
            for (String[] h : headers) {
                String n = h[0].toLowerCase();
                switch (n) {
                    case "ssp-traceid": if (trace != null) return false; trace = h[1]; break;
                    case "ssp-from": if (from != null) return false; from = h[1]; break;
                    case "ssp-to": if (to != null) return false; to = h[1]; break;
                    case "ssp-interactionid": if (iid != null) return false; iid = h[1]; break;
                    case "authorization": if (auth != null) return false; auth = h[1]; break;
                    default: break;
                }
            }
            if (trace == null || !UUID.matcher(trace).matches() || from == null || !ASID.matcher(from).matches()
                    || to == null || !to.equals(PROVIDER) || iid == null) {
                return false;
            }
            String rule = INTERACTIONS.get(iid);
            if (rule == null || !rule.startsWith(method + " ")) {
                return false;
            }
            int q = target.indexOf('?');
            String path = q < 0 ? target : target.substring(0, q);
            if (path.contains("/./") || path.contains("/../") || !PATIENT_READ.matcher(path).matches()) {
                return false;
            }
            if (auth == null || !auth.startsWith("Bearer ")) {
                return false;
            }
            String[] parts = auth.substring(7).split("\\.", -1);
            if (parts.length != 3 || !parts[2].isEmpty()) {
                return false;
            }
            Base64.Decoder b64 = Base64.getUrlDecoder();
            JsonNode header = mapper.readTree(b64.decode(parts[0]));
            if (!"none".equals(header.path("alg").asText(null)) || !"JWT".equals(header.path("typ").asText(null))) {
                return false;
            }
            JsonNode c = mapper.readTree(b64.decode(parts[1]));
            if (!c.path("iss").isTextual() || !c.path("sub").isTextual() || !c.path("aud").isTextual()
                    || !c.path("exp").canConvertToLong() || !c.path("iat").canConvertToLong()) {
                return false;
            }
            long exp = c.get("exp").asLong(), iat = c.get("iat").asLong();
            if (exp <= now || exp - iat != 300 || iat > now + 60) {
                return false;
            }
            if (!"directcare".equals(c.path("reason_for_request").asText(null))
                    || !rule.endsWith(" " + c.path("requested_scope").asText(""))) {
                return false;
            }
            JsonNode device = c.path("requesting_device");
            if (!"Device".equals(device.path("resourceType").asText(null)) || !identifiers(device.path("identifier"))
                    || !device.path("model").isTextual() || !device.path("version").isTextual()) {
                return false;
            }
            JsonNode org = c.path("requesting_organization");
            if (!"Organization".equals(org.path("resourceType").asText(null)) || !identifiers(org.path("identifier"))
                    || !org.path("name").isTextual()) {
                return false;
            }
            JsonNode prac = c.path("requesting_practitioner");
            if (!"Practitioner".equals(prac.path("resourceType").asText(null)) || !prac.path("id").isTextual()
                    || !identifiers(prac.path("identifier")) || !prac.path("name").isArray()) {
                return false;
            }
            boolean userId = false;
            for (JsonNode id : prac.path("identifier")) {
                userId |= "https://fhir.nhs.uk/Id/sds-user-id".equals(id.path("system").asText(null));
            }
            return userId && c.path("sub").asText().equals(prac.path("id").asText());
        }

        private static boolean identifiers(JsonNode ids) {
            if (!ids.isArray() || ids.size() == 0) {
                return false;
            }
            for (JsonNode id : ids) {
                if (!id.path("system").isTextual() || !id.path("value").isTextual()) {
                    return false;
                }
            }
            return true;
        }
    }

    interface Op {
        boolean run() throws Exception;
    }

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    /** Median CPU ns/op of this thread (the machine may be shared; JIT and GC threads not counted). */
    static double medianNs(Op op, int runs, int n) throws Exception {
        for (int i = 0; i < n; i++) {
            if (!op.run()) {
                throw new IllegalStateException("refused during warm-up");
            }
        }
        double[] t = new double[runs];
        for (int r = 0; r < runs; r++) {
            long start = THREADS.getCurrentThreadCpuTime();
            for (int i = 0; i < n; i++) {
                if (!op.run()) {
                    throw new IllegalStateException("refused");
                }
            }
            t[r] = (THREADS.getCurrentThreadCpuTime() - start) / (double) n;
        }
        Arrays.sort(t);
        return t[runs / 2];
    }

    public static void main(String[] args) throws Exception {
        String token = args[1];
        long now = Long.parseLong(args[2]);
        int runs = Integer.parseInt(args[3]);
        String target = ROOT + "/Patient/2";
        List<String[]> headers = new ArrayList<>();
        headers.add(new String[] {"Ssp-TraceID", "09a01679-2564-0fb4-5129-aecc81ea2706"});
        headers.add(new String[] {"Ssp-From", "200000000359"});
        headers.add(new String[] {"Ssp-To", PROVIDER});
        headers.add(new String[] {"Ssp-InteractionID", "urn:nhs:names:services:gpconnect:fhir:rest:read:patient-1"});
        headers.add(new String[] {"Authorization", "Bearer " + token});
        headers.add(new String[] {"Host", "provider.example"});
        byte[][][] raw = new byte[headers.size()][][];
        for (int i = 0; i < raw.length; i++) {
            raw[i] = new byte[][] {headers.get(i)[0].getBytes(StandardCharsets.ISO_8859_1), headers.get(i)[1].getBytes(StandardCharsets.ISO_8859_1)};
        }
        byte[] method = "GET".getBytes(StandardCharsets.ISO_8859_1);
        byte[] tgt = target.getBytes(StandardCharsets.ISO_8859_1);
        try (Guard guard = Guard.fromFile(Path.of(args[0]))) {
            RequestBytes rb = new RequestBytes();
            double jni = medianNs(() -> {
                rb.clear().method(method, 0, method.length).target(tgt, 0, tgt.length);
                for (byte[][] h : raw) {
                    rb.header(h[0], 0, h[0].length, h[1], 0, h[1].length);
                }
                Verdict v = guard.checkRequest(rb, now);
                return v.allowed();
            }, runs, 100_000);
            JavaCheck java = new JavaCheck();
            double j = medianNs(() -> java.check("GET", target, headers, now), runs, 100_000);
            System.out.printf("jni %.0f%njava %.0f%n", jni, j);
        }
    }
}
