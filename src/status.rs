//! Live status of a guard, for operators' monitoring: verdicts counted by check and reason since
//! the counters started (they belong to the guard, so they survive `reload`; a host may put them
//! in memory shared by its worker processes), the state's generation and load time, and how long
//! each configured CA and CRL has left. [`Snapshot::prometheus`] renders the Prometheus text
//! exposition format, so hosts serve it without formatting anything themselves.
//!
//! Counting is one relaxed atomic add on the verdict path: no lock, no allocation.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::guard::Guard;
use crate::connection::pki::{name_text, unix_time};
use crate::verdict::{Reason, REASONS};

/// What was judged: a request (`check_request`) or a client certificate (a handshake or a
/// `check_peer_*` call).
///
/// cbindgen:prefix-with-name
/// cbindgen:rename-all=ScreamingSnakeCase
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// A request (`gpcguard_check_request`).
    Request = 0,
    /// A client certificate (a TLS handshake or a `gpcguard_check_peer_*` call).
    Certificate = 1,
}

/// The label value of each check, in `Check` order.
pub const CHECK_NAMES: [&str; 2] = ["request", "certificate"];

/// Marks counter memory laid out as this version of [`Counters`] ("gpcgctr" and a layout number).
const MAGIC: u64 = u64::from_be_bytes(*b"gpcgctr\x01");

/// The verdict counters: plain atomics, so the block works in memory shared between processes.
#[repr(C)]
pub struct Counters {
    magic: AtomicU64,
    counts: [[AtomicU64; REASON_SLOTS]; 2],
}

/// Room for every reason's row, with spare rows so that new reasons keep the layout.
pub const REASON_SLOTS: usize = 48;
const _: () = assert!(REASONS.len() <= REASON_SLOTS);

impl Counters {
    pub const SIZE: usize = std::mem::size_of::<Counters>();

    pub fn new() -> Counters {
        Counters { magic: AtomicU64::new(MAGIC), counts: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))) }
    }

    #[inline(always)]
    pub fn count(&self, check: Check, reason: Reason) {
        self.counts[check as usize][reason.row()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, check: Check, reason: Reason) -> u64 {
        self.counts[check as usize][reason.row()].load(Ordering::Relaxed)
    }

    /// Claims `len` bytes at `mem` (zeroed, or already used as counters of this layout) as a
    /// counter block: a fresh block is marked, a used one keeps its counts.
    ///
    /// # Safety
    /// `mem` points to `len` bytes, writable and alive as long as anything counts into them.
    pub unsafe fn claim<'a>(mem: *mut u8, len: usize) -> Result<&'a Counters, String> {
        if mem.is_null() || len < Self::SIZE {
            return Err(format!("counter memory must be at least {} bytes", Self::SIZE));
        }
        if (mem as usize) % std::mem::align_of::<Counters>() != 0 {
            return Err(format!("counter memory must be aligned to {} bytes", std::mem::align_of::<Counters>()));
        }
        let c = &*(mem as *const Counters);
        match c.magic.compare_exchange(0, MAGIC, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(c),
            Err(m) if m == MAGIC => Ok(c),
            Err(_) => Err("counter memory is neither zeroed nor counters of this gpcguard version".into()),
        }
    }
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}

/// One configured CA or CRL and its time left.
#[derive(Clone, Debug)]
pub struct Aging {
    /// CA: its subject; CRL: its issuer's subject.
    pub name: String,
    /// CA: "trust_anchor" or "intermediate"; CRL: the file it was read from.
    pub detail: String,
    /// Seconds from `now` to the CA's notAfter or the CRL's nextUpdate (negative: past; i64::MAX:
    /// a CRL without nextUpdate).
    pub seconds_left: i64,
    /// CRLs: how many certificates it revokes.
    pub entries: usize,
}

/// The status of a guard at one moment.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub now: i64,
    /// counts[check][reason row].
    pub counts: [[u64; REASON_SLOTS]; 2],
    pub generation: u64,
    pub loaded_at: i64,
    pub cas: Vec<Aging>,
    pub crls: Vec<Aging>,
    prometheus: std::sync::OnceLock<String>,
}

impl Snapshot {
    pub fn of(guard: &Guard, now: i64) -> Snapshot {
        let counters = guard.counters();
        let counts = std::array::from_fn(|check| std::array::from_fn(|row| counters.counts[check][row].load(Ordering::Relaxed)));
        let state = guard.state();
        let ca = |role: &str, c: &openssl::x509::X509| Aging {
            name: name_text(c.subject_name()),
            detail: role.to_owned(),
            seconds_left: unix_time(c.not_after()).saturating_sub(now),
            entries: 0,
        };
        let mut cas: Vec<Aging> = state.pki.anchors().iter().map(|c| ca("trust_anchor", c)).collect();
        cas.extend(state.pki.intermediates().iter().map(|c| ca("intermediate", c)));
        let crls = state
            .pki
            .crls()
            .iter()
            .map(|c| Aging {
                name: c.issuer.clone(),
                detail: c.source.clone(),
                seconds_left: c.next_update_unix.map_or(i64::MAX, |n| n.saturating_sub(now)),
                entries: c.entries,
            })
            .collect();
        Snapshot { now, counts, generation: state.generation, loaded_at: state.loaded_at, cas, crls, prometheus: Default::default() }
    }

    pub fn verdicts(&self, check: Check, reason: Reason) -> u64 {
        self.counts[check as usize][reason.row()]
    }

    /// The Prometheus text exposition format (version 0.0.4), made once per snapshot.
    pub fn prometheus(&self) -> &str {
        self.prometheus.get_or_init(|| self.render())
    }

    fn render(&self) -> String {
        let mut o = String::with_capacity(4096);
        o.push_str("# HELP gpcguard_verdicts_total Verdicts since the counters started, by what was checked and the reason.\n# TYPE gpcguard_verdicts_total counter\n");
        for (check, name) in CHECK_NAMES.iter().enumerate() {
            for (row, answer) in REASONS.iter().enumerate() {
                let cert_reason = (answer.reason as i32) >= 100 && (answer.reason as i32) < 200;
                let request_reason = (answer.reason as i32) < 100;
                // Only the reasons each check can give (and ALLOWED, INTERNAL for both).
                let fits = match check {
                    0 => request_reason || answer.reason == Reason::Internal,
                    _ => cert_reason || answer.reason == Reason::Allowed || answer.reason == Reason::Internal,
                };
                if fits {
                    let _ = writeln!(o, "gpcguard_verdicts_total{{check=\"{name}\",reason=\"{}\"}} {}", answer.name, self.counts[check][row]);
                }
            }
        }
        o.push_str("# HELP gpcguard_state_generation Generation of the loaded configuration (1 at start, +1 per successful reload).\n# TYPE gpcguard_state_generation gauge\n");
        let _ = writeln!(o, "gpcguard_state_generation {}", self.generation);
        o.push_str("# HELP gpcguard_state_loaded_timestamp_seconds When the current generation was loaded (Unix seconds).\n# TYPE gpcguard_state_loaded_timestamp_seconds gauge\n");
        let _ = writeln!(o, "gpcguard_state_loaded_timestamp_seconds {}", self.loaded_at);
        o.push_str("# HELP gpcguard_ca_not_after_seconds Seconds until the configured CA certificate's notAfter (negative: expired).\n# TYPE gpcguard_ca_not_after_seconds gauge\n");
        for ca in &self.cas {
            let _ = writeln!(o, "gpcguard_ca_not_after_seconds{{subject=\"{}\",role=\"{}\"}} {}", label(&ca.name), label(&ca.detail), ca.seconds_left);
        }
        o.push_str("# HELP gpcguard_crl_next_update_seconds Seconds until the CRL's nextUpdate (negative: stale, clients it covers are refused).\n# TYPE gpcguard_crl_next_update_seconds gauge\n");
        for crl in &self.crls {
            let value = if crl.seconds_left == i64::MAX { "+Inf".to_owned() } else { crl.seconds_left.to_string() };
            let _ = writeln!(o, "gpcguard_crl_next_update_seconds{{issuer=\"{}\",file=\"{}\"}} {value}", label(&crl.name), label(&crl.detail));
        }
        o.push_str("# HELP gpcguard_crl_entries Certificates the CRL revokes.\n# TYPE gpcguard_crl_entries gauge\n");
        for crl in &self.crls {
            let _ = writeln!(o, "gpcguard_crl_entries{{issuer=\"{}\",file=\"{}\"}} {}", label(&crl.name), label(&crl.detail), crl.entries);
        }
        o
    }
}

/// A label value escaped as the text format requires (backslash, double quote, line feed).
fn label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("CN=a\"b\\c\nd"), "CN=a\\\"b\\\\c\\nd");
    }

    #[test]
    fn claimed_memory_keeps_its_counts_and_refuses_foreign_bytes() {
        let mut mem = vec![0u64; Counters::SIZE / 8 + 1];
        let p = mem.as_mut_ptr().cast::<u8>();
        let c = unsafe { Counters::claim(p, Counters::SIZE) }.unwrap();
        c.count(Check::Request, Reason::WrongRecipient);
        let again = unsafe { Counters::claim(p, Counters::SIZE) }.unwrap();
        assert_eq!(again.get(Check::Request, Reason::WrongRecipient), 1);
        assert!(unsafe { Counters::claim(p, Counters::SIZE - 1) }.is_err());
        assert!(unsafe { Counters::claim(p.add(1), Counters::SIZE) }.is_err());
        mem[0] = 7;
        assert!(unsafe { Counters::claim(p, Counters::SIZE) }.is_err());
    }
}
