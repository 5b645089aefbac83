//! The TLS server policy of the GP Connect Security page (spec §1): TLS 1.2 only, the Spine cipher
//! string in server order, a mandatory client certificate judged by the guard's current PKI
//! state, no renegotiation, no compression, ECDHE and DHE both usable.
//!
//! The context keeps a reference to the guard (in its ex_data), so verification follows
//! `Guard::reload` without a new context, and freeing the host's guard handle is safe while
//! contexts still use it. Session resumption never skips verification: the stateful server cache
//! and any host session callbacks are off, and a resumed session is honoured only if its client
//! certificate was verified under the exact current state of this context's guard (`TicketStamp`)
//! or passes verification now.
//!
//! Several contexts on one listener (SNI): OpenSSL decrypts a TLS 1.2 ticket (or finds a cached
//! session) with the context the connection *started* on, before a servername callback switches
//! it to another; the verify callback of a full handshake is the *final* context's. So the stamp
//! names the guard and state that verified the peer, whichever context wrote the ticket, and the
//! final context judges every resumption again at the first step after the ClientHello (its info
//! callback, which OpenSSL looks up on the current context at each step), failing the handshake
//! when its guard's current state refuses the peer.

use std::ffi::CStr;
use std::panic::AssertUnwindSafe;
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
use crate::guard::{system_now, Guard, State};
use crate::connection::ossl;
use crate::connection::pki::{chain_not_after, name_text, read_cert_file, CertRefusal};
use crate::verdict::Reason;
use crate::status::Check;

/// The Spine cipher preference (spec §1, the Tomcat APR example), applied in server order.
pub const CIPHER_LIST: &CStr = c"AESGCM+EECDH:AESGCM+EDH:AES256+EECDH:AES256+EDH";

/// The TLS 1.2 suites the policy's cipher string gives with this OpenSSL, in server order, by
/// their OpenSSL names. Which of them a server can use depends on its key: an RSA server key
/// leaves out the ECDSA suites.
pub fn policy_suites() -> Result<Vec<String>> {
    tls12_suites(CIPHER_LIST.to_str().unwrap_or_default())
}

/// The TLS 1.2 suites an OpenSSL cipher string gives with this OpenSSL, in its order.
pub fn tls12_suites(cipher_string: &str) -> Result<Vec<String>> {
    let tls = |what: &'static str| move |e| Error::tls(what, e);
    let mut b = SslContextBuilder::new(SslMethod::tls_server()).map_err(tls("SSL_CTX_new"))?;
    b.set_min_proto_version(Some(openssl::ssl::SslVersion::TLS1_2)).map_err(tls("setting TLS 1.2"))?;
    b.set_max_proto_version(Some(openssl::ssl::SslVersion::TLS1_2)).map_err(tls("setting TLS 1.2"))?;
    b.set_cipher_list(cipher_string).map_err(tls("setting the cipher list"))?;
    let ssl = openssl::ssl::Ssl::new(&b.build()).map_err(tls("SSL_new"))?;
    // SAFETY: the stack is ours (get1) and freed below; the ciphers in it are static.
    unsafe {
        let list = ossl::SSL_get1_supported_ciphers(ssl.as_ptr());
        if list.is_null() {
            return Err(Error::tls("SSL_get1_supported_ciphers", openssl::error::ErrorStack::get()));
        }
        let stack = openssl::stack::Stack::<openssl::ssl::SslCipher>::from_ptr(list);
        Ok(stack.iter().map(|c| c.name().to_owned()).collect())
    }
}

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
    let state = guard.state();
    let (ca_names, ca_names_der) = client_ca_names(&state)?;
    sys::SSL_CTX_set_client_CA_list(ctx, ca_names.as_ptr());
    std::mem::forget(ca_names); // SSL_CTX_set_client_CA_list took ownership
    sys::SSL_CTX_set_verify(ctx, sys::SSL_VERIFY_PEER | sys::SSL_VERIFY_FAIL_IF_NO_PEER_CERT | sys::SSL_VERIFY_CLIENT_ONCE, None);
    if sys::SSL_CTX_set_session_id_context(ctx, SESSION_ID_CONTEXT.as_ptr(), SESSION_ID_CONTEXT.len() as _) != 1 {
        return Err(fail("setting the session id context"));
    }
    sys::SSL_CTX_set_session_cache_mode(ctx, sys::SSL_SESS_CACHE_OFF as c_long);
    // OpenSSL asks a host's get-session callback (an external cache, such as nginx's shared one)
    // whatever the cache mode: without these a session ID would resume from the host's cache.
    sys::SSL_CTX_sess_set_new_cb(ctx, None);
    sys::SSL_CTX_sess_set_get_cb(ctx, None);
    sys::SSL_CTX_sess_set_remove_cb(ctx, None);

    // The context holds its own reference to the guard; the callbacks borrow it through `arg`.
    let index = hold_index()?;
    let old = sys::SSL_CTX_get_ex_data(ctx, index) as *mut ContextHold;
    // Applied again: our callback is already installed and the host's is in the old hold.
    let host_info_callback = match ossl::SSL_CTX_get_info_callback(ctx) {
        Some(cb) if cb as usize == on_handshake_step as ossl::InfoCallback as usize => old.as_ref().and_then(|h| h.host_info_callback),
        other => other,
    };
    let hold = ContextHold { guard: Arc::clone(guard), host_info_callback, ca_names_state: state.nonce, ca_names_der };
    let held = Box::into_raw(Box::new(hold));
    if sys::SSL_CTX_set_ex_data(ctx, index, held.cast()) != 1 {
        drop(Box::from_raw(held));
        return Err(fail("attaching the guard to the context"));
    }
    let arg = Arc::as_ptr(guard) as *mut c_void;
    ossl::SSL_CTX_set_cert_verify_callback(ctx, Some(verify_peer), arg);
    // No ticket-writing callback: `verify_peer` stamps the session itself, so a ticket carries the
    // stamp of the verification behind it whichever context writes it.
    if ossl::SSL_CTX_set_session_ticket_cb(ctx, None, Some(resume_if_still_valid), arg) != 1 {
        return Err(fail("installing the session ticket check"));
    }
    ossl::SSL_CTX_set_info_callback(ctx, Some(on_handshake_step));
    if !old.is_null() {
        drop(Box::from_raw(old));
    }
    Ok(())
}

/// `SSL_OP_ALLOW_CLIENT_RENEGOTIATION` (OpenSSL 3.0), which openssl-sys does not name.
fn allow_client_renegotiation() -> u64 {
    1 << 8
}

/// The CA names a CertificateRequest asks for: the trust anchors of `state` (spec §1), as a list
/// for OpenSSL and as their DER, one after another, to compare lists cheaply.
fn client_ca_names(state: &State) -> Result<(Stack<X509Name>, Vec<u8>)> {
    let tls = |what: &'static str| move |e| Error::tls(what, e);
    let mut names = Stack::<X509Name>::new().map_err(tls("building the CA name list"))?;
    let mut der = Vec::new();
    for anchor in state.pki.anchors() {
        der.extend(anchor.subject_name().to_der().map_err(tls("encoding a CA name"))?);
        names.push(anchor.subject_name().to_owned().map_err(tls("copying a CA name"))?).map_err(tls("building the CA name list"))?;
    }
    Ok((names, der))
}

/// What a gpcguard context keeps in its ex_data; freed with the context or by the next `apply`.
struct ContextHold {
    guard: Arc<Guard>,
    /// The info callback the host had installed; `on_handshake_step` calls it.
    host_info_callback: Option<ossl::InfoCallback>,
    /// The state whose trust anchors are the context's CA names, and those names' DER.
    ca_names_state: [u8; 16],
    ca_names_der: Vec<u8>,
}

/// The ex_data slot where a context keeps its `ContextHold`.
fn hold_index() -> Result<c_int> {
    static INDEX: OnceLock<c_int> = OnceLock::new();
    let index = *INDEX.get_or_init(|| unsafe {
        sys::CRYPTO_get_ex_new_index(sys::CRYPTO_EX_INDEX_SSL_CTX, 0, std::ptr::null_mut(), None, None, Some(free_hold))
    });
    if index < 0 {
        return Err(Error::new(ErrorKind::Tls, "CRYPTO_get_ex_new_index failed"));
    }
    Ok(index)
}

unsafe extern "C" fn free_hold(_parent: *mut c_void, ptr: *mut c_void, _ad: *mut sys::CRYPTO_EX_DATA, _idx: c_int, _argl: c_long, _argp: *mut c_void) {
    if !ptr.is_null() {
        let _ = std::panic::catch_unwind(|| drop(Box::from_raw(ptr.cast::<ContextHold>())));
    }
}

/// The hold of a context gpcguard applied its policy to; None for any other context.
unsafe fn context_hold<'a>(ctx: *mut sys::SSL_CTX) -> Option<&'a ContextHold> {
    let index = hold_index().ok()?;
    (sys::SSL_CTX_get_ex_data(ctx, index) as *const ContextHold).as_ref()
}

/// Replaces OpenSSL's chain verification in the handshake: the guard's current state judges the
/// peer's chain. The X509 error set on failure picks the TLS alert (e.g. certificate_revoked).
/// On success the new session is stamped (see `TicketStamp`) with this guard and state.
unsafe extern "C" fn verify_peer(x509_ctx: *mut sys::X509_STORE_CTX, arg: *mut c_void) -> c_int {
    let judged = std::panic::catch_unwind(|| {
        let guard = &*(arg as *const Guard);
        let leaf = ossl::X509_STORE_CTX_get0_cert(x509_ctx);
        if leaf.is_null() {
            return Err(sys::X509_V_ERR_UNSPECIFIED);
        }
        let leaf = X509Ref::from_ptr(leaf);
        let untrusted = ossl::X509_STORE_CTX_get0_untrusted(x509_ctx);
        let presented: Vec<&X509Ref> =
            if untrusted.is_null() { Vec::new() } else { StackRef::<X509>::from_ptr(untrusted).iter().collect() };
        let state = guard.state();
        state.pki.verify(leaf, &presented, system_now()).map_err(|r| {
            guard.count(Check::Certificate, r.reason);
            guard.report_handshake_refusal(r.reason, &r.message);
            r.x509_error
        })?;
        guard.count(Check::Certificate, crate::verdict::Reason::Allowed);
        let ssl = sys::X509_STORE_CTX_get_ex_data(x509_ctx, sys::SSL_get_ex_data_X509_STORE_CTX_idx()) as *mut sys::SSL;
        if !ssl.is_null() {
            // The handshake's own session, not yet in any cache or ticket.
            TicketStamp::of(guard, &state, leaf, &presented).put_on(sys::SSL_get_session(ssl));
        }
        Ok(())
    });
    let (ok, err) = match judged {
        Ok(Ok(())) => (1, sys::X509_V_OK),
        Ok(Err(e)) => (0, e),
        Err(_) => (0, sys::X509_V_ERR_UNSPECIFIED),
    };
    sys::X509_STORE_CTX_set_error(x509_ctx, err);
    ok
}

/// What a session carries in its ticket appdata (inside the ticket's encryption and MAC) about
/// the verification behind it: which guard, which loaded state of that guard (`State::nonce`),
/// and when the peer's own chain first expires. Set on the session when its peer passes, so a
/// ticket carries the judge of its peer whichever context writes it, never whatever is current
/// when it is written.
struct TicketStamp {
    guard_id: u64,
    state: [u8; 16],
    chain_not_after: i64,
}

impl TicketStamp {
    const LEN: usize = 32;

    fn of(guard: &Guard, state: &State, leaf: &X509Ref, presented: &[&X509Ref]) -> TicketStamp {
        TicketStamp { guard_id: guard.id(), state: state.nonce, chain_not_after: chain_not_after(leaf, presented.iter().copied()) }
    }

    /// The peer's verification still holds without being repeated: it was made by `guard`
    /// under its current `state` (`State::verification_holds`, at the system clock, so never
    /// before the state was loaded).
    fn holds_under(&self, guard: &Guard, state: &State, now: i64) -> bool {
        self.guard_id == guard.id() && state.verification_holds(&self.state, self.chain_not_after, now)
    }

    fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[..8].copy_from_slice(&self.guard_id.to_le_bytes());
        b[8..24].copy_from_slice(&self.state);
        b[24..].copy_from_slice(&self.chain_not_after.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<TicketStamp> {
        if b.len() != Self::LEN {
            return None;
        }
        Some(TicketStamp {
            guard_id: u64::from_le_bytes(b[..8].try_into().ok()?),
            state: b[8..24].try_into().ok()?,
            chain_not_after: i64::from_le_bytes(b[24..].try_into().ok()?),
        })
    }

    /// The stamp of `session`, if it has one of this form.
    unsafe fn read(session: *mut sys::SSL_SESSION) -> Option<TicketStamp> {
        let mut data: *mut c_void = std::ptr::null_mut();
        let mut len: size_t = 0;
        if session.is_null() || ossl::SSL_SESSION_get0_ticket_appdata(session, &mut data, &mut len) != 1 || data.is_null() {
            return None;
        }
        TicketStamp::from_bytes(std::slice::from_raw_parts(data as *const u8, len))
    }

    /// Stamps `session`: only a session no other connection can be reading (a new one, or one
    /// just decrypted from a ticket), as this replaces its appdata.
    unsafe fn put_on(&self, session: *mut sys::SSL_SESSION) {
        if !session.is_null() {
            let b = self.to_bytes();
            ossl::SSL_SESSION_set1_ticket_appdata(session, b.as_ptr().cast(), b.len());
        }
    }
}

/// Resumes a TLS session (in the context the connection started on) only when its client
/// certificate's verification still holds under this guard's current state: either its stamp
/// `holds_under` it, or the certificate passes a full re-verification now (then the session is
/// stamped afresh and its ticket renewed, so its next resumption is cheap). Otherwise the client
/// gets a full handshake, which verifies the chain it sends. A reload therefore always forces
/// re-verification of older sessions, in this process and in no other.
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
    let judged = std::panic::catch_unwind(|| {
        let guard = &*(arg as *const Guard);
        let state = guard.state();
        let now = system_now();
        let peer = ossl::SSL_SESSION_get0_peer(session);
        if peer.is_null() {
            return None;
        }
        if TicketStamp::read(session).is_some_and(|s| s.holds_under(guard, &state, now)) {
            return Some(false);
        }
        let peer = X509Ref::from_ptr(peer);
        state.pki.verify(peer, &[], now).ok()?;
        // Just decrypted from the ticket: this connection's own session.
        TicketStamp::of(guard, &state, peer, &[]).put_on(session);
        Some(true)
    });
    // A ticket is renewed only when it was verified in full (it gets a fresh stamp). OpenSSL's
    // own renew hint (status SUCCESS_RENEW, which this OpenSSL gives for every TLS 1.2 ticket)
    // is not followed for a valid stamp: renewing encodes and decodes the session again (half of
    // a resumed handshake's work) and would slide the session lifetime forward indefinitely.
    match judged {
        Ok(Some(true)) => ossl::SSL_TICKET_RETURN_USE_RENEW,
        Ok(Some(false)) => ossl::SSL_TICKET_RETURN_USE,
        _ => ossl::SSL_TICKET_RETURN_IGNORE_RENEW,
    }
}

/// The info callback of a gpcguard context. OpenSSL looks it up on the connection's current
/// context at every handshake step, so it runs on the context a servername callback switched to
/// (unless the host set an info callback on the `SSL` itself, which takes precedence). At the
/// step after the ClientHello, when the session is chosen and nothing is derived from it yet, it
/// judges a resumed session by this context's guard (`judge_resumption`) and gives a full
/// handshake the current CA names. The host's own info callback (nginx has one) is called after.
unsafe extern "C" fn on_handshake_step(ssl: *const sys::SSL, where_: c_int, ret: c_int) {
    let ctx = sys::SSL_get_SSL_CTX(ssl);
    let Some(hold) = context_hold(ctx) else {
        // The connection moved to a context gpcguard does not hold, yet OpenSSL calls the first
        // context's callback at the start and end of a handshake: pass it to the current one's.
        if let Some(cb) = ossl::SSL_CTX_get_info_callback(ctx) {
            if cb as usize != on_handshake_step as ossl::InfoCallback as usize {
                cb(ssl, where_, ret);
            }
        }
        return;
    };
    if where_ == ossl::SSL_CB_ACCEPT_LOOP && ossl::SSL_get_state(ssl) == ossl::TLS_ST_SR_CLNT_HELLO {
        let ssl = ssl as *mut sys::SSL;
        if sys::SSL_session_reused(ssl) == 1 {
            let judged = std::panic::catch_unwind(AssertUnwindSafe(|| judge_resumption(ssl, &hold.guard)));
            match judged {
                Ok(Ok(())) => {}
                Ok(Err(refusal)) => refuse_resumption(ssl, &hold.guard, refusal),
                Err(_) => refuse_resumption(ssl, &hold.guard, internal_refusal()),
            }
        } else {
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| give_current_ca_names(ssl, hold)));
        }
    }
    if let Some(cb) = hold.host_info_callback {
        cb(ssl, where_, ret);
    }
}

/// A resumed session passes when its stamp `holds_under` this guard's current state, or its
/// client certificate passes verification now. Whichever context decrypted the ticket (or found
/// the session in a cache) judged it by its own guard, or not at all.
unsafe fn judge_resumption(ssl: *mut sys::SSL, guard: &Guard) -> std::result::Result<(), CertRefusal> {
    let state = guard.state();
    let now = system_now();
    let session = sys::SSL_get_session(ssl);
    let peer = if session.is_null() { std::ptr::null_mut() } else { ossl::SSL_SESSION_get0_peer(session) };
    if peer.is_null() {
        return Err(CertRefusal {
            reason: Reason::CertMissing,
            message: "the resumed session has no client certificate".into(),
            x509_error: sys::X509_V_ERR_UNSPECIFIED,
        });
    }
    if TicketStamp::read(session).is_some_and(|s| s.holds_under(guard, &state, now)) {
        return Ok(());
    }
    // Not stamped afresh: the session may sit in a cache other connections read.
    state.pki.verify(X509Ref::from_ptr(peer), &[], now)
}

fn internal_refusal() -> CertRefusal {
    CertRefusal { reason: Reason::Internal, message: "the resumed session could not be judged".into(), x509_error: sys::X509_V_ERR_UNSPECIFIED }
}

/// Fails a resumed handshake that this context's guard refuses. Once the first context accepted
/// the session OpenSSL offers no way back to a full handshake, so the session gets a random
/// master secret: no peer can produce or check the Finished messages, and the handshake ends
/// with an alert on both sides. The verify result and the handshake hook say why. (Should even
/// that fail, the verify result still says so, and `gpcguard_check_peer_ssl` refuses the
/// connection.)
unsafe fn refuse_resumption(ssl: *mut sys::SSL, guard: &Guard, refusal: CertRefusal) {
    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| guard.report_handshake_refusal(refusal.reason, &format!("resumed session: {}", refusal.message))));
    ossl::SSL_set_verify_result(ssl, refusal.x509_error as c_long);
    spoil_master_secret(sys::SSL_get_session(ssl));
}

/// Overwrites `session`'s master secret with random bytes, in place: `SSL_set_session` cannot
/// swap in a copy mid-handshake (the connection's method is by now the negotiated version's, and
/// it would reset the connection to the context's). A session found in a session cache is
/// shared with that cache, so the secret is spoiled there too: a session this guard refuses is
/// then useless for any later resumption as well. The secret is a fixed-size field; a connection
/// reading it at the same moment fails its own handshake.
unsafe fn spoil_master_secret(session: *mut sys::SSL_SESSION) {
    let mut secret = [0u8; 48]; // SSL_MAX_MASTER_KEY_LENGTH, a TLS 1.2 master secret
    // A predictable secret would let a peer complete the handshake: none without randomness.
    if !session.is_null() && openssl::rand::rand_bytes(&mut secret).is_ok() {
        ossl::SSL_SESSION_set1_master_key(session, secret.as_ptr(), secret.len());
    }
    ossl::OPENSSL_cleanse(secret.as_mut_ptr().cast(), secret.len());
}

/// Asks a full handshake's client for the trust anchors of the current state, when a reload
/// changed them since the context's list was set.
unsafe fn give_current_ca_names(ssl: *mut sys::SSL, hold: &ContextHold) {
    let state = hold.guard.state();
    if state.nonce == hold.ca_names_state {
        return;
    }
    let Ok((names, der)) = client_ca_names(&state) else { return };
    if der != hold.ca_names_der {
        sys::SSL_set_client_CA_list(ssl, names.as_ptr());
        std::mem::forget(names); // SSL_set_client_CA_list took ownership
    }
}

#[cfg(test)]
mod resumption_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::rsa::Rsa;
    use openssl::ssl::{Ssl, SslConnector, SslFiletype, SslVerifyMode, SslVersion};
    use openssl::x509::extension::{AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier};
    use openssl::x509::{X509Builder, X509NameBuilder};
    use std::net::{TcpListener, TcpStream};
    use std::path::Path;

    const SSP: &str = "msg.dev.spine2.ncrs.nhs.uk";
    const SSL_CTRL_GET_SESS_CACHE_MODE: c_int = 45;

    extern "C" {
        fn SSL_get_ciphers(ssl: *const sys::SSL) -> *mut sys::stack_st_SSL_CIPHER;
        fn SSL_CTX_get_client_CA_list(ctx: *const sys::SSL_CTX) -> *mut sys::stack_st_X509_NAME;
    }

    /// A certificate for `cn` signed by `issuer` (self-signed when None), written as PEM files.
    fn issue(dir: &Path, name: &str, cn: &str, issuer: Option<(&X509, &PKey<Private>)>, ca: bool, eku_client: bool, san: Option<&str>) -> (X509, PKey<Private>) {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut subject = X509NameBuilder::new().unwrap();
        subject.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
        let subject = subject.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        let serial = BigNum::from_u32((name.len() * 7919 + cn.len()) as u32 + 1).unwrap();
        b.set_serial_number(&serial.to_asn1_integer().unwrap()).unwrap();
        b.set_subject_name(&subject).unwrap();
        b.set_issuer_name(issuer.map_or(&subject, |(c, _)| c.subject_name())).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        b.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
        if ca {
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap()).unwrap();
            b.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build().unwrap()).unwrap();
        } else {
            b.append_extension(BasicConstraints::new().critical().build().unwrap()).unwrap();
            b.append_extension(KeyUsage::new().critical().digital_signature().key_encipherment().build().unwrap()).unwrap();
            let mut eku = ExtendedKeyUsage::new();
            if eku_client { eku.client_auth(); } else { eku.server_auth(); }
            b.append_extension(eku.build().unwrap()).unwrap();
        }
        let skid = SubjectKeyIdentifier::new().build(&b.x509v3_context(issuer.map(|(c, _)| &**c), None)).unwrap();
        b.append_extension(skid).unwrap();
        if issuer.is_some() {
            let akid = AuthorityKeyIdentifier::new().keyid(true).build(&b.x509v3_context(issuer.map(|(c, _)| &**c), None)).unwrap();
            b.append_extension(akid).unwrap();
        }
        if let Some(dns) = san {
            let ext = SubjectAlternativeName::new().dns(dns).build(&b.x509v3_context(issuer.map(|(c, _)| &**c), None)).unwrap();
            b.append_extension(ext).unwrap();
        }
        b.sign(issuer.map_or(&key, |(_, k)| k), MessageDigest::sha256()).unwrap();
        let cert = b.build();
        std::fs::write(dir.join(format!("{name}.pem")), cert.to_pem().unwrap()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        (cert, key)
    }

    /// A guard over a fresh root, with a server identity, revocation off (CRLs are exercised by
    /// the C-server tests with real openssl peers).
    fn guard(dir: &Path) -> Arc<Guard> {
        let root = issue(dir, "root", "Test RootCA", None, true, false, None);
        issue(dir, "server", "localhost", Some((&root.0, &root.1)), false, false, Some("localhost"));
        issue(dir, "client", "SSP client", Some((&root.0, &root.1)), false, true, Some(SSP));
        issue(dir, "client-server-eku", "SSP server eku", Some((&root.0, &root.1)), false, false, Some(SSP));
        let mut c = Config::new();
        for (k, v) in [("provider_asid", "918999198993"), ("ssp_fqdn", SSP), ("revocation", "off")] {
            c.set(k, v).unwrap();
        }
        for (k, f) in [("trust_anchor", "root.pem"), ("server_certificate", "server.pem"), ("server_private_key", "server.key")] {
            c.set(k, dir.join(f).to_str().unwrap()).unwrap();
        }
        Arc::new(Guard::new(&c).unwrap())
    }

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let d = crate::testkit::process_dir().join(format!("tls-{tag}"));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn context_carries_the_whole_policy() {
        let dir = temp_dir("policy");
        let ctx = new_context(&guard(&dir)).unwrap();
        unsafe {
            let raw = ctx.as_ptr();
            assert_eq!(sys::SSL_CTX_get_min_proto_version(raw), sys::TLS1_2_VERSION);
            assert_eq!(sys::SSL_CTX_get_max_proto_version(raw), sys::TLS1_2_VERSION);
            let opts = sys::SSL_CTX_get_options(raw);
            for must in [sys::SSL_OP_CIPHER_SERVER_PREFERENCE, sys::SSL_OP_NO_RENEGOTIATION, sys::SSL_OP_NO_COMPRESSION, sys::SSL_OP_NO_TLSv1_3] {
                assert_eq!(opts & must, must);
            }
            assert_eq!(opts & sys::SSL_OP_NO_TICKET, 0, "tickets stay on: they are re-verified");
            assert_eq!(sys::SSL_CTX_ctrl(raw, SSL_CTRL_GET_SESS_CACHE_MODE, 0, std::ptr::null_mut()), sys::SSL_SESS_CACHE_OFF as c_long);
        }
        assert_eq!(ctx.verify_mode(), SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT | SslVerifyMode::CLIENT_ONCE);
        let ssl = Ssl::new(&ctx).unwrap();
        let names: Vec<&str> = unsafe {
            StackRef::<openssl::ssl::SslCipher>::from_ptr(SSL_get_ciphers(ssl.as_ptr())).iter().map(|c| c.name()).collect()
        };
        // The OpenSSL 3.0 expansion of the policy that applies to an RSA certificate, in order.
        // (TLS 1.3 suites are listed but unreachable: the protocol is pinned to 1.2.)
        let rsa: Vec<&str> = names.iter().copied().filter(|n| !n.contains("ECDSA") && !n.contains("DSS") && !n.starts_with("TLS_")).collect();
        assert_eq!(
            rsa,
            [
                "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384",
                "DHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA",
                "DHE-RSA-AES256-CCM8", "DHE-RSA-AES256-CCM", "DHE-RSA-AES256-SHA256", "DHE-RSA-AES256-SHA",
            ]
        );
        let ca_names = unsafe { SSL_CTX_get_client_CA_list(ctx.as_ptr()) };
        let ca_names = unsafe { StackRef::<X509Name>::from_ptr(ca_names) };
        assert_eq!(ca_names.len(), 1);
        assert_eq!(name_text(ca_names.get(0).unwrap()), "CN=Test RootCA");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn applying_clears_what_a_host_had_allowed() {
        // A host context that allows client-initiated and unsafe legacy renegotiation, and has
        // tickets off: the policy takes all three back. SSL_OP_ALLOW_CLIENT_RENEGOTIATION is
        // bit 8 in OpenSSL 3.0's ssl.h (openssl-sys does not name it).
        const ALLOW_CLIENT_RENEGOTIATION: u64 = 1 << 8;
        let dir = temp_dir("host-options");
        let mut b = openssl::ssl::SslContextBuilder::new(openssl::ssl::SslMethod::tls_server()).unwrap();
        let host = ALLOW_CLIENT_RENEGOTIATION | sys::SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION | sys::SSL_OP_NO_TICKET;
        unsafe { sys::SSL_CTX_set_options(b.as_ptr(), host) };
        let ctx = b.build();
        unsafe {
            assert_eq!(sys::SSL_CTX_get_options(ctx.as_ptr()) & host, host);
            apply(&guard(&dir), ctx.as_ptr()).unwrap();
            let opts = sys::SSL_CTX_get_options(ctx.as_ptr());
            for (bit, what) in [(ALLOW_CLIENT_RENEGOTIATION, "client renegotiation"), (sys::SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION, "legacy renegotiation"), (sys::SSL_OP_NO_TICKET, "no tickets")] {
                assert_eq!(opts & bit, 0, "{what} is still set");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Runs one handshake against `ctx` with the client certificate `client`, offering `session`
    /// for resumption; returns whether both sides completed it, whether it resumed, and the
    /// client's session.
    fn handshake_with(ctx: &SslContext, dir: &Path, client: Option<&str>, session: Option<&openssl::ssl::SslSession>) -> (bool, bool, Option<openssl::ssl::SslSession>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let ctx = ctx.clone();
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            Ssl::new(&ctx).unwrap().accept(tcp).map(|mut s| {
                let mut byte = [0u8; 1];
                let _ = std::io::Read::read(&mut s, &mut byte);
            }).is_ok()
        });
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        b.set_ca_file(dir.join("root.pem")).unwrap();
        if let Some(name) = client {
            b.set_certificate_file(dir.join(format!("{name}.pem")), SslFiletype::PEM).unwrap();
            b.set_private_key_file(dir.join(format!("{name}.key")), SslFiletype::PEM).unwrap();
        }
        b.set_min_proto_version(Some(SslVersion::TLS1_2)).unwrap();
        let mut ssl = b.build().configure().unwrap().into_ssl("localhost").unwrap();
        if let Some(sess) = session {
            unsafe { ssl.set_session(sess).unwrap() };
        }
        let client_side = ssl.connect(TcpStream::connect(addr).unwrap()).map(|mut s| {
            // TLS 1.2: the server's verdict is known once the handshake completes on both sides.
            let _ = std::io::Write::write_all(&mut s, b"x");
            // A clean close: OpenSSL marks the session of a connection dropped without
            // close_notify as not resumable.
            let _ = s.shutdown();
            (s.ssl().session_reused(), s.ssl().session().map(|x| x.to_owned()))
        });
        let server_ok = server.join().unwrap();
        match client_side {
            Ok((reused, sess)) => (server_ok, reused, sess),
            Err(_) => (false, false, None),
        }
    }

    fn handshake(ctx: &SslContext, dir: &Path, client: Option<&str>) -> bool {
        handshake_with(ctx, dir, client, None).0
    }

    #[test]
    fn tickets_resume_within_a_generation_and_are_reverified_after_a_reload() {
        let dir = temp_dir("resume");
        let g = guard(&dir);
        let ctx = new_context(&g).unwrap();
        let (ok, reused, session) = handshake_with(&ctx, &dir, Some("client"), None);
        assert!(ok && !reused);
        let session = session.expect("a session ticket");
        let (ok, reused, same) = handshake_with(&ctx, &dir, Some("client"), Some(&session));
        assert!(ok && reused, "resumed on the stamp of the same generation");
        // Not renewed: the client keeps its ticket (a new ticket would cost a session encode and
        // decode, and would slide the session's lifetime forward).
        assert!(same.unwrap().to_der().unwrap() == session.to_der().unwrap(), "a valid stamp renewed the ticket");
        g.reload().unwrap();
        let (ok, reused, renewed) = handshake_with(&ctx, &dir, Some("client"), Some(&session));
        assert!(ok && reused, "after a reload the certificate is verified in full, then resumed");
        // Verified in full: a new ticket with a fresh stamp, so the next resumption is cheap.
        assert!(renewed.unwrap().to_der().unwrap() != session.to_der().unwrap(), "a re-verified ticket was not renewed");
        // A reload to an unusable state (garbage in the trust anchor file) fails and keeps
        // the old one, so tickets keep resuming (nothing changed).
        let root = std::fs::read(dir.join("root.pem")).unwrap();
        std::fs::write(dir.join("root.pem"), b"garbage").unwrap();
        assert!(g.reload().is_err());
        std::fs::write(dir.join("root.pem"), root).unwrap(); // for the client's own CA file
        let (ok, reused, _) = handshake_with(&ctx, &dir, Some("client"), Some(&session));
        assert!(ok && reused);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ticket_stamps_round_trip_and_refuse_other_lengths() {
        let s = TicketStamp { guard_id: 7, state: [3; 16], chain_not_after: -5 };
        let b = s.to_bytes();
        let back = TicketStamp::from_bytes(&b).unwrap();
        assert_eq!((back.guard_id, back.state, back.chain_not_after), (7, [3; 16], -5));
        assert!(TicketStamp::from_bytes(&b[..31]).is_none());
        assert!(TicketStamp::from_bytes(&[0u8; 33]).is_none());
        // The stamps of the earlier form (guard, generation counter, expiry) are re-verified.
        assert!(TicketStamp::from_bytes(&[0u8; 24]).is_none());
    }

    #[test]
    fn handshakes_are_judged_by_the_guard_and_survive_the_guard_handle() {
        let dir = temp_dir("handshake");
        let g = guard(&dir);
        let ctx = new_context(&g).unwrap();
        let client = X509::from_pem(&std::fs::read(dir.join("client.pem")).unwrap()).unwrap();
        let v = g.check_peer(&client, &[], system_now());
        assert!(v.allowed(), "{}", v.message);
        let told = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&told);
        g.set_handshake_hook(Some(crate::guard::HandshakeHook(Box::new(move |reason, message: &str| {
            sink.lock().unwrap().push((reason, message.to_owned()));
        }))));
        drop(g); // the context holds its own reference to the guard
        assert!(handshake(&ctx, &dir, Some("client")));
        assert!(!handshake(&ctx, &dir, None), "no client certificate");
        assert!(!handshake(&ctx, &dir, Some("client-server-eku")), "serverAuth-only EKU");
        assert!(!handshake(&ctx, &dir, Some("server")), "the server's own certificate has the wrong FQDN and EKU");
        // The hook heard each certificate refusal (not the missing certificate: OpenSSL refuses
        // that before any verification), with a message naming the certificate.
        let told = told.lock().unwrap();
        assert_eq!(told.len(), 2, "{told:?}");
        assert!(told.iter().all(|(r, _)| *r == crate::verdict::Reason::CertUntrusted));
        assert!(told[0].1.contains("CN=SSP server eku") && told[1].1.contains("CN=localhost"), "{told:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn applying_twice_replaces_the_guard_without_leaking_it() {
        let dir = temp_dir("twice");
        let g = guard(&dir);
        let ctx = new_context(&g).unwrap();
        assert_eq!(Arc::strong_count(&g), 2);
        unsafe { apply(&g, ctx.as_ptr()).unwrap() };
        assert_eq!(Arc::strong_count(&g), 2, "the old hold was released");
        drop(ctx);
        assert_eq!(Arc::strong_count(&g), 1, "freeing the context releases its hold");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
