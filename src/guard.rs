//! The guard: one loaded configuration (settings, PKI, server identity), shared by every thread
//! and by workers forked after it was built. `reload` re-reads every file and swaps the whole
//! state at once; a request or handshake in flight keeps the state it started with.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, ArcSwapOption};
use openssl::x509::{X509Ref, X509};

use crate::config::{Config, Settings};
use crate::error::Result;
use crate::connection::peer_cache::{chain_key, der_chain_key, Accepted, PeerCache};
use crate::connection::pki::{chain_not_after, name_text, parse_der_chain, Pki};
use crate::request::{Request, RequestChecker};
use crate::status::{Check, Counters};
use crate::connection::tls::ServerIdentity;
use crate::verdict::{Reason, Verdict};

/// Everything one generation of the configuration loaded. Immutable.
pub struct State {
    pub settings: Settings,
    pub pki: Pki,
    /// The per-request checks, prepared from the settings.
    pub requests: RequestChecker,
    pub server: Option<ServerIdentity>,
    /// Random, made when this state was loaded: names exactly this state. A session ticket
    /// resumes without re-verification only under the state that verified its peer, and a
    /// counter cannot say which that is once workers forked from one guard reload separately
    /// (each would count to the same number over different files).
    pub nonce: [u8; 16],
    /// Increases with every successful reload of this guard in this process: for display only,
    /// never to compare states (see `nonce`).
    pub generation: u64,
    /// When this state was loaded (Unix seconds).
    pub loaded_at: i64,
}

impl State {
    fn load(config: &Config, generation: u64) -> Result<State> {
        let settings = config.validate()?;
        let pki = Pki::load(&settings)?;
        let requests = RequestChecker::new(&settings)?;
        let server = ServerIdentity::load(&settings)?;
        let mut nonce = [0u8; 16];
        // OpenSSL reseeds its generator in a forked child, so two workers never draw the same.
        openssl::rand::rand_bytes(&mut nonce).map_err(|e| crate::error::Error::tls("RAND_bytes", e))?;
        Ok(State { settings, pki, requests, server, nonce, generation, loaded_at: system_now() })
    }

    /// A client chain accepted under the state named `verified_under` is still accepted at `now`
    /// without verifying it again: that state is this one (no reload since, in this process: no
    /// CRL, anchor or intermediate changed), none of the chain's own certificates has expired
    /// (`chain_not_after`), and no configured CA or CRL has aged out or come into force
    /// (`Pki::stable_until`). Meaningful only for a `now` no earlier than the acceptance and
    /// than this state's load: session tickets are judged at the system clock, and the peer
    /// cache, whose callers pass their own `now`, checks both (`accepted_still_holds`).
    pub fn verification_holds(&self, verified_under: &[u8; 16], chain_not_after: i64, now: i64) -> bool {
        *verified_under == self.nonce && now <= chain_not_after && now <= self.pki.stable_until()
    }
}

/// Told of every client certificate a TLS handshake refused (reason, message), so a host can log
/// why: the handshake itself only ends with an alert. Called on the handshaking thread.
pub struct HandshakeHook(pub Box<HandshakeFn>);

/// The function a `HandshakeHook` calls: the refusal's reason and message.
pub type HandshakeFn = dyn Fn(Reason, &str) + Send + Sync;

/// A configured guard. Share it behind an `Arc`; every method takes `&self`.
pub struct Guard {
    /// Random, per guard: a session ticket stamped by one guard means nothing to another that
    /// happens to share the ticket keys (nginx can share them across servers). Workers forked
    /// after the guard was built share it; their states differ by `State::nonce`.
    id: u64,
    config: Config,
    state: ArcSwap<State>,
    handshake_hook: ArcSwapOption<HandshakeHook>,
    generation: AtomicU64,
    /// Serialises reloads, so two reloads cannot interleave their file reads.
    reloading: Mutex<()>,
    /// Verdict counters: `own_counters`, or memory the host shares between its processes.
    counters: AtomicPtr<Counters>,
    own_counters: Box<Counters>,
    /// Chains accepted, so a re-check per request is cheap while it still holds.
    accepted_chains: PeerCache,
    /// Full chain verifications done by `check_peer`, for the tests of the cache.
    #[cfg(test)]
    full_verifications: AtomicU64,
}

impl Guard {
    /// Checks the configuration and loads every file it names.
    pub fn new(config: &Config) -> Result<Guard> {
        let state = State::load(config, 1)?;
        let mut id = [0u8; 8];
        openssl::rand::rand_bytes(&mut id).map_err(|e| crate::error::Error::tls("RAND_bytes", e))?;
        Ok(Guard {
            id: u64::from_ne_bytes(id),
            config: config.clone(),
            state: ArcSwap::from_pointee(state),
            handshake_hook: ArcSwapOption::empty(),
            generation: AtomicU64::new(1),
            reloading: Mutex::new(()),
            counters: AtomicPtr::new(std::ptr::null_mut()),
            own_counters: Box::new(Counters::new()),
            accepted_chains: PeerCache::new(),
            #[cfg(test)]
            full_verifications: AtomicU64::new(0),
        })
    }

    /// Re-reads every file; on success the new state replaces the old at once, on failure the old
    /// state stays in force and the error says why.
    pub fn reload(&self) -> Result<()> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        let state = State::load(&self.config, generation)?;
        self.state.store(Arc::new(state));
        self.generation.store(generation, Ordering::Relaxed);
        Ok(())
    }

    /// A guard as a forked worker holds it: the same id, configuration and current state, but
    /// reloading on its own.
    #[cfg(test)]
    pub(crate) fn as_forked(&self) -> Guard {
        Guard {
            id: self.id,
            config: self.config.clone(),
            state: ArcSwap::new(self.state.load_full()),
            handshake_hook: ArcSwapOption::empty(),
            generation: AtomicU64::new(self.generation.load(Ordering::Relaxed)),
            reloading: Mutex::new(()),
            counters: AtomicPtr::new(std::ptr::null_mut()),
            own_counters: Box::new(Counters::new()),
            accepted_chains: PeerCache::new(),
            #[cfg(test)]
            full_verifications: AtomicU64::new(0),
        }
    }

    /// The current state; hold it for the duration of one check (a cheap, lock-free borrow:
    /// no reference-count traffic shared between threads).
    pub fn state(&self) -> arc_swap::Guard<Arc<State>> {
        self.state.load()
    }

    /// The verdict counters in use.
    #[inline(always)]
    pub fn counters(&self) -> &Counters {
        let shared = self.counters.load(Ordering::Acquire);
        // SAFETY: set only by `share_counters`, whose caller keeps the memory alive for the guard.
        if shared.is_null() { &self.own_counters } else { unsafe { &*shared } }
    }

    /// Counts one verdict (one relaxed atomic add).
    #[inline(always)]
    pub fn count(&self, check: Check, reason: Reason) {
        self.counters().count(check, reason);
    }

    /// Counts from now on into `len` bytes at `mem` (zeroed, or counters an earlier guard of
    /// this version used: their counts continue), e.g. memory shared by a host's worker
    /// processes so one status page sees them all.
    ///
    /// # Safety
    /// `mem` is writable, aligned to 8 and stays alive as long as this guard (and every TLS
    /// context using it) lives.
    pub unsafe fn share_counters(&self, mem: *mut u8, len: usize) -> std::result::Result<(), String> {
        let c = Counters::claim(mem, len)?;
        self.counters.store(c as *const Counters as *mut Counters, Ordering::Release);
        Ok(())
    }

    /// This guard's random identity.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Sets (or with `None` clears) the hook told of refused handshakes.
    pub fn set_handshake_hook(&self, hook: Option<HandshakeHook>) {
        self.handshake_hook.store(hook.map(Arc::new));
    }

    /// Tells the hook, if any, that a handshake refused a client certificate.
    pub(crate) fn report_handshake_refusal(&self, reason: Reason, message: &str) {
        if let Some(hook) = self.handshake_hook.load().as_ref() {
            (hook.0)(reason, message);
        }
    }

    /// Judges one request (its `now` already resolved) against the current state.
    pub fn check_request(&self, req: &Request<'_>) -> Verdict {
        let v = self.state.load().requests.check(req);
        self.count(Check::Request, v.reason);
        v
    }

    /// Judges a client certificate chain (leaf, then whatever the peer sent) at `now`. An
    /// acceptance of exactly this chain (same bytes, same order) found in the peer cache is
    /// reused while it holds (see `accepted_still_holds`); anything else is verified in full.
    pub fn check_peer(&self, leaf: &X509Ref, presented: &[X509], now: i64) -> Verdict {
        let state = self.state.load();
        let key = chain_key(leaf, presented);
        let v = match key.as_ref().and_then(|k| self.cached(&state, k, now)) {
            Some(v) => v,
            None => self.verify_peer(&state, key, leaf, presented, now),
        };
        self.count(Check::Certificate, v.reason);
        v
    }

    /// `check_peer` for a chain given as DER certificates (leaf first), parsed within the
    /// current state's limits. The peer cache is asked before parsing: bytes this state
    /// accepted parse, within its limits, to the same chain again. Bytes that do not parse are
    /// refused (and, as before the cache, not counted).
    pub fn check_peer_der(&self, ders: &[&[u8]], now: i64) -> Verdict {
        let state = self.state.load();
        let key = (!ders.is_empty()).then(|| der_chain_key(ders.iter().copied()));
        if let Some(v) = key.as_ref().and_then(|k| self.cached(&state, k, now)) {
            self.count(Check::Certificate, v.reason);
            return v;
        }
        let limits = &state.settings.limits;
        match parse_der_chain(ders, limits.max_peer_certificates, limits.max_peer_chain_bytes) {
            Ok(certs) => {
                let v = self.verify_peer(&state, key, &certs[0], &certs[1..], now);
                self.count(Check::Certificate, v.reason);
                v
            }
            Err(r) => Verdict::refuse(r.reason, r.message, &state.settings.error_code_system),
        }
    }

    /// The verdict of a kept acceptance of the chain `key`, if it still holds.
    fn cached(&self, state: &State, key: &[u8; 32], now: i64) -> Option<Verdict> {
        let accepted = self.accepted_chains.find(key, |a| accepted_still_holds(state, a, now))?;
        Some(Verdict::allow(accepted.message, "", String::new()))
    }

    /// The full verification of `check_peer`; an acceptance is kept under `key`.
    fn verify_peer(&self, state: &State, key: Option<[u8; 32]>, leaf: &X509Ref, presented: &[X509], now: i64) -> Verdict {
        #[cfg(test)]
        self.full_verifications.fetch_add(1, Ordering::Relaxed);
        let chain: Vec<&X509Ref> = presented.iter().map(|c| &**c).collect();
        match state.pki.verify(leaf, &chain, now) {
            Ok(()) => {
                let message = format!("client certificate {} accepted", name_text(leaf.subject_name()));
                if let Some(key) = key {
                    let accepted = Accepted { state: state.nonce, verified_at: now, chain_not_after: chain_not_after(leaf, chain.iter().copied()), message: message.clone() };
                    // Kept only when it would hold even now: one that never can must not
                    // displace one that does.
                    if accepted_still_holds(state, &accepted, now) {
                        self.accepted_chains.keep(key, accepted);
                    }
                }
                Verdict::allow(message, "", String::new())
            }
            // Refusals are never kept: each is verified again, and says why afresh.
            Err(r) => Verdict::refuse(r.reason, r.message, &state.settings.error_code_system),
        }
    }
}

#[cfg(test)]
mod peer_cache_tests;

/// A kept acceptance still holds at `now` under `state`: `State::verification_holds`, and `now`
/// is no earlier than the verification (before it, a certificate may not have been valid yet)
/// nor than the state's load (`Pki::stable_until` counts only what comes into force after the
/// load: before it, a CRL or CA in force at load may not have been yet).
fn accepted_still_holds(state: &State, accepted: &Accepted, now: i64) -> bool {
    state.loaded_at <= accepted.verified_at && accepted.verified_at <= now && state.verification_holds(&accepted.state, accepted.chain_not_after, now)
}

/// Now as Unix seconds, for calls given `now = 0`. A clock before 1970 reads as the far future,
/// so that every certificate and token looks expired (fail closed).
pub fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().min(i64::MAX as u64) as i64)
        .unwrap_or(i64::MAX)
}
