//! Session resumption and CA names across reloads, forked workers and several contexts on one
//! listener (SNI), with real TLS 1.2 handshakes in process against the PKI of
//! `c-tests/make-pki.sh`, whose `subca-revoked-later.crl` revokes client-later-revoked once it is
//! swapped in for `sub-ca.crl`. Each connection's verdict from `gpcguard_check_peer_ssl` is
//! compared with the handshake's.

use super::*;
use crate::testkit;
use crate::config::Config;
use crate::ffi::guard::gpcguard_guard;
use crate::ffi::peer::gpcguard_check_peer_ssl;
use crate::ffi::verdict::{gpcguard_verdict_free, gpcguard_verdict_message, gpcguard_verdict_reason};
use crate::guard::HandshakeHook;
use crate::verdict::Reason;
use openssl::ssl::{Ssl, SslConnector, SslFiletype, SslOptions, SslSession, SslSessionCacheMode, SslVerifyMode, SslVersion};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

extern "C" {
    fn SSL_get_client_CA_list(ssl: *const sys::SSL) -> *mut sys::stack_st_X509_NAME;
    fn SSL_set_info_callback(ssl: *mut sys::SSL, cb: Option<unsafe extern "C" fn(*const sys::SSL, c_int, c_int)>);
    fn SSL_CTX_sess_get_get_cb(ctx: *mut sys::SSL_CTX) -> *const c_void;
    fn SSL_CTX_sess_get_new_cb(ctx: *mut sys::SSL_CTX) -> *const c_void;
    fn SSL_CTX_sess_get_remove_cb(ctx: *mut sys::SSL_CTX) -> *const c_void;
}
const SSL_CTRL_GET_TLSEXT_TICKET_KEYS: c_int = 58;
const SSL_CTRL_SET_TLSEXT_TICKET_KEYS: c_int = 59;

fn guard_of(dir: &Path) -> Arc<Guard> {
    Arc::new(Guard::new(&Config::from_file(&dir.join("provider.toml")).unwrap()).unwrap())
}

/// Swaps in the CRL that revokes client-later-revoked (whole, by rename, as a deployment would).
fn revoke_later(dir: &Path) {
    std::fs::copy(dir.join("subca-revoked-later.crl"), dir.join("sub-ca.crl.new")).unwrap();
    std::fs::rename(dir.join("sub-ca.crl.new"), dir.join("sub-ca.crl")).unwrap();
}

/// Every certificate refusal the guard's handshakes report.
fn hear_refusals(guard: &Guard) -> Arc<Mutex<Vec<(Reason, String)>>> {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&heard);
    guard.set_handshake_hook(Some(HandshakeHook(Box::new(move |reason, message: &str| {
        sink.lock().unwrap().push((reason, message.to_owned()));
    }))));
    heard
}

/// A context as a host makes it: the server identity of the PKI, OpenSSL's defaults otherwise
/// (session cache and tickets on, no client certificate asked for).
fn host_context(dir: &Path, configure: impl FnOnce(&mut SslContextBuilder)) -> SslContext {
    let mut b = SslContextBuilder::new(SslMethod::tls_server()).unwrap();
    b.set_certificate_chain_file(dir.join("server-chain.pem")).unwrap();
    b.set_private_key_file(dir.join("server.key"), SslFiletype::PEM).unwrap();
    configure(&mut b);
    b.build()
}

/// A servername callback that moves every connection to `target`, as nginx's does (context,
/// then the target's verify mode, which SSL_set_SSL_CTX leaves as it was).
fn switch_to(target: SslContext) -> impl Fn(&mut openssl::ssl::SslRef, &mut openssl::ssl::SslAlert) -> std::result::Result<(), openssl::ssl::SniError> + Send + Sync + 'static {
    move |ssl, _alert| {
        ssl.set_ssl_context(&target).map_err(|_| openssl::ssl::SniError::ALERT_FATAL)?;
        ssl.set_verify(target.verify_mode());
        Ok(())
    }
}

/// One connection, seen from both sides.
struct Outcome {
    /// The server completed the handshake.
    server_ok: bool,
    /// The client completed it by resuming `session`.
    resumed: bool,
    /// The client's session afterwards (with its ticket).
    session: Option<SslSession>,
    /// `gpcguard_check_peer_ssl(judge, ssl)` on the server's connection, when it completed.
    check: Option<(Reason, String)>,
    /// The CA names the server's CertificateRequest gave the client.
    ca_names: Vec<String>,
}

/// Runs one TLS 1.2 handshake: a server on `server_ctx` (the context the connection starts on)
/// and a client presenting PKI certificate `client` and offering `session`. `prepare` may change
/// the server's SSL before the handshake.
fn connect(server_ctx: &SslContext, judge: &Arc<Guard>, dir: &Path, client: &str, session: Option<&SslSession>, prepare: fn(&mut Ssl)) -> Outcome {
    connect_with(server_ctx, judge, dir, client, session, prepare, |_| {})
}

fn connect_with(
    server_ctx: &SslContext,
    judge: &Arc<Guard>,
    dir: &Path,
    client: &str,
    session: Option<&SslSession>,
    prepare: fn(&mut Ssl),
    client_options: impl FnOnce(&mut openssl::ssl::SslConnectorBuilder),
) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (ctx, judge) = (server_ctx.clone(), gpcguard_guard { inner: Arc::clone(judge) });
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let mut ssl = Ssl::new(&ctx).unwrap();
        prepare(&mut ssl);
        let mut stream = ssl.accept(tcp).ok()?;
        let mut verdict = std::ptr::null_mut();
        assert_eq!(gpcguard_check_peer_ssl(&judge, stream.ssl().as_ptr(), &mut verdict), crate::ffi::gpcguard_result::GPCGUARD_OK);
        let reason = gpcguard_verdict_reason(verdict);
        let message = unsafe { CStr::from_ptr(gpcguard_verdict_message(verdict)) }.to_string_lossy().into_owned();
        gpcguard_verdict_free(verdict);
        let _ = std::io::Read::read(&mut stream, &mut [0u8; 1]);
        Some((reason, message))
    });
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.set_ca_file(dir.join("root-ca.pem")).unwrap();
    b.set_certificate_file(dir.join(format!("{client}.pem")), SslFiletype::PEM).unwrap();
    b.set_private_key_file(dir.join(format!("{client}.key")), SslFiletype::PEM).unwrap();
    // The context a connection starts on fixes its protocol; a host's plain one allows TLS 1.3.
    b.set_max_proto_version(Some(SslVersion::TLS1_2)).unwrap();
    client_options(&mut b);
    let mut ssl = b.build().configure().unwrap().into_ssl("localhost").unwrap();
    if let Some(s) = session {
        unsafe { ssl.set_session(s).unwrap() };
    }
    let client_side = ssl.connect(TcpStream::connect(addr).unwrap()).map(|mut s| {
        let _ = std::io::Write::write_all(&mut s, b"x");
        let _ = s.shutdown(); // a clean close keeps the session resumable
        let names = unsafe { SSL_get_client_CA_list(s.ssl().as_ptr()) };
        let names =
            if names.is_null() { Vec::new() } else { unsafe { StackRef::<X509Name>::from_ptr(names) }.iter().map(name_text).collect() };
        (s.ssl().session_reused(), s.ssl().session().map(|x| x.to_owned()), names)
    });
    let check = server.join().unwrap();
    let (resumed, session, ca_names) = client_side.unwrap_or((false, None, Vec::new()));
    Outcome { server_ok: check.is_some(), resumed, session, check, ca_names }
}

fn no_change(_: &mut Ssl) {}

fn assert_allowed(o: &Outcome, what: &str) {
    assert!(o.server_ok, "{what}: the server refused the handshake");
    let (reason, message) = o.check.as_ref().unwrap();
    assert_eq!(*reason, Reason::Allowed, "{what}: gpcguard_check_peer_ssl disagrees with the handshake: {message}");
}

/// Two workers forked from one guard, sharing its ticket keys, each reload once: one with the old
/// CRL, the other (after the file changed, or merging two reload signals) with the CRL that
/// revokes client-later-revoked. Both count to the same generation; a ticket of the first must
/// still be re-verified by the second, which refuses the certificate.
#[test]
fn a_ticket_resumes_only_under_the_state_that_verified_it_not_a_forked_twin() {
    let dir = testkit::pki_copy("tls-fork");
    let parent = guard_of(&dir);
    let (first, second) = (Arc::new(parent.as_forked()), Arc::new(parent.as_forked()));
    let (ctx1, ctx2) = (new_context(&first).unwrap(), new_context(&second).unwrap());
    // The keys made before the fork: the same in both workers.
    let mut keys = [0u8; 80];
    unsafe {
        assert_eq!(sys::SSL_CTX_ctrl(ctx1.as_ptr(), SSL_CTRL_GET_TLSEXT_TICKET_KEYS, 80, keys.as_mut_ptr().cast()), 1);
        assert_eq!(sys::SSL_CTX_ctrl(ctx2.as_ptr(), SSL_CTRL_SET_TLSEXT_TICKET_KEYS, 80, keys.as_mut_ptr().cast()), 1);
    }
    first.reload().unwrap();
    revoke_later(&dir);
    second.reload().unwrap();
    assert_eq!(first.state().generation, second.state().generation, "the scenario needs equal generations");
    let heard = hear_refusals(&second);

    let o = connect(&ctx1, &first, &dir, "client-later-revoked", None, no_change);
    assert_allowed(&o, "full handshake with the first worker");
    let session = o.session.expect("a session ticket");
    let o = connect(&ctx1, &first, &dir, "client-later-revoked", Some(&session), no_change);
    assert_allowed(&o, "resumption with the first worker");
    assert!(o.resumed, "control: the first worker resumes its own ticket");

    let o = connect(&ctx2, &second, &dir, "client-later-revoked", Some(&session), no_change);
    assert!(!o.server_ok && !o.resumed, "the second worker resumed a ticket its CRL revokes");
    let heard = heard.lock().unwrap();
    assert!(
        heard.iter().any(|(r, m)| *r == Reason::CertRevoked && m.contains("CN=SSP later revoked")),
        "the second worker did not verify the certificate in full: {heard:?}"
    );
}

/// SNI from a host's plain default context: OpenSSL decrypts the ticket with that context (no
/// gpcguard callback at all) before the servername callback moves the connection to the
/// gpcguard context. After a CRL swap and reload the old ticket must not resume.
#[test]
fn sni_from_a_plain_default_context_cannot_resume_a_revoked_peer() {
    let dir = testkit::pki_copy("tls-sni-plain");
    let g = guard_of(&dir);
    let target = new_context(&g).unwrap();
    let default = host_context(&dir, |b| b.set_servername_callback(switch_to(target.clone())));
    let heard = hear_refusals(&g);

    let o = connect(&default, &g, &dir, "client-later-revoked", None, no_change);
    assert_allowed(&o, "full handshake through the default context");
    assert!(!o.resumed);
    let session = o.session.expect("a session ticket");
    let o = connect(&default, &g, &dir, "client-later-revoked", Some(&session), no_change);
    assert_allowed(&o, "resumption before the CRL changed");
    assert!(o.resumed, "control: the ticket resumes while the certificate passes");

    revoke_later(&dir);
    g.reload().unwrap();
    let o = connect(&default, &g, &dir, "client-later-revoked", Some(&session), no_change);
    assert!(!o.server_ok && !o.resumed, "a ticket of a revoked certificate resumed through the default context");
    let reported = heard.lock().unwrap().clone();
    assert!(
        reported.iter().any(|(r, m)| *r == Reason::CertRevoked && m.starts_with("resumed session: ") && m.contains("CN=SSP later revoked")),
        "the refusal was not reported: {reported:?}"
    );
    // The same client gets no full handshake either, and another still gets in.
    assert!(!connect(&default, &g, &dir, "client-later-revoked", None, no_change).server_ok);
    assert_allowed(&connect(&default, &g, &dir, "client-valid", None, no_change), "client-valid after the reload");
}

/// SNI from a default context of another guard: that guard decrypts the ticket and judges it by
/// its own state, which does not revoke the peer; the final context's guard, which does after a
/// reload, must judge it again.
#[test]
fn sni_from_another_guards_context_is_judged_again_by_the_final_guard() {
    let (dir_a, dir_b) = (testkit::pki_copy("tls-sni-a"), testkit::pki_copy("tls-sni-b"));
    let (ga, gb) = (guard_of(&dir_a), guard_of(&dir_b));
    let target = new_context(&gb).unwrap();
    let default = host_context(&dir_a, |b| b.set_servername_callback(switch_to(target.clone())));
    unsafe { apply(&ga, default.as_ptr()).unwrap() };
    let heard = hear_refusals(&gb);

    let o = connect(&default, &gb, &dir_b, "client-later-revoked", None, no_change);
    assert_allowed(&o, "full handshake, verified by the final context's guard");
    let session = o.session.expect("a session ticket");
    let o = connect(&default, &gb, &dir_b, "client-later-revoked", Some(&session), no_change);
    assert_allowed(&o, "resumption before the CRL changed");
    assert!(o.resumed, "control: the ticket resumes while both guards pass the certificate");

    revoke_later(&dir_b);
    gb.reload().unwrap();
    let o = connect(&default, &gb, &dir_b, "client-later-revoked", Some(&session), no_change);
    assert!(!o.server_ok && !o.resumed, "the final context's guard revokes the certificate, yet its ticket resumed");
    assert!(heard.lock().unwrap().iter().any(|(r, m)| *r == Reason::CertRevoked && m.starts_with("resumed session: ")), "{heard:?}");
    assert_allowed(&connect(&default, &gb, &dir_b, "client-valid", None, no_change), "client-valid after the reload");
}

/// The safe configuration: the default context is a gpcguard context of the same guard. A valid
/// stamp resumes without renewal (the fast path), and after a reload that revokes the peer the
/// ticket is refused.
#[test]
fn sni_between_contexts_of_one_guard_keeps_the_fast_path() {
    let dir = testkit::pki_copy("tls-sni-same");
    let g = guard_of(&dir);
    let target = new_context(&g).unwrap();
    let default = host_context(&dir, |b| b.set_servername_callback(switch_to(target.clone())));
    unsafe { apply(&g, default.as_ptr()).unwrap() };

    let session = connect(&default, &g, &dir, "client-later-revoked", None, no_change).session.expect("a session ticket");
    let o = connect(&default, &g, &dir, "client-later-revoked", Some(&session), no_change);
    assert_allowed(&o, "resumption");
    assert!(o.resumed);
    assert!(o.session.unwrap().to_der().unwrap() == session.to_der().unwrap(), "a valid stamp renewed the ticket");

    revoke_later(&dir);
    g.reload().unwrap();
    let o = connect(&default, &g, &dir, "client-later-revoked", Some(&session), no_change);
    assert!(!o.server_ok && !o.resumed, "resumed after the reload revoked the certificate");
}

/// A host that sets an info callback on the SSL itself hides the final context's from OpenSSL,
/// so a stale resumption through a plain default context completes: `gpcguard_check_peer_ssl`
/// re-verifies against the guard's current state and refuses it, as the hosts call it per request.
#[test]
fn check_peer_ssl_refuses_a_resumption_the_handshake_could_not_judge() {
    unsafe extern "C" fn host_info(_: *const sys::SSL, _: c_int, _: c_int) {}
    fn own_info_callback(ssl: &mut Ssl) {
        unsafe { SSL_set_info_callback(ssl.as_ptr(), Some(host_info)) };
    }
    let dir = testkit::pki_copy("tls-sni-backstop");
    let g = guard_of(&dir);
    let target = new_context(&g).unwrap();
    let default = host_context(&dir, |b| b.set_servername_callback(switch_to(target.clone())));
    let session = connect(&default, &g, &dir, "client-later-revoked", None, own_info_callback).session.expect("a session ticket");
    revoke_later(&dir);
    g.reload().unwrap();
    let o = connect(&default, &g, &dir, "client-later-revoked", Some(&session), own_info_callback);
    assert!(o.server_ok && o.resumed, "this configuration was expected to resume unjudged");
    let (reason, message) = o.check.unwrap();
    assert_eq!(reason, Reason::CertRevoked, "{message}");
    assert!(message.contains("CN=SSP later revoked"), "{message}");
}

/// The CertificateRequest names the trust anchors of the current state: a reload that adds an
/// anchor adds its name, without a new context.
#[test]
fn ca_names_follow_a_reload() {
    let dir = testkit::pki_copy("tls-ca-names");
    let g = guard_of(&dir);
    let ctx = new_context(&g).unwrap();
    let o = connect(&ctx, &g, &dir, "client-valid", None, no_change);
    assert_allowed(&o, "before the reload");
    assert_eq!(o.ca_names, ["CN=Test Spine RootCA,O=gpcguard test"]);

    let mut anchors = std::fs::read(dir.join("root-ca.pem")).unwrap();
    anchors.extend(std::fs::read(dir.join("unrelated-ca.pem")).unwrap());
    std::fs::write(dir.join("root-ca.pem"), anchors).unwrap();
    g.reload().unwrap();
    let o = connect(&ctx, &g, &dir, "client-valid", None, no_change);
    assert_allowed(&o, "after the reload");
    assert_eq!(o.ca_names, ["CN=Test Spine RootCA,O=gpcguard test", "CN=Unrelated RootCA,O=not the NHS"]);
}

static HOST_CACHE_ASKED: AtomicUsize = AtomicUsize::new(0);

/// A host's session cache callbacks (nginx's shared cache installs them) are removed: OpenSSL
/// asks a get-session callback even with the cache mode off, which would resume by session ID
/// from the host's cache.
#[test]
fn apply_removes_the_hosts_session_cache_callbacks() {
    unsafe extern "C" fn get(_: *mut sys::SSL, _: *const c_uchar, _: c_int, copy: *mut c_int) -> *mut sys::SSL_SESSION {
        HOST_CACHE_ASKED.fetch_add(1, Ordering::SeqCst);
        *copy = 0;
        std::ptr::null_mut()
    }
    unsafe extern "C" fn new(_: *mut sys::SSL, _: *mut sys::SSL_SESSION) -> c_int {
        0
    }
    unsafe extern "C" fn remove(_: *mut sys::SSL_CTX, _: *mut sys::SSL_SESSION) {}
    let dir = testkit::pki_copy("tls-host-cache");
    let g = guard_of(&dir);
    let ctx = host_context(&dir, |_| {});
    unsafe {
        sys::SSL_CTX_sess_set_get_cb(ctx.as_ptr(), Some(get));
        sys::SSL_CTX_sess_set_new_cb(ctx.as_ptr(), Some(new));
        sys::SSL_CTX_sess_set_remove_cb(ctx.as_ptr(), Some(remove));
        apply(&g, ctx.as_ptr()).unwrap();
        assert!(SSL_CTX_sess_get_get_cb(ctx.as_ptr()).is_null(), "get-session callback left installed");
        assert!(SSL_CTX_sess_get_new_cb(ctx.as_ptr()).is_null(), "new-session callback left installed");
        assert!(SSL_CTX_sess_get_remove_cb(ctx.as_ptr()).is_null(), "remove-session callback left installed");
    }
    // A client offering a session ID (no ticket) from a server with a session cache.
    let cached = host_context(&dir, |b| {
        b.set_session_cache_mode(SslSessionCacheMode::SERVER);
        b.set_verify(SslVerifyMode::NONE);
    });
    let no_ticket = |b: &mut openssl::ssl::SslConnectorBuilder| {
        b.set_options(SslOptions::NO_TICKET);
    };
    let session = connect_with(&cached, &g, &dir, "client-valid", None, no_change, no_ticket).session.expect("a session");
    assert!(!session.id().is_empty(), "the cached server gave no session ID");
    let o = connect_with(&ctx, &g, &dir, "client-valid", Some(&session), no_change, no_ticket);
    assert_allowed(&o, "full handshake offering a session ID");
    assert!(!o.resumed);
    assert_eq!(HOST_CACHE_ASKED.load(Ordering::SeqCst), 0, "OpenSSL asked the host's session cache");
}
