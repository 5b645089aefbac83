//! The C ABI. Nothing here knows a GP Connect rule: it checks pointers, contains panics, converts
//! between C and Rust types and calls the domain modules.
//!
//! Every exported body runs inside [`ffi_boundary!`], so a panic becomes `GPCGUARD_PANIC` and never
//! unwinds into nginx, httpd or the JVM; pointers go through the checked helpers below.

#![allow(non_camel_case_types)]
// The exported functions are called from C, where `unsafe` means nothing; each checks its
// pointers explicitly (require_non_null!, bytes_arg, str_arg) before any dereference.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr};

use crate::error::{Error, ErrorKind};

pub mod config;
pub mod guard;
pub mod peer;
pub mod request;
pub mod status;
pub mod tls;
pub mod verdict;

/// The outcome of a call. A refused request or certificate is `GPCGUARD_OK` with a verdict that
/// is not allowed; these codes say only that the call itself could not be made.
/// Numbers are stable and grouped: 0 success, 1-99 the call, 100-199 configuration,
/// 200-299 files and PKI, 300-399 TLS.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum gpcguard_result {
    /// Success.
    GPCGUARD_OK = 0,
    /// A required pointer was NULL.
    GPCGUARD_NULL_PARAMETER = 1,
    /// An argument is unusable (not UTF-8, out of range, too large).
    GPCGUARD_INVALID_ARGUMENT = 2,
    /// The library panicked; the call had no effect. Please report it.
    GPCGUARD_PANIC = 9,
    /// An internal failure; the call had no effect.
    GPCGUARD_INTERNAL = 10,
    /// Unknown configuration key.
    GPCGUARD_CONFIG_UNKNOWN_KEY = 100,
    /// A configuration value of the wrong type or out of range.
    GPCGUARD_CONFIG_INVALID_VALUE = 101,
    /// A required configuration key is not set.
    GPCGUARD_CONFIG_MISSING_KEY = 102,
    /// The configuration file is not valid TOML.
    GPCGUARD_CONFIG_SYNTAX = 103,
    /// A file named by the configuration could not be read.
    GPCGUARD_FILE_UNREADABLE = 200,
    /// A PEM/DER file holds no usable certificate, key or CRL.
    GPCGUARD_PEM_INVALID = 201,
    /// The server private key does not match the server certificate.
    GPCGUARD_KEY_MISMATCH = 202,
    /// A trust anchor or intermediate file holds a certificate that is not a CA.
    GPCGUARD_CA_INVALID = 203,
    /// A CRL is not issued (signed) by a configured CA, or is otherwise unusable.
    GPCGUARD_CRL_INVALID = 204,
    /// An OpenSSL call failed.
    GPCGUARD_TLS_ERROR = 300,
}

impl From<ErrorKind> for gpcguard_result {
    fn from(kind: ErrorKind) -> Self {
        use gpcguard_result::*;
        match kind {
            ErrorKind::UnknownKey => GPCGUARD_CONFIG_UNKNOWN_KEY,
            ErrorKind::InvalidValue => GPCGUARD_CONFIG_INVALID_VALUE,
            ErrorKind::MissingKey => GPCGUARD_CONFIG_MISSING_KEY,
            ErrorKind::Syntax => GPCGUARD_CONFIG_SYNTAX,
            ErrorKind::File => GPCGUARD_FILE_UNREADABLE,
            ErrorKind::Pem => GPCGUARD_PEM_INVALID,
            ErrorKind::KeyMismatch => GPCGUARD_KEY_MISMATCH,
            ErrorKind::Ca => GPCGUARD_CA_INVALID,
            ErrorKind::Crl => GPCGUARD_CRL_INVALID,
            ErrorKind::Tls => GPCGUARD_TLS_ERROR,
            ErrorKind::Argument => GPCGUARD_INVALID_ARGUMENT,
        }
    }
}

/// The static, NUL-terminated name of a result code, e.g. "GPCGUARD_NULL_PARAMETER"; for a number
/// that is no result code, "GPCGUARD_UNKNOWN_RESULT". Takes the code as an `int` (any number a C
/// caller passes is defined behaviour), so `gpcguard_result` values pass unchanged.
#[no_mangle]
pub extern "C" fn gpcguard_result_name(result: c_int) -> *const c_char {
    use gpcguard_result::*;
    const NAMES: &[(gpcguard_result, &CStr)] = &[
        (GPCGUARD_OK, c"GPCGUARD_OK"),
        (GPCGUARD_NULL_PARAMETER, c"GPCGUARD_NULL_PARAMETER"),
        (GPCGUARD_INVALID_ARGUMENT, c"GPCGUARD_INVALID_ARGUMENT"),
        (GPCGUARD_PANIC, c"GPCGUARD_PANIC"),
        (GPCGUARD_INTERNAL, c"GPCGUARD_INTERNAL"),
        (GPCGUARD_CONFIG_UNKNOWN_KEY, c"GPCGUARD_CONFIG_UNKNOWN_KEY"),
        (GPCGUARD_CONFIG_INVALID_VALUE, c"GPCGUARD_CONFIG_INVALID_VALUE"),
        (GPCGUARD_CONFIG_MISSING_KEY, c"GPCGUARD_CONFIG_MISSING_KEY"),
        (GPCGUARD_CONFIG_SYNTAX, c"GPCGUARD_CONFIG_SYNTAX"),
        (GPCGUARD_FILE_UNREADABLE, c"GPCGUARD_FILE_UNREADABLE"),
        (GPCGUARD_PEM_INVALID, c"GPCGUARD_PEM_INVALID"),
        (GPCGUARD_KEY_MISMATCH, c"GPCGUARD_KEY_MISMATCH"),
        (GPCGUARD_CA_INVALID, c"GPCGUARD_CA_INVALID"),
        (GPCGUARD_CRL_INVALID, c"GPCGUARD_CRL_INVALID"),
        (GPCGUARD_TLS_ERROR, c"GPCGUARD_TLS_ERROR"),
    ];
    NAMES.iter().find(|(r, _)| *r as c_int == result).map_or(c"GPCGUARD_UNKNOWN_RESULT", |(_, n)| *n).as_ptr()
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records the detail of a failed call for `gpcguard_last_error` and returns its code.
pub(crate) fn fail(result: gpcguard_result, detail: impl Into<String>) -> gpcguard_result {
    let detail = detail.into();
    LAST_ERROR.with(|e| *e.borrow_mut() = detail);
    result
}

pub(crate) fn fail_with(e: Error) -> gpcguard_result {
    fail(e.kind.into(), e.message)
}

/// Copies the detail of the last failed call on this thread into `buf` (`len` bytes), truncated
/// and always NUL-terminated when `len > 0`, and returns the detail's full length in bytes without
/// the NUL (as snprintf does). `buf` may be NULL when `len` is 0, to ask for the length. Returns 0
/// when no call on this thread has failed.
#[no_mangle]
pub extern "C" fn gpcguard_last_error(buf: *mut c_char, len: usize) -> usize {
    let copied = std::panic::catch_unwind(|| {
        LAST_ERROR.with(|e| {
            let e = e.borrow();
            let bytes = e.as_bytes();
            if !buf.is_null() && len > 0 {
                let n = bytes.len().min(len - 1);
                // SAFETY: the caller gives `len` writable bytes at `buf`.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
                    *buf.add(n) = 0;
                }
            }
            bytes.len()
        })
    });
    copied.unwrap_or(0)
}

/// Runs an exported function's body: a panic becomes `GPCGUARD_PANIC` (or the given fallback for
/// functions that do not return a result) and never unwinds into the host.
macro_rules! ffi_boundary {
    ($body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| -> $crate::ffi::gpcguard_result { $body })) {
            Ok(r) => r,
            Err(_) => $crate::ffi::fail($crate::ffi::gpcguard_result::GPCGUARD_PANIC, "gpcguard panicked; the call had no effect"),
        }
    };
    ($fallback:expr, $body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(r) => r,
            Err(_) => $fallback,
        }
    };
}
pub(crate) use ffi_boundary;

/// Returns early with `GPCGUARD_NULL_PARAMETER` when a required pointer is NULL.
macro_rules! require_non_null {
    ($($p:ident),+) => {
        $( if $p.is_null() {
            return $crate::ffi::fail($crate::ffi::gpcguard_result::GPCGUARD_NULL_PARAMETER,
                concat!("`", stringify!($p), "` is NULL"));
        } )+
    };
}
pub(crate) use require_non_null;

/// Checks an out-pointer and sets `*out` to NULL, so that every failure leaves it NULL (API.md);
/// only success writes the product.
macro_rules! clear_out {
    ($out:ident) => {
        $crate::ffi::require_non_null!($out);
        // SAFETY: checked non-NULL; the caller gives a writable pointer.
        unsafe { *$out = std::ptr::null_mut() };
    };
}
pub(crate) use clear_out;

/// Borrows a NUL-terminated UTF-8 string argument (configuration keys, values, paths).
///
/// # Safety
/// `p` is non-NULL and points to a NUL-terminated string that outlives the returned borrow.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, gpcguard_result> {
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| fail(gpcguard_result::GPCGUARD_INVALID_ARGUMENT, format!("`{what}` is not UTF-8")))
}

/// Borrows a (pointer, length) byte argument; a NULL pointer is allowed only with length 0.
///
/// # Safety
/// When non-NULL, `p` points to `len` readable bytes that outlive the returned borrow.
pub(crate) unsafe fn bytes_arg<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], gpcguard_result> {
    if p.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(fail(gpcguard_result::GPCGUARD_NULL_PARAMETER, format!("`{what}` is NULL with a non-zero length")));
    }
    if len > isize::MAX as usize {
        return Err(fail(gpcguard_result::GPCGUARD_INVALID_ARGUMENT, format!("`{what}` length is impossible")));
    }
    Ok(std::slice::from_raw_parts(p, len))
}

/// Writes a boxed product through an out-pointer (only on success: API.md).
///
/// # Safety
/// `out` is non-NULL and writable.
pub(crate) unsafe fn write_out<T>(out: *mut *mut T, value: T) -> gpcguard_result {
    *out = Box::into_raw(Box::new(value));
    gpcguard_result::GPCGUARD_OK
}

/// Test-only (feature `test-panic`, never in a shipped build): panics inside `function` when the
/// environment variable GPCGUARD_TEST_PANIC names it, to prove the panic boundary of a function
/// with an out-pointer while it holds a state snapshot (c-tests/panic_containment.c).
#[cfg(feature = "test-panic")]
pub(crate) fn test_panic_point(function: &str) {
    if std::env::var_os("GPCGUARD_TEST_PANIC").is_some_and(|v| v == function) {
        panic!("test-panic feature: deliberate panic in {function}");
    }
}

/// The library version, e.g. "0.1.0"; static.
#[no_mangle]
pub extern "C" fn gpcguard_version() -> *const c_char {
    ffi_boundary!(c"unknown".as_ptr(), {
        #[cfg(feature = "test-panic")]
        if std::env::var_os("GPCGUARD_TEST_PANIC").is_some() {
            panic!("test-panic feature: deliberate panic in gpcguard_version");
        }
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}
