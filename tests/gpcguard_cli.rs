//! The operators' command `gpcguard` (src/bin/gpcguard): check-config, check-cert and
//! check-request run as an operator runs them, on the test PKI of `c-tests/make-pki.sh`, with
//! the `openssl` CLI as the independent peer for the suite expansion.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::io::Write;

use common::{make_pki, repo, work_dir};

fn gpcguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpcguard")).args(args).output().expect("run gpcguard")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn pki() -> PathBuf {
    static PKI: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let dir = work_dir("gpcguard_cli");
        make_pki(&dir);
        dir
    })
    .clone()
}

fn config() -> String {
    pki().join("provider.toml").display().to_string()
}

/// A GP Connect audit token from the host tests' helper (hosts/test-helpers.sh).
fn token(exp_offset: i64, scope: &str) -> String {
    let helpers = repo().join("hosts/test-helpers.sh");
    let out = Command::new("bash").arg("-c").arg(format!(". '{}'; gpc_token {exp_offset} '{scope}' Device", helpers.display())).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn request(ssp_to: &str, token: &str) -> String {
    format!(
        "GET /metadata HTTP/1.1\r\nHost: provider\r\nSsp-TraceID: 09a01679-2564-0fb4-5129-aecc81ea2706\r\nSsp-From: 200000000359\r\n\
         Ssp-To: {ssp_to}\r\nSsp-InteractionID: urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1\r\nAuthorization: Bearer {token}\r\n\r\nbody ignored"
    )
}

fn check_request_stdin(raw: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gpcguard"))
        .args(["check-request", "--config", &config(), "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(raw.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn crl_next_update(path: &Path) -> i64 {
    let info: serde_json::Value = serde_json::from_slice(&gpcguard(&["check-config", "--json", &config()]).stdout).unwrap();
    let crl = info["crls"].as_array().unwrap().iter().find(|c| c["file"].as_str().unwrap().ends_with(path.file_name().unwrap().to_str().unwrap())).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    // seconds_to_next_update was measured at about `now`; --at below uses absolute times built from it.
    now + crl["seconds_to_next_update"].as_i64().unwrap()
}

#[test]
fn every_command_lists_its_options_in_help() {
    for (cmd, options) in [
        ("check-config", &["--warn-hours", "--json", "--at"][..]),
        ("check-cert", &["--config", "--at"][..]),
        ("check-request", &["--config", "--at", "--token", "--interaction"][..]),
    ] {
        let o = gpcguard(&[cmd, "--help"]);
        assert_eq!(code(&o), 0, "{cmd} --help: {}", text(&o));
        for opt in options {
            assert!(text(&o).contains(opt), "{cmd} --help lacks {opt}: {}", text(&o));
        }
    }
    let o = gpcguard(&["check-config", "--no-such-option", "x"]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("unknown option --no-such-option"), "{}", text(&o));
}

#[test]
fn check_config_prints_the_suites_openssl_expands_in_order() {
    let o = gpcguard(&["check-config", "--json", &config()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let suites: Vec<&str> = info["tls"]["suites"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    let expanded = Command::new("openssl").args(["ciphers", "-s", "-tls1_2", "AESGCM+EECDH:AESGCM+EDH:AES256+EECDH:AES256+EDH"]).output().unwrap();
    let expected: Vec<String> = String::from_utf8(expanded.stdout).unwrap().trim().split(':').map(str::to_owned).collect();
    assert_eq!(suites, expected);
    assert_eq!(info["tls"]["versions"], serde_json::json!(["TLSv1.2"]));
    assert_eq!(info["trust_anchors"][0]["subject"], "CN=Test Spine RootCA,O=gpcguard test");
    assert_eq!(info["intermediates"][0]["key"], "RSA 2048");
    let crls = info["crls"].as_array().unwrap();
    assert_eq!(crls.len(), 2);
    let sub = crls.iter().find(|c| c["issuer"] == "CN=Test Spine SubCA,O=gpcguard test").unwrap();
    assert_eq!(sub["entries"], 1, "sub-ca.crl revokes client-revoked");
    assert_eq!(info["limits"]["max_header_count"], 100);
    assert_eq!(info["warnings"], serde_json::json!([]));
}

#[test]
fn check_config_warns_at_warn_hours_and_not_an_hour_before() {
    // The two CRLs are made a moment apart (a second or more on a busy machine): the first
    // warning is the earlier nextUpdate's.
    let (next, file, issuer) = [("sub-ca.crl", "CN=Test Spine SubCA,O=gpcguard test"), ("root-ca.crl", "CN=Test Spine RootCA,O=gpcguard test")]
        .into_iter()
        .map(|(f, i)| (crl_next_update(&pki().join(f)), f, i))
        .min()
        .unwrap();
    // Exactly one hour before nextUpdate: --warn-hours 1 warns (exit 1), a second earlier it does not.
    let at = (next - 3600).to_string();
    let o = gpcguard(&["check-config", "--warn-hours", "1", "--at", &at, &config()]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains(&format!("{file} (issuer {issuer}) reaches its nextUpdate")), "{}", text(&o));
    let at = (next - 3601).to_string();
    let o = gpcguard(&["check-config", "--warn-hours", "1", "--at", &at, &config()]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // Past nextUpdate: the warning says clients are refused.
    let at = (next + 1).to_string();
    let o = gpcguard(&["check-config", "--warn-hours", "0", "--at", &at, &config()]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("is past its nextUpdate"), "{}", text(&o));
}

#[test]
fn check_config_errors_name_the_key_and_file() {
    // Beside provider.toml, so its relative paths still resolve; one CRL file does not exist.
    let bad = pki().join("bad.toml");
    let text_in = std::fs::read_to_string(pki().join("provider.toml")).unwrap().replace("sub-ca.crl", "no-such.crl");
    std::fs::write(&bad, text_in).unwrap();
    let o = gpcguard(&["check-config", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("`crl`") && text(&o).contains("no-such.crl"), "{}", text(&o));
    let o = gpcguard(&["check-config", "--json", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["errors"][0].as_str().unwrap().contains("no-such.crl"));
}

#[test]
fn check_cert_gives_the_handshake_verdict_with_the_rule() {
    for (cert, exit, expect) in [
        ("client-valid.pem", 0, "verdict  accepted"),
        ("client-revoked.pem", 1, "refused: CERT_REVOKED (BAD_REQUEST), status 495"),
        ("client-expired.pem", 1, "refused: CERT_EXPIRED"),
        ("client-wrong-fqdn.pem", 1, "refused: CERT_WRONG_HOST"),
        ("client-unrelated.pem", 1, "refused: CERT_UNTRUSTED"),
    ] {
        let o = gpcguard(&["check-cert", "--config", &config(), pki().join(cert).to_str().unwrap()]);
        assert_eq!(code(&o), exit, "{cert}: {}", text(&o));
        assert!(text(&o).contains(expect), "{cert}: {}", text(&o));
    }
    let o = gpcguard(&["check-cert", "--config", &config(), pki().join("client-valid.pem").to_str().unwrap()]);
    assert!(text(&o).contains("<- CN=Test Spine SubCA,O=gpcguard test (configured intermediate)\n  <- CN=Test Spine RootCA,O=gpcguard test (configured trust anchor)"), "{}", text(&o));
    // --at before the leaf's notBefore: refused as not yet valid.
    let o = gpcguard(&["check-cert", "--config", &config(), "--at", "2000-01-01T00:00:00Z", pki().join("client-valid.pem").to_str().unwrap()]);
    assert!(text(&o).contains("CERT_NOT_YET_VALID"), "{}", text(&o));
}

#[test]
fn check_request_lists_each_step_then_the_verdict() {
    let o = check_request_stdin(&request("918999198993", &token(300, "organization/*.read")));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = text(&o);
    let steps = ["size limits", "SSP headers", "interaction", "Authorization/JWT envelope", "claims", "times", "scope"];
    let mut at = 0;
    for s in steps {
        let i = out[at..].find(&format!("  pass  {s}")).unwrap_or_else(|| panic!("no pass of {s} in order:\n{out}"));
        at += i;
    }
    assert!(out.contains("verdict   allowed, status 200, interaction urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1"), "{out}");
    assert!(out.contains(r#"audit     {"verdict":"allowed","reason":"ALLOWED","status":200"#), "{out}");

    let o = check_request_stdin(&request("111111111111", &token(300, "organization/*.read")));
    assert_eq!(code(&o), 1, "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("  FAIL  SSP headers                 WRONG_RECIPIENT: Ssp-To 111111111111 is not this provider's ASID 918999198993"), "{out}");
    assert!(out.contains("  -     scope"), "{out}");
    assert!(out.contains("verdict   refused: WRONG_RECIPIENT (BAD_REQUEST), status 400"), "{out}");
    assert!(out.contains("\"resourceType\": \"OperationOutcome\""), "{out}");
    assert!(out.contains(r#"audit     {"verdict":"refused","reason":"WRONG_RECIPIENT""#), "{out}");

    // The same request from a file, and a clock an hour after exp.
    let dir = work_dir("gpcguard_cli_req");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("req.http");
    std::fs::write(&file, request("918999198993", &token(300, "organization/*.read"))).unwrap();
    let later = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3900).to_string();
    let o = gpcguard(&["check-request", "--config", &config(), "--at", &later, file.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("  FAIL  times                       JWT_EXPIRED: the JWT expired"), "{}", text(&o));
}

#[test]
fn check_request_token_explains_the_token_alone() {
    let t = token(300, "patient/*.read");
    let o = gpcguard(&["check-request", "--config", &config(), "--token", &t, "--interaction", "fhir:rest:read:patient-1"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("\"alg\": \"none\""), "{}", text(&o));
    assert!(text(&o).contains("\"requested_scope\": \"patient/*.read\""), "{}", text(&o));
    // The same token for an organisation read: the scope step refuses.
    let o = gpcguard(&["check-request", "--config", &config(), "--token", &t, "--interaction", "fhir:rest:read:metadata-1"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("  FAIL  scope                       SCOPE_DENIED"), "{}", text(&o));
    let o = gpcguard(&["check-request", "--config", &config(), "--token", "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"]);
    assert_eq!(code(&o), 1);
    assert!(text(&o).contains("FAIL  Authorization/JWT envelope  JWT_MALFORMED"), "{}", text(&o));
}
