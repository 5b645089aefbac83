//! Chains the guard accepted, so that a host re-checking the client certificate on every request
//! (spec §1: the certificate is judged by the current state, also after a reload) does not repeat
//! the whole verification while nothing it depends on has changed.
//!
//! A verification is a function of the chain, the loaded state and the time. The key is the
//! chain (SHA-256 over each certificate's DER, length-prefixed, leaf first); the entry names the
//! state (`State::nonce`), the second it was verified at and the chain's first notAfter, and
//! `Guard::check_peer` uses it only while `State::verification_holds` (the rule session tickets
//! follow too). Only acceptances are kept: a refusal is always verified again in full.
//!
//! Bounded: a fixed number of slots, chosen by the key, each under its own lock; a new entry
//! overwrites whatever shared its slot. A slot that is busy or whose lock is poisoned counts as
//! a miss (full verification): a check never waits here, and a worker forked while another
//! thread held a slot's lock cannot block on it forever.

use std::sync::Mutex;

use openssl::sha::Sha256;
use openssl::x509::{X509Ref, X509};

/// An acceptance, as verified once.
#[derive(Clone, Debug)]
pub struct Accepted {
    /// The `State::nonce` of the state that verified the chain.
    pub state: [u8; 16],
    /// The `now` of that verification (Unix seconds).
    pub verified_at: i64,
    /// The earliest notAfter of the chain's own certificates (`chain_not_after`).
    pub chain_not_after: i64,
    /// The verdict's message.
    pub message: String,
}

struct Entry {
    key: [u8; 32],
    accepted: Accepted,
}

/// The accepted chains of one guard.
pub struct PeerCache {
    slots: Box<[Mutex<Option<Entry>>]>,
}

impl Default for PeerCache {
    fn default() -> Self {
        PeerCache::new()
    }
}

impl PeerCache {
    /// How many chains it keeps at most: more distinct client certificates than a provider sees
    /// from the Spine's SSP between two reloads.
    pub const SLOTS: usize = 1024;

    pub fn new() -> PeerCache {
        PeerCache { slots: (0..Self::SLOTS).map(|_| Mutex::new(None)).collect() }
    }

    fn slot(&self, key: &[u8; 32]) -> &Mutex<Option<Entry>> {
        let n = u64::from_le_bytes(key[..8].try_into().unwrap_or_default());
        &self.slots[(n % Self::SLOTS as u64) as usize]
    }

    /// The acceptance kept for exactly this chain, if `holds` says it still holds.
    pub fn find(&self, key: &[u8; 32], holds: impl FnOnce(&Accepted) -> bool) -> Option<Accepted> {
        let slot = self.slot(key).try_lock().ok()?;
        let entry = slot.as_ref().filter(|e| e.key == *key)?;
        holds(&entry.accepted).then(|| entry.accepted.clone())
    }

    /// Keeps an acceptance of this chain, replacing whatever held its slot.
    pub fn keep(&self, key: [u8; 32], accepted: Accepted) {
        if let Ok(mut slot) = self.slot(&key).try_lock() {
            *slot = Some(Entry { key, accepted });
        }
    }
}

/// The cache key of a chain as judged: SHA-256 over the DER of the leaf, then of each presented
/// certificate, each preceded by its length. None (no caching) when a certificate cannot be
/// encoded.
pub fn chain_key(leaf: &X509Ref, presented: &[X509]) -> Option<[u8; 32]> {
    let ders = std::iter::once(leaf).chain(presented.iter().map(|c| &**c)).map(|c| c.to_der().ok()).collect::<Option<Vec<_>>>()?;
    Some(der_chain_key(ders.iter().map(|d| d.as_slice())))
}

/// The key of a chain given as DER (leaf first), the form of `chain_key`: for bytes a host
/// gives, it is computed before they are parsed (with OpenSSL 3.0, parsing two certificates
/// costs about as much as verifying them), and the same bytes always parse to the same chain.
pub fn der_chain_key<'a>(ders: impl Iterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut h = Sha256::new();
    for der in ders {
        h.update(&(der.len() as u64).to_le_bytes());
        h.update(der);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(message: &str) -> Accepted {
        Accepted { state: [1; 16], verified_at: 10, chain_not_after: 20, message: message.into() }
    }

    #[test]
    fn finds_only_the_same_key_and_only_while_it_holds() {
        let c = PeerCache::new();
        let (a, b) = ([7u8; 32], [8u8; 32]);
        c.keep(a, accepted("a"));
        assert_eq!(c.find(&a, |_| true).map(|x| x.message), Some("a".into()));
        assert!(c.find(&a, |_| false).is_none(), "not when the rule says it no longer holds");
        assert!(c.find(&b, |_| true).is_none());
        // Same slot (the slot is chosen by the first 8 bytes), another key: no match, and it
        // replaces the entry.
        let mut shares = a;
        shares[31] ^= 1;
        assert!(std::ptr::eq(c.slot(&a), c.slot(&shares)));
        assert!(c.find(&shares, |_| true).is_none());
        c.keep(shares, accepted("shares"));
        assert!(c.find(&a, |_| true).is_none());
    }

    #[test]
    fn a_busy_or_poisoned_slot_is_a_miss() {
        let c = PeerCache::new();
        let key = [9u8; 32];
        c.keep(key, accepted("k"));
        {
            let _busy = c.slot(&key).lock().unwrap();
            assert!(c.find(&key, |_| true).is_none(), "busy: a miss, never a wait");
            c.keep(key, accepted("other")); // skipped, not blocked
        }
        assert_eq!(c.find(&key, |_| true).map(|x| x.message), Some("k".into()));
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = c.slot(&key).lock().unwrap();
            panic!("poison the slot");
        }));
        assert!(c.slot(&key).is_poisoned());
        assert!(c.find(&key, |_| true).is_none(), "poisoned: a miss (full verification)");
        c.keep(key, accepted("after"));
        assert!(c.find(&key, |_| true).is_none());
    }
}
