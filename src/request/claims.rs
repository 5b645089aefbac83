//! The GP Connect audit claims (spec §4.2, §9, §9.1; API.md "Settled details"): every required
//! claim present, each of the right JSON type and value, and the three FHIR resource claims real
//! STU3 resources with the content GP Connect requires.
//!
//! Failures: a missing claim is `JwtClaimMissing`; a wrong type or value, including missing
//! content inside a present resource claim, `JwtClaimInvalid`; a resource claim with the wrong
//! `resourceType` or an element the STU3 resource does not have `JwtInvalidResource` (422).
//! Messages name the claim and the rule, never the claim's text.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::request::audit::Provenance;
use crate::error::{Error, ErrorKind, Result};
use crate::request::interactions::Interaction;
use crate::request::json::{self, Span};
use crate::refusal::{Checked, Refusal};
use crate::request::scope::{self, Scope};
use crate::verdict::Reason;

/// `exp` must be exactly this long after `iat` (spec §4.2: "5 minutes after").
pub const TOKEN_LIFETIME_SECONDS: i128 = 300;

pub const ODS_SYSTEMS: [&str; 2] = [
    "https://fhir.nhs.uk/Id/ods-organization-code",
    // The DSTU2-era system, still sent by some consumers; the demonstrator accepts it (spec §4.2).
    "http://fhir.nhs.net/Id/ods-organization-code",
];
pub const SDS_USER_ID_SYSTEM: &str = "https://fhir.nhs.uk/Id/sds-user-id";
pub const SDS_ROLE_PROFILE_SYSTEM: &str = "https://fhir.nhs.uk/Id/sds-role-profile-id";

/// The claims the later checks (times, scope) need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claims {
    pub exp: i64,
    pub iat: i64,
    pub scope: Scope,
}

/// The claims this module knows, in the order their failures are reported.
const ISS: usize = 0;
const SUB: usize = 1;
const AUD: usize = 2;
const EXP: usize = 3;
const IAT: usize = 4;
const REASON: usize = 5;
const SCOPE: usize = 6;
const DEVICE: usize = 7;
const ORGANIZATION: usize = 8;
const PRACTITIONER: usize = 9;
const REQUESTED_RECORD: usize = 10;
const CLAIM_NAMES: [&str; 11] = [
    "iss", "sub", "aud", "exp", "iat", "reason_for_request", "requested_scope", "requesting_device",
    "requesting_organization", "requesting_practitioner", "requested_record",
];

/// The STU3 elements of one resource claim (from `fhir_elements.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceElements {
    pub claim: String,
    pub resource_type: String,
    pub elements: Vec<String>,
    pub primitives: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Common {
    elements: Vec<String>,
    primitives: Vec<String>,
}

/// The element lists, as data.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FhirElements {
    common: Common,
    resource: Vec<ResourceElements>,
}

mod payload;
use payload::{Field, Resource, CONTENT, IDENTIFIER, RESOURCE_TYPE, SYSTEMS};
pub use payload::{read, Payload};

const FHIR_ELEMENTS_TOML: &str = include_str!("fhir_elements.toml");

impl FhirElements {
    /// The embedded lists, parsed once.
    pub fn standard() -> Result<&'static FhirElements> {
        static LISTS: OnceLock<std::result::Result<FhirElements, String>> = OnceLock::new();
        LISTS
            .get_or_init(|| {
                let mut f: FhirElements = toml::from_str(FHIR_ELEMENTS_TOML).map_err(|e| e.message().to_owned())?;
                // One list per resource claim, kept in claim order so a claim finds its own by index.
                let mut ordered = Vec::new();
                for (claim, content) in CLAIM_NAMES[DEVICE..=PRACTITIONER].iter().zip(CONTENT) {
                    let (listed, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut f.resource).into_iter().partition(|r| r.claim == *claim);
                    f.resource = rest;
                    let [r] = <[ResourceElements; 1]>::try_from(listed).map_err(|_| format!("{claim} must be listed once"))?;
                    // The payload reader takes these as defined without asking the lists.
                    if let Some(e) = content.iter().find(|e| !f.allows(&r, e)) {
                        return Err(format!("{claim}: {e} is checked but not listed"));
                    }
                    ordered.push(r);
                }
                if let Some(r) = f.resource.first() {
                    return Err(format!("{} is not a resource claim", r.claim));
                }
                f.resource = ordered;
                Ok(f)
            })
            .as_ref()
            .map_err(|e| Error::new(ErrorKind::Syntax, format!("built-in FHIR element lists: {e}")))
    }

    /// The list of resource claim `c` (0 device, 1 organization, 2 practitioner).
    pub(crate) fn resource(&self, c: usize) -> Option<&ResourceElements> {
        self.resource.get(c)
    }

    /// Whether `name` is a top-level element of the resource (or a primitive's `_name` companion).
    pub(crate) fn allows(&self, r: &ResourceElements, name: &str) -> bool {
        let listed = |list: &[String], n: &str| list.iter().any(|e| e == n);
        match name.strip_prefix('_') {
            Some(p) => listed(&self.common.primitives, p) || listed(&r.primitives, p),
            None => listed(&self.common.elements, name) || listed(&r.elements, name),
        }
    }
}

/// What the claim checks need from the settings and the interaction.
pub struct ClaimRules<'s> {
    pub elements: &'s FhirElements,
    pub audience: Option<&'s str>,
}

fn missing(name: &str) -> Refusal {
    Refusal::new(Reason::JwtClaimMissing, format!("the JWT claim {name} is missing"))
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal::new(Reason::JwtClaimInvalid, message)
}

fn non_empty_string<'d>(p: &'d Payload<'_>, f: Field, name: &str) -> Checked<&'d str> {
    match f {
        Field::String(s) if !p.str(s).is_empty() => Ok(p.str(s)),
        Field::String(_) => Err(invalid(format!("the JWT claim {name} is an empty string"))),
        _ => Err(invalid(format!("the JWT claim {name} is not a string"))),
    }
}

fn integer(f: Field, name: &str) -> Checked<i64> {
    match f {
        Field::Integer(v) => Ok(v),
        _ => Err(invalid(format!("the JWT claim {name} is not an integer (Unix seconds)"))),
    }
}

fn string<'d>(p: &'d Payload<'_>, f: Field) -> Option<&'d str> {
    match f {
        Field::String(s) => Some(p.str(s)),
        _ => None,
    }
}

/// Checks all claims of the payload for interaction `row`; fills the provenance fields (ODS
/// code, SDS ids, device, scope, reason) as each is established.
pub fn check<'d>(p: &'d Payload<'_>, row: &Interaction, rules: &ClaimRules<'_>, prov: &mut Provenance<'d>) -> Checked<Claims> {
    let found = &p.claims;
    for (i, name) in CLAIM_NAMES[..=PRACTITIONER].iter().enumerate() {
        // Migration: practitioner fields are SHOULD, and the test pack sends none (spec §4.2).
        if found[i] == Field::Absent && !(i == PRACTITIONER && row.migrate) {
            return Err(missing(name));
        }
    }
    if found[REQUESTED_RECORD] != Field::Absent {
        return Err(invalid("the JWT claim requested_record is a GP Connect 0.x claim and is not allowed in 1.x"));
    }

    non_empty_string(p, found[ISS], "iss")?;
    let sub = non_empty_string(p, found[SUB], "sub")?;
    let aud = non_empty_string(p, found[AUD], "aud")?;
    if let Some(expected) = rules.audience {
        if aud != expected {
            return Err(invalid(format!("the JWT claim aud is not this provider's audience {expected}")));
        }
    }
    let exp = integer(found[EXP], "exp")?;
    let iat = integer(found[IAT], "iat")?;
    if exp as i128 - iat as i128 != TOKEN_LIFETIME_SECONDS {
        return Err(invalid("the JWT claim exp is not exactly 300 seconds after iat"));
    }

    let reason = string(p, found[REASON]).ok_or_else(|| invalid("the JWT claim reason_for_request is not a string"))?;
    // Migrate interactions are for migration only; migration only through them (spec §3.1, §4.4).
    let expected_reason = if row.migrate { "migration" } else { "directcare" };
    if reason != expected_reason {
        return Err(invalid(format!("the JWT claim reason_for_request must be {expected_reason} for {}", row.id)));
    }
    prov.reason_for_request = Some(reason);

    let scope_text = string(p, found[SCOPE]).ok_or_else(|| invalid("the JWT claim requested_scope is not a string"))?;
    let scope = scope::parse(scope_text).ok_or_else(|| {
        invalid("the JWT claim requested_scope is not one of patient/*.read, patient/*.write, organization/*.read, organization/*.write, optionally followed by conf/N or conf/R")
    })?;
    prov.scope = Some(scope_text);

    let device = resource(p, DEVICE, rules.elements)?;
    prov.device = Some(device_content(&device)?);

    let organization = resource(p, ORGANIZATION, rules.elements)?;
    prov.ods_code = Some(organization_content(&organization)?);

    if found[PRACTITIONER] != Field::Absent {
        let practitioner = resource(p, PRACTITIONER, rules.elements)?;
        let (id, user, role) = practitioner_content(&practitioner)?;
        prov.sds_user_id = Some(user);
        prov.sds_role_id = role;
        if id != sub {
            return Err(invalid("the JWT claim sub is not requesting_practitioner.id"));
        }
    }
    Ok(Claims { exp, iat, scope })
}

/// The settings of the time rules.
#[derive(Clone, Copy, Debug)]
pub struct TimeRules {
    clock_skew_seconds: i64,
    check_iat_future: bool,
}

impl TimeRules {
    pub fn new(clock_skew_seconds: i64, check_iat_future: bool) -> Self {
        TimeRules { clock_skew_seconds, check_iat_future }
    }
}

/// The time rules (spec §4.2, §9 "exp / iat"): `exp` not before `now - clock_skew_seconds`
/// (`JwtExpired`); a future `iat` refused only when `check_iat_future` (GP Connect 1.2.3+ says
/// providers shall not, I-640), as `JwtClaimInvalid`. i128 so no input can overflow.
pub fn check_times(claims: &Claims, now: i64, rules: &TimeRules) -> Checked<()> {
    let skew = rules.clock_skew_seconds as i128;
    if (claims.exp as i128) < now as i128 - skew {
        // Written by hand, not with format!: the most common refusal should cost no more to
        // judge than an allowed request (issue 5). One allocation for "the JWT expired ", up to
        // 20 characters of number and " seconds ago". The number is how long ago exp was, the
        // skew not deducted: what an operator compares with the consumer's clock.
        let mut message = String::with_capacity(48);
        message.push_str("the JWT expired ");
        push_decimal(&mut message, now.saturating_sub(claims.exp));
        message.push_str(" seconds ago");
        return Err(Refusal::new(Reason::JwtExpired, message));
    }
    if rules.check_iat_future && claims.iat as i128 > now as i128 + skew {
        return Err(invalid(format!("the JWT claim iat is {} seconds in the future", claims.iat.saturating_sub(now))));
    }
    Ok(())
}

/// "00" to "99": two digits per division, as itoa does.
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `n` in decimal.
fn push_decimal(out: &mut String, n: i64) {
    // 20 bytes: i64::MIN is a sign and 19 digits.
    let mut text = [0u8; 20];
    let mut i = text.len();
    let mut rest = n.unsigned_abs();
    while rest >= 100 {
        let pair = (rest % 100) as usize * 2;
        rest /= 100;
        i -= 2;
        text[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if rest >= 10 {
        i -= 2;
        text[i..i + 2].copy_from_slice(&DIGIT_PAIRS[rest as usize * 2..rest as usize * 2 + 2]);
    } else {
        i -= 1;
        text[i] = b'0' + rest as u8;
    }
    if n < 0 {
        i -= 1;
        text[i] = b'-';
    }
    // SAFETY: only ASCII digits and '-' were written to text[i..]: that is UTF-8.
    out.push_str(unsafe { std::str::from_utf8_unchecked(&text[i..]) });
}

/// A resource claim that is a FHIR STU3 resource, with what was read of it.
struct ResourceClaim<'d> {
    payload: &'d Payload<'d>,
    claim: &'static str,
    read: &'d Resource,
    c: usize,
}

impl<'d> ResourceClaim<'d> {
    fn element(&self, name: &str) -> Field {
        CONTENT[self.c].iter().position(|n| json::same(n, name)).map_or(Field::Absent, |e| self.read.content[e])
    }

    fn text(&self, s: Span) -> &'d str {
        self.payload.str(s)
    }
}

/// Resource claim `i` as a FHIR STU3 resource: an object (else 400), with the right
/// `resourceType` and only the resource's elements (else 422).
fn resource<'d>(p: &'d Payload<'_>, i: usize, elements: &FhirElements) -> Checked<ResourceClaim<'d>> {
    let claim = CLAIM_NAMES[i];
    let def = elements
        .resource(i - DEVICE)
        .ok_or_else(|| Refusal::new(Reason::Internal, format!("no FHIR element list for {claim}")))?;
    if p.claims[i] != Field::Object {
        return Err(invalid(format!("the JWT claim {claim} is not a JSON object")));
    }
    let c = i - DEVICE;
    let r = ResourceClaim { payload: p, claim, read: &p.resources[c], c };
    let invalid_resource = |what: &str| {
        Refusal::new(Reason::JwtInvalidResource, format!("the JWT claim {claim} is not a valid FHIR STU3 {}: {what}", def.resource_type))
    };
    match r.read.content[RESOURCE_TYPE] {
        Field::String(t) if json::same(r.text(t), &def.resource_type) => {}
        Field::Absent => return Err(invalid_resource("it has no resourceType")),
        _ => return Err(invalid_resource("its resourceType is wrong")),
    }
    if r.read.undefined_element {
        return Err(invalid_resource("it has an element the resource does not define"));
    }
    Ok(r)
}

/// The first value among the identifiers of system group `g` (see `payload::SYSTEMS`), and how
/// many there are.
fn identifiers<'d>(r: &ResourceClaim<'d>, g: usize) -> Checked<(Option<&'d str>, u32)> {
    let claim = r.claim;
    match r.read.content[IDENTIFIER] {
        Field::Absent => return Ok((None, 0)),
        Field::Array { .. } => {}
        _ => return Err(invalid(format!("{claim}.identifier is not an array"))),
    }
    let ids = &r.read.identifiers;
    let group = ids.groups[g];
    // The first offending element in document order decides the message.
    match (ids.first_not_object, group.first_without_value) {
        (Some(n), w) if w.is_none_or(|(at, _)| n < at) => {
            Err(invalid(format!("{claim}.identifier has an element that is not an Identifier object")))
        }
        (_, Some((_, which))) => {
            Err(invalid(format!("{claim}.identifier with system {} has no value", SYSTEMS[r.c][g][which])))
        }
        _ => Ok((group.first.map(|s| r.text(s)), group.count)),
    }
}

/// The single identifier value of group `g`; none or two is `JwtClaimInvalid` (two would leave
/// the audit trail ambiguous).
fn one_identifier<'d>(r: &ResourceClaim<'d>, g: usize, what: &str) -> Checked<&'d str> {
    match identifiers(r, g)? {
        (Some(one), 1) => Ok(one),
        (_, 0) => Err(invalid(format!("{} has no {what} identifier ({})", r.claim, SYSTEMS[r.c][g][0]))),
        _ => Err(invalid(format!("{} has more than one {what} identifier", r.claim))),
    }
}

fn required_string<'d>(r: &ResourceClaim<'d>, element: &str) -> Checked<&'d str> {
    match r.element(element) {
        Field::String(s) if !r.text(s).is_empty() => Ok(r.text(s)),
        _ => Err(invalid(format!("{}.{element} is missing or not a non-empty string", r.claim))),
    }
}

/// Device: an identifier (system and value), `model` and `version`. Returns the identifier value.
fn device_content<'d>(d: &ResourceClaim<'d>) -> Checked<&'d str> {
    let claim = d.claim;
    let Field::Array { .. } = d.read.content[IDENTIFIER] else {
        return Err(invalid(format!("{claim}.identifier is missing or not an array")));
    };
    if d.read.identifiers.first_incomplete.is_some() {
        return Err(invalid(format!("{claim}.identifier has an Identifier without system and value")));
    }
    let value = d.read.identifiers.first_complete.ok_or_else(|| invalid(format!("{claim}.identifier is empty")))?;
    required_string(d, "model")?;
    required_string(d, "version")?;
    Ok(d.text(value))
}

/// Organization: `name` and one ODS code identifier. Returns the ODS code.
fn organization_content<'d>(o: &ResourceClaim<'d>) -> Checked<&'d str> {
    required_string(o, "name")?;
    one_identifier(o, 0, "ODS code")
}

/// Practitioner: `id`, a `name` (array of HumanName objects) and one SDS user id identifier
/// (`UNK` allowed). Returns the id, the SDS user id and the first SDS role profile id if any.
fn practitioner_content<'d>(p: &ResourceClaim<'d>) -> Checked<(&'d str, &'d str, Option<&'d str>)> {
    let id = required_string(p, "id")?;
    if !matches!(p.element("name"), Field::Array { len: 1.., all_objects: true }) {
        return Err(invalid(format!("{}.name is missing or not a non-empty array of HumanName objects", p.claim)));
    }
    let user = one_identifier(p, 0, "SDS user id")?;
    let (role, _) = identifiers(p, 1)?;
    Ok((id, user, role))
}

#[cfg(test)]
mod decimal_tests {
    #[test]
    fn push_decimal_writes_what_display_writes() {
        for n in [0, 1, -1, 9, 10, 11, 99, 100, 101, 300, -300, 999, 1000, 12345, 1_700_000_000, i64::MAX, i64::MIN, i64::MIN + 1] {
            let mut s = String::new();
            super::push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::interactions::Table;
    use crate::testkit::{self as kit, baseline_claims, with};
    use serde_json::json;

    const READ_PATIENT: &str = "urn:nhs:names:services:gpconnect:fhir:rest:read:patient-1";
    const MIGRATE: &str = "urn:nhs:names:services:gpconnect:fhir:operation:gpc.migratestructuredrecord-1";

    fn run_raw(text: &str, iid: &str, audience: Option<&str>) -> Checked<Claims> {
        let elements = FhirElements::standard().unwrap();
        let payload = read(text.as_bytes(), &crate::config::Limits::default(), elements).expect("test JSON");
        let row = Table::standard().unwrap().find(iid.as_bytes()).unwrap();
        let rules = ClaimRules { elements, audience };
        let mut prov = Provenance::default();
        check(&payload, row, &rules, &mut prov)
    }

    fn run(claims: &serde_json::Value) -> std::result::Result<Claims, Reason> {
        run_raw(&claims.to_string(), READ_PATIENT, None).map_err(|r| r.reason)
    }

    fn change(path: &str, value: serde_json::Value) -> std::result::Result<Claims, Reason> {
        run(&with(baseline_claims(), path, Some(value)))
    }

    fn remove(path: &str) -> std::result::Result<Claims, Reason> {
        run(&with(baseline_claims(), path, None))
    }

    #[test]
    fn times() {
        let scope = crate::request::scope::parse("patient/*.read").unwrap();
        let c = Claims { exp: kit::IAT + 300, iat: kit::IAT, scope };
        assert!(check_times(&c, kit::IAT + 300, &TimeRules::new(0, false)).is_ok());
        let expired = check_times(&c, kit::IAT + 301, &TimeRules::new(0, false)).unwrap_err();
        assert_eq!((expired.reason, expired.message.as_str()), (Reason::JwtExpired, "the JWT expired 1 seconds ago"));
        let expired = check_times(&c, kit::IAT + 400, &TimeRules::new(60, false)).unwrap_err();
        assert_eq!(expired.message, "the JWT expired 100 seconds ago");
        assert!(check_times(&c, kit::IAT + 305, &TimeRules::new(5, false)).is_ok());
        assert_eq!(check_times(&c, kit::IAT + 306, &TimeRules::new(5, false)).unwrap_err().reason, Reason::JwtExpired);
        // Future iat (+200 s, the test pack's case) is accepted unless configured otherwise.
        assert!(check_times(&c, kit::IAT - 200, &TimeRules::new(0, false)).is_ok());
        assert_eq!(check_times(&c, kit::IAT - 200, &TimeRules::new(0, true)).unwrap_err().reason, Reason::JwtClaimInvalid);
        assert!(check_times(&c, kit::IAT - 5, &TimeRules::new(5, true)).is_ok());
        let extreme = Claims { exp: i64::MIN, iat: i64::MAX, scope };
        assert_eq!(check_times(&extreme, i64::MAX, &TimeRules::new(3600, true)).unwrap_err().reason, Reason::JwtExpired);
        let extreme = Claims { exp: i64::MAX, iat: i64::MAX, scope };
        assert_eq!(check_times(&extreme, i64::MIN, &TimeRules::new(3600, true)).unwrap_err().reason, Reason::JwtClaimInvalid);
    }

    #[test]
    fn element_lists_parse() {
        let e = FhirElements::standard().unwrap();
        let device = e.resource(0).unwrap();
        assert_eq!(device.claim, "requesting_device");
        assert_eq!(e.resource(2).unwrap().claim, "requesting_practitioner");
        assert!(e.allows(device, "model") && e.allows(device, "_model") && e.allows(device, "meta"));
        assert!(!e.allows(device, "_identifier") && !e.allows(device, "name") && !e.allows(device, "_meta"));
    }

    #[test]
    fn baseline_is_accepted_and_fills_provenance() {
        let text = baseline_claims().to_string();
        let elements = FhirElements::standard().unwrap();
        let payload = read(text.as_bytes(), &crate::config::Limits::default(), elements).unwrap();
        let row = Table::standard().unwrap().find(READ_PATIENT.as_bytes()).unwrap();
        let rules = ClaimRules { elements, audience: Some("https://authorize.fhir.nhs.net/token") };
        let mut prov = Provenance::default();
        let c = check(&payload, row, &rules, &mut prov).unwrap();
        assert_eq!((c.exp, c.iat), (kit::IAT + 300, kit::IAT));
        assert_eq!(prov.ods_code, Some("GPCA0001"));
        assert_eq!(prov.sds_user_id, Some("GCASDS0001"));
        assert_eq!(prov.sds_role_id, Some("112233445566"));
        assert_eq!(prov.device, Some("Client"));
        assert_eq!(prov.scope, Some("patient/*.read"));
        assert_eq!(prov.reason_for_request, Some("directcare"));
    }

    #[test]
    fn each_missing_claim_is_claim_missing() {
        for name in &CLAIM_NAMES[..=PRACTITIONER] {
            assert_eq!(remove(name), Err(Reason::JwtClaimMissing), "{name}");
        }
    }

    #[test]
    fn practitioner_may_be_absent_on_migrate_only() {
        let mut c = with(baseline_claims(), "requesting_practitioner", None);
        c = with(c, "reason_for_request", Some(json!("migration")));
        assert!(run_raw(&c.to_string(), MIGRATE, None).is_ok());
        let docs_migrate = "urn:nhs:names:services:gpconnect:documents:fhir:rest:migrate:binary-1";
        assert!(run_raw(&c.to_string(), docs_migrate, None).is_ok());
    }

    #[test]
    fn reason_for_request() {
        assert_eq!(change("reason_for_request", json!("badReason")), Err(Reason::JwtClaimInvalid));
        assert_eq!(change("reason_for_request", json!("migration")), Err(Reason::JwtClaimInvalid));
        assert_eq!(change("reason_for_request", json!("DirectCare")), Err(Reason::JwtClaimInvalid));
        assert_eq!(change("reason_for_request", json!(null)), Err(Reason::JwtClaimInvalid));
        let c = baseline_claims().to_string();
        assert_eq!(run_raw(&c, MIGRATE, None).unwrap_err().reason, Reason::JwtClaimInvalid);
    }

    #[test]
    fn wrong_types_are_claim_invalid() {
        for (name, v) in [
            ("iss", json!(1)), ("iss", json!("")), ("sub", json!(null)), ("sub", json!(["1"])), ("aud", json!("")),
            ("aud", json!(null)), ("aud", json!(["https://authorize.fhir.nhs.net/token"])), ("exp", json!("1503995882")),
            ("exp", json!(1503995882.0)), ("iat", json!(null)), ("requested_scope", json!(["patient/*.read"])),
            ("requested_scope", json!("badScope")), ("requested_scope", json!("")), ("requesting_device", json!("Device")),
            ("requesting_organization", json!(null)), ("requesting_practitioner", json!([])),
            ("requested_record", json!({"resourceType": "Patient"})),
        ] {
            assert_eq!(change(name, v.clone()), Err(Reason::JwtClaimInvalid), "{name} = {v}");
        }
    }

    #[test]
    fn exp_is_iat_plus_300_exactly() {
        for delta in [299, 301, -1, 0, -300] {
            assert_eq!(change("exp", json!(kit::IAT + delta)), Err(Reason::JwtClaimInvalid), "{delta}");
        }
        // No overflow at the extremes.
        let c = with(with(baseline_claims(), "exp", Some(json!(i64::MAX))), "iat", Some(json!(i64::MIN)));
        assert_eq!(run(&c), Err(Reason::JwtClaimInvalid));
        let c = with(with(baseline_claims(), "exp", Some(json!(i64::MAX))), "iat", Some(json!(i64::MAX - 300)));
        assert!(run(&c).is_ok());
        let text = baseline_claims().to_string().replace(&(kit::IAT + 300).to_string(), "99999999999999999999");
        assert_eq!(run_raw(&text, READ_PATIENT, None).unwrap_err().reason, Reason::JwtClaimInvalid);
    }

    #[test]
    fn audience_is_checked_only_when_configured() {
        let c = baseline_claims().to_string();
        assert!(run_raw(&c, READ_PATIENT, None).is_ok());
        assert!(run_raw(&c, READ_PATIENT, Some("https://authorize.fhir.nhs.net/token")).is_ok());
        assert_eq!(run_raw(&c, READ_PATIENT, Some("https://provider/A1/STU3/1")).unwrap_err().reason, Reason::JwtClaimInvalid);
    }

    #[test]
    fn sub_must_be_the_practitioner_id() {
        assert_eq!(change("sub", json!("2")), Err(Reason::JwtClaimInvalid));
        assert_eq!(change("requesting_practitioner.id", json!("2")), Err(Reason::JwtClaimInvalid));
    }

    #[test]
    fn invalid_fhir_resources_are_422() {
        for (path, v) in [
            ("requesting_device.resourceType", json!("Organization")),
            ("requesting_device.resourceType", json!("device")),
            ("requesting_device.resourceType", json!(null)),
            ("requesting_device.notAnElement", json!("x")),
            ("requesting_device.name", json!("x")),
            ("requesting_device._identifier", json!({})),
            ("requesting_organization.resourceType", json!("Practitioner")),
            ("requesting_organization.model", json!("x")),
            ("requesting_practitioner.resourceType", json!("Patient")),
            ("requesting_practitioner.requested_scope", json!("x")),
        ] {
            assert_eq!(change(path, v.clone()), Err(Reason::JwtInvalidResource), "{path} = {v}");
        }
        assert_eq!(remove("requesting_device.resourceType"), Err(Reason::JwtInvalidResource));
        // Common elements and primitive companions are STU3.
        assert!(change("requesting_device.meta", json!({"profile": ["x"]})).is_ok());
        assert!(change("requesting_device._model", json!({"id": "m"})).is_ok());
        assert!(change("requesting_organization.telecom", json!([])).is_ok());
    }

    #[test]
    fn missing_mandatory_content_is_400() {
        for path in [
            "requesting_device.identifier", "requesting_device.model", "requesting_device.version",
            "requesting_device.identifier.0.value", "requesting_device.identifier.0.system",
            "requesting_organization.name", "requesting_organization.identifier",
            "requesting_organization.identifier.0.value", "requesting_organization.identifier.0.system",
            "requesting_practitioner.id", "requesting_practitioner.name", "requesting_practitioner.identifier",
            "requesting_practitioner.identifier.0", "requesting_practitioner.identifier.0.value",
        ] {
            assert_eq!(remove(path), Err(Reason::JwtClaimInvalid), "{path}");
        }
        assert_eq!(change("requesting_organization.identifier.0.system", json!("https://example.org/ods")), Err(Reason::JwtClaimInvalid));
        assert_eq!(change("requesting_practitioner.name", json!([])), Err(Reason::JwtClaimInvalid));
        assert_eq!(change("requesting_practitioner.name", json!("Dr Who")), Err(Reason::JwtClaimInvalid));
        assert_eq!(change("requesting_device.identifier", json!([])), Err(Reason::JwtClaimInvalid));
        assert_eq!(change("requesting_device.model", json!(1)), Err(Reason::JwtClaimInvalid));
        assert_eq!(change("requesting_organization.identifier", json!({"system": ODS_SYSTEMS[0], "value": "A"})), Err(Reason::JwtClaimInvalid));
        // Two ODS codes: ambiguous provenance.
        let two = json!([{"system": ODS_SYSTEMS[0], "value": "A"}, {"system": ODS_SYSTEMS[1], "value": "B"}]);
        assert_eq!(change("requesting_organization.identifier", two), Err(Reason::JwtClaimInvalid));
    }

    #[test]
    fn unk_identifiers_and_optional_ones_are_accepted() {
        assert!(change("requesting_practitioner.identifier.0.value", json!("UNK")).is_ok());
        assert!(change("requesting_practitioner.identifier.1.value", json!("UNK")).is_ok());
        assert!(remove("requesting_practitioner.identifier.2").is_ok());
        assert!(remove("requesting_practitioner.identifier.1").is_ok());
        assert!(change("requesting_organization.identifier.0.system", json!(ODS_SYSTEMS[1])).is_ok());
        assert!(change("extra_claim", json!({"anything": 1})).is_ok());
    }
}
