//! The Authorization value through the JWT envelope: `jwt::bearer_token`, `jwt::decode_unsigned`,
//! `claims::read`. Input: the raw header value (e.g. `Bearer eyJ...`).
//!
//! Oracles beyond "no crash": an accepted envelope is `header.payload.` whose header decodes (by
//! an independent decoder, read by serde_json) to exactly {"alg":"none","typ":"JWT"}, whose
//! payload re-encodes to the bytes sent (one encoding per value), within max_json_bytes; an
//! accepted payload is JSON serde_json reads as an object too, with no two member names equal
//! ignoring ASCII case.
#![no_main]

use gpcguard::request::claims::{self, FhirElements};
use gpcguard::config::Limits;
use gpcguard::request::jwt;
use gpcguard_fuzz::{b64url, b64url_decode_lenient, has_case_twins, within_budget};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    within_budget("jwt_envelope", || {
        let Ok(token) = jwt::bearer_token(data) else { return };
        assert!(data.len() > 7 && data[..6].eq_ignore_ascii_case(b"bearer") && data[6] == b' ' && token == &data[7..]);
        let Ok(payload) = jwt::decode_unsigned(token, &limits) else { return };
        assert!(payload.len() <= limits.max_json_bytes, "payload over max_json_bytes accepted");

        let parts: Vec<&[u8]> = token.split(|&b| b == b'.').collect();
        assert!(parts.len() == 3 && parts[2].is_empty() && !parts[0].is_empty(), "accepted envelope is not header.payload.");
        assert_eq!(b64url(&payload), parts[1], "payload decoded from a non-canonical encoding");
        let header = b64url_decode_lenient(parts[0]).expect("accepted header is not base64url");
        assert_eq!(b64url(&header), parts[0], "header decoded from a non-canonical encoding");
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&header).expect("accepted header is not a JSON object to serde_json");
        assert_eq!(header.len(), 2, "accepted header has other members: {header:?}");
        assert_eq!(header.get("alg").and_then(|v| v.as_str()), Some("none"));
        assert_eq!(header.get("typ").and_then(|v| v.as_str()), Some("JWT"));

        if claims::read(&payload, &limits, FhirElements::standard().expect("FHIR element lists")).is_ok() {
            match serde_json::from_slice::<serde_json::Value>(&payload) {
                Ok(v) => {
                    assert!(v.is_object(), "accepted payload is not an object to serde_json");
                    assert!(!has_case_twins(&v), "accepted payload has member names that differ only in ASCII case");
                }
                // serde_json refuses numbers beyond f64 (1e400); JSON does not, nor do we.
                Err(e) => assert!(e.to_string().contains("number out of range"), "accepted payload is not JSON to serde_json: {e}"),
            }
        }
    })
});
