//! The PKI files a configuration names, as the guard loads them: CRLs that are expired, DER,
//! signed by a CA that is not configured, or broken at reload; CA files holding a leaf; a server
//! key of another certificate; garbage; and the `revocation` modes when a CA's CRL is missing.
//!
//! Every file is real: `c-tests/make-pki.sh` makes the PKI, the `openssl` CLI makes the variants
//! (an expired CRL from the same CA database, a DER copy of a CRL). Needs `openssl` and GNU
//! `date` on PATH (`make deps`).

mod common;
use common::{make_pki, run_ok, work_dir};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use gpcguard::config::Config;
use gpcguard::error::{Error, ErrorKind};
use gpcguard::guard::{system_now, Guard};
use gpcguard::connection::pki::read_cert_file;
use gpcguard::verdict::{Reason, Verdict};

const ASID: &str = "918999198993";
const SSP_FQDN: &str = "msg.dev.spine2.ncrs.nhs.uk";

struct Fixture {
    pki: PathBuf,
    work: PathBuf,
}

/// GNU date's UTC time `offset` from now, in the form `openssl ca` takes.
fn utc(offset: &str) -> String {
    let out = Command::new("date").args(["-u", "-d", offset, "+%Y%m%d%H%M%SZ"]).output().expect("date");
    assert!(out.status.success(), "date -d {offset}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// One PKI per test process, with the variants every test reads made once (the CA database is
/// not safe for concurrent `openssl ca` runs).
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let work = work_dir("pki_files");
        let pki = work.join("pki");
        make_pki(&pki);

        // A CRL of the SubCA whose nextUpdate has passed: issued two days ago, due yesterday.
        run_ok(
            Command::new("openssl")
                .current_dir(&pki)
                .args(["ca", "-config", "ca-db/sub-ca.cnf", "-gencrl", "-crl_lastupdate"])
                .arg(utc("-2 days"))
                .arg("-crl_nextupdate")
                .arg(utc("-1 day"))
                .args(["-out", "sub-ca-expired.crl"]),
            "openssl ca -gencrl (expired)",
        );
        // A delta CRL of the SubCA (deltaCRLIndicator, base CRL number 1000) listing both revoked
        // clients, client-later-revoked among them.
        let cnf = std::fs::read_to_string(pki.join("ca-db/sub-ca.cnf")).unwrap();
        let delta = cnf.replace("crl_extensions = crl_ext\n", "crl_extensions = delta_ext\n")
            + "[delta_ext]\nauthorityKeyIdentifier = keyid:always\n2.5.29.27 = critical, DER:02:02:03:E8\n";
        assert!(delta.contains("crl_extensions = delta_ext"), "make-pki.sh's CA configuration changed: {delta}");
        std::fs::write(pki.join("ca-db/sub-ca-delta.cnf"), delta).unwrap();
        run_ok(
            Command::new("openssl").current_dir(&pki).args(["ca", "-config", "ca-db/sub-ca-delta.cnf", "-gencrl", "-out", "sub-ca-delta.crl"]),
            "openssl ca -gencrl (delta)",
        );
        run_ok(
            Command::new("openssl").current_dir(&pki).args(["crl", "-in", "sub-ca.crl", "-outform", "DER", "-out", "sub-ca.crl.der"]),
            "openssl crl -outform DER",
        );
        run_ok(
            Command::new("openssl").current_dir(&pki).args(["x509", "-in", "client-valid.pem", "-outform", "DER", "-out", "client-valid.der"]),
            "openssl x509 -outform DER",
        );
        std::fs::write(pki.join("garbage.pem"), b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\nand more junk\n").unwrap();
        Fixture { pki, work }
    })
}

fn pki(name: &str) -> String {
    fixture().pki.join(name).display().to_string()
}

/// A folder of the test's own, for files it changes.
fn own_dir(test: &str) -> PathBuf {
    let d = fixture().work.join(test);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The configuration of the test PKI with the given CRL files, then `extra` settings.
fn config(crls: &[&str], extra: &[(&str, &str)]) -> Config {
    let mut c = Config::new();
    let anchor = pki("root-ca.pem");
    let sub = pki("sub-ca.pem");
    for (k, v) in [("provider_asid", ASID), ("ssp_fqdn", SSP_FQDN), ("trust_anchor", &anchor), ("intermediate", &sub)] {
        c.set(k, v).unwrap_or_else(|e| panic!("set {k}: {e}"));
    }
    for crl in crls {
        c.set("crl", crl).unwrap_or_else(|e| panic!("set crl {crl}: {e}"));
    }
    for (k, v) in extra {
        c.set(k, v).unwrap_or_else(|e| panic!("set {k}: {e}"));
    }
    c
}

fn guard(c: &Config) -> Guard {
    Guard::new(c).unwrap_or_else(|e| panic!("Guard::new: {:?} {}", e.kind, e.message))
}

fn guard_error(c: &Config) -> Error {
    match Guard::new(c) {
        Ok(_) => panic!("Guard::new accepted the configuration"),
        Err(e) => e,
    }
}

/// The verdict on a client certificate of the PKI (the file's first certificate as the leaf, the
/// rest as what the peer sent), at the system clock.
fn check(g: &Guard, file: &str) -> Verdict {
    let certs = read_cert_file("test", &pki(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    g.check_peer(&certs[0], &certs[1..], system_now())
}

fn assert_reason(v: &Verdict, want: Reason, what: &str) {
    assert_eq!(v.reason, want, "{what}: {}", v.message);
    if want != Reason::Allowed {
        assert!(!v.allowed());
        assert_eq!(v.http_status(), 495, "{what}");
        assert!(v.operation_outcome().is_some(), "{what}");
    }
}

#[test]
fn expired_crl_refuses_the_client_and_names_the_crl_file() {
    let g = guard(&config(&[&pki("root-ca.crl"), &pki("sub-ca-expired.crl")], &[]));
    let v = check(&g, "client-valid.pem");
    assert_reason(&v, Reason::CertRevocationUnknown, "client-valid with an expired SubCA CRL");
    assert!(v.message.contains(&pki("sub-ca-expired.crl")), "message does not name the CRL file: {}", v.message);
    assert!(v.message.contains("expired"), "message does not say the CRL has expired: {}", v.message);
    // The leaf passes the other rules: the refusal is the CRL's alone.
    assert_reason(&check(&guard(&config(&[&pki("root-ca.crl"), &pki("sub-ca.crl")], &[])), "client-valid.pem"), Reason::Allowed, "current CRL");
}

#[test]
fn expired_crl_without_require_crl_is_tolerated_but_still_revokes() {
    let g = guard(&config(&[&pki("root-ca.crl"), &pki("sub-ca-expired.crl")], &[("require_crl", "false")]));
    assert_reason(&check(&g, "client-valid.pem"), Reason::Allowed, "client-valid, expired CRL, require_crl = false");
    // An out-of-date CRL that lists the certificate is still evidence of revocation.
    assert_reason(&check(&g, "client-revoked.pem"), Reason::CertRevoked, "client-revoked, expired CRL, require_crl = false");
}

#[test]
fn der_crl_loads_and_is_used() {
    let g = guard(&config(&[&pki("root-ca.crl"), &pki("sub-ca.crl.der")], &[]));
    assert_reason(&check(&g, "client-valid.pem"), Reason::Allowed, "client-valid with a DER SubCA CRL");
    let v = check(&g, "client-revoked.pem");
    assert_reason(&v, Reason::CertRevoked, "client-revoked with a DER SubCA CRL");
    assert!(v.message.contains("sub-ca.crl.der"), "{}", v.message);
    // A DER certificate file reads too.
    let der = read_cert_file("test", &pki("client-valid.der")).unwrap();
    assert_eq!(der.len(), 1);
    assert!(g.check_peer(&der[0], &[], system_now()).allowed());
}

#[test]
fn crl_of_an_unconfigured_ca_is_a_crl_error_naming_the_file() {
    let e = guard_error(&config(&[&pki("root-ca.crl"), &pki("sub-ca.crl"), &pki("unrelated-ca.crl")], &[]));
    assert_eq!(e.kind, ErrorKind::Crl, "{}", e.message);
    assert!(e.message.contains(&pki("unrelated-ca.crl")), "{}", e.message);
    assert!(e.message.contains("crl"), "{}", e.message);
}

#[test]
fn intermediate_file_holding_a_leaf_is_refused_naming_the_file() {
    let e = guard_error(&config(&[&pki("root-ca.crl"), &pki("sub-ca.crl")], &[("intermediate", &pki("client-valid.pem"))]));
    assert_eq!(e.kind, ErrorKind::Ca, "{}", e.message);
    assert!(e.message.contains(&pki("client-valid.pem")), "{}", e.message);
    assert!(e.message.contains("intermediate"), "{}", e.message);
    // The same leaf as a trust anchor.
    let mut c = Config::new();
    for (k, v) in [("provider_asid", ASID), ("ssp_fqdn", SSP_FQDN), ("trust_anchor", &pki("client-valid.pem")), ("revocation", "off")] {
        c.set(k, v).unwrap();
    }
    let e = guard_error(&c);
    assert_eq!(e.kind, ErrorKind::Ca, "{}", e.message);
    assert!(e.message.contains(&pki("client-valid.pem")), "{}", e.message);
}

#[test]
fn server_key_of_another_certificate_is_a_key_mismatch_naming_both_files() {
    let crls = [pki("root-ca.crl"), pki("sub-ca.crl")];
    let crls: Vec<&str> = crls.iter().map(String::as_str).collect();
    let cert = pki("server-chain.pem");
    let ok = config(&crls, &[("server_certificate", &cert), ("server_private_key", &pki("server.key"))]);
    assert!(Guard::new(&ok).is_ok(), "the matching key is refused");
    for wrong in ["client-valid.key", "sub-ca.key"] {
        let e = guard_error(&config(&crls, &[("server_certificate", &cert), ("server_private_key", &pki(wrong))]));
        assert_eq!(e.kind, ErrorKind::KeyMismatch, "{wrong}: {}", e.message);
        assert!(e.message.contains(&pki(wrong)) && e.message.contains(&cert), "{wrong}: {}", e.message);
    }
}

#[test]
fn garbage_trust_anchor_is_a_pem_error_naming_the_file() {
    let mut c = Config::new();
    let garbage = pki("garbage.pem");
    for (k, v) in [("provider_asid", ASID), ("ssp_fqdn", SSP_FQDN), ("trust_anchor", &garbage), ("revocation", "off")] {
        c.set(k, v).unwrap();
    }
    let e = guard_error(&c);
    assert_eq!(e.kind, ErrorKind::Pem, "{}", e.message);
    assert!(e.message.contains(&garbage) && e.message.contains("trust_anchor"), "{}", e.message);
    // And as a CRL, and through read_cert_file itself.
    let e = guard_error(&config(&[&pki("root-ca.crl"), &garbage], &[]));
    assert_eq!(e.kind, ErrorKind::Pem, "{}", e.message);
    assert!(e.message.contains(&garbage), "{}", e.message);
    let e = read_cert_file("trust_anchor", &garbage).expect_err("garbage read as a certificate");
    assert_eq!(e.kind, ErrorKind::Pem);
    assert!(e.message.contains(&garbage), "{}", e.message);
}

#[test]
fn leaf_revocation_needs_only_the_issuing_ca_crl() {
    let only_sub = [pki("sub-ca.crl")];
    let only_sub: Vec<&str> = only_sub.iter().map(String::as_str).collect();
    let leaf = guard(&config(&only_sub, &[("revocation", "leaf")]));
    assert_reason(&check(&leaf, "client-valid.pem"), Reason::Allowed, "revocation = leaf without the RootCA CRL");
    assert_reason(&check(&leaf, "client-revoked.pem"), Reason::CertRevoked, "revocation = leaf, revoked leaf");
    let chain = guard(&config(&only_sub, &[("revocation", "chain")]));
    let v = check(&chain, "client-valid.pem");
    assert_reason(&v, Reason::CertRevocationUnknown, "revocation = chain without the RootCA CRL");
    assert!(v.message.contains("Test Spine RootCA"), "message does not name the CA without a CRL: {}", v.message);
    // With the RootCA CRL, chain mode accepts.
    let full = guard(&config(&[&pki("root-ca.crl"), &pki("sub-ca.crl")], &[("revocation", "chain")]));
    assert_reason(&check(&full, "client-valid.pem"), Reason::Allowed, "revocation = chain with both CRLs");
}

#[test]
fn reload_with_a_broken_crl_keeps_the_old_state() {
    let dir = own_dir("reload");
    let crl = dir.join("sub-ca.crl");
    std::fs::copy(pki("sub-ca.crl"), &crl).unwrap();
    let crl_path = crl.display().to_string();
    let g = guard(&config(&[&pki("root-ca.crl"), &crl_path], &[]));
    assert_reason(&check(&g, "client-later-revoked.pem"), Reason::Allowed, "before any reload");

    // Garbage in place of the CRL: the reload fails, naming the file; the old CRL stays in force.
    std::fs::write(&crl, b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n").unwrap();
    let e = g.reload().expect_err("reload accepted a garbage CRL");
    assert_eq!(e.kind, ErrorKind::Pem, "{}", e.message);
    assert!(e.message.contains(&crl_path), "{}", e.message);
    assert_reason(&check(&g, "client-later-revoked.pem"), Reason::Allowed, "after a failed reload (garbage)");
    assert_reason(&check(&g, "client-revoked.pem"), Reason::CertRevoked, "after a failed reload, the old CRL still revokes");

    // A CRL of another CA: refused the same way.
    std::fs::copy(pki("unrelated-ca.crl"), &crl).unwrap();
    let e = g.reload().expect_err("reload accepted a CRL of an unconfigured CA");
    assert_eq!(e.kind, ErrorKind::Crl, "{}", e.message);
    assert!(e.message.contains(&crl_path), "{}", e.message);
    assert_reason(&check(&g, "client-later-revoked.pem"), Reason::Allowed, "after a failed reload (unrelated CA)");

    // The file gone: refused, old state kept.
    std::fs::remove_file(&crl).unwrap();
    let e = g.reload().expect_err("reload accepted a missing CRL");
    assert_eq!(e.kind, ErrorKind::File, "{}", e.message);
    assert_reason(&check(&g, "client-later-revoked.pem"), Reason::Allowed, "after a failed reload (missing)");

    // A good newer CRL: the reload takes effect.
    std::fs::copy(pki("subca-revoked-later.crl"), &crl).unwrap();
    g.reload().unwrap_or_else(|e| panic!("reload with the later CRL: {}", e.message));
    assert_reason(&check(&g, "client-later-revoked.pem"), Reason::CertRevoked, "after reloading the later CRL");
}

#[test]
fn delta_crl_is_refused_at_load_and_reload_naming_the_file() {
    // OpenSSL applies no delta CRL without X509_V_FLAG_USE_DELTAS: loaded, it would be silently
    // ignored while its entries (here client-later-revoked) look revoked to the operator.
    let delta = pki("sub-ca-delta.crl");
    let e = guard_error(&config(&[&pki("root-ca.crl"), &pki("sub-ca.crl"), &delta], &[]));
    assert_eq!(e.kind, ErrorKind::Crl, "{}", e.message);
    assert!(e.message.contains(&format!("configuration key `crl`: {delta} (issuer CN=Test Spine SubCA,O=gpcguard test) is a delta CRL")), "{}", e.message);
    // Whatever the revocation settings.
    let e = guard_error(&config(&[&pki("root-ca.crl"), &pki("sub-ca.crl"), &delta], &[("revocation", "off"), ("require_crl", "false")]));
    assert_eq!(e.kind, ErrorKind::Crl, "{}", e.message);

    // Swapped in at reload: refused, the full CRL in force stays.
    let dir = own_dir("delta");
    let crl = dir.join("sub-ca.crl");
    std::fs::copy(pki("sub-ca.crl"), &crl).unwrap();
    let crl_path = crl.display().to_string();
    let g = guard(&config(&[&pki("root-ca.crl"), &crl_path], &[]));
    std::fs::copy(&delta, &crl).unwrap();
    let e = g.reload().expect_err("reload accepted a delta CRL");
    assert_eq!(e.kind, ErrorKind::Crl, "{}", e.message);
    assert!(e.message.contains(&crl_path) && e.message.contains("delta CRL"), "{}", e.message);
    assert_reason(&check(&g, "client-revoked.pem"), Reason::CertRevoked, "after a refused delta reload, the full CRL still revokes");
    assert_reason(&check(&g, "client-valid.pem"), Reason::Allowed, "after a refused delta reload");
}
