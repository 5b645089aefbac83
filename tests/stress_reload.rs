//! Concurrency and reload: one `Guard` shared by 8 checking threads while another thread swaps the
//! SubCA CRL between two versions and reloads the guard, `RELOADS` times. After each reload the
//! reloader waits until the checkers have completed more rounds than there are checkers, so at
//! least one round ran wholly on every generation: progress is asserted by counting, never by a
//! rate, and a loaded machine only makes the test slower.
//!
//! What must hold, every time:
//! - a well-formed request is allowed and one addressed to another ASID is refused with
//!   `WrongRecipient` (a reload never changes the request rules, so any other verdict is wrong);
//! - `client-valid` is allowed (neither CRL revokes it);
//! - `client-later-revoked` is allowed when the state that judged it was loaded from
//!   `subca-initial.crl` and `CertRevoked` when it was loaded from `subca-revoked-later.crl`.
//!   The test knows which: the reloader alone writes the CRL file, and records, for each
//!   generation its `reload()` produced, which version it had written just before. Checks judged
//!   on a snapshot (`guard.state()`) are held to the version of that snapshot's generation; checks
//!   through `Guard::check_peer` (which takes its own snapshot) are held to the versions of the
//!   generations current just before and just after the call.
//!
//! Memory must stay bounded: VmRSS after a warm-up and at the end are compared, with a generous
//! bound (see `RSS_GROWTH_BOUND`). Bounded in iterations (`RELOADS`), not in time.
//! Run it with `--release` (`cargo test --release --test stress_reload`; `make test` does).

mod common;
use common::{make_pki, work_dir};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use gpcguard::config::Config;
use gpcguard::guard::{system_now, Guard};
use gpcguard::request::Request;
use gpcguard::verdict::Reason;
use openssl::x509::X509;

const CHECKERS: usize = 8;
/// Reloads made while the checkers run, each followed by checks on the state it made.
const RELOADS: u64 = 500;
/// Allowed VmRSS growth from after the warm-up to the end. Each reload builds a fresh state
/// (X509 store, CRLs, server key, request tables: a few hundred KiB) and frees the old one when
/// the last check holding it ends; glibc keeps freed arenas of 9 threads around, so some growth
/// is normal. A leak of one state per reload would grow by well over 100 MiB over 500 reloads;
/// 64 MiB tells the two apart with a wide margin.
const RSS_GROWTH_BOUND_KIB: u64 = 64 * 1024;

/// Which SubCA CRL a state was loaded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CrlVersion {
    Initial,
    RevokedLater,
}

impl CrlVersion {
    fn file(self) -> &'static str {
        match self {
            CrlVersion::Initial => "subca-initial.crl",
            CrlVersion::RevokedLater => "subca-revoked-later.crl",
        }
    }
    fn later_revoked_verdict(self) -> Reason {
        match self {
            CrlVersion::Initial => Reason::Allowed,
            CrlVersion::RevokedLater => Reason::CertRevoked,
        }
    }
}

fn pki_dir() -> PathBuf {
    let dir = work_dir("stress_reload");
    make_pki(&dir);
    dir
}

/// Replaces `sub-ca.crl` by `version` with an atomic rename, so a reload reads one whole file.
fn write_crl(pki: &Path, version: CrlVersion) {
    let tmp = pki.join("sub-ca.crl.tmp");
    std::fs::copy(pki.join(version.file()), &tmp).unwrap();
    std::fs::rename(&tmp, pki.join("sub-ca.crl")).unwrap();
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn b64url(data: &[u8]) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..=c.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

const IAT: i64 = 1_503_995_582;
const NOW: i64 = IAT + 10;

/// The GP Connect test pack's baseline audit token for `patient/*.read`, unsigned.
fn bearer() -> String {
    let claims = serde_json::json!({
        "iss": "http://gpconnect-uat.answerappcloud.com/", "sub": "1",
        "aud": "https://authorize.fhir.nhs.net/token", "exp": IAT + 300, "iat": IAT,
        "reason_for_request": "directcare", "requested_scope": "patient/*.read",
        "requesting_device": { "resourceType": "Device",
            "identifier": [{ "system": "GPConnectTestSystem", "value": "Client" }], "model": "v1", "version": "1.1" },
        "requesting_organization": { "resourceType": "Organization",
            "identifier": [{ "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "GPCA0001" }],
            "name": "GP Connect Assurance" },
        "requesting_practitioner": { "resourceType": "Practitioner", "id": "1",
            "identifier": [{ "system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "GCASDS0001" },
                           { "system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": "112233445566" }],
            "name": [{ "family": "AssurancePractitioner", "given": ["AssuranceTest"], "prefix": ["Dr."] }] }
    });
    format!("Bearer {}.{}.", b64url(br#"{"alg":"none","typ":"JWT"}"#), b64url(claims.to_string().as_bytes()))
}

/// Headers of a patient read, addressed to `to`.
fn headers<'a>(to: &'a str, authorization: &'a str) -> Vec<(&'a [u8], &'a [u8])> {
    vec![
        (b"Ssp-TraceID".as_slice(), b"5b1e7a4c-9f2d-4c1b-8e3a-2d6f0c9b7a15".as_slice()),
        (b"Ssp-From", b"200000000359"),
        (b"Ssp-To", to.as_bytes()),
        (b"Ssp-InteractionID", b"urn:nhs:names:services:gpconnect:fhir:rest:read:patient-1"),
        (b"Authorization", authorization.as_bytes()),
    ]
}

/// What one checker saw; merged and judged after every thread has ended.
#[derive(Default)]
struct Tally {
    rounds: u64,
    /// Immediate failures (verdicts that are wrong whatever the generation), with a sample.
    wrong: u64,
    first_wrong: Option<String>,
    /// Snapshot checks of client-later-revoked: generation -> (allowed, revoked, other).
    by_generation: HashMap<u64, [u64; 3]>,
    /// Guard::check_peer of client-later-revoked: (generation before, after) -> (allowed, revoked, other).
    by_window: HashMap<(u64, u64), [u64; 3]>,
}

impl Tally {
    fn expect(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.wrong += 1;
            if self.first_wrong.is_none() {
                self.first_wrong = Some(what());
            }
        }
    }
}

fn bucket(reason: Reason) -> usize {
    match reason {
        Reason::Allowed => 0,
        Reason::CertRevoked => 1,
        _ => 2,
    }
}

fn checker(guard: &Guard, stop: &AtomicBool, all_rounds: &AtomicU64, valid: &X509, later: &X509, authorization: &str) -> Tally {
    let mut t = Tally::default();
    let good = headers("918999198993", authorization);
    let misaddressed = headers("123456789123", authorization);
    let req = |h: &[(&[u8], &[u8])]| -> Reason {
        let r = Request { method: b"GET", target: b"/Patient/2", headers: h, now: NOW };
        guard.check_request(&r).reason
    };
    while !stop.load(Ordering::Relaxed) {
        t.rounds += 1;
        let r = req(&good);
        t.expect(r == Reason::Allowed, || format!("well-formed request: {r:?}"));
        let r = req(&misaddressed);
        t.expect(r == Reason::WrongRecipient, || format!("request to another ASID: {r:?}"));

        let now = system_now();
        // Through the public method, bracketed by the generations around the call.
        let before = guard.state().generation;
        let v = guard.check_peer(valid, &[], now);
        t.expect(v.allowed(), || format!("client-valid refused: {:?} {}", v.reason, v.message));
        let v = guard.check_peer(later, &[], now);
        let after = guard.state().generation;
        t.by_window.entry((before, after)).or_default()[bucket(v.reason)] += 1;

        // On one snapshot, whose generation says which CRL it holds.
        let state = guard.state();
        let verdict = state.pki.verify(later, &[], now).map(|()| Reason::Allowed).unwrap_or_else(|e| e.reason);
        t.by_generation.entry(state.generation).or_default()[bucket(verdict)] += 1;
        let r = state.requests.check(&Request { method: b"GET", target: b"/Patient/2", headers: &good, now: NOW }).reason;
        t.expect(r == Reason::Allowed, || format!("well-formed request on a snapshot: {r:?}"));
        drop(state);
        all_rounds.fetch_add(1, Ordering::SeqCst);
    }
    t
}

#[test]
fn eight_checkers_and_a_reloader_agree_on_every_verdict() {
    let pki = pki_dir();
    write_crl(&pki, CrlVersion::Initial);
    let config = Config::from_file(&pki.join("provider.toml")).expect("provider.toml");
    let guard = Arc::new(Guard::new(&config).expect("guard"));
    let first = guard.state().generation;
    let read_pem = |name: &str| X509::from_pem(&std::fs::read(pki.join(name)).unwrap()).unwrap();
    let valid = read_pem("client-valid.pem");
    let later = read_pem("client-later-revoked.pem");
    let authorization = bearer();

    // The version each generation was loaded from; only the reloader writes it.
    let versions: Arc<Mutex<HashMap<u64, CrlVersion>>> = Arc::new(Mutex::new(HashMap::from([(first, CrlVersion::Initial)])));

    // Warm-up: a few reloads and checks, so that allocator arenas and OpenSSL's tables exist
    // before the baseline is read.
    for i in 0..20 {
        let version = if i % 2 == 0 { CrlVersion::RevokedLater } else { CrlVersion::Initial };
        write_crl(&pki, version);
        guard.reload().expect("warm-up reload");
        versions.lock().unwrap().insert(guard.state().generation, version);
        let v = guard.check_peer(&later, &[], system_now());
        assert_eq!(v.reason, version.later_revoked_verdict(), "warm-up verdict after loading {version:?}");
    }
    let rss_baseline = vm_rss_kib();

    let stop = Arc::new(AtomicBool::new(false));
    let reloads = Arc::new(AtomicU64::new(0));
    let all_rounds = Arc::new(AtomicU64::new(0));
    let checkers: Vec<_> = (0..CHECKERS)
        .map(|_| {
            let (guard, stop, all_rounds, valid, later, authorization) =
                (guard.clone(), stop.clone(), all_rounds.clone(), valid.clone(), later.clone(), authorization.clone());
            std::thread::spawn(move || checker(&guard, &stop, &all_rounds, &valid, &later, &authorization))
        })
        .collect();
    let reloader = {
        let (guard, stop, versions, reloads, all_rounds, pki) =
            (guard.clone(), stop.clone(), versions.clone(), reloads.clone(), all_rounds.clone(), pki.clone());
        std::thread::spawn(move || {
            let mut version = CrlVersion::Initial;
            let mut failures = Vec::new();
            while reloads.load(Ordering::Relaxed) < RELOADS {
                version = if version == CrlVersion::Initial { CrlVersion::RevokedLater } else { CrlVersion::Initial };
                write_crl(&pki, version);
                match guard.reload() {
                    // This thread is the only one reloading, so the current generation is the one
                    // this reload made.
                    Ok(()) => {
                        versions.lock().unwrap().insert(guard.state().generation, version);
                    }
                    Err(e) => failures.push(e.message),
                }
                reloads.fetch_add(1, Ordering::Relaxed);
                // At most CHECKERS rounds were under way during the reload; one more than that
                // completed after it started wholly on the new state.
                let target = all_rounds.load(Ordering::SeqCst) + CHECKERS as u64 + 1;
                while all_rounds.load(Ordering::SeqCst) < target {
                    std::thread::yield_now();
                }
            }
            stop.store(true, Ordering::Relaxed);
            failures
        })
    };
    let reload_failures = reloader.join().expect("the reloader panicked");
    let tallies: Vec<Tally> = checkers.into_iter().map(|h| h.join().expect("a checker panicked")).collect();
    let rss_end = vm_rss_kib();

    assert!(reload_failures.is_empty(), "{} reloads failed, e.g. {}", reload_failures.len(), reload_failures[0]);
    let versions = versions.lock().unwrap();
    let reloads = reloads.load(Ordering::Relaxed);
    assert_eq!(reloads, RELOADS, "the reloader stopped early");
    assert_eq!(versions.len() as u64, 21 + RELOADS, "a generation without its CRL version");

    let mut rounds = 0;
    let mut wrong = 0;
    let mut samples = Vec::new();
    let mut seen = [0u64; 2];
    for t in &tallies {
        rounds += t.rounds;
        wrong += t.wrong;
        samples.extend(t.first_wrong.clone());
        for (&generation, counts) in &t.by_generation {
            let version = *versions.get(&generation).unwrap_or_else(|| panic!("generation {generation} was never recorded"));
            let right = bucket(version.later_revoked_verdict());
            seen[right] += counts[right];
            let bad: u64 = counts.iter().enumerate().filter(|&(i, _)| i != right).map(|(_, n)| n).sum();
            if bad > 0 {
                wrong += bad;
                samples.push(format!("generation {generation} ({version:?}): verdicts (allowed, revoked, other) = {counts:?}"));
            }
        }
        for (&(before, after), counts) in &t.by_window {
            let acceptable: Vec<usize> = (before..=after)
                .map(|g| bucket(versions.get(&g).unwrap_or_else(|| panic!("generation {g} was never recorded")).later_revoked_verdict()))
                .collect();
            let bad: u64 = counts.iter().enumerate().filter(|&(i, _)| !acceptable.contains(&i)).map(|(_, n)| n).sum();
            if bad > 0 {
                wrong += bad;
                samples.push(format!("check_peer between generations {before}..={after}: verdicts (allowed, revoked, other) = {counts:?}"));
            }
        }
    }
    eprintln!(
        "stress_reload: {reloads} reloads, {rounds} rounds x 7 checks on {CHECKERS} threads, \
         later-revoked judged allowed {} / revoked {} on snapshots, {wrong} wrong; VmRSS {rss_baseline} KiB -> {rss_end} KiB",
        seen[0], seen[1]
    );
    assert_eq!(wrong, 0, "wrong verdicts: {samples:#?}");
    assert!(rounds >= RELOADS * (CHECKERS as u64 + 1), "the checkers did not run across every reload: {rounds} rounds");
    // Both CRL versions were seen under load, so the per-generation judgement was exercised.
    assert!(seen[0] > 0 && seen[1] > 0, "the checkers never saw both CRL versions: {seen:?}");
    assert!(
        rss_end <= rss_baseline + RSS_GROWTH_BOUND_KIB,
        "VmRSS grew from {rss_baseline} KiB to {rss_end} KiB over {reloads} reloads (bound +{RSS_GROWTH_BOUND_KIB} KiB)"
    );
    let _ = std::fs::remove_dir_all(&pki);
}
