//! `requested_scope` (spec §4.2, §4.4, §9): the grammar, and whether a scope permits the
//! interaction. The table row says what the interaction needs (read/write, patient/organization);
//! the check is per interaction, not per resource, so `GET /Patient/{id}/Appointment` needs
//! `patient/*.read` and `$gpc.registerpatient` needs `patient/*.write`.

use crate::request::interactions::{Access, Compartment, Interaction};
use crate::refusal::{Checked, Refusal};
use crate::request::rules::{after, FirstFailure, Judge};
use crate::verdict::Reason;

/// The confidentiality suffix (GP Connect 1.5+): `conf/R` asks for sensitive records too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confidentiality {
    Normal,
    Restricted,
}

/// A `requested_scope` that follows the grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    pub compartment: Compartment,
    pub access: Access,
    /// `None` when no suffix was sent (treated as `conf/N`, spec §4.2).
    pub confidentiality: Option<Confidentiality>,
}

/// The four base scopes (spec §4.2), as data.
const BASE_SCOPES: [(&str, Compartment, Access); 4] = [
    ("patient/*.read", Compartment::Patient, Access::Read),
    ("patient/*.write", Compartment::Patient, Access::Write),
    ("organization/*.read", Compartment::Organization, Access::Read),
    ("organization/*.write", Compartment::Organization, Access::Write),
];

const SUFFIXES: [(&str, Confidentiality); 2] = [("conf/N", Confidentiality::Normal), ("conf/R", Confidentiality::Restricted)];

/// Parses `base` or `base conf/N` / `base conf/R` (one space, case-sensitive); `None` otherwise.
pub fn parse(s: &str) -> Option<Scope> {
    let (base, suffix) = match s.split_once(' ') {
        Some((b, x)) => (b, Some(x)),
        None => (s, None),
    };
    let &(_, compartment, access) = BASE_SCOPES.iter().find(|(name, _, _)| *name == base)?;
    let confidentiality = match suffix {
        None => None,
        Some(x) => Some(SUFFIXES.iter().find(|(name, _)| *name == x)?.1),
    };
    Some(Scope { compartment, access, confidentiality })
}

fn name(compartment: Compartment, access: Access) -> &'static str {
    BASE_SCOPES.iter().find(|(_, c, a)| *c == compartment && *a == access).map_or("?", |(n, _, _)| n)
}

/// Whether `scope` permits `row`, to the first failure.
pub fn check(scope: &Scope, row: &Interaction, enforce_scope: bool) -> Checked<()> {
    judge(Some(scope), row, enforce_scope, &mut FirstFailure)
}

/// The scope rules, each told to `j`. With `enforce_scope` off only `conf/R` is still checked: it
/// asks for sensitive records, which only the migrate interactions may release (spec §4.4), and
/// turning off the read/write check must not widen that. `None`: `requested_scope` is not in
/// the grammar (an explanation only).
#[inline(always)]
pub fn judge<J: Judge>(scope: Option<&Scope>, row: &Interaction, enforce_scope: bool, j: &mut J) -> Checked<()> {
    const NO_SCOPE: &str = "requested_scope is absent, not a string or not in the grammar";
    after!(j, "conf/R only for the migrate interactions", scope, NO_SCOPE, |scope| restricted_only_for_migrate(scope, row))?;
    const PERMITS: &str = "requested_scope permits the interaction";
    if enforce_scope {
        after!(j, PERMITS, scope, NO_SCOPE, |scope| permits(scope, row))?;
    } else {
        j.skip(PERMITS, "enforce_scope = false");
    }
    Ok(())
}

/// `conf/R` asks for sensitive records, which only the migrate interactions may release (spec §4.4).
#[inline(always)]
fn restricted_only_for_migrate(scope: &Scope, row: &Interaction) -> Checked<()> {
    if scope.confidentiality == Some(Confidentiality::Restricted) && !row.migrate {
        return Err(Refusal::new(
            Reason::ScopeDenied,
            format!("requested_scope conf/R (sensitive records) is only for the migrate interactions, not {}", row.id),
        ));
    }
    Ok(())
}

/// The scope's compartment and access are the interaction's (spec §4.4).
#[inline(always)]
fn permits(scope: &Scope, row: &Interaction) -> Checked<()> {
    if scope.compartment != row.compartment || scope.access != row.access {
        return Err(Refusal::new(
            Reason::ScopeDenied,
            format!(
                "requested_scope {} does not permit interaction {}, which needs {}",
                name(scope.compartment, scope.access),
                row.id,
                name(row.compartment, row.access)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::interactions::Table;

    fn row(tail: &str) -> &'static Interaction {
        Table::standard().unwrap().find(format!("urn:nhs:names:services:gpconnect:{tail}").as_bytes()).unwrap()
    }

    fn verdict(scope: &str, tail: &str) -> Result<(), Reason> {
        check(&parse(scope).expect("grammar"), row(tail), true).map_err(|r| r.reason)
    }

    #[test]
    fn grammar() {
        assert_eq!(
            parse("patient/*.read"),
            Some(Scope { compartment: Compartment::Patient, access: Access::Read, confidentiality: None })
        );
        assert_eq!(parse("organization/*.write conf/R").unwrap().confidentiality, Some(Confidentiality::Restricted));
        assert_eq!(parse("patient/*.read conf/N").unwrap().confidentiality, Some(Confidentiality::Normal));
        for bad in [
            "", "badScope", "patient/*.Read", "Patient/*.read", "patient/*.read ", " patient/*.read", "patient/*.read  conf/N",
            "patient/*.read conf/X", "patient/*.read conf/n", "patient/*.read conf/N conf/R", "patient/*.read\tconf/N",
            "patient/*.*", "encounter/*.read", "patient/Patient.read", "patient/*.read organization/*.read", "conf/N",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn read_and_write_must_match_the_operation() {
        assert_eq!(verdict("patient/*.read", "fhir:rest:search:patient_appointments-1"), Ok(()));
        assert_eq!(verdict("patient/*.write", "fhir:rest:search:patient_appointments-1"), Err(Reason::ScopeDenied));
        assert_eq!(verdict("organization/*.write", "fhir:rest:search:patient_appointments-1"), Err(Reason::ScopeDenied));
        assert_eq!(verdict("patient/*.write", "fhir:operation:gpc.registerpatient-1"), Ok(()));
        assert_eq!(verdict("patient/*.read", "fhir:operation:gpc.registerpatient-1"), Err(Reason::ScopeDenied));
        assert_eq!(verdict("organization/*.read", "fhir:operation:gpc.registerpatient-1"), Err(Reason::ScopeDenied));
        assert_eq!(verdict("patient/*.write", "fhir:rest:update:appointment-1"), Ok(()));
        assert_eq!(verdict("patient/*.write", "fhir:rest:cancel:appointment-1"), Ok(()));
        assert_eq!(verdict("patient/*.read", "fhir:rest:create:appointment-1"), Err(Reason::ScopeDenied));
    }

    #[test]
    fn compartment_must_match_and_metadata_is_organization_read() {
        assert_eq!(verdict("organization/*.read", "fhir:rest:read:metadata-1"), Ok(()));
        assert_eq!(verdict("patient/*.read", "fhir:rest:read:metadata-1"), Err(Reason::ScopeDenied));
        assert_eq!(verdict("organization/*.read", "fhir:rest:read:practitioner-1"), Ok(()));
        assert_eq!(verdict("organization/*.read", "fhir:rest:search:slot-1"), Ok(()));
        assert_eq!(verdict("organization/*.read", "fhir:rest:read:patient-1"), Err(Reason::ScopeDenied));
        assert_eq!(verdict("patient/*.read conf/N", "documents:fhir:rest:read:binary-1"), Ok(()));
    }

    #[test]
    fn conf_r_only_on_migrate_even_without_enforcement() {
        assert_eq!(verdict("patient/*.read conf/R", "fhir:operation:gpc.migratestructuredrecord-1"), Ok(()));
        assert_eq!(verdict("patient/*.read conf/N", "fhir:operation:gpc.migratestructuredrecord-1"), Ok(()));
        assert_eq!(verdict("patient/*.read conf/R", "documents:fhir:rest:migrate:binary-1"), Ok(()));
        assert_eq!(verdict("patient/*.read conf/R", "documents:fhir:rest:read:binary-1"), Err(Reason::ScopeDenied));
        assert_eq!(verdict("patient/*.read conf/R", "fhir:operation:gpc.getstructuredrecord-1"), Err(Reason::ScopeDenied));
        let r = row("fhir:operation:gpc.getstructuredrecord-1");
        assert!(check(&parse("organization/*.write").unwrap(), r, false).is_ok());
        assert_eq!(check(&parse("patient/*.read conf/R").unwrap(), r, false).unwrap_err().reason, Reason::ScopeDenied);
    }

    #[test]
    fn refusals_name_the_scope_sent_and_the_scope_needed() {
        let message = |scope: &str, tail: &str| check(&parse(scope).unwrap(), row(tail), true).unwrap_err().message;
        // Each base scope named as itself, both as sent and as needed.
        for (sent, tail, needed) in [
            ("patient/*.write", "fhir:rest:read:patient-1", "patient/*.read"),
            ("organization/*.read", "fhir:rest:create:appointment-1", "patient/*.write"),
            ("patient/*.read", "fhir:rest:read:metadata-1", "organization/*.read"),
            ("organization/*.write", "fhir:rest:read:location-1", "organization/*.read"),
        ] {
            assert_eq!(
                message(sent, tail),
                format!("requested_scope {sent} does not permit interaction urn:nhs:names:services:gpconnect:{tail}, which needs {needed}")
            );
        }
        assert_eq!(
            message("patient/*.read conf/R", "fhir:operation:gpc.getstructuredrecord-1"),
            "requested_scope conf/R (sensitive records) is only for the migrate interactions, not urn:nhs:names:services:gpconnect:fhir:operation:gpc.getstructuredrecord-1"
        );
    }
}
