//! The Wycheproof JWS vectors through the unsigned envelope parser (spec §9 "JWT envelope").
//!
//! Every vector is signed, so as given each can only fail by being accepted: the first test pins
//! that and that the refusal is the signature rule's. The second strips each compact vector's
//! signature (`header.payload.`), which takes the envelope past the dot rule to the header rule:
//! Wycheproof's headers (RS256, PS256, ES256, HS256 with `kid`, `jwk`, `alg` "none" with a `kid`
//! or without `typ`, "NONE", whitespace variants) must each be refused there, by name. The file is
//! required: a missing file fails.

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

fn vectors() -> Vec<(serde_json::Value, String, bool)> {
    let text = std::fs::read_to_string(vectors_file()).expect("read Wycheproof vectors");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("vectors are JSON");
    let mut out = Vec::new();
    for group in doc["testGroups"].as_array().expect("testGroups") {
        for test in group["tests"].as_array().expect("tests") {
            // Compact serialisations are strings; JSON serialisations are tried in their text form.
            let (jws, compact) = match &test["jws"] {
                serde_json::Value::String(s) => (s.clone(), true),
                other => (other.to_string(), false),
            };
            out.push((test["tcId"].clone(), jws, compact));
        }
    }
    out
}

#[test]
fn wycheproof_headers_are_refused_by_the_header_rule_once_unsigned() {
    let limits = Limits::default();
    let mut reached_header = 0;
    for (id, jws, compact) in vectors() {
        let parts: Vec<&str> = jws.split('.').collect();
        if !compact || parts.len() != 3 || parts[0].is_empty() || parts[1].is_empty() {
            continue;
        }
        let unsigned = format!("{}.{}.", parts[0], parts[1]);
        let refusal = jwt::decode_unsigned(unsigned.as_bytes(), &limits).expect_err(&format!("tcId {id} accepted without its signature"));
        assert_eq!(refusal.reason, gpcguard::verdict::Reason::JwtMalformed, "tcId {id}");
        assert!(refusal.message.starts_with("the JWT header"), "tcId {id} refused by another rule than the header's: {}", refusal.message);
        reached_header += 1;
    }
    assert!(reached_header > 300, "only {reached_header} vectors reached the header rule");
}

#[test]
fn no_signed_wycheproof_jws_is_accepted() {
    let limits = Limits::default();
    let all = vectors();
    for (id, jws, compact) in &all {
        let decoded = jwt::decode_unsigned(jws.as_bytes(), &limits);
        let refusal = decoded.expect_err(&format!("tcId {id} accepted by the unsigned envelope parser"));
        // A compact token with a signature is refused as signed, before anything else is read.
        let parts: Vec<&str> = jws.split('.').collect();
        if *compact && parts.len() == 3 && !parts[0].is_empty() && !parts[1].is_empty() && !parts[2].is_empty() {
            assert!(refusal.message.contains("is signed"), "tcId {id}: a signed token refused for another reason: {}", refusal.message);
        }
        // The same through the Bearer form.
        let bearer = format!("Bearer {jws}");
        if let Ok(token) = jwt::bearer_token(bearer.as_bytes()) {
            assert!(jwt::decode_unsigned(token, &limits).is_err(), "tcId {id} accepted as a bearer token");
        }
    }
    let compact = all.iter().filter(|v| v.2).count();
    assert!(all.len() > 300 && compact > 0, "expected the Wycheproof vectors, found {compact} compact of {}", all.len());
}
