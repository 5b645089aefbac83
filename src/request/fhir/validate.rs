//! The validator: one resource, read with the strict pull reader in the same pass as the rest of
//! the payload, every member judged against [`Types`] (spec §9.1; hl7.org/fhir/STU3/json.html):
//!
//! - a member is an element of its type (or one type of a choice, or a primitive's `_name`);
//! - an element with max `*` is a non-empty JSON array, any other a single value;
//! - complex values are non-empty objects, primitives the JSON type of [`Primitive::check`] in
//!   their lexical form; no null, except as an array's placeholder for an item whose `_name`
//!   companion is there;
//! - a companion holds only `id` and `extension` (it is read as an `Element`), and a companion
//!   array has one item (or null) for each item of its value array;
//! - required elements are there (a value or a companion); a choice appears once;
//! - `resourceType` names the resource.
//!
//! gpcguard refuses besides what no claim needs and it cannot judge: `contained` resources (the
//! table covers three resource types) and the modifiers it does not understand, which FHIR forbids
//! a system to ignore (`modifierExtension`, `implicitRules`).
//!
//! The first problem in document order is kept, with its path; the rest of the resource is then
//! only read (the reader still checks it is strict JSON). Work is linear in the input: each value
//! is read once and each member looked up among its type's members. Nothing is allocated unless
//! a problem is found.

use std::fmt::Write;

use crate::request::json::{self, Item, JsonError, Reader, Span};

use super::{Complex, Primitive, Ty, TypeId, Types, Wrong};

/// Elements gpcguard refuses wherever they appear: modifiers it does not understand. FHIR: "an
/// application that does not understand a modifier extension SHALL NOT process the resource";
/// `implicitRules` likewise (isModifier).
pub const NOT_UNDERSTOOD: [&str; 2] = ["modifierExtension", "implicitRules"];

/// What a caller keeps of a resource while it is validated: string values of its top-level
/// elements and of the children of their items. Elements are indexes of the resource type's
/// elements ([`Complex::element`]).
pub trait Keep {
    /// The top-level elements whose string values are reported, one bit each.
    fn strings(&self) -> u64;
    /// The children of the items of top-level element `element` whose string values are
    /// reported, one bit each; 0 when its items are not followed (nor their ends reported).
    fn item_strings(&self, element: usize) -> u64;
    /// A string-carried value (`text` is its text): of top-level element `element` (`child`
    /// None; `at` its position in its array, 0 when single) or of child `child` of its item `at`.
    fn string(&mut self, element: usize, at: u32, child: Option<usize>, value: Span, text: &str);
    /// The end of item `at` (an object) of top-level element `element`, when it is wanted.
    fn item_end(&mut self, element: usize, at: u32);
}

#[derive(Debug)]
enum Segment {
    Member(String),
    Index(u32),
}

/// Why a resource is not valid STU3, and where ([`Invalid::message`] says it).
#[derive(Debug)]
pub struct Invalid {
    /// Innermost first.
    path: Vec<Segment>,
    problem: String,
}

impl Invalid {
    /// `root` followed by the path and the problem: `requesting_practitioner.name[0].pXefix is not
    /// an element of HumanName`.
    pub fn message(&self, root: &str) -> String {
        let mut m = String::from(root);
        for s in self.path.iter().rev() {
            match s {
                Segment::Member(n) => {
                    m.push('.');
                    m.push_str(n);
                }
                Segment::Index(i) => {
                    let _ = write!(m, "[{i}]");
                }
            }
        }
        m.push(' ');
        m.push_str(&self.problem);
        m
    }
}

/// A member name as a message may show it: names of the FHIR form only (a message must not carry
/// arbitrary text from the token into logs).
fn shown(name: &str) -> String {
    if !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        name.to_owned()
    } else {
        "(a member whose name is not a FHIR name)".to_owned()
    }
}

/// Keeps nothing: the site type of values inside companions.
struct NoKeep;

impl Keep for NoKeep {
    fn strings(&self) -> u64 {
        0
    }
    fn item_strings(&self, _: usize) -> u64 {
        0
    }
    fn string(&mut self, _: usize, _: u32, _: Option<usize>, _: Span, _: &str) {}
    fn item_end(&mut self, _: usize, _: u32) {}
}

/// Where a value is, for what [`Keep`] is told: at the top (with the elements whose strings are
/// wanted), in item `at` of a followed top-level element (with the children wanted), or deeper.
enum Site<'k, K: Keep> {
    Top(&'k mut K, u64),
    Item(&'k mut K, usize, u32, u64),
    Inner,
}

/// A primitive array element of an object, or its companion: how long, and where its nulls are.
#[derive(Clone, Copy, Default)]
struct Run {
    element: u8,
    seen: bool,
    len: u32,
    /// Nulls among the first 64 items (a null further on is refused).
    nulls: u64,
}

/// Primitive arrays one object may have, with their companions (HumanName: given, prefix,
/// suffix; the table check keeps every type within this).
pub(super) const MAX_PRIMITIVE_ARRAYS: usize = 4;
/// Choice elements one type may have (Signature: who[x], onBehalfOf[x]).
pub(super) const MAX_CHOICES: usize = 2;

/// What is known of the object being read; `N` primitive arrays are tracked (0 for the types
/// that have none, so most objects do not pay for them).
struct Frame<const N: usize> {
    values: u64,
    companions: u64,
    /// The type chosen for each choice element seen: (element, variant).
    choices: [(u8, u8); MAX_CHOICES],
    resource_type: bool,
    runs: [(Run, Run); N],
}

impl<const N: usize> Frame<N> {
    fn new() -> Self {
        Frame { values: 0, companions: 0, choices: [(0, 0); MAX_CHOICES], resource_type: false, runs: [(Run::default(), Run::default()); N] }
    }

    #[inline]
    fn run(&mut self, element: u8) -> Option<&mut (Run, Run)> {
        let i = self.runs.iter().position(|(v, c)| (v.seen || c.seen) && v.element == element).or_else(|| self.runs.iter().position(|(v, c)| !v.seen && !c.seen))?;
        let r = &mut self.runs[i];
        r.0.element = element;
        Some(r)
    }
}

impl Types {
    /// Validates the members of a resource of type `t` whose `{` the reader has just read at
    /// nesting `depth` (its members are at `depth + 1`), telling `keep` what it wants. Errors are
    /// the reader's; a resource that is strict JSON but not valid STU3 is `Ok(Some(_))`.
    pub fn validate<K: Keep>(&self, r: &mut Reader<'_>, t: TypeId, depth: usize, keep: &mut K) -> Result<Option<Invalid>, JsonError> {
        let mut walk = Walk { types: self, invalid: None };
        let strings = keep.strings();
        walk.object(r, t, depth + 1, &mut Site::Top(keep, strings))?;
        Ok(walk.invalid)
    }
}

struct Walk<'t> {
    types: &'t Types,
    invalid: Option<Invalid>,
}

impl<'t> Walk<'t> {
    #[cold]
    #[inline(never)]
    fn fail(&mut self, problem: String) {
        if self.invalid.is_none() {
            self.invalid = Some(Invalid { path: Vec::new(), problem });
        }
    }

    /// Adds a segment to the path of a problem found inside the value just read.
    #[cold]
    #[inline(never)]
    fn within(&mut self, segment: Segment) {
        if let Some(i) = &mut self.invalid {
            i.path.push(segment);
        }
    }

    /// The members of an object of type `t` (its `{` read), at nesting `depth`.
    #[inline]
    fn object<K: Keep>(&mut self, r: &mut Reader<'_>, t: TypeId, depth: usize, site: &mut Site<'_, K>) -> Result<(), JsonError> {
        if self.types.get(t).primitive_arrays {
            self.object_with::<MAX_PRIMITIVE_ARRAYS, K>(r, t, depth, site)
        } else {
            self.object_with::<0, K>(r, t, depth, site)
        }
    }

    fn object_with<const N: usize, K: Keep>(&mut self, r: &mut Reader<'_>, t: TypeId, depth: usize, site: &mut Site<'_, K>) -> Result<(), JsonError> {
        let types = self.types;
        let ty = types.get(t);
        let mut f = Frame::<N>::new();
        r.members_digested(|r, name, digest| {
            if self.invalid.is_some() {
                return r.skip(depth).map(drop);
            }
            let text = r.str(name);
            let Some(m) = ty.member_digested(text, digest) else {
                if ty.resource && json::same(text, "resourceType") {
                    f.resource_type = true;
                    return self.resource_type(r, ty, depth);
                }
                let shown = shown(text);
                self.fail(format!("is not an element of {}", ty.name));
                self.within(Segment::Member(shown));
                return r.skip(depth).map(drop);
            };
            let e = m.element as usize;
            let bit = 1u64 << e;
            if m.choice {
                let seen = (f.values | f.companions) & bit != 0;
                // A free slot has element 0, which is `id` in every type, never a choice.
                let slot = if seen { f.choices.iter().position(|(ce, _)| *ce == m.element) } else { f.choices.iter().position(|(ce, _)| *ce == 0) };
                match slot {
                    Some(i) if seen && f.choices[i].1 != m.variant => {
                        self.fail(format!("is a second {} of {}", ty.elements[e].name, ty.name));
                        self.within(Segment::Member(m.name.clone()));
                        return r.skip(depth).map(drop);
                    }
                    Some(i) => f.choices[i] = (m.element, m.variant),
                    None => {
                        self.fail(format!("has more choice elements than gpcguard tracks in {}", ty.name));
                        return r.skip(depth).map(drop);
                    }
                }
            }
            if m.companion {
                f.companions |= bit;
            } else {
                f.values |= bit;
            }
            match (m.companion, m.ty) {
                (false, Ty::Primitive(p)) if m.many => {
                    let (len, nulls) = self.primitives(r, p, depth, e, site)?;
                    match f.run(m.element) {
                        Some(run) => run.0 = Run { element: m.element, seen: true, len, nulls },
                        None => self.fail(format!("has more primitive arrays than gpcguard tracks in {}", ty.name)),
                    }
                }
                (false, Ty::Primitive(p)) => self.primitive(r, p, depth, e, site)?,
                (true, _) if m.many => {
                    let (len, nulls) = self.companions(r, depth)?;
                    match f.run(m.element) {
                        Some(run) => run.1 = Run { element: m.element, seen: true, len, nulls },
                        None => self.fail(format!("has more primitive arrays than gpcguard tracks in {}", ty.name)),
                    }
                }
                (true, _) => self.complex(r, types.element, depth, &mut Site::<K>::Inner)?,
                (false, Ty::Complex(c)) => {
                    let mut child = match site {
                        Site::Top(k, _) => match k.item_strings(e) {
                            0 => Site::Inner,
                            wanted => Site::Item(&mut **k, e, 0, wanted),
                        },
                        _ => Site::Inner,
                    };
                    if m.many {
                        self.complexes(r, c, depth, &mut child)?;
                    } else {
                        self.complex(r, c, depth, &mut child)?;
                    }
                }
                (false, Ty::Resource) => {
                    self.fail("is not accepted: gpcguard does not validate contained resources, and no claim needs one".into());
                    r.skip(depth)?;
                }
            }
            if m.not_understood && self.invalid.is_none() {
                self.fail("is a modifier gpcguard does not understand, and FHIR forbids ignoring one".into());
            }
            if self.invalid.is_some() {
                self.within(Segment::Member(m.name.clone()));
            }
            Ok(())
        })?;
        if self.invalid.is_some() {
            return Ok(());
        }
        // Every member sets one of these or is a failure: none set is an empty object.
        if f.values | f.companions == 0 && !f.resource_type {
            self.fail("is an empty object".into());
            return Ok(());
        }
        let missing = ty.required & !(f.values | f.companions);
        if missing != 0 {
            let name = &ty.elements[missing.trailing_zeros() as usize].name;
            self.fail(format!("has no {name}, which {} requires", ty.name));
            return Ok(());
        }
        if ty.resource && !f.resource_type {
            self.fail("has no resourceType".into());
            return Ok(());
        }
        for (v, c) in f.runs.iter().filter(|(v, c)| v.seen || c.seen) {
            let element = if v.seen { v.element } else { c.element };
            let name = &ty.elements[element as usize].name;
            let problem = match (v.seen, c.seen) {
                (true, true) if v.len != c.len => format!("has _{name} with not one item for each item of {name}"),
                (true, true) if v.nulls & c.nulls != 0 => format!("has {name} and _{name} both null at one position"),
                (true, false) if v.nulls != 0 => format!("has a null in {name} with no _{name}"),
                (false, true) if c.nulls != 0 => format!("has a null in _{name} with no {name}"),
                _ => continue,
            };
            self.fail(problem);
            return Ok(());
        }
        if let Site::Item(k, e, at, _) = site {
            k.item_end(*e, *at);
        }
        Ok(())
    }

    #[inline(always)]
    fn resource_type(&mut self, r: &mut Reader<'_>, ty: &Complex, depth: usize) -> Result<(), JsonError> {
        let item = r.item(depth)?;
        let right = match item {
            Item::String(s) => json::same(r.str(s), &ty.name),
            _ => {
                r.skip_rest(item, depth)?;
                false
            }
        };
        if !right {
            self.fail(format!("is not {}", ty.name));
            self.within(Segment::Member("resourceType".into()));
        }
        Ok(())
    }

    /// A single value of complex type `c`.
    #[inline(always)]
    fn complex<K: Keep>(&mut self, r: &mut Reader<'_>, c: TypeId, depth: usize, site: &mut Site<'_, K>) -> Result<(), JsonError> {
        let item = r.item(depth)?;
        if item == Item::Object {
            return self.object(r, c, depth + 1, site);
        }
        r.skip_rest(item, depth)?;
        let name = &self.types.get(c).name;
        self.fail(match item {
            Item::Null => "is null".into(),
            Item::Array => format!("is an array, but takes one {name}"),
            _ => format!("must be a JSON object ({name})"),
        });
        Ok(())
    }

    /// An array of values of complex type `c`.
    fn complexes<K: Keep>(&mut self, r: &mut Reader<'_>, c: TypeId, depth: usize, site: &mut Site<'_, K>) -> Result<(), JsonError> {
        let item = r.item(depth)?;
        if item != Item::Array {
            r.skip_rest(item, depth)?;
            self.fail(format!("must be an array (of {})", self.types.get(c).name));
            return Ok(());
        }
        let mut at = 0u32;
        r.elements(|r| {
            if self.invalid.is_some() {
                return r.skip(depth + 1).map(drop);
            }
            let mut child = match site {
                Site::Item(k, e, _, wanted) => Site::Item(&mut **k, *e, at, *wanted),
                _ => Site::Inner,
            };
            self.complex(r, c, depth + 1, &mut child)?;
            if self.invalid.is_some() {
                self.within(Segment::Index(at));
            }
            at = at.saturating_add(1);
            Ok(())
        })?;
        if at == 0 {
            self.fail("is an empty array".into());
        }
        Ok(())
    }

    /// A single primitive value of element `e`.
    #[inline(always)]
    fn primitive<K: Keep>(&mut self, r: &mut Reader<'_>, p: Primitive, depth: usize, e: usize, site: &mut Site<'_, K>) -> Result<(), JsonError> {
        let item = r.item(depth)?;
        self.primitive_item(r, item, p, depth, e, 0, site)
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn primitive_item<K: Keep>(&mut self, r: &mut Reader<'_>, item: Item, p: Primitive, depth: usize, e: usize, at: u32, site: &mut Site<'_, K>) -> Result<(), JsonError> {
        let text = match item {
            Item::String(s) | Item::Number(s) => r.str(s),
            _ => "",
        };
        match p.check(item, text) {
            Ok(()) => {
                if let Item::String(s) = item {
                    match site {
                        Site::Top(k, wanted) if *wanted & 1 << e != 0 => k.string(e, at, None, s, text),
                        Site::Item(k, top, item_at, wanted) if *wanted & 1 << e != 0 => k.string(*top, *item_at, Some(e), s, text),
                        _ => {}
                    }
                }
                Ok(())
            }
            Err(wrong) => {
                r.skip_rest(item, depth)?;
                self.fail(match (wrong, item) {
                    (Wrong::Null, _) => "is null".into(),
                    (Wrong::EmptyString, _) => "is an empty string".into(),
                    (Wrong::Format, _) => format!("is not a valid FHIR {}", p.name()),
                    (Wrong::JsonType, Item::Array) => format!("is an array, but takes one {}", p.name()),
                    (Wrong::JsonType, _) => format!("must be {} (a FHIR {})", p.json_type(), p.name()),
                });
                Ok(())
            }
        }
    }

    /// An array of primitive values of element `e`: its length and where its nulls are.
    fn primitives<K: Keep>(&mut self, r: &mut Reader<'_>, p: Primitive, depth: usize, e: usize, site: &mut Site<'_, K>) -> Result<(u32, u64), JsonError> {
        let item = r.item(depth)?;
        if item != Item::Array {
            r.skip_rest(item, depth)?;
            self.fail(format!("must be an array (of {})", p.name()));
            return Ok((0, 0));
        }
        let (mut at, mut nulls) = (0u32, 0u64);
        r.elements(|r| {
            if self.invalid.is_some() {
                return r.skip(depth + 1).map(drop);
            }
            let item = r.item(depth + 1)?;
            if item == Item::Null {
                null_at(self, &mut nulls, at);
            } else {
                self.primitive_item(r, item, p, depth + 1, e, at, site)?;
            }
            if self.invalid.is_some() {
                self.within(Segment::Index(at));
            }
            at = at.saturating_add(1);
            Ok(())
        })?;
        if at == 0 {
            self.fail("is an empty array".into());
        }
        Ok((at, nulls))
    }

    /// A companion array: each item null or an `Element` object.
    fn companions(&mut self, r: &mut Reader<'_>, depth: usize) -> Result<(u32, u64), JsonError> {
        let item = r.item(depth)?;
        if item != Item::Array {
            r.skip_rest(item, depth)?;
            self.fail("must be an array, as its values are".into());
            return Ok((0, 0));
        }
        let element = self.types.element;
        let (mut at, mut nulls) = (0u32, 0u64);
        r.elements(|r| {
            if self.invalid.is_some() {
                return r.skip(depth + 1).map(drop);
            }
            let item = r.item(depth + 1)?;
            match item {
                Item::Null => null_at(self, &mut nulls, at),
                Item::Object => self.object(r, element, depth + 2, &mut Site::<NoKeep>::Inner)?,
                other => {
                    r.skip_rest(other, depth + 1)?;
                    self.fail("must be a JSON object (id and extension) or null".into());
                }
            }
            if self.invalid.is_some() {
                self.within(Segment::Index(at));
            }
            at = at.saturating_add(1);
            Ok(())
        })?;
        if at == 0 {
            self.fail("is an empty array".into());
        }
        Ok((at, nulls))
    }
}

/// Notes a null array item (a placeholder, valid only beside a companion item).
fn null_at(w: &mut Walk<'_>, nulls: &mut u64, at: u32) {
    match 1u64.checked_shl(at) {
        Some(bit) => *nulls |= bit,
        None => w.fail("is null beyond the 64th item, where gpcguard does not check the companion".into()),
    }
}
