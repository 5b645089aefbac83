//! The TLS server policy of the GP Connect Security page (spec §1): TLS 1.2 only, the Spine cipher
//! string in server order, a mandatory client certificate judged by the guard's current PKI
//! state, no renegotiation, no compression, ECDHE and DHE both usable.
//!
//! The context keeps a reference to the guard (in its ex_data), so verification follows
//! `Guard::reload` without a new context, and freeing the host's guard handle is safe while
//! contexts still use it. Session resumption never skips verification: the stateful server cache
//! is off, and a ticket is honoured only if its client certificate still passes verification now.

use std::ffi::CStr;
use std::sync::{Arc, OnceLock};

use foreign_types::{ForeignType, ForeignTypeRef};
use libc::{c_int, c_long, c_uchar, c_void, size_t};
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslContext, SslContextBuilder, SslMethod};
use openssl::stack::{Stack, StackRef};
use openssl::x509::{X509Name, X509Ref, X509};
use openssl_sys as sys;

use crate::config::Settings;
use crate::error::{Error, ErrorKind, Result};
use crate::guard::{system_now, Guard};
use crate::ossl;
use crate::pki::{name_text, read_cert_file};

/// The Spine cipher preference (spec §1, the Tomcat APR example), applied in server order.
pub const CIPHER_LIST: &CStr = c"AESGCM+EECDH:AESGCM+EDH:AES256+EECDH:AES256+EDH";

/// Distinguishes gpcguard's sessions from any other application's sharing a cache.
const SESSION_ID_CONTEXT: &[u8] = b"gpcguard";

/// The server's own certificate chain and key, for `new_context`.
pub struct ServerIdentity {
    pub chain: Vec<X509>,
    pub key: PKey<Private>,
}

impl ServerIdentity {
    /// Loads `server_certificate` and `server_private_key` when both are set, checking that the
    /// key belongs to the certificate.
    pub fn load(settings: &Settings) -> Result<Option<ServerIdentity>> {
        let (Some(cert_path), Some(key_path)) = (&settings.server_certificate, &settings.server_private_key) else {
            return Ok(None);
        };
        let (cert_path, key_path) = (cert_path.display().to_string(), key_path.display().to_string());
        let chain = read_cert_file("server_certificate", &cert_path)?;
        let key_pem = std::fs::read(&key_path).map_err(|e| {
            Error::new(ErrorKind::File, format!("configuration key `server_private_key`: cannot read {key_path}: {e}"))
        })?;
        let key = PKey::private_key_from_pem(&key_pem).map_err(|_| {
            Error::new(ErrorKind::Pem, format!("configuration key `server_private_key`: {key_path} holds no PEM private key (encrypted keys are not supported)"))
        })?;
        let matches = chain[0].public_key().map(|p| p.public_eq(&key)).unwrap_or(false);
        if !matches {
            return Err(Error::new(
                ErrorKind::KeyMismatch,
                format!("configuration key `server_private_key`: {key_path} is not the key of {} in {cert_path}", name_text(chain[0].subject_name())),
            ));
        }
        Ok(Some(ServerIdentity { chain, key }))
    }
}

/// A new server context with the configured server identity and the whole policy.
pub fn new_context(guard: &Arc<Guard>) -> Result<SslContext> {
    let state = guard.state();
    let id = state.server.as_ref().ok_or_else(|| {
        Error::new(ErrorKind::MissingKey, "gpcguard_ssl_ctx_new needs configuration keys `server_certificate` and `server_private_key`")
    })?;
    let tls = |what: &'static str| move |e| Error::tls(what, e);
    let mut b = SslContextBuilder::new(SslMethod::tls_server()).map_err(tls("SSL_CTX_new"))?;
    b.set_certificate(&id.chain[0]).map_err(tls("setting the server certificate"))?;
    for c in &id.chain[1..] {
        b.add_extra_chain_cert(c.clone()).map_err(tls("adding a server chain certificate"))?;
    }
    b.set_private_key(&id.key).map_err(tls("setting the server key"))?;
    b.check_private_key().map_err(tls("checking the server key"))?;
    let ctx = b.build();
    // SAFETY: `ctx` is a valid context we own.
    unsafe { apply(guard, ctx.as_ptr())? };
    Ok(ctx)
}

/// Puts the policy on a context the host made. Calling it again (e.g. with another guard) replaces
/// the previous guard's hold on the context.
///
/// # Safety
/// `ctx` is a valid `SSL_CTX` of the same OpenSSL this library links, not being used by another
/// thread during the call.
pub unsafe fn apply(guard: &Arc<Guard>, ctx: *mut sys::SSL_CTX) -> Result<()> {
    let fail = |what: &str| Error::tls(what, openssl::error::ErrorStack::get());
    if sys::SSL_CTX_set_min_proto_version(ctx, sys::TLS1_2_VERSION) != 1 || sys::SSL_CTX_set_max_proto_version(ctx, sys::TLS1_2_VERSION) != 1 {
        return Err(fail("restricting the protocol to TLS 1.2"));
    }
    sys::SSL_CTX_set_options(
        ctx,
        sys::SSL_OP_CIPHER_SERVER_PREFERENCE
            | sys::SSL_OP_NO_RENEGOTIATION
            | sys::SSL_OP_NO_COMPRESSION
            | sys::SSL_OP_NO_SSLv2
            | sys::SSL_OP_NO_SSLv3
            | sys::SSL_OP_NO_TLSv1
            | sys::SSL_OP_NO_TLSv1_1
            | sys::SSL_OP_NO_TLSv1_3,
    );
    sys::SSL_CTX_clear_options(ctx, sys::SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION | sys::SSL_OP_NO_TICKET | allow_client_renegotiation());
    if sys::SSL_CTX_set_cipher_list(ctx, CIPHER_LIST.as_ptr()) != 1 {
        return Err(fail("setting the cipher list"));
    }
    // The policy's EDH suites need DH parameters; let OpenSSL pick them to match the key size.
    if sys::SSL_CTX_set_dh_auto(ctx, 1) != 1 {
        return Err(fail("enabling DHE parameters"));
    }
    set_client_ca_names(ctx, guard)?;
    sys::SSL_CTX_set_verify(ctx, sys::SSL_VERIFY_PEER | sys::SSL_VERIFY_FAIL_IF_NO_PEER_CERT | sys::SSL_VERIFY_CLIENT_ONCE, None);
    if sys::SSL_CTX_set_session_id_context(ctx, SESSION_ID_CONTEXT.as_ptr(), SESSION_ID_CONTEXT.len() as _) != 1 {
        return Err(fail("setting the session id context"));
    }
    sys::SSL_CTX_set_session_cache_mode(ctx, sys::SSL_SESS_CACHE_OFF as c_long);

    // The context holds its own reference to the guard; the callbacks borrow it through `arg`.
    let index = guard_index()?;
    let old = sys::SSL_CTX_get_ex_data(ctx, index);
    let held = Box::into_raw(Box::new(Arc::clone(guard)));
    if sys::SSL_CTX_set_ex_data(ctx, index, held.cast()) != 1 {
        drop(Box::from_raw(held));
        return Err(fail("attaching the guard to the context"));
    }
    let arg = Arc::as_ptr(guard) as *mut c_void;
    ossl::SSL_CTX_set_cert_verify_callback(ctx, Some(verify_peer), arg);
    if ossl::SSL_CTX_set_session_ticket_cb(ctx, None, Some(resume_if_still_valid), arg) != 1 {
        return Err(fail("installing the session ticket check"));
    }
    if !old.is_null() {
        drop(Box::from_raw(old.cast::<Arc<Guard>>()));
    }
    Ok(())
}

/// `SSL_OP_ALLOW_CLIENT_RENEGOTIATION` (OpenSSL 3.0), which openssl-sys does not name.
fn allow_client_renegotiation() -> u64 {
    1 << 8
}

/// The CertificateRequest names the configured trust anchors (issue: CA names from the anchors).
unsafe fn set_client_ca_names(ctx: *mut sys::SSL_CTX, guard: &Guard) -> Result<()> {
    let state = guard.state();
    let mut names = Stack::<X509Name>::new().map_err(|e| Error::tls("building the CA name list", e))?;
    for anchor in state.pki.anchors() {
        let name = anchor.subject_name().to_owned().map_err(|e| Error::tls("copying a CA name", e))?;
        names.push(name).map_err(|e| Error::tls("building the CA name list", e))?;
    }
    let raw = names.as_ptr();
    std::mem::forget(names); // SSL_CTX_set_client_CA_list takes ownership
    sys::SSL_CTX_set_client_CA_list(ctx, raw);
    Ok(())
}

/// The ex_data slot where a context keeps its `Arc<Guard>`; freed with the context.
fn guard_index() -> Result<c_int> {
    static INDEX: OnceLock<c_int> = OnceLock::new();
    let index = *INDEX.get_or_init(|| unsafe {
        sys::CRYPTO_get_ex_new_index(sys::CRYPTO_EX_INDEX_SSL_CTX, 0, std::ptr::null_mut(), None, None, Some(free_guard))
    });
    if index < 0 {
        return Err(Error::new(ErrorKind::Tls, "CRYPTO_get_ex_new_index failed"));
    }
    Ok(index)
}

unsafe extern "C" fn free_guard(_parent: *mut c_void, ptr: *mut c_void, _ad: *mut sys::CRYPTO_EX_DATA, _idx: c_int, _argl: c_long, _argp: *mut c_void) {
    if !ptr.is_null() {
        let _ = std::panic::catch_unwind(|| drop(Box::from_raw(ptr.cast::<Arc<Guard>>())));
    }
}

/// Replaces OpenSSL's chain verification in the handshake: the guard's current state judges the
/// peer's chain. The X509 error set on failure picks the TLS alert (e.g. certificate_revoked).
unsafe extern "C" fn verify_peer(x509_ctx: *mut sys::X509_STORE_CTX, arg: *mut c_void) -> c_int {
    let judged = std::panic::catch_unwind(|| {
        let guard = &*(arg as *const Guard);
        let leaf = ossl::X509_STORE_CTX_get0_cert(x509_ctx);
        if leaf.is_null() {
            return Err(sys::X509_V_ERR_UNSPECIFIED);
        }
        let untrusted = ossl::X509_STORE_CTX_get0_untrusted(x509_ctx);
        let presented: Vec<&X509Ref> =
            if untrusted.is_null() { Vec::new() } else { StackRef::<X509>::from_ptr(untrusted).iter().collect() };
        guard.state().pki.verify(X509Ref::from_ptr(leaf), &presented, system_now()).map_err(|r| r.x509_error)
    });
    let (ok, err) = match judged {
        Ok(Ok(())) => (1, sys::X509_V_OK),
        Ok(Err(e)) => (0, e),
        Err(_) => (0, sys::X509_V_ERR_UNSPECIFIED),
    };
    sys::X509_STORE_CTX_set_error(x509_ctx, err);
    ok
}

/// Resumes a TLS session only when its client certificate still passes verification against the
/// current state (a reload may have revoked it, or it may have expired); otherwise the client
/// gets a full handshake, which verifies the chain it sends.
unsafe extern "C" fn resume_if_still_valid(
    _ssl: *mut sys::SSL,
    session: *mut sys::SSL_SESSION,
    _keyname: *const c_uchar,
    _keyname_len: size_t,
    status: ossl::SSL_TICKET_STATUS,
    arg: *mut c_void,
) -> ossl::SSL_TICKET_RETURN {
    if status == ossl::SSL_TICKET_FATAL {
        return ossl::SSL_TICKET_RETURN_ABORT;
    }
    if status != ossl::SSL_TICKET_SUCCESS && status != ossl::SSL_TICKET_SUCCESS_RENEW {
        return ossl::SSL_TICKET_RETURN_IGNORE_RENEW;
    }
    let still_valid = std::panic::catch_unwind(|| {
        let guard = &*(arg as *const Guard);
        let peer = ossl::SSL_SESSION_get0_peer(session);
        !peer.is_null() && guard.state().pki.verify(X509Ref::from_ptr(peer), &[], system_now()).is_ok()
    });
    match still_valid {
        Ok(true) if status == ossl::SSL_TICKET_SUCCESS_RENEW => ossl::SSL_TICKET_RETURN_USE_RENEW,
        Ok(true) => ossl::SSL_TICKET_RETURN_USE,
        _ => ossl::SSL_TICKET_RETURN_IGNORE_RENEW,
    }
}
