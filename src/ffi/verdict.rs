//! `gpcguard_verdict`: the judgement on one request or peer. Boxed: the caller owns it and frees
//! it with `gpcguard_verdict_free`; the strings its accessors return live until then.
//! Accessors given NULL answer as for an internal failure (not allowed, 500), never "allowed".

use std::ffi::{c_char, CString};
use std::sync::{Arc, OnceLock};

use super::ffi_boundary;
use crate::verdict::{operation_outcome, Reason, Verdict};

/// A verdict (opaque), with its strings ready for C.
pub struct gpcguard_verdict {
    verdict: Verdict,
    message: CString,
    interaction_id: CString,
    /// For refusals, the OperationOutcome's coding system; the body itself is built on the first
    /// call of `gpcguard_verdict_operation_outcome` (hosts that log a refusal without answering
    /// it, or answer it otherwise, never pay for it).
    error_code_system: Option<Arc<str>>,
    operation_outcome: OnceLock<Option<CString>>,
    audit_record: CString,
}

/// A C string of `s`, reusing its buffer (no copy); a NUL inside (never produced by the checks)
/// becomes `?`.
fn c_string(s: String) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let s = String::from_utf8_lossy(&e.into_vec()).replace('\0', "?");
        CString::new(s).unwrap_or_default()
    })
}

impl gpcguard_verdict {
    /// The verdict's strings move into the C strings (the accessors read only those and the
    /// verdict's reason).
    pub(crate) fn new(mut verdict: Verdict) -> Self {
        gpcguard_verdict {
            message: c_string(std::mem::take(&mut verdict.message)),
            interaction_id: c_string(std::mem::take(&mut verdict.interaction_id)),
            error_code_system: verdict.error_code_system().cloned(),
            operation_outcome: OnceLock::new(),
            audit_record: c_string(std::mem::take(&mut verdict.audit_record)),
            verdict,
        }
    }
}

/// Borrows the verdict behind a possibly NULL pointer.
fn get<'a>(v: *const gpcguard_verdict) -> Option<&'a gpcguard_verdict> {
    // SAFETY: a non-NULL pointer is a verdict this library returned and the caller has not freed.
    unsafe { v.as_ref() }
}

/// True only when the request or peer is allowed. NULL: false.
#[no_mangle]
pub extern "C" fn gpcguard_verdict_allowed(v: *const gpcguard_verdict) -> bool {
    ffi_boundary!(false, { get(v).is_some_and(|v| v.verdict.allowed()) })
}

/// The HTTP status to answer with: 200 when allowed, 400/422 for request refusals, 495/496 for
/// certificate refusals, 500 for internal failures. NULL: 500.
#[no_mangle]
pub extern "C" fn gpcguard_verdict_http_status(v: *const gpcguard_verdict) -> u16 {
    ffi_boundary!(500, { get(v).map_or(500, |v| v.verdict.http_status()) })
}

/// Why the verdict was reached. NULL: `GPCGUARD_REASON_INTERNAL`.
#[no_mangle]
pub extern "C" fn gpcguard_verdict_reason(v: *const gpcguard_verdict) -> Reason {
    ffi_boundary!(Reason::Internal, { get(v).map_or(Reason::Internal, |v| v.verdict.reason) })
}

/// The static name of a reason, e.g. "JWT_EXPIRED"; "UNKNOWN" for a number that is no reason.
#[no_mangle]
pub extern "C" fn gpcguard_reason_name(reason: Reason) -> *const c_char {
    // Compared as an integer: a C caller may pass any number in this enum's place.
    let code: i32 = unsafe { std::mem::transmute_copy(&reason) };
    crate::verdict::REASONS
        .iter()
        .find(|a| a.reason as i32 == code)
        .map_or(c"UNKNOWN".as_ptr(), |a| a.name_c.as_ptr())
}

/// The Spine error code ("BAD_REQUEST", "INVALID_RESOURCE", ...), "" when allowed; static.
/// NULL: "INTERNAL_SERVER_ERROR".
#[no_mangle]
pub extern "C" fn gpcguard_verdict_error_code(v: *const gpcguard_verdict) -> *const c_char {
    ffi_boundary!(c"INTERNAL_SERVER_ERROR".as_ptr(), {
        get(v).map_or(c"INTERNAL_SERVER_ERROR".as_ptr(), |v| v.verdict.reason.answer().spine_code_c.as_ptr())
    })
}

/// What was checked and what failed, for logs and the OperationOutcome diagnostics; never the
/// token or a query-string value. Owned by the verdict. NULL: "".
#[no_mangle]
pub extern "C" fn gpcguard_verdict_message(v: *const gpcguard_verdict) -> *const c_char {
    ffi_boundary!(c"".as_ptr(), { get(v).map_or(c"".as_ptr(), |v| v.message.as_ptr()) })
}

/// The FHIR OperationOutcome JSON to send as the body of a refusal; NULL when allowed (or `v` is
/// NULL). Owned by the verdict.
#[no_mangle]
pub extern "C" fn gpcguard_verdict_operation_outcome(v: *const gpcguard_verdict) -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        get(v)
            .and_then(|v| {
                v.operation_outcome
                    .get_or_init(|| {
                        let system = v.error_code_system.as_deref()?;
                        let message = v.message.to_str().unwrap_or("");
                        Some(c_string(operation_outcome(v.verdict.reason, message, system)))
                    })
                    .as_ref()
            })
            .map_or(std::ptr::null(), |s| s.as_ptr())
    })
}

/// The interaction ID the request matched, "" when none (and for peer verdicts). Owned by the
/// verdict. NULL: "".
#[no_mangle]
pub extern "C" fn gpcguard_verdict_interaction_id(v: *const gpcguard_verdict) -> *const c_char {
    ffi_boundary!(c"".as_ptr(), { get(v).map_or(c"".as_ptr(), |v| v.interaction_id.as_ptr()) })
}

/// One JSON line of provenance for the audit log (never the query string or the token); "" for
/// peer verdicts. Owned by the verdict. NULL: "".
#[no_mangle]
pub extern "C" fn gpcguard_verdict_audit_record(v: *const gpcguard_verdict) -> *const c_char {
    ffi_boundary!(c"".as_ptr(), { get(v).map_or(c"".as_ptr(), |v| v.audit_record.as_ptr()) })
}

/// Frees a verdict and its strings. NULL is a no-op.
#[no_mangle]
pub extern "C" fn gpcguard_verdict_free(v: *mut gpcguard_verdict) {
    ffi_boundary!((), {
        if !v.is_null() {
            drop(unsafe { Box::from_raw(v) });
        }
    })
}

/// The number of headers to set on every response (`Cache-Control: no-store`, HSTS).
#[no_mangle]
pub extern "C" fn gpcguard_response_header_count() -> usize {
    crate::verdict::RESPONSE_HEADERS.len()
}

/// The name of response header `i` (static), or NULL when `i` is out of range.
#[no_mangle]
pub extern "C" fn gpcguard_response_header_name(i: usize) -> *const c_char {
    crate::verdict::RESPONSE_HEADERS.get(i).map_or(std::ptr::null(), |h| h.0.as_ptr())
}

/// The value of response header `i` (static), or NULL when `i` is out of range.
#[no_mangle]
pub extern "C" fn gpcguard_response_header_value(i: usize) -> *const c_char {
    crate::verdict::RESPONSE_HEADERS.get(i).map_or(std::ptr::null(), |h| h.1.as_ptr())
}
