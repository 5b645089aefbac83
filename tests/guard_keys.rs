//! Configuration keys observed where a host sees them: set by name (`gpcguard_config_set`, as a
//! host does), built into a guard over the real test PKI (`c-tests/make-pki.sh`), and read back
//! from the verdicts of `gpcguard_check_peer_pem` / `_der` and `Guard::check_request`.
//!
//! - `max_peer_certificates` and `max_peer_chain_bytes` at exactly N (allowed) and N + 1 (refused,
//!   reason and message), for PEM and DER chains;
//! - `error_code_system`: the OperationOutcome's coding system of request and peer refusals
//!   follows it (and is the Spine default when it is not set).

mod common;
use common::{make_pki, work_dir};
use std::ffi::{c_char, CStr, CString};
use std::path::PathBuf;
use std::sync::OnceLock;

use gpcguard::config::Config;
use gpcguard::ffi::config::{gpcguard_config, gpcguard_config_free, gpcguard_config_new, gpcguard_config_set};
use gpcguard::ffi::guard::{gpcguard_guard, gpcguard_guard_free, gpcguard_guard_new};
use gpcguard::ffi::peer::{gpcguard_bytes, gpcguard_check_peer_der, gpcguard_check_peer_pem};
use gpcguard::ffi::verdict::{
    gpcguard_verdict, gpcguard_verdict_free, gpcguard_verdict_message, gpcguard_verdict_operation_outcome, gpcguard_verdict_reason,
};
use gpcguard::ffi::gpcguard_result;
use gpcguard::guard::{system_now, Guard};
use gpcguard::request::Request;
use gpcguard::verdict::{Reason, DEFAULT_ERROR_CODE_SYSTEM};

fn pki() -> &'static PathBuf {
    static PKI: OnceLock<PathBuf> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = work_dir("guard_keys").join("pki");
        make_pki(&dir);
        dir
    })
}

fn file(name: &str) -> String {
    pki().join(name).display().to_string()
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(pki().join(name)).unwrap()
}

/// The test PKI's provider configuration plus `extra` keys, as `key=value` settings.
fn settings(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut s: Vec<(String, String)> = [
        ("provider_asid", "918999198993".to_owned()),
        ("ssp_fqdn", "msg.dev.spine2.ncrs.nhs.uk".to_owned()),
        ("trust_anchor", file("root-ca.pem")),
        ("intermediate", file("sub-ca.pem")),
        ("crl", file("root-ca.crl")),
        ("crl", file("sub-ca.crl")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    s.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    s
}

/// A guard made through the C ABI, freed on drop.
struct CGuard(*mut gpcguard_guard);

impl CGuard {
    fn new(extra: &[(&str, &str)]) -> CGuard {
        let mut cfg: *mut gpcguard_config = std::ptr::null_mut();
        assert_eq!(gpcguard_config_new(&mut cfg), gpcguard_result::GPCGUARD_OK);
        for (k, v) in settings(extra) {
            let (k, v) = (CString::new(k).unwrap(), CString::new(v).unwrap());
            assert_eq!(gpcguard_config_set(cfg, k.as_ptr(), v.as_ptr()), gpcguard_result::GPCGUARD_OK, "{k:?}={v:?}");
        }
        let mut guard: *mut gpcguard_guard = std::ptr::null_mut();
        assert_eq!(gpcguard_guard_new(cfg, &mut guard), gpcguard_result::GPCGUARD_OK);
        gpcguard_config_free(cfg);
        CGuard(guard)
    }

    fn pem(&self, pem: &[u8]) -> Judged {
        let mut v: *mut gpcguard_verdict = std::ptr::null_mut();
        assert_eq!(gpcguard_check_peer_pem(self.0, pem.as_ptr(), pem.len(), 0, &mut v), gpcguard_result::GPCGUARD_OK);
        Judged::take(v)
    }

    fn der(&self, ders: &[Vec<u8>]) -> Judged {
        let certs: Vec<gpcguard_bytes> = ders.iter().map(|d| gpcguard_bytes { data: d.as_ptr(), len: d.len() }).collect();
        let mut v: *mut gpcguard_verdict = std::ptr::null_mut();
        assert_eq!(gpcguard_check_peer_der(self.0, certs.as_ptr(), certs.len(), 0, &mut v), gpcguard_result::GPCGUARD_OK);
        Judged::take(v)
    }
}

impl Drop for CGuard {
    fn drop(&mut self) {
        gpcguard_guard_free(self.0);
    }
}

/// What a C host reads from a verdict: reason, message, OperationOutcome.
#[derive(Debug)]
struct Judged {
    reason: Reason,
    message: String,
    outcome: Option<String>,
}

impl Judged {
    fn take(v: *mut gpcguard_verdict) -> Judged {
        assert!(!v.is_null());
        let text = |p: *const c_char| (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned());
        let j = Judged {
            reason: gpcguard_verdict_reason(v),
            message: text(gpcguard_verdict_message(v)).unwrap(),
            outcome: text(gpcguard_verdict_operation_outcome(v)),
        };
        gpcguard_verdict_free(v);
        j
    }

    fn why(&self) -> (Reason, &str) {
        (self.reason, self.message.as_str())
    }

    fn coding_system(&self) -> String {
        let body: serde_json::Value = serde_json::from_str(self.outcome.as_deref().expect("a refusal has an OperationOutcome")).unwrap();
        body["issue"][0]["details"]["coding"][0]["system"].as_str().unwrap().to_owned()
    }
}

/// The DER form of each certificate of a PEM file.
fn ders(pem: &[u8]) -> Vec<Vec<u8>> {
    openssl::x509::X509::stack_from_pem(pem).unwrap().iter().map(|c| c.to_der().unwrap()).collect()
}

#[test]
fn max_peer_certificates_at_n_and_n_plus_1() {
    let two = [read("client-valid.pem"), read("sub-ca.pem")].concat();
    let three = [two.clone(), read("root-ca.pem")].concat();
    let g = CGuard::new(&[("max_peer_certificates", "2")]);
    let v = g.pem(&two);
    assert_eq!(v.reason, Reason::Allowed, "2 PEM certificates, max_peer_certificates 2: {v:?}");
    assert_eq!(g.pem(&three).why(), (Reason::CertMalformed, "peer chain has 3 certificates, more than max_peer_certificates (2)"));
    assert_eq!(g.der(&ders(&two)).reason, Reason::Allowed);
    assert_eq!(g.der(&ders(&three)).why(), (Reason::CertMalformed, "peer chain has 3 certificates, more than max_peer_certificates (2)"));
    // The default is 8.
    let g = CGuard::new(&[]);
    let mut eight = ders(&two);
    while eight.len() < 8 {
        eight.push(ders(&read("sub-ca.pem")).remove(0));
    }
    assert_eq!(g.der(&eight).reason, Reason::Allowed, "8 certificates by default");
    eight.push(eight[1].clone());
    assert_eq!(g.der(&eight).why(), (Reason::CertMalformed, "peer chain has 9 certificates, more than max_peer_certificates (8)"));
}

#[test]
fn max_peer_chain_bytes_at_n_and_n_plus_1() {
    let pem = [read("client-valid.pem"), read("sub-ca.pem")].concat();
    let der = ders(&pem);
    let der_len: usize = der.iter().map(Vec::len).sum();
    let n = pem.len().to_string();
    let g = CGuard::new(&[("max_peer_chain_bytes", &n)]);
    assert_eq!(g.pem(&pem).reason, Reason::Allowed, "a PEM chain of exactly max_peer_chain_bytes");
    let mut longer = pem.clone();
    longer.push(b'\n');
    let want = format!("peer chain of {} bytes exceeds max_peer_chain_bytes ({n})", pem.len() + 1);
    assert_eq!(g.pem(&longer).why(), (Reason::CertMalformed, want.as_str()));
    let n = der_len.to_string();
    let g = CGuard::new(&[("max_peer_chain_bytes", &n)]);
    assert_eq!(g.der(&der).reason, Reason::Allowed, "a DER chain of exactly max_peer_chain_bytes");
    let g = CGuard::new(&[("max_peer_chain_bytes", &(der_len - 1).to_string())]);
    let want = format!("peer chain of {der_len} bytes exceeds max_peer_chain_bytes ({})", der_len - 1);
    assert_eq!(g.der(&der).why(), (Reason::CertMalformed, want.as_str()));
}

const OTHER_SYSTEM: &str = "https://example.org/CodeSystem/provider-errors";

/// A request with no headers at all: refused (HEADER_MISSING) before anything else is read.
fn bare_request(g: &Guard) -> gpcguard::verdict::Verdict {
    g.check_request(&Request { method: b"GET", target: b"/metadata", headers: &[], now: system_now() })
}

#[test]
fn error_code_system_is_the_coding_system_of_every_operation_outcome() {
    // Through the C ABI: a peer refusal.
    let g = CGuard::new(&[("error_code_system", OTHER_SYSTEM)]);
    let v = g.pem(&read("client-revoked.pem"));
    assert_eq!(v.reason, Reason::CertRevoked);
    assert_eq!(v.coding_system(), OTHER_SYSTEM);
    let v = g.pem(b"");
    assert_eq!((v.reason, v.coding_system()), (Reason::CertMissing, OTHER_SYSTEM.to_owned()));
    assert_eq!(CGuard::new(&[]).pem(b"").coding_system(), DEFAULT_ERROR_CODE_SYSTEM);

    // Through the Rust API: a request refusal, and a peer refusal.
    let mut c = Config::new();
    for (k, v) in settings(&[("error_code_system", OTHER_SYSTEM)]) {
        c.set(&k, &v).unwrap();
    }
    let g = Guard::new(&c).unwrap();
    let v = bare_request(&g);
    assert_eq!(v.reason, Reason::HeaderMissing);
    let body: serde_json::Value = serde_json::from_str(&v.operation_outcome().unwrap()).unwrap();
    assert_eq!(body["issue"][0]["details"]["coding"][0]["system"], OTHER_SYSTEM);
    assert_eq!(body["issue"][0]["details"]["coding"][0]["code"], "BAD_REQUEST");
    let revoked = openssl::x509::X509::stack_from_pem(&read("client-revoked.pem")).unwrap();
    let v = g.check_peer(&revoked[0], &revoked[1..], system_now());
    assert_eq!(v.error_code_system().map(|s| &**s), Some(OTHER_SYSTEM));

    let mut c = Config::new();
    for (k, v) in settings(&[]) {
        c.set(&k, &v).unwrap();
    }
    let v = bare_request(&Guard::new(&c).unwrap());
    assert_eq!(v.error_code_system().map(|s| &**s), Some(DEFAULT_ERROR_CODE_SYSTEM));
}
