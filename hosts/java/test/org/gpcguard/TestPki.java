package org.gpcguard;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * The test PKI (c-tests/make-pki.sh, made once per JVM) and GP Connect requests, as
 * hosts/test-helpers.sh makes them for the host-module tests.
 */
final class TestPki {
    static final String ROOT = "/A20047/STU3/1/gpconnect";
    static final String ASID_TO = "918999198993";
    static final String ASID_FROM = "200000000359";
    static final String IID = "urn:nhs:names:services:gpconnect";
    static final String TRACE = "09a01679-2564-0fb4-5129-aecc81ea2706";

    static final Path REPO = Path.of(System.getProperty("gpcguard.repo", "."));
    private static Path dir;

    private TestPki() {}

    /** The folder holding the PKI and provider.toml (with service roots under ROOT). */
    static synchronized Path dir() {
        if (dir == null) {
            try {
                Path d = Files.createTempDirectory("gpcguard-java-pki");
                Process p = new ProcessBuilder(REPO.resolve("c-tests/make-pki.sh").toString(), d.toString())
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                if (p.waitFor() != 0) {
                    throw new IllegalStateException("make-pki.sh failed");
                }
                Files.writeString(d.resolve("provider.toml"), "service_root = [\"foundations=" + ROOT
                        + "\", \"structured=" + ROOT + "/structured\", \"documents=" + ROOT + "/documents\"]\n",
                        StandardOpenOption.APPEND);
                dir = d;
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        }
        return dir;
    }

    static Path config() {
        return dir().resolve("provider.toml");
    }

    static byte[] der(String name) throws Exception {
        var cf = java.security.cert.CertificateFactory.getInstance("X.509");
        try (var in = Files.newInputStream(dir().resolve(name + ".pem"))) {
            return cf.generateCertificate(in).getEncoded();
        }
    }

    static String b64url(String s) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    /** An unsigned GP Connect audit JWT expiring expOffset seconds after now (gpc_token). */
    static String token(long now, long expOffset, String scope, String deviceType) {
        long exp = now + expOffset;
        long iat = exp - 300;
        String claims = "{\"iss\":\"https://consumersupplier.thirdparty.nhs.uk/\",\"sub\":\"1\",\"aud\":\"https://provider.thirdparty.nhs.uk/A20047/STU3/1/gpconnect\",\"exp\":"
                + exp + ",\"iat\":" + iat + ",\"reason_for_request\":\"directcare\",\"requested_scope\":\"" + scope
                + "\",\"requesting_device\":{\"resourceType\":\"" + deviceType
                + "\",\"identifier\":[{\"system\":\"https://consumersupplier.com/Id/device-identifier\",\"value\":\"CONS-APP-4\"}],\"model\":\"Consumer product name\",\"version\":\"5.3.0\"},"
                + "\"requesting_organization\":{\"resourceType\":\"Organization\",\"identifier\":[{\"system\":\"https://fhir.nhs.uk/Id/ods-organization-code\",\"value\":\"A11111\"}],\"name\":\"Consumer organisation name\"},"
                + "\"requesting_practitioner\":{\"resourceType\":\"Practitioner\",\"id\":\"1\",\"identifier\":[{\"system\":\"https://fhir.nhs.uk/Id/sds-user-id\",\"value\":\"111111111\"},{\"system\":\"https://fhir.nhs.uk/Id/sds-role-profile-id\",\"value\":\"22222222222222\"}],\"name\":[{\"family\":\"Demo\",\"given\":[\"Clinician\"],\"prefix\":[\"Dr\"]}]}}";
        return b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + b64url(claims) + ".";
    }

    /** The SSP headers for an interaction, then Authorization: Bearer token (when not null). */
    static List<Map.Entry<String, String>> headers(String interaction, String token) {
        List<Map.Entry<String, String>> h = new ArrayList<>();
        h.add(Map.entry("Ssp-TraceID", TRACE));
        h.add(Map.entry("Ssp-From", ASID_FROM));
        h.add(Map.entry("Ssp-To", ASID_TO));
        h.add(Map.entry("Ssp-InteractionID", IID + ":" + interaction));
        if (token != null) {
            h.add(Map.entry("Authorization", "Bearer " + token));
        }
        return h;
    }
}
