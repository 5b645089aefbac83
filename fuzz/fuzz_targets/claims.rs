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
//! is expired. FHIR resource claims (spec §9.1): a refusal as JWT_INVALID_RESOURCE names a
//! resource claim's path; and, metamorphically, once claims are accepted, each of these changes
//! made at every place inside a resource claim (up to a bound) must turn the verdict into
//! JWT_INVALID_RESOURCE, because a strict STU3 parser refuses each at any depth: a member that
//! is no element (`pXefix`) added to an object, a member's value set to null, a string set to "",
//! an object emptied. The places changed are up to 16 spread over the resources (where they fall
//! depends on the input's length, so the corpus covers them all); this oracle runs outside the
//! per-input CPU budget, which measures the library's work.
#![no_main]

use gpcguard::request::audit::Provenance;
use gpcguard::request::claims::{self, ClaimRules, FhirElements, TimeRules};
use gpcguard::config::Limits;
use gpcguard::request::interactions::{Interaction, Table};
use gpcguard::request::json::{self, JsonError};
use gpcguard::verdict::Reason;
use gpcguard::request::scope;
use gpcguard_fuzz::{has_case_twins, trace, within_budget};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const AUDIENCE: &str = "https://authorize.fhir.nhs.net/token";
const RESOURCE_CLAIMS: [&str; 3] = ["requesting_device", "requesting_organization", "requesting_practitioner"];
/// Places collected in an accepted payload's resource claims, and places changed per input (each
/// change is one more claims check).
const MAX_PLACES: usize = 1024;
const MAX_CHANGED: usize = 16;

/// The verdict reason of `v` as a payload, for interaction `row`.
fn judge(v: &Value, row: &Interaction, elements: &'static FhirElements, limits: &Limits) -> Result<(), (Reason, String)> {
    let text = serde_json::to_vec(v).expect("serialise");
    let payload = claims::read(&text, limits, elements).map_err(|r| (r.reason, r.message))?;
    let rules = ClaimRules { elements, audience: None };
    claims::check(&payload, row, &rules, &mut Provenance::default()).map(drop).map_err(|r| (r.reason, r.message))
}

/// The places inside `v` (paths of object keys and array indexes), objects and scalars.
fn places(v: &Value, path: &mut Vec<PathPart>, out: &mut Vec<Vec<PathPart>>) {
    if out.len() >= MAX_PLACES {
        return;
    }
    out.push(path.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                path.push(PathPart::Key(k.clone()));
                places(child, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                path.push(PathPart::Index(i));
                places(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum PathPart {
    Key(String),
    Index(usize),
}

fn at<'v>(v: &'v mut Value, path: &[PathPart]) -> &'v mut Value {
    path.iter().fold(v, |v, p| match p {
        PathPart::Key(k) => &mut v[k.as_str()],
        PathPart::Index(i) => &mut v[*i],
    })
}

/// The metamorphic FHIR oracle on an accepted payload `v` (see the target's documentation).
fn every_invalid_change_is_refused(v: &Value, row: &Interaction, elements: &'static FhirElements, limits: &Limits, salt: usize) {
    let mut found = Vec::new();
    for claim in RESOURCE_CLAIMS {
        if let Some(resource) = v.get(claim) {
            places(resource, &mut vec![PathPart::Key(claim.to_owned())], &mut found);
        }
    }
    let stride = found.len().div_ceil(MAX_CHANGED).max(1);
    {
        for path in found.into_iter().skip(salt % stride).step_by(stride) {
            let mut changes: Vec<(&str, Value)> = Vec::new();
            let mut changed = v.clone();
            let target = at(&mut changed, &path);
            match target {
                Value::Object(m) => {
                    let mut with_unknown = m.clone();
                    with_unknown.insert("pXefix".into(), Value::from(1));
                    changes.push(("a member that is no element", Value::Object(with_unknown)));
                    changes.push(("an empty object", Value::Object(Default::default())));
                }
                Value::String(_) => changes.push(("an empty string", Value::from(""))),
                _ => {}
            }
            // Null for a member's value (array items may be null placeholders).
            if matches!(path.last(), Some(PathPart::Key(_))) && path.len() > 1 {
                changes.push(("null", Value::Null));
            }
            for (what, new) in changes {
                let mut doc = v.clone();
                *at(&mut doc, &path) = new;
                match judge(&doc, row, elements, limits) {
                    Err((Reason::JwtInvalidResource, message)) => {
                        assert!(RESOURCE_CLAIMS.iter().any(|c| message.starts_with(c)), "{what} at {path:?}: the message names no resource claim: {message}")
                    }
                    other => panic!("{what} at {path:?} of an accepted payload was not refused as an invalid resource: {other:?}"),
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let table = Table::standard().expect("interaction table");
    let elements = FhirElements::standard().expect("FHIR element lists");
    let limits = Limits::default();
    let accepted = within_budget("claims", || {
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
        let Ok(payload) = read else { return None };
        let serde = theirs.ok();
        let mut accepted: Option<&'static Interaction> = None;
        for row in table.rows() {
            for audience in [None, Some(AUDIENCE)] {
                let rules = ClaimRules { elements, audience };
                let mut prov = Provenance::default();
                let checked = claims::check(&payload, row, &rules, &mut prov);
                trace(|| format!("{} aud {audience:?}: {:?}", row.id, checked.as_ref().map_err(|e| &e.message)));
                if let Err(e) = &checked {
                    if e.reason == Reason::JwtInvalidResource {
                        assert!(RESOURCE_CLAIMS.iter().any(|c| e.message.starts_with(c)), "an invalid resource not named by its path: {}", e.message);
                    }
                }
                let Ok(c) = checked else { continue };
                let v = serde.as_ref().expect("accepted claims are JSON to serde_json");
                accepted.get_or_insert(row);
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
        accepted.zip(serde)
    });
    if let Some((row, v)) = accepted {
        every_invalid_change_is_refused(&v, row, elements, &limits, data.len());
    }
});
