//! The GP Connect audit claims (spec §4.2, §9, §9.1; API.md "Settled details"): every required
//! claim present, each of the right JSON type and value, and the three FHIR resource claims real
//! STU3 resources with the content GP Connect requires.
//!
//! Failures: a missing claim is `JwtClaimMissing`; a wrong type or value, including missing
//! content inside a present resource claim, `JwtClaimInvalid`; a resource claim with the wrong
//! `resourceType` or an element the STU3 resource does not have `JwtInvalidResource` (422).
//! Messages name the claim and the rule, never the claim's text.

use std::sync::OnceLock;

use crate::request::audit::Provenance;
use crate::error::{Error, ErrorKind, Result};
use crate::request::fhir::{TypeId, Types};
use crate::request::interactions::Interaction;
use crate::request::json::Span;
use crate::refusal::{Checked, Refusal};
use crate::request::rules::{after, FirstFailure, Judge};
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

mod payload;
use payload::{Field, Resource, CONTENT, IDENTIFIER, MAX_CONTENT, SYSTEMS};
pub use payload::{read, read_into, Payload};

/// The FHIR STU3 types of the resource claims ([`crate::request::fhir`]) and the elements the claim rules
/// read, resolved in the table once.
#[derive(Debug)]
pub struct FhirElements {
    types: &'static Types,
    /// Device, organization, practitioner.
    resources: [ResourceRules; 3],
}

/// A resource claim's type and the element indexes its rules read.
#[derive(Debug)]
struct ResourceRules {
    ty: TypeId,
    /// The elements of [`CONTENT`] (unused slots repeat the first).
    content: [usize; MAX_CONTENT],
    /// The practitioner's `name` (HumanName array), whose items must each have a family.
    names: Option<usize>,
    identifier_system: usize,
    identifier_value: usize,
    family: usize,
}

/// The resource type each resource claim must be.
const RESOURCE_TYPES: [&str; 3] = ["Device", "Organization", "Practitioner"];

impl FhirElements {
    /// The embedded STU3 table with the claim rules' elements, resolved once.
    pub fn standard() -> Result<&'static FhirElements> {
        static RULES: OnceLock<std::result::Result<FhirElements, String>> = OnceLock::new();
        RULES
            .get_or_init(|| {
                let types = Types::stu3().map_err(|e| e.to_string())?;
                let find = |t: &str| types.find(t).ok_or(format!("no type {t}"));
                let element = |t: TypeId, e: &str| types.get(t).element(e).ok_or(format!("{} has no element {e}", types.get(t).name));
                let identifier = find("Identifier")?;
                let human_name = find("HumanName")?;
                let mut resources = Vec::new();
                for (c, name) in RESOURCE_TYPES.iter().enumerate() {
                    let ty = find(name)?;
                    let mut content = [0; MAX_CONTENT];
                    for (slot, e) in content.iter_mut().zip(CONTENT[c].iter().chain(std::iter::repeat(&CONTENT[c][0]))) {
                        *slot = element(ty, e)?;
                    }
                    let names = (c == PRACTITIONER - DEVICE).then(|| element(ty, "name")).transpose()?;
                    resources.push(ResourceRules {
                        ty,
                        content,
                        names,
                        identifier_system: element(identifier, "system")?,
                        identifier_value: element(identifier, "value")?,
                        family: element(human_name, "family")?,
                    });
                }
                let resources = <[ResourceRules; 3]>::try_from(resources).map_err(|_| "three resource claims")?;
                Ok(FhirElements { types, resources })
            })
            .as_ref()
            .map_err(|e| Error::new(ErrorKind::Syntax, format!("built-in FHIR STU3 table: {e}")))
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

/// Checks all claims of the payload for interaction `row`, to the first failure; fills the
/// provenance fields (ODS code, SDS ids, device, scope, reason) as each is established.
pub fn check<'d>(p: &'d Payload<'_>, row: &Interaction, rules: &ClaimRules<'_>, prov: &mut Provenance<'d>) -> Checked<Claims> {
    let found = judge(p, row, rules, prov, &mut FirstFailure)?;
    match (found.exp, found.iat, found.scope) {
        (Some(exp), Some(iat), Some(scope)) => Ok(Claims { exp, iat, scope }),
        // Not reached: to the first failure every rule ran and passed. Fail closed all the same.
        _ => Err(Refusal::new(Reason::Internal, "the claim rules passed without establishing exp, iat and requested_scope")),
    }
}

/// What the claim rules established for the time and scope rules: each `None` when its rule
/// failed (only ever seen by an explanation, [`EveryRule`](crate::request::rules::EveryRule)).
#[derive(Clone, Copy, Debug, Default)]
pub struct Established {
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub scope: Option<Scope>,
}

/// `given!(j, RULE, field, |f| check)`: a rule of a claim's type or value, not applicable when
/// the claim is absent since its presence rule has already failed (on the request path that one
/// decided, so this never skips there).
macro_rules! given {
    ($j:expr, $rule:expr, $field:expr, |$f:ident| $check:expr) => {{
        let $f = $field;
        if J::EVERY && $f == Field::Absent {
            $j.skip($rule, "the claim is absent");
            Ok(None)
        } else {
            $j.rule($rule, $check)
        }
    }};
}

/// "`name` present", per claim of [`CLAIM_NAMES`] up to the practitioner.
const PRESENT: [&str; PRACTITIONER + 1] = [
    "iss present", "sub present", "aud present", "exp present", "iat present", "reason_for_request present",
    "requested_scope present", "requesting_device present", "requesting_organization present", "requesting_practitioner present",
];

/// The claim rules in the settled order, each told to `j` (spec §4.2, §9, §9.1; API.md "Settled
/// details"): every required claim present (a missing claim is reported before a wrong one), no
/// 0.x claim, then each claim's type and value, the three resource claims as STU3 resources with
/// the content GP Connect requires, and `sub` against the practitioner. A rule whose claim is
/// absent, or whose input an earlier rule refused, does not apply.
#[inline]
pub fn judge<'d, J: Judge>(p: &'d Payload<'_>, row: &Interaction, rules: &ClaimRules<'_>, prov: &mut Provenance<'d>, j: &mut J) -> Checked<Established> {
    let found = &p.claims;
    for (i, rule) in PRESENT.iter().enumerate() {
        // Migration: practitioner fields are SHOULD, and the test pack sends none (spec §4.2).
        if i == PRACTITIONER && row.migrate && found[i] == Field::Absent {
            j.skip(rule, "requesting_practitioner is optional for the migrate interactions");
        } else {
            j.rule(rule, present(found[i], CLAIM_NAMES[i]))?;
        }
    }
    j.rule("requested_record absent (a 0.x claim)", no_requested_record(found[REQUESTED_RECORD]))?;

    given!(j, "iss a non-empty string", found[ISS], |f| non_empty_string(p, f, "iss"))?;
    let sub = given!(j, "sub a non-empty string", found[SUB], |f| non_empty_string(p, f, "sub"))?;
    let aud = given!(j, "aud a non-empty string", found[AUD], |f| non_empty_string(p, f, "aud"))?;
    const AUDIENCE: &str = "aud this provider's audience";
    match rules.audience {
        Some(expected) => {
            after!(j, AUDIENCE, aud, "aud is absent or not a non-empty string", |aud| audience(aud, expected))?;
        }
        None => j.skip(AUDIENCE, "jwt_audience is not set, so any aud is accepted (spec §9)"),
    }
    let exp = given!(j, "exp an integer", found[EXP], |f| integer(f, "exp"))?;
    let iat = given!(j, "iat an integer", found[IAT], |f| integer(f, "iat"))?;
    after!(j, "exp 300 seconds after iat", exp.zip(iat), "exp or iat is absent or not an integer", |(exp, iat)| lifetime(exp, iat))?;

    let reason = given!(j, "reason_for_request a string", found[REASON], |f| text(p, f, "reason_for_request"))?;
    let reason = after!(j, "reason_for_request for the interaction", reason, "reason_for_request is absent or not a string", |r| reason_fits(r, row))?;
    prov.reason_for_request = reason;

    let scope_text = given!(j, "requested_scope a string", found[SCOPE], |f| text(p, f, "requested_scope"))?;
    let scope = after!(j, "requested_scope in the grammar", scope_text, "requested_scope is absent or not a string", |t| scope_grammar(t))?;
    // The provenance of each claim once its rules are through: on the request path every rule
    // before has passed when such a line runs (an explanation's provenance is not kept).
    prov.scope = scope_text;

    const NOT_A_DEVICE: &str = "requesting_device is not a valid Device";
    let device = given!(j, "requesting_device a JSON object", found[DEVICE], |f| object(f, DEVICE))?;
    let device = after!(j, "requesting_device a FHIR STU3 Device", device, NOT_A_DEVICE, |()| resource(p, DEVICE))?;
    let identifier = after!(j, "requesting_device.identifier (system and value)", device.as_ref(), NOT_A_DEVICE, |d| device_identifier(d))?;
    after!(j, "requesting_device.model", device.as_ref(), NOT_A_DEVICE, |d| required_string(d, DEVICE_MODEL))?;
    after!(j, "requesting_device.version", device.as_ref(), NOT_A_DEVICE, |d| required_string(d, DEVICE_VERSION))?;
    prov.device = identifier;

    const NOT_AN_ORGANIZATION: &str = "requesting_organization is not a valid Organization";
    let organization = given!(j, "requesting_organization a JSON object", found[ORGANIZATION], |f| object(f, ORGANIZATION))?;
    let organization = after!(j, "requesting_organization a FHIR STU3 Organization", organization, NOT_AN_ORGANIZATION, |()| resource(p, ORGANIZATION))?;
    after!(j, "requesting_organization.name", organization.as_ref(), NOT_AN_ORGANIZATION, |o| required_string(o, ORGANIZATION_NAME))?;
    let ods = after!(j, "requesting_organization: one ODS code identifier", organization.as_ref(), NOT_AN_ORGANIZATION, |o| one_identifier(o, 0, "ODS code"))?;
    prov.ods_code = ods;

    // Absent only on a migrate interaction (else its presence rule failed): nothing to judge.
    const NOT_A_PRACTITIONER: &str = "requesting_practitioner is absent or not a valid Practitioner";
    let practitioner = match found[PRACTITIONER] {
        Field::Absent => {
            j.skip("requesting_practitioner a JSON object", "requesting_practitioner is absent");
            None
        }
        f => j.rule("requesting_practitioner a JSON object", object(f, PRACTITIONER))?,
    };
    let practitioner = after!(j, "requesting_practitioner a FHIR STU3 Practitioner", practitioner, NOT_A_PRACTITIONER, |()| resource(p, PRACTITIONER))?;
    let practitioner = practitioner.as_ref();
    let id = after!(j, "requesting_practitioner.id", practitioner, NOT_A_PRACTITIONER, |r| required_string(r, PRACTITIONER_ID))?;
    let names = after!(j, "requesting_practitioner.name, each with a family", practitioner, NOT_A_PRACTITIONER, |r| practitioner_names(r))?;
    let user = after!(j, "requesting_practitioner: one SDS user id identifier", practitioner, NOT_A_PRACTITIONER, |r| one_identifier(r, 0, "SDS user id"))?;
    let role = after!(j, "requesting_practitioner: SDS role profile ids with values", practitioner, NOT_A_PRACTITIONER, |r| identifiers(r, 1))?;
    // None on a migrate interaction without a practitioner.
    if let (Some(()), Some(user), Some((role, _))) = (names, user, role) {
        prov.sds_user_id = Some(user);
        prov.sds_role_id = role;
    }
    after!(j, "sub is requesting_practitioner.id", sub.zip(id), "sub or requesting_practitioner.id is not established", |(sub, id)| sub_is_practitioner_id(sub, id))?;
    Ok(Established { exp, iat, scope })
}

// The rules of `judge` that are not a type check, each named after what it checks (outside the
// rule macros, which mutation testing cannot see into).

#[inline(always)]
fn no_requested_record(f: Field) -> Checked<()> {
    match f {
        Field::Absent => Ok(()),
        _ => Err(invalid("the JWT claim requested_record is a GP Connect 0.x claim and is not allowed in 1.x")),
    }
}

/// `jwt_audience`, when set, is the only `aud` accepted (spec §9 "aud").
#[inline(always)]
fn audience(aud: &str, expected: &str) -> Checked<()> {
    if aud == expected { Ok(()) } else { Err(invalid(format!("the JWT claim aud is not this provider's audience {expected}"))) }
}

/// `exp` exactly [`TOKEN_LIFETIME_SECONDS`] after `iat` (spec §4.2).
#[inline(always)]
fn lifetime(exp: i64, iat: i64) -> Checked<()> {
    if exp as i128 - iat as i128 == TOKEN_LIFETIME_SECONDS { Ok(()) } else { Err(invalid("the JWT claim exp is not exactly 300 seconds after iat")) }
}

#[inline(always)]
fn text<'d>(p: &'d Payload<'_>, f: Field, name: &str) -> Checked<&'d str> {
    string(p, f).ok_or_else(|| invalid(format!("the JWT claim {name} is not a string")))
}

/// Migrate interactions are for migration only; migration only through them (spec §3.1, §4.4).
#[inline(always)]
fn reason_fits<'d>(reason: &'d str, row: &Interaction) -> Checked<&'d str> {
    let expected = if row.migrate { "migration" } else { "directcare" };
    if reason == expected { Ok(reason) } else { Err(invalid(format!("the JWT claim reason_for_request must be {expected} for {}", row.id))) }
}

#[inline(always)]
fn scope_grammar(text: &str) -> Checked<Scope> {
    scope::parse(text).ok_or_else(|| {
        invalid("the JWT claim requested_scope is not one of patient/*.read, patient/*.write, organization/*.read, organization/*.write, optionally followed by conf/N or conf/R")
    })
}

/// `sub` is the practitioner's id (spec §9 "sub").
#[inline(always)]
fn sub_is_practitioner_id(sub: &str, id: &str) -> Checked<()> {
    if id == sub { Ok(()) } else { Err(invalid("the JWT claim sub is not requesting_practitioner.id")) }
}

#[inline(always)]
fn present(f: Field, name: &str) -> Checked<()> {
    if f == Field::Absent { Err(missing(name)) } else { Ok(()) }
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

/// The time rules at `now`, to the first failure.
pub fn check_times(claims: &Claims, now: i64, rules: &TimeRules) -> Checked<()> {
    judge_times(Some(claims.exp), Some(claims.iat), now, rules, &mut FirstFailure)
}

/// The time rules (spec §4.2, §9 "exp / iat"), each told to `j`: `exp` not before
/// `now - clock_skew_seconds` (`JwtExpired`); a future `iat` refused only when
/// `check_iat_future` (GP Connect 1.2.3+ says providers shall not, I-640), as `JwtClaimInvalid`.
/// i128 so no input can overflow. `None`: the claim is not an integer (an explanation only).
#[inline(always)]
pub fn judge_times<J: Judge>(exp: Option<i64>, iat: Option<i64>, now: i64, rules: &TimeRules, j: &mut J) -> Checked<()> {
    let skew = rules.clock_skew_seconds as i128;
    after!(j, "exp not past (clock_skew_seconds)", exp, "exp is absent or not an integer", |exp| expired(exp, now, skew))?;
    const IAT_NOT_FUTURE: &str = "iat not in the future (check_iat_future)";
    if rules.check_iat_future {
        after!(j, IAT_NOT_FUTURE, iat, "iat is absent or not an integer", |iat| iat_not_future(iat, now, skew))?;
    } else {
        j.skip(IAT_NOT_FUTURE, "check_iat_future = false (GP Connect 1.2.3+: providers shall not validate iat, spec §4.2)");
    }
    Ok(())
}

#[inline(always)]
fn iat_not_future(iat: i64, now: i64, skew: i128) -> Checked<()> {
    if iat as i128 > now as i128 + skew { Err(invalid(format!("the JWT claim iat is {} seconds in the future", iat.saturating_sub(now)))) } else { Ok(()) }
}

/// `exp` before `now - skew`: `JwtExpired`.
#[inline(always)]
fn expired(exp: i64, now: i64, skew: i128) -> Checked<()> {
    if (exp as i128) < now as i128 - skew {
        // Written by hand, not with format!: the most common refusal should cost no more to
        // judge than an allowed request (issue 5). One allocation for "the JWT expired ", up to
        // 20 characters of number and " seconds ago". The number is how long ago exp was, the
        // skew not deducted: what an operator compares with the consumer's clock.
        let mut message = String::with_capacity(48);
        message.push_str("the JWT expired ");
        push_decimal(&mut message, now.saturating_sub(exp));
        message.push_str(" seconds ago");
        return Err(Refusal::new(Reason::JwtExpired, message));
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
#[inline]
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
    /// Element `slot` of this claim's [`CONTENT`].
    fn element(&self, slot: usize) -> Field {
        self.read.content[slot]
    }

    fn text(&self, s: Span) -> &'d str {
        self.payload.str(s)
    }
}

/// Resource claim `i` (found as `f`) is a JSON object (else 400).
fn object(f: Field, i: usize) -> Checked<()> {
    if f == Field::Object { Ok(()) } else { Err(invalid(format!("the JWT claim {} is not a JSON object", CLAIM_NAMES[i]))) }
}

/// Resource claim `i`, an object, as a FHIR STU3 resource: one a strict STU3 parser accepts as
/// the claim's resource (else 422, the message naming the path).
fn resource<'d>(p: &'d Payload<'_>, i: usize) -> Checked<ResourceClaim<'d>> {
    let claim = CLAIM_NAMES[i];
    let c = i - DEVICE;
    let r = ResourceClaim { payload: p, claim, read: &p.resources[c], c };
    if let Some(problem) = &r.read.invalid {
        return Err(Refusal::new(Reason::JwtInvalidResource, problem.message(claim)));
    }
    Ok(r)
}

/// The first value among the identifiers of system group `g` (see `payload::SYSTEMS`), and how
/// many there are. The resource is valid STU3: `identifier` is absent or an array of Identifiers.
fn identifiers<'d>(r: &ResourceClaim<'d>, g: usize) -> Checked<(Option<&'d str>, u32)> {
    let group = r.read.identifiers.groups[g];
    match group.first_without_value {
        Some((at, which)) => Err(invalid(format!("{}.identifier[{at}] with system {} has no value", r.claim, SYSTEMS[r.c][g][which]))),
        None => Ok((group.first.map(|s| r.text(s)), group.count)),
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

/// The slots of [`CONTENT`] the content rules read (identifier is slot 0 in each).
const DEVICE_MODEL: usize = 1;
const DEVICE_VERSION: usize = 2;
const ORGANIZATION_NAME: usize = 1;
const PRACTITIONER_ID: usize = 1;
const PRACTITIONER_NAME: usize = 2;

/// Element `slot` of the claim's [`CONTENT`], a string. Never empty: the claim is valid STU3
/// (`resource`), and an empty string is not (`fhir::primitive`, the one place of that rule).
fn required_string<'d>(r: &ResourceClaim<'d>, slot: usize) -> Checked<&'d str> {
    match r.element(slot) {
        Field::String(s) => Ok(r.text(s)),
        _ => Err(invalid(format!("{}.{} is missing", r.claim, CONTENT[r.c][slot]))),
    }
}

/// The device's identifier: an array whose every element has a system and a value (the device
/// content of spec §4.2, beside `model` and `version`). Returns the first value.
fn device_identifier<'d>(d: &ResourceClaim<'d>) -> Checked<&'d str> {
    let claim = d.claim;
    let Field::Array { .. } = d.read.content[IDENTIFIER] else {
        return Err(invalid(format!("{claim}.identifier is missing")));
    };
    if let Some(at) = d.read.identifiers.first_incomplete {
        return Err(invalid(format!("{claim}.identifier[{at}] does not have both a system and a value")));
    }
    let value = d.read.identifiers.first_complete.ok_or_else(|| invalid(format!("{claim}.identifier is missing")))?;
    Ok(d.text(value))
}

/// The practitioner's `name`, every HumanName with a `family` (the GP Connect profile of
/// Practitioner makes it 1..1; the provider test pack refuses a practitioner without one).
fn practitioner_names(p: &ResourceClaim<'_>) -> Checked<()> {
    if !matches!(p.element(PRACTITIONER_NAME), Field::Array { len: 1.., .. }) {
        return Err(invalid(format!("{}.name is missing", p.claim)));
    }
    if let Some(at) = p.read.first_name_without_family {
        return Err(invalid(format!("{}.name[{at}] has no family", p.claim)));
    }
    Ok(())
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
    fn claim_elements_resolve_in_the_stu3_table() {
        assert_eq!((CONTENT[0][DEVICE_MODEL], CONTENT[0][DEVICE_VERSION], CONTENT[1][ORGANIZATION_NAME]), ("model", "version", "name"));
        assert_eq!((CONTENT[2][PRACTITIONER_ID], CONTENT[2][PRACTITIONER_NAME], CONTENT[2][IDENTIFIER]), ("id", "name", "identifier"));
        let e = FhirElements::standard().unwrap();
        for (r, name) in e.resources.iter().zip(RESOURCE_TYPES) {
            let t = e.types.get(r.ty);
            assert_eq!(t.name, name);
            assert_eq!(t.elements[r.content[IDENTIFIER]].name, "identifier");
        }
        let p = &e.resources[2];
        assert_eq!(e.types.get(p.ty).elements[p.names.unwrap()].name, "name");
        assert_eq!(e.resources[0].names, None);
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

    /// The refusal of the baseline with `path` set to `value` (`None`: removed).
    fn refusal(path: &str, value: Option<serde_json::Value>) -> (Reason, String) {
        let text = with(baseline_claims(), path, value).to_string();
        let r = run_raw(&text, READ_PATIENT, None).expect_err(path);
        (r.reason, r.message)
    }

    fn invalid_resource(path: &str, value: serde_json::Value, message: &str) {
        assert_eq!(refusal(path, Some(value.clone())), (Reason::JwtInvalidResource, message.to_owned()), "{path} = {value}");
    }

    #[test]
    fn invalid_fhir_resources_are_422_naming_the_path() {
        for (path, v, message) in [
            // Unknown elements, at every depth.
            ("requesting_device.notAnElement", json!("x"), "requesting_device.notAnElement is not an element of Device"),
            ("requesting_device.name", json!("x"), "requesting_device.name is not an element of Device"),
            ("requesting_device._identifier", json!({"id": "i"}), "requesting_device._identifier is not an element of Device"),
            ("requesting_organization.model", json!("x"), "requesting_organization.model is not an element of Organization"),
            ("requesting_practitioner.requested_scope", json!("x"), "requesting_practitioner.requested_scope is not an element of Practitioner"),
            ("requesting_practitioner.name.0.pXefix", json!(["Dr"]), "requesting_practitioner.name[0].pXefix is not an element of HumanName"),
            ("requesting_practitioner.identifier.1.sytem", json!("x"), "requesting_practitioner.identifier[1].sytem is not an element of Identifier"),
            ("requesting_device.meta", json!({"lastUpdated": "2017-01-01T00:00:00Z", "source": "x"}), "requesting_device.meta.source is not an element of Meta"),
            ("requesting_organization.extension", json!([{"url": "u", "valueString": "x", "note": "x"}]), "requesting_organization.extension[0].note is not an element of Extension"),
            ("requesting_organization.contact", json!([{"name": {"family": "F"}, "email": "x"}]), "requesting_organization.contact[0].email is not an element of Organization.contact"),
            ("requesting_practitioner.name.0.family\u{1}", json!("x"), "requesting_practitioner.name[0].(a member whose name is not a FHIR name) is not an element of HumanName"),
            ("requesting_practitioner.name.0._family", json!({"extension": [{"url": "u", "valueCode": "x"}], "value": "x"}), "requesting_practitioner.name[0]._family.value is not an element of Element"),
            ("requesting_practitioner.name.0._period", json!({"id": "x"}), "requesting_practitioner.name[0]._period is not an element of HumanName"),
            // Wrong JSON shapes.
            ("requesting_practitioner.name.0.family", json!(["A"]), "requesting_practitioner.name[0].family is an array, but takes one string"),
            ("requesting_practitioner.name.0.given", json!("A"), "requesting_practitioner.name[0].given must be an array (of string)"),
            ("requesting_practitioner.name", json!({"family": "A"}), "requesting_practitioner.name must be an array (of HumanName)"),
            ("requesting_practitioner.name", json!("Dr Who"), "requesting_practitioner.name must be an array (of HumanName)"),
            ("requesting_organization.identifier", json!({"system": ODS_SYSTEMS[0], "value": "A"}), "requesting_organization.identifier must be an array (of Identifier)"),
            ("requesting_practitioner.identifier.0", json!("x"), "requesting_practitioner.identifier[0] must be a JSON object (Identifier)"),
            ("requesting_device.type", json!([{"text": "x"}]), "requesting_device.type is an array, but takes one CodeableConcept"),
            // Malformed primitives.
            ("requesting_practitioner.birthDate", json!("1970-13-01"), "requesting_practitioner.birthDate is not a valid FHIR date"),
            ("requesting_practitioner.birthDate", json!("1970-02-30"), "requesting_practitioner.birthDate is not a valid FHIR date"),
            ("requesting_practitioner.id", json!("1 2"), "requesting_practitioner.id is not a valid FHIR id"),
            ("requesting_practitioner.id", json!("a_b"), "requesting_practitioner.id is not a valid FHIR id"),
            ("requesting_device.meta", json!({"lastUpdated": "2017-01-01"}), "requesting_device.meta.lastUpdated is not a valid FHIR instant"),
            ("requesting_practitioner.gender", json!("fe  male"), "requesting_practitioner.gender is not a valid FHIR code"),
            ("requesting_practitioner.identifier.0.system", json!("https://fhir.nhs.uk/Id/sds user id"), "requesting_practitioner.identifier[0].system is not a valid FHIR uri"),
            ("requesting_practitioner.telecom", json!([{"system": "phone", "value": "1", "rank": 0}]), "requesting_practitioner.telecom[0].rank is not a valid FHIR positiveInt"),
            ("requesting_practitioner.photo", json!([{"data": "abc"}]), "requesting_practitioner.photo[0].data is not a valid FHIR base64Binary"),
            ("requesting_device.text", json!({"status": "generated", "div": "no markup"}), "requesting_device.text.div is not a valid FHIR xhtml"),
            // Missing required children.
            ("requesting_device.extension", json!([{"valueString": "x"}]), "requesting_device.extension[0] has no url, which Extension requires"),
            ("requesting_practitioner.qualification", json!([{"period": {"start": "2017"}}]), "requesting_practitioner.qualification[0] has no code, which Practitioner.qualification requires"),
            ("requesting_device.text", json!({"status": "generated"}), "requesting_device.text has no div, which Narrative requires"),
            ("requesting_device.note", json!([{"time": "2017"}]), "requesting_device.note[0] has no text, which Annotation requires"),
            // One value[x] per extension, at any depth (serde_json writes members in name order).
            ("requesting_device.extension", json!([{"url": "u", "valueString": "x", "valueBoolean": true}]), "requesting_device.extension[0].valueString is a second value[x] of Extension"),
            // The second is the first type of value[x] (base64Binary).
            ("requesting_device.extension", json!([{"url": "u", "valueAddress": {"city": "Leeds"}, "valueBase64Binary": "AAAA"}]), "requesting_device.extension[0].valueBase64Binary is a second value[x] of Extension"),
            ("requesting_practitioner.name.0.extension", json!([{"url": "u", "extension": [{"url": "v", "valueCode": "a", "valueUri": "b"}]}]), "requesting_practitioner.name[0].extension[0].extension[0].valueUri is a second value[x] of Extension"),
            ("requesting_device.extension", json!([{"url": "u", "valueString": "x", "_valueString": {"id": "c"}}]), "requesting_device.extension[0]._valueString is not an element of Extension"),
            ("requesting_device.extension", json!([{"url": "u", "value": "x"}]), "requesting_device.extension[0].value is not an element of Extension"),
            ("requesting_device.extension", json!([{"url": "u", "valueFoo": "x"}]), "requesting_device.extension[0].valueFoo is not an element of Extension"),
            // The JSON rules: no null, no empty string, array or object; no conversions.
            ("requesting_practitioner.active", json!(null), "requesting_practitioner.active is null"),
            ("requesting_practitioner.meta", json!(null), "requesting_practitioner.meta is null"),
            ("requesting_practitioner.name.0.family", json!(""), "requesting_practitioner.name[0].family is an empty string"),
            // The content GP Connect requires, empty: refused here, before its content rule.
            ("requesting_device.model", json!(""), "requesting_device.model is an empty string"),
            ("requesting_organization.name", json!(""), "requesting_organization.name is an empty string"),
            ("requesting_practitioner.name.0.given", json!([]), "requesting_practitioner.name[0].given is an empty array"),
            ("requesting_practitioner.name", json!([]), "requesting_practitioner.name is an empty array"),
            ("requesting_device.identifier", json!([]), "requesting_device.identifier is an empty array"),
            ("requesting_practitioner.meta", json!({}), "requesting_practitioner.meta is an empty object"),
            ("requesting_practitioner.identifier.1", json!({}), "requesting_practitioner.identifier[1] is an empty object"),
            ("requesting_practitioner.active", json!("true"), "requesting_practitioner.active must be true or false (a FHIR boolean)"),
            ("requesting_device.model", json!(1), "requesting_device.model must be a JSON string (a FHIR string)"),
            ("requesting_practitioner.name.0.given", json!(["A", 2]), "requesting_practitioner.name[0].given[1] must be a JSON string (a FHIR string)"),
            ("requesting_practitioner.telecom", json!([{"rank": "1"}]), "requesting_practitioner.telecom[0].rank must be a JSON number (a FHIR positiveInt)"),
            ("requesting_practitioner.identifier.1", json!(null), "requesting_practitioner.identifier[1] is null"),
            // Null only as a placeholder aligned with a companion.
            ("requesting_practitioner.name.0.given", json!(["A", null]), "requesting_practitioner.name[0] has a null in given with no _given"),
            ("requesting_practitioner.name.0._given", json!([{"id": "g"}, null]), "requesting_practitioner.name[0] has _given with not one item for each item of given"),
            ("requesting_practitioner.name.0", json!({"family": "A", "given": ["B", null], "_given": [null, null]}), "requesting_practitioner.name[0] has given and _given both null at one position"),
            ("requesting_practitioner.name.0", json!({"family": "A", "_given": [{"id": "g"}, null]}), "requesting_practitioner.name[0] has a null in _given with no given"),
            ("requesting_practitioner.name.0._given", json!({"id": "g"}), "requesting_practitioner.name[0]._given must be an array, as its values are"),
            ("requesting_practitioner.name.0._family", json!({}), "requesting_practitioner.name[0]._family is an empty object"),
            ("requesting_practitioner.name.0._family", json!("x"), "requesting_practitioner.name[0]._family must be a JSON object (Element)"),
            // The resource type.
            ("requesting_device.resourceType", json!("Organization"), "requesting_device.resourceType is not Device"),
            ("requesting_device.resourceType", json!("device"), "requesting_device.resourceType is not Device"),
            ("requesting_device.resourceType", json!(null), "requesting_device.resourceType is not Device"),
            ("requesting_organization.resourceType", json!("Practitioner"), "requesting_organization.resourceType is not Organization"),
            ("requesting_practitioner.resourceType", json!("Patient"), "requesting_practitioner.resourceType is not Practitioner"),
            // What gpcguard refuses although a parser would read it.
            ("requesting_device.contained", json!([{"resourceType": "Device", "model": "x"}]), "requesting_device.contained is not accepted: gpcguard does not validate contained resources, and no claim needs one"),
            ("requesting_device.modifierExtension", json!([{"url": "u", "valueBoolean": true}]), "requesting_device.modifierExtension is a modifier gpcguard does not understand, and FHIR forbids ignoring one"),
            ("requesting_practitioner.qualification", json!([{"code": {"text": "x"}, "modifierExtension": [{"url": "u", "valueBoolean": true}]}]), "requesting_practitioner.qualification[0].modifierExtension is a modifier gpcguard does not understand, and FHIR forbids ignoring one"),
            ("requesting_device.implicitRules", json!("http://example.org/rules"), "requesting_device.implicitRules is a modifier gpcguard does not understand, and FHIR forbids ignoring one"),
        ] {
            invalid_resource(path, v, message);
        }
        assert_eq!(refusal("requesting_device.resourceType", None), (Reason::JwtInvalidResource, "requesting_device has no resourceType".into()));
        assert_eq!(refusal("requesting_device", Some(json!({}))), (Reason::JwtInvalidResource, "requesting_device is an empty object".into()));
        // The first problem in document order is reported; later content is still read as JSON.
        let two = with(with(baseline_claims(), "requesting_device.zz", Some(json!(1))), "requesting_device.aa", Some(json!(2)));
        assert_eq!(run(&two), Err(Reason::JwtInvalidResource));
    }

    #[test]
    fn deep_invalid_content_is_found_at_the_depth_limit() {
        // An extension nested as deep as max_json_depth (16) allows: the innermost one is judged.
        let mut ext = json!({"url": "u", "valueString": ""});
        let mut depth = 4; // claims object, practitioner, extension array, extension object
        while depth + 2 <= 16 {
            ext = json!({"url": "u", "extension": [ext]});
            depth += 2;
        }
        let (reason, message) = refusal("requesting_practitioner.extension", Some(json!([ext])));
        assert_eq!(reason, Reason::JwtInvalidResource);
        assert!(message.starts_with("requesting_practitioner.extension[0].extension[0]") && message.ends_with(".valueString is an empty string"), "{message}");
        // One level deeper is malformed JSON for this configuration (400), not a FHIR verdict.
        let deeper = json!([{"url": "u", "extension": [ext]}]);
        let text = with(baseline_claims(), "requesting_practitioner.extension", Some(deeper)).to_string();
        let e = read(text.as_bytes(), &crate::config::Limits::default(), FhirElements::standard().unwrap()).unwrap_err();
        assert_eq!(e.reason, Reason::JwtMalformed);
    }

    #[test]
    fn items_skipped_after_an_invalid_one_are_still_held_to_the_depth_bound() {
        // Item 0 is invalid FHIR; item 1 is skipped, not judged, but its JSON still counts: at
        // max_json_depth (16) the verdict is item 0's (422), one level deeper it is 400.
        let nest = |coding: serde_json::Value| {
            let mut ext = json!({"url": "u", "valueCodeableConcept": {"coding": coding}});
            let mut depth = 4; // claims object, practitioner, extension array, extension object
            while depth + 2 <= 14 {
                ext = json!({"url": "u", "extension": [ext]});
                depth += 2;
            }
            json!([{"url": "u", "valueString": ""}, ext])
        };
        // The innermost extension at depth 14, its CodeableConcept at 15, the coding array at 16.
        let (reason, message) = refusal("requesting_practitioner.extension", Some(nest(json!([]))));
        assert_eq!((reason, message.as_str()), (Reason::JwtInvalidResource, "requesting_practitioner.extension[0].valueString is an empty string"));
        let text = with(baseline_claims(), "requesting_practitioner.extension", Some(nest(json!([{}])))).to_string();
        let e = read(text.as_bytes(), &crate::config::Limits::default(), FhirElements::standard().unwrap()).unwrap_err();
        assert_eq!(e.reason, Reason::JwtMalformed, "{}", e.message);
    }

    /// The reason for claims whose practitioner has one extension: `members` (a url added),
    /// nested in extensions so that it is an object at JSON depth `depth` (even, 4 or more).
    fn reason_at_depth(depth: usize, members: serde_json::Value) -> (Reason, String) {
        let mut ext = members;
        ext["url"] = json!("u");
        let mut d = depth;
        while d > 4 {
            ext = json!({"url": "u", "extension": [ext]});
            d -= 2;
        }
        let text = with(baseline_claims(), "requesting_practitioner.extension", Some(json!([ext]))).to_string();
        match read(text.as_bytes(), &crate::config::Limits::default(), FhirElements::standard().unwrap()) {
            Err(e) => (e.reason, e.message),
            Ok(payload) => {
                let row = Table::standard().unwrap().find(READ_PATIENT.as_bytes()).unwrap();
                let rules = ClaimRules { elements: FhirElements::standard().unwrap(), audience: None };
                let r = check(&payload, row, &rules, &mut Provenance::default()).expect_err("an invalid extension");
                (r.reason, r.message)
            }
        }
    }

    #[test]
    fn items_of_primitive_and_companion_arrays_are_held_to_the_depth_bound() {
        // max_json_depth is 16. The extension at depth d: its HumanName at d + 1, `given` or
        // `_given` at d + 2, their items at d + 3. Each pair: the deepest allowed, then one deeper.
        let too_deep = (Reason::JwtMalformed, "the JWT payload is nested too deeply");
        let cases: [(usize, serde_json::Value, (Reason, &str)); 12] = [
            // An item read: an object item at 16 is a wrong type, at 17 too deep.
            (12, json!({"valueHumanName": {"given": [{}]}}), (Reason::JwtInvalidResource, ".valueHumanName.given[0] must be a JSON string (a FHIR string)")),
            (14, json!({"valueHumanName": {"given": [{}]}}), too_deep),
            // A wrong-type item skipped: its array member at 16, then 17.
            (12, json!({"valueHumanName": {"given": [{"a": []}]}}), (Reason::JwtInvalidResource, ".valueHumanName.given[0] must be a JSON string (a FHIR string)")),
            (12, json!({"valueHumanName": {"given": [{"a": [[]]}]}}), too_deep),
            // The items after an invalid one, skipped.
            (12, json!({"valueHumanName": {"given": ["", {}]}}), (Reason::JwtInvalidResource, ".valueHumanName.given[0] is an empty string")),
            (14, json!({"valueHumanName": {"given": ["", {}]}}), too_deep),
            // Companion items: an Element object at 16, then 17; its members one deeper.
            (12, json!({"valueHumanName": {"given": ["a"], "_given": [{"extension": []}]}}), (Reason::JwtInvalidResource, ".valueHumanName._given[0].extension is an empty array")),
            (12, json!({"valueHumanName": {"given": ["a"], "_given": [{"extension": [{}]}]}}), too_deep),
            (14, json!({"valueHumanName": {"given": ["a"], "_given": [1, {}]}}), too_deep),
            (14, json!({"valueHumanName": {"given": ["a"], "_given": [{}]}}), too_deep),
            // A wrong-type companion item skipped.
            (12, json!({"valueHumanName": {"given": ["a"], "_given": [[[]]]}}), (Reason::JwtInvalidResource, ".valueHumanName._given[0] must be a JSON object (id and extension) or null")),
            (12, json!({"valueHumanName": {"given": ["a"], "_given": [[[[]]]]}}), too_deep),
        ];
        for (depth, members, (reason, message)) in cases {
            let (got, text) = reason_at_depth(depth, members.clone());
            assert!(got == reason && text.ends_with(message), "depth {depth}, {members}: {got:?} {text}");
        }
    }

    #[test]
    fn a_companion_counts_as_its_choice_being_seen() {
        // In this member order (serde_json would sort it), the value and its companion come
        // first: the later authorReference is still a second author[x].
        let note = r#""note":[{"authorString":"me","_authorString":{"id":"a"},"authorReference":{"reference":"Practitioner/1"},"text":"t"}],"model":"v1""#;
        let text = baseline_claims().to_string().replace(r#""model":"v1""#, note);
        assert!(text.contains("_authorString"));
        let r = run_raw(&text, READ_PATIENT, None).unwrap_err();
        assert_eq!((r.reason, r.message.as_str()), (Reason::JwtInvalidResource, "requesting_device.note[0].authorReference is a second author[x] of Annotation"));
    }

    #[test]
    fn json_errors_decide_before_fhir_ones() {
        // The rest of an invalid resource is still read as strict JSON: a duplicate after the
        // first FHIR problem makes the payload malformed (400), not an invalid resource.
        let text = baseline_claims().to_string().replace(r#""model":"v1""#, r#""zz":1,"model":"v1","model":"v2""#);
        let e = read(text.as_bytes(), &crate::config::Limits::default(), FhirElements::standard().unwrap()).unwrap_err();
        assert_eq!(e.reason, Reason::JwtMalformed);
    }

    #[test]
    fn valid_fhir_content_is_allowed() {
        for (path, v) in [
            ("requesting_device.meta", json!({"versionId": "1", "lastUpdated": "2017-08-29T08:38:02.123+01:00", "profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Device-1"], "security": [{"system": "s", "code": "c"}], "tag": [{"display": "d"}]})),
            ("requesting_device.text", json!({"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Device</div>"})),
            ("requesting_device.extension", json!([{"url": "https://example.org/ext", "valueString": "x"}, {"url": "u", "extension": [{"url": "a", "valueCodeableConcept": {"coding": [{"system": "s", "code": "c", "userSelected": true}]}}]}])),
            ("requesting_device.extension", json!([{"url": "u", "valueQuantity": {"value": 1.5, "comparator": "<", "unit": "mg"}}, {"url": "v", "valueInteger": -3}, {"url": "w", "valueDecimal": 0.25}, {"url": "x", "valueRange": {"low": {"value": 1}}}])),
            ("requesting_device.extension", json!([{"url": "u", "valueTiming": {"event": ["2017-01-01"], "repeat": {"boundsPeriod": {"start": "2017"}, "dayOfWeek": ["mon", "tue"], "timeOfDay": ["08:00:00"]}}}])),
            ("requesting_device.extension", json!([{"url": "u", "valueSignature": {"type": [{"code": "1.2"}], "when": "2017-01-01T00:00:00Z", "whoUri": "urn:x"}}])),
            ("requesting_device._model", json!({"id": "m", "extension": [{"url": "u", "valueBoolean": false}]})),
            ("requesting_device.udi", json!({"deviceIdentifier": "d", "carrierAIDC": "ab/+ AB==", "jurisdiction": "http://hl7.org/fhir/NamingSystem/fda-udi", "entryType": "barcode"})),
            ("requesting_device.status", json!("active")),
            ("requesting_device.manufactureDate", json!("2017-08")),
            ("requesting_device.note", json!([{"authorString": "me", "time": "2017-08-29T08:38:02Z", "text": "a note"}])),
            ("requesting_device.contact", json!([{"system": "email", "value": "a@example.org", "use": "work", "rank": 1, "period": {"start": "2017-01-01", "end": "2018"}}])),
            ("requesting_device.safety", json!([{"text": "MR safe"}])),
            ("requesting_device.owner", json!({"reference": "Organization/1", "identifier": {"system": ODS_SYSTEMS[0], "value": "A"}, "display": "x"})),
            ("requesting_organization.telecom", json!([{"system": "phone", "value": "01234 567890"}])),
            // A companion array with no values, none of it null.
            ("requesting_practitioner.name.0", json!({"family": "A", "_given": [{"id": "g"}, {"id": "h"}]})),
            // A required element given with its companion.
            ("requesting_device.note", json!([{"text": "a note", "_text": {"id": "n"}}])),
            // Objects of a value and its companion only, and of a companion only: neither is empty.
            ("requesting_organization.telecom", json!([{"system": "phone", "_system": {"id": "s"}}, {"_use": {"id": "u"}}])),
            ("requesting_organization.address", json!([{"use": "work", "line": ["1 Road", "Town"], "postalCode": "LS1 1AA", "country": "GBR", "period": {"start": "2017-01-01T00:00:00Z"}}])),
            ("requesting_organization.alias", json!(["GPC"])),
            ("requesting_organization.active", json!(true)),
            ("requesting_organization.type", json!([{"coding": [{"system": "s", "code": "prov"}]}])),
            ("requesting_organization.contact", json!([{"purpose": {"text": "admin"}, "name": {"family": "F", "given": ["G"]}, "telecom": [{"value": "1"}], "address": {"city": "Leeds"}}])),
            ("requesting_organization.partOf", json!({"reference": "Organization/2"})),
            ("requesting_organization.endpoint", json!([{"reference": "Endpoint/1"}])),
            ("requesting_organization.identifier.0.use", json!("official")),
            ("requesting_organization.identifier.0.period", json!({"start": "2017"})),
            ("requesting_organization.identifier.0.type", json!({"text": "ODS"})),
            ("requesting_organization.identifier.0.assigner", json!({"display": "NHS Digital"})),
            ("requesting_practitioner.name.0._family", json!({"extension": [{"url": "u", "valueString": "x"}]})),
            ("requesting_practitioner.name.0._given", json!([{"id": "g"}])),
            ("requesting_practitioner.name.0._use", json!({"id": "u"})),
            ("requesting_practitioner.qualification", json!([{"identifier": [{"value": "1"}], "code": {"coding": [{"code": "x"}]}, "period": {"end": "2030"}, "issuer": {"display": "GMC"}}])),
            ("requesting_practitioner.communication", json!([{"text": "English"}])),
            ("requesting_practitioner.photo", json!([{"contentType": "image/png", "data": "iVBORw0K", "size": 0, "creation": "2017"}])),
            ("requesting_practitioner.telecom", json!([{"system": "phone", "value": "1", "rank": 2147483647}])),
            ("requesting_practitioner.birthDate", json!("2000-02-29")),
            ("requesting_practitioner.gender", json!("female")),
            ("requesting_practitioner.active", json!(false)),
            ("requesting_practitioner.language", json!("en-GB")),
            ("requesting_practitioner.meta", json!({"lastUpdated": "2017-01-01T00:00:00Z"})),
        ] {
            let text = with(baseline_claims(), path, Some(v.clone())).to_string();
            if let Err(r) = run_raw(&text, READ_PATIENT, None) {
                panic!("{path} = {v}: {:?} {}", r.reason, r.message);
            }
        }
        // The companion of a value array with a null in both places but never the same one.
        let names = json!([{"family": "A", "given": [null, "B"], "_given": [{"id": "g"}, null]}]);
        assert!(change("requesting_practitioner.name", names).is_ok());
    }

    #[test]
    fn missing_mandatory_content_is_400() {
        for (path, message) in [
            ("requesting_device.identifier", "requesting_device.identifier is missing"),
            ("requesting_device.model", "requesting_device.model is missing"),
            ("requesting_device.version", "requesting_device.version is missing"),
            ("requesting_device.identifier.0.value", "requesting_device.identifier[0] does not have both a system and a value"),
            ("requesting_device.identifier.0.system", "requesting_device.identifier[0] does not have both a system and a value"),
            ("requesting_organization.name", "requesting_organization.name is missing"),
            ("requesting_organization.identifier", "requesting_organization has no ODS code identifier (https://fhir.nhs.uk/Id/ods-organization-code)"),
            ("requesting_organization.identifier.0.value", "requesting_organization.identifier[0] with system https://fhir.nhs.uk/Id/ods-organization-code has no value"),
            ("requesting_organization.identifier.0.system", "requesting_organization has no ODS code identifier (https://fhir.nhs.uk/Id/ods-organization-code)"),
            ("requesting_practitioner.id", "requesting_practitioner.id is missing"),
            ("requesting_practitioner.name", "requesting_practitioner.name is missing"),
            ("requesting_practitioner.name.0.family", "requesting_practitioner.name[0] has no family"),
            ("requesting_practitioner.identifier", "requesting_practitioner has no SDS user id identifier (https://fhir.nhs.uk/Id/sds-user-id)"),
            ("requesting_practitioner.identifier.0", "requesting_practitioner has no SDS user id identifier (https://fhir.nhs.uk/Id/sds-user-id)"),
            ("requesting_practitioner.identifier.0.value", "requesting_practitioner.identifier[0] with system https://fhir.nhs.uk/Id/sds-user-id has no value"),
        ] {
            assert_eq!(refusal(path, None), (Reason::JwtClaimInvalid, message.to_owned()), "{path}");
        }
        assert_eq!(change("requesting_organization.identifier.0.system", json!("https://example.org/ods")), Err(Reason::JwtClaimInvalid));
        // A family given only as an extension is no family; every name needs one.
        let family_by_extension = json!({"extension": [{"url": "u", "valueString": "x"}]});
        let c = with(with(baseline_claims(), "requesting_practitioner.name.0.family", None), "requesting_practitioner.name.0._family", Some(family_by_extension));
        assert_eq!(run(&c), Err(Reason::JwtClaimInvalid));
        let second = json!([{"family": "A"}, {"given": ["B"]}]);
        assert_eq!(refusal("requesting_practitioner.name", Some(second)), (Reason::JwtClaimInvalid, "requesting_practitioner.name[1] has no family".into()));
        // Two ODS codes: ambiguous provenance.
        let two = json!([{"system": ODS_SYSTEMS[0], "value": "A"}, {"system": ODS_SYSTEMS[1], "value": "B"}]);
        assert_eq!(change("requesting_organization.identifier", two), Err(Reason::JwtClaimInvalid));
        // An invalid resource is 422 even when content is missing too: the parser refuses first.
        let c = with(with(baseline_claims(), "requesting_device.model", None), "requesting_device.zz", Some(json!(1)));
        assert_eq!(run(&c), Err(Reason::JwtInvalidResource));
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
