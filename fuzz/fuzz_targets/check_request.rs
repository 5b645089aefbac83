//! The whole per-request check, `RequestChecker::check`, on a guard-less checker (settings from
//! `Settings::for_tests` with the three GP Connect service roots). Input format (see
//! `gpcguard_fuzz::RawRequest`): method line, target line, then one `Name:value` header per line.
//! `now` is fixed inside the seed tokens' lifetime, so the seeds reach an "allowed".
//!
//! Oracles: an allowed verdict has status 200, no OperationOutcome, an interaction, exactly one
//! Ssp-To equal to the provider's ASID and exactly one Authorization whose token the envelope
//! functions accept; every verdict carries a one-line JSON audit record saying the same verdict;
//! the bearer token never appears in the audit record, the message or the OperationOutcome.
#![no_main]

use std::sync::OnceLock;

use gpcguard::config::{Capability, Limits, ServiceRoot, Settings};
use gpcguard::request::{Request, RequestChecker};
use gpcguard::request::jwt;
use gpcguard_fuzz::{trace, within_budget, RawRequest};
use libfuzzer_sys::fuzz_target;

const PROVIDER_ASID: &str = "918999198993";
const G: &str = "/A1/STU3/1/gpconnect";
/// The seed tokens' iat + 10 s.
const NOW: i64 = 1_503_995_582 + 10;

fn checker() -> &'static RequestChecker {
    static C: OnceLock<RequestChecker> = OnceLock::new();
    C.get_or_init(|| {
        let mut s = Settings::for_tests(PROVIDER_ASID, "msg.dev.spine2.ncrs.nhs.uk");
        s.service_roots = vec![
            ServiceRoot { capability: Capability::Structured, prefix: format!("{G}/structured") },
            ServiceRoot { capability: Capability::Documents, prefix: format!("{G}/documents") },
            ServiceRoot { capability: Capability::Foundations, prefix: G.to_owned() },
        ];
        RequestChecker::new(&s).expect("request checker")
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn values<'a>(req: &RawRequest<'a>, name: &str) -> Vec<&'a [u8]> {
    req.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| *v).collect()
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(v.len());
    let end = v.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |i| i + 1);
    &v[start..end]
}

fuzz_target!(|data: &[u8]| {
    let checker = checker();
    let raw = RawRequest::parse(data);
    within_budget("check_request", || {
        let req = Request { method: raw.method, target: raw.target, headers: &raw.headers, now: NOW };
        let v = checker.check(&req);
        trace(|| format!("{:?} {}", v.reason, v.message));

        let record: serde_json::Value = serde_json::from_str(&v.audit_record).expect("the audit record is JSON");
        assert!(!v.audit_record.contains('\n'));
        assert_eq!(record["verdict"].as_str(), Some(if v.allowed() { "allowed" } else { "refused" }));

        let auth = values(&raw, "authorization");
        for a in &auth {
            let a = trim(a);
            let token = if a.len() > 7 { &a[7..] } else { continue };
            let plausible = token.len() >= 40 && token.iter().all(|&b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            // Text the request also carries elsewhere (the target, another header such as an
            // Ssp-InteractionID the record names) may rightly be logged from there.
            let elsewhere = contains(raw.method, token)
                || contains(raw.target, token)
                || raw.headers.iter().any(|(n, v)| !n.eq_ignore_ascii_case(b"authorization") && contains(v, token));
            if plausible && !elsewhere {
                assert!(!contains(v.audit_record.as_bytes(), token), "the token is in the audit record");
                assert!(!contains(v.message.as_bytes(), token), "the token is in the verdict message");
                if let Some(oo) = &v.operation_outcome() {
                    assert!(!contains(oo.as_bytes(), token), "the token is in the OperationOutcome");
                }
            }
        }

        if v.allowed() {
            assert_eq!(v.http_status(), 200);
            assert!(v.operation_outcome().is_none() && !v.interaction_id.is_empty());
            let to = values(&raw, "ssp-to");
            assert_eq!(to.len(), 1, "allowed with {} Ssp-To headers", to.len());
            assert_eq!(trim(to[0]), PROVIDER_ASID.as_bytes(), "allowed with another Ssp-To");
            assert_eq!(auth.len(), 1, "allowed with {} Authorization headers", auth.len());
            let limits = Limits::default();
            let token = jwt::bearer_token(trim(auth[0])).expect("allowed with a non-Bearer Authorization");
            let payload = jwt::decode_unsigned(token, &limits).expect("allowed with a bad envelope");
            let elements = gpcguard::request::claims::FhirElements::standard().expect("FHIR element lists");
            gpcguard::request::claims::read(&payload, &limits, elements).expect("allowed with a bad payload");
        } else {
            assert_ne!(v.http_status(), 200);
            assert!(v.operation_outcome().is_some());
        }
    })
});
