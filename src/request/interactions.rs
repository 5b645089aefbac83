//! The interaction table (data: `interactions.toml`) and its matcher: `Ssp-InteractionID` must
//! name a row whose method and path pattern fit the request under the service root it arrived at
//! (spec §2.2 "consistent with the endpoint", §3, §9 "Interaction table", "Path ids").
//!
//! The target is judged as received, never normalised: a dot segment, an empty segment, any `%`
//! in the path or a fragment would let the path we check differ from the path the FHIR server
//! routes, so each is a mismatch.

use std::ffi::CString;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::config::{Capability, ServiceRoot};
use crate::error::{Error, ErrorKind, Result};
use crate::refusal::{printable, Checked, Refusal};
use crate::verdict::Reason;

/// What the interaction does to data: drives `.read` vs `.write` in `requested_scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

/// Whose data the interaction touches: drives `patient/` vs `organization/` in `requested_scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compartment {
    Patient,
    Organization,
}

/// One segment of a path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// A FHIR logical id.
    Id,
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Interaction {
    pub id: String,
    /// The same ID NUL-terminated: verdicts borrow it for the C ABI instead of copying `id`.
    pub id_c: CString,
    pub capability: Capability,
    pub method: String,
    /// The pattern as written in the table, e.g. `/Patient/{id}`.
    pub pattern: String,
    pub segments: Vec<Segment>,
    pub access: Access,
    pub compartment: Compartment,
    /// Migrate interactions: reason `migration`, `conf/R` allowed, practitioner claim optional.
    pub migrate: bool,
}

/// The rows, sorted by interaction ID for lookup.
#[derive(Debug)]
pub struct Table {
    rows: Vec<Interaction>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    interaction: Vec<Row>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    id: String,
    capability: String,
    method: String,
    path: String,
    access: Access,
    compartment: Compartment,
    #[serde(default)]
    migrate: bool,
}

const TABLE_TOML: &str = include_str!("interactions.toml");

impl Table {
    /// The embedded table, parsed once.
    pub fn standard() -> Result<&'static Table> {
        static TABLE: OnceLock<std::result::Result<Table, String>> = OnceLock::new();
        TABLE
            .get_or_init(|| Table::parse(TABLE_TOML))
            .as_ref()
            .map_err(|e| Error::new(ErrorKind::Syntax, format!("built-in interaction table: {e}")))
    }

    fn parse(text: &str) -> std::result::Result<Table, String> {
        let file: TableFile = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let mut rows = Vec::with_capacity(file.interaction.len());
        for r in file.interaction {
            let capability = Capability::parse(&r.capability).ok_or_else(|| format!("{}: unknown capability", r.id))?;
            if !is_token(r.method.as_bytes()) {
                return Err(format!("{}: bad method", r.id));
            }
            let segments = r
                .path
                .strip_prefix('/')
                .ok_or_else(|| format!("{}: path must start with /", r.id))?
                .split('/')
                .map(|s| match s {
                    "{id}" => Ok(Segment::Id),
                    "" | "." | ".." => Err(format!("{}: bad path segment", r.id)),
                    s => Ok(Segment::Literal(s.to_owned())),
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let id_c = CString::new(r.id.as_str()).map_err(|_| format!("{}: NUL in the id", r.id))?;
            rows.push(Interaction {
                id: r.id,
                id_c,
                capability,
                method: r.method,
                pattern: r.path,
                segments,
                access: r.access,
                compartment: r.compartment,
                migrate: r.migrate,
            });
        }
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        if let Some(w) = rows.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(format!("{}: listed twice", w[0].id));
        }
        Ok(Table { rows })
    }

    pub fn rows(&self) -> &[Interaction] {
        &self.rows
    }

    /// The row named by an interaction ID (exact, case-sensitive).
    pub fn find(&self, id: &[u8]) -> Option<&Interaction> {
        self.rows
            .binary_search_by(|r| r.id.as_bytes().cmp(id))
            .ok()
            .and_then(|i| self.rows.get(i))
    }
}

/// An HTTP method as we accept it: upper-case token characters only (RFC 9110 methods are
/// case-sensitive and all GP Connect ones are upper case).
pub fn is_token(method: &[u8]) -> bool {
    !method.is_empty() && method.len() <= 32 && method.iter().all(|b| b.is_ascii_uppercase())
}

/// A FHIR logical id as a path segment: `[A-Za-z0-9\-\.]{1,64}`, and not a dot segment.
pub fn is_fhir_id(seg: &[u8]) -> bool {
    (1..=64).contains(&seg.len())
        && seg.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && seg != b"."
        && seg != b".."
}

fn mismatch(message: impl Into<String>) -> Refusal {
    Refusal::new(Reason::InteractionMismatch, message)
}

/// How [`target_path`] sees each byte of a target: most are visible ASCII with no meaning to
/// it (`PLAIN`), so one table lookup per byte decides (data, not a chain of comparisons).
const PLAIN: u8 = 0;
/// A space, a control byte, DEL or non-ASCII.
const NOT_VISIBLE: u8 = 1;
const HASH: u8 = 2;
const QUESTION: u8 = 3;
const PERCENT: u8 = 4;
const SLASH: u8 = 5;
static TARGET_BYTES: [u8; 256] = {
    let mut t = [NOT_VISIBLE; 256];
    let mut b = 0x21;
    while b < 0x7f {
        t[b] = PLAIN;
        b += 1;
    }
    t[b'#' as usize] = HASH;
    t[b'?' as usize] = QUESTION;
    t[b'%' as usize] = PERCENT;
    t[b'/' as usize] = SLASH;
    t
};

/// An empty, `.` or `..` path segment.
fn is_dot_or_empty(seg: &[u8]) -> bool {
    seg.len() <= 2 && seg.iter().all(|&b| b == b'.')
}

/// The path of a request target (before any `?`), after checking that the target is in the one
/// form we judge: visible ASCII, no fragment, no `%` in the path, absolute, no empty or dot
/// segments. One pass over the target; when it breaks several rules, the first rule in that
/// order is the one reported.
pub fn target_path(target: &[u8]) -> Checked<&[u8]> {
    let mut path_end = None;
    let (mut fragment, mut percent, mut bad_segment) = (false, false, false);
    // Start of the current path segment: after the leading `/` (when the path is not absolute,
    // that is reported before any segment).
    let mut segment = 1;
    for (i, &b) in target.iter().enumerate() {
        match TARGET_BYTES[b as usize] {
            PLAIN => {}
            NOT_VISIBLE => return Err(mismatch("the request target has a space, control or non-ASCII byte")),
            HASH => fragment = true,
            // In the query only the two rules above apply.
            _ if path_end.is_some() => {}
            QUESTION => {
                bad_segment |= is_dot_or_empty(&target[segment.min(i)..i]);
                path_end = Some(i);
            }
            PERCENT => percent = true,
            _ => {
                // SLASH: the end of a segment, except the leading one.
                if i > 0 {
                    bad_segment |= is_dot_or_empty(&target[segment..i]);
                    segment = i + 1;
                }
            }
        }
    }
    let path_end = match path_end {
        Some(end) => end,
        None => {
            bad_segment |= is_dot_or_empty(&target[segment.min(target.len())..]);
            target.len()
        }
    };
    if fragment {
        return Err(mismatch("the request target has a fragment (#)"));
    }
    let path = &target[..path_end];
    if percent {
        return Err(mismatch("the request path has percent-encoding; paths are judged as sent, not decoded"));
    }
    if path.first() != Some(&b'/') {
        return Err(mismatch("the request path is not absolute"));
    }
    if bad_segment {
        return Err(mismatch(format!("the request path {} has an empty, . or .. segment", printable(path, 128))));
    }
    Ok(path)
}

/// The service root (longest prefix first, as [`crate::config::Settings`] sorts them) under which
/// `path` lies, and the rest of the path (starting with `/`).
pub fn service_root<'p, 'r>(roots: &'r [ServiceRoot], path: &'p [u8]) -> Option<(&'r ServiceRoot, &'p [u8])> {
    roots.iter().find_map(|root| {
        let rest = path.strip_prefix(root.prefix.as_bytes())?;
        (rest.first() == Some(&b'/')).then_some((root, rest))
    })
}

/// Whether the rest of a path (after the service root, starting with `/`) fits a pattern exactly.
fn fits(segments: &[Segment], rest: &[u8]) -> bool {
    let mut parts = rest[1..].split(|&b| b == b'/');
    for seg in segments {
        let ok = match (seg, parts.next()) {
            (Segment::Literal(lit), Some(p)) => lit.as_bytes() == p,
            (Segment::Id, Some(p)) => is_fhir_id(p),
            (_, None) => false,
        };
        if !ok {
            return false;
        }
    }
    parts.next().is_none()
}

/// Checks that `row` fits the request: method, the service root the path lies under, and the
/// path pattern under it. `path` comes from [`target_path`].
pub fn check_fits(row: &Interaction, method: &[u8], path: &[u8], roots: &[ServiceRoot]) -> Checked<()> {
    if method != row.method.as_bytes() {
        let sent = if is_token(method) { printable(method, 32) } else { "an invalid method".to_owned() };
        return Err(mismatch(format!("interaction {} is {} {}; the request is {}", row.id, row.method, row.pattern, sent)));
    }
    let Some((root, rest)) = service_root(roots, path) else {
        return Err(mismatch(format!("the request path {} lies under no configured service root", printable(path, 128))));
    };
    if root.capability != row.capability {
        return Err(mismatch(format!(
            "interaction {} belongs to the {} service root; the request path {} lies under the {} service root `{}/`",
            row.id,
            row.capability.name(),
            printable(path, 128),
            root.capability.name(),
            root.prefix
        )));
    }
    if !fits(&row.segments, rest) {
        return Err(mismatch(format!(
            "interaction {} is {} {} under the {} service root; the request path {} does not fit",
            row.id,
            row.method,
            row.pattern,
            row.capability.name(),
            printable(path, 128)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = "urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1";

    fn roots() -> Vec<ServiceRoot> {
        let mut r = vec![
            ServiceRoot { capability: Capability::Foundations, prefix: "/A1/STU3/1/gpconnect".into() },
            ServiceRoot { capability: Capability::Structured, prefix: "/A1/STU3/1/gpconnect/structured".into() },
            ServiceRoot { capability: Capability::Documents, prefix: "/A1/STU3/1/gpconnect/documents".into() },
        ];
        r.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        r
    }

    fn check(id: &str, method: &str, target: &str) -> Checked<()> {
        let row = Table::standard().unwrap().find(id.as_bytes()).expect("known id");
        let path = target_path(target.as_bytes())?;
        check_fits(row, method.as_bytes(), path, &roots())
    }

    fn id(tail: &str) -> String {
        format!("urn:nhs:names:services:gpconnect:{tail}")
    }

    #[test]
    fn embedded_table_parses_with_every_stu3_row() {
        let t = Table::standard().unwrap();
        assert_eq!(t.rows().len(), 23);
        assert_eq!(t.rows().iter().filter(|r| r.migrate).count(), 2);
        for r in t.rows() {
            assert!(r.id.starts_with("urn:nhs:names:services:gpconnect:") && r.id.ends_with("-1"), "{}", r.id);
            assert!(t.find(r.id.as_bytes()).is_some());
        }
        assert!(t.find(b"urn:nhs:names:services:gpconnect:fhir:rest:read:metadata").is_none());
    }

    #[test]
    fn table_refuses_bad_rows() {
        let row = "[[interaction]]\nid = \"x\"\ncapability = \"foundations\"\nmethod = \"GET\"\naccess = \"read\"\ncompartment = \"patient\"\n";
        assert!(Table::parse(&format!("{row}path = \"/a\"\n")).is_ok());
        assert!(Table::parse(&format!("{row}path = \"a\"\n")).is_err());
        assert!(Table::parse(&format!("{row}path = \"/a//b\"\n")).is_err());
        assert!(Table::parse(&format!("{row}path = \"/a\"\nextra = 1\n")).is_err());
        assert!(Table::parse(&format!("{row}path = \"/a\"\n{row}path = \"/b\"\n")).is_err());
    }

    #[test]
    fn every_interaction_fits_its_own_request() {
        let g = "/A1/STU3/1/gpconnect";
        for (tail, method, target) in [
            ("fhir:rest:read:metadata-1", "GET", format!("{g}/metadata")),
            ("fhir:rest:read:patient-1", "GET", format!("{g}/Patient/2")),
            ("fhir:rest:search:patient-1", "GET", format!("{g}/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009")),
            ("fhir:rest:read:practitioner-1", "GET", format!("{g}/Practitioner/1")),
            ("fhir:rest:search:practitioner-1", "GET", format!("{g}/Practitioner?identifier=https://fhir.nhs.uk/Id/sds-user-id|G1")),
            ("fhir:rest:read:organization-1", "GET", format!("{g}/Organization/7")),
            ("fhir:rest:search:organization-1", "GET", format!("{g}/Organization?identifier=x|y")),
            ("fhir:rest:read:location-1", "GET", format!("{g}/Location/L-1.2")),
            ("fhir:operation:gpc.registerpatient-1", "POST", format!("{g}/Patient/$gpc.registerpatient")),
            ("fhir:rest:search:slot-1", "GET", format!("{g}/Slot?status=free&start=ge2017-10-20&end=le2017-10-21&_include=Slot:schedule")),
            ("fhir:rest:read:appointment-1", "GET", format!("{g}/Appointment/1")),
            ("fhir:rest:create:appointment-1", "POST", format!("{g}/Appointment")),
            ("fhir:rest:update:appointment-1", "PUT", format!("{g}/Appointment/1")),
            ("fhir:rest:cancel:appointment-1", "PUT", format!("{g}/Appointment/1")),
            ("fhir:rest:search:patient_appointments-1", "GET", format!("{g}/Patient/2/Appointment?start=ge2017-01-01")),
            ("structured:fhir:rest:read:metadata-1", "GET", format!("{g}/structured/metadata")),
            ("fhir:operation:gpc.getstructuredrecord-1", "POST", format!("{g}/structured/Patient/$gpc.getstructuredrecord")),
            ("fhir:operation:gpc.migratestructuredrecord-1", "POST", format!("{g}/structured/Patient/$gpc.migratestructuredrecord")),
            ("documents:fhir:rest:read:metadata-1", "GET", format!("{g}/documents/metadata")),
            ("documents:fhir:rest:search:patient-1", "GET", format!("{g}/documents/Patient?identifier=a|b")),
            ("documents:fhir:rest:search:documentreference-1", "GET", format!("{g}/documents/Patient/2/DocumentReference?_include=DocumentReference:subject:Patient")),
            ("documents:fhir:rest:read:binary-1", "GET", format!("{g}/documents/Binary/07a6483f-732b-461e-86b6-edb665c45510")),
            ("documents:fhir:rest:migrate:binary-1", "GET", format!("{g}/documents/Binary/1")),
        ] {
            assert_eq!(check(&id(tail), method, &target), Ok(()), "{tail} {method} {target}");
        }
    }

    #[test]
    fn a_method_is_one_to_32_upper_case_letters() {
        for (method, token) in [
            ("GET", true), ("A", true), (&"A".repeat(32), true), (&"A".repeat(33), false), ("", false),
            ("get", false), ("GeT", false), ("GET ", false), ("G-T", false),
        ] {
            assert_eq!(is_token(method.as_bytes()), token, "{method:?}");
        }
        // A method that is not one is not echoed into the message.
        let g = "/A1/STU3/1/gpconnect";
        let message = |method: &str| check(META, method, &format!("{g}/metadata")).unwrap_err().message;
        assert!(message("get").ends_with("the request is an invalid method"), "{}", message("get"));
        assert!(message(&"A".repeat(33)).ends_with("the request is an invalid method"));
        assert!(message(&"A".repeat(32)).ends_with(&format!("the request is {}", "A".repeat(32))));
    }

    #[test]
    fn read_and_search_differ_by_path_only() {
        let g = "/A1/STU3/1/gpconnect";
        let read = id("fhir:rest:read:patient-1");
        let search = id("fhir:rest:search:patient-1");
        assert!(check(&read, "GET", &format!("{g}/Patient?identifier=x")).is_err());
        assert!(check(&search, "GET", &format!("{g}/Patient/1")).is_err());
        assert!(check(&search, "GET", &format!("{g}/Patient")).is_ok());
        assert!(check(&read, "GET", &format!("{g}/Patient/1?_format=json")).is_ok());
    }

    #[test]
    fn wrong_method_path_case_or_root_is_a_mismatch() {
        let g = "/A1/STU3/1/gpconnect";
        for (iid, method, target) in [
            (META.to_owned(), "GET", format!("{g}/metadatas")),
            (META.to_owned(), "POST", format!("{g}/metadatas")),
            (META.to_owned(), "PUT", format!("{g}/metadatas")),
            (META.to_owned(), "GET", format!("{g}/Metadata")),
            (META.to_owned(), "PATCH", format!("{g}/metadata")),
            (META.to_owned(), "DELETE", format!("{g}/metadata")),
            (META.to_owned(), "OPTIONS", format!("{g}/metadata")),
            (META.to_owned(), "get", format!("{g}/metadata")),
            (META.to_owned(), "GET", format!("{g}/metadata/")),
            (META.to_owned(), "GET", format!("{g}/metadata/x")),
            (META.to_owned(), "GET", "/metadata".to_owned()),
            (META.to_owned(), "GET", format!("{g}/structured/metadata")),
            (META.to_owned(), "GET", format!("{g}x/metadata")),
            (id("fhir:operation:gpc.getstructuredrecord-1"), "POST", format!("{g}/Patient/$gpc.getstructuredrecord")),
            (id("fhir:rest:read:patient-1"), "GET", format!("{g}/Patient/{}", "1".repeat(65))),
            (id("fhir:rest:read:patient-1"), "GET", format!("{g}/Patient/a_b")),
            (id("fhir:rest:read:patient-1"), "GET", format!("{g}/patient/1")),
            (id("fhir:rest:search:patient_appointments-1"), "GET", format!("{g}/Patient/1/Appointment/2")),
            (id("fhir:rest:update:appointment-1"), "POST", format!("{g}/Appointment/1")),
        ] {
            assert_eq!(check(&iid, method, &target).unwrap_err().reason, Reason::InteractionMismatch, "{method} {target}");
        }
    }

    #[test]
    fn unnormalised_targets_are_mismatches() {
        let g = "/A1/STU3/1/gpconnect";
        let read = id("fhir:rest:read:patient-1");
        for target in [
            format!("{g}/Patient/."), format!("{g}/Patient/.."), format!("{g}/./Patient/1"), format!("{g}/x/../Patient/1"),
            format!("{g}//Patient/1"), format!("{g}/Patient/1/"), format!("{g}/Patient%2F1"), format!("{g}/Patient/%2e%2e"),
            format!("{g}/Patient/%31"), format!("{g}/Patient/1#frag"), format!("{g}/Patient/1?x=1#f"), format!("{g}/Patient/1 "),
            format!("{g}/Patient/1\r\n"), format!("{g}/Patient/\u{e9}"), "Patient/1".to_owned(), String::new(),
            format!("http://host{g}/Patient/1"),
        ] {
            assert_eq!(check(&read, "GET", &target).unwrap_err().reason, Reason::InteractionMismatch, "{target:?}");
        }
        // A percent in the query is the query's business (never routes).
        assert!(check(&read, "GET", &format!("{g}/Patient/1?x=%2F")).is_ok());
    }

    #[test]
    fn the_root_service_root_is_the_empty_prefix() {
        let roots = vec![ServiceRoot { capability: Capability::Foundations, prefix: String::new() }];
        let row = Table::standard().unwrap().find(META.as_bytes()).unwrap();
        assert!(check_fits(row, b"GET", b"/metadata", &roots).is_ok());
        assert!(check_fits(row, b"GET", b"/x/metadata", &roots).is_err());
        let structured = Table::standard().unwrap().find(id("structured:fhir:rest:read:metadata-1").as_bytes()).unwrap();
        assert!(check_fits(structured, b"GET", b"/metadata", &roots).is_err());
    }

    /// `target_path` as first written, rule by rule in several passes: the one-pass form must
    /// give the same answer and the same message for every target.
    fn reference_target_path(target: &[u8]) -> Checked<&[u8]> {
        if target.iter().any(|&b| !(0x21..0x7f).contains(&b)) {
            return Err(mismatch("the request target has a space, control or non-ASCII byte"));
        }
        if target.contains(&b'#') {
            return Err(mismatch("the request target has a fragment (#)"));
        }
        let path = match target.iter().position(|&b| b == b'?') {
            Some(i) => &target[..i],
            None => target,
        };
        if path.contains(&b'%') {
            return Err(mismatch("the request path has percent-encoding; paths are judged as sent, not decoded"));
        }
        if path.first() != Some(&b'/') {
            return Err(mismatch("the request path is not absolute"));
        }
        if path[1..].split(|&b| b == b'/').any(|s| s.is_empty() || s == b"." || s == b"..") {
            return Err(mismatch(format!("the request path {} has an empty, . or .. segment", printable(path, 128))));
        }
        Ok(path)
    }

    #[test]
    fn one_pass_target_path_agrees_with_the_rule_by_rule_one() {
        // Every target of up to six bytes over the bytes the rules care about.
        let alphabet = b"/.?#%a \xff";
        let mut target = Vec::new();
        let mut count = 0;
        for len in 0..=6u32 {
            for mut n in 0..alphabet.len().pow(len) {
                target.clear();
                for _ in 0..len {
                    target.push(alphabet[n % alphabet.len()]);
                    n /= alphabet.len();
                }
                assert_eq!(target_path(&target), reference_target_path(&target), "{:?}", String::from_utf8_lossy(&target));
                count += 1;
            }
        }
        assert_eq!(count, (0..=6).map(|l| alphabet.len().pow(l)).sum::<usize>());
        for t in ["/A1/STU3/1/gpconnect/Patient/2", "/a/b?x=%2F/../#", "/a/./b?q", "/a/../b", "/a//b", "/a/b/", "/.../x", "/a?b?c"] {
            assert_eq!(target_path(t.as_bytes()), reference_target_path(t.as_bytes()), "{t}");
        }
        for b in 0..=255u8 {
            let t = [b'/', b'a', b, b'b', b'?', b, b'c'];
            assert_eq!(target_path(&t), reference_target_path(&t), "{b:#x}");
        }
    }
}
