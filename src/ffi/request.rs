//! `gpcguard_check_request`: one request judged. The request and its headers are borrowed for
//! the call only; the verdict written to `*out` is the caller's (`gpcguard_verdict_free`).

use std::ffi::c_char;
use std::mem::MaybeUninit;

use super::guard::gpcguard_guard;
use super::verdict::gpcguard_verdict;
use super::{clear_out, bytes_arg, ffi_boundary, gpcguard_result, require_non_null, write_out};
use crate::guard::system_now;
use crate::request::Request;

/// Headers borrowed on the stack without allocating; more than this many are borrowed into a
/// vector.
const STACK_HEADERS: usize = 32;

/// Borrows one header's name and value.
///
/// # Safety
/// As for [`bytes_arg`], for both of the header's (pointer, length) pairs.
unsafe fn header_arg<'a>(h: &gpcguard_header) -> Result<(&'a [u8], &'a [u8]), gpcguard_result> {
    Ok((bytes_arg(h.name.cast(), h.name_len, "header name")?, bytes_arg(h.value.cast(), h.value_len, "header value")?))
}

/// One request header as received: `name_len` bytes at `name`, `value_len` bytes at `value`
/// (no NUL terminator needed; NULL allowed with length 0).
#[repr(C)]
pub struct gpcguard_header {
    pub name: *const c_char,
    pub name_len: usize,
    pub value: *const c_char,
    pub value_len: usize,
}

/// One request: method, target (path and query exactly as received, e.g.
/// `/A1/STU3/1/gpconnect/Patient?identifier=...`), the headers, and `now` in Unix seconds
/// (0 = the system clock).
#[repr(C)]
pub struct gpcguard_request {
    pub method: *const c_char,
    pub method_len: usize,
    pub target: *const c_char,
    pub target_len: usize,
    pub headers: *const gpcguard_header,
    pub header_count: usize,
    pub now: i64,
}

/// Judges one request against the SSP header, interaction, JWT and scope rules, in the order
/// API.md settles (size limits, SSP headers, interaction, Authorization/JWT envelope, claims,
/// times, scope; the first failure decides), and writes the verdict to `*out`. A refusal is
/// `GPCGUARD_OK` with a verdict that is not allowed; answer it with the verdict's status and
/// OperationOutcome. The guard's current state is used (a reload during the call does not
/// affect it). Safe to call from many threads at once.
/// Errors: `GPCGUARD_NULL_PARAMETER` (a NULL `guard`, `req` or `out`, or a NULL pointer with a
/// non-zero length inside `req`).
#[no_mangle]
pub extern "C" fn gpcguard_check_request(
    guard: *const gpcguard_guard,
    req: *const gpcguard_request,
    out: *mut *mut gpcguard_verdict,
) -> gpcguard_result {
    ffi_boundary!({
        clear_out!(out);
        require_non_null!(guard, req);
        let req = unsafe { &*req };
        let guard = unsafe { &(*guard).inner };
        let state = guard.state();
        let (method, target) = match unsafe {
            (bytes_arg(req.method.cast(), req.method_len, "method"), bytes_arg(req.target.cast(), req.target_len, "target"))
        } {
            (Ok(m), Ok(t)) => (m, t),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        if req.headers.is_null() && req.header_count > 0 {
            return super::fail(gpcguard_result::GPCGUARD_NULL_PARAMETER, "`headers` is NULL with a non-zero header_count");
        }
        // Read one header past the limit at most: enough for the checker to refuse the request
        // as too large, without work proportional to a hostile count.
        let examined = req.header_count.min(state.settings.limits.max_header_count.saturating_add(1));
        let raw = if examined == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(req.headers, examined) } };
        // The usual request's headers are borrowed into an array on the stack; only a request
        // with more than STACK_HEADERS of them pays for an allocation.
        // (Left uninitialised: filling 32 empty pairs first would cost more than the copying.)
        let mut on_stack = [const { MaybeUninit::<(&[u8], &[u8])>::uninit() }; STACK_HEADERS];
        let mut on_heap = Vec::new();
        let headers: &[(&[u8], &[u8])] = if examined <= STACK_HEADERS {
            for (i, (h, slot)) in raw.iter().zip(on_stack.iter_mut()).enumerate() {
                match unsafe { header_arg(h) } {
                    Ok(pair) => _ = slot.write(pair),
                    Err(r) => return super::fail(r, format!("header {i}: a NULL pointer with a non-zero length")),
                }
            }
            // SAFETY: the loop wrote the first `examined` slots (`raw` has `examined` headers, and
            // returned before reading any slot it did not write).
            unsafe { std::slice::from_raw_parts(on_stack.as_ptr().cast(), examined) }
        } else {
            on_heap.reserve_exact(examined);
            for (i, h) in raw.iter().enumerate() {
                match unsafe { header_arg(h) } {
                    Ok(pair) => on_heap.push(pair),
                    Err(r) => return super::fail(r, format!("header {i}: a NULL pointer with a non-zero length")),
                }
            }
            &on_heap
        };
        let now = if req.now == 0 { system_now() } else { req.now };
        let request = Request { method, target, headers, now };
        let verdict = state.requests.check(&request);
        guard.count(crate::status::Check::Request, verdict.reason);
        unsafe { write_out(out, gpcguard_verdict::new(verdict)) }
    })
}
