//! Every Wycheproof JWS vector through the unsigned envelope parser: none is a GP Connect token,
//! so none may be accepted (spec §9 "JWT envelope"). The file is required: a missing file fails.

use std::path::PathBuf;

use gpcguard::config::Limits;
use gpcguard::request::jwt;

fn vectors_file() -> PathBuf {
    let rel = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/wycheproof/json_web_signature_test.json");
    if rel.is_file() {
        return rel;
    }
    let abs = PathBuf::from("/work/shared/testdata/wycheproof/json_web_signature_test.json");
    assert!(abs.is_file(), "Wycheproof JWS vectors not found at {} nor {}", rel.display(), abs.display());
    abs
}

#[test]
fn no_wycheproof_jws_is_accepted_unsigned() {
    let text = std::fs::read_to_string(vectors_file()).expect("read Wycheproof vectors");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("vectors are JSON");
    let limits = Limits::default();
    let mut compact = 0;
    let mut all = 0;
    for group in doc["testGroups"].as_array().expect("testGroups") {
        for test in group["tests"].as_array().expect("tests") {
            all += 1;
            let id = &test["tcId"];
            // Compact serialisations are strings; JSON serialisations are tried in their text form.
            let jws = match &test["jws"] {
                serde_json::Value::String(s) => {
                    compact += 1;
                    s.clone()
                }
                other => other.to_string(),
            };
            let decoded = jwt::decode_unsigned(jws.as_bytes(), &limits);
            assert!(decoded.is_err(), "tcId {id} accepted by the unsigned envelope parser");
            // The same through the Bearer form.
            let bearer = format!("Bearer {jws}");
            if let Ok(token) = jwt::bearer_token(bearer.as_bytes()) {
                assert!(jwt::decode_unsigned(token, &limits).is_err(), "tcId {id} accepted as a bearer token");
            }
        }
    }
    assert!(all > 300 && compact > 0, "expected the Wycheproof vectors, found {compact} compact of {all}");
}
