//! Reading the JWT payload in one pass: the strict JSON reader walks the whole payload (every
//! value is checked, read or skipped), the three resource claims are validated as FHIR STU3 as
//! they are read ([`crate::request::fhir`]), and for each claim and resource element the rules of
//! [`super`] look at, only what they need is kept. No document is built; the rules then run in
//! their settled order on what was kept, so the reason of the first failure reported does not
//! depend on the order of the members in the token.

use crate::config::Limits;
use crate::request::fhir::{Invalid, Keep};
use crate::request::json::{self, Item, JsonError, Reader, Span, Strings};
use crate::refusal::{Checked, Refusal};
use crate::verdict::Reason;

use super::{FhirElements, ResourceRules, CLAIM_NAMES, DEVICE, ODS_SYSTEMS, PRACTITIONER, SDS_ROLE_PROFILE_SYSTEM, SDS_USER_ID_SYSTEM};

/// A claim or element as read: what the rules ask of it, nothing more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Field {
    #[default]
    Absent,
    String(Span),
    /// A JSON number written as an integer that fits an i64.
    Integer(i64),
    /// An array: how many elements, and whether they all are objects.
    Array { len: u32, all_objects: bool },
    Object,
    /// Anything else: a wrong type for every rule that looks at it.
    Other,
}

/// The elements whose content the rules check, per resource claim (device, organization,
/// practitioner), `identifier` first. Each is an STU3 element of its resource
/// ([`FhirElements::standard`] resolves them in the table).
pub(super) const CONTENT: [&[&str]; 3] = [&["identifier", "model", "version"], &["identifier", "name"], &["identifier", "id", "name"]];
pub(super) const IDENTIFIER: usize = 0;
pub(super) const MAX_CONTENT: usize = 3;

/// The identifier systems whose values the rules look for, per resource claim, in groups: the
/// organization's ODS code (either system), the practitioner's SDS user id, then role profile.
pub(super) const SYSTEMS: [&[&[&str]]; 3] = [&[], &[&ODS_SYSTEMS], &[&[SDS_USER_ID_SYSTEM], &[SDS_ROLE_PROFILE_SYSTEM]]];
const MAX_GROUPS: usize = 2;

/// The identifiers with a system of one group.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Group {
    /// The first one's value.
    pub first: Option<Span>,
    pub count: u32,
    /// The position of the first one without a value, and which of the group's systems it has.
    pub first_without_value: Option<(u32, usize)>,
}

/// What the rules need of a resource's `identifier` array.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Identifiers {
    /// Position of the first element without both `system` and `value`.
    pub first_incomplete: Option<u32>,
    /// The value of the first element that has both.
    pub first_complete: Option<Span>,
    pub groups: [Group; MAX_GROUPS],
}

/// What was read of one resource claim (when it is an object).
#[derive(Debug, Default)]
pub(super) struct Resource {
    /// The elements of [`CONTENT`] for this claim, in that order: strings, or the identifier and
    /// practitioner name arrays.
    pub content: [Field; MAX_CONTENT],
    /// Why it is not a valid STU3 resource.
    pub invalid: Option<Invalid>,
    pub identifiers: Identifiers,
    /// The position of the first practitioner name without a family (GP Connect profile).
    pub first_name_without_family: Option<u32>,
}

/// The payload as read.
#[derive(Debug)]
pub struct Payload<'a> {
    pub(super) strings: Strings<'a>,
    pub(super) claims: [Field; CLAIM_NAMES.len()],
    /// Device, organization, practitioner.
    pub(super) resources: [Resource; 3],
}

impl Payload<'_> {
    /// Nothing read yet: every claim absent.
    pub fn empty() -> Self {
        Payload { strings: Strings::default(), claims: [Field::Absent; CLAIM_NAMES.len()], resources: Default::default() }
    }

    pub(super) fn str(&self, s: Span) -> &str {
        self.strings.get(s)
    }
}

fn malformed(e: JsonError) -> Refusal {
    Refusal::new(Reason::JwtMalformed, format!("the JWT payload {}", e.describe()))
}

/// Reads the decoded payload: strict JSON (else `JwtMalformed`), an object (else `JwtMalformed`),
/// nested no deeper than `max_json_depth`.
pub fn read<'a>(payload: &'a [u8], limits: &Limits, elements: &FhirElements) -> Checked<Payload<'a>> {
    let mut out = Payload::empty();
    read_into(payload, limits, elements, &mut out)?;
    Ok(out)
}

/// [`read`] into `out` (as [`Payload::empty`] made it), where the check keeps it: the payload
/// (about a kilobyte) is filled in place, not moved out through a `Result` twice.
pub fn read_into<'a>(payload: &'a [u8], limits: &Limits, elements: &FhirElements, out: &mut Payload<'a>) -> Checked<()> {
    let Payload { claims, resources, .. } = out;
    let (is_object, strings) = json::read(payload, limits.max_json_depth, |r| {
        let item = r.item(1)?;
        if item != Item::Object {
            r.skip_rest(item, 1)?;
            return Ok(false);
        }
        r.members(|r, name| {
            let name = r.str(name);
            let Some(i) = CLAIM_NAMES.iter().position(|n| json::same(n, name)) else {
                return r.skip(2).map(drop);
            };
            claims[i] = match i.checked_sub(DEVICE) {
                Some(c) if c <= PRACTITIONER - DEVICE => resource(r, elements, c, &mut resources[c])?,
                _ => field(r, 2)?,
            };
            Ok(())
        })?;
        Ok(true)
    })
    .map_err(malformed)?;
    if !is_object {
        return Err(Refusal::new(Reason::JwtMalformed, "the JWT payload is not a JSON object"));
    }
    out.strings = strings;
    Ok(())
}

/// A value at `depth`, as a [`Field`].
fn field(r: &mut Reader<'_>, depth: usize) -> Result<Field, JsonError> {
    let item = r.item(depth)?;
    Ok(match item {
        Item::String(s) => Field::String(s),
        Item::Number(n) => json::integer(r.str(n)).map_or(Field::Other, Field::Integer),
        // No claim read here is judged as an array or an object (the resource claims are read
        // by `resource`): a wrong type for every rule that looks at it.
        Item::Array | Item::Object => {
            r.skip_rest(item, depth)?;
            Field::Other
        }
        Item::Null | Item::Bool(_) => Field::Other,
    })
}

/// Resource claim `c` at depth 2: validated as its STU3 resource, its content kept.
fn resource(r: &mut Reader<'_>, elements: &FhirElements, c: usize, out: &mut Resource) -> Result<Field, JsonError> {
    let item = r.item(2)?;
    if item != Item::Object {
        r.skip_rest(item, 2)?;
        return Ok(Field::Other);
    }
    let rules = &elements.resources[c];
    let mut keeper = Keeper { rules, c, out, system: None, value: None, family: false };
    let invalid = elements.types.validate(r, rules.ty, 2, &mut keeper)?;
    out.invalid = invalid;
    Ok(Field::Object)
}

/// Keeps what the claim rules need while the validator reads a resource claim.
struct Keeper<'k> {
    rules: &'k ResourceRules,
    c: usize,
    out: &'k mut Resource,
    /// Of the identifier being read: whether it has a system, and the group and system index of
    /// [`SYSTEMS`] it names; its value.
    system: Option<Option<(usize, usize)>>,
    value: Option<Span>,
    /// Whether the name being read has a family.
    family: bool,
}

impl Keep for Keeper<'_> {
    #[inline]
    fn strings(&self) -> u64 {
        self.rules.content.iter().fold(0, |m, e| m | 1 << e)
    }

    #[inline]
    fn item_strings(&self, element: usize) -> u64 {
        let rules = self.rules;
        if element == rules.content[IDENTIFIER] {
            1 << rules.identifier_system | 1 << rules.identifier_value
        } else if Some(element) == rules.names {
            1 << rules.family
        } else {
            0
        }
    }

    #[inline]
    fn string(&mut self, element: usize, _at: u32, child: Option<usize>, value: Span, text: &str) {
        let rules = self.rules;
        match child {
            None => {
                if let Some(i) = rules.content.iter().position(|e| *e == element) {
                    self.out.content[i] = Field::String(value);
                }
            }
            Some(c) if element == rules.content[IDENTIFIER] => {
                if c == rules.identifier_system {
                    let group = SYSTEMS[self.c]
                        .iter()
                        .enumerate()
                        .find_map(|(g, systems)| systems.iter().position(|s| json::same(s, text)).map(|which| (g, which)));
                    self.system = Some(group);
                } else if c == rules.identifier_value {
                    self.value = Some(value);
                }
            }
            Some(c) => self.family |= c == rules.family,
        }
    }

    #[inline]
    fn item_end(&mut self, element: usize, at: u32) {
        let rules = self.rules;
        let slot = if element == rules.content[IDENTIFIER] {
            identifier(&mut self.out.identifiers, at, self.system.take(), self.value.take());
            IDENTIFIER
        } else {
            if !std::mem::take(&mut self.family) {
                self.out.first_name_without_family.get_or_insert(at);
            }
            match rules.content.iter().position(|e| Some(*e) == rules.names) {
                Some(i) => i,
                None => return,
            }
        };
        self.out.content[slot] = Field::Array { len: at.saturating_add(1), all_objects: true };
    }
}

/// Identifier `at` of a resource claim: whether it has a system (and which group of [`SYSTEMS`]
/// it names) and its value; the facts of [`Identifiers`].
fn identifier(out: &mut Identifiers, at: u32, system: Option<Option<(usize, usize)>>, value: Option<Span>) {
    match (system, value) {
        (Some(_), Some(v)) => {
            out.first_complete.get_or_insert(v);
        }
        _ => {
            out.first_incomplete.get_or_insert(at);
        }
    }
    if let Some(Some((g, which))) = system {
        let group = &mut out.groups[g];
        match value {
            Some(v) => {
                group.first.get_or_insert(v);
                group.count = group.count.saturating_add(1);
            }
            None => {
                group.first_without_value.get_or_insert((at, which));
            }
        }
    }
}
