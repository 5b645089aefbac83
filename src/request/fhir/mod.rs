//! FHIR STU3 as a strict parser judges it, for the resources in the JWT claims (spec §9.1): the
//! type definitions as data (`stu3.types`, parsed once into [`Types`]) and a validator that walks
//! a resource with the strict pull reader, judging every element at every depth
//! ([`validate`]).
//!
//! The table has the element names, types, cardinalities and required flags of the published
//! StructureDefinitions; `make fhir-check` compares it with an independent implementation's and
//! runs the differential test (tests/fhir/).

use std::sync::OnceLock;

use crate::error::{Error, ErrorKind, Result};
use crate::request::json;

mod primitive;
mod validate;

pub use primitive::{Primitive, Wrong, PRIMITIVES};
pub use validate::{Invalid, Keep};

const STU3_TYPES: &str = include_str!("stu3.types");

/// Index of a complex type (datatype, backbone element or resource) in [`Types`].
pub type TypeId = u16;

/// Elements of one type: their presence is kept in a u64 while an object is read.
const MAX_ELEMENTS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Primitive(Primitive),
    Complex(TypeId),
    /// Any resource (`contained`).
    Resource,
}

/// An element of a type, its base types' included.
#[derive(Debug)]
pub struct Element {
    /// As the definition writes it (`value[x]` for a choice).
    pub name: String,
    pub types: Vec<Ty>,
    pub required: bool,
    pub many: bool,
    /// A primitive that may have a `_name` companion (FHIR JSON §2.6.2).
    pub companion: bool,
}

/// A JSON member name an object of a type may carry: an element, one type of a choice, or a
/// primitive's `_name` companion.
#[derive(Debug)]
struct Member {
    name: String,
    element: u8,
    ty: Ty,
    /// The element's choice among its types (0 for a plain element).
    variant: u8,
    companion: bool,
    /// One of [`validate::NOT_UNDERSTOOD`], refused wherever it appears.
    not_understood: bool,
    /// The element's: max `*`; a choice.
    many: bool,
    choice: bool,
}

#[derive(Debug)]
pub struct Complex {
    /// `HumanName`, `Practitioner.qualification`...
    pub name: String,
    /// Its base's elements first.
    pub elements: Vec<Element>,
    /// Whether it is a resource (has `resourceType`).
    pub resource: bool,
    /// Whether it has primitive arrays (whose companions must align).
    primitive_arrays: bool,
    members: Vec<Member>,
    /// The members by a key of their name: `slots[slot(key, seed)]` is a member's index + 1, 0
    /// for none. The seed is chosen at load so that no two members of the type share a slot; a
    /// member is then found with one multiplication and one comparison. The key is the reader's
    /// [`json::digest`] of the name (the duplicate check computed it already), or [`name_key`]
    /// for the few types where two member names share a digest (Extension's `valueCode` and
    /// `valueDate`).
    seed: u64,
    by_name_key: bool,
    slots: Box<[u8; 256]>,
    /// The required elements, one bit each.
    required: u64,
}

/// A digest of a member name: its first and last eight bytes (overlapping when shorter) and its
/// length, read a word at a time.
#[inline]
fn name_key(b: &[u8]) -> u64 {
    let n = b.len();
    let u32_at = |i: usize| b[i..i + 4].try_into().map_or(0, u32::from_le_bytes) as u64;
    let u64_at = |i: usize| b[i..i + 8].try_into().map_or(0, u64::from_le_bytes);
    let words = match n {
        0 => 0,
        1..=3 => b[0] as u64 | (b[n / 2] as u64) << 8 | (b[n - 1] as u64) << 16,
        4..=7 => u32_at(0) | u32_at(n - 4) << 32,
        _ => u64_at(0) ^ u64_at(n - 8).rotate_left(29),
    };
    words ^ (n as u64) << 58
}

#[inline]
fn slot(key: u64, seed: u64) -> usize {
    (key.wrapping_mul(seed) >> 56) as usize
}

impl Complex {
    /// The element that member `name` is (or is the companion of), by table index.
    #[cfg(test)]
    fn member(&self, name: &str) -> Option<&Member> {
        self.member_digested(name, json::digest(name.as_bytes()))
    }

    /// [`Complex::member`] for a name whose [`json::digest`] is `digest`.
    #[inline(always)]
    fn member_digested(&self, name: &str, digest: u64) -> Option<&Member> {
        let key = if self.by_name_key { name_key(name.as_bytes()) } else { digest };
        let i = self.slots[slot(key, self.seed)];
        let m = self.members.get((i as usize).checked_sub(1)?)?;
        json::same(&m.name, name).then_some(m)
    }

    /// Chooses the key and the seed of [`Complex::slots`]: odd multipliers until the members'
    /// slots differ.
    fn index(&mut self) -> std::result::Result<(), String> {
        if self.members.len() >= u8::MAX as usize {
            return Err(format!("{} has too many members", self.name));
        }
        let digests: Vec<u64> = self.members.iter().map(|m| json::digest(m.name.as_bytes())).collect();
        self.by_name_key = digests.iter().enumerate().any(|(i, d)| digests[..i].contains(d));
        let keys: Vec<u64> = if self.by_name_key { self.members.iter().map(|m| name_key(m.name.as_bytes())).collect() } else { digests };
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            let mut slots = Box::new([0u8; 256]);
            if keys.iter().enumerate().all(|(i, k)| {
                let s = &mut slots[slot(*k, seed)];
                let free = *s == 0;
                *s = i as u8 + 1;
                free
            }) {
                self.seed = seed;
                self.slots = slots;
                return Ok(());
            }
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
        }
        Err(format!("{}: no seed separates its member names", self.name))
    }

    /// The index of element `name` (as the definition writes it).
    pub fn element(&self, name: &str) -> Option<usize> {
        self.elements.iter().position(|e| e.name == name)
    }
}

/// The STU3 types of the table.
#[derive(Debug)]
pub struct Types {
    types: Vec<Complex>,
    /// `Element`, the type of a primitive's companion object (id and extension).
    element: TypeId,
}

impl Types {
    /// The embedded STU3 table, parsed once.
    pub fn stu3() -> Result<&'static Types> {
        static TABLE: OnceLock<std::result::Result<Types, String>> = OnceLock::new();
        TABLE
            .get_or_init(|| Types::parse(STU3_TYPES))
            .as_ref()
            .map_err(|e| Error::new(ErrorKind::Syntax, format!("built-in FHIR STU3 table: {e}")))
    }

    pub fn get(&self, t: TypeId) -> &Complex {
        &self.types[t as usize]
    }

    pub fn find(&self, name: &str) -> Option<TypeId> {
        self.types.iter().position(|t| t.name == name).map(|i| i as TypeId)
    }

    /// Every type, for the table check.
    pub fn all(&self) -> impl Iterator<Item = &Complex> {
        self.types.iter()
    }

    /// Parses the table text (see `stu3.types` for its form).
    fn parse(text: &str) -> std::result::Result<Types, String> {
        struct Raw<'a> {
            name: &'a str,
            base: Option<&'a str>,
            rows: Vec<(usize, &'a str, &'a str, &'a str, bool)>,
        }
        let mut raws: Vec<Raw> = Vec::new();
        for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
            let content = line.split('#').next().unwrap_or("");
            if content.trim().is_empty() {
                continue;
            }
            let words: Vec<&str> = content.split_whitespace().collect();
            if !line.starts_with(' ') {
                let (name, base) = match words[..] {
                    [name] => (name, None),
                    [name, ":", base] => (name, Some(base)),
                    _ => return Err(format!("line {n}: expected `Type` or `Type : Base`")),
                };
                if raws.iter().any(|r| r.name == name) {
                    return Err(format!("line {n}: {name} is defined twice"));
                }
                raws.push(Raw { name, base, rows: Vec::new() });
                continue;
            }
            let raw = raws.last_mut().ok_or(format!("line {n}: an element before any type"))?;
            match words[..] {
                [name, card, types] => raw.rows.push((n, name, card, types, false)),
                [name, card, types, "plain"] => raw.rows.push((n, name, card, types, true)),
                _ => return Err(format!("line {n}: expected `name min..max types [plain]`")),
            }
        }
        let index = |name: &str| raws.iter().position(|r| r.name == name);
        let mut types = Vec::with_capacity(raws.len());
        for raw in &raws {
            // The chain of bases, root first.
            let mut chain = vec![raw];
            while let Some(base) = chain.last().and_then(|r| r.base) {
                let b = index(base).ok_or(format!("{}: unknown base {base}", raw.name))?;
                if chain.len() > raws.len() {
                    return Err(format!("{}: its bases form a circle", raw.name));
                }
                chain.push(&raws[b]);
            }
            let resource = chain.last().is_some_and(|r| r.name == "Resource");
            let mut elements: Vec<Element> = Vec::new();
            for r in chain.iter().rev() {
                for &(n, name, card, type_list, plain) in &r.rows {
                    let (required, many) = match card {
                        "0..1" => (false, false),
                        "1..1" => (true, false),
                        "0..*" => (false, true),
                        "1..*" => (true, true),
                        _ => return Err(format!("line {n}: cardinality {card} is not 0..1, 1..1, 0..* or 1..*")),
                    };
                    let mut tys = Vec::new();
                    for t in type_list.split('|') {
                        tys.push(if let Some((_, p)) = PRIMITIVES.iter().find(|(pn, _)| *pn == t) {
                            Ty::Primitive(*p)
                        } else if t == "Resource" {
                            Ty::Resource
                        } else {
                            Ty::Complex(index(t).ok_or(format!("line {n}: unknown type {t}"))? as TypeId)
                        });
                    }
                    let choice = name.ends_with("[x]");
                    if choice != (tys.len() > 1) {
                        return Err(format!("line {n}: a choice is written name[x] and has several types, nothing else"));
                    }
                    if plain && !tys.iter().any(|t| matches!(t, Ty::Primitive(_))) {
                        return Err(format!("line {n}: only an element with a primitive type can be plain"));
                    }
                    // An element redefined by a type replaces its base's (DomainResource.extension).
                    elements.retain(|e| e.name != name);
                    let companion = !plain && tys.iter().any(|t| matches!(t, Ty::Primitive(p) if *p != Primitive::Xhtml));
                    elements.push(Element { name: name.to_owned(), types: tys, required, many, companion });
                }
            }
            let primitive_arrays = elements.iter().filter(|e| e.many && matches!(e.types[..], [Ty::Primitive(_)])).count();
            if primitive_arrays > validate::MAX_PRIMITIVE_ARRAYS {
                return Err(format!("{} has more primitive arrays than the validator tracks", raw.name));
            }
            if elements.iter().filter(|e| e.types.len() > 1).count() > validate::MAX_CHOICES {
                return Err(format!("{} has more choice elements than the validator tracks", raw.name));
            }
            if elements.first().is_some_and(|e| e.types.len() > 1) {
                return Err(format!("{}: a choice as first element", raw.name));
            }
            if elements.len() > MAX_ELEMENTS {
                return Err(format!("{} has more than {MAX_ELEMENTS} elements", raw.name));
            }
            types.push(Complex {
                name: raw.name.to_owned(),
                elements,
                resource,
                primitive_arrays: primitive_arrays > 0,
                members: Vec::new(),
                seed: 0,
                by_name_key: false,
                slots: Box::new([0; 256]),
                required: 0,
            });
        }
        for t in &mut types {
            let mut members = Vec::new();
            for (e, el) in t.elements.iter().enumerate() {
                let base = el.name.strip_suffix("[x]");
                let not_understood = validate::NOT_UNDERSTOOD.contains(&el.name.as_str());
                for (v, ty) in el.types.iter().enumerate() {
                    let name = match base {
                        Some(b) => {
                            let tn = type_name(&raws.iter().map(|r| r.name).collect::<Vec<_>>(), *ty);
                            let mut cs = tn.chars();
                            let first = cs.next().ok_or("an empty type name")?;
                            format!("{b}{}{}", first.to_ascii_uppercase(), cs.as_str())
                        }
                        None => el.name.clone(),
                    };
                    let primitive = matches!(ty, Ty::Primitive(p) if *p != Primitive::Xhtml);
                    if el.companion && primitive {
                        members.push(Member { name: format!("_{name}"), element: e as u8, ty: *ty, variant: v as u8, companion: true, not_understood, many: el.many, choice: base.is_some() });
                    }
                    members.push(Member { name, element: e as u8, ty: *ty, variant: v as u8, companion: false, not_understood, many: el.many, choice: base.is_some() });
                }
                if el.required {
                    t.required |= 1 << e;
                }
            }
            // Values before companions: the common case finds its member sooner.
            members.sort_by_key(|m| m.companion);
            if t.resource && members.iter().any(|m| m.name == "resourceType") {
                return Err(format!("{}: resourceType is not an element", t.name));
            }
            t.members = members;
            t.index()?;
        }
        let element = types.iter().position(|t| t.name == "Element").ok_or("no Element type")? as TypeId;
        // A choice is told apart by variant in a u8, its element by index in a u64.
        if types.iter().any(|t| t.elements.iter().any(|e| e.types.len() > u8::MAX as usize)) {
            return Err("a choice with too many types".into());
        }
        Ok(Types { types, element })
    }

    /// The FHIR name of a type.
    pub fn type_name(&self, ty: Ty) -> &str {
        match ty {
            Ty::Primitive(p) => p.name(),
            Ty::Complex(t) => &self.get(t).name,
            Ty::Resource => "Resource",
        }
    }
}

fn type_name<'a>(names: &[&'a str], ty: Ty) -> &'a str {
    match ty {
        Ty::Primitive(p) => p.name(),
        Ty::Complex(t) => names[t as usize],
        Ty::Resource => "Resource",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_with_inherited_elements_and_choices() {
        let t = Types::stu3().unwrap();
        let p = t.get(t.find("Practitioner").unwrap());
        assert!(p.resource);
        let names: Vec<&str> = p.elements.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names[..8], ["id", "meta", "implicitRules", "language", "text", "contained", "extension", "modifierExtension"]);
        assert!(names.contains(&"qualification") && names.contains(&"birthDate"));
        let q = t.get(t.find("Practitioner.qualification").unwrap());
        assert!(q.elements[q.element("code").unwrap()].required);
        assert!(q.member("modifierExtension").is_some() && q.member("_code").is_none());
        let ext = t.get(t.find("Extension").unwrap());
        assert!(ext.member("valueString").is_some() && ext.member("_valueString").is_none());
        assert!(ext.member("valueHumanName").is_some() && ext.member("_valueHumanName").is_none());
        assert!(ext.member("value").is_none() && ext.member("_url").is_none() && ext.member("url").is_some());
        let h = t.get(t.find("HumanName").unwrap());
        assert!(h.member("_family").is_some() && h.member("_given").is_some() && h.member("_id").is_none());
        // Both keys of the member index are in use: Extension's valueCode and valueDate share a digest.
        assert!(ext.by_name_key && !p.by_name_key && !h.by_name_key);
        assert_eq!(json::digest(b"valueCode"), json::digest(b"valueDate"));
        assert!(!t.get(t.find("Narrative").unwrap()).elements.iter().any(|e| e.name == "div" && e.companion));
        assert!(t.get(t.find("Age").unwrap()).member("comparator").is_some());
    }

    #[test]
    fn every_member_is_found_by_its_name_and_no_other_name_is() {
        let t = Types::stu3().unwrap();
        for c in t.all() {
            for m in &c.members {
                assert!(std::ptr::eq(c.member(&m.name).unwrap(), m), "{}.{}", c.name, m.name);
                for other in [format!("{}x", m.name), m.name[..m.name.len() - 1].to_owned(), m.name.to_uppercase(), format!("_{}", m.name)] {
                    if let Some(found) = c.member(&other) {
                        assert_eq!(found.name, other, "{}: {other} found as {}", c.name, found.name);
                    }
                }
            }
            for junk in ["", "a", "pXefix", "resourceType", "valueFoo", "modifierExtensio", "\u{e9}"] {
                assert!(c.member(junk).is_none_or(|m| m.name == junk), "{}: {junk}", c.name);
            }
        }
    }

    #[test]
    fn table_errors_are_found() {
        for (text, error) in [
            ("Element\n  id 0..1 string\nA : B\n", "unknown base"),
            ("Element\n  id 0..2 string\n", "cardinality"),
            ("Element\n  id 0..1 strin\n", "unknown type"),
            ("Element\n  v[x] 0..1 string\n", "choice"),
            ("Element\n  v 0..1 string|code\n", "choice"),
            ("Element\n  v 0..1 Element plain\n", "plain"),
            ("Element\nElement\n", "twice"),
            ("  id 0..1 string\n", "before any type"),
            ("A\n  id 0..1 string\n", "no Element"),
        ] {
            let e = Types::parse(text).unwrap_err();
            assert!(e.contains(error), "{text:?}: {e}");
        }
    }
}
