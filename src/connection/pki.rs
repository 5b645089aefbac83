//! Client-certificate verification (spec §1, §9 "Certificates"): the chain must reach a configured
//! trust anchor through configured intermediates only, every certificate must be in its validity
//! period at `now`, not revoked by a configured CRL (the whole chain by default), the certificate
//! must allow client authentication, and it must carry the SSP's FQDN.
//!
//! Chain building, signatures, validity and EKU are OpenSSL's `X509_verify_cert` on a store built
//! once per guard state; the FQDN rule is ours, so its message can say what was expected.
//!
//! The path is built from the configured intermediates alone: a certificate the peer presents is
//! never a link of the chain (spec §1: client certificates chain to the Spine SubCA and RootCA
//! the provider configures), so a SubCA the RootCA issued but the provider did not configure
//! cannot vouch for a client, whatever `revocation` and `require_crl` say. With no `intermediate`
//! configured, only clients issued directly by a trust anchor are accepted.
//!
//! Validity periods are inclusive at both ends (RFC 5280 4.1.2.5: valid from notBefore through
//! notAfter). OpenSSL treats the notAfter second itself as expired; [`accept_not_after_second`]
//! corrects that one case. A CRL is current from its lastUpdate second up to, not including, its
//! nextUpdate second (as OpenSSL has it): at nextUpdate a new CRL is due.
//!
//! Revocation: OpenSSL's CRL check (`X509_V_FLAG_CRL_CHECK[_ALL]`) verifies each CRL's signature
//! again at every verification, hashing the whole CRL, so a handshake's cost grew with the CRL
//! (issue 5). Every CRL's signature is already verified once at load, against a configured CA,
//! and the state is immutable until the next reload. So when every configured CRL is one whose
//! meaning we handle completely ([`simple_crl`]: a direct, complete, non-delta CRL without
//! issuingDistributionPoint, unhandled critical extensions, indirect or removeFromCRL entries),
//! OpenSSL verifies the chain without CRL flags and [`Pki::check_revocation`] does the revocation
//! check the way OpenSSL's `check_revocation` would, using a serial lookup in OpenSSL's sorted
//! index of the CRL (sorted once, at load). The CRL flags are store-wide, so it is all or nothing:
//! with any other CRL configured, every verification takes OpenSSL's path as before; and a chain
//! whose certificates ask for what only OpenSSL's path handles (a CRL distribution point limited
//! to some reasons or naming a cRLIssuer; a top certificate that is not self-issued) is verified
//! again on that path. One difference from OpenSSL's path, in precedence only: OpenSSL checks
//! revocation before signatures and validity periods, ours after, so a chain that is both expired
//! (or badly signed) and revoked is refused for the former. What is accepted is the same.

use std::fmt::Write as _;

use libc::c_int;
use openssl::pkey::{PKey, Public};
use openssl::stack::Stack;
use foreign_types::{ForeignType, ForeignTypeRef};
use openssl::x509::store::{X509Store, X509StoreBuilder};
use openssl::x509::{CrlStatus, X509Crl, X509CrlRef, X509NameRef, X509Ref, X509VerifyResult, X509};
use openssl_sys as sys;

use crate::config::{Revocation, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::connection::ossl;
use crate::connection::profile;
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

/// What a configured CRL is, for messages and for operators (`gpcguard check-config`, status).
#[derive(Clone, Debug)]
pub struct CrlInfo {
    /// The file it was read from.
    pub source: String,
    /// The subject of the configured CA that signed it.
    pub issuer: String,
    /// nextUpdate as text, "never" when absent.
    pub next_update: String,
    /// thisUpdate and nextUpdate as Unix seconds (None: no nextUpdate).
    pub this_update_unix: i64,
    pub next_update_unix: Option<i64>,
    /// How many certificates it revokes.
    pub entries: usize,
    /// Its crlNumber in hexadecimal, when it has one.
    pub crl_number: Option<String>,
}

/// The store and CRLs of our own revocation check.
struct FastRevocation {
    /// The same trust anchors and flags as `Pki::store`, without CRLs or CRL flags.
    store: X509Store,
    crls: Vec<FastCrl>,
}

/// A CRL for our own revocation check, with what the check reads, taken once at load.
struct FastCrl {
    crl: X509Crl,
    /// The key its signature was verified with at load: only a chain certificate with this key
    /// can be the CRL's issuer.
    key: PKey<Public>,
    /// Its authorityKeyIdentifier, decoded (null when it has none); owned, freed on drop.
    akid: *mut sys::AUTHORITY_KEYID,
    last_update: i64,
    next_update: Option<i64>,
}

impl Drop for FastCrl {
    fn drop(&mut self) {
        if !self.akid.is_null() {
            // SAFETY: decoded by X509_CRL_get_ext_d2i for this value alone, freed once.
            unsafe { sys::AUTHORITY_KEYID_free(self.akid) }
        }
    }
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
    /// Our own revocation check, when every configured CRL allows it (see the module comment).
    fast: Option<FastRevocation>,
    /// The last second (Unix) through which no configured CA or CRL changes what it says: see
    /// [`stable_until`]. Within it and this state, a chain that verified once still verifies, as
    /// long as its own certificates have not expired.
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
        Pki::build(anchors, intermediates, crls, policy, true)
    }

    /// `from_parts`, with our own revocation check allowed or not (tests compare the two paths).
    fn build(anchors: Vec<X509>, intermediates: Vec<X509>, crls: Vec<NamedCrl>, policy: PkiPolicy, allow_fast: bool) -> Result<Pki> {
        if anchors.is_empty() {
            return Err(Error::new(ErrorKind::Ca, "configuration key `trust_anchor`: no trust anchor certificate"));
        }
        let tls = |what: &'static str| move |e| Error::tls(what, e);
        let mut builder = X509StoreBuilder::new().map_err(tls("X509_STORE_new"))?;
        for a in &anchors {
            profile::check_anchor(a)?;
            builder.add_cert(a.clone()).map_err(tls("adding a trust anchor"))?;
        }
        for i in &intermediates {
            profile::check_intermediate(i)?;
        }
        let mut infos = Vec::new();
        // Filled while every CRL so far is one our own check handles; None from the first that is not.
        let mut fast_crls = (allow_fast && policy.revocation != Revocation::Off).then(Vec::new);
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
            if let Some(list) = &mut fast_crls {
                match simple_crl(&named.crl, issuer) {
                    Some(fast) => list.push(fast),
                    None => fast_crls = None,
                }
            }
            infos.push(CrlInfo {
                source: named.source.clone(),
                issuer: name_text(issuer.subject_name()),
                next_update: named.crl.next_update().map(|t| t.to_string()).unwrap_or_else(|| "never".into()),
                this_update_unix: unix_time(named.crl.last_update()),
                next_update_unix: named.crl.next_update().map(unix_time),
                entries: named.crl.get_revoked().map_or(0, |r| r.len()),
                crl_number: crl_number(&named.crl),
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
        let verify_cb = if policy.require_crl { accept_not_after_second } else { tolerate_missing_crl };
        // SAFETY: plain setters on the store being built.
        unsafe {
            sys::X509_STORE_set_flags(builder.as_ptr(), flags as _);
            ossl::X509_STORE_set_verify_cb(builder.as_ptr(), Some(verify_cb));
        }
        let crl_times: &[NamedCrl] = if policy.revocation == Revocation::Off { &[] } else { &crls };
        let stable_until = stable_until(anchors.iter().chain(&intermediates).map(|c| &**c), crl_times.iter().map(|c| &*c.crl), system_time());
        let fast = match fast_crls {
            Some(crls) => {
                let mut b = X509StoreBuilder::new().map_err(tls("X509_STORE_new"))?;
                for a in &anchors {
                    b.add_cert(a.clone()).map_err(tls("adding a trust anchor"))?;
                }
                // SAFETY: plain setters on the store being built. No CRL flags: revocation is ours.
                unsafe {
                    sys::X509_STORE_set_flags(b.as_ptr(), sys::X509_V_FLAG_X509_STRICT as _);
                    ossl::X509_STORE_set_verify_cb(b.as_ptr(), Some(accept_not_after_second));
                }
                Some(FastRevocation { store: b.build(), crls })
            }
            None => None,
        };
        Ok(Pki { store: builder.build(), intermediates, anchors, crls: infos, policy, fast, stable_until })
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

    /// The configured intermediates.
    pub fn intermediates(&self) -> &[X509] {
        &self.intermediates
    }

    /// The configured CRLs, in configuration order.
    pub fn crls(&self) -> &[CrlInfo] {
        &self.crls
    }

    /// Verifies a client certificate at Unix time `now`. `presented` is the peer's chain as sent
    /// (it may include the leaf): it is never used to build the path, which runs through the
    /// configured intermediates only (see the module comment); it only lets a refusal name a
    /// SubCA the peer sent that is not configured.
    pub fn verify(&self, leaf: &X509Ref, presented: &[&X509Ref], now: i64) -> std::result::Result<(), CertRefusal> {
        let subject = name_text(leaf.subject_name());
        let purpose = self.policy.purpose;
        if let Some(fast) = &self.fast {
            let done = self.openssl_verify(&fast.store, leaf, presented, now, &subject, |chain| {
                if needs_openssl_revocation(chain, self.covered(chain)) {
                    return Ok(false);
                }
                // Revocation before the profile rules, in the order OpenSSL's path reports them.
                self.check_revocation(fast, chain, now, &subject)?;
                profile::check_chain(chain, purpose)?;
                Ok(true)
            })?;
            if done {
                return self.check_fqdn(leaf, &subject);
            }
        }
        self.openssl_verify(&self.store, leaf, presented, now, &subject, |chain| profile::check_chain(chain, purpose))?;
        self.check_fqdn(leaf, &subject)
    }

    /// OpenSSL's `X509_verify_cert` on `store`; on success, `judge` reads the verified chain
    /// (leaf first, trust anchor last) before the context is freed.
    fn openssl_verify<R>(
        &self,
        store: &X509Store,
        leaf: &X509Ref,
        presented: &[&X509Ref],
        now: i64,
        subject: &str,
        judge: impl FnOnce(&[&X509Ref]) -> std::result::Result<R, CertRefusal>,
    ) -> std::result::Result<R, CertRefusal> {
        let internal = |what: &str| CertRefusal {
            reason: Reason::Internal,
            message: format!("could not verify certificate {subject}: {what}"),
            x509_error: sys::X509_V_ERR_UNSPECIFIED,
        };
        // The configured intermediates only: the peer's certificates are no links (spec §1, §9).
        let mut untrusted = Stack::<X509>::new().map_err(|_| internal("out of memory"))?;
        for c in &self.intermediates {
            untrusted.push(c.clone()).map_err(|_| internal("out of memory"))?;
        }
        // SAFETY: a fresh X509_STORE_CTX over the store, the leaf and the untrusted stack, all of
        // which outlive it; freed before return by `StoreCtx`'s Drop.
        unsafe {
            let ctx = StoreCtx(sys::X509_STORE_CTX_new());
            if ctx.0.is_null() {
                return Err(internal("out of memory"));
            }
            if sys::X509_STORE_CTX_init(ctx.0, store.as_ptr(), leaf.as_ptr(), untrusted.as_ptr()) != 1 {
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
                let mut refusal = self.refusal(subject, err, depth, at);
                if matches!(err, sys::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT | sys::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY) {
                    if let Some(sent) = presented.iter().find(|c| same_name(c.subject_name(), at.issuer_name())) {
                        let _ = write!(refusal.message, "; the peer presented {}, which is not a configured intermediate", name_text(sent.subject_name()));
                    }
                }
                return Err(refusal);
            }
            let chain = sys::X509_STORE_CTX_get0_chain(ctx.0);
            if chain.is_null() {
                return Err(internal("verification produced no chain"));
            }
            let chain: Vec<&X509Ref> = openssl::stack::StackRef::<X509>::from_ptr(chain).iter().collect();
            if chain.is_empty() {
                return Err(internal("verification produced an empty chain"));
            }
            judge(&chain)
        }
    }

    /// How many certificates of a verified chain, from the leaf, the `revocation` mode covers:
    /// the whole chain including the self-signed anchor (as `X509_V_FLAG_CRL_CHECK_ALL`), or the
    /// leaf (as `X509_V_FLAG_CRL_CHECK`).
    fn covered(&self, chain: &[&X509Ref]) -> usize {
        match self.policy.revocation {
            Revocation::Chain => chain.len(),
            Revocation::Leaf => chain.len().min(1),
            Revocation::Off => 0,
        }
    }

    /// OpenSSL 3.0's `check_revocation` (x509_vfy.c) for a chain it verified without CRL flags,
    /// restricted to the CRLs `simple_crl` admits, with the same errors, in the same order, and
    /// the same tolerance with `require_crl = false` as `tolerate_missing_crl` gives that path:
    /// for each covered certificate, the CRL (none: UNABLE_TO_GET_CRL), its issuer's cRLSign
    /// (KEYUSAGE_NO_CRL_SIGN), its times (CRL_NOT_YET_VALID, CRL_HAS_EXPIRED), then the serial
    /// (CERT_REVOKED). The CRL signature itself was verified at load, with `FastCrl::key`.
    fn check_revocation(&self, fast: &FastRevocation, chain: &[&X509Ref], now: i64, subject: &str) -> std::result::Result<(), CertRefusal> {
        let tolerant = !self.policy.require_crl;
        let fail = |err: c_int, i: usize| Err(self.refusal(subject, err, i as c_int, chain[i]));
        for i in 0..self.covered(chain) {
            let cert = chain[i];
            // SAFETY: read-only inspection of a valid certificate (OpenSSL caches its extensions).
            if unsafe { sys::X509_get_extension_flags(cert.as_ptr()) } & sys::EXFLAG_PROXY != 0 {
                continue; // as OpenSSL's check_cert (and proxy certificates are refused anyway)
            }
            let Some((crl, signer)) = select_crl(fast, chain, i, now) else {
                if tolerant {
                    continue;
                }
                return fail(sys::X509_V_ERR_UNABLE_TO_GET_CRL, i);
            };
            // SAFETY: read-only inspection of a valid certificate (OpenSSL caches its extensions).
            let usage = unsafe { sys::X509_get_key_usage(chain[signer].as_ptr()) };
            if usage != u32::MAX && usage & ossl::KU_CRL_SIGN == 0 {
                return fail(sys::X509_V_ERR_KEYUSAGE_NO_CRL_SIGN, i); // never tolerated, as in OpenSSL
            }
            if crl.last_update > now {
                if !tolerant {
                    return fail(sys::X509_V_ERR_CRL_NOT_YET_VALID, i);
                }
            } else if crl.next_update.is_some_and(|next| next <= now) && !tolerant {
                return fail(sys::X509_V_ERR_CRL_HAS_EXPIRED, i);
            }
            // An out-of-date CRL that lists the certificate still revokes it. Any entry counts:
            // `simple_crl` admits no removeFromCRL entries, and one would not free it here.
            if !matches!(crl.crl.get_by_serial(cert.serial_number()), CrlStatus::NotRevoked) {
                return fail(sys::X509_V_ERR_CERT_REVOKED, i);
            }
        }
        Ok(())
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

/// The CRL for `chain[i]` and the chain index of its issuer, chosen as OpenSSL's `get_crl_sk`
/// chooses: the CRL's issuer name must be the certificate's issuer name, and the CRL must have
/// been signed (`FastCrl::key`, verified at load) by the certificate's issuer in this chain
/// (the next certificate, or the certificate itself at the top), or by a higher certificate of
/// the chain with that subject name; its authorityKeyIdentifier must match that certificate
/// (`X509_check_akid`, as OpenSSL's `crl_akid_check`). A CRL of a same-named CA with another key
/// is not this certificate's CRL. Among several, as OpenSSL's score: one within its validity
/// period first, then one signed by the direct issuer, then the latest lastUpdate, then the first
/// configured. One difference: OpenSSL takes a CRL without an authorityKeyIdentifier as the
/// direct issuer's and then fails its signature (CRL_SIGNATURE_FAILURE) when a higher CA of that
/// name signed it (a key rollover); here the key that verified it at load decides, so it counts.
fn select_crl<'f>(fast: &'f FastRevocation, chain: &[&X509Ref], i: usize, now: i64) -> Option<(&'f FastCrl, usize)> {
    let cert = chain[i];
    let top = chain.len() - 1;
    let direct = if i == top { i } else { i + 1 };
    let mut best: Option<(&FastCrl, usize, (bool, bool, i64))> = None;
    for crl in &fast.crls {
        let name = crl.crl.issuer_name();
        if !same_name(name, cert.issuer_name()) {
            continue;
        }
        let signer = (direct..=top).find(|&j| {
            let c = chain[j];
            (j == direct || same_name(c.subject_name(), name)) && signed_by(crl, c)
        });
        let Some(signer) = signer else { continue };
        let current = crl.last_update <= now && crl.next_update.map_or(true, |next| next > now);
        let score = (current, signer == direct, crl.last_update);
        if best.as_ref().map_or(true, |b| score > b.2) {
            best = Some((crl, signer, score));
        }
    }
    best.map(|(crl, signer, _)| (crl, signer))
}

/// Whether `cert` carries the key `crl` was verified with at load and matches its AKID.
fn signed_by(crl: &FastCrl, cert: &X509Ref) -> bool {
    // SAFETY: read-only accessors on a valid certificate, key and AKID (which may be null:
    // X509_check_akid accepts that as "no constraint").
    unsafe {
        let key = ossl::X509_get0_pubkey(cert.as_ptr());
        !key.is_null() && sys::EVP_PKEY_eq(key, crl.key.as_ptr()) == 1 && ossl::X509_check_akid(cert.as_ptr(), crl.akid) == sys::X509_V_OK
    }
}

/// Whether a verified chain needs OpenSSL's own CRL processing, which our check does not
/// reproduce: a covered certificate with a CRL distribution point limited to some reasons or
/// naming a cRLIssuer (OpenSSL then wants CRLs covering every reason, or an indirect CRL), or
/// one whose distribution points do not decode; or a covered top certificate that is not
/// self-issued (OpenSSL: UNABLE_TO_GET_CRL_ISSUER). Fails towards OpenSSL's path.
fn needs_openssl_revocation(chain: &[&X509Ref], covered: usize) -> bool {
    for (i, cert) in chain.iter().take(covered).enumerate() {
        // SAFETY: read-only lookup on a valid certificate.
        if unsafe { sys::X509_get_ext_by_NID(cert.as_ptr(), sys::NID_crl_distribution_points, -1) } >= 0 {
            let Some(points) = cert.crl_distribution_points() else { return true };
            for dp in &points {
                // SAFETY: a DIST_POINT of the stack just decoded, which owns it.
                let dp = unsafe { &*dp.as_ptr() };
                if !dp.reasons.is_null() || !dp.CRLissuer.is_null() {
                    return true;
                }
            }
        }
        // SAFETY: read-only check of a valid certificate against itself.
        if i == chain.len() - 1 && unsafe { sys::X509_check_issued(cert.as_ptr(), cert.as_ptr()) } != sys::X509_V_OK {
            return true;
        }
    }
    false
}

/// The `FastCrl` for a CRL signed by `issuer` when our own revocation check handles everything
/// the CRL means, else None (the configuration then takes OpenSSL's path). Admitted: no
/// issuingDistributionPoint (so not indirect, not partitioned by reasons or certificate kind),
/// not a delta (no deltaCRLIndicator) and no freshestCRL, no critical extension but the AKID
/// (CRLNumber is never critical: `profile::check_crl`), one decodable AKID at most; entries with
/// no critical extension, no certificateIssuer, at most one decodable reasonCode that is not
/// removeFromCRL (which OpenSSL reads as "not revoked"); readable lastUpdate and nextUpdate.
/// Also sorts the CRL's entries for OpenSSL's serial lookup now, once, before any thread reads it.
fn simple_crl(crl: &X509Crl, issuer: &X509Ref) -> Option<FastCrl> {
    let p = crl.as_ptr();
    // SAFETY: read-only lookups on a valid CRL and its entries; each decoded value is freed here,
    // except the AKID, which the returned FastCrl owns.
    unsafe {
        for nid in [sys::NID_issuing_distribution_point, sys::NID_delta_crl, sys::NID_freshest_crl] {
            if sys::X509_CRL_get_ext_by_NID(p, nid, -1) >= 0 {
                return None;
            }
        }
        for k in 0..sys::X509_CRL_get_ext_count(p) {
            let ext = sys::X509_CRL_get_ext(p, k);
            if sys::X509_EXTENSION_get_critical(ext) != 0 && sys::OBJ_obj2nid(sys::X509_EXTENSION_get_object(ext)) != sys::NID_authority_key_identifier {
                return None;
            }
        }
        for rev in crl.get_revoked().into_iter().flatten() {
            let r = rev.as_ptr();
            for k in 0..sys::X509_REVOKED_get_ext_count(r) {
                let ext = sys::X509_REVOKED_get_ext(r, k);
                if sys::X509_EXTENSION_get_critical(ext) != 0 || sys::OBJ_obj2nid(sys::X509_EXTENSION_get_object(ext)) == sys::NID_certificate_issuer {
                    return None;
                }
            }
            let mut at = -1;
            let reason = sys::X509_REVOKED_get_ext_d2i(r, sys::NID_crl_reason, &mut at, std::ptr::null_mut());
            if reason.is_null() {
                if at != -1 {
                    openssl::error::ErrorStack::get();
                    return None;
                }
            } else {
                let mut code = 0i64;
                let ok = sys::ASN1_ENUMERATED_get_int64(&mut code, reason as *const sys::ASN1_ENUMERATED);
                sys::ASN1_ENUMERATED_free(reason as *mut sys::ASN1_ENUMERATED);
                if ok != 1 || code == ossl::CRL_REASON_REMOVE_FROM_CRL {
                    openssl::error::ErrorStack::get();
                    return None;
                }
            }
        }
        let last_update = unix_time(crl.last_update());
        if last_update == i64::MIN {
            return None;
        }
        let next_update = match crl.next_update() {
            None => None,
            Some(t) => match unix_time(t) {
                i64::MIN => return None,
                t => Some(t),
            },
        };
        let key = issuer.public_key().ok()?;
        let mut at = -1;
        let akid = sys::X509_CRL_get_ext_d2i(p, sys::NID_authority_key_identifier, &mut at, std::ptr::null_mut()) as *mut sys::AUTHORITY_KEYID;
        if akid.is_null() && at != -1 {
            openssl::error::ErrorStack::get();
            return None;
        }
        // OpenSSL sorts the entries on the first lookup (under the CRL's lock, but tests "sorted"
        // before taking it); do that first lookup here, single-threaded, so that verifications
        // only ever search the sorted index.
        let _ = crl.get_by_serial(issuer.serial_number());
        // A reference of its own to the same CRL (and so to the index just sorted).
        sys::X509_CRL_up_ref(p);
        Some(FastCrl { crl: X509Crl::from_ptr(p), key, akid, last_update, next_update })
    }
}

struct StoreCtx(*mut sys::X509_STORE_CTX);

impl Drop for StoreCtx {
    fn drop(&mut self) {
        // SAFETY: allocated by X509_STORE_CTX_new, freed once.
        unsafe { sys::X509_STORE_CTX_free(self.0) }
    }
}

/// RFC 5280 4.1.2.5: a certificate is valid through its notAfter second. OpenSSL's
/// `X509_cmp_time` comparison is "at or before", so it reports CERT_HAS_EXPIRED at the notAfter
/// second itself; that one second is accepted here, any later one is not.
unsafe extern "C" fn accept_not_after_second(ok: c_int, ctx: *mut sys::X509_STORE_CTX) -> c_int {
    if ok == 0 && ossl::X509_STORE_CTX_get_error(ctx) == sys::X509_V_ERR_CERT_HAS_EXPIRED {
        let cert = sys::X509_STORE_CTX_get_current_cert(ctx);
        let param = ossl::X509_STORE_CTX_get0_param(ctx);
        // Only with an explicit verification time (Pki::openssl_verify always sets one).
        if !cert.is_null() && !param.is_null() && sys::X509_VERIFY_PARAM_get_flags(param) & sys::X509_V_FLAG_USE_CHECK_TIME != 0 {
            let now = ossl::X509_VERIFY_PARAM_get_time(param) as i64;
            if unix_time(X509Ref::from_ptr(cert).not_after()) == now {
                sys::X509_STORE_CTX_set_error(ctx, sys::X509_V_OK);
                return 1;
            }
        }
    }
    ok
}

/// With `require_crl = false`, a missing or out-of-date CRL does not refuse a client; a CRL that
/// does revoke it still does. Also [`accept_not_after_second`].
unsafe extern "C" fn tolerate_missing_crl(ok: c_int, ctx: *mut sys::X509_STORE_CTX) -> c_int {
    if ok == 0 {
        let err = ossl::X509_STORE_CTX_get_error(ctx);
        if matches!(err, sys::X509_V_ERR_UNABLE_TO_GET_CRL | sys::X509_V_ERR_CRL_HAS_EXPIRED | sys::X509_V_ERR_CRL_NOT_YET_VALID) {
            return 1;
        }
    }
    accept_not_after_second(ok, ctx)
}

/// The last second (Unix) through which nothing configured changes what it says, for a state
/// loaded at `loaded_at`: the earliest of every CA's notAfter (its last valid second), every
/// CRL's nextUpdate - 1 (its last current second), and, for those still to come, every CA's
/// notBefore - 1 and every CRL's lastUpdate - 1 (a SubCA or a newer CRL that enters into force
/// later changes verdicts then: a CRL issued ahead of time revokes from its lastUpdate). Times
/// already past at load are in force already, except expiries, which count even when past (so
/// a state holding an expired CA never counts as stable). An unreadable time counts as the
/// distant past (never stable).
pub fn stable_until<'a>(cas: impl Iterator<Item = &'a X509Ref>, crls: impl Iterator<Item = &'a openssl::x509::X509CrlRef>, loaded_at: i64) -> i64 {
    let mut until = i64::MAX;
    let mut starts_at = |t: i64| {
        if t == i64::MIN {
            until = i64::MIN;
        } else if t > loaded_at {
            until = until.min(t - 1);
        }
    };
    let mut ends = Vec::new();
    for ca in cas {
        starts_at(unix_time(ca.not_before()));
        ends.push(unix_time(ca.not_after()));
    }
    for crl in crls {
        starts_at(unix_time(crl.last_update()));
        // A CRL without nextUpdate is refused at load (`profile::check_crl`).
        ends.push(crl.next_update().map_or(i64::MIN, |t| unix_time(t).saturating_sub(1)));
    }
    ends.into_iter().fold(until, i64::min)
}

/// The earliest notAfter (Unix) of the leaf and the certificates the peer presented: how long a
/// verification of this chain can hold at most, beside `Pki::stable_until` (which covers every
/// configured CA, so every link the path can be built from).
pub fn chain_not_after<'a>(leaf: &X509Ref, presented: impl Iterator<Item = &'a X509Ref>) -> i64 {
    presented.map(|c| unix_time(c.not_after())).fold(unix_time(leaf.not_after()), i64::min)
}

/// The system clock in Unix seconds (0 before 1970: never stable then).
fn system_time() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
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

/// A CRL's crlNumber extension in hexadecimal (upper case, no leading zeros), None when absent.
pub fn crl_number(crl: &X509CrlRef) -> Option<String> {
    // SAFETY: read-only decoding of an extension of a valid CRL; the result is ours to free.
    unsafe {
        let n = sys::X509_CRL_get_ext_d2i(crl.as_ptr(), sys::NID_crl_number, std::ptr::null_mut(), std::ptr::null_mut()) as *mut sys::ASN1_INTEGER;
        if n.is_null() {
            return None;
        }
        let bn = sys::ASN1_INTEGER_to_BN(n, std::ptr::null_mut());
        sys::ASN1_INTEGER_free(n);
        if bn.is_null() {
            return None;
        }
        let bn = openssl::bn::BigNum::from_ptr(bn);
        bn.to_hex_str().ok().map(|h| h.to_string())
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

#[cfg(test)]
mod tests {
    //! Our own revocation check against OpenSSL's path, on the test PKI of `c-tests/make-pki.sh`
    //! plus CRLs made here with the `openssl` CLI (`openssl ca`): a root CRL revoking the SubCA, an
    //! expired SubCA CRL, a SubCA CRL with an issuingDistributionPoint, and a "twin" SubCA (same
    //! name, another key, also issued by the root) whose CRL lists client-valid's serial.
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::OnceLock;

    const SSP_FQDN: &str = "msg.dev.spine2.ncrs.nhs.uk";

    fn run(dir: &Path, args: &[&str]) -> String {
        let out = Command::new(args[0]).args(&args[1..]).current_dir(dir).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn utc(offset: &str) -> String {
        run(Path::new("/"), &["date", "-u", "-d", offset, "+%Y%m%d%H%M%SZ"]).trim().to_owned()
    }

    fn pki_dir() -> &'static PathBuf {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let dir = crate::testkit::process_dir().join("pki-unit");
            let _ = std::fs::remove_dir_all(&dir);
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("c-tests/make-pki.sh");
            run(Path::new("/"), &[script.to_str().unwrap(), dir.to_str().unwrap()]);
            let d = dir.as_path();
            // A P-256 client `name` (subject CN `cn`) issued under the `openssl ca` config `cnf`
            // with the extension file `ext` (written to ca-db/NAME.ext).
            let ec_client = |cnf: &str, name: &str, cn: &str, ext: &str| {
                let (key, csr, ext_file, pem) = (format!("{name}.key"), format!("ca-db/{name}.csr"), format!("ca-db/{name}.ext"), format!("{name}.pem"));
                run(d, &["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &key]);
                run(d, &["openssl", "req", "-new", "-key", &key, "-subj", &format!("/CN={cn}"), "-out", &csr]);
                std::fs::write(d.join(&ext_file), ext).unwrap();
                run(d, &["openssl", "ca", "-config", cnf, "-batch", "-notext", "-in", &csr, "-out", &pem, "-days", "30", "-extfile", &ext_file]);
            };
            // Expired SubCA CRL (lists client-revoked).
            let (two_days_ago, yesterday) = (utc("-2 days"), utc("-1 day"));
            run(d, &["openssl", "ca", "-config", "ca-db/sub-ca.cnf", "-gencrl", "-crl_lastupdate", &two_days_ago, "-crl_nextupdate", &yesterday, "-out", "sub-ca-expired.crl"]);
            // SubCA CRL issued for tomorrow (lastUpdate in the future).
            let (tomorrow, next_month) = (utc("+1 day"), utc("+30 days"));
            run(d, &["openssl", "ca", "-config", "ca-db/sub-ca.cnf", "-gencrl", "-crl_lastupdate", &tomorrow, "-crl_nextupdate", &next_month, "-out", "sub-ca-future.crl"]);
            // SubCA CRL with an issuingDistributionPoint (onlyContainsUserCerts, critical).
            let cnf = std::fs::read_to_string(d.join("ca-db/sub-ca.cnf")).unwrap();
            let idp = cnf.replace("crl_extensions = crl_ext\n", "crl_extensions = idp_ext\n")
                + "[idp_ext]\nauthorityKeyIdentifier = keyid:always\nissuingDistributionPoint = critical, @idp\n[idp]\nonlyuser = TRUE\n";
            assert!(idp.contains("crl_extensions = idp_ext"), "make-pki.sh's CA configuration changed");
            std::fs::write(d.join("ca-db/sub-ca-idp.cnf"), idp).unwrap();
            run(d, &["openssl", "ca", "-config", "ca-db/sub-ca-idp.cnf", "-gencrl", "-out", "sub-ca-idp.crl"]);
            // The twin SubCA: same subject, another key, issued by the root.
            run(d, &["openssl", "genpkey", "-quiet", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "twin.key"]);
            run(d, &["openssl", "req", "-new", "-key", "twin.key", "-subj", "/O=gpcguard test/CN=Test Spine SubCA", "-out", "ca-db/twin.csr"]);
            run(d, &["openssl", "ca", "-config", "ca-db/root-ca.cnf", "-batch", "-notext", "-in", "ca-db/twin.csr", "-out", "twin.pem", "-days", "365", "-extfile", "ca-db/sub-ca.ext"]);
            std::fs::write(d.join("ca-db/twin.cnf"), cnf.replace("sub-ca", "twin")).unwrap();
            let serial = run(d, &["openssl", "x509", "-in", "client-valid.pem", "-noout", "-serial"]);
            let serial = serial.trim().strip_prefix("serial=").unwrap().to_owned();
            std::fs::write(d.join("ca-db/twin.index"), format!("R\t491231235959Z\t240101000000Z\t{serial}\tunknown\t/CN=SSP valid client\n")).unwrap();
            std::fs::write(d.join("ca-db/twin.index.attr"), "unique_subject = no\n").unwrap();
            std::fs::write(d.join("ca-db/twin.crlnumber"), "1000\n").unwrap();
            run(d, &["openssl", "ca", "-config", "ca-db/twin.cnf", "-gencrl", "-out", "twin.crl"]);
            // Two more certificates of the SubCA's name and key, issued by the root: an expired
            // one that may sign CRLs, and a current one whose keyUsage lacks cRLSign.
            run(d, &["openssl", "req", "-new", "-key", "sub-ca.key", "-subj", "/O=gpcguard test/CN=Test Spine SubCA", "-out", "ca-db/same-key.csr"]);
            let (last_year, next_year) = (utc("-1 year"), utc("+1 year"));
            let same_key = |name: &str, start: &str, end: &str, usage: &str| {
                let ext = format!("basicConstraints = critical, CA:true, pathlen:0\nkeyUsage = critical, {usage}\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n");
                std::fs::write(d.join(format!("ca-db/{name}.ext")), ext).unwrap();
                let (out, ext) = (format!("{name}.pem"), format!("ca-db/{name}.ext"));
                run(d, &["openssl", "ca", "-config", "ca-db/root-ca.cnf", "-batch", "-notext", "-in", "ca-db/same-key.csr", "-out", &out, "-startdate", start, "-enddate", end, "-extfile", &ext]);
            };
            same_key("sub-ca-expired-crl-signer", &two_days_ago, &yesterday, "keyCertSign, cRLSign");
            same_key("sub-ca-no-crl-sign", &last_year, &next_year, "keyCertSign");
            // A client whose keyUsage allows neither digitalSignature nor keyAgreement, which TLS
            // client authentication needs (OpenSSL's SSL client purpose), its EKU and name right.
            let ext = format!("basicConstraints = critical, CA:false\nkeyUsage = critical, nonRepudiation\nextendedKeyUsage = clientAuth\nsubjectAltName = DNS:{SSP_FQDN}\n");
            ec_client("ca-db/sub-ca.cnf", "client-no-signing", "SSP no signing", &ext);
            // A key rollover of the SubCA: a new key, certified by the old one (self-issued), that
            // issues client-rollover and its own CRL; the old key signs CRLs of its own index.
            run(d, &["openssl", "genpkey", "-quiet", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sub-ca-new-key.key"]);
            run(d, &["openssl", "req", "-new", "-key", "sub-ca-new-key.key", "-subj", "/O=gpcguard test/CN=Test Spine SubCA", "-out", "ca-db/sub-ca-new-key.csr"]);
            run(d, &["openssl", "ca", "-config", "ca-db/sub-ca.cnf", "-batch", "-notext", "-in", "ca-db/sub-ca-new-key.csr", "-out", "sub-ca-new-key.pem", "-days", "365", "-extfile", "ca-db/sub-ca.ext"]);
            // An `openssl ca` of its own index for `cert`/`key` (serials from 5000), listing `revoked`;
            // its CRLs carry an authorityKeyIdentifier (RFC 5280 5.2.1), which OpenSSL needs to look
            // past the direct issuer for the key that signed a CRL.
            let own_ca = |name: &str, cert: &str, key: &str, revoked: &[&str]| {
                let cnf = format!("[ca]\ndefault_ca = this_ca\n[this_ca]\ndatabase = ca-db/{name}.index\nserial = ca-db/{name}.serial\ncrlnumber = ca-db/{name}.crlnumber\nnew_certs_dir = ca-db\ncertificate = {cert}\nprivate_key = {key}\ndefault_md = sha256\ndefault_crl_days = 30\ncrl_extensions = crl_ext\npolicy = any_cn\ncopy_extensions = none\n[crl_ext]\nauthorityKeyIdentifier = keyid:always\n[any_cn]\ncommonName = supplied\norganizationName = optional\n");
                std::fs::write(d.join(format!("ca-db/{name}.cnf")), cnf).unwrap();
                // "SERIAL" or "SERIAL REASON" (a reasonCode name, as the index writes it).
                let entry = |e: &&str| match e.split_once(' ') {
                    Some((serial, reason)) => format!("R\t491231235959Z\t240101000000Z,{reason}\t{serial}\tunknown\t/CN=revoked\n"),
                    None => format!("R\t491231235959Z\t240101000000Z\t{e}\tunknown\t/CN=revoked\n"),
                };
                let index: String = revoked.iter().map(entry).collect();
                std::fs::write(d.join(format!("ca-db/{name}.index")), index).unwrap();
                std::fs::write(d.join(format!("ca-db/{name}.index.attr")), "unique_subject = no\n").unwrap();
                std::fs::write(d.join(format!("ca-db/{name}.serial")), "5000\n").unwrap();
                std::fs::write(d.join(format!("ca-db/{name}.crlnumber")), "5000\n").unwrap();
                format!("ca-db/{name}.cnf")
            };
            let serial = |pem: &str| run(d, &["openssl", "x509", "-in", pem, "-noout", "-serial"]).trim().strip_prefix("serial=").unwrap().to_owned();
            let gencrl = |cnf: &str, out: &str, last: &str, next: &str| {
                run(d, &["openssl", "ca", "-config", cnf, "-gencrl", "-crl_lastupdate", last, "-crl_nextupdate", next, "-out", out]);
            };
            let (hour_ago, in_29_days) = (utc("-1 hour"), utc("+29 days"));
            let new_key = own_ca("sub-ca-new-key", "sub-ca-new-key.pem", "sub-ca-new-key.key", &[]);
            let under_ca = format!("basicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\nsubjectAltName = DNS:{SSP_FQDN}\nauthorityKeyIdentifier = keyid\n");
            ec_client(&new_key, "client-rollover", "SSP under the new SubCA key", &under_ca);
            gencrl(&new_key, "sub-ca-new-key.crl", &hour_ago, &in_29_days);
            let old_key = own_ca("sub-ca-old-key", "sub-ca.pem", "sub-ca.key", &[&serial("client-rollover.pem")]);
            gencrl(&old_key, "sub-ca-old-key-revokes-rollover.crl", &hour_ago, &in_29_days);
            // Two CRLs of the SubCA with the same times, one revoking client-valid; and one that
            // ends tomorrow, issued after sub-ca.crl.
            let tie = own_ca("sub-ca-tie-revokes", "sub-ca.pem", "sub-ca.key", &[&serial("client-valid.pem")]);
            gencrl(&tie, "sub-ca-tie-revokes.crl", &hour_ago, &in_29_days);
            let clean = own_ca("sub-ca-clean", "sub-ca.pem", "sub-ca.key", &[]);
            gencrl(&clean, "sub-ca-tie-clean.crl", &hour_ago, &in_29_days);
            gencrl(&clean, "sub-ca-ends-tomorrow.crl", &utc("+1 hour"), &utc("+1 day"));
            gencrl(&clean, "sub-ca-old-key.crl", &hour_ago, &in_29_days);
            // A CA of the SubCA's name holding the root's key, and a CRL under the SubCA's name
            // that this key signed, revoking client-valid.
            run(d, &["openssl", "req", "-new", "-key", "root-ca.key", "-subj", "/O=gpcguard test/CN=Test Spine SubCA", "-out", "ca-db/sub-ca-root-key.csr"]);
            run(d, &["openssl", "ca", "-config", "ca-db/root-ca.cnf", "-batch", "-notext", "-in", "ca-db/sub-ca-root-key.csr", "-out", "sub-ca-root-key.pem", "-days", "365", "-extfile", "ca-db/sub-ca.ext"]);
            let root_key = own_ca("sub-ca-root-key", "sub-ca-root-key.pem", "root-ca.key", &[&serial("client-valid.pem")]);
            gencrl(&root_key, "sub-ca-root-key.crl", &hour_ago, &in_29_days);
            // A CRL whose only entry, client-valid, has reasonCode removeFromCRL; one whose
            // authorityKeyIdentifier is critical (the one critical extension our check reads).
            let remove = own_ca("sub-ca-remove", "sub-ca.pem", "sub-ca.key", &[&format!("{} removeFromCRL", serial("client-valid.pem"))]);
            gencrl(&remove, "sub-ca-remove-from-crl.crl", &hour_ago, &in_29_days);
            let critical = own_ca("sub-ca-critical-akid", "sub-ca.pem", "sub-ca.key", &[]);
            let cnf = std::fs::read_to_string(d.join(&critical)).unwrap().replace("authorityKeyIdentifier = keyid:always", "authorityKeyIdentifier = critical, keyid:always");
            std::fs::write(d.join(&critical), cnf).unwrap();
            gencrl(&critical, "sub-ca-critical-akid.crl", &hour_ago, &in_29_days);
            // A CA of the SubCA's name with another key but the SubCA's subjectKeyIdentifier, and
            // a client it issued (whose authorityKeyIdentifier therefore names the SubCA's too).
            let skid = run(d, &["openssl", "x509", "-in", "sub-ca.pem", "-noout", "-ext", "subjectKeyIdentifier"]);
            let skid = skid.lines().nth(1).unwrap().trim().to_owned();
            run(d, &["openssl", "genpkey", "-quiet", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sub-ca-same-skid.key"]);
            run(d, &["openssl", "req", "-new", "-key", "sub-ca-same-skid.key", "-subj", "/O=gpcguard test/CN=Test Spine SubCA", "-out", "ca-db/sub-ca-same-skid.csr"]);
            let ext = format!("basicConstraints = critical, CA:true, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = {skid}\nauthorityKeyIdentifier = keyid\n");
            std::fs::write(d.join("ca-db/sub-ca-same-skid.ext"), ext).unwrap();
            run(d, &["openssl", "ca", "-config", "ca-db/root-ca.cnf", "-batch", "-notext", "-in", "ca-db/sub-ca-same-skid.csr", "-out", "sub-ca-same-skid.pem", "-days", "365", "-extfile", "ca-db/sub-ca-same-skid.ext"]);
            let same_skid = own_ca("sub-ca-same-skid", "sub-ca-same-skid.pem", "sub-ca-same-skid.key", &[]);
            ec_client(&same_skid, "client-same-skid", "SSP under a same-SKID SubCA", &under_ca);
            // Without authorityKeyIdentifiers: a SubCA CRL two hours old, and a newer twin CRL
            // listing client-valid (OpenSSL then takes the newer as the direct issuer's).
            let no_akid = |cnf: String| {
                let text = std::fs::read_to_string(d.join(&cnf)).unwrap().replace("crl_extensions = crl_ext\n", "");
                std::fs::write(d.join(&cnf), text).unwrap();
                cnf
            };
            let old_sub = no_akid(own_ca("sub-ca-no-akid", "sub-ca.pem", "sub-ca.key", &[]));
            gencrl(&old_sub, "sub-ca-no-akid.crl", &utc("-2 hours"), &in_29_days);
            let twin_no_akid = no_akid(own_ca("twin-no-akid", "twin.pem", "twin.key", &[&serial("client-valid.pem")]));
            gencrl(&twin_no_akid, "twin-no-akid.crl", &hour_ago, &in_29_days);
            // A client whose CRL distribution point covers one reason only.
            // The distribution point is the first extension: a lookup that skipped some would miss it.
            let ext = format!("crlDistributionPoints = dp_one_reason\nbasicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\nsubjectAltName = DNS:{SSP_FQDN}\n[dp_one_reason]\nfullname = URI:http://crl.example/sub-ca.crl\nreasons = keyCompromise\n");
            ec_client("ca-db/sub-ca.cnf", "client-dp-reasons", "SSP one-reason CRL point", &ext);
            // Last: the root revokes the SubCA (root-ca.crl, made before, revokes nothing).
            run(d, &["openssl", "ca", "-config", "ca-db/root-ca.cnf", "-revoke", "sub-ca.pem"]);
            run(d, &["openssl", "ca", "-config", "ca-db/root-ca.cnf", "-gencrl", "-out", "root-revokes-sub.crl"]);
            dir
        })
    }

    fn cert(name: &str) -> X509 {
        X509::from_pem(&std::fs::read(pki_dir().join(name)).unwrap()).unwrap()
    }

    fn crl(name: &str) -> NamedCrl {
        NamedCrl { source: name.to_owned(), crl: X509Crl::from_pem(&std::fs::read(pki_dir().join(name)).unwrap()).unwrap() }
    }

    fn now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    }

    fn pki(intermediates: &[&str], crls: &[&str], revocation: Revocation, require_crl: bool, fast: bool) -> Pki {
        let policy = PkiPolicy { fqdns: vec![SSP_FQDN.into()], revocation, require_crl, purpose: Purpose::Client, max_depth: 8 };
        let crls = crls.iter().map(|c| crl(c)).collect();
        Pki::build(vec![cert("root-ca.pem")], intermediates.iter().map(|c| cert(c)).collect(), crls, policy, fast).unwrap()
    }

    fn verdict(p: &Pki, leaf: &str) -> std::result::Result<(), CertRefusal> {
        p.verify(&cert(leaf), &[], now())
    }

    fn reason(p: &Pki, leaf: &str) -> Reason {
        match verdict(p, leaf) {
            Ok(()) => Reason::Allowed,
            Err(r) => r.reason,
        }
    }

    #[test]
    fn own_check_is_used_for_simple_crls_and_revokes_the_leaf() {
        let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca.crl"], Revocation::Chain, true, true);
        assert!(p.fast.is_some(), "plain `openssl ca` CRLs must take our own check");
        assert_eq!(reason(&p, "client-valid.pem"), Reason::Allowed);
        let r = verdict(&p, "client-revoked.pem").unwrap_err();
        assert_eq!((r.reason, r.x509_error), (Reason::CertRevoked, sys::X509_V_ERR_CERT_REVOKED), "{}", r.message);
        assert!(r.message.contains("is revoked by the CRL of CN=Test Spine SubCA") || r.message.contains("Test Spine SubCA in sub-ca.crl"), "{}", r.message);
        assert!(r.message.contains("sub-ca.crl"), "message does not name the CRL file: {}", r.message);
    }

    #[test]
    fn revoked_intermediate_refuses_in_chain_mode_only() {
        let crls = ["root-revokes-sub.crl", "sub-ca.crl"];
        let chain = pki(&["sub-ca.pem"], &crls, Revocation::Chain, true, true);
        assert!(chain.fast.is_some());
        let r = verdict(&chain, "client-valid.pem").unwrap_err();
        assert_eq!((r.reason, r.x509_error), (Reason::CertRevoked, sys::X509_V_ERR_CERT_REVOKED), "{}", r.message);
        assert!(r.message.contains("chain certificate") && r.message.contains("(depth 1)") && r.message.contains("root-revokes-sub.crl"), "{}", r.message);
        let leaf = pki(&["sub-ca.pem"], &crls, Revocation::Leaf, true, true);
        assert_eq!(reason(&leaf, "client-valid.pem"), Reason::Allowed);
        assert_eq!(reason(&leaf, "client-revoked.pem"), Reason::CertRevoked);
    }

    #[test]
    fn crl_of_a_same_named_ca_with_another_key_is_not_used() {
        // twin.crl lists client-valid's serial, but was signed by the twin's key, not the key of
        // client-valid's issuer; it comes first, so a name-only match would pick it.
        let p = pki(&["sub-ca.pem", "twin.pem"], &["twin.crl", "root-ca.crl", "sub-ca.crl"], Revocation::Chain, true, true);
        assert!(p.fast.is_some());
        assert_eq!(reason(&p, "client-valid.pem"), Reason::Allowed);
        assert_eq!(reason(&p, "client-revoked.pem"), Reason::CertRevoked);
        // With only the twin's CRL, client-valid's issuer has no CRL at all.
        let p = pki(&["sub-ca.pem", "twin.pem"], &["twin.crl", "root-ca.crl"], Revocation::Chain, true, true);
        let r = verdict(&p, "client-valid.pem").unwrap_err();
        assert_eq!((r.reason, r.x509_error), (Reason::CertRevocationUnknown, sys::X509_V_ERR_UNABLE_TO_GET_CRL), "{}", r.message);
        let p = pki(&["sub-ca.pem", "twin.pem"], &["twin.crl", "root-ca.crl"], Revocation::Chain, false, true);
        assert_eq!(reason(&p, "client-valid.pem"), Reason::Allowed, "require_crl = false tolerates the missing CRL");
        // Without authorityKeyIdentifiers the key still decides here, in chain mode too. OpenSSL
        // takes the newer (the twin's) as the direct issuer's and fails on its signature: the
        // one difference of select_crl's comment.
        let crls = ["root-ca.crl", "sub-ca-no-akid.crl", "twin-no-akid.crl"];
        for mode in [Revocation::Leaf, Revocation::Chain] {
            let p = pki(&["sub-ca.pem", "twin.pem"], &crls, mode, true, true);
            assert_eq!(verdict(&p, "client-valid.pem"), Ok(()), "{mode:?}");
            let openssl = pki(&["sub-ca.pem", "twin.pem"], &crls, mode, true, false);
            let r = verdict(&openssl, "client-valid.pem").unwrap_err();
            assert_eq!((r.reason, r.x509_error), (Reason::CertRevocationUnknown, sys::X509_V_ERR_CRL_SIGNATURE_FAILURE), "{mode:?}: {}", r.message);
        }
    }

    #[test]
    fn expired_crl_refuses_unless_require_crl_is_false_but_still_revokes() {
        let strict = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca-expired.crl"], Revocation::Chain, true, true);
        assert!(strict.fast.is_some());
        let r = verdict(&strict, "client-valid.pem").unwrap_err();
        assert_eq!((r.reason, r.x509_error), (Reason::CertRevocationUnknown, sys::X509_V_ERR_CRL_HAS_EXPIRED), "{}", r.message);
        assert!(r.message.contains("sub-ca-expired.crl") && r.message.contains("expired"), "{}", r.message);
        let lax = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca-expired.crl"], Revocation::Chain, false, true);
        assert_eq!(reason(&lax, "client-valid.pem"), Reason::Allowed);
        assert_eq!(reason(&lax, "client-revoked.pem"), Reason::CertRevoked);
        // A current CRL is preferred to an expired one of the same issuer, in either order.
        let both = pki(&["sub-ca.pem"], &["sub-ca-expired.crl", "root-ca.crl", "subca-revoked-later.crl"], Revocation::Chain, true, true);
        assert_eq!(reason(&both, "client-valid.pem"), Reason::Allowed);
        assert_eq!(reason(&both, "client-later-revoked.pem"), Reason::CertRevoked);
        // A CRL whose lastUpdate is still to come: not yet valid, the same tolerance.
        let future = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca-future.crl"], Revocation::Chain, true, true);
        let r = verdict(&future, "client-valid.pem").unwrap_err();
        assert_eq!((r.reason, r.x509_error), (Reason::CertRevocationUnknown, sys::X509_V_ERR_CRL_NOT_YET_VALID), "{}", r.message);
        let lax = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca-future.crl"], Revocation::Chain, false, true);
        assert_eq!(reason(&lax, "client-valid.pem"), Reason::Allowed);
        assert_eq!(reason(&lax, "client-revoked.pem"), Reason::CertRevoked);
    }

    #[test]
    fn the_ca_that_signs_the_crl_in_the_chain_must_allow_crl_sign() {
        // The CRL is checked at load against the first configured CA of its name and key, the
        // expired one, which allows cRLSign; the chain runs through the current one, which does
        // not. Both paths refuse: a CRL counts only from a chain CA that may sign CRLs.
        for fast in [true, false] {
            let p = pki(&["sub-ca-expired-crl-signer.pem", "sub-ca-no-crl-sign.pem"], &["root-ca.crl", "sub-ca.crl"], Revocation::Leaf, true, fast);
            assert_eq!(p.fast.is_some(), fast);
            let r = verdict(&p, "client-valid.pem").unwrap_err();
            assert_eq!((r.reason, r.x509_error), (Reason::CertRevocationUnknown, sys::X509_V_ERR_KEYUSAGE_NO_CRL_SIGN), "fast {fast}: {}", r.message);
        }
        // The same chain through the SubCA that may sign CRLs is accepted: the refusal above is
        // the keyUsage, not the expired twin.
        let p = pki(&["sub-ca-expired-crl-signer.pem", "sub-ca.pem"], &["root-ca.crl", "sub-ca.crl"], Revocation::Leaf, true, true);
        assert_eq!(reason(&p, "client-valid.pem"), Reason::Allowed);
    }

    #[test]
    fn a_client_whose_key_usage_cannot_sign_is_refused_for_tls_client_authentication() {
        for fast in [true, false] {
            let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca.crl"], Revocation::Chain, true, fast);
            let r = verdict(&p, "client-no-signing.pem").unwrap_err();
            assert_eq!((r.reason, r.x509_error), (Reason::CertUntrusted, sys::X509_V_ERR_INVALID_PURPOSE), "fast {fast}: {}", r.message);
            assert!(r.message.contains("CN=SSP no signing") && r.message.contains("does not allow TLS client authentication"), "{}", r.message);
        }
    }

    #[test]
    fn a_refused_purpose_is_named_as_the_policy_asks_it() {
        // Servers are judged only by the x509-limbo harness (tests/limbo.rs); its refusals name
        // the server purpose all the same.
        for (purpose, leaf, what) in [(Purpose::Client, "server.pem", "TLS client authentication"), (Purpose::Server, "client-valid.pem", "TLS server authentication")] {
            let policy = PkiPolicy { fqdns: vec![], revocation: Revocation::Off, require_crl: false, purpose, max_depth: 8 };
            let p = Pki::build(vec![cert("root-ca.pem")], vec![cert("sub-ca.pem")], vec![], policy, true).unwrap();
            let r = verdict(&p, leaf).unwrap_err();
            assert_eq!((r.reason, r.x509_error), (Reason::CertUntrusted, sys::X509_V_ERR_INVALID_PURPOSE), "{}", r.message);
            assert!(r.message.ends_with(&format!("does not allow {what} (extended key usage)")), "{purpose:?}: {}", r.message);
        }
    }

    /// sub-ca.crl (whose entry is client-revoked) with `ext` (OID, critical, DER value) added
    /// at the front of the CRL's extensions or of its entry's, signed again by the SubCA.
    fn sub_ca_crl_with(ext: (&str, bool, &[u8]), in_entry: bool) -> NamedCrl {
        use openssl::asn1::{Asn1Object, Asn1OctetString};
        use openssl::x509::X509Extension;
        let crl = crl("sub-ca.crl").crl;
        let key = PKey::private_key_from_pem(&std::fs::read(pki_dir().join("sub-ca.key")).unwrap()).unwrap();
        let x = X509Extension::new_from_der(&Asn1Object::from_str(ext.0).unwrap(), ext.1, &Asn1OctetString::new_from_bytes(ext.2).unwrap()).unwrap();
        // SAFETY: test-only edits of a CRL this function owns; the extension is copied in.
        unsafe {
            let c = crl.as_ptr();
            let added = if in_entry {
                let entry = crl.get_revoked().unwrap().iter().next().unwrap().as_ptr();
                sys::X509_REVOKED_add_ext(entry, x.as_ptr(), 0)
            } else {
                sys::X509_CRL_add_ext(c, x.as_ptr(), 0)
            };
            assert_eq!(added, 1);
            assert!(sys::X509_CRL_sign(c, key.as_ptr(), openssl::hash::MessageDigest::sha256().as_ptr()) > 0);
        }
        // Parsed again, so that OpenSSL's cached reading of the extensions is of the new ones.
        NamedCrl { source: format!("sub-ca.crl with {}", ext.0), crl: X509Crl::from_der(&crl.to_der().unwrap()).unwrap() }
    }

    #[test]
    fn crl_features_our_check_does_not_read_take_openssls_path_wherever_they_are() {
        // freshestCRL (non-critical, a URI distribution point) as the CRL's first extension; an
        // entry with a critical invalidityDate; an entry with a (non-critical) certificateIssuer.
        let freshest: &[u8] = &[0x30, 0x10, 0x30, 0x0e, 0xa0, 0x0c, 0xa0, 0x0a, 0x86, 0x08, b'h', b't', b't', b'p', b':', b'/', b'/', b'x'];
        let invalidity: &[u8] = b"\x18\x0f20240101000000Z";
        let issuer: &[u8] = &[0x30, 0x0a, 0x86, 0x08, b'h', b't', b't', b'p', b':', b'/', b'/', b'x'];
        for (ext, in_entry) in [(("2.5.29.46", false, freshest), false), (("2.5.29.24", true, invalidity), true), (("2.5.29.29", false, issuer), true)] {
            let crls = vec![crl("root-ca.crl"), sub_ca_crl_with(ext, in_entry)];
            let policy = PkiPolicy { fqdns: vec![SSP_FQDN.into()], revocation: Revocation::Leaf, require_crl: true, purpose: Purpose::Client, max_depth: 8 };
            let p = Pki::build(vec![cert("root-ca.pem")], vec![cert("sub-ca.pem")], crls, policy, true).unwrap();
            assert!(p.fast.is_none(), "{} must leave revocation to OpenSSL", ext.0);
        }
    }

    #[test]
    fn what_our_check_does_not_reproduce_takes_openssls_path() {
        // removeFromCRL: OpenSSL reads the entry as "not revoked", our check would not.
        let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca-remove-from-crl.crl"], Revocation::Leaf, true, true);
        assert!(p.fast.is_none(), "a removeFromCRL entry must leave revocation to OpenSSL");
        assert_eq!(verdict(&p, "client-valid.pem"), Ok(()));
        // A critical authorityKeyIdentifier is read by our check: it keeps the fast path.
        let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca-critical-akid.crl"], Revocation::Leaf, true, true);
        assert!(p.fast.is_some(), "a critical AKID alone must keep our own check");
        assert_eq!(reason(&p, "client-valid.pem"), Reason::Allowed);
        // A distribution point for one reason: OpenSSL wants CRLs covering every reason, and
        // this client gets no more; the verification takes OpenSSL's path and is refused.
        for fast in [true, false] {
            let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca.crl"], Revocation::Leaf, true, fast);
            let r = verdict(&p, "client-dp-reasons.pem").unwrap_err();
            assert_eq!((r.reason, r.x509_error), (Reason::CertRevocationUnknown, sys::X509_V_ERR_UNABLE_TO_GET_CRL), "fast {fast}: {}", r.message);
        }
    }

    #[test]
    fn a_pem_peer_chain_is_held_to_its_bounds() {
        let pem = [std::fs::read(pki_dir().join("client-valid.pem")).unwrap(), std::fs::read(pki_dir().join("sub-ca.pem")).unwrap()].concat();
        let n = pem.len();
        let chain = parse_pem_chain(&pem, 2, n).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].subject_name().to_der().unwrap(), cert("client-valid.pem").subject_name().to_der().unwrap());
        let reason = |r: std::result::Result<Vec<X509>, CertRefusal>| r.map(|c| c.len()).map_err(|e| (e.reason, e.message));
        assert_eq!(reason(parse_pem_chain(&pem, 2, n - 1)).unwrap_err(), (Reason::CertMalformed, format!("peer chain of {n} bytes exceeds max_peer_chain_bytes ({})", n - 1)));
        assert_eq!(reason(parse_pem_chain(&pem, 1, n)).unwrap_err(), (Reason::CertMalformed, "peer chain has 2 certificates, more than max_peer_certificates (1)".into()));
        assert_eq!(reason(parse_pem_chain(b" \n\t", 2, n)).unwrap_err().0, Reason::CertMissing);
        assert_eq!(reason(parse_pem_chain(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", 2, n)).unwrap_err().0, Reason::CertMalformed);
        // Every PEM block must be a certificate: one of another kind (here a public key), alone
        // or after a certificate, makes the chain malformed rather than shorter.
        let key = cert("client-valid.pem").public_key().unwrap().public_key_to_pem().unwrap();
        for (input, what) in [(key.clone(), "a key alone"), ([std::fs::read(pki_dir().join("client-valid.pem")).unwrap(), key].concat(), "a certificate and a key")] {
            let e = reason(parse_pem_chain(&input, 2, 2 * n)).unwrap_err();
            assert_eq!(e, (Reason::CertMalformed, "peer chain is not a sequence of PEM certificates".into()), "{what}");
        }
    }

    #[test]
    fn a_der_peer_chain_is_held_to_its_bounds() {
        let (leaf, sub) = (cert("client-valid.pem").to_der().unwrap(), cert("sub-ca.pem").to_der().unwrap());
        let n = leaf.len() + sub.len();
        let ders = [&leaf[..], &sub[..]];
        let got = |r: std::result::Result<Vec<X509>, CertRefusal>| r.map(|c| c.len()).map_err(|e| (e.reason, e.message));
        assert_eq!(got(parse_der_chain(&ders, 2, n)), Ok(2));
        assert_eq!(got(parse_der_chain(&ders, 2, n - 1)).unwrap_err(), (Reason::CertMalformed, format!("peer chain of {n} bytes exceeds max_peer_chain_bytes ({})", n - 1)));
        assert_eq!(got(parse_der_chain(&ders, 1, n)).unwrap_err(), (Reason::CertMalformed, "peer chain has 2 certificates, more than max_peer_certificates (1)".into()));
        assert_eq!(got(parse_der_chain(&[], 2, n)).unwrap_err().0, Reason::CertMissing);
        // One certificate exactly: not a prefix, nor one with bytes after it.
        let with_tail = [leaf.clone(), vec![0]].concat();
        for (bad, what) in [(&leaf[..leaf.len() - 1], "cut"), (&with_tail[..], "trailing byte")] {
            let e = got(parse_der_chain(&[&sub[..], bad], 2, 2 * n)).unwrap_err();
            assert_eq!(e, (Reason::CertMalformed, "certificate 1 of the peer chain is not one DER certificate".into()), "{what}");
        }
    }

    #[test]
    fn printable_cuts_after_max_characters_and_says_so() {
        assert_eq!(printable(&"a".repeat(4), 4), "aaaa");
        assert_eq!(printable(&"a".repeat(5), 4), "aaaa...");
        assert_eq!(printable("é\u{7f}\tb", 4), "???b");
    }

    #[test]
    fn openssl_errors_our_test_pki_cannot_cause_keep_their_reasons() {
        // A time field that does not parse (no test certificate has one) is malformed, not
        // untrusted; a host that sets a verification hostname gets the wrong-host reason.
        for (err, want) in [
            (sys::X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD, Reason::CertMalformed),
            (sys::X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD, Reason::CertMalformed),
            (sys::X509_V_ERR_HOSTNAME_MISMATCH, Reason::CertWrongHost),
            (sys::X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION, Reason::CertRevocationUnknown),
            (sys::X509_V_ERR_UNSPECIFIED, Reason::CertUntrusted),
        ] {
            assert_eq!(reason_of(err), want, "X509_V_ERR {err}");
        }
    }

    #[test]
    fn crl_with_issuing_distribution_point_takes_openssls_path_and_still_revokes() {
        let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca-idp.crl"], Revocation::Chain, true, true);
        assert!(p.fast.is_none(), "a CRL with an issuingDistributionPoint must leave revocation to OpenSSL");
        assert_eq!(reason(&p, "client-valid.pem"), Reason::Allowed);
        let r = verdict(&p, "client-revoked.pem").unwrap_err();
        assert_eq!((r.reason, r.x509_error), (Reason::CertRevoked, sys::X509_V_ERR_CERT_REVOKED), "{}", r.message);
    }

    fn verdict_at(p: &Pki, leaf: &str, presented: &[&str], at: i64) -> std::result::Result<(), CertRefusal> {
        let presented: Vec<X509> = presented.iter().map(|c| cert(c)).collect();
        let presented: Vec<&X509Ref> = presented.iter().map(|c| &**c).collect();
        p.verify(&cert(leaf), &presented, at)
    }

    fn reason_at(p: &Pki, leaf: &str, at: i64) -> Reason {
        verdict_at(p, leaf, &[], at).err().map_or(Reason::Allowed, |r| r.reason)
    }

    #[test]
    fn a_crl_issued_ahead_ends_the_stable_period_when_it_enters_into_force() {
        // sub-ca-future.crl (lastUpdate tomorrow) also lists client-later-revoked; sub-ca.crl,
        // current now, does not. From the future CRL's lastUpdate second it is the newest current
        // CRL, and revokes: a verification from the day before must not count as still valid then.
        let starts = unix_time(crl("sub-ca-future.crl").crl.last_update());
        assert!(starts > now(), "the fixture's future CRL is not in the future");
        for fast in [true, false] {
            let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca.crl", "sub-ca-future.crl"], Revocation::Chain, true, fast);
            assert_eq!(p.fast.is_some(), fast);
            assert_eq!(reason_at(&p, "client-later-revoked.pem", now()), Reason::Allowed, "fast {fast}");
            assert_eq!(reason_at(&p, "client-later-revoked.pem", starts - 1), Reason::Allowed, "fast {fast}");
            assert_eq!(reason_at(&p, "client-later-revoked.pem", starts), Reason::CertRevoked, "fast {fast}");
            assert_eq!(p.stable_until(), starts - 1, "fast {fast}: the stable period must end the second before the future CRL counts");
        }
        // With revocation off the CRLs change nothing: the CAs' notAfter is the limit.
        let off = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca.crl", "sub-ca-future.crl"], Revocation::Off, false, true);
        assert_eq!(off.stable_until(), unix_time(cert("root-ca.pem").not_after()).min(unix_time(cert("sub-ca.pem").not_after())));
    }

    #[test]
    fn stable_until_counts_future_starts_and_every_end() {
        let t = now();
        let later = cert("client-not-yet-valid.pem"); // notBefore next year
        let sub = cert("sub-ca.pem"); // notBefore two years ago, notAfter in ten years
        let none = std::iter::empty::<&openssl::x509::X509CrlRef>;
        assert_eq!(stable_until([&*sub].into_iter(), none(), t), unix_time(sub.not_after()), "a CA's last valid second is its notAfter");
        assert_eq!(stable_until([&*sub, &*later].into_iter(), none(), t), unix_time(later.not_before()) - 1, "a CA that enters into force later");
        // A start already past at load changes nothing later.
        assert_eq!(stable_until([&*later].into_iter(), none(), unix_time(later.not_before())), unix_time(later.not_after()));
        let current = crl("sub-ca.crl");
        let next = unix_time(current.crl.next_update().unwrap());
        assert_eq!(stable_until([&*sub].into_iter(), [&*current.crl].into_iter(), t), next - 1, "a CRL's last current second is nextUpdate - 1");
        // An expiry already past counts (never stable with an out-of-date CRL configured).
        let expired = crl("sub-ca-expired.crl");
        assert!(stable_until([&*sub].into_iter(), [&*expired.crl].into_iter(), t) < t);
    }

    #[test]
    fn a_crl_is_current_up_to_its_next_update_second() {
        let next = unix_time(crl("sub-ca.crl").crl.next_update().unwrap());
        for fast in [true, false] {
            let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca.crl"], Revocation::Leaf, true, fast);
            assert_eq!(reason_at(&p, "client-valid.pem", next - 1), Reason::Allowed, "fast {fast}");
            let r = verdict_at(&p, "client-valid.pem", &[], next).unwrap_err();
            assert_eq!((r.reason, r.x509_error), (Reason::CertRevocationUnknown, sys::X509_V_ERR_CRL_HAS_EXPIRED), "fast {fast}: {}", r.message);
        }
    }

    #[test]
    fn a_crl_signed_by_a_higher_ca_of_the_issuers_name_counts() {
        // client-rollover's chain: the new SubCA key (self-issued by the old one), the old one,
        // the root. sub-ca-old-key.crl is signed by the old key: not the direct issuer, but higher
        // in the chain under the issuer's name, as OpenSSL's crl_akid_check allows.
        for fast in [true, false] {
            let p = pki(&["sub-ca-new-key.pem", "sub-ca.pem"], &["root-ca.crl", "sub-ca-old-key.crl"], Revocation::Leaf, true, fast);
            assert_eq!(verdict(&p, "client-rollover.pem"), Ok(()), "fast {fast}");
            let p = pki(&["sub-ca-new-key.pem", "sub-ca.pem"], &["root-ca.crl", "sub-ca-old-key-revokes-rollover.crl"], Revocation::Leaf, true, fast);
            assert_eq!(reason(&p, "client-rollover.pem"), Reason::CertRevoked, "fast {fast}");
        }
    }

    #[test]
    fn a_higher_ca_of_another_name_cannot_vouch_for_a_crl_even_with_the_key() {
        // sub-ca-root-key.crl names the SubCA and was signed by the root's key, which a
        // configured CA of the SubCA's name also holds; the root, higher in client-valid's
        // chain, has that key but another name, so the CRL is none of client-valid's.
        for fast in [true, false] {
            let p = pki(&["sub-ca.pem", "sub-ca-root-key.pem"], &["root-ca.crl", "sub-ca-root-key.crl"], Revocation::Leaf, true, fast);
            let r = verdict(&p, "client-valid.pem").unwrap_err();
            assert_eq!((r.reason, r.x509_error), (Reason::CertRevocationUnknown, sys::X509_V_ERR_UNABLE_TO_GET_CRL), "fast {fast}: {}", r.message);
        }
    }

    #[test]
    fn a_crl_is_the_issuers_only_if_the_issuer_has_the_key_that_signed_it() {
        // sub-ca.crl names the SubCA and its key identifier, as the same-SKID SubCA does; but
        // another key signed it. client-same-skid's issuer has no CRL: refused either way (our
        // check: none found; OpenSSL's: the signature fails under the issuer's key).
        for fast in [true, false] {
            let p = pki(&["sub-ca-same-skid.pem", "sub-ca.pem"], &["root-ca.crl", "sub-ca.crl"], Revocation::Leaf, true, fast);
            let r = verdict(&p, "client-same-skid.pem").unwrap_err();
            assert_eq!(r.reason, Reason::CertRevocationUnknown, "fast {fast}: {}", r.message);
            if fast {
                assert_eq!(r.x509_error, sys::X509_V_ERR_UNABLE_TO_GET_CRL, "{}", r.message);
            }
        }
        // The control: with revocation off, the same chain is accepted.
        let p = pki(&["sub-ca-same-skid.pem", "sub-ca.pem"], &[], Revocation::Off, false, true);
        assert_eq!(verdict(&p, "client-same-skid.pem"), Ok(()));
    }

    #[test]
    fn the_direct_issuers_crl_is_preferred_to_a_higher_cas() {
        // Both current; the old key's revokes client-rollover, the new key's (its direct issuer,
        // issued at the same second) does not. In either order, the direct issuer's is read.
        let crls = ["sub-ca-old-key-revokes-rollover.crl", "sub-ca-new-key.crl"];
        for order in [[0, 1], [1, 0]] {
            for fast in [true, false] {
                let p = pki(&["sub-ca-new-key.pem", "sub-ca.pem"], &["root-ca.crl", crls[order[0]], crls[order[1]]], Revocation::Leaf, true, fast);
                assert_eq!(reason(&p, "client-rollover.pem"), Reason::Allowed, "fast {fast}, order {order:?}");
            }
        }
    }

    #[test]
    fn of_two_crls_alike_but_for_their_entries_the_first_configured_is_read() {
        // Same issuer, lastUpdate and nextUpdate. Our own check only: OpenSSL's order among
        // CRLs of one issuer is its store's (sorted by name), not the configuration's.
        let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca-tie-revokes.crl", "sub-ca-tie-clean.crl"], Revocation::Leaf, true, true);
        assert!(p.fast.is_some());
        assert_eq!(reason(&p, "client-valid.pem"), Reason::CertRevoked);
        let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca-tie-clean.crl", "sub-ca-tie-revokes.crl"], Revocation::Leaf, true, true);
        assert_eq!(reason(&p, "client-valid.pem"), Reason::Allowed);
    }

    #[test]
    fn at_its_next_update_second_a_newer_crl_gives_way_to_a_current_one() {
        // sub-ca-ends-tomorrow.crl is newer than sub-ca.crl but no longer current at its
        // nextUpdate second, when sub-ca.crl still is: that one is read.
        let ends = unix_time(crl("sub-ca-ends-tomorrow.crl").crl.next_update().unwrap());
        for fast in [true, false] {
            let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca.crl", "sub-ca-ends-tomorrow.crl"], Revocation::Leaf, true, fast);
            assert_eq!(reason_at(&p, "client-valid.pem", ends - 1), Reason::Allowed, "fast {fast}");
            assert_eq!(reason_at(&p, "client-valid.pem", ends), Reason::Allowed, "fast {fast}");
            assert_eq!(reason_at(&p, "client-revoked.pem", ends), Reason::CertRevoked, "fast {fast}");
        }
    }

    #[test]
    fn a_certificate_is_valid_through_its_not_after_second_and_from_its_not_before_second() {
        let leaf = cert("client-valid.pem");
        let (not_before, not_after) = (unix_time(leaf.not_before()), unix_time(leaf.not_after()));
        for fast in [true, false] {
            // require_crl = false: the CRLs are out of date at notAfter, which this test is not about.
            let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca.crl"], Revocation::Chain, false, fast);
            assert_eq!(p.fast.is_some(), fast);
            assert_eq!(reason_at(&p, "client-valid.pem", not_before - 1), Reason::CertNotYetValid, "fast {fast}");
            assert_eq!(reason_at(&p, "client-valid.pem", not_before), Reason::Allowed, "fast {fast}");
            assert_eq!(reason_at(&p, "client-valid.pem", not_after), Reason::Allowed, "fast {fast}: RFC 5280 4.1.2.5, notAfter is the last valid second");
            let r = verdict_at(&p, "client-valid.pem", &[], not_after + 1).unwrap_err();
            assert_eq!((r.reason, r.x509_error), (Reason::CertExpired, sys::X509_V_ERR_CERT_HAS_EXPIRED), "fast {fast}: {}", r.message);
        }
    }

    #[test]
    fn the_chain_runs_through_configured_intermediates_only() {
        // client-other-sub is issued by other-sub-ca, a SubCA the RootCA issued but that is not
        // configured; the peer presents it. Refused whatever the revocation settings say.
        let modes = [(Revocation::Off, false), (Revocation::Leaf, false), (Revocation::Chain, false), (Revocation::Chain, true)];
        for (mode, require) in modes {
            for fast in [true, false] {
                let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca.crl"], mode, require, fast);
                let r = verdict_at(&p, "client-other-sub.pem", &["other-sub-ca.pem"], now()).unwrap_err();
                let what = format!("{mode:?}, require_crl {require}, fast {fast}: {}", r.message);
                assert_eq!((r.reason, r.x509_error), (Reason::CertUntrusted, sys::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY), "{what}");
                assert!(r.message.contains("CN=SSP under an unconfigured SubCA"), "{what}");
                assert!(r.message.contains("(issuer CN=Test Unconfigured SubCA,O=gpcguard test; trust anchors: CN=Test Spine RootCA,O=gpcguard test)"), "{what}");
                assert!(r.message.contains("the peer presented CN=Test Unconfigured SubCA,O=gpcguard test, which is not a configured intermediate"), "{what}");
                // The configured chain is unaffected, sent by the peer or not.
                assert_eq!(verdict_at(&p, "client-valid.pem", &["sub-ca.pem"], now()), Ok(()), "{what}");
                assert_eq!(verdict_at(&p, "client-valid.pem", &[], now()), Ok(()), "{what}");
            }
        }
        // Configured, the same SubCA is a link (control: the refusal above is about configuration).
        let p = pki(&["sub-ca.pem", "other-sub-ca.pem"], &[], Revocation::Off, false, true);
        assert_eq!(verdict_at(&p, "client-other-sub.pem", &[], now()), Ok(()));
        // With no intermediate configured, only clients the anchor issued directly are accepted.
        let p = pki(&[], &[], Revocation::Off, false, true);
        let r = verdict_at(&p, "client-valid.pem", &["sub-ca.pem"], now()).unwrap_err();
        assert_eq!(r.reason, Reason::CertUntrusted, "{}", r.message);
        assert!(r.message.contains("Test Spine SubCA,O=gpcguard test, which is not a configured intermediate"), "{}", r.message);
    }

    #[test]
    fn a_sha1_signed_client_is_refused_naming_the_certificate_and_algorithm() {
        for fast in [true, false] {
            let p = pki(&["sub-ca.pem"], &["root-ca.crl", "sub-ca.crl"], Revocation::Chain, true, fast);
            let r = verdict_at(&p, "client-sha1.pem", &["sub-ca.pem"], now()).unwrap_err();
            assert_eq!((r.reason, r.x509_error), (Reason::CertUntrusted, sys::X509_V_ERR_CA_MD_TOO_WEAK), "fast {fast}: {}", r.message);
            assert!(r.message.contains("certificate CN=SSP SHA-1 signed is signed with sha1WithRSAEncryption"), "{}", r.message);
        }
    }

    /// Every client certificate, every mode, against several CRL sets: our check accepts exactly
    /// what OpenSSL's path accepts, and refuses with the same reason, error code and message,
    /// except for the one documented difference of precedence: a chain with a certificate out of
    /// its validity period and also a revoked certificate or no usable CRL is refused as out of
    /// its validity period
    /// (OpenSSL checks revocation before validity; ours runs after `X509_verify_cert`).
    #[test]
    fn own_check_agrees_with_openssl_path() {
        let leaves = [
            "client-valid.pem",
            "client-cn-only.pem",
            "client-later-revoked.pem",
            "client-expired.pem",
            "client-not-yet-valid.pem",
            "client-revoked.pem",
            "client-wrong-fqdn.pem",
            "client-wrong-san.pem",
            "client-server-eku.pem",
            "client-unrelated.pem",
        ];
        let sets: &[&[&str]] = &[
            &["root-ca.crl", "sub-ca.crl"],
            &["root-ca.crl", "subca-revoked-later.crl"],
            &["root-ca.crl", "sub-ca-expired.crl"],
            &["root-revokes-sub.crl", "sub-ca.crl"],
            &["sub-ca.crl"],
            &["root-ca.crl"],
            &[],
        ];
        let (mut compared, mut precedence) = (0, 0);
        for set in sets {
            for mode in [Revocation::Chain, Revocation::Leaf] {
                for require in [true, false] {
                    let ours = pki(&["sub-ca.pem"], set, mode, require, true);
                    let theirs = pki(&["sub-ca.pem"], set, mode, require, false);
                    assert!(ours.fast.is_some() && theirs.fast.is_none());
                    for leaf in leaves {
                        let (a, b) = (verdict(&ours, leaf), verdict(&theirs, leaf));
                        let what = format!("{leaf} with {set:?}, {mode:?}, require_crl {require}: ours {a:?}, OpenSSL's {b:?}");
                        match (&a, &b) {
                            (Err(x), Err(y)) if x != y => {
                                assert!(
                                    matches!(x.reason, Reason::CertExpired | Reason::CertNotYetValid) && matches!(y.reason, Reason::CertRevocationUnknown | Reason::CertRevoked),
                                    "{what}"
                                );
                                precedence += 1;
                            }
                            _ => assert_eq!(a, b, "{what}"),
                        }
                        compared += 1;
                    }
                }
            }
        }
        assert_eq!(compared, 7 * 4 * leaves.len());
        assert!(precedence < compared / 10, "{precedence} of {compared} differ in precedence");
    }
}
