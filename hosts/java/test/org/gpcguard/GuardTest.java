package org.gpcguard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.reflect.InvocationTargetException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The guard's life: configuration errors, peers, reloads, threads, close, class loaders. */
class GuardTest {
    private static final String READ = "fhir:rest:read:patient-1";

    /** A copy of the PKI folder, so a test can swap its CRL without touching the others'. */
    private static Path privatePki() throws Exception {
        Path d = Files.createTempDirectory("gpcguard-java-own");
        try (var files = Files.list(TestPki.dir())) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (Files.isRegularFile(f)) {
                    Files.copy(f, d.resolve(f.getFileName()));
                }
            }
        }
        return d;
    }

    private static Verdict goodRequest(Guard g) throws GpcGuardException {
        long now = System.currentTimeMillis() / 1000;
        return g.checkRequest("GET", TestPki.ROOT + "/Patient/2", TestPki.headers(READ, TestPki.token(now, 300, "patient/*.read", "Device")));
    }

    @Test
    void badConfigurationNamesKeyAndFile() throws Exception {
        Path d = privatePki();
        Path toml = d.resolve("provider.toml");
        Files.writeString(toml, Files.readString(toml) + "no_such_key = 1\n");
        GpcGuardException e = assertThrows(GpcGuardException.class, () -> Guard.fromFile(toml));
        assertEquals(Result.CONFIG_UNKNOWN_KEY, e.result());
        assertTrue(e.detail().contains("no_such_key") && e.detail().contains(toml.toString()), e.detail());

        Files.writeString(toml, Files.readString(TestPki.config()).replace("sub-ca.crl", "no-such.crl"));
        e = assertThrows(GpcGuardException.class, () -> Guard.fromFile(toml));
        assertEquals(Result.FILE_UNREADABLE, e.result());
        assertTrue(e.detail().contains("crl") && e.detail().contains(d.resolve("no-such.crl").toString()), e.detail());

        e = assertThrows(GpcGuardException.class, () -> Guard.fromSettings("provider_asid", "not a number"));
        assertEquals(Result.CONFIG_INVALID_VALUE, e.result());
        assertTrue(e.detail().contains("provider_asid"), e.detail());
    }

    @Test
    void settingsGuardJudgesLikeTheFileOne() throws Exception {
        Path d = TestPki.dir();
        try (Guard g = Guard.fromSettings("provider_asid", TestPki.ASID_TO, "ssp_fqdn", "msg.dev.spine2.ncrs.nhs.uk",
                "trust_anchor", d.resolve("root-ca.pem").toString(), "intermediate", d.resolve("sub-ca.pem").toString(),
                "crl", d.resolve("root-ca.crl").toString(), "crl", d.resolve("sub-ca.crl").toString(),
                "service_root", "foundations=" + TestPki.ROOT)) {
            assertTrue(goodRequest(g).allowed());
            assertEquals(Reason.CERT_REVOKED, g.checkPeerDer(new byte[][] {TestPki.der("client-revoked")}, 0).reason());
        }
    }

    @Test
    void peersAndTrustAnchors() throws Exception {
        try (Guard g = Guard.fromFile(TestPki.config())) {
            Verdict v = g.checkPeerDer(new byte[][] {TestPki.der("client-valid")}, 0);
            assertTrue(v.allowed(), v.toString());
            v = g.checkPeerDer(new byte[][] {TestPki.der("client-revoked")}, 0);
            assertEquals(Reason.CERT_REVOKED, v.reason());
            assertEquals(495, v.httpStatus());
            v = g.checkPeerDer(new byte[][] {TestPki.der("client-unrelated")}, 0);
            assertEquals(Reason.CERT_UNTRUSTED, v.reason());
            v = g.checkPeer(null);
            assertEquals(Reason.CERT_MISSING, v.reason());
            assertEquals(496, v.httpStatus());
            v = g.checkPeerDer(new byte[][] {{1, 2, 3}}, 0);
            assertEquals(Reason.CERT_MALFORMED, v.reason());
            X509Certificate[] anchors = g.trustAnchors();
            assertEquals(1, anchors.length);
            assertTrue(anchors[0].getSubjectX500Principal().getName().contains("Test Spine RootCA"));
        }
        assertTrue(Guard.cipherList().startsWith("AESGCM+EECDH"));
        List<Map.Entry<String, String>> h = Guard.responseHeaders();
        assertEquals("Cache-Control", h.get(0).getKey());
        assertEquals("no-store", h.get(0).getValue());
        assertEquals("Strict-Transport-Security", h.get(1).getKey());
    }

    @Test
    void reloadSwapsTheCrlAndAFailedReloadKeepsTheOldState() throws Exception {
        Path d = privatePki();
        try (Guard g = Guard.fromFile(d.resolve("provider.toml"))) {
            byte[][] later = {TestPki.der("client-later-revoked")};
            assertTrue(g.checkPeerDer(later, 0).allowed());
            Files.copy(d.resolve("subca-revoked-later.crl"), d.resolve("sub-ca.crl"), StandardCopyOption.REPLACE_EXISTING);
            g.reload();
            assertEquals(Reason.CERT_REVOKED, g.checkPeerDer(later, 0).reason());
            Files.writeString(d.resolve("sub-ca.crl"), "not a CRL");
            GpcGuardException e = assertThrows(GpcGuardException.class, g::reload);
            assertTrue(e.detail().contains("sub-ca.crl"), e.detail());
            assertEquals(Reason.CERT_REVOKED, g.checkPeerDer(later, 0).reason(), "the old state stays in force");
            assertTrue(g.checkPeerDer(new byte[][] {TestPki.der("client-valid")}, 0).allowed());
        }
    }

    @Test
    void useAfterCloseThrows() throws Exception {
        Guard g = Guard.fromFile(TestPki.config());
        assertTrue(goodRequest(g).allowed());
        g.close();
        g.close(); // idempotent
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> goodRequest(g));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, g::reload);
        assertThrows(IllegalStateException.class, () -> g.checkPeer(null));
        assertThrows(IllegalStateException.class, g::trustAnchors);
    }

    /** Threads checking while another closes: each call either completes with a real verdict or throws. */
    @Test
    void concurrentCloseWaitsForChecksInFlight() throws Exception {
        for (int round = 0; round < 5; round++) {
            Guard g = Guard.fromFile(TestPki.config());
            AtomicInteger completed = new AtomicInteger();
            AtomicReference<Throwable> wrong = new AtomicReference<>();
            CountDownLatch started = new CountDownLatch(8);
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                Thread th = new Thread(() -> {
                    started.countDown();
                    try {
                        while (true) {
                            Verdict v = goodRequest(g);
                            if (!v.allowed()) {
                                wrong.set(new AssertionError("refused: " + v));
                                return;
                            }
                            completed.incrementAndGet();
                        }
                    } catch (IllegalStateException closed) {
                        // the guard was closed: the expected end
                    } catch (Throwable t2) {
                        wrong.set(t2);
                    }
                });
                threads.add(th);
                th.start();
            }
            started.await();
            while (completed.get() < 50) {
                Thread.onSpinWait();
            }
            g.close();
            for (Thread th : threads) {
                th.join();
            }
            if (wrong.get() != null) {
                fail(wrong.get());
            }
        }
    }

    /**
     * 64 threads checking while the configuration reloads over and over; memory stays bounded.
     * Each round is 64 x 2,000 request checks (and a few peer checks, which cost a full chain
     * verification each) during 10 reloads: a leak of one verdict per check (measured: 150 bytes
     * and more) would grow the resident size by some 19 MiB a round.
     */
    @Test
    void sixtyFourThreadsDuringReloads() throws Exception {
        Path d = privatePki();
        try (Guard g = Guard.fromFile(d.resolve("provider.toml"))) {
            long before = 0;
            for (int round = 0; round < 4; round++) {
                // Round 0 warms up (malloc arenas, JIT); rounds 2-3 must not grow past round 1.
                AtomicReference<Throwable> wrong = new AtomicReference<>();
                List<Thread> threads = new ArrayList<>();
                for (int t = 0; t < 64; t++) {
                    Thread th = new Thread(() -> {
                        try {
                            byte[][] valid = {TestPki.der("client-valid")};
                            long now = System.currentTimeMillis() / 1000;
                            RequestBytes request = new RequestBytes().method("GET").target(TestPki.ROOT + "/Patient/2");
                            for (Map.Entry<String, String> h : TestPki.headers(READ, TestPki.token(now, 300, "patient/*.read", "Device"))) {
                                request.header(h.getKey(), h.getValue());
                            }
                            for (int i = 0; i < 2000; i++) {
                                Verdict v = g.checkRequest(request, now);
                                Verdict p = i % 500 == 0 ? g.checkPeerDer(valid, 0) : v;
                                if (!v.allowed() || !p.allowed()) {
                                    wrong.set(new AssertionError(v + " / " + p));
                                    return;
                                }
                            }
                        } catch (Throwable t2) {
                            wrong.set(t2);
                        }
                    });
                    threads.add(th);
                    th.start();
                }
                for (int reload = 0; reload < 10; reload++) {
                    g.reload();
                }
                for (Thread th : threads) {
                    th.join();
                }
                if (wrong.get() != null) {
                    fail(wrong.get());
                }
                long rss = rssKiB();
                if (round == 1) {
                    before = rss;
                } else if (round > 1) {
                    // The heap is committed up front (-Xms = -Xmx, AlwaysPreTouch), so RSS growth is native.
                    assertTrue(rss - before < 16 * 1024, "RSS grew from " + before + " to " + rss + " KiB");
                }
            }
        }
    }

    private static long rssKiB() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS");
    }

    /** The native library is this class loader's: another one gets a clear error, not a crash. */
    @Test
    void aSecondClassLoaderGetsAClearError() throws Exception {
        Guard.version(); // loaded here first
        URL jar = Path.of(System.getProperty("gpcguard.jar")).toUri().toURL();
        try (URLClassLoader other = new URLClassLoader(new URL[] {jar}, ClassLoader.getPlatformClassLoader())) {
            Class<?> guard = other.loadClass("org.gpcguard.Guard");
            assertFalse(guard == Guard.class);
            InvocationTargetException e = assertThrows(InvocationTargetException.class,
                    () -> guard.getMethod("version").invoke(null));
            assertTrue(e.getCause() instanceof IllegalStateException, e.getCause().toString());
            assertTrue(e.getCause().getMessage().contains("another class loader"), e.getCause().getMessage());
            assertTrue(e.getCause().getMessage().contains("$CATALINA_BASE/lib"), e.getCause().getMessage());
        }
    }
}
