//! The operators' command `gpcguard` (src/bin/gpcguard): check-config, check-cert and
//! check-request run as an operator runs them, on the test PKI of `c-tests/make-pki.sh`, with
//! the `openssl` CLI as the independent peer for the suite expansion.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::io::Write;

use common::{b64url, make_pki, repo, work_dir};

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
    // The same token for an organisation read: the scope rule refuses.
    let o = gpcguard(&["check-request", "--config", &config(), "--token", &t, "--interaction", "fhir:rest:read:metadata-1"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let failed: Vec<_> = rule_lines(&text(&o)).into_iter().filter(|r| r.status == "FAIL").collect();
    assert_eq!(failed.len(), 1, "{}", text(&o));
    assert_eq!((failed[0].step.as_str(), failed[0].rule.as_str()), ("scope", "requested_scope permits the interaction"));
    assert!(failed[0].detail.starts_with("SCOPE_DENIED: requested_scope patient/*.read does not permit interaction"), "{}", text(&o));
    // A token that cannot be read: the envelope says why, and no rule is judged.
    for (bad, why) in [
        ("eyJhbGciOiJIUzI1NiJ9.e30.c2ln".to_owned(), "JWT_MALFORMED: the bearer token is signed"),
        (format!("{}.{}.", b64url(br#"{"alg":"none","typ":"JWT"}"#), b64url(b"{\"iss\":")), "JWT_MALFORMED: the JWT payload is not valid JSON"),
        (format!("{}.{}=.", b64url(br#"{"alg":"none","typ":"JWT"}"#), b64url(b"{}")), "JWT_MALFORMED: the JWT payload is not strict base64url without padding"),
    ] {
        let o = gpcguard(&["check-request", "--config", &config(), "--token", &bad]);
        assert_eq!(code(&o), 1, "{}", text(&o));
        assert!(text(&o).contains(&format!("FAIL  Authorization/JWT envelope  {why}")), "{}", text(&o));
        assert_eq!(rule_lines(&text(&o)), vec![], "{}", text(&o));
        assert!(text(&o).contains("-     claims                      not reached"), "{}", text(&o));
    }
}


/// When the tokens below were issued; they are judged 10 s later (`--at`).
const IAT: i64 = 1_800_000_000;

/// The provider test pack's claims for the metadata read (`organization/*.read`), issued at [`IAT`].
fn good_claims() -> serde_json::Value {
    serde_json::json!({
        "iss": "https://consumersupplier.thirdparty.nhs.uk/", "sub": "1", "aud": "https://provider.thirdparty.nhs.uk/A20047/STU3/1/gpconnect",
        "exp": IAT + 300, "iat": IAT, "reason_for_request": "directcare", "requested_scope": "organization/*.read",
        "requesting_device": {"resourceType": "Device", "identifier": [{"system": "https://consumersupplier.com/Id/device-identifier", "value": "CONS-APP-4"}], "model": "Consumer product name", "version": "5.3.0"},
        "requesting_organization": {"resourceType": "Organization", "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A11111"}], "name": "Consumer organisation name"},
        "requesting_practitioner": {"resourceType": "Practitioner", "id": "1", "identifier": [{"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "111111111"}, {"system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": "22222222222222"}], "name": [{"family": "Demo", "given": ["Clinician"], "prefix": ["Dr"]}]}
    })
}

fn unsigned(claims: &serde_json::Value) -> String {
    format!("{}.{}.", b64url(br#"{"alg":"none","typ":"JWT"}"#), b64url(claims.to_string().as_bytes()))
}

/// Every claim, time and scope rule, in the settled order (spec §4.2, §4.4, §9; API.md "Order of
/// checks"), as `check-request --token` lists them.
const RULES: [(&str, &str); 42] = [
    ("claims", "iss present"), ("claims", "sub present"), ("claims", "aud present"), ("claims", "exp present"), ("claims", "iat present"),
    ("claims", "reason_for_request present"), ("claims", "requested_scope present"), ("claims", "requesting_device present"),
    ("claims", "requesting_organization present"), ("claims", "requesting_practitioner present"),
    ("claims", "requested_record absent (a 0.x claim)"),
    ("claims", "iss a non-empty string"), ("claims", "sub a non-empty string"), ("claims", "aud a non-empty string"),
    ("claims", "aud this provider's audience"), ("claims", "exp an integer"), ("claims", "iat an integer"), ("claims", "exp 300 seconds after iat"),
    ("claims", "reason_for_request a string"), ("claims", "reason_for_request for the interaction"),
    ("claims", "requested_scope a string"), ("claims", "requested_scope in the grammar"),
    ("claims", "requesting_device a JSON object"), ("claims", "requesting_device a FHIR STU3 Device"),
    ("claims", "requesting_device.identifier (system and value)"), ("claims", "requesting_device.model"), ("claims", "requesting_device.version"),
    ("claims", "requesting_organization a JSON object"), ("claims", "requesting_organization a FHIR STU3 Organization"),
    ("claims", "requesting_organization.name"), ("claims", "requesting_organization: one ODS code identifier"),
    ("claims", "requesting_practitioner a JSON object"), ("claims", "requesting_practitioner a FHIR STU3 Practitioner"),
    ("claims", "requesting_practitioner.id"), ("claims", "requesting_practitioner.name, each with a family"),
    ("claims", "requesting_practitioner: one SDS user id identifier"), ("claims", "requesting_practitioner: SDS role profile ids with values"),
    ("claims", "sub is requesting_practitioner.id"),
    ("times", "exp not past (clock_skew_seconds)"), ("times", "iat not in the future (check_iat_future)"),
    ("scope", "conf/R only for the migrate interactions"), ("scope", "requested_scope permits the interaction"),
];

/// A rule line of `check-request --token`: `  pass  STEP   RULE`, `  FAIL  STEP   RULE  REASON: message`
/// or `  -     STEP   RULE  not applicable: why`.
#[derive(Debug, PartialEq)]
struct RuleLine {
    status: String,
    step: String,
    rule: String,
    detail: String,
}

fn rule_lines(out: &str) -> Vec<RuleLine> {
    out.lines()
        .filter_map(|l| {
            let (status, rest) = [("pass", "  pass  "), ("FAIL", "  FAIL  "), ("-", "  -     ")].into_iter().find_map(|(s, p)| l.strip_prefix(p).map(|r| (s, r)))?;
            // STEP padded to 6, one space, the rule (the steps' lines pad their names to 27).
            let (step, rest) = (rest.get(..6)?.trim_end(), rest.get(6..)?.strip_prefix(' ')?);
            if !["claims", "times", "scope"].contains(&step) || rest.starts_with(' ') {
                return None;
            }
            let (rule, detail) = rest.split_once("  ").unwrap_or((rest, ""));
            Some(RuleLine { status: status.into(), step: step.into(), rule: rule.trim_end().into(), detail: detail.trim_start().into() })
        })
        .collect()
}

fn line_after<'o>(out: &'o str, prefix: &str) -> &'o str {
    out.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no line {prefix:?} in\n{out}"))
}

fn explain_token(config: &str, token: &str) -> Output {
    let at = (IAT + 10).to_string();
    gpcguard(&["check-request", "--config", config, "--at", &at, "--token", token, "--interaction", "fhir:rest:read:metadata-1"])
}

#[test]
fn check_request_token_lists_every_failed_rule_with_its_message() {
    // Three faults in three claims: aud empty, the device without a model, a practitioner id that is not sub.
    let mut claims = good_claims();
    claims["aud"] = "".into();
    claims["requesting_device"].as_object_mut().unwrap().remove("model");
    claims["requesting_practitioner"]["id"] = "2".into();
    let token = unsigned(&claims);
    let o = explain_token(&config(), &token);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let out = text(&o);
    let lines = rule_lines(&out);
    let listed: Vec<(&str, &str)> = lines.iter().map(|l| (l.step.as_str(), l.rule.as_str())).collect();
    assert_eq!(listed, RULES, "{out}");
    let failed: Vec<(&str, &str)> = lines.iter().filter(|l| l.status == "FAIL").map(|l| (l.rule.as_str(), l.detail.as_str())).collect();
    assert_eq!(
        failed,
        [
            ("aud a non-empty string", "JWT_CLAIM_INVALID: the JWT claim aud is an empty string"),
            ("requesting_device.model", "JWT_CLAIM_INVALID: requesting_device.model is missing"),
            ("sub is requesting_practitioner.id", "JWT_CLAIM_INVALID: the JWT claim sub is not requesting_practitioner.id"),
        ],
        "{out}"
    );
    // Not applicable here: the audience (no jwt_audience, and aud failed) and a future iat (check_iat_future off).
    let na: Vec<&str> = lines.iter().filter(|l| l.status == "-").map(|l| l.rule.as_str()).collect();
    assert_eq!(na, ["aud this provider's audience", "iat not in the future (check_iat_future)"], "{out}");
    assert_eq!(lines.iter().filter(|l| l.status == "pass").count(), 37, "{out}");
    assert!(out.contains("rules     42 in all: 37 pass, 3 fail, 2 not applicable"), "{out}");
    assert!(out.contains("\"aud\": \"\""), "the decoded payload: {out}");

    // The list agrees with the verdict: the first failed rule is the verdict's step and message, ...
    assert_eq!(line_after(&out, "verdict   "), "refused at claims: JWT_CLAIM_INVALID (BAD_REQUEST), status 400", "{out}");
    assert_eq!(line_after(&out, "message   "), "the JWT claim aud is an empty string", "{out}");
    // ... and a host's check of a captured request with this token refuses with that message.
    let at = (IAT + 10).to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gpcguard"))
        .args(["check-request", "--config", &config(), "--at", &at, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(request("918999198993", &token).as_bytes()).unwrap();
    let host = child.wait_with_output().unwrap();
    assert_eq!(code(&host), 1, "{}", text(&host));
    assert_eq!(line_after(&text(&host), "message   "), "the JWT claim aud is an empty string", "{}", text(&host));
    assert!(text(&host).contains("  FAIL  claims                      JWT_CLAIM_INVALID: the JWT claim aud is an empty string"), "{}", text(&host));

    // Once aud is right, the next failed rule decides.
    claims["aud"] = "https://provider.thirdparty.nhs.uk/A20047/STU3/1/gpconnect".into();
    let o = explain_token(&config(), &unsigned(&claims));
    let out = text(&o);
    assert_eq!(rule_lines(&out).iter().filter(|l| l.status == "FAIL").count(), 2, "{out}");
    assert_eq!(line_after(&out, "message   "), "requesting_device.model is missing", "{out}");
}

#[test]
fn check_request_token_lists_every_rule_as_pass_for_a_good_token() {
    // The optional rules on, so that every rule applies: the audience and a future iat.
    let strict = pki().join("strict.toml");
    let mut text_in = std::fs::read_to_string(pki().join("provider.toml")).unwrap();
    text_in.push_str("jwt_audience = \"https://provider.thirdparty.nhs.uk/A20047/STU3/1/gpconnect\"\ncheck_iat_future = true\n");
    std::fs::write(&strict, text_in).unwrap();
    let o = explain_token(strict.to_str().unwrap(), &unsigned(&good_claims()));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = text(&o);
    let lines = rule_lines(&out);
    let listed: Vec<(&str, &str)> = lines.iter().map(|l| (l.step.as_str(), l.rule.as_str())).collect();
    assert_eq!(listed, RULES, "{out}");
    assert!(lines.iter().all(|l| l.status == "pass" && l.detail.is_empty()), "{out}");
    assert!(out.contains("rules     42 in all: 42 pass, 0 fail, 0 not applicable"), "{out}");
    assert_eq!(line_after(&out, "verdict   "), "the token is acceptable for urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1", "{out}");
}
