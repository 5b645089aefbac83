//! Test helpers: the GP Connect provider test pack's baseline token (JwtFactory defaults), so that
//! each test changes exactly one thing, and a base64url encoder independent of the decoder.

use serde_json::{json, Value};

pub const PROVIDER_ASID: &str = "918999198993";
pub const CONSUMER_ASID: &str = "200000000359";
pub const TRACE_ID: &str = "5b1e7a4c-9f2d-4c1b-8e3a-2d6f0c9b7a15";
/// The baseline's `iat`; `exp` is 300 s later.
pub const IAT: i64 = 1_503_995_582;
/// A `now` inside the baseline token's lifetime.
pub const NOW: i64 = IAT + 10;

/// The test pack's default claims, for `patient/*.read` (~1.1 KB of JSON, ~1.5 KB encoded).
pub fn baseline_claims() -> Value {
    json!({
        "iss": "http://gpconnect-uat.answerappcloud.com/",
        "sub": "1",
        "aud": "https://authorize.fhir.nhs.net/token",
        "exp": IAT + 300,
        "iat": IAT,
        "reason_for_request": "directcare",
        "requested_scope": "patient/*.read",
        "requesting_device": {
            "resourceType": "Device",
            "identifier": [{ "system": "GPConnectTestSystem", "value": "Client" }],
            "model": "v1",
            "version": "1.1"
        },
        "requesting_organization": {
            "resourceType": "Organization",
            "identifier": [{ "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "GPCA0001" }],
            "name": "GP Connect Assurance"
        },
        "requesting_practitioner": {
            "resourceType": "Practitioner",
            "id": "1",
            "identifier": [
                { "system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "GCASDS0001" },
                { "system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": "112233445566" },
                { "system": "https://consumersupplier.com/Id/user-guid", "value": "98ed4f78-814d-4266-8d5b-cde742f3093c" }
            ],
            "name": [{ "family": "AssurancePractitioner", "given": ["AssuranceTest"], "prefix": ["Dr."] }]
        }
    })
}

pub fn b64url(data: &[u8]) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len() * 4 / 3 + 3);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..c.len() + 1 {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

pub const HEADER: &str = r#"{"alg":"none","typ":"JWT"}"#;

/// An unsigned token with the given raw payload text.
pub fn token_raw(payload: &str) -> String {
    format!("{}.{}.", b64url(HEADER.as_bytes()), b64url(payload.as_bytes()))
}

pub fn token(claims: &Value) -> String {
    token_raw(&claims.to_string())
}

/// `claims` with the member at `path` (dot-separated, array indexes as numbers) replaced, or
/// removed when `value` is `None`.
pub fn with(mut claims: Value, path: &str, value: Option<Value>) -> Value {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap();
    let mut at = &mut claims;
    for p in parts {
        at = match p.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[p],
        };
    }
    match (at, value) {
        (Value::Object(m), Some(v)) => {
            m.insert(last.to_owned(), v);
        }
        (Value::Object(m), None) => {
            m.remove(last);
        }
        (Value::Array(a), Some(v)) => a[last.parse::<usize>().unwrap()] = v,
        (Value::Array(a), None) => {
            a.remove(last.parse::<usize>().unwrap());
        }
        _ => panic!("bad path {path}"),
    }
    claims
}

/// This test process's folder in the temp directory (`gpcguard-unit-PID`), where the unit tests'
/// files go. A test process cannot remove it when it ends (statics are never dropped), so making
/// it first removes those of test processes that have ended (no /proc entry for their PID).
pub fn process_dir() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = std::env::temp_dir();
        for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let pid = name.to_str().and_then(|n| n.strip_prefix("gpcguard-unit-")).and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tmp.join(format!("gpcguard-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the test process's temp folder");
        dir
    })
}

/// The test PKI of `c-tests/make-pki.sh` (made by the openssl command), made once per test
/// process; tests that change its files work on a [`pki_copy`].
pub fn test_pki() -> &'static std::path::Path {
    static PKI: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let dir = process_dir().join("test-pki");
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("c-tests/make-pki.sh");
        let out = std::process::Command::new(script).arg(&dir).output().expect("run c-tests/make-pki.sh");
        assert!(out.status.success(), "make-pki.sh: {}", String::from_utf8_lossy(&out.stderr));
        dir
    })
}

/// A fresh copy of [`test_pki`]'s files, in a folder of its own per `tag` (unique per test).
pub fn pki_copy(tag: &str) -> std::path::PathBuf {
    let dir = process_dir().join(format!("pki-{tag}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(test_pki()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
    }
    dir
}
