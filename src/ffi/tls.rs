//! TLS contexts with the GP Connect policy. An `SSL_CTX` made here belongs to the caller
//! (`SSL_CTX_free`); it holds its own reference to the guard.

use std::ffi::c_char;

use foreign_types::ForeignType;
use openssl_sys::SSL_CTX;

use super::guard::gpcguard_guard;
use super::{clear_out, fail_with, ffi_boundary, gpcguard_result, require_non_null};
use crate::connection::tls;

/// Makes a TLS server context with the configured `server_certificate`/`server_private_key` and
/// the whole policy (see `gpcguard_ssl_ctx_apply`) in `*out`. The caller frees it with
/// `SSL_CTX_free`. The server identity is the one loaded when the call is made; client
/// verification follows later reloads.
/// Errors: `GPCGUARD_NULL_PARAMETER`, `GPCGUARD_CONFIG_MISSING_KEY` (no server identity
/// configured), `GPCGUARD_TLS_ERROR`.
#[no_mangle]
pub extern "C" fn gpcguard_ssl_ctx_new(guard: *const gpcguard_guard, out: *mut *mut SSL_CTX) -> gpcguard_result {
    ffi_boundary!({
        clear_out!(out);
        require_non_null!(guard);
        match tls::new_context(unsafe { &(*guard).inner }) {
            Ok(ctx) => {
                unsafe { *out = ctx.as_ptr() };
                std::mem::forget(ctx); // ownership passes to the caller
                gpcguard_result::GPCGUARD_OK
            }
            Err(e) => fail_with(e),
        }
    })
}

/// Puts the GP Connect policy on a server context the host made (with the system OpenSSL this
/// library links): TLS 1.2 only, the cipher list of `gpcguard_cipher_list` in server order, no
/// renegotiation, no compression, automatic DHE parameters, a mandatory client certificate whose
/// chain, validity, revocation, client-auth usage and SSP FQDN the guard judges at each handshake
/// (following `gpcguard_guard_reload`), the current trust anchors as the CA names asked for
/// (following reloads too), the stateful session cache and any session callbacks of the host
/// (`SSL_CTX_sess_set_new_cb`/`_get_cb`/`_remove_cb`) off, and a resumed session (ticket)
/// honoured only while its certificate still passes under this guard's current state: also when
/// a servername callback moved the connection here from another context, through an info
/// callback that calls any the host had installed (an info callback set on the `SSL` itself
/// hides it; `gpcguard_check_peer_ssl` still refuses). With several contexts on one listener, see
/// docs/SECURITY.md, "Several TLS contexts".
/// Call it after the host's own TLS settings; a later host call that changes these undoes them.
/// The context keeps a reference to the guard until it is freed or applied again.
/// Errors: `GPCGUARD_NULL_PARAMETER`, `GPCGUARD_TLS_ERROR`.
#[no_mangle]
pub extern "C" fn gpcguard_ssl_ctx_apply(guard: *const gpcguard_guard, ctx: *mut SSL_CTX) -> gpcguard_result {
    ffi_boundary!({
        require_non_null!(guard, ctx);
        match unsafe { tls::apply(&(*guard).inner, ctx) } {
            Ok(()) => gpcguard_result::GPCGUARD_OK,
            Err(e) => fail_with(e),
        }
    })
}

/// The OpenSSL cipher string of the policy, "AESGCM+EECDH:AESGCM+EDH:AES256+EECDH:AES256+EDH"; static.
#[no_mangle]
pub extern "C" fn gpcguard_cipher_list() -> *const c_char {
    tls::CIPHER_LIST.as_ptr()
}
