//! `gpcguard_verdict`: the judgement on one request or peer. Boxed: the caller owns it and frees
//! it with `gpcguard_verdict_free`; the strings its accessors return live until then.
//! Accessors given NULL answer as for an internal failure (not allowed, 500), never "allowed".

use std::borrow::Cow;
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::OnceLock;

use super::ffi_boundary;
use crate::verdict::{operation_outcome, Reason, Verdict};

/// A verdict (opaque), with its strings ready for C.
pub struct gpcguard_verdict {
    verdict: Verdict,
    message: CText,
    /// Borrowed from the interaction table (or `""`) for request verdicts: no copy.
    interaction_id: Cow<'static, CStr>,
    /// For refusals, the OperationOutcome, built on the first call of
    /// `gpcguard_verdict_operation_outcome` from the verdict's coding system (hosts that log a
    /// refusal without answering it, or answer it otherwise, never pay for it).
    operation_outcome: OnceLock<Option<CString>>,
    audit_record: CText,
}

/// A string NUL-terminated in its own buffer: the verdict's `String` with a NUL pushed (into
/// the spare byte the checks leave for it), not copied and not shrunk as a `CString` would be.
struct CText(Vec<u8>);

impl CText {
    /// `s` with a NUL appended; a NUL inside (never produced by the checks) becomes `?`, as
    /// [`c_string`] does.
    fn new(s: String) -> CText {
        let mut v = s.into_bytes();
        if v.contains(&0) {
            v.iter_mut().filter(|b| **b == 0).for_each(|b| *b = b'?');
        }
        v.push(0);
        CText(v)
    }

    /// An audit record: NUL-free by construction (`Provenance::record` writes static keys,
    /// plain values and JSON escapes, never a control byte; tested there), so it is not
    /// scanned again here.
    fn audit_record(s: String) -> CText {
        debug_assert!(!s.as_bytes().contains(&0), "a NUL in an audit record");
        let mut v = s.into_bytes();
        v.push(0);
        CText(v)
    }

    fn as_ptr(&self) -> *const c_char {
        self.0.as_ptr().cast()
    }

    /// The text without its NUL (UTF-8: it was a `String` with ASCII bytes replaced).
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0[..self.0.len() - 1]).unwrap_or("")
    }
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
    /// verdict's reason and coding system).
    pub(crate) fn new(mut verdict: Verdict) -> Self {
        let interaction_id = match verdict.interaction_id_c() {
            Some(c) => Cow::Borrowed(c),
            None if verdict.interaction_id.is_empty() => Cow::Borrowed(c""),
            None => Cow::Owned(c_string(verdict.interaction_id.to_owned())),
        };
        gpcguard_verdict {
            message: CText::new(std::mem::take(&mut verdict.message)),
            interaction_id,
            operation_outcome: OnceLock::new(),
            audit_record: CText::audit_record(std::mem::take(&mut verdict.audit_record)),
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
/// Takes the reason as an `int` (any number a C caller passes is defined behaviour), so
/// `gpcguard_reason` values pass unchanged.
#[no_mangle]
pub extern "C" fn gpcguard_reason_name(reason: c_int) -> *const c_char {
    crate::verdict::REASONS
        .iter()
        .find(|a| a.reason as c_int == reason)
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
                        let system = v.verdict.error_code_system()?;
                        let message = v.message.as_str();
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
