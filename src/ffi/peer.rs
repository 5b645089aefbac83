//! Peer-certificate checks as calls, for hosts that terminate TLS themselves (or re-check per
//! request). Each writes a new verdict to `*out`, owned by the caller (`gpcguard_verdict_free`).
//! Each goes through `Guard::check_peer`, so a re-check of a chain the current state accepted
//! reuses that acceptance while it holds (the guard's peer cache).

use foreign_types::ForeignTypeRef;
use openssl::ssl::SslRef;
use openssl::x509::X509;
use openssl_sys::SSL;

use super::guard::gpcguard_guard;
use super::verdict::gpcguard_verdict;
use super::{clear_out, bytes_arg, ffi_boundary, gpcguard_result, require_non_null, write_out};
use crate::guard::{system_now, Guard};
use crate::connection::pki::{parse_pem_chain, too_many_certificates, CertRefusal};
use crate::verdict::Verdict;

/// One DER certificate: `len` bytes at `data`.
#[repr(C)]
pub struct gpcguard_bytes {
    pub data: *const u8,
    pub len: usize,
}

fn judge(guard: &Guard, chain: Result<Vec<X509>, CertRefusal>, now: i64) -> Verdict {
    let now = if now == 0 { system_now() } else { now };
    match chain {
        Ok(certs) => guard.check_peer(&certs[0], &certs[1..], now),
        Err(r) => Verdict::refuse(r.reason, r.message, &guard.state().settings.error_code_system),
    }
}

/// Judges a client certificate chain given as PEM (`len` bytes at `pem`: the leaf first, then any
/// intermediates the peer sent) at Unix time `now` (0 = the system clock). The path to a trust
/// anchor is built from the configured intermediates only; the intermediates given here are never
/// links of it (a refusal names one that is not configured). Empty input is
/// `GPCGUARD_REASON_CERT_MISSING` (496); unparsable input `GPCGUARD_REASON_CERT_MALFORMED` (495).
/// A chain (the same certificates, in the same order) the guard's current state already accepted
/// is not verified again while that acceptance holds (docs/SECURITY.md, "Re-checks per
/// request"); a refusal is always verified in full; the verdict is the same either way.
/// Errors: `GPCGUARD_NULL_PARAMETER`.
#[no_mangle]
pub extern "C" fn gpcguard_check_peer_pem(
    guard: *const gpcguard_guard,
    pem: *const u8,
    len: usize,
    now: i64,
    out: *mut *mut gpcguard_verdict,
) -> gpcguard_result {
    ffi_boundary!({
        clear_out!(out);
        require_non_null!(guard);
        let pem = match unsafe { bytes_arg(pem, len, "pem") } {
            Ok(b) => b,
            Err(r) => return r,
        };
        let guard = unsafe { &(*guard).inner };
        let limits = &guard.state().settings.limits;
        #[cfg(feature = "test-panic")]
        super::test_panic_point("gpcguard_check_peer_pem");
        let chain = parse_pem_chain(pem, limits.max_peer_certificates, limits.max_peer_chain_bytes);
        unsafe { write_out(out, gpcguard_verdict::new(judge(guard, chain, now))) }
    })
}

/// Judges a client certificate chain given as `count` DER certificates (leaf first), as Java's
/// `X509Certificate.getEncoded()` gives them, at `now` (0 = the system clock). `count = 0` is
/// `GPCGUARD_REASON_CERT_MISSING`.
/// A chain (the same bytes, in the same order) the guard's current state already accepted is
/// neither parsed nor verified again while that acceptance holds (docs/SECURITY.md, "Re-checks
/// per request"); a refusal is always verified in full; the verdict is the same either way.
/// Errors: `GPCGUARD_NULL_PARAMETER` (also for a NULL `data` with a non-zero `len`).
#[no_mangle]
pub extern "C" fn gpcguard_check_peer_der(
    guard: *const gpcguard_guard,
    certs: *const gpcguard_bytes,
    count: usize,
    now: i64,
    out: *mut *mut gpcguard_verdict,
) -> gpcguard_result {
    ffi_boundary!({
        clear_out!(out);
        require_non_null!(guard);
        if certs.is_null() && count > 0 {
            return super::fail(gpcguard_result::GPCGUARD_NULL_PARAMETER, "`certs` is NULL with a non-zero count");
        }
        let guard = unsafe { &(*guard).inner };
        let max_certs = guard.state().settings.limits.max_peer_certificates;
        if count > max_certs {
            return unsafe { write_out(out, gpcguard_verdict::new(judge(guard, Err(too_many_certificates(count, max_certs)), now))) };
        }
        let items = if count == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(certs, count) } };
        let mut ders = Vec::with_capacity(count);
        for (i, c) in items.iter().enumerate() {
            match unsafe { bytes_arg(c.data, c.len, &format!("certs[{i}].data")) } {
                Ok(b) => ders.push(b),
                Err(r) => return r,
            }
        }
        let now = if now == 0 { system_now() } else { now };
        // Parsed there, after the peer cache is asked: parsing is most of a re-check's cost.
        unsafe { write_out(out, gpcguard_verdict::new(guard.check_peer_der(&ders, now))) }
    })
}

/// Re-verifies the client certificate of a TLS connection (server side) against the guard's
/// current state at the system clock: it does not trust the handshake's earlier result, so it
/// also catches a certificate revoked by a reload since the handshake, and a session resumed
/// through a context of another guard or of none: it is never satisfied by the handshake, only
/// by the current state, which may reuse its own acceptance of the same chain while it holds
/// (see `gpcguard_check_peer_pem`). No peer certificate is
/// `GPCGUARD_REASON_CERT_MISSING` (496).
/// Errors: `GPCGUARD_NULL_PARAMETER`.
#[no_mangle]
pub extern "C" fn gpcguard_check_peer_ssl(guard: *const gpcguard_guard, ssl: *const SSL, out: *mut *mut gpcguard_verdict) -> gpcguard_result {
    ffi_boundary!({
        clear_out!(out);
        require_non_null!(guard, ssl);
        let guard = unsafe { &(*guard).inner };
        // SAFETY: a live SSL of the host's; only read here.
        let ssl = unsafe { SslRef::from_ptr(ssl as *mut SSL) };
        let chain = match ssl.peer_certificate() {
            None => Err(CertRefusal { reason: crate::verdict::Reason::CertMissing, message: "no client certificate was presented".into(), x509_error: 0 }),
            Some(leaf) => {
                let mut certs = vec![leaf];
                if let Some(sent) = ssl.peer_cert_chain() {
                    certs.extend(sent.iter().map(|c| c.to_owned()));
                }
                Ok(certs)
            }
        };
        unsafe { write_out(out, gpcguard_verdict::new(judge(guard, chain, 0))) }
    })
}
