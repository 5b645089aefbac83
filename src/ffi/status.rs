//! `gpcguard_status`: a snapshot of a guard for monitoring (verdict counters, state generation,
//! CA and CRL ages) and its Prometheus text. Boxed: the caller owns it and frees it with
//! `gpcguard_status_free`; the strings its accessors return live until then. Also the call that
//! lets a multi-process host count into shared memory.

use std::ffi::{c_char, c_void, CString};

use super::guard::gpcguard_guard;
use super::{clear_out, ffi_boundary, gpcguard_result, require_non_null, write_out};
use crate::guard::system_now;
use crate::status::{Check, Counters, Snapshot};
use crate::verdict::REASONS;

/// A status snapshot (opaque).
pub struct gpcguard_status {
    snapshot: Snapshot,
    ca_names: Vec<CString>,
    crl_issuers: Vec<CString>,
    crl_files: Vec<CString>,
    prometheus: CString,
}

fn c_text(s: &str) -> CString {
    CString::new(s.replace('\0', "?")).unwrap_or_default()
}

/// The size in bytes of a verdict counter block, for `gpcguard_guard_share_counters`.
#[no_mangle]
pub extern "C" fn gpcguard_status_counters_size() -> usize {
    Counters::SIZE
}

/// Makes the guard count its verdicts into `len` bytes at `mem` from now on, instead of its own
/// counters: memory a host shares between its worker processes (nginx's shared zones, an
/// anonymous shared mapping made before Apache forks), so that one status page shows every
/// process's verdicts. The memory must be zeroed when first used, or hold the counters an
/// earlier guard of this library version counted into (they continue: a host reload keeps
/// them); several guards may share one block. `len` must be at least
/// `gpcguard_status_counters_size()` and `mem` aligned to 8 bytes. The memory stays the host's:
/// it must stay mapped and writable as long as the guard and every TLS context using it live.
/// Counting is one relaxed atomic add per verdict, with no lock.
/// Errors: `GPCGUARD_NULL_PARAMETER`; `GPCGUARD_INVALID_ARGUMENT` (too small, misaligned, or
/// bytes that are neither zero nor counters of this version).
#[no_mangle]
pub extern "C" fn gpcguard_guard_share_counters(guard: *const gpcguard_guard, mem: *mut c_void, len: usize) -> gpcguard_result {
    ffi_boundary!({
        require_non_null!(guard, mem);
        // SAFETY: the host promises `len` writable bytes at `mem` for the guard's lifetime.
        match unsafe { (*guard).inner.share_counters(mem.cast(), len) } {
            Ok(()) => gpcguard_result::GPCGUARD_OK,
            Err(m) => super::fail(gpcguard_result::GPCGUARD_INVALID_ARGUMENT, m),
        }
    })
}

/// Takes a snapshot of the guard's status at Unix time `now` (0 = the system clock): verdicts
/// counted since the counters started, by check and reason (they survive
/// `gpcguard_guard_reload`), the current state's generation and load time, and the seconds each
/// configured CA has to its notAfter and each CRL to its nextUpdate. The caller frees it with
/// `gpcguard_status_free`.
/// Errors: `GPCGUARD_NULL_PARAMETER`.
#[no_mangle]
pub extern "C" fn gpcguard_guard_status(guard: *const gpcguard_guard, now: i64, out: *mut *mut gpcguard_status) -> gpcguard_result {
    ffi_boundary!({
        clear_out!(out);
        require_non_null!(guard);
        let now = if now == 0 { system_now() } else { now };
        let snapshot = Snapshot::of(unsafe { &(*guard).inner }, now);
        let status = gpcguard_status {
            ca_names: snapshot.cas.iter().map(|c| c_text(&c.name)).collect(),
            crl_issuers: snapshot.crls.iter().map(|c| c_text(&c.name)).collect(),
            crl_files: snapshot.crls.iter().map(|c| c_text(&c.detail)).collect(),
            prometheus: c_text(snapshot.prometheus()),
            snapshot,
        };
        unsafe { write_out(out, status) }
    })
}

/// Releases a snapshot. NULL is a no-op.
#[no_mangle]
pub extern "C" fn gpcguard_status_free(status: *mut gpcguard_status) {
    ffi_boundary!((), {
        if !status.is_null() {
            drop(unsafe { Box::from_raw(status) });
        }
    })
}

/// The status as Prometheus text exposition format (version 0.0.4; serve it as
/// `text/plain; version=0.0.4`): `gpcguard_verdicts_total{check="request|certificate",reason="..."}`,
/// `gpcguard_state_generation`, `gpcguard_state_loaded_timestamp_seconds`,
/// `gpcguard_ca_not_after_seconds{subject,role}`, `gpcguard_crl_next_update_seconds{issuer,file}`
/// and `gpcguard_crl_entries{issuer,file}`. Owned by the snapshot; "" for NULL.
#[no_mangle]
pub extern "C" fn gpcguard_status_prometheus(status: *const gpcguard_status) -> *const c_char {
    ffi_boundary!(c"".as_ptr(), {
        if status.is_null() {
            return c"".as_ptr();
        }
        unsafe { (&*status).prometheus.as_ptr() }
    })
}

/// Verdicts counted for `check` (a `gpcguard_check` value) with `reason` (a `gpcguard_reason`
/// value) until the snapshot; 0 for NULL or numbers that are no check or reason. Both are taken
/// as integers so that any number a C caller passes is defined behaviour.
#[no_mangle]
pub extern "C" fn gpcguard_status_verdicts(status: *const gpcguard_status, check: i32, reason: i32) -> u64 {
    ffi_boundary!(0, {
        if status.is_null() {
            return 0;
        }
        let check = match check {
            x if x == Check::Request as i32 => Check::Request,
            x if x == Check::Certificate as i32 => Check::Certificate,
            _ => return 0,
        };
        match REASONS.iter().find(|a| a.reason as i32 == reason) {
            Some(a) => unsafe { (&*status).snapshot.verdicts(check, a.reason) },
            None => 0,
        }
    })
}

/// The generation of the guard's state at the snapshot (1 at start, +1 per successful
/// reload); 0 for NULL.
#[no_mangle]
pub extern "C" fn gpcguard_status_generation(status: *const gpcguard_status) -> u64 {
    ffi_boundary!(0, { if status.is_null() { 0 } else { unsafe { (&*status).snapshot.generation } } })
}

/// When that state was loaded (Unix seconds); 0 for NULL.
#[no_mangle]
pub extern "C" fn gpcguard_status_loaded_at(status: *const gpcguard_status) -> i64 {
    ffi_boundary!(0, { if status.is_null() { 0 } else { unsafe { (&*status).snapshot.loaded_at } } })
}

/// How many configured CA certificates (trust anchors, then intermediates) the snapshot lists.
#[no_mangle]
pub extern "C" fn gpcguard_status_ca_count(status: *const gpcguard_status) -> usize {
    ffi_boundary!(0, { if status.is_null() { 0 } else { unsafe { (&*status).ca_names.len() } } })
}

/// The subject of CA `i`, owned by the snapshot; NULL when `i` is out of range.
#[no_mangle]
pub extern "C" fn gpcguard_status_ca_subject(status: *const gpcguard_status, i: usize) -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        if status.is_null() {
            return std::ptr::null();
        }
        unsafe { (&*status).ca_names.get(i).map_or(std::ptr::null(), |c| c.as_ptr()) }
    })
}

/// Seconds from the snapshot's `now` to CA `i`'s notAfter (negative when expired); INT64_MIN
/// when `i` is out of range.
#[no_mangle]
pub extern "C" fn gpcguard_status_ca_seconds_to_not_after(status: *const gpcguard_status, i: usize) -> i64 {
    ffi_boundary!(i64::MIN, {
        if status.is_null() {
            return i64::MIN;
        }
        unsafe { (&*status).snapshot.cas.get(i).map_or(i64::MIN, |c| c.seconds_left) }
    })
}

/// How many configured CRLs the snapshot lists.
#[no_mangle]
pub extern "C" fn gpcguard_status_crl_count(status: *const gpcguard_status) -> usize {
    ffi_boundary!(0, { if status.is_null() { 0 } else { unsafe { (&*status).crl_issuers.len() } } })
}

/// The subject of CRL `i`'s issuer, owned by the snapshot; NULL when `i` is out of range.
#[no_mangle]
pub extern "C" fn gpcguard_status_crl_issuer(status: *const gpcguard_status, i: usize) -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        if status.is_null() {
            return std::ptr::null();
        }
        unsafe { (&*status).crl_issuers.get(i).map_or(std::ptr::null(), |c| c.as_ptr()) }
    })
}

/// The file CRL `i` was read from, owned by the snapshot; NULL when `i` is out of range.
#[no_mangle]
pub extern "C" fn gpcguard_status_crl_file(status: *const gpcguard_status, i: usize) -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        if status.is_null() {
            return std::ptr::null();
        }
        unsafe { (&*status).crl_files.get(i).map_or(std::ptr::null(), |c| c.as_ptr()) }
    })
}

/// Seconds from the snapshot's `now` to CRL `i`'s nextUpdate (negative when stale: clients it
/// covers are refused); INT64_MAX for a CRL without nextUpdate; INT64_MIN when `i` is out of
/// range.
#[no_mangle]
pub extern "C" fn gpcguard_status_crl_seconds_to_next_update(status: *const gpcguard_status, i: usize) -> i64 {
    ffi_boundary!(i64::MIN, {
        if status.is_null() {
            return i64::MIN;
        }
        unsafe { (&*status).snapshot.crls.get(i).map_or(i64::MIN, |c| c.seconds_left) }
    })
}
