//! The claims verdict of gpcguard for the differential test (tests/fhir/differential.py): reads
//! one JWT payload (JSON) per line on stdin and prints, per line, `allowed` or the reason and
//! message of the refusal (`JwtInvalidResource<TAB>message`), judged as `claims::check` judges
//! a read:patient-1 request. Built by `make fhir-check` as an example of this package.

use std::io::{BufRead, Write};

use gpcguard::request::audit::Provenance;
use gpcguard::request::claims::{self, ClaimRules, FhirElements};
use gpcguard::config::Limits;
use gpcguard::request::interactions::Table;

const READ_PATIENT: &[u8] = b"urn:nhs:names:services:gpconnect:fhir:rest:read:patient-1";

fn main() {
    let elements = FhirElements::standard().expect("FHIR table");
    let row = Table::standard().expect("interaction table").find(READ_PATIENT).expect("read:patient-1");
    let limits = Limits::default();
    let rules = ClaimRules { elements, audience: None };
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    for line in stdin.lock().lines() {
        let line = line.expect("stdin");
        let verdict = claims::read(line.as_bytes(), &limits, elements).and_then(|payload| {
            let mut prov = Provenance::default();
            claims::check(&payload, row, &rules, &mut prov).map(drop)
        });
        match verdict {
            Ok(()) => writeln!(out, "allowed"),
            Err(r) => writeln!(out, "{:?}\t{}", r.reason, r.message.replace(['\n', '\t'], " ")),
        }
        .expect("stdout");
    }
}
