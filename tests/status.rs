//! The live status of a guard (src/status.rs): verdicts counted by check and reason across a
//! reload, generation and load time, CA and CRL ages, and the Prometheus text hosts serve.

mod common;

use common::{make_pki, work_dir};
use gpcguard::config::Config;
use gpcguard::guard::Guard;
use gpcguard::connection::pki::parse_pem_chain;
use gpcguard::request::Request;
use gpcguard::status::{Check, Counters, Snapshot};
use gpcguard::verdict::Reason;

#[test]
fn counters_move_with_verdicts_and_survive_a_reload() {
    let pki = work_dir("status");
    make_pki(&pki);
    let guard = Guard::new(&Config::from_file(&pki.join("provider.toml")).unwrap()).unwrap();
    let headers: [(&[u8], &[u8]); 1] = [(b"Ssp-TraceID", b"09a01679-2564-0fb4-5129-aecc81ea2706")];
    let req = Request { method: b"GET", target: b"/metadata", headers: &headers, now: 1_800_000_000 };
    let before = Snapshot::of(&guard, gpcguard::guard::system_now());
    assert_eq!(before.verdicts(Check::Request, Reason::HeaderMissing), 0);
    assert_eq!(guard.check_request(&req).reason, Reason::HeaderMissing);
    let revoked = parse_pem_chain(&std::fs::read(pki.join("client-revoked.pem")).unwrap(), 8, 65536).unwrap();
    assert_eq!(guard.check_peer(&revoked[0], &[], gpcguard::guard::system_now()).reason, Reason::CertRevoked);
    guard.reload().unwrap();
    assert_eq!(guard.check_request(&req).reason, Reason::HeaderMissing);

    let s = Snapshot::of(&guard, gpcguard::guard::system_now());
    assert_eq!(s.verdicts(Check::Request, Reason::HeaderMissing), 2, "counted before and after the reload");
    assert_eq!(s.verdicts(Check::Certificate, Reason::CertRevoked), 1);
    assert_eq!(s.verdicts(Check::Request, Reason::CertRevoked), 0);
    assert_eq!(s.generation, 2);
    let text = s.prometheus();
    assert!(text.contains("gpcguard_verdicts_total{check=\"request\",reason=\"HEADER_MISSING\"} 2\n"), "{text}");
    assert!(text.contains("gpcguard_verdicts_total{check=\"certificate\",reason=\"CERT_REVOKED\"} 1\n"), "{text}");
    assert!(text.contains("gpcguard_state_generation 2\n"), "{text}");
    let crl_line = text.lines().find(|l| l.starts_with("gpcguard_crl_next_update_seconds{issuer=\"CN=Test Spine SubCA,O=gpcguard test\"")).expect(text);
    let seconds: i64 = crl_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(seconds > 29 * 86_400 && seconds <= 30 * 86_400, "make-pki.sh's CRLs are for 30 days: {crl_line}");
    assert!(text.contains("gpcguard_ca_not_after_seconds{subject=\"CN=Test Spine RootCA,O=gpcguard test\",role=\"trust_anchor\"}"), "{text}");
    // Every sample line is `name{labels} value` or `name value`, after its HELP and TYPE.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = l.rsplit_once(' ').unwrap();
        assert!(value == "+Inf" || value.parse::<i64>().is_ok(), "{l}");
    }
}

#[test]
fn shared_counters_gather_several_guards() {
    let pki = work_dir("status_shared");
    make_pki(&pki);
    let config = Config::from_file(&pki.join("provider.toml")).unwrap();
    let mut mem = vec![0u64; Counters::SIZE / 8];
    let (a, b) = (Guard::new(&config).unwrap(), Guard::new(&config).unwrap());
    unsafe {
        a.share_counters(mem.as_mut_ptr().cast(), Counters::SIZE).unwrap();
        b.share_counters(mem.as_mut_ptr().cast(), Counters::SIZE).unwrap();
    }
    let req = Request { method: b"GET", target: b"/metadata", headers: &[], now: 1_800_000_000 };
    a.check_request(&req);
    b.check_request(&req);
    assert_eq!(Snapshot::of(&a, 0).verdicts(Check::Request, Reason::HeaderMissing), 2);
    // A later guard given the same memory continues its counts (a host's reload).
    let c = Guard::new(&config).unwrap();
    unsafe { c.share_counters(mem.as_mut_ptr().cast(), Counters::SIZE).unwrap() };
    c.check_request(&req);
    assert_eq!(Snapshot::of(&c, 0).verdicts(Check::Request, Reason::HeaderMissing), 3);
}

#[test]
fn status_abi_checks_its_arguments() {
    use gpcguard::ffi::config::gpcguard_config_from_file;
    use gpcguard::ffi::guard::{gpcguard_guard_free, gpcguard_guard_new};
    use gpcguard::ffi::status::*;
    use gpcguard::ffi::gpcguard_result;
    use std::ffi::{CStr, CString};

    let pki = work_dir("status_abi");
    make_pki(&pki);
    let path = CString::new(pki.join("provider.toml").to_str().unwrap()).unwrap();
    let mut cfg = std::ptr::null_mut();
    assert_eq!(gpcguard_config_from_file(path.as_ptr(), &mut cfg), gpcguard_result::GPCGUARD_OK);
    let mut guard = std::ptr::null_mut();
    assert_eq!(gpcguard_guard_new(cfg, &mut guard), gpcguard_result::GPCGUARD_OK);
    gpcguard::ffi::config::gpcguard_config_free(cfg);

    let mut st = std::ptr::null_mut();
    assert_eq!(gpcguard_guard_status(std::ptr::null(), 0, &mut st), gpcguard_result::GPCGUARD_NULL_PARAMETER);
    assert!(st.is_null());
    assert_eq!(gpcguard_guard_status(guard, 0, &mut st), gpcguard_result::GPCGUARD_OK);
    assert_eq!(gpcguard_status_generation(st), 1);
    assert_eq!(gpcguard_status_ca_count(st), 2);
    assert_eq!(gpcguard_status_crl_count(st), 2);
    assert!(gpcguard_status_ca_subject(st, 2).is_null(), "out of range is NULL");
    assert_eq!(gpcguard_status_crl_seconds_to_next_update(st, 9), i64::MIN);
    let issuer = unsafe { CStr::from_ptr(gpcguard_status_crl_issuer(st, 1)) }.to_str().unwrap();
    assert_eq!(issuer, "CN=Test Spine SubCA,O=gpcguard test");
    let left = gpcguard_status_crl_seconds_to_next_update(st, 1);
    assert!(left > 29 * 86_400 && left <= 30 * 86_400, "{left}");
    // Numbers that are no check or reason.
    assert_eq!(gpcguard_status_verdicts(st, 7, Reason::Allowed as i32), 0);
    assert_eq!(gpcguard_status_verdicts(st, Check::Request as i32, 999), 0);
    assert_eq!(gpcguard_status_verdicts(st, Check::Request as i32, Reason::Allowed as i32), 0);
    let text = unsafe { CStr::from_ptr(gpcguard_status_prometheus(st)) }.to_str().unwrap();
    assert!(text.contains("# TYPE gpcguard_verdicts_total counter"));
    assert_eq!(unsafe { CStr::from_ptr(gpcguard_status_prometheus(std::ptr::null())) }.to_bytes(), b"");
    gpcguard_status_free(st);
    gpcguard_status_free(std::ptr::null_mut());

    // Shared memory: too small, misaligned, foreign bytes refused; zeroed memory accepted.
    let mut mem = vec![0u64; gpcguard_status_counters_size() / 8 + 1];
    let p = mem.as_mut_ptr().cast::<std::ffi::c_void>();
    assert_eq!(gpcguard_guard_share_counters(guard, p, gpcguard_status_counters_size() - 1), gpcguard_result::GPCGUARD_INVALID_ARGUMENT);
    assert_eq!(gpcguard_guard_share_counters(guard, unsafe { p.cast::<u8>().add(4) }.cast(), gpcguard_status_counters_size()), gpcguard_result::GPCGUARD_INVALID_ARGUMENT);
    assert_eq!(gpcguard_guard_share_counters(guard, std::ptr::null_mut(), 4096), gpcguard_result::GPCGUARD_NULL_PARAMETER);
    assert_eq!(gpcguard_guard_share_counters(guard, p, gpcguard_status_counters_size()), gpcguard_result::GPCGUARD_OK);
    gpcguard_guard_free(guard);
}
