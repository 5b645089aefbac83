//! The audit claims on a fuzzed JSON payload: `claims::read` (the strict JSON reader), then
//! `claims::check` against every interaction of the table (with and without a configured
//! audience), `claims::check_times` and `scope::check`. Input: the payload JSON.
//!
//! Oracles: the strict parser and serde_json agree (what we accept serde_json reads the same way;
//! what serde_json accepts we refuse only for duplicate members, member names that differ only in
//! ASCII case, or depth); what serde_json reads with case twins (found independently) we refuse,
//! and we never call twins what has none; accepted claims have
//! exp = iat + 300 as serde_json reads them, the reason the interaction needs, no
//! requested_record; the audit record is one JSON line; an `exp` in the past by even one second
//! is expired.
#![no_main]

use gpcguard::request::audit::Provenance;
use gpcguard::request::claims::{self, ClaimRules, FhirElements, TimeRules};
use gpcguard::config::Limits;
use gpcguard::request::interactions::Table;
use gpcguard::request::json::{self, JsonError};
use gpcguard::verdict::Reason;
use gpcguard::request::scope;
use gpcguard_fuzz::{has_case_twins, trace, within_budget};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const AUDIENCE: &str = "https://authorize.fhir.nhs.net/token";

fuzz_target!(|data: &[u8]| {
    let table = Table::standard().expect("interaction table");
    let elements = FhirElements::standard().expect("FHIR element lists");
    let limits = Limits::default();
    within_budget("claims", || {
        let ours = json::validate(data, limits.max_json_depth);
        let theirs = serde_json::from_slice::<Value>(data);
        match (&ours, &theirs) {
            (Ok(_), Err(e)) => assert!(
                e.to_string().contains("number out of range"),
                "the strict parser accepted JSON serde_json refuses: {e}"
            ),
            (Err(e), Ok(_)) => assert!(
                matches!(e, JsonError::DuplicateMember | JsonError::CaseTwinMember | JsonError::TooDeep),
                "the strict parser refused ({e:?}) JSON serde_json accepts"
            ),
            _ => {}
        }
        if let Ok(v) = &theirs {
            let twins = has_case_twins(v);
            assert!(!(ours.is_ok() && twins), "the strict parser accepted member names that differ only in ASCII case");
            assert!(twins || ours != Err(JsonError::CaseTwinMember), "refused as case twins, but serde_json reads none");
        }
        let read = claims::read(data, &limits, elements);
        // The claims reader reads as the plain reader does: the same JSON accepted and refused.
        assert_eq!(read.is_ok(), matches!(ours, Ok(json::Kind::Object)), "claims::read and json::validate disagree");
        let Ok(payload) = read else { return };
        let serde = theirs.ok();
        for row in table.rows() {
            for audience in [None, Some(AUDIENCE)] {
                let rules = ClaimRules { elements, audience };
                let mut prov = Provenance::default();
                let checked = claims::check(&payload, row, &rules, &mut prov);
                trace(|| format!("{} aud {audience:?}: {:?}", row.id, checked.as_ref().map_err(|e| &e.message)));
                let Ok(c) = checked else { continue };
                let v = serde.as_ref().expect("accepted claims are JSON to serde_json");
                assert_eq!(v["exp"].as_i64(), Some(c.exp));
                assert_eq!(v["iat"].as_i64(), Some(c.iat));
                assert_eq!(c.exp as i128 - c.iat as i128, 300);
                assert_eq!(v["reason_for_request"].as_str(), Some(if row.migrate { "migration" } else { "directcare" }));
                assert!(v.get("requested_record").is_none());
                if let Some(a) = audience {
                    assert_eq!(v["aud"].as_str(), Some(a));
                }
                let record = prov.record(Reason::Allowed);
                assert!(!record.contains('\n'));
                serde_json::from_str::<Value>(&record).expect("the audit record is JSON");

                assert!(claims::check_times(&c, c.exp, &TimeRules::new(0, false)).is_ok(), "exp == now refused");
                if let Some(later) = c.exp.checked_add(1) {
                    let e = claims::check_times(&c, later, &TimeRules::new(0, false)).expect_err("an expired token accepted");
                    assert_eq!(e.reason, Reason::JwtExpired);
                }
                for (now, skew, iat_future) in [(i64::MIN, 3600, true), (i64::MAX, 3600, true), (c.iat, 0, true), (0, 0, false)] {
                    let _ = claims::check_times(&c, now, &TimeRules::new(skew, iat_future));
                }
                let _ = scope::check(&c.scope, row, true);
                let _ = scope::check(&c.scope, row, false);
            }
        }
    })
});
