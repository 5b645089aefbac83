package org.gpcguard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The binding's verdicts equal the C ABI's for the same requests, field by field: the same
 * requests go through Guard.checkRequest (JNI) and through hosts/java/test/c/verdict_oracle.c
 * (gpcguard_check_request from C), every field compared as bytes.
 */
class OracleTest {
    private static final long NOW = System.currentTimeMillis() / 1000;

    private static final class Req {
        final String name;
        final byte[] method;
        final byte[] target;
        final List<byte[][]> headers = new ArrayList<>();

        Req(String name, String method, byte[] target, List<Map.Entry<String, String>> headers) {
            this.name = name;
            this.method = latin1(method);
            this.target = target;
            for (Map.Entry<String, String> h : headers) {
                this.headers.add(new byte[][] {latin1(h.getKey()), latin1(h.getValue())});
            }
        }

        Req header(byte[] name, byte[] value) {
            headers.add(new byte[][] {name, value});
            return this;
        }
    }

    static byte[] latin1(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    /** Every byte from 0x80 to 0xFF. */
    static byte[] highBytes() {
        byte[] b = new byte[128];
        for (int i = 0; i < 128; i++) {
            b[i] = (byte) (0x80 + i);
        }
        return b;
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static List<Req> requests() {
        String good = TestPki.token(NOW, 300, "patient/*.read", "Device");
        String read = "fhir:rest:read:patient-1";
        byte[] patient = latin1(TestPki.ROOT + "/Patient/2");
        List<Req> r = new ArrayList<>();
        r.add(new Req("allowed read", "GET", patient, TestPki.headers(read, good)));
        r.add(new Req("allowed search with a query", "GET",
                latin1(TestPki.ROOT + "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009"),
                TestPki.headers("fhir:rest:search:patient-1", good)));
        r.add(new Req("no Authorization", "GET", patient, TestPki.headers(read, null)));
        r.add(new Req("expired JWT", "GET", patient, TestPki.headers(read, TestPki.token(NOW, -60, "patient/*.read", "Device"))));
        r.add(new Req("invalid FHIR claim", "GET", patient, TestPki.headers(read, TestPki.token(NOW, 300, "patient/*.read", "Devise"))));
        r.add(new Req("wrong scope", "GET", patient, TestPki.headers(read, TestPki.token(NOW, 300, "patient/*.write", "Device"))));
        r.add(new Req("dot segments", "GET", latin1(TestPki.ROOT + "/Organization/../Patient/2"), TestPki.headers(read, good)));
        r.add(new Req("unknown interaction", "GET", patient, TestPki.headers("fhir:rest:read:nothing-1", good)));
        List<Map.Entry<String, String>> twice = TestPki.headers(read, good);
        twice.add(Map.entry("Ssp-To", TestPki.ASID_TO));
        r.add(new Req("repeated Ssp-To", "GET", patient, twice));
        r.add(new Req("bytes 0x80-0xFF in Ssp-TraceID", "GET", patient, TestPki.headers(read, good).subList(1, 5))
                .header(latin1("Ssp-TraceID"), highBytes()));
        r.add(new Req("bytes 0x80-0xFF in the Ssp-InteractionID", "GET", patient, TestPki.headers(read, good).subList(0, 3))
                .header(latin1("Ssp-InteractionID"), concat(latin1(TestPki.IID + ":"), highBytes()))
                .header(latin1("Authorization"), latin1("Bearer " + good)));
        r.add(new Req("bytes 0x80-0xFF in the path", "GET", concat(latin1(TestPki.ROOT + "/Patient/"), highBytes()),
                TestPki.headers(read, good)));
        r.add(new Req("bytes 0x80-0xFF in the query", "GET",
                concat(latin1(TestPki.ROOT + "/Patient?identifier="), highBytes()),
                TestPki.headers("fhir:rest:search:patient-1", good)));
        r.add(new Req(LARGE, "GET", patient, TestPki.headers(read, large(good))));
        return r;
    }

    /** A request whose verdict is larger than a RequestBytes' verdict buffer (2048 bytes), so the
     * library returns it in an array of its own: claim values of 200 non-ASCII characters, which
     * the audit record bounds to 128 and escapes as six bytes each. */
    private static final String LARGE = "a verdict larger than the request's verdict buffer";

    private static String large(String token) {
        String[] parts = token.split("\\.");
        String claims = new String(Base64.getUrlDecoder().decode(parts[1]), StandardCharsets.UTF_8);
        String big = "\u00e9".repeat(200);
        for (String v : new String[] {"A11111", "111111111", "22222222222222", "CONS-APP-4"}) {
            claims = claims.replace("\"" + v + "\"", "\"" + big + "\"");
        }
        return parts[0] + "." + TestPki.b64url(claims) + ".";
    }

    private static String hex(byte[] b) {
        if (b.length == 0) {
            return "=";
        }
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        return s.toString();
    }

    private static String hex(String s) {
        return s == null ? "-" : hex(s.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void verdictsEqualTheCAbis() throws Exception {
        List<Req> requests = requests();
        List<String> expected = new ArrayList<>();
        Process oracle = new ProcessBuilder(System.getProperty("gpcguard.oracle"), TestPki.config().toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try (OutputStream in = oracle.getOutputStream()) {
            for (Req q : requests) {
                StringBuilder line = new StringBuilder().append(NOW).append(' ').append(hex(q.method)).append(' ').append(hex(q.target));
                for (byte[][] h : q.headers) {
                    line.append(' ').append(hex(h[0])).append(' ').append(hex(h[1]));
                }
                in.write((line + "\n").getBytes(StandardCharsets.US_ASCII));
            }
        }
        try (BufferedReader out = new BufferedReader(new InputStreamReader(oracle.getInputStream(), StandardCharsets.US_ASCII))) {
            for (String l; (l = out.readLine()) != null; ) {
                expected.add(l);
            }
        }
        assertEquals(0, oracle.waitFor(), "verdict_oracle exit status");
        assertEquals(requests.size(), expected.size());

        int allowed = 0;
        try (Guard g = Guard.fromFile(TestPki.config())) {
            for (int i = 0; i < requests.size(); i++) {
                Req q = requests.get(i);
                RequestBytes rb = new RequestBytes().method(q.method, 0, q.method.length).target(q.target, 0, q.target.length);
                for (byte[][] h : q.headers) {
                    rb.header(h[0], 0, h[0].length, h[1], 0, h[1].length);
                }
                Verdict v = g.checkRequest(rb, NOW);
                String got = (v.allowed() ? 1 : 0) + " " + v.httpStatus() + " " + v.reason().number() + " " + hex(v.errorCode())
                        + " " + hex(v.message()) + " " + hex(v.operationOutcome()) + " " + hex(v.auditRecord()) + " "
                        + hex(v.interactionId());
                assertEquals(expected.get(i), got, q.name + ": " + v);
                if (q.name.equals(LARGE)) {
                    int packed = 8 + 5 * 4 + 5;
                    for (String t : new String[] {v.errorCode(), v.message(), v.operationOutcome(), v.auditRecord(), v.interactionId()}) {
                        packed += t == null ? 0 : t.getBytes(StandardCharsets.UTF_8).length;
                    }
                    assertTrue(packed > 2048, LARGE + ": only " + packed + " bytes");
                }
                if (v.allowed()) {
                    allowed++;
                    assertEquals(null, v.operationOutcome());
                } else {
                    assertTrue(v.operationOutcome().contains("\"resourceType\":\"OperationOutcome\""), q.name);
                }
            }
        }
        assertEquals(3, allowed, "the three well-formed requests are allowed");
    }

    @Test
    void refusalsCarryReasonStatusAndMessage() throws Exception {
        try (Guard g = Guard.fromFile(TestPki.config())) {
            String read = "fhir:rest:read:patient-1";
            Verdict v = g.checkRequest("GET", TestPki.ROOT + "/Patient/2",
                    TestPki.headers(read, TestPki.token(NOW, -60, "patient/*.read", "Device")));
            assertFalse(v.allowed());
            assertEquals(Reason.JWT_EXPIRED, v.reason());
            assertEquals(400, v.httpStatus());
            assertEquals("BAD_REQUEST", v.errorCode());
            assertTrue(v.message().contains("expired"), v.message());
            v = g.checkRequest("GET", TestPki.ROOT + "/Patient/2",
                    TestPki.headers(read, TestPki.token(NOW, 300, "patient/*.read", "Devise")));
            assertEquals(Reason.JWT_INVALID_RESOURCE, v.reason());
            assertEquals(422, v.httpStatus());
            assertEquals("INVALID_RESOURCE", v.errorCode());
            v = g.checkRequest("GET", TestPki.ROOT + "/Patient/2", TestPki.headers(read, TestPki.token(NOW, 300, "patient/*.read", "Device")));
            assertTrue(v.allowed(), v.toString());
            assertEquals(read, v.interactionId().substring(v.interactionId().length() - read.length()));
            assertTrue(v.auditRecord().startsWith("{"), v.auditRecord());
        }
    }
}
