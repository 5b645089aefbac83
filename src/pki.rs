//! Client-certificate verification (spec §1, §9 "Certificates"): the chain must reach a configured
//! trust anchor through the peer's or the configured intermediates, every certificate must be in
//! its validity period at `now`, not revoked by a configured CRL (the whole chain by default), the
//! certificate must allow client authentication, and it must carry the SSP's FQDN.
//!
//! Chain building, signatures, validity, EKU and CRLs are OpenSSL's `X509_verify_cert` on a store
//! built once per guard state; the FQDN rule is ours, so its message can say what was expected.

use libc::c_int;
use openssl::pkey::{PKey, Public};
use openssl::stack::Stack;
use foreign_types::{ForeignType, ForeignTypeRef};
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{X509Crl, X509NameRef, X509Ref, X509VerifyResult, X509};
use openssl_sys as sys;

use crate::config::{Revocation, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::ossl;
use crate::profile;
use crate::verdict::Reason;

/// Which use the leaf must allow (clients, except in test harnesses of the verification itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Client,
    Server,
    Any,
}

/// The rules a chain is judged by.
#[derive(Clone, Debug)]
pub struct PkiPolicy {
    /// Names the leaf must carry (one of them); empty means no name check.
    pub fqdns: Vec<String>,
    pub revocation: Revocation,
    pub require_crl: bool,
    pub purpose: Purpose,
    /// Most intermediates between leaf and anchor.
    pub max_depth: u32,
}

impl PkiPolicy {
    pub fn from_settings(s: &Settings) -> Self {
        PkiPolicy {
            fqdns: s.ssp_fqdn.clone(),
            revocation: s.revocation,
            require_crl: s.require_crl,
            purpose: Purpose::Client,
            max_depth: 8,
        }
    }
}

/// A CRL with the name of the file it came from, for messages.
pub struct NamedCrl {
    pub source: String,
    pub crl: X509Crl,
}

struct CrlInfo {
    source: String,
    issuer: String,
    next_update: String,
}

/// Why a certificate was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertRefusal {
    pub reason: Reason,
    pub message: String,
    /// The OpenSSL `X509_V_ERR_*` code closest to the reason, for TLS alerts.
    pub x509_error: c_int,
}

/// The loaded trust configuration: immutable, shared by every verification of one guard state.
pub struct Pki {
    store: X509Store,
    intermediates: Vec<X509>,
    anchors: Vec<X509>,
    crls: Vec<CrlInfo>,
    policy: PkiPolicy,
    /// Until when (Unix seconds) every configured CA is within its validity and, when revocation
    /// is checked, every CRL is before its nextUpdate: within that time and this state, a chain
    /// that verified once still verifies, as long as its own certificates have not expired.
    stable_until: i64,
}

// SAFETY: the store, certificates and CRLs are only read after construction; OpenSSL's X509_STORE
// lookups lock internally, and X509/X509_CRL objects are reference counted atomically.
unsafe impl Send for Pki {}
unsafe impl Sync for Pki {}

impl Pki {
    /// Reads every PKI file a configuration names, checking each as it goes.
    pub fn load(settings: &Settings) -> Result<Pki> {
        let mut anchors = Vec::new();
        for path in &settings.trust_anchor {
            anchors.extend(read_ca_file("trust_anchor", &path.display().to_string())?);
        }
        let mut intermediates = Vec::new();
        for path in &settings.intermediate {
            intermediates.extend(read_ca_file("intermediate", &path.display().to_string())?);
        }
        let mut crls = Vec::new();
        for path in &settings.crl {
            let source = path.display().to_string();
            let bytes = read_file("crl", &source)?;
            let crl = X509Crl::from_pem(&bytes).or_else(|_| X509Crl::from_der(&bytes)).map_err(|_| {
                Error::new(ErrorKind::Pem, format!("configuration key `crl`: {source} holds no PEM or DER CRL"))
            })?;
            crls.push(NamedCrl { source, crl });
        }
        Pki::from_parts(anchors, intermediates, crls, PkiPolicy::from_settings(settings))
    }

    /// Builds the verification state from certificates and CRLs already in memory.
    pub fn from_parts(anchors: Vec<X509>, intermediates: Vec<X509>, crls: Vec<NamedCrl>, policy: PkiPolicy) -> Result<Pki> {
        if anchors.is_empty() {
            return Err(Error::new(ErrorKind::Ca, "configuration key `trust_anchor`: no trust anchor certificate"));
        }
        let tls = |what: &'static str| move |e| Error::tls(what, e);
        let mut builder = X509StoreBuilder::new().map_err(tls("X509_STORE_new"))?;
        for a in &anchors {
            profile::check_anchor(a)?;
            builder.add_cert(a.clone()).map_err(tls("adding a trust anchor"))?;
        }
        let mut infos = Vec::new();
        for named in &crls {
            let issuer = anchors
                .iter()
                .chain(&intermediates)
                .find(|ca| {
                    same_name(ca.subject_name(), named.crl.issuer_name())
                        && ca.public_key().ok().is_some_and(|k: PKey<Public>| named.crl.verify(&k).unwrap_or(false))
                })
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Crl,
                        format!(
                            "configuration key `crl`: {} (issuer {}) is not signed by any configured trust anchor or intermediate",
                            named.source,
                            name_text(named.crl.issuer_name())
                        ),
                    )
                })?;
            profile::check_crl(&named.crl, issuer).map_err(|what| {
                Error::new(ErrorKind::Crl, format!("configuration key `crl`: {} (issuer {}) {what}", named.source, name_text(issuer.subject_name())))
            })?;
            infos.push(CrlInfo {
                source: named.source.clone(),
                issuer: name_text(issuer.subject_name()),
                next_update: named.crl.next_update().map(|t| t.to_string()).unwrap_or_else(|| "never".into()),
            });
            // SAFETY: the store takes its own reference to the CRL.
            if unsafe { ossl::X509_STORE_add_crl(builder.as_ptr(), named.crl.as_ptr()) } != 1 {
                return Err(Error::tls("adding a CRL", openssl::error::ErrorStack::get()));
            }
        }
        let flags = match policy.revocation {
            Revocation::Chain => sys::X509_V_FLAG_CRL_CHECK | sys::X509_V_FLAG_CRL_CHECK_ALL,
            Revocation::Leaf => sys::X509_V_FLAG_CRL_CHECK,
            Revocation::Off => 0,
        } | sys::X509_V_FLAG_X509_STRICT;
        // SAFETY: plain setters on the store being built.
        unsafe {
            sys::X509_STORE_set_flags(builder.as_ptr(), flags as _);
            if !policy.require_crl {
                ossl::X509_STORE_set_verify_cb(builder.as_ptr(), Some(tolerate_missing_crl));
            }
        }
        let mut stable_until = anchors.iter().chain(&intermediates).map(|c| unix_time(c.not_after())).min().unwrap_or(i64::MIN);
        if policy.revocation != Revocation::Off {
            for named in &crls {
                // A CRL without nextUpdate never goes stale; one with an unreadable time does at once.
                let next = named.crl.next_update().map_or(i64::MAX, unix_time);
                stable_until = stable_until.min(next);
            }
        }
        Ok(Pki { store: builder.build(), intermediates, anchors, crls: infos, policy, stable_until })
    }

    /// See the field: the end of the period in which a verification's outcome cannot change
    /// through configured CAs or CRLs aging.
    pub fn stable_until(&self) -> i64 {
        self.stable_until
    }

    /// The configured trust anchors (their subjects are the CA names a server asks clients for).
    pub fn anchors(&self) -> &[X509] {
        &self.anchors
    }

    /// Verifies a client certificate presented with `presented` (the peer's chain as sent; it may
    /// include the leaf) at Unix time `now`.
    pub fn verify(&self, leaf: &X509Ref, presented: &[&X509Ref], now: i64) -> std::result::Result<(), CertRefusal> {
        let subject = name_text(leaf.subject_name());
        let internal = |what: &str| CertRefusal {
            reason: Reason::Internal,
            message: format!("could not verify certificate {subject}: {what}"),
            x509_error: sys::X509_V_ERR_UNSPECIFIED,
        };
        let mut untrusted = Stack::<X509>::new().map_err(|_| internal("out of memory"))?;
        for c in presented.iter().copied().chain(self.intermediates.iter().map(|c| &**c)) {
            untrusted.push(c.to_owned()).map_err(|_| internal("out of memory"))?;
        }
        // SAFETY: a fresh X509_STORE_CTX over our store, the leaf and the untrusted stack, all of
        // which outlive it; freed before return by `StoreCtx`'s Drop.
        unsafe {
            let ctx = StoreCtx(sys::X509_STORE_CTX_new());
            if ctx.0.is_null() {
                return Err(internal("out of memory"));
            }
            if sys::X509_STORE_CTX_init(ctx.0, self.store.as_ptr(), leaf.as_ptr(), untrusted.as_ptr()) != 1 {
                return Err(internal("X509_STORE_CTX_init failed"));
            }
            let param = ossl::X509_STORE_CTX_get0_param(ctx.0);
            sys::X509_VERIFY_PARAM_set_time(param, now as libc::time_t);
            sys::X509_VERIFY_PARAM_set_depth(param, self.policy.max_depth as c_int);
            let purpose = match self.policy.purpose {
                Purpose::Client => sys::X509_PURPOSE_SSL_CLIENT,
                Purpose::Server => sys::X509_PURPOSE_SSL_SERVER,
                Purpose::Any => 0,
            };
            if purpose != 0 {
                sys::X509_VERIFY_PARAM_set_purpose(param, purpose);
            }
            let ok = sys::X509_verify_cert(ctx.0);
            openssl::error::ErrorStack::get(); // drop whatever OpenSSL queued: verdicts carry the reason
            if ok != 1 {
                let err = sys::X509_STORE_CTX_get_error(ctx.0);
                let depth = sys::X509_STORE_CTX_get_error_depth(ctx.0);
                let current = sys::X509_STORE_CTX_get_current_cert(ctx.0);
                let at = if current.is_null() { leaf } else { X509Ref::from_ptr(current) };
                return Err(self.refusal(&subject, err, depth, at));
            }
            // The profile rules judge the chain OpenSSL verified, read before the context is freed.
            let chain = sys::X509_STORE_CTX_get0_chain(ctx.0);
            if chain.is_null() {
                return Err(internal("verification produced no chain"));
            }
            let chain: Vec<&X509Ref> = openssl::stack::StackRef::<X509>::from_ptr(chain).iter().collect();
            profile::check_chain(&chain, self.policy.purpose)?;
        }
        self.check_fqdn(leaf, &subject)
    }

    fn refusal(&self, subject: &str, err: c_int, depth: c_int, at: &X509Ref) -> CertRefusal {
        let reason = reason_of(err);
        // SAFETY: any int is a valid argument to X509_verify_cert_error_string.
        let what = unsafe { X509VerifyResult::from_raw(err) }.error_string();
        let at_name = name_text(at.subject_name());
        let issuer = name_text(at.issuer_name());
        let which = if depth == 0 { format!("certificate {subject}") } else { format!("certificate {subject}: chain certificate {at_name} (depth {depth})") };
        let detail = match reason {
            Reason::CertRevoked => match self.crl_of(&issuer) {
                Some(c) => format!("is revoked by the CRL of {} in {}", c.issuer, c.source),
                None => format!("is revoked by the CRL of {issuer}"),
            },
            Reason::CertRevocationUnknown => match self.crl_of(&issuer) {
                Some(c) => format!("has no usable CRL: {what} (CRL of {} in {}, next update {})", c.issuer, c.source, c.next_update),
                None => format!("has no usable CRL: {what} (no CRL from issuer {issuer} is configured)"),
            },
            Reason::CertExpired => format!("has expired (notAfter {})", at.not_after()),
            Reason::CertNotYetValid => format!("is not yet valid (notBefore {})", at.not_before()),
            Reason::CertUntrusted if err == sys::X509_V_ERR_INVALID_PURPOSE => match self.policy.purpose {
                Purpose::Server => "does not allow TLS server authentication (extended key usage)".to_owned(),
                _ => "does not allow TLS client authentication (extended key usage)".to_owned(),
            },
            _ => format!("is not trusted: {what} (issuer {issuer}; trust anchors: {})", self.anchor_names()),
        };
        CertRefusal { reason, message: format!("{which} {detail}"), x509_error: err }
    }

    fn crl_of(&self, issuer: &str) -> Option<&CrlInfo> {
        self.crls.iter().find(|c| c.issuer == issuer)
    }

    fn anchor_names(&self) -> String {
        self.anchors.iter().map(|a| name_text(a.subject_name())).collect::<Vec<_>>().join("; ")
    }

    /// SAN dNSNames, else (only when there is none) the subject CNs; exact, case-insensitive,
    /// never a wildcard (spec §9).
    fn check_fqdn(&self, leaf: &X509Ref, subject: &str) -> std::result::Result<(), CertRefusal> {
        if self.policy.fqdns.is_empty() {
            return Ok(());
        }
        let names = certificate_dns_names(leaf);
        if names.iter().any(|n| self.policy.fqdns.iter().any(|f| f.eq_ignore_ascii_case(n))) {
            return Ok(());
        }
        let shown: Vec<String> = names.iter().take(8).map(|n| printable(n, 80)).collect();
        Err(CertRefusal {
            reason: Reason::CertWrongHost,
            message: format!(
                "certificate {subject} does not carry the SSP FQDN {} (it names {})",
                self.policy.fqdns.join(" or "),
                if shown.is_empty() { "no DNS name".to_owned() } else { shown.join(", ") }
            ),
            x509_error: sys::X509_V_ERR_HOSTNAME_MISMATCH,
        })
    }
}

/// The DNS names a certificate is for: its dNSName SANs, or its subject CNs when it has none.
fn certificate_dns_names(cert: &X509Ref) -> Vec<String> {
    let sans: Vec<String> = cert
        .subject_alt_names()
        .map(|s| s.iter().filter_map(|g| g.dnsname().map(str::to_owned)).collect())
        .unwrap_or_default();
    if !sans.is_empty() {
        return sans;
    }
    cert.subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        // Raw bytes, not a NUL-truncating conversion: "fqdn\0.evil" must not read as "fqdn".
        .filter_map(|e| std::str::from_utf8(e.data().as_slice()).ok().map(str::to_owned))
        .collect()
}

struct StoreCtx(*mut sys::X509_STORE_CTX);

impl Drop for StoreCtx {
    fn drop(&mut self) {
        // SAFETY: allocated by X509_STORE_CTX_new, freed once.
        unsafe { sys::X509_STORE_CTX_free(self.0) }
    }
}

/// With `require_crl = false`, a missing or out-of-date CRL does not refuse a client; a CRL that
/// does revoke it still does.
unsafe extern "C" fn tolerate_missing_crl(ok: c_int, ctx: *mut sys::X509_STORE_CTX) -> c_int {
    if ok == 0 {
        let err = ossl::X509_STORE_CTX_get_error(ctx);
        if matches!(err, sys::X509_V_ERR_UNABLE_TO_GET_CRL | sys::X509_V_ERR_CRL_HAS_EXPIRED | sys::X509_V_ERR_CRL_NOT_YET_VALID) {
            return 1;
        }
    }
    ok
}

/// Maps an OpenSSL verification error to a verdict reason. Anything unrecognised is "untrusted".
pub fn reason_of(err: c_int) -> Reason {
    match err {
        sys::X509_V_ERR_CERT_HAS_EXPIRED => Reason::CertExpired,
        sys::X509_V_ERR_CERT_NOT_YET_VALID => Reason::CertNotYetValid,
        sys::X509_V_ERR_CERT_REVOKED => Reason::CertRevoked,
        sys::X509_V_ERR_UNABLE_TO_GET_CRL
        | sys::X509_V_ERR_CRL_HAS_EXPIRED
        | sys::X509_V_ERR_CRL_NOT_YET_VALID
        | sys::X509_V_ERR_CRL_SIGNATURE_FAILURE
        | sys::X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE
        | sys::X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD
        | sys::X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD
        | sys::X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER
        | sys::X509_V_ERR_KEYUSAGE_NO_CRL_SIGN
        | sys::X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION
        | sys::X509_V_ERR_DIFFERENT_CRL_SCOPE => Reason::CertRevocationUnknown,
        sys::X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD | sys::X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD => Reason::CertMalformed,
        sys::X509_V_ERR_HOSTNAME_MISMATCH => Reason::CertWrongHost,
        _ => Reason::CertUntrusted,
    }
}

/// An ASN.1 time as Unix seconds; an unreadable one as the distant past (fail closed).
pub fn unix_time(t: &openssl::asn1::Asn1TimeRef) -> i64 {
    let Ok(epoch) = openssl::asn1::Asn1Time::from_unix(0) else { return i64::MIN };
    epoch.diff(t).map_or(i64::MIN, |d| i64::from(d.days) * 86_400 + i64::from(d.secs))
}

fn same_name(a: &X509NameRef, b: &X509NameRef) -> bool {
    a.try_cmp(b).map(|o| o.is_eq()).unwrap_or(false)
}

/// A distinguished name as `CN=...,O=...`, printable ASCII only, bounded, for messages.
pub fn name_text(name: &X509NameRef) -> String {
    let mut parts = Vec::new();
    for e in name.entries().take(16) {
        let key = e.object().nid().short_name().unwrap_or("?");
        let value = String::from_utf8_lossy(e.data().as_slice());
        parts.push(format!("{key}={}", printable(&value, 128)));
    }
    if parts.is_empty() {
        return "(empty subject)".into();
    }
    parts.join(",")
}

/// `s` with anything but printable ASCII replaced, cut at `max` characters.
pub fn printable(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).map(|c| if (' '..='~').contains(&c) { c } else { '?' }).collect();
    if s.chars().count() > max {
        out.push_str("...");
    }
    out
}

fn read_file(key: &str, path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::new(ErrorKind::File, format!("configuration key `{key}`: cannot read {path}: {e}")))
}

/// Certificates from a PEM file (several allowed) or a single DER certificate.
pub fn read_cert_file(key: &str, path: &str) -> Result<Vec<X509>> {
    let bytes = read_file(key, path)?;
    let certs = match X509::stack_from_pem(&bytes) {
        Ok(v) if !v.is_empty() => v,
        _ => X509::from_der(&bytes).map(|c| vec![c]).map_err(|_| {
            Error::new(ErrorKind::Pem, format!("configuration key `{key}`: {path} holds no PEM or DER certificate"))
        })?,
    };
    Ok(certs)
}

fn read_ca_file(key: &str, path: &str) -> Result<Vec<X509>> {
    let certs = read_cert_file(key, path)?;
    for c in &certs {
        if !is_ca(c) {
            return Err(Error::new(
                ErrorKind::Ca,
                format!("configuration key `{key}`: {path} holds {}, which is not a CA certificate", name_text(c.subject_name())),
            ));
        }
    }
    Ok(certs)
}

fn is_ca(cert: &X509Ref) -> bool {
    extern "C" {
        fn X509_check_ca(x: *mut sys::X509) -> c_int;
    }
    // SAFETY: read-only inspection of a valid certificate (it caches extensions internally).
    unsafe { X509_check_ca(cert.as_ptr()) == 1 }
}

/// Parses a peer chain given as PEM (leaf first). Empty or blank input is `CertMissing`.
pub fn parse_pem_chain(pem: &[u8], max_certs: usize, max_bytes: usize) -> std::result::Result<Vec<X509>, CertRefusal> {
    if pem.len() > max_bytes {
        return Err(malformed(format!("peer chain of {} bytes exceeds max_peer_chain_bytes ({max_bytes})", pem.len())));
    }
    if pem.iter().all(u8::is_ascii_whitespace) {
        return Err(missing());
    }
    let blocks = count_occurrences(pem, b"-----BEGIN ");
    if blocks > max_certs {
        return Err(too_many_certificates(blocks, max_certs));
    }
    match X509::stack_from_pem(pem) {
        Ok(v) if !v.is_empty() && v.len() == blocks => Ok(v),
        _ => {
            openssl::error::ErrorStack::get();
            Err(malformed("peer chain is not a sequence of PEM certificates".into()))
        }
    }
}

/// Parses a peer chain given as DER certificates (leaf first); each must be exactly one certificate.
pub fn parse_der_chain(ders: &[&[u8]], max_certs: usize, max_bytes: usize) -> std::result::Result<Vec<X509>, CertRefusal> {
    if ders.is_empty() {
        return Err(missing());
    }
    if ders.len() > max_certs {
        return Err(too_many_certificates(ders.len(), max_certs));
    }
    let total: usize = ders.iter().map(|d| d.len()).sum();
    if total > max_bytes {
        return Err(malformed(format!("peer chain of {total} bytes exceeds max_peer_chain_bytes ({max_bytes})")));
    }
    ders.iter()
        .enumerate()
        .map(|(i, der)| {
            let cert = X509::from_der(der).ok().filter(|c| c.to_der().map(|d| d.len() == der.len()).unwrap_or(false));
            cert.ok_or_else(|| {
                openssl::error::ErrorStack::get();
                malformed(format!("certificate {i} of the peer chain is not one DER certificate"))
            })
        })
        .collect()
}

/// A chain longer than `max_peer_certificates`: refused before any parsing.
pub fn too_many_certificates(count: usize, max: usize) -> CertRefusal {
    malformed(format!("peer chain has {count} certificates, more than max_peer_certificates ({max})"))
}

fn missing() -> CertRefusal {
    CertRefusal { reason: Reason::CertMissing, message: "no client certificate was presented".into(), x509_error: sys::X509_V_ERR_UNSPECIFIED }
}

fn malformed(message: String) -> CertRefusal {
    CertRefusal { reason: Reason::CertMalformed, message, x509_error: sys::X509_V_ERR_UNSPECIFIED }
}

fn count_occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}
