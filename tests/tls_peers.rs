//! Real TLS peers against the C test servers (`c-tests/tls_server_new.c`, `c-tests/tls_server_apply.c`),
//! which link the freshly built `libgpcguard.so` through `include/gpcguard.h`.
//!
//! The test makes the PKI with `c-tests/make-pki.sh`, compiles the servers with `cc`, starts each on
//! a free port and connects with `openssl s_client` and `curl`. Every refusal is proved on the
//! server's side: the server prints one line per connection (`ACCEPTED ...` with the
//! `gpcguard_check_peer_ssl` verdict, or `REFUSED ...` with OpenSSL's server-side error), and the test
//! requires the server error that belongs to the rule (e.g. "unsupported protocol"), so a client that
//! gave up on its own cannot pass for a server that refused. Every acceptance is proved by an HTTP
//! response that only a completed handshake can carry. The servers install the guard's handshake
//! hook (`gpcguard_guard_set_handshake_hook`) and print what it was told, so each certificate
//! refusal is also checked for the reason and message a host would log (and accepted connections
//! for no hook call).
//!
//! Needs `openssl`, `curl` and `cc` on PATH (`make deps` installs them). Uses std only.

mod common;
use common::{make_pki, repo, run_ok, work_dir};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SSP_POLICY: &str = "AESGCM+EECDH:AESGCM+EDH:AES256+EECDH:AES256+EDH";
const HTTP_REQUEST: &str = "GET /A1/STU3/1/gpconnect/metadata HTTP/1.1\r\nHost: localhost\r\n\r\n";
const CLIENT_DEADLINE: Duration = Duration::from_secs(20);
const SERVER_LINE_DEADLINE: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Fixture: one PKI and one build of the C servers per test run.

struct Fixture {
    /// The PKI the tests share read-only; tests that change files copy it first.
    pki: PathBuf,
    bin: PathBuf,
    work: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let work = work_dir("tls_peers");
        let pki = work.join("pki");
        let bin = work.join("bin");
        let lib = work.join("lib");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&lib).unwrap();
        make_pki(&pki);

        // The library cargo built with this test: the test binary lives in <profile>/deps.
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>");
        let so = profile_dir.join("libgpcguard.so");
        if !so.exists() {
            // `cargo test` builds the library as an rlib for the tests, not always the cdylib:
            // build it the way users get it (cargo releases its lock while tests run).
            let release = profile_dir.file_name().is_some_and(|n| n == "release");
            let mut build = Command::new(env!("CARGO"));
            build.args(["build", "--lib", "--manifest-path"]).arg(repo().join("Cargo.toml"));
            if release {
                build.arg("--release");
            }
            run_ok(&mut build, "cargo build --lib");
        }
        assert!(so.exists(), "{} was not built", so.display());
        // The servers load the library by its soname, as hosts do; cargo makes no such link.
        std::os::unix::fs::symlink(&so, lib.join("libgpcguard.so.0")).unwrap();
        std::os::unix::fs::symlink("libgpcguard.so.0", lib.join("libgpcguard.so")).unwrap();

        // Same flags as `make c-tests`: only include/gpcguard.h, OpenSSL and libc. With
        // GPCGUARD_C_SANITIZE=1 (make test) the servers run under ASan + UBSan, and a leak or bad
        // free found when they stop fails the test (see Drop for Server).
        let sanitize: &[&str] = match std::env::var("GPCGUARD_C_SANITIZE").as_deref() {
            Ok("1") => &["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"],
            _ => &[],
        };
        for server in ["tls_server_new", "tls_server_apply"] {
            run_ok(
                Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
                    .args(["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-O1", "-g"])
                    .args(sanitize)
                    .arg("-I").arg(repo().join("include"))
                    .arg("-o").arg(bin.join(server))
                    .arg(repo().join(format!("c-tests/{server}.c")))
                    .arg(repo().join("c-tests/tls_server_common.c"))
                    .arg("-L").arg(&lib)
                    .arg(format!("-Wl,-rpath,{}", lib.display()))
                    .args(["-lgpcguard", "-lssl", "-lcrypto"]),
                &format!("compiling {server}"),
            );
        }
        Fixture { pki, bin, work }
    })
}

/// A private copy of the PKI for a test that swaps files in it.
fn private_pki(name: &str) -> PathBuf {
    let f = fixture();
    let dir = f.work.join(format!("pki-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&f.pki).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    dir
}

// ---------------------------------------------------------------------------------------------
// The servers.

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `gpcguard_ssl_ctx_new`: gpcguard makes the context.
    CtxNew,
    /// The host makes the context and loads its identity; `gpcguard_ssl_ctx_apply` adds the policy.
    CtxApply,
}

struct Server {
    child: Child,
    port: u16,
    lines: Receiver<String>,
    pki: PathBuf,
    kind: Kind,
}

impl Server {
    fn start(kind: Kind, pki: &Path) -> Server {
        let f = fixture();
        let toml = pki.join("provider.toml");
        let mut cmd = match kind {
            Kind::CtxNew => {
                let mut c = Command::new(f.bin.join("tls_server_new"));
                c.arg(&toml).arg("0");
                c
            }
            Kind::CtxApply => {
                let mut c = Command::new(f.bin.join("tls_server_apply"));
                c.arg(&toml).arg("0").arg(pki.join("server-chain.pem")).arg(pki.join("server.key"));
                c
            }
        };
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).spawn().expect("start the C server");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("[server] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server { child, port: 0, lines, pki: pki.to_path_buf(), kind };
        let ready = server.next_line("READY");
        server.port = ready.trim_start_matches("READY port=").parse().expect("port in READY line");
        server
    }

    /// The next line the server prints, which must start with `prefix`.
    fn next_line(&mut self, prefix: &str) -> String {
        match self.lines.recv_timeout(SERVER_LINE_DEADLINE) {
            Ok(line) if line.starts_with(prefix) => line,
            Ok(line) => panic!("{:?} server: expected a `{prefix}` line, got `{line}`", self.kind),
            Err(_) => {
                let status = self.child.try_wait().ok().flatten();
                panic!("{:?} server printed no `{prefix}` line within {SERVER_LINE_DEADLINE:?} (exit status {status:?})", self.kind)
            }
        }
    }

    /// The server's report of the connection just made: `ACCEPTED ...` or `REFUSED ...`.
    fn connection_report(&mut self) -> String {
        let line = self.next_line("");
        assert!(
            line.starts_with("ACCEPTED ") || line.starts_with("REFUSED "),
            "{:?} server: unexpected line `{line}`",
            self.kind
        );
        line
    }

    /// SIGHUP, then wait for the server to report the reload.
    fn reload(&mut self) {
        run_ok(Command::new("sh").arg("-c").arg(format!("kill -HUP {}", self.child.id())), "kill -HUP");
        let line = self.next_line("");
        assert_eq!(line, "RELOADED", "{:?} server: reload failed", self.kind);
    }

    fn file(&self, name: &str) -> PathBuf {
        self.pki.join(name)
    }
}

/// Stops the server with SIGTERM. A server that does not exit cleanly (a crash, or a sanitizer
/// report when it frees its context and guard) fails the test that ran it.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("sh").arg("-c").arg(format!("kill -TERM {}", self.child.id())).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                _ if Instant::now() > deadline => break None,
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if !std::thread::panicking() {
            assert!(status.is_some_and(|s| s.success()), "{:?} server did not stop cleanly: {status:?}", self.kind);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The clients.

/// Runs a client with `input` on stdin; kills it after CLIENT_DEADLINE. Returns stdout + stderr.
fn run_client(cmd: &mut Command, input: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run `make deps`)"));
    // The server may close before reading everything; a broken pipe here is not the client's answer.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    let deadline = Instant::now() + CLIENT_DEADLINE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `openssl s_client` with a client certificate (by PKI base name, e.g. "client-valid") or none,
/// sending one HTTP request and waiting for the server to close.
fn s_client(server: &Server, cert: Option<&str>, extra: &[&str]) -> String {
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client")
        .arg("-connect").arg(format!("127.0.0.1:{}", server.port))
        .arg("-servername").arg("localhost")
        .arg("-CAfile").arg(server.file("root-ca.pem"))
        .arg("-verify_return_error")
        .arg("-ign_eof");
    if let Some(name) = cert {
        cmd.arg("-cert").arg(server.file(&format!("{name}.pem")));
        cmd.arg("-key").arg(server.file(&format!("{name}.key")));
    }
    cmd.args(extra);
    run_client(&mut cmd, HTTP_REQUEST)
}

fn field<'a>(report: &'a str, name: &str) -> &'a str {
    report
        .split_whitespace()
        .find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no `{name}=` in `{report}`"))
}

/// The handshake completed, the guard's own check agrees, and the HTTP response came through.
/// Returns the server's report.
fn assert_accepted(server: &mut Server, client_output: &str, what: &str) -> String {
    let report = server.connection_report();
    assert!(
        report.starts_with("ACCEPTED "),
        "{what}: {:?} server refused it: {report}\nclient said:\n{client_output}",
        server.kind
    );
    assert_eq!(field(&report, "protocol"), "TLSv1.2", "{what}: {report}");
    assert_eq!(field(&report, "allowed"), "1", "{what}: gpcguard_check_peer_ssl disagrees with the handshake: {report}");
    assert_eq!(field(&report, "reason"), "ALLOWED", "{what}: {report}");
    assert_eq!(field(&report, "hook"), "none", "{what}: the handshake hook was told of a refusal: {report}");
    assert!(client_output.contains("HTTP/1.1 200 OK"), "{what}: no HTTP 200 reached the client:\n{client_output}");
    assert!(client_output.contains(&report), "{what}: the client did not get the server's body `{report}`:\n{client_output}");
    report
}

/// The server refused the handshake with the server-side OpenSSL error `server_error`, and no
/// application data reached the client.
fn assert_refused(server: &mut Server, client_output: &str, server_error: &str, what: &str) -> String {
    let report = server.connection_report();
    assert!(
        report.starts_with("REFUSED "),
        "{what}: {:?} server ACCEPTED it: {report}\nclient said:\n{client_output}",
        server.kind
    );
    assert!(
        report.contains(server_error),
        "{what}: expected the server to refuse with `{server_error}`, its report: {report}\nclient said:\n{client_output}"
    );
    assert!(!client_output.contains("HTTP/1.1"), "{what}: the client got an HTTP response:\n{client_output}");
    report
}

/// The guard's handshake hook (`gpcguard_guard_set_handshake_hook`, installed by the C server)
/// was told of this refusal exactly once, with `reason` and a message holding each of `says`.
fn assert_hook(report: &str, reason: &str, says: &[&str], what: &str) {
    assert_eq!(field(report, "hook"), reason, "{what}: the hook's reason: {report}");
    assert_eq!(field(report, "hook_calls"), "1", "{what}: {report}");
    let message = report.split_once(" hook_message=").map_or("", |(_, m)| m);
    for s in says {
        assert!(message.contains(s), "{what}: the hook's message does not say `{s}`: `{message}`");
    }
}

/// Generates one test per server kind: `name::ctx_new` and `name::ctx_apply`.
macro_rules! for_both_servers {
    ($($name:ident => $body:expr;)+) => {$(
        mod $name {
            #[test]
            fn ctx_new() {
                ($body)(super::Kind::CtxNew)
            }
            #[test]
            fn ctx_apply() {
                ($body)(super::Kind::CtxApply)
            }
        }
    )+};
}

// ---------------------------------------------------------------------------------------------
// The rules.

const VERIFY_FAILED: &str = "certificate verify failed";

fn valid_certificate_accepted_by_curl(kind: Kind) {
    let mut server = Server::start(kind, &fixture().pki);
    let port = server.port;
    let out = run_client(
        Command::new("curl")
            .args(["-sS", "--max-time", "15", "-w", "\nhttp_code=%{http_code}\n"])
            .arg("--resolve").arg(format!("localhost:{port}:127.0.0.1"))
            .arg("--cacert").arg(server.file("root-ca.pem"))
            .arg("--cert").arg(server.file("client-valid.pem"))
            .arg("--key").arg(server.file("client-valid.key"))
            .arg(format!("https://localhost:{port}/A1/STU3/1/gpconnect/metadata")),
        "",
    );
    let report = server.connection_report();
    assert!(report.starts_with("ACCEPTED "), "{kind:?}: curl refused: {report}\n{out}");
    assert_eq!(field(&report, "allowed"), "1", "{report}");
    assert_eq!(field(&report, "protocol"), "TLSv1.2", "curl offers TLS 1.3 too; the server must pick 1.2: {report}");
    assert!(out.contains("http_code=200"), "curl did not get HTTP 200:\n{out}");
    assert!(out.contains(&report), "curl did not get the server's body:\n{out}");

    // The same curl without a client certificate gets nothing.
    let out = run_client(
        Command::new("curl")
            .args(["-sS", "--max-time", "15", "-w", "\nhttp_code=%{http_code}\n"])
            .arg("--resolve").arg(format!("localhost:{port}:127.0.0.1"))
            .arg("--cacert").arg(server.file("root-ca.pem"))
            .arg(format!("https://localhost:{port}/")),
        "",
    );
    assert_refused(&mut server, &out, "peer did not return a certificate", "curl without a certificate");
    assert!(out.contains("http_code=000"), "curl without a certificate got a response:\n{out}");
}

fn client_certificates_judged(kind: Kind) {
    let mut server = Server::start(kind, &fixture().pki);
    for accepted in ["client-valid", "client-cn-only", "client-later-revoked"] {
        let out = s_client(&server, Some(accepted), &[]);
        assert_accepted(&mut server, &out, accepted);
    }
    let out = s_client(&server, None, &[]);
    let report = assert_refused(&mut server, &out, "peer did not return a certificate", "no client certificate");
    assert!(out.contains("alert handshake failure"), "no client certificate: the client saw no handshake_failure alert:\n{out}");
    // OpenSSL refuses a missing certificate before the guard's verification runs.
    assert_eq!(field(&report, "hook"), "none", "no client certificate: {report}");
    // Each refused for its own reason (the server's verify result), the peer told which (the TLS
    // alert the SSP logs), and the host told the guard's reason and message through the hook.
    let table: [(&str, &str, &str, &str, &[&str]); 7] = [
        ("client-expired", "certificate has expired", "alert certificate expired", "CERT_EXPIRED", &["CN=SSP expired", "has expired (notAfter"]),
        ("client-not-yet-valid", "certificate is not yet valid", "alert bad certificate", "CERT_NOT_YET_VALID", &["CN=SSP not yet valid", "is not yet valid (notBefore"]),
        ("client-revoked", "certificate revoked", "alert certificate revoked", "CERT_REVOKED", &["CN=SSP revoked", "is revoked by the CRL of CN=Test Spine SubCA"]),
        ("client-unrelated", "unable to get local issuer certificate", "alert unknown ca", "CERT_UNTRUSTED", &["CN=msg.dev.spine2.ncrs.nhs.uk", "is not trusted", "issuer CN=Unrelated RootCA"]),
        ("client-wrong-fqdn", "hostname mismatch", "alert bad certificate", "CERT_WRONG_HOST", &["CN=msg.other.spine2.ncrs.nhs.uk", "does not carry the SSP FQDN msg.dev.spine2.ncrs.nhs.uk"]),
        ("client-wrong-san", "hostname mismatch", "alert bad certificate", "CERT_WRONG_HOST", &["CN=msg.dev.spine2.ncrs.nhs.uk", "does not carry the SSP FQDN", "(it names msg.other.spine2.ncrs.nhs.uk)"]),
        ("client-server-eku", "unsuitable certificate purpose", "alert unsupported certificate", "CERT_UNTRUSTED", &["CN=SSP serverAuth only", "does not allow TLS client authentication"]),
    ];
    for (refused, why, alert, hook, says) in table {
        let out = s_client(&server, Some(refused), &[]);
        let report = assert_refused(&mut server, &out, VERIFY_FAILED, refused);
        assert!(report.contains(&format!("verify={why} errors=")), "{refused}: expected `{why}`: {report}");
        assert!(out.contains(alert), "{refused}: the client did not receive `{alert}`:\n{out}");
        assert_hook(&report, hook, says, refused);
    }
}

/// A client signed with SHA-1 by the configured SubCA (NHS Digital Approved Cryptographic
/// Algorithms, OpenSSL auth level 2): the handshake refuses it with bad_certificate, and the
/// server's verify result says why. The client must lower its own security level to send it.
fn weak_signature_refused(kind: Kind) {
    let mut server = Server::start(kind, &fixture().pki);
    let out = s_client(&server, Some("client-sha1"), &["-cipher", "DEFAULT@SECLEVEL=0"]);
    let report = assert_refused(&mut server, &out, VERIFY_FAILED, "client-sha1");
    assert!(report.contains("verify=CA signature digest algorithm too weak errors="), "client-sha1: {report}");
    assert!(out.contains("alert bad certificate"), "client-sha1: the client did not receive `alert bad certificate`:\n{out}");
    // Control: the same client settings with a SHA-256 certificate get in.
    let out = s_client(&server, Some("client-valid"), &["-cipher", "DEFAULT@SECLEVEL=0"]);
    assert_accepted(&mut server, &out, "client-valid at SECLEVEL=0");
}

/// A client under a SubCA that the RootCA issued but the provider does not configure, sending
/// that SubCA in its chain: refused (unknown_ca) however lax the revocation settings are, since
/// the chain must pass through the configured intermediates (spec §1, §9).
fn unconfigured_intermediate_refused(kind: Kind) {
    for (revocation, require_crl) in [("off", "false"), ("leaf", "false"), ("chain", "true")] {
        let pki = private_pki(&format!("other-sub-{kind:?}-{revocation}"));
        let toml = std::fs::read_to_string(pki.join("provider.toml")).unwrap();
        let toml = toml
            .replace("require_crl = true", &format!("require_crl = {require_crl}"))
            .replace("revocation = \"chain\"", &format!("revocation = \"{revocation}\""));
        assert!(toml.contains(&format!("revocation = \"{revocation}\"")) && toml.contains(&format!("require_crl = {require_crl}")), "{toml}");
        std::fs::write(pki.join("provider.toml"), toml).unwrap();
        let mut server = Server::start(kind, &pki);
        let what = format!("client-other-sub, revocation {revocation}, require_crl {require_crl}");
        let chain = server.file("client-other-sub-chain.pem");
        let out = s_client(&server, Some("client-other-sub"), &["-cert_chain", chain.to_str().unwrap()]);
        let report = assert_refused(&mut server, &out, VERIFY_FAILED, &what);
        assert!(report.contains("verify=unable to get local issuer certificate errors="), "{what}: {report}");
        assert!(out.contains("alert unknown ca"), "{what}: the client did not receive `alert unknown ca`:\n{out}");
        // Control: the configured chain gets in under the same settings.
        let out = s_client(&server, Some("client-valid"), &[]);
        assert_accepted(&mut server, &out, &format!("client-valid, revocation {revocation}"));
    }
}

fn old_and_new_protocols_refused(kind: Kind) {
    let mut server = Server::start(kind, &fixture().pki);
    // OpenSSL 3 offers TLS 1.0/1.1 only at security level 0; the server must still say no.
    for (flag, extra) in [("-tls1", Some("DEFAULT@SECLEVEL=0")), ("-tls1_1", Some("DEFAULT@SECLEVEL=0")), ("-tls1_3", None)] {
        let mut args = vec![flag];
        if let Some(cipher) = extra {
            args.extend(["-cipher", cipher]);
        }
        let out = s_client(&server, Some("client-valid"), &args);
        assert_refused(&mut server, &out, "unsupported protocol", &format!("client with {flag}"));
    }
    // Control: the same client allowed to use TLS 1.2 gets in.
    let out = s_client(&server, Some("client-valid"), &["-tls1_2"]);
    assert_accepted(&mut server, &out, "client with -tls1_2");
}

/// The TLS 1.2 suites that OpenSSL's expansion of the policy offers with an RSA server certificate,
/// in the server's order.
fn policy_suites_for_rsa() -> Vec<String> {
    let out = run_ok(Command::new("openssl").args(["ciphers", "-v", SSP_POLICY]), "openssl ciphers");
    let suites: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let usable = cols.len() > 3 && cols[1] != "TLSv1.3" && cols[3] == "Au=RSA";
            usable.then(|| cols[0].to_owned())
        })
        .collect();
    assert!(suites.len() >= 8, "the policy expands to too few RSA suites: {suites:?}");
    suites
}

fn policy_cipher_suites_accepted_others_refused(kind: Kind) {
    let mut server = Server::start(kind, &fixture().pki);
    for suite in policy_suites_for_rsa() {
        let out = s_client(&server, Some("client-valid"), &["-tls1_2", "-cipher", &suite]);
        let report = assert_accepted(&mut server, &out, &suite);
        assert_eq!(field(&report, "cipher"), suite, "{report}");
    }
    // Non-PFS and AES128-CBC suites are outside the policy.
    for suite in [
        "AES128-SHA256",
        "AES256-GCM-SHA384",
        "AES256-SHA256",
        "ECDHE-RSA-AES128-SHA256",
        "ECDHE-RSA-AES128-SHA",
        "DHE-RSA-AES128-SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ] {
        let out = s_client(&server, Some("client-valid"), &["-tls1_2", "-cipher", suite]);
        assert_refused(&mut server, &out, "no shared cipher", suite);
    }
}

fn server_cipher_order_wins(kind: Kind) {
    let mut server = Server::start(kind, &fixture().pki);
    let offered = ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"];
    let server_order = policy_suites_for_rsa();
    let server_first = server_order.iter().find(|s| offered.contains(&s.as_str())).unwrap();
    // Otherwise this test could not tell server order from client order.
    assert_ne!(server_first, offered[0], "the policy's first choice is the client's first; pick another pair");
    let out = s_client(&server, Some("client-valid"), &["-tls1_2", "-cipher", &offered.join(":")]);
    let report = assert_accepted(&mut server, &out, "client preferring AES128");
    assert_eq!(field(&report, "cipher"), server_first, "the server did not choose by its own order: {report}");
}

/// Swaps `sub-ca.crl` for the version that revokes client-later-revoked, atomically (a reload
/// must never see half a file), and tells the server.
fn revoke_later(server: &mut Server) {
    let staged = server.file("sub-ca.crl.new");
    std::fs::copy(server.file("subca-revoked-later.crl"), &staged).unwrap();
    std::fs::rename(&staged, server.file("sub-ca.crl")).unwrap();
    server.reload();
}

fn crl_reload_revokes_without_restart(kind: Kind) {
    let pki = private_pki(&format!("reload-{kind:?}"));
    let mut server = Server::start(kind, &pki);
    let out = s_client(&server, Some("client-later-revoked"), &[]);
    assert_accepted(&mut server, &out, "later-revoked before the new CRL");
    let pid = server.child.id();

    revoke_later(&mut server);
    let out = s_client(&server, Some("client-later-revoked"), &[]);
    let report = assert_refused(&mut server, &out, VERIFY_FAILED, "later-revoked after the new CRL");
    assert!(report.contains("verify=certificate revoked "), "{report}");
    // The reload changed what it had to and nothing else.
    let out = s_client(&server, Some("client-valid"), &[]);
    assert_accepted(&mut server, &out, "valid after the new CRL");
    assert_eq!(server.child.id(), pid);
    assert!(server.child.try_wait().unwrap().is_none(), "the server exited");
}

fn resumption_does_not_outlive_revocation(kind: Kind) {
    let pki = private_pki(&format!("resume-{kind:?}"));
    let mut server = Server::start(kind, &pki);
    let session = pki.join("later-revoked.session");
    let session_arg = session.to_str().unwrap();

    let out = s_client(&server, Some("client-later-revoked"), &["-sess_out", session_arg]);
    let report = assert_accepted(&mut server, &out, "first handshake");
    assert_eq!(field(&report, "resumed"), "0", "{report}");
    // Control: before the CRL changes the session does resume, so the refusal below is about
    // resumption checking revocation, not about resumption being unavailable.
    let out = s_client(&server, Some("client-later-revoked"), &["-sess_in", session_arg]);
    let report = assert_accepted(&mut server, &out, "resumption before the new CRL");
    assert_eq!(field(&report, "resumed"), "1", "the session was not resumed: {report}");

    revoke_later(&mut server);
    let out = s_client(&server, Some("client-later-revoked"), &["-sess_in", session_arg]);
    let report = assert_refused(&mut server, &out, VERIFY_FAILED, "resumption after the new CRL");
    assert!(report.contains("verify=certificate revoked "), "{report}");
    assert!(!out.contains("Reused, TLSv1.2"), "the client resumed the revoked session:\n{out}");
}

/// A CRL of the SubCA whose nextUpdate has passed (issued two days ago, due yesterday), made once
/// from the shared PKI's CA database (`openssl ca` is not safe to run concurrently on it).
fn expired_sub_ca_crl() -> &'static Path {
    static CRL: OnceLock<PathBuf> = OnceLock::new();
    CRL.get_or_init(|| {
        let f = fixture();
        let utc = |offset: &str| {
            let out = run_ok(Command::new("date").args(["-u", "-d", offset, "+%Y%m%d%H%M%SZ"]), "date -d");
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        let crl = f.work.join("sub-ca-expired.crl");
        run_ok(
            Command::new("openssl")
                .current_dir(&f.pki)
                .args(["ca", "-config", "ca-db/sub-ca.cnf", "-gencrl", "-crl_lastupdate"])
                .arg(utc("-2 days"))
                .arg("-crl_nextupdate")
                .arg(utc("-1 day"))
                .arg("-out")
                .arg(&crl),
            "openssl ca -gencrl (expired)",
        );
        crl
    })
}

fn expired_crl_leaves_revocation_unknown(kind: Kind) {
    // The SubCA's only CRL is past its nextUpdate: with require_crl (the default) nothing it
    // issued can be judged, so the handshake is refused and the host is told why.
    let pki = private_pki(&format!("expired-crl-{kind:?}"));
    std::fs::copy(expired_sub_ca_crl(), pki.join("sub-ca.crl")).unwrap();
    let mut server = Server::start(kind, &pki);
    let out = s_client(&server, Some("client-valid"), &[]);
    let report = assert_refused(&mut server, &out, VERIFY_FAILED, "client-valid under an expired CRL");
    assert!(report.contains("verify=CRL has expired errors="), "{report}");
    assert!(out.contains("alert certificate expired"), "the client did not receive `certificate expired`:\n{out}");
    assert_hook(&report, "CERT_REVOCATION_UNKNOWN", &["CN=SSP valid client", "sub-ca.crl"], "expired CRL");
}

for_both_servers! {
    valid_certificate_accepted_by_curl => super::valid_certificate_accepted_by_curl;
    client_certificates_judged => super::client_certificates_judged;
    weak_signature_refused => super::weak_signature_refused;
    unconfigured_intermediate_refused => super::unconfigured_intermediate_refused;
    old_and_new_protocols_refused => super::old_and_new_protocols_refused;
    policy_cipher_suites_accepted_others_refused => super::policy_cipher_suites_accepted_others_refused;
    server_cipher_order_wins => super::server_cipher_order_wins;
    crl_reload_revokes_without_restart => super::crl_reload_revokes_without_restart;
    resumption_does_not_outlive_revocation => super::resumption_does_not_outlive_revocation;
    expired_crl_leaves_revocation_unknown => super::expired_crl_leaves_revocation_unknown;
}
