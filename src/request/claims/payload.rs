//! Reading the JWT payload in one pass: the strict JSON reader walks the whole payload (every
//! value is checked, read or skipped) and keeps, for each claim and resource element the rules of
//! [`super`] look at, only what they need. No document is built; the rules then run in their
//! settled order on what was kept, so the first failure reported does not depend on the order of
//! the members in the token.

use crate::config::Limits;
use crate::request::json::{self, Item, JsonError, Kind, Reader, Span, Strings};
use crate::refusal::{Checked, Refusal};
use crate::verdict::Reason;

use super::{FhirElements, CLAIM_NAMES, DEVICE, ODS_SYSTEMS, PRACTITIONER, SDS_ROLE_PROFILE_SYSTEM, SDS_USER_ID_SYSTEM};

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
/// practitioner), `resourceType` and `identifier` first. Each is an STU3 element of its resource
/// ([`FhirElements::standard`] checks).
pub(super) const CONTENT: [&[&str]; 3] = [
    &["resourceType", "identifier", "model", "version"],
    &["resourceType", "identifier", "name"],
    &["resourceType", "identifier", "id", "name"],
];
pub(super) const RESOURCE_TYPE: usize = 0;
pub(super) const IDENTIFIER: usize = 1;
const MAX_CONTENT: usize = 4;

/// The identifier systems whose values the rules look for, per resource claim, in groups: the
/// organization's ODS code (either system), the practitioner's SDS user id, then role profile.
pub(super) const SYSTEMS: [&[&[&str]]; 3] = [&[], &[&ODS_SYSTEMS], &[&[SDS_USER_ID_SYSTEM], &[SDS_ROLE_PROFILE_SYSTEM]]];
const MAX_GROUPS: usize = 2;

/// The identifiers with a system of one group.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Group {
    /// The first one's value (non-empty string).
    pub first: Option<Span>,
    pub count: u32,
    /// The position of the first one without a value, and which of the group's systems it has.
    pub first_without_value: Option<(u32, usize)>,
}

/// What the rules need of a resource's `identifier` array.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Identifiers {
    /// Position of the first element that is not an object.
    pub first_not_object: Option<u32>,
    /// Position of the first element without a non-empty string `system` and `value`.
    pub first_incomplete: Option<u32>,
    /// The value of the first element that has both.
    pub first_complete: Option<Span>,
    pub groups: [Group; MAX_GROUPS],
}

/// What was read of one resource claim (when it is an object).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Resource {
    /// The elements of [`CONTENT`] for this claim, in that order.
    pub content: [Field; MAX_CONTENT],
    /// A member that is not an element of the STU3 resource.
    pub undefined_element: bool,
    pub identifiers: Identifiers,
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
    let mut claims = [Field::Absent; CLAIM_NAMES.len()];
    let mut resources = [Resource::default(); 3];
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
                Some(c) if c <= PRACTITIONER - DEVICE => resource(r, c, elements, &mut resources[c])?,
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
    Ok(Payload { strings, claims, resources })
}

/// A value at `depth`, as a [`Field`].
fn field(r: &mut Reader<'_>, depth: usize) -> Result<Field, JsonError> {
    let item = r.item(depth)?;
    Ok(match item {
        Item::String(s) => Field::String(s),
        Item::Number(n) => json::integer(r.str(n)).map_or(Field::Other, Field::Integer),
        Item::Array => {
            let (mut len, mut all_objects) = (0u32, true);
            r.elements(|r| {
                len = len.saturating_add(1);
                all_objects &= r.skip(depth + 1)? == Kind::Object;
                Ok(())
            })?;
            Field::Array { len, all_objects }
        }
        Item::Object => {
            r.skip_rest(item, depth)?;
            Field::Object
        }
        Item::Null | Item::Bool(_) => Field::Other,
    })
}

/// Resource claim `c` (an index into [`CONTENT`]) at depth 2: its content elements as fields,
/// its identifiers, and whether any member is not an element of the resource.
fn resource(r: &mut Reader<'_>, c: usize, elements: &FhirElements, out: &mut Resource) -> Result<Field, JsonError> {
    let item = r.item(2)?;
    if item != Item::Object {
        r.skip_rest(item, 2)?;
        return Ok(Field::Other);
    }
    let def = elements.resource(c);
    r.members(|r, name| {
        let name_text = r.str(name);
        match CONTENT[c].iter().position(|n| json::same(n, name_text)) {
            Some(IDENTIFIER) => out.content[IDENTIFIER] = identifiers(r, c, &mut out.identifiers)?,
            Some(e) => out.content[e] = field(r, 3)?,
            None => {
                // No list (impossible: the lists are checked at load) means nothing is defined.
                out.undefined_element |= !def.is_some_and(|d| elements.allows(d, name_text));
                r.skip(3)?;
            }
        }
        Ok(())
    })?;
    Ok(Field::Object)
}

/// A resource's `identifier` member at depth 3: the facts of [`Identifiers`] when it is an array.
fn identifiers(r: &mut Reader<'_>, c: usize, out: &mut Identifiers) -> Result<Field, JsonError> {
    let item = r.item(3)?;
    if item != Item::Array {
        r.skip_rest(item, 3)?;
        return Ok(Field::Other);
    }
    let mut at = 0u32;
    r.elements(|r| {
        let item = r.item(4)?;
        let (mut system, mut value) = (None, None);
        if item == Item::Object {
            r.members(|r, name| {
                let name = r.str(name);
                let slot = if json::same(name, "system") {
                    &mut system
                } else if json::same(name, "value") {
                    &mut value
                } else {
                    return r.skip(5).map(drop);
                };
                match r.item(5)? {
                    Item::String(s) => *slot = Some(s),
                    other => r.skip_rest(other, 5)?,
                }
                Ok(())
            })?;
        } else {
            r.skip_rest(item, 4)?;
            out.first_not_object.get_or_insert(at);
        }
        let non_empty = |s: Option<Span>| s.filter(|s| !r.str(*s).is_empty());
        let (system_text, value) = (system.map(|s| r.str(s)), non_empty(value));
        match (non_empty(system), value) {
            (Some(_), Some(v)) => {
                out.first_complete.get_or_insert(v);
            }
            _ => {
                out.first_incomplete.get_or_insert(at);
            }
        }
        for (group, systems) in out.groups.iter_mut().zip(SYSTEMS[c]) {
            let Some(which) = systems.iter().position(|s| Some(*s) == system_text) else { continue };
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
        at = at.saturating_add(1);
        Ok(())
    })?;
    Ok(Field::Array { len: at, all_objects: out.first_not_object.is_none() })
}
