//! Peer certificate chains: `pki::parse_pem_chain` / `pki::parse_der_chain` (the
//! `gpcguard_check_peer_pem` / `_der` paths), then `Pki::verify` of the first certificate with the
//! whole chain as presented, against a fixed test PKI committed in fuzz/pki/ (RootCA, SubCA, their
//! CRLs; revocation = chain, require_crl = true, the SSP FQDN), at a fixed `now` inside its validity.
//!
//! Input: first byte `P`: the rest is a PEM chain. Otherwise the rest is DER certificates, each
//! prefixed by its length as two big-endian bytes (the last one takes what remains).
//!
//! Oracles: a parsed chain respects max_peer_certificates; an accepted leaf is one of the three
//! certificates of the test PKI that deserve it (a fuzzer cannot forge signatures, so anything
//! else accepted is a wrong "allow").
#![no_main]

use std::sync::OnceLock;

use gpcguard::config::{Limits, Revocation};
use gpcguard::connection::pki::{self, NamedCrl, Pki, PkiPolicy, Purpose};
use gpcguard_fuzz::{trace, within_budget};
use libfuzzer_sys::fuzz_target;
use openssl::x509::{X509Crl, X509};

struct Fixture {
    pki: Pki,
    now: i64,
    accepted: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let cert = |pem: &[u8]| X509::from_pem(pem).expect("fuzz/pki certificate");
        let crl = |source: &str, pem: &[u8]| NamedCrl { source: source.into(), crl: X509Crl::from_pem(pem).expect("fuzz/pki CRL") };
        let policy = PkiPolicy {
            fqdns: vec!["msg.dev.spine2.ncrs.nhs.uk".into()],
            revocation: Revocation::Chain,
            require_crl: true,
            purpose: Purpose::Client,
            max_depth: 8,
        };
        let pki = Pki::from_parts(
            vec![cert(include_bytes!("../pki/root-ca.pem"))],
            vec![cert(include_bytes!("../pki/sub-ca.pem"))],
            vec![crl("root-ca.crl", include_bytes!("../pki/root-ca.crl")), crl("sub-ca.crl", include_bytes!("../pki/sub-ca.crl"))],
            policy,
        )
        .expect("fuzz/pki trust state");
        let now = include_str!("../pki/NOW").trim().parse().expect("fuzz/pki/NOW");
        let accepted = [
            &include_bytes!("../pki/client-valid.pem")[..],
            include_bytes!("../pki/client-cn-only.pem"),
            include_bytes!("../pki/client-later-revoked.pem"),
        ]
        .iter()
        .map(|pem| cert(pem).to_der().unwrap())
        .collect();
        Fixture { pki, now, accepted }
    })
}

fn der_parts(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    while rest.len() >= 2 {
        let n = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        parts.push(&rest[2..2 + n]);
        rest = &rest[2 + n..];
    }
    parts
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let limits = Limits::default();
    within_budget("peer_chain", || {
        let chain = match data.split_first() {
            Some((b'P', pem)) => pki::parse_pem_chain(pem, limits.max_peer_certificates, limits.max_peer_chain_bytes),
            Some((_, rest)) => pki::parse_der_chain(&der_parts(rest), limits.max_peer_certificates, limits.max_peer_chain_bytes),
            None => return,
        };
        trace(|| format!("parsed: {:?}", chain.as_ref().map(Vec::len).map_err(|e| &e.message)));
        let Ok(chain) = chain else { return };
        assert!(!chain.is_empty() && chain.len() <= limits.max_peer_certificates);
        let presented: Vec<&openssl::x509::X509Ref> = chain.iter().map(|c| &**c).collect();
        let verdict = f.pki.verify(&chain[0], &presented, f.now);
        trace(|| format!("verify: {:?}", verdict.as_ref().map_err(|e| &e.message)));
        if verdict.is_ok() {
            let der = chain[0].to_der().expect("DER of an accepted leaf");
            assert!(f.accepted.contains(&der), "accepted a leaf that is not one of the test PKI's good clients");
        }
    })
});
