//! `gpcguard_guard`: a loaded configuration, shared and reference counted. The caller owns its
//! handle and frees it with `gpcguard_guard_free`; TLS contexts it was applied to hold their own
//! reference, so freeing the handle while they live is safe.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::config::gpcguard_config;
use super::{clear_out, fail_with, ffi_boundary, gpcguard_result, require_non_null, write_out};
use crate::guard::{Guard, HandshakeHook};
use crate::verdict::Reason;

/// A configured guard (opaque). Thread-safe: share one across threads and forked workers.
pub struct gpcguard_guard {
    pub(crate) inner: Arc<Guard>,
}

/// Checks the configuration `cfg` and loads every file it names (trust anchors, intermediates,
/// CRLs, server identity) into a new guard in `*out`. `cfg` is only read; the caller still owns
/// and frees it. The caller frees the guard with `gpcguard_guard_free`.
/// Errors: `GPCGUARD_NULL_PARAMETER`, `GPCGUARD_CONFIG_MISSING_KEY`, `GPCGUARD_CONFIG_INVALID_VALUE`,
/// `GPCGUARD_FILE_UNREADABLE`, `GPCGUARD_PEM_INVALID`, `GPCGUARD_CA_INVALID`,
/// `GPCGUARD_CRL_INVALID`, `GPCGUARD_KEY_MISMATCH`, `GPCGUARD_TLS_ERROR`; `gpcguard_last_error`
/// names the key and file.
#[no_mangle]
pub extern "C" fn gpcguard_guard_new(cfg: *const gpcguard_config, out: *mut *mut gpcguard_guard) -> gpcguard_result {
    ffi_boundary!({
        clear_out!(out);
        require_non_null!(cfg);
        match Guard::new(unsafe { &(*cfg).inner }) {
            Ok(g) => unsafe { write_out(out, gpcguard_guard { inner: Arc::new(g) }) },
            Err(e) => fail_with(e),
        }
    })
}

/// Re-reads every file the guard's configuration names and swaps the new state in atomically:
/// checks already running finish on the old state, later ones (and later TLS handshakes on
/// contexts using this guard) see the new one. On failure the old state stays in force and the
/// error says why. Safe to call from any thread while others use the guard.
/// Errors: as `gpcguard_guard_new`.
#[no_mangle]
pub extern "C" fn gpcguard_guard_reload(guard: *mut gpcguard_guard) -> gpcguard_result {
    ffi_boundary!({
        require_non_null!(guard);
        match unsafe { &(*guard).inner }.reload() {
            Ok(()) => gpcguard_result::GPCGUARD_OK,
            Err(e) => fail_with(e),
        }
    })
}

/// Releases the caller's handle. NULL is a no-op. The state lives on while TLS contexts use it.
#[no_mangle]
pub extern "C" fn gpcguard_guard_free(guard: *mut gpcguard_guard) {
    ffi_boundary!((), {
        if !guard.is_null() {
            drop(unsafe { Box::from_raw(guard) });
        }
    })
}

/// A host function told of each client certificate a TLS handshake on a gpcguard context refused:
/// `userdata` as given, the reason, and a NUL-terminated message naming the certificate and what
/// failed (valid only during the call). Called on the handshaking thread, possibly from many
/// threads at once; it must not call back into the guard.
pub type gpcguard_handshake_fn = Option<unsafe extern "C" fn(userdata: *mut c_void, reason: Reason, message: *const c_char)>;

/// Sets the function told of refused handshakes (NULL `hook` removes it), so hosts can log why a
/// client was refused: the handshake itself ends only with a TLS alert. `userdata` is passed
/// through untouched and must stay valid until the hook is replaced or the guard and every
/// context using it are freed. Takes effect at once for all contexts using the guard.
/// Errors: `GPCGUARD_NULL_PARAMETER` (NULL `guard`).
#[no_mangle]
pub extern "C" fn gpcguard_guard_set_handshake_hook(guard: *mut gpcguard_guard, hook: gpcguard_handshake_fn, userdata: *mut c_void) -> gpcguard_result {
    ffi_boundary!({
        require_non_null!(guard);
        let guard = unsafe { &(*guard).inner };
        let hook = hook.map(|f| {
            // The host promised the pointer stays valid and the function is thread-safe.
            let userdata = userdata as usize;
            HandshakeHook(Box::new(move |reason: Reason, message: &str| {
                let text = std::ffi::CString::new(message.replace('\0', "?")).unwrap_or_default();
                // SAFETY: a function the host registered for exactly this call.
                unsafe { f(userdata as *mut c_void, reason, text.as_ptr()) }
            }))
        });
        guard.set_handshake_hook(hook);
        gpcguard_result::GPCGUARD_OK
    })
}

/// Copies the guard's current trust anchors, as concatenated PEM certificates, into `buf`
/// (`len` bytes) when they fit, and always writes their full length in bytes to `*needed`
/// (nothing is written to `buf` when `len < *needed`). Call with a NULL `buf` and `len` 0 to ask
/// for the length; a reload between two calls may change it, so compare again. For hosts that
/// verify clients themselves and must name the accepted issuers (a Java TrustManager's
/// `getAcceptedIssuers`, a CA-names list); the guard still judges every chain.
/// Errors: `GPCGUARD_NULL_PARAMETER` (NULL `guard` or `needed`, or a NULL `buf` with a non-zero
/// `len`), `GPCGUARD_TLS_ERROR` (a certificate could not be written as PEM).
#[no_mangle]
pub extern "C" fn gpcguard_guard_trust_anchors_pem(guard: *const gpcguard_guard, buf: *mut u8, len: usize, needed: *mut usize) -> gpcguard_result {
    ffi_boundary!({
        require_non_null!(guard, needed);
        if buf.is_null() && len > 0 {
            return super::fail(gpcguard_result::GPCGUARD_NULL_PARAMETER, "`buf` is NULL with a non-zero length");
        }
        let state = unsafe { &(*guard).inner }.state();
        let mut pem = Vec::new();
        for anchor in state.pki.anchors() {
            match anchor.to_pem() {
                Ok(p) => pem.extend_from_slice(&p),
                Err(e) => return fail_with(crate::error::Error::tls("PEM_write_bio_X509", e)),
            }
        }
        unsafe { *needed = pem.len() };
        if !buf.is_null() && pem.len() <= len {
            // SAFETY: the caller gives `len` writable bytes at `buf`, and `pem.len() <= len`.
            unsafe { std::ptr::copy_nonoverlapping(pem.as_ptr(), buf, pem.len()) };
        }
        gpcguard_result::GPCGUARD_OK
    })
}
