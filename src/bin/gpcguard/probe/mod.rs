//! `gpcguard probe`: checks a running provider against the security page, one row per SHALL,
//! from the outside, as the SSP and an attacker would connect. Every row says pass or fail with
//! its evidence (negotiated versions and suites, TLS alerts, HTTP statuses and headers); with a
//! test CA's key it also presents certificates the provider must refuse.

mod certs;
mod client;

use openssl::bn::BigNum;
use openssl::pkey::PKey;
use openssl::ssl::SslVersion;
use openssl::x509::{X509Crl, X509};
use serde_json::json;

use crate::args::{Command, Opt};
use crate::describe::load_guard;
use client::{connect, exchange, try_renegotiation, Identity, Offer, Response, Target};

pub const COMMAND: Command = Command {
    name: "probe",
    usage: "probe https://HOST:PORT/ROOT --config FILE --client CERT.pem --client-key KEY.pem [--test-ca CA.pem --test-ca-key CA.key] [--server-ca CA.pem]",
    about: "Checks a running provider against the GP Connect security page and prints one row per SHALL,\n\
with pass/fail and the evidence: TLS 1.2 only, the suites and their server order, client\n\
certificate required, renegotiation refused, Cache-Control: no-store and HSTS on responses, SSP\n\
headers, Ssp-To, interaction/endpoint, bearer token. ROOT is the foundations service root;\n\
--config gives the provider's ASID and the SSP FQDN; --client is a certificate the provider must\n\
accept. With --test-ca and --test-ca-key (a CA the provider trusts) it also presents an expired,\n\
a revoked-looking (a serial from the CA's configured CRL), a wrong-FQDN and an unrelated-CA\n\
certificate, after a good one as the control, and expects each refused.\n\
Exit status: 0 when every row passes, 1 when a row fails, 2 error.",
    options: &[
        Opt { name: "config", value: Some("FILE"), help: "the provider's gpcguard configuration (ASID, SSP FQDN, CRLs)" },
        Opt { name: "client", value: Some("CERT.pem"), help: "a client certificate the provider accepts (leaf first, then any chain)" },
        Opt { name: "client-key", value: Some("KEY.pem"), help: "its private key" },
        Opt { name: "test-ca", value: Some("CA.pem"), help: "a CA the provider trusts, to make test certificates with" },
        Opt { name: "test-ca-key", value: Some("CA.key"), help: "its private key" },
        Opt { name: "server-ca", value: Some("CA.pem"), help: "verify the provider's certificate against this CA (default: not judged)" },
    ],
};

/// One row's outcome.
enum Outcome {
    Pass(String),
    Fail(String),
    Skip(String),
}

struct Row {
    name: &'static str,
    shall: &'static str,
    outcome: Outcome,
}

/// What every question needs.
struct Probe {
    target: Target,
    identity: Identity,
    server_ca: Option<Vec<X509>>,
    asid: String,
    fqdn: String,
}

const IID: &str = "urn:nhs:names:services:gpconnect:";
const TRACE: &str = "09a01679-2564-0fb4-5129-aecc81ea2706";
const FROM: &str = "200000000359";

pub fn run(args: &[String]) -> i32 {
    let given = match crate::parse(&COMMAND, args) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let [url] = given.positional.as_slice() else {
        return crate::usage(&COMMAND, "one https://HOST:PORT/ROOT is needed");
    };
    let Some(target) = parse_url(url) else {
        return crate::usage(&COMMAND, &format!("{url} is not https://HOST:PORT/ROOT"));
    };
    let (Some(config), Some(cert), Some(key)) = (given.value("config"), given.value("client"), given.value("client-key")) else {
        return crate::usage(&COMMAND, "--config, --client and --client-key are required");
    };
    let guard = match load_guard(config) {
        Ok(g) => g,
        Err(m) => return crate::error(&COMMAND, &m),
    };
    let state = guard.state();
    let identity = match read_identity(cert, key) {
        Ok(i) => i,
        Err(m) => return crate::error(&COMMAND, &m),
    };
    let server_ca = match given.value("server-ca").map(|p| gpcguard::connection::pki::read_cert_file("--server-ca", p)) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => return crate::error(&COMMAND, &e.message),
    };
    let test_ca = match (given.value("test-ca"), given.value("test-ca-key")) {
        (None, None) => None,
        (Some(c), Some(k)) => match read_identity(c, k) {
            Ok(i) => Some(i),
            Err(m) => return crate::error(&COMMAND, &m),
        },
        _ => return crate::usage(&COMMAND, "--test-ca and --test-ca-key go together"),
    };
    let p = Probe {
        target,
        identity,
        server_ca,
        asid: state.settings.provider_asid.clone(),
        fqdn: state.settings.ssp_fqdn.first().cloned().unwrap_or_default(),
    };
    // The provider must be there at all: without a first handshake every row would fail alike.
    if let Err(e) = connect(&p.target, &p.offer(Some(&p.identity))) {
        if e.starts_with("connect ") {
            return crate::error(&COMMAND, &e);
        }
    }
    let mut rows = Vec::new();
    rows.extend(tls_rows(&p));
    rows.extend(http_rows(&p));
    match &test_ca {
        Some(ca) => rows.extend(certificate_rows(&p, ca, state.pki.crls())),
        None => rows.push(Row { name: "client-certificate-rules", shall: "expired, revoked, wrong-FQDN, untrusted certificates refused", outcome: Outcome::Skip("needs --test-ca and --test-ca-key".into()) }),
    }
    println!("gpcguard probe https://{}:{}{} (provider ASID {}, SSP FQDN {})", p.target.host, p.target.port, p.target.root, p.asid, p.fqdn);
    let mut failed = 0;
    for r in &rows {
        let (word, evidence) = match &r.outcome {
            Outcome::Pass(e) => ("PASS", e),
            Outcome::Fail(e) => {
                failed += 1;
                ("FAIL", e)
            }
            Outcome::Skip(e) => ("SKIP", e),
        };
        println!("{word}  {:<30} {}\n      {evidence}", r.name, r.shall);
    }
    let passed = rows.iter().filter(|r| matches!(r.outcome, Outcome::Pass(_))).count();
    println!("{passed} passed, {failed} failed, {} skipped", rows.len() - passed - failed);
    if failed == 0 { 0 } else { 1 }
}

impl Probe {
    fn offer<'a>(&'a self, identity: Option<&'a Identity>) -> Offer<'a> {
        Offer::tls12(identity, self.server_ca.as_deref())
    }

    /// A request over a new TLS 1.2 connection with `identity`.
    fn request(&self, identity: &Identity, method: &str, path: &str, headers: &[(&str, String)]) -> Result<Response, String> {
        let s = connect(&self.target, &self.offer(Some(identity)))?;
        exchange(s, &self.target, method, path, headers)
    }

    /// The SSP headers and token of a good metadata read, with `change` applied.
    fn headers(&self, change: impl FnOnce(&mut Vec<(&'static str, String)>)) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("Ssp-TraceID", TRACE.to_owned()),
            ("Ssp-From", FROM.to_owned()),
            ("Ssp-To", self.asid.clone()),
            ("Ssp-InteractionID", format!("{IID}fhir:rest:read:metadata-1")),
            ("Authorization", format!("Bearer {}", token(300, 300, "organization/*.read", &self.target))),
        ];
        change(&mut h);
        h
    }

    fn metadata(&self) -> String {
        format!("{}/metadata", self.target.root)
    }
}

fn set(h: &mut [(&'static str, String)], name: &str, value: String) {
    if let Some(slot) = h.iter_mut().find(|(n, _)| *n == name) {
        slot.1 = value;
    }
}

fn parse_url(url: &str) -> Option<Target> {
    let rest = url.strip_prefix("https://")?;
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let (host, port) = authority.rsplit_once(':')?;
    Some(Target { host: host.to_owned(), port: port.parse().ok()?, root: format!("/{}", path.trim_end_matches('/')).replace("//", "/").trim_end_matches('/').to_owned() })
}

fn read_identity(cert: &str, key: &str) -> Result<Identity, String> {
    let chain = gpcguard::connection::pki::read_cert_file("--client", cert).map_err(|e| e.message)?;
    let pem = std::fs::read(key).map_err(|e| format!("cannot read {key}: {e}"))?;
    let key = PKey::private_key_from_pem(&pem).map_err(|_| format!("{key} holds no PEM private key"))?;
    Ok(Identity { chain, key })
}

fn b64url(data: &[u8]) -> String {
    openssl::base64::encode_block(data).replace('+', "-").replace('/', "_").trim_end_matches('=').to_owned()
}

/// An unsigned GP Connect audit token (the provider test pack's baseline claims) expiring
/// `exp_in` seconds from now, with `lifetime` = exp - iat.
fn token(exp_in: i64, lifetime: i64, scope: &str, t: &Target) -> String {
    let exp = gpcguard::guard::system_now() + exp_in;
    let claims = json!({
        "iss": "https://consumersupplier.thirdparty.nhs.uk/", "sub": "1", "aud": format!("https://{}:{}{}", t.host, t.port, t.root),
        "exp": exp, "iat": exp - lifetime, "reason_for_request": "directcare", "requested_scope": scope,
        "requesting_device": {"resourceType": "Device", "identifier": [{"system": "https://consumersupplier.com/Id/device-identifier", "value": "GPCGUARD-PROBE"}], "model": "gpcguard probe", "version": env!("CARGO_PKG_VERSION")},
        "requesting_organization": {"resourceType": "Organization", "identifier": [{"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A11111"}], "name": "gpcguard probe"},
        "requesting_practitioner": {"resourceType": "Practitioner", "id": "1", "identifier": [{"system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "111111111"}, {"system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": "22222222222222"}], "name": [{"family": "Probe", "given": ["Gpcguard"], "prefix": ["Dr"]}]}
    });
    format!("{}.{}.", b64url(br#"{"alg":"none","typ":"JWT"}"#), b64url(claims.to_string().as_bytes()))
}

// ---- TLS ----------------------------------------------------------------------------------

fn tls_rows(p: &Probe) -> Vec<Row> {
    let mut rows = Vec::new();
    let id = Some(&p.identity);
    // TLS 1.2 accepted; 1.3, 1.1 and 1.0 refused (SSLv2/3 this OpenSSL cannot offer).
    let v12 = connect(&p.target, &p.offer(id));
    let mut evidence = match &v12 {
        Ok(s) => format!("{} negotiated ({})", s.version, s.cipher),
        Err(e) => format!("TLS 1.2 refused: {e}"),
    };
    let mut ok = v12.is_ok();
    for (name, v) in [("TLSv1.3", SslVersion::TLS1_3), ("TLSv1.1", SslVersion::TLS1_1), ("TLSv1", SslVersion::TLS1)] {
        let offer = Offer { min: v, max: v, ciphers: "ALL:@SECLEVEL=0", identity: id, server_ca: p.server_ca.as_deref() };
        match connect(&p.target, &offer) {
            Ok(s) => {
                ok = false;
                evidence.push_str(&format!("; {name} ACCEPTED ({})", s.cipher));
            }
            Err(e) => evidence.push_str(&format!("; {name} refused ({e})")),
        }
    }
    rows.push(row("tls-1.2-only", "TLS 1.2 with mutual authentication; no TLS 1.0, 1.1, SSLv2, SSLv3", ok, evidence));

    // Every TLS 1.2 suite this OpenSSL has, one handshake each.
    let policy = gpcguard::connection::tls::policy_suites().unwrap_or_default();
    let all = gpcguard::connection::tls::tls12_suites("ALL:@SECLEVEL=0").unwrap_or_default();
    let accepted: Vec<&String> = all
        .iter()
        .filter(|suite| connect(&p.target, &Offer { ciphers: &format!("{suite}:@SECLEVEL=0"), ..p.offer(id) }).is_ok())
        .collect();
    let outside: Vec<&&String> = accepted.iter().filter(|s| !policy.contains(s)).collect();
    let listed = accepted.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
    rows.push(if accepted.is_empty() {
        row("cipher-suites", "only AESGCM+EECDH:AESGCM+EDH:AES256+EECDH:AES256+EDH suites", false, format!("no suite of the {} offered was accepted", all.len()))
    } else if outside.is_empty() {
        // Not every policy suite is required (JSSE, for one, has no CCM suites), but say which the
        // server's key could do and it did not.
        let auth = |s: &str| if s.contains("-ECDSA-") { "ECDSA" } else if s.contains("-DSS-") { "DSS" } else { "RSA" };
        let missing = policy
            .iter()
            .filter(|s| all.contains(s) && !accepted.contains(s) && accepted.iter().any(|a| auth(a) == auth(s)))
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let missing = if missing.is_empty() { String::new() } else { format!("; policy suites for this key type not accepted: {missing}") };
        row("cipher-suites", "only AESGCM+EECDH:AESGCM+EDH:AES256+EECDH:AES256+EDH suites", true, format!("{} of {} suites accepted, all in the policy: {listed}{missing}", accepted.len(), all.len()))
    } else {
        let bad = outside.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
        row("cipher-suites", "only AESGCM+EECDH:AESGCM+EDH:AES256+EECDH:AES256+EDH suites", false, format!("accepted outside the policy: {bad} (accepted: {listed})"))
    });

    // Server order: offered the accepted suites in reverse, the server picks its first.
    let mut in_policy: Vec<&String> = accepted.iter().copied().filter(|s| policy.contains(s)).collect();
    in_policy.sort_by_key(|s| policy.iter().position(|p| p == *s));
    let order = if in_policy.len() < 2 {
        Outcome::Skip(format!("{} policy suite(s) accepted: no order to see", in_policy.len()))
    } else {
        let reversed = in_policy.iter().rev().map(|s| s.as_str()).collect::<Vec<_>>().join(":");
        match connect(&p.target, &Offer { ciphers: &format!("{reversed}:@SECLEVEL=0"), ..p.offer(id) }) {
            Ok(s) if s.cipher == *in_policy[0] => Outcome::Pass(format!("offered {reversed}; the server chose {} (its first)", s.cipher)),
            Ok(s) => Outcome::Fail(format!("offered {reversed}; the server chose {}, not {} (client order honoured)", s.cipher, in_policy[0])),
            Err(e) => Outcome::Fail(format!("offered {reversed}: refused ({e})")),
        }
    };
    rows.push(Row { name: "cipher-order", shall: "server cipher preference, in the policy's order", outcome: order });

    // No client certificate: refused in the handshake.
    let outcome = match connect(&p.target, &p.offer(None)) {
        Err(e) => Outcome::Pass(format!("handshake without a certificate refused ({e})")),
        Ok(s) => match exchange(s, &p.target, "GET", &p.metadata(), &p.headers(|_| {})) {
            Ok(r) => Outcome::Fail(format!("handshake completed without a client certificate; then HTTP {}", r.status)),
            Err(e) => Outcome::Fail(format!("handshake completed without a client certificate; then {e}")),
        },
    };
    rows.push(Row { name: "client-certificate-required", shall: "authenticate the SSP by its client certificate before responding", outcome });

    let outcome = match connect(&p.target, &p.offer(id)) {
        Err(e) => Outcome::Fail(format!("the first handshake failed: {e}")),
        Ok(s) => match try_renegotiation(s, &p.target) {
            Err(e) => Outcome::Pass(e),
            Ok(e) => Outcome::Fail(e),
        },
    };
    rows.push(Row { name: "renegotiation-refused", shall: "no renegotiation (client-initiated)", outcome });
    rows
}

fn row(name: &'static str, shall: &'static str, ok: bool, evidence: String) -> Row {
    Row { name, shall, outcome: if ok { Outcome::Pass(evidence) } else { Outcome::Fail(evidence) } }
}

// ---- HTTP ---------------------------------------------------------------------------------

fn describe(r: &Result<Response, String>) -> String {
    match r {
        Ok(r) => {
            let code = ["BAD_REQUEST", "INVALID_RESOURCE", "INTERNAL_SERVER_ERROR"].iter().find(|c| r.body.contains(*c)).copied().unwrap_or("");
            let oo = if r.body.contains("\"OperationOutcome\"") { format!(" OperationOutcome {code}") } else { String::new() };
            format!("HTTP {}{oo}", r.status)
        }
        Err(e) => e.clone(),
    }
}

/// A refusal as the page requires: the status and a FHIR OperationOutcome.
fn refused_with(r: &Result<Response, String>, status: u16) -> bool {
    matches!(r, Ok(r) if r.status == status && r.body.contains("\"OperationOutcome\""))
}

fn http_rows(p: &Probe) -> Vec<Row> {
    let mut rows = Vec::new();
    let get = |h: Vec<(&'static str, String)>, path: &str| p.request(&p.identity, "GET", path, &h);
    let good = get(p.headers(|_| {}), &p.metadata());
    let allowed = matches!(&good, Ok(r) if ![400, 401, 403, 422, 495, 496, 500].contains(&r.status));
    rows.push(row("allowed-request", "a correct request from the SSP is served", allowed, format!("GET {} with good SSP headers and token: {}", p.metadata(), describe(&good))));

    let no_trace = get(p.headers(|h| h.retain(|(n, _)| *n != "Ssp-TraceID")), &p.metadata());
    let cache = |r: &Result<Response, String>| match r {
        Ok(r) => {
            let v = r.all("Cache-Control");
            (v == ["no-store"], format!("HTTP {}: Cache-Control {}", r.status, if v.is_empty() { "absent".to_owned() } else { v.join(", ") }))
        }
        Err(e) => (false, e.clone()),
    };
    let (a, ea) = cache(&good);
    let (b, eb) = cache(&no_trace);
    rows.push(row("cache-control-no-store", "Cache-Control: no-store on every response", a && b, format!("good request: {ea}; request without Ssp-TraceID: {eb}")));
    let hsts = |r: &Result<Response, String>| match r {
        Ok(r) => r.header("Strict-Transport-Security").map_or((false, "absent".to_owned()), |v| (v.contains("max-age=") && !v.contains("max-age=0"), v.to_owned())),
        Err(e) => (false, e.clone()),
    };
    let ((a, ea), (b, eb)) = (hsts(&good), hsts(&no_trace));
    rows.push(row("hsts", "Strict-Transport-Security (RFC 6797)", a && b, format!("good request: {ea}; request without Ssp-TraceID: {eb}")));

    let bad_from = get(p.headers(|h| set(h, "Ssp-From", "not-an-asid".into())), &p.metadata());
    rows.push(row(
        "ssp-headers",
        "every SSP header present and well formed",
        refused_with(&no_trace, 400) && refused_with(&bad_from, 400),
        format!("without Ssp-TraceID: {}; Ssp-From not-an-asid: {}", describe(&no_trace), describe(&bad_from)),
    ));
    let other = if p.asid == "123456789123" { "123456789124" } else { "123456789123" };
    let wrong_to = get(p.headers(|h| set(h, "Ssp-To", other.into())), &p.metadata());
    rows.push(row("ssp-to", "Ssp-To is this provider's ASID", refused_with(&wrong_to, 400), format!("Ssp-To {other}: {}", describe(&wrong_to))));

    let mismatch = get(p.headers(|_| {}), &format!("{}/Patient/2", p.target.root));
    let unknown = get(p.headers(|h| set(h, "Ssp-InteractionID", format!("{IID}fhir:rest:read:nothing-1"))), &p.metadata());
    rows.push(row(
        "interaction-endpoint",
        "Ssp-InteractionID consistent with the endpoint",
        refused_with(&mismatch, 400) && refused_with(&unknown, 400),
        format!("metadata interaction on {}/Patient/2: {}; unknown interaction: {}", p.target.root, describe(&mismatch), describe(&unknown)),
    ));

    let none = get(p.headers(|h| h.retain(|(n, _)| *n != "Authorization")), &p.metadata());
    let signed = format!("Bearer {}.{}.c2ln", b64url(br#"{"alg":"HS256","typ":"JWT"}"#), b64url(br#"{"sub":"1"}"#));
    let signed = get(p.headers(|h| set(h, "Authorization", signed)), &p.metadata());
    let expired = get(p.headers(|h| set(h, "Authorization", format!("Bearer {}", token(-60, 300, "organization/*.read", &p.target)))), &p.metadata());
    let lifetime = get(p.headers(|h| set(h, "Authorization", format!("Bearer {}", token(300, 301, "organization/*.read", &p.target)))), &p.metadata());
    rows.push(row(
        "bearer-token",
        "an unsigned GP Connect JWT with every claim right, unexpired",
        [&none, &signed, &expired, &lifetime].iter().all(|r| refused_with(r, 400)),
        format!(
            "no Authorization: {}; HS256-signed: {}; expired 60 s ago: {}; exp - iat = 301: {}",
            describe(&none),
            describe(&signed),
            describe(&expired),
            describe(&lifetime)
        ),
    ));
    rows
}

// ---- client certificates made with the test CA --------------------------------------------

/// Presents `id` with a good request: Ok(evidence) when served, Err(evidence) when refused.
fn present(p: &Probe, id: &Identity) -> Result<String, String> {
    match connect(&p.target, &p.offer(Some(id))) {
        Err(e) => Err(format!("refused in the handshake ({e})")),
        Ok(s) => match exchange(s, &p.target, "GET", &p.metadata(), &p.headers(|_| {})) {
            Ok(r) if [400, 403, 495, 496].contains(&r.status) => Err(format!("refused with HTTP {}", r.status)),
            Ok(r) => Ok(format!("served, HTTP {}", r.status)),
            Err(e) => Err(format!("no response after the handshake ({e})")),
        },
    }
}

fn certificate_rows(p: &Probe, ca: &Identity, crls: &[gpcguard::connection::pki::CrlInfo]) -> Vec<Row> {
    let mut rows = Vec::new();
    let ca_cert = &ca.chain[0];
    let with_ca = |mut id: Identity, issuer: &X509| {
        id.chain.push(issuer.clone());
        id
    };
    let leaf = |cn: &'static str, dns: &str, nb: i64, na: i64, serial: Option<&BigNum>| certs::issue(ca_cert, &ca.key, &certs::Leaf { cn, dns, not_before: nb, not_after: na, serial }).map(|i| with_ca(i, ca_cert));
    let control = leaf("gpcguard probe control", &p.fqdn, -3600, 86_400, None).map(|id| present(p, &id));
    let control_ok = matches!(control, Ok(Ok(_)));
    rows.push(Row {
        name: "test-ca-control",
        shall: "a good certificate from the test CA is accepted (so the refusals below mean something)",
        outcome: match control {
            Ok(Ok(e)) => Outcome::Pass(e),
            Ok(Err(e)) => Outcome::Fail(e),
            Err(e) => Outcome::Fail(format!("cannot make the certificate: {e}")),
        },
    });
    let mut expect_refused = |name: &'static str, shall: &'static str, id: Result<Identity, String>| {
        let outcome = match id.map(|id| present(p, &id)) {
            Err(e) => Outcome::Fail(format!("cannot make the certificate: {e}")),
            Ok(Err(e)) if control_ok => Outcome::Pass(e),
            Ok(Err(e)) => Outcome::Fail(format!("{e}, but so was the control")),
            Ok(Ok(e)) => Outcome::Fail(format!("accepted: {e}")),
        };
        rows.push(Row { name, shall, outcome });
    };
    expect_refused("certificate-expired", "an expired client certificate is refused", leaf("gpcguard probe expired", &p.fqdn, -86_400 * 400, -86_400, None));
    expect_refused("certificate-wrong-fqdn", "a certificate without the SSP's FQDN is refused", leaf("not-the-ssp.invalid", "not-the-ssp.invalid", -3600, 86_400, None));
    let unrelated = certs::impostor_ca(ca_cert).and_then(|(imp, key)| {
        certs::issue(&imp, &key, &certs::Leaf { cn: "gpcguard probe unrelated", dns: &p.fqdn, not_before: -3600, not_after: 86_400, serial: None }).map(|i| with_ca(i, &imp))
    });
    expect_refused("certificate-unrelated-ca", "a certificate from a CA outside the Spine chain is refused (same CA name, other key)", unrelated);
    match revoked_serial(ca_cert, crls) {
        Some((serial, source)) => {
            let hex = serial.to_hex_str().map(|h| h.to_string()).unwrap_or_default();
            let id = leaf("gpcguard probe revoked-looking", &p.fqdn, -3600, 86_400, Some(&serial));
            expect_refused("certificate-revoked", "a revoked certificate is refused", id);
            if let Some(Row { outcome: Outcome::Pass(e) | Outcome::Fail(e), .. }) = rows.last_mut() {
                e.push_str(&format!(" (serial {hex}, revoked in {source})"));
            }
        }
        None => rows.push(Row { name: "certificate-revoked", shall: "a revoked certificate is refused", outcome: Outcome::Skip("the configured CRLs of the test CA revoke nothing to imitate".into()) }),
    }
    rows
}

/// A serial the test CA's configured CRL revokes, and that CRL's file.
fn revoked_serial(ca: &X509, crls: &[gpcguard::connection::pki::CrlInfo]) -> Option<(BigNum, String)> {
    let subject = gpcguard::connection::pki::name_text(ca.subject_name());
    crls.iter().filter(|c| c.issuer == subject).find_map(|c| {
        let bytes = std::fs::read(&c.source).ok()?;
        let crl = X509Crl::from_pem(&bytes).or_else(|_| X509Crl::from_der(&bytes)).ok()?;
        let serial = crl.get_revoked()?.iter().next()?.serial_number().to_bn().ok()?;
        Some((serial, c.source.clone()))
    })
}
