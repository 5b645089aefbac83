//! The peer cache of `Guard::check_peer` against the PKI of `c-tests/make-pki.sh` (certificates
//! and CRLs made by the openssl CLI; `subca-revoked-later.crl` revokes client-later-revoked once
//! swapped in for `sub-ca.crl`): a reused acceptance gives the full check's verdict, and nothing
//! a full check would refuse is ever accepted from the cache. `full_verifications` tells a hit
//! from a miss.

use super::*;
use crate::testkit;
use crate::connection::pki::unix_time;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// The guard of `provider.toml` in `dir` (CRLs for the whole chain, required).
fn guard_of(dir: &Path) -> Guard {
    Guard::new(&Config::from_file(&dir.join("provider.toml")).unwrap()).unwrap()
}

/// The same PKI without CRLs (revocation off): nothing ages out before the CAs' notAfter, so a
/// leaf's own notAfter comes first.
fn guard_without_crls() -> Guard {
    let dir = testkit::test_pki();
    let mut c = Config::new();
    for (k, v) in [("provider_asid", "918999198993"), ("ssp_fqdn", "msg.dev.spine2.ncrs.nhs.uk"), ("revocation", "off"), ("require_crl", "false")] {
        c.set(k, v).unwrap();
    }
    for (k, f) in [("trust_anchor", "root-ca.pem"), ("intermediate", "sub-ca.pem")] {
        c.set(k, dir.join(f).to_str().unwrap()).unwrap();
    }
    Guard::new(&c).unwrap()
}

fn cert(dir: &Path, name: &str) -> X509 {
    X509::from_pem(&std::fs::read(dir.join(name)).unwrap()).unwrap()
}

/// Swaps in the CRL that revokes client-later-revoked (whole, by rename, as a deployment would).
fn revoke_later(dir: &Path) {
    std::fs::copy(dir.join("subca-revoked-later.crl"), dir.join("sub-ca.crl.new")).unwrap();
    std::fs::rename(dir.join("sub-ca.crl.new"), dir.join("sub-ca.crl")).unwrap();
}

fn restore_crl(dir: &Path) {
    std::fs::copy(dir.join("subca-initial.crl"), dir.join("sub-ca.crl.new")).unwrap();
    std::fs::rename(dir.join("sub-ca.crl.new"), dir.join("sub-ca.crl")).unwrap();
}

fn full(g: &Guard) -> u64 {
    g.full_verifications.load(Ordering::Relaxed)
}

/// The verdict of a guard that never saw the chain: the full check's.
fn fresh_verdict(dir: &Path, leaf: &X509, presented: &[X509], now: i64) -> Verdict {
    guard_of(dir).check_peer(leaf, presented, now)
}

#[test]
fn a_hit_gives_the_full_checks_verdict_without_verifying_again() {
    let dir = testkit::test_pki();
    let g = guard_of(dir);
    let leaf = cert(dir, "client-valid.pem");
    let now = system_now();
    let first = g.check_peer(&leaf, &[], now);
    assert_eq!(first.reason, Reason::Allowed, "{}", first.message);
    assert_eq!(first.message, "client certificate CN=SSP valid client,O=gpcguard test accepted");
    assert_eq!(full(&g), 1);
    for later in [now, now + 1, now + 3600] {
        assert_eq!(g.check_peer(&leaf, &[], later), first, "a hit must give the full check's verdict");
        assert_eq!(full(&g), 1, "at {later} (verified at {now}) the acceptance holds: no second verification");
    }
    assert_eq!(fresh_verdict(dir, &leaf, &[], now + 3600), first, "the same as a guard that verifies in full");
    assert_eq!(g.counters().get(Check::Certificate, Reason::Allowed), 4, "every check is counted, cached or not");
}

#[test]
fn a_reload_whose_crl_revokes_the_leaf_refuses_at_the_next_check() {
    let dir = testkit::pki_copy("peer-cache-reload");
    let g = guard_of(&dir);
    let leaf = cert(&dir, "client-later-revoked.pem");
    let now = system_now();
    assert_eq!(g.check_peer(&leaf, &[], now).reason, Reason::Allowed);
    assert_eq!(g.check_peer(&leaf, &[], now).reason, Reason::Allowed);
    assert_eq!(full(&g), 1, "cached before the reload");
    revoke_later(&dir);
    g.reload().unwrap();
    let v = g.check_peer(&leaf, &[], now);
    assert_eq!((v.reason, v.http_status()), (Reason::CertRevoked, 495), "{}", v.message);
    assert_eq!(v, fresh_verdict(&dir, &leaf, &[], now), "the full check's refusal, message and all");
    assert_eq!(full(&g), 2, "the entry of the earlier state must not be used");
    // Reloading the first CRL again is a new state too: verified afresh, then cached again.
    restore_crl(&dir);
    g.reload().unwrap();
    assert_eq!(g.check_peer(&leaf, &[], now).reason, Reason::Allowed);
    assert_eq!(g.check_peer(&leaf, &[], now).reason, Reason::Allowed);
    assert_eq!(full(&g), 3);
}

#[test]
fn past_the_states_stable_period_the_chain_is_verified_again() {
    let dir = testkit::test_pki();
    let g = guard_of(dir);
    let leaf = cert(dir, "client-valid.pem");
    let now = system_now();
    let stable_until = g.state().pki.stable_until();
    assert!(stable_until < unix_time(leaf.not_after()), "the CRLs' nextUpdate comes before the leaf's notAfter");
    assert_eq!(g.check_peer(&leaf, &[], now).reason, Reason::Allowed);
    assert_eq!(g.check_peer(&leaf, &[], stable_until).reason, Reason::Allowed);
    assert_eq!(full(&g), 1, "through stable_until the acceptance holds");
    let v = g.check_peer(&leaf, &[], stable_until + 1);
    assert_eq!(v.reason, Reason::CertRevocationUnknown, "at the CRLs' nextUpdate they have expired: {}", v.message);
    assert_eq!(v, fresh_verdict(dir, &leaf, &[], stable_until + 1));
    assert_eq!(full(&g), 2);
}

#[test]
fn past_the_leafs_not_after_the_chain_is_verified_again() {
    let g = guard_without_crls();
    let leaf = cert(testkit::test_pki(), "client-valid.pem");
    let not_after = unix_time(leaf.not_after());
    assert!(g.state().pki.stable_until() > not_after, "nothing configured ages out before the leaf");
    assert_eq!(g.check_peer(&leaf, &[], system_now()).reason, Reason::Allowed);
    assert_eq!(g.check_peer(&leaf, &[], not_after).reason, Reason::Allowed, "notAfter is the last valid second");
    assert_eq!(full(&g), 1);
    let v = g.check_peer(&leaf, &[], not_after + 1);
    assert_eq!(v.reason, Reason::CertExpired, "{}", v.message);
    assert!(v.message.contains("has expired"), "{}", v.message);
    assert_eq!(full(&g), 2);
    assert_eq!(g.check_peer(&leaf, &[], not_after + 1).reason, Reason::CertExpired);
    assert_eq!(full(&g), 3, "a refusal is never kept");
}

#[test]
fn a_time_before_the_verification_or_the_states_load_is_verified_again() {
    let dir = testkit::test_pki();
    let g = guard_of(dir);
    let leaf = cert(dir, "client-valid.pem");
    let now = system_now();
    assert_eq!(g.check_peer(&leaf, &[], now + 100).reason, Reason::Allowed);
    assert_eq!(g.check_peer(&leaf, &[], now + 50).reason, Reason::Allowed);
    assert_eq!(full(&g), 2, "50 s before the acceptance: a certificate not yet valid then may be now");
    // Verified (and kept) at now + 50 now: earlier times still re-verify, later ones hit.
    assert_eq!(g.check_peer(&leaf, &[], now + 100).reason, Reason::Allowed);
    assert_eq!(full(&g), 2);
    // Before the state was loaded, CRLs and CAs already in force at load may not have been (here
    // the CRLs' lastUpdate is the PKI's making, seconds before the load): verified in full, as a
    // guard that never saw the chain would.
    let before_load = g.state().loaded_at - 3600;
    assert_eq!(g.check_peer(&leaf, &[], before_load), fresh_verdict(dir, &leaf, &[], before_load));
    assert_eq!(full(&g), 3);
    // An acceptance at such a time is neither reused nor kept (without CRLs, one is given).
    let g = guard_without_crls();
    let before_load = g.state().loaded_at - 3600;
    assert_eq!(g.check_peer(&leaf, &[], now).reason, Reason::Allowed);
    assert_eq!(g.check_peer(&leaf, &[], before_load).reason, Reason::Allowed);
    assert_eq!(g.check_peer(&leaf, &[], before_load).reason, Reason::Allowed);
    assert_eq!(full(&g), 3, "an acceptance before the state's load is not reused");
    assert_eq!(g.check_peer(&leaf, &[], now).reason, Reason::Allowed);
    assert_eq!(full(&g), 3, "nor kept in place of the entry that holds");
}

#[test]
fn another_presented_chain_is_another_entry_and_refusals_are_never_kept() {
    let dir = testkit::test_pki();
    let g = guard_of(dir);
    let leaf = cert(dir, "client-valid.pem");
    let sub = cert(dir, "sub-ca.pem");
    let other_sub = cert(dir, "other-sub-ca.pem");
    let now = system_now();
    let alone = g.check_peer(&leaf, &[], now);
    let with_sub = g.check_peer(&leaf, std::slice::from_ref(&sub), now);
    assert_eq!((alone.reason, with_sub.reason), (Reason::Allowed, Reason::Allowed));
    assert_eq!(full(&g), 2, "the same leaf presented with its SubCA is another chain");
    let with_both = g.check_peer(&leaf, &[sub.clone(), other_sub.clone()], now);
    let reversed = g.check_peer(&leaf, &[other_sub.clone(), sub.clone()], now);
    assert_eq!((with_both.reason, reversed.reason), (Reason::Allowed, Reason::Allowed));
    assert_eq!(full(&g), 4, "the order of the presented certificates is part of the chain");
    for _ in 0..2 {
        assert_eq!(g.check_peer(&leaf, &[], now), alone);
        assert_eq!(g.check_peer(&leaf, std::slice::from_ref(&sub), now), with_sub);
        assert_eq!(g.check_peer(&leaf, &[sub.clone(), other_sub.clone()], now), with_both);
    }
    assert_eq!(full(&g), 4);

    for (name, presented, reason) in [
        ("client-revoked.pem", vec![], Reason::CertRevoked),
        ("client-other-sub.pem", vec![other_sub.clone()], Reason::CertUntrusted),
        ("client-wrong-fqdn.pem", vec![], Reason::CertWrongHost),
    ] {
        let refused = cert(dir, name);
        let before = full(&g);
        let first = g.check_peer(&refused, &presented, now);
        assert_eq!(first.reason, reason, "{name}: {}", first.message);
        for i in 1..=3 {
            assert_eq!(g.check_peer(&refused, &presented, now), first, "{name}: refused every time, same message");
            assert_eq!(full(&g), before + 1 + i, "{name}: a refusal is verified in full every time");
        }
    }
}

/// 16 threads check a valid, a revoked and a later-revoked client (each also with its SubCA
/// presented) while another reloads the guard, swapping the SubCA CRL back and forth. A check
/// whose state did not change while it ran (same nonce before and after) must give that state's
/// verdict; client-revoked is refused whatever the state.
#[test]
fn sixteen_threads_and_reloads_never_accept_a_refused_chain() {
    const THREADS: usize = 16;
    const RELOADS: usize = 40;
    let dir = testkit::pki_copy("peer-cache-threads");
    let g = Arc::new(guard_of(&dir));
    let sub = cert(&dir, "sub-ca.pem");
    let chains: Vec<(&str, X509, Vec<X509>)> = ["client-valid.pem", "client-revoked.pem", "client-later-revoked.pem"]
        .iter()
        .flat_map(|n| [(*n, cert(&dir, n), vec![]), (*n, cert(&dir, n), vec![sub.clone()])])
        .collect();
    let chains = Arc::new(chains);
    let stop = Arc::new(AtomicBool::new(false));
    let checkers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (g, chains, stop) = (g.clone(), chains.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut judged, mut allowed_later) = (0u64, 0u64);
                let mut i = t;
                while !stop.load(Ordering::Relaxed) || judged < 60 {
                    let (name, leaf, presented) = &chains[i % chains.len()];
                    i += 1;
                    let before = g.state();
                    let v = g.check_peer(leaf, presented, system_now());
                    let revoked = before.pki.crls().iter().find(|c| c.source.ends_with("sub-ca.crl")).unwrap().entries;
                    let expected = match (*name, revoked) {
                        ("client-valid.pem", _) | ("client-later-revoked.pem", 1) => Reason::Allowed,
                        _ => Reason::CertRevoked,
                    };
                    if *name == "client-revoked.pem" {
                        assert_eq!(v.reason, Reason::CertRevoked, "client-revoked accepted: {}", v.message);
                    }
                    if g.state().nonce == before.nonce {
                        assert_eq!(v.reason, expected, "{name} with {} presented, {revoked} revoked: {}", presented.len(), v.message);
                        judged += 1;
                        allowed_later += u64::from(*name == "client-later-revoked.pem" && v.reason == Reason::Allowed);
                    }
                }
                (judged, allowed_later)
            })
        })
        .collect();
    for r in 0..RELOADS {
        if r % 2 == 0 { revoke_later(&dir) } else { restore_crl(&dir) }
        g.reload().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    let mut judged = 0;
    for c in checkers {
        judged += c.join().expect("a checker panicked").0;
    }
    assert!(judged >= (THREADS * 60) as u64);
    let checks = g.counters().get(Check::Certificate, Reason::Allowed) + g.counters().get(Check::Certificate, Reason::CertRevoked);
    assert!(full(&g) < checks, "some checks were hits ({} full verifications of {checks} checks)", full(&g));
}

/// More chains than slots: at most `PeerCache::SLOTS` are kept, and a chain whose slot holds
/// another chain's acceptance is verified in full (the whole key is compared, not the slot).
#[test]
fn the_cache_is_bounded_and_a_shared_slot_is_no_match() {
    let dir = testkit::test_pki();
    let g = guard_of(dir);
    let (valid, revoked) = (cert(dir, "client-valid.pem"), cert(dir, "client-revoked.pem"));
    let (sub, other) = (cert(dir, "sub-ca.pem"), cert(dir, "other-sub-ca.pem"));
    let n = PeerCache::SLOTS + 100;
    // Distinct presented chains: the bits of i, one certificate each, after a leading SubCA.
    let presented = |i: usize| -> Vec<X509> {
        let bits = usize::BITS - i.leading_zeros();
        (0..bits).map(|b| if i >> b & 1 == 1 { sub.clone() } else { other.clone() }).collect()
    };
    let now = system_now();
    for i in 0..n {
        assert_eq!(g.check_peer(&valid, &presented(i), now).reason, Reason::Allowed);
    }
    assert_eq!(full(&g), n as u64);
    for i in 0..n {
        let v = g.check_peer(&revoked, &presented(i), now);
        assert_eq!(v.reason, Reason::CertRevoked, "chain {i} (its slot holds a valid chain's acceptance): {}", v.message);
    }
    assert_eq!(full(&g), 2 * n as u64, "every refused chain verified in full");
    for i in 0..n {
        assert_eq!(g.check_peer(&valid, &presented(i), now).reason, Reason::Allowed);
    }
    let again = full(&g) - 2 * n as u64;
    assert!(again >= (n - PeerCache::SLOTS) as u64, "{n} chains, {} slots: at least {} verified again, not {again}", PeerCache::SLOTS, n - PeerCache::SLOTS);
}

/// The DER path (the Tomcat Valve's `gpcguard_check_peer_der`) asks the cache before parsing:
/// only the very bytes accepted hit; one byte changed, a trailing byte, a reload, and the chain
/// is parsed and verified in full.
#[test]
fn der_bytes_hit_only_when_identical_and_under_the_same_state() {
    let dir = testkit::pki_copy("peer-cache-der");
    let g = guard_of(&dir);
    let (leaf, sub) = (cert(&dir, "client-later-revoked.pem"), cert(&dir, "sub-ca.pem"));
    let (leaf_der, sub_der) = (leaf.to_der().unwrap(), sub.to_der().unwrap());
    let now = system_now();
    let first = g.check_peer_der(&[&leaf_der, &sub_der], now);
    assert_eq!(first.reason, Reason::Allowed, "{}", first.message);
    assert_eq!(first, fresh_verdict(&dir, &leaf, std::slice::from_ref(&sub), now));
    assert_eq!(g.check_peer_der(&[&leaf_der, &sub_der], now), first);
    assert_eq!(g.check_peer(&leaf, std::slice::from_ref(&sub), now), first, "the same chain as objects");
    assert_eq!(full(&g), 1);
    assert_eq!(g.counters().get(Check::Certificate, Reason::Allowed), 3);

    // The last byte of the signature changed: another key, parsed, and refused every time.
    let mut forged = leaf_der.clone();
    *forged.last_mut().unwrap() ^= 1;
    let mut trailing = leaf_der.clone();
    trailing.push(0);
    for (what, bytes, reason) in [("forged signature", &forged, Reason::CertUntrusted), ("trailing byte", &trailing, Reason::CertMalformed)] {
        let v = g.check_peer_der(&[bytes, &sub_der], now);
        assert_eq!(v.reason, reason, "{what}: {}", v.message);
        assert_eq!(g.check_peer_der(&[bytes, &sub_der], now), v, "{what}: refused again, never from the cache");
    }
    assert_eq!(full(&g), 3, "the forged chain verified twice; the unparsable one never reached verification");
    assert_eq!(g.check_peer_der(&[&leaf_der], now).reason, Reason::Allowed, "without the SubCA: another entry");
    assert_eq!(full(&g), 4);

    revoke_later(&dir);
    g.reload().unwrap();
    let v = g.check_peer_der(&[&leaf_der, &sub_der], now);
    assert_eq!(v.reason, Reason::CertRevoked, "{}", v.message);
    assert_eq!(v, fresh_verdict(&dir, &leaf, std::slice::from_ref(&sub), now));
    assert_eq!(full(&g), 5);
}
