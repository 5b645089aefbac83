//! Certificate and CRL profile rules that `X509_verify_cert` does not make, even with
//! `X509_V_FLAG_X509_STRICT` (spec §9 "Certificates"; RFC 5280; CA/Browser Forum Baseline
//! Requirements where they protect a verifier and cost a Spine client nothing).
//!
//! The certificate rules are one table, [`RULES`]: each names where in the chain it applies and
//! the function that judges one certificate. [`check_chain`] runs them on the chain OpenSSL has
//! verified (leaf first, trust anchor last); [`check_anchor`] runs the anchor rules when the
//! configuration is loaded, so a bad anchor is a configuration error rather than a refusal of
//! every client. [`check_crl`] is the CRL profile, run when a CRL is loaded.
//!
//! Every rule fails closed: a certificate whose extension cannot be read is refused, never
//! passed because the reader gave up.

use foreign_types::{ForeignType, ForeignTypeRef};
use libc::c_int;
use openssl::asn1::Asn1Integer;
use openssl::nid::Nid;
use openssl::pkey::Id;
use openssl::x509::{GeneralNameRef, X509CrlRef, X509Ref};
use openssl_sys as sys;

use crate::error::{Error, ErrorKind};
use crate::connection::ossl;
use crate::connection::pki::{name_text, printable, CertRefusal, Purpose};
use crate::verdict::Reason;

/// Where in a verified chain a certificate sits. A chain of one certificate (a trusted
/// certificate presented as the client's own) is judged as a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    Leaf,
    Intermediate,
    Anchor,
}

/// The positions a rule applies to.
#[derive(Clone, Copy)]
struct At(&'static [Position]);

const EVERYWHERE: At = At(&[Position::Leaf, Position::Intermediate, Position::Anchor]);
const BELOW_ANCHOR: At = At(&[Position::Leaf, Position::Intermediate]);
const LEAF: At = At(&[Position::Leaf]);
const ANCHOR: At = At(&[Position::Anchor]);

/// What a rule found wrong with one certificate.
#[derive(Debug)]
struct Finding {
    reason: Reason,
    x509_error: c_int,
    /// Completes "certificate X ...": what is wrong and which rule says so.
    detail: String,
}

fn malformed(x509_error: c_int, detail: impl Into<String>) -> Option<Finding> {
    Some(Finding { reason: Reason::CertMalformed, x509_error, detail: detail.into() })
}

fn untrusted(x509_error: c_int, detail: impl Into<String>) -> Option<Finding> {
    Some(Finding { reason: Reason::CertUntrusted, x509_error, detail: detail.into() })
}

/// One certificate as a rule sees it.
struct Subject<'a> {
    cert: &'a X509Ref,
    position: Position,
    purpose: Purpose,
}

struct Rule {
    at: At,
    check: fn(&Subject) -> Option<Finding>,
}

/// The certificate profile. Order matters only for which finding is reported first.
const RULES: &[Rule] = &[
    // Weak keys anywhere, anchors included: a forgeable anchor or intermediate forges every leaf.
    Rule { at: EVERYWHERE, check: key_strength },
    // Weak signatures on everything the anchor vouches for; the anchor's self-signature proves
    // nothing (it is trusted as configured), so its digest does not matter.
    Rule { at: BELOW_ANCHOR, check: signature_strength },
    Rule { at: EVERYWHERE, check: extensions_decode },
    // Anchors may be old version-1 roots with any serial; what a CA issues today may not.
    Rule { at: BELOW_ANCHOR, check: version_3 },
    Rule { at: BELOW_ANCHOR, check: serial_number },
    Rule { at: EVERYWHERE, check: authority_key_identifier },
    Rule { at: EVERYWHERE, check: authority_information_access },
    Rule { at: EVERYWHERE, check: name_constraints },
    Rule { at: EVERYWHERE, check: policy_constraints },
    Rule { at: LEAF, check: leaf_not_ca },
    Rule { at: LEAF, check: leaf_names },
    Rule { at: LEAF, check: leaf_extended_key_usage },
    Rule { at: ANCHOR, check: root_without_extended_key_usage },
];

/// The first rule that applies to the certificate's position and refuses it.
fn first_finding(subject: &Subject) -> Option<Finding> {
    RULES.iter().filter(|r| r.at.0.contains(&subject.position)).find_map(|r| (r.check)(subject))
}

/// Runs the profile on a chain OpenSSL has verified: `chain[0]` the leaf, the last the anchor.
pub fn check_chain(chain: &[&X509Ref], purpose: Purpose) -> Result<(), CertRefusal> {
    let Some(leaf) = chain.first() else {
        return Err(CertRefusal {
            reason: Reason::Internal,
            message: "certificate verification produced an empty chain".into(),
            x509_error: sys::X509_V_ERR_UNSPECIFIED,
        });
    };
    let leaf_name = name_text(leaf.subject_name());
    for (depth, cert) in chain.iter().enumerate() {
        let position = match depth {
            0 => Position::Leaf,
            d if d + 1 == chain.len() => Position::Anchor,
            _ => Position::Intermediate,
        };
        let subject = Subject { cert, position, purpose };
        if let Some(f) = first_finding(&subject) {
            let which = if depth == 0 {
                format!("certificate {leaf_name}")
            } else {
                format!("certificate {leaf_name}: chain certificate {} (depth {depth})", name_text(cert.subject_name()))
            };
            return Err(CertRefusal { reason: f.reason, message: format!("{which} {}", f.detail), x509_error: f.x509_error });
        }
    }
    Ok(())
}

/// Runs the anchor rules on a configured trust anchor.
pub fn check_anchor(anchor: &X509Ref) -> crate::error::Result<()> {
    let subject = Subject { cert: anchor, position: Position::Anchor, purpose: Purpose::Any };
    match first_finding(&subject) {
        None => Ok(()),
        Some(f) => Err(Error::new(
            ErrorKind::Ca,
            format!("configuration key `trust_anchor`: trust anchor {} {}", name_text(anchor.subject_name()), f.detail),
        )),
    }
}

/// Runs the intermediate rules on a configured intermediate, so that a weak or malformed SubCA
/// is a configuration error naming it rather than a refusal of every client it issued.
pub fn check_intermediate(cert: &X509Ref) -> crate::error::Result<()> {
    let subject = Subject { cert, position: Position::Intermediate, purpose: Purpose::Any };
    match first_finding(&subject) {
        None => Ok(()),
        Some(f) => Err(Error::new(
            ErrorKind::Ca,
            format!("configuration key `intermediate`: intermediate {} {}", name_text(cert.subject_name()), f.detail),
        )),
    }
}

/// The CRL profile of RFC 5280 §5.2.3 and §6.3.3(f), for a CRL whose signature `issuer` has
/// verified. Returns what is wrong, to complete "CRL <source> ...".
pub fn check_crl(crl: &X509CrlRef, issuer: &X509Ref) -> Result<(), String> {
    // SAFETY: read-only lookups on a valid CRL; the decoded integer is owned and freed by
    // `Asn1Integer`'s Drop.
    unsafe {
        // RFC 5280 5.2.4: a delta CRL lists only changes since its base. OpenSSL ignores deltas
        // unless X509_V_FLAG_USE_DELTAS is set, so one configured here would change nothing:
        // refused, so that an operator does not believe its entries are in force.
        if sys::X509_CRL_get_ext_by_NID(crl.as_ptr(), sys::NID_delta_crl, -1) >= 0 {
            return Err("is a delta CRL (deltaCRLIndicator): gpcguard applies complete CRLs only; configure the issuer's full CRL".into());
        }
        let at = sys::X509_CRL_get_ext_by_NID(crl.as_ptr(), sys::NID_crl_number, -1);
        if at < 0 {
            return Err("has no CRLNumber extension (RFC 5280 5.2.3: CRL issuers MUST include it)".into());
        }
        if sys::X509_CRL_get_ext_by_NID(crl.as_ptr(), sys::NID_crl_number, at) >= 0 {
            return Err("has more than one CRLNumber extension".into());
        }
        if sys::X509_EXTENSION_get_critical(sys::X509_CRL_get_ext(crl.as_ptr(), at)) != 0 {
            return Err("marks its CRLNumber extension critical (RFC 5280 5.2.3: it MUST be non-critical)".into());
        }
        let raw = sys::X509_CRL_get_ext_d2i(crl.as_ptr(), sys::NID_crl_number, std::ptr::null_mut(), std::ptr::null_mut());
        if raw.is_null() {
            openssl::error::ErrorStack::get();
            return Err("has a CRLNumber extension that does not decode".into());
        }
        let number = Asn1Integer::from_ptr(raw as *mut sys::ASN1_INTEGER);
        let ok = number.to_bn().is_ok_and(|n| !n.is_negative() && der_integer_octets(n.num_bits()) <= 20);
        if !ok {
            openssl::error::ErrorStack::get();
            return Err("has a CRLNumber that is negative or longer than 20 octets (RFC 5280 5.2.3)".into());
        }
    }
    // RFC 5280 5.1.2.5: conforming CRL issuers MUST include nextUpdate. OpenSSL reads a CRL
    // without one as current for ever, which would satisfy `require_crl` with no bound on age.
    if crl.next_update().is_none() {
        return Err("has no nextUpdate (RFC 5280 5.1.2.5: CRL issuers MUST include it), so it can never be shown current".into());
    }
    // SAFETY: read-only inspection of a valid certificate (OpenSSL caches its extensions).
    let usage = unsafe { sys::X509_get_key_usage(issuer.as_ptr()) };
    if usage != u32::MAX && usage & ossl::KU_CRL_SIGN == 0 {
        return Err(format!(
            "is signed by {}, whose keyUsage does not allow cRLSign (RFC 5280 4.2.1.3, 6.3.3(f))",
            name_text(issuer.subject_name())
        ));
    }
    Ok(())
}

/// Content octets of a DER INTEGER holding a non-negative value of `bits` significant bits
/// (a leading zero octet keeps the sign bit clear).
fn der_integer_octets(bits: i32) -> i32 {
    bits / 8 + 1
}

fn extension_flags(cert: &X509Ref) -> u32 {
    // SAFETY: read-only inspection of a valid certificate (OpenSSL caches its extensions).
    unsafe { sys::X509_get_extension_flags(cert.as_ptr()) }
}

/// Whether the certificate has the extension, and whether (its first occurrence) is critical.
fn extension_criticality(cert: &X509Ref, nid: c_int) -> Option<bool> {
    // SAFETY: index lookup and accessor on a valid certificate; the extension stays owned by it.
    unsafe {
        let at = sys::X509_get_ext_by_NID(cert.as_ptr(), nid, -1);
        if at < 0 {
            return None;
        }
        Some(sys::X509_EXTENSION_get_critical(sys::X509_get_ext(cert.as_ptr(), at)) != 0)
    }
}

/// RSA of at least 2048 bits in whole octets, or ECDSA on P-256, P-384 or P-521; nothing else
/// (DSA, other curves, explicit curve parameters, other algorithms).
fn key_strength(s: &Subject) -> Option<Finding> {
    let code = if s.position == Position::Leaf { sys::X509_V_ERR_EE_KEY_TOO_SMALL } else { sys::X509_V_ERR_CA_KEY_TOO_SMALL };
    let key = match s.cert.public_key() {
        Ok(k) => k,
        Err(_) => return malformed(sys::X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY, "has a public key that does not decode"),
    };
    match key.id() {
        Id::RSA | Id::RSA_PSS => {
            let bits = key.bits();
            if bits < 2048 {
                return untrusted(code, format!("has an RSA key of {bits} bits (at least 2048 required)"));
            }
            if bits % 8 != 0 {
                return untrusted(code, format!("has an RSA modulus of {bits} bits, not a whole number of octets"));
            }
            None
        }
        Id::EC => {
            let curve = key.ec_key().ok().and_then(|k| k.group().curve_name());
            match curve {
                Some(Nid::X9_62_PRIME256V1 | Nid::SECP384R1 | Nid::SECP521R1) => None,
                Some(other) => untrusted(
                    code,
                    format!("has an EC key on curve {} (only P-256, P-384 and P-521 are accepted)", other.short_name().unwrap_or("?")),
                ),
                None => untrusted(code, "has an EC key without a named curve (only P-256, P-384 and P-521 are accepted)"),
            }
        }
        Id::DSA => untrusted(code, "has a DSA key (only RSA and ECDSA keys are accepted)"),
        other => untrusted(
            code,
            format!(
                "has a {} key (only RSA and ECDSA keys are accepted)",
                Nid::from_raw(other.as_raw()).short_name().unwrap_or("unknown type")
            ),
        ),
    }
}

/// The least security, in bits, of a signature below the trust anchor: NHS Digital's Approved
/// Cryptographic Algorithms (no SHA-1, no MD5), which is OpenSSL's authentication level 2.
/// OpenSSL rates SHA-1 signatures 63 bits and MD5 39, SHA-224 112, SHA-256 128; an RSA-PSS
/// signature by its hash.
const MIN_SIGNATURE_BITS: c_int = 112;

/// The signature on a certificate below the anchor: its digest must be strong enough (the
/// issuer's key is judged by `key_strength` at the issuer's own position).
fn signature_strength(s: &Subject) -> Option<Finding> {
    let algorithm = s.cert.signature_algorithm().object().to_string();
    let mut bits: c_int = 0;
    // SAFETY: read-only inspection of a valid certificate; null out-pointers are allowed.
    let known = unsafe {
        ossl::X509_get_signature_info(s.cert.as_ptr(), std::ptr::null_mut(), std::ptr::null_mut(), &mut bits, std::ptr::null_mut())
    };
    if known != 1 {
        openssl::error::ErrorStack::get();
        return untrusted(
            sys::X509_V_ERR_CA_MD_TOO_WEAK,
            format!("is signed with {} (an algorithm whose strength is unknown; SHA-256 or stronger required)", printable(&algorithm, 80)),
        );
    }
    if bits < MIN_SIGNATURE_BITS {
        return untrusted(
            sys::X509_V_ERR_CA_MD_TOO_WEAK,
            format!(
                "is signed with {} (a {bits}-bit signature; SHA-1 and MD5 are refused, SHA-256 or stronger required: NHS Digital Approved Cryptographic Algorithms)",
                printable(&algorithm, 80)
            ),
        );
    }
    None
}

/// OpenSSL marks a certificate whose standard extensions it could not decode (or that repeats
/// one); such a certificate is refused whatever OpenSSL's verifier made of it.
fn extensions_decode(s: &Subject) -> Option<Finding> {
    if extension_flags(s.cert) & sys::EXFLAG_INVALID != 0 {
        return malformed(sys::X509_V_ERR_INVALID_EXTENSION, "has an extension that does not decode or appears twice");
    }
    None
}

/// RFC 5280 4.1.2.1: certificates with extensions are version 3; a CA issuing today has no
/// reason for anything else, and a version-1 leaf cannot say what it is for.
fn version_3(s: &Subject) -> Option<Finding> {
    let version = s.cert.version();
    if version != 2 {
        return malformed(sys::X509_V_ERR_CERT_REJECTED, format!("is an X.509 version {} certificate (version 3 required)", version + 1));
    }
    None
}

/// RFC 5280 4.1.2.2: a positive integer of at most 20 octets.
fn serial_number(s: &Subject) -> Option<Finding> {
    let serial = match s.cert.serial_number().to_bn() {
        Ok(n) => n,
        Err(_) => return malformed(sys::X509_V_ERR_CERT_REJECTED, "has a serial number that does not decode"),
    };
    if serial.is_negative() || serial.num_bits() == 0 {
        return malformed(sys::X509_V_ERR_CERT_REJECTED, "has a serial number that is not positive (RFC 5280 4.1.2.2)");
    }
    let octets = der_integer_octets(serial.num_bits());
    if octets > 20 {
        return malformed(sys::X509_V_ERR_CERT_REJECTED, format!("has a serial number of {octets} octets (at most 20, RFC 5280 4.1.2.2)"));
    }
    None
}

/// RFC 5280 4.2.1.1: the keyIdentifier field MUST be included when the extension is.
fn authority_key_identifier(s: &Subject) -> Option<Finding> {
    if extension_criticality(s.cert, sys::NID_authority_key_identifier).is_some() && s.cert.authority_key_id().is_none() {
        return malformed(
            ossl::X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER,
            "has an authorityKeyIdentifier without keyIdentifier (RFC 5280 4.2.1.1)",
        );
    }
    None
}

/// RFC 5280 4.2.2.1: AuthorityInfoAccessSyntax is a SEQUENCE SIZE (1..MAX).
fn authority_information_access(s: &Subject) -> Option<Finding> {
    extension_criticality(s.cert, sys::NID_info_access)?; // absent: nothing to judge
    match s.cert.authority_info() {
        Some(descriptions) if !descriptions.is_empty() => None,
        _ => {
            openssl::error::ErrorStack::get();
            malformed(sys::X509_V_ERR_INVALID_EXTENSION, "has an authorityInfoAccess extension that is malformed or empty")
        }
    }
}

/// RFC 5280 4.2.1.10: only in CA certificates, critical, not an empty SEQUENCE; dNSName
/// constraints in the preferred name syntax (a leading period belongs to URI constraints only).
fn name_constraints(s: &Subject) -> Option<Finding> {
    // No nameConstraints: nothing to judge.
    let critical = extension_criticality(s.cert, sys::NID_name_constraints)?;
    if extension_flags(s.cert) & sys::EXFLAG_CA == 0 {
        return malformed(sys::X509_V_ERR_INVALID_EXTENSION, "is not a CA certificate but has nameConstraints (RFC 5280 4.2.1.10)");
    }
    if !critical {
        return malformed(sys::X509_V_ERR_INVALID_EXTENSION, "has nameConstraints not marked critical (RFC 5280 4.2.1.10)");
    }
    // SAFETY: the decoded structure is owned here and freed below; its stacks and names are only
    // read while it lives.
    unsafe {
        let nc = sys::X509_get_ext_d2i(s.cert.as_ptr(), sys::NID_name_constraints, std::ptr::null_mut(), std::ptr::null_mut())
            as *mut ossl::NAME_CONSTRAINTS;
        if nc.is_null() {
            openssl::error::ErrorStack::get();
            return malformed(sys::X509_V_ERR_INVALID_EXTENSION, "has nameConstraints that do not decode");
        }
        let subtrees = |stack: *mut sys::OPENSSL_STACK| -> Vec<*mut ossl::GENERAL_SUBTREE> {
            if stack.is_null() {
                return Vec::new();
            }
            (0..sys::OPENSSL_sk_num(stack)).map(|i| sys::OPENSSL_sk_value(stack, i) as *mut ossl::GENERAL_SUBTREE).collect()
        };
        let all: Vec<_> = subtrees((*nc).permitted_subtrees).into_iter().chain(subtrees((*nc).excluded_subtrees)).collect();
        let finding = if all.is_empty() {
            malformed(sys::X509_V_ERR_INVALID_EXTENSION, "has nameConstraints with neither permitted nor excluded subtrees (RFC 5280 4.2.1.10)")
        } else {
            all.iter().find_map(|&subtree| {
                if subtree.is_null() || (*subtree).base.is_null() {
                    return malformed(sys::X509_V_ERR_INVALID_EXTENSION, "has nameConstraints with an empty subtree");
                }
                let base = GeneralNameRef::from_ptr((*subtree).base);
                let dns = ia5_bytes(base, sys::GEN_DNS)?;
                // An empty dNSName constraint is the "every DNS name" subtree; anything else must
                // be a host or domain name.
                if dns.is_empty() || is_hostname(dns, false) {
                    return None;
                }
                malformed(
                    sys::X509_V_ERR_UNSUPPORTED_NAME_SYNTAX,
                    format!(
                        "has a nameConstraints dNSName \"{}\" that is not a valid domain name (RFC 5280 4.2.1.10)",
                        printable(&String::from_utf8_lossy(dns), 80)
                    ),
                )
            })
        };
        ossl::NAME_CONSTRAINTS_free(nc);
        finding
    }
}

/// RFC 5280 4.2.1.11: conforming CAs MUST mark policyConstraints critical.
fn policy_constraints(s: &Subject) -> Option<Finding> {
    match extension_criticality(s.cert, sys::NID_policy_constraints) {
        Some(false) => malformed(sys::X509_V_ERR_INVALID_EXTENSION, "has policyConstraints not marked critical (RFC 5280 4.2.1.11)"),
        _ => None,
    }
}

/// A CA certificate is not a client: the SSP authenticates with an end-entity certificate.
fn leaf_not_ca(s: &Subject) -> Option<Finding> {
    if extension_flags(s.cert) & sys::EXFLAG_CA != 0 {
        return untrusted(sys::X509_V_ERR_INVALID_PURPOSE, "is a CA certificate (basicConstraints CA:TRUE), not an end-entity certificate");
    }
    None
}

/// RFC 5280 4.2.1.6: dNSNames in the preferred name syntax (RFC 1034 3.5, RFC 1123 2.1), a
/// leftmost `*` label tolerated as a pattern (never matched, spec §9); rfc822Names mailboxes.
fn leaf_names(s: &Subject) -> Option<Finding> {
    extension_criticality(s.cert, sys::NID_subject_alt_name)?; // absent: nothing to judge
    let Some(names) = s.cert.subject_alt_names() else {
        openssl::error::ErrorStack::get();
        return malformed(sys::X509_V_ERR_INVALID_EXTENSION, "has a subjectAltName extension that does not decode");
    };
    names.iter().find_map(|name| {
        let shown = |b: &[u8]| printable(&String::from_utf8_lossy(b), 80);
        if let Some(dns) = ia5_bytes(name, sys::GEN_DNS) {
            if !is_hostname(dns, true) {
                return malformed(
                    sys::X509_V_ERR_UNSUPPORTED_NAME_SYNTAX,
                    format!("has a subjectAltName dNSName \"{}\" that is not a valid host name (RFC 5280 4.2.1.6)", shown(dns)),
                );
            }
        } else if let Some(mail) = ia5_bytes(name, sys::GEN_EMAIL) {
            if !is_mailbox(mail) {
                return malformed(
                    sys::X509_V_ERR_UNSUPPORTED_NAME_SYNTAX,
                    format!("has a subjectAltName rfc822Name \"{}\" that is not a valid mailbox (RFC 5280 4.2.1.6)", shown(mail)),
                );
            }
        }
        None
    })
}

/// Spec §9: EKU when present must name the purpose itself; anyExtendedKeyUsage does not count
/// and is refused in an end-entity certificate, as is a critical EKU (CA/B BR 7.1.2.7.10,
/// 7.1.2.7.6). A leaf without EKU is accepted (spec §9 "EKU when present").
fn leaf_extended_key_usage(s: &Subject) -> Option<Finding> {
    // No EKU: accepted by policy (spec §9 "EKU when present").
    let critical = extension_criticality(s.cert, sys::NID_ext_key_usage)?;
    if extension_flags(s.cert) & sys::EXFLAG_XKUSAGE == 0 {
        return malformed(sys::X509_V_ERR_INVALID_EXTENSION, "has an extendedKeyUsage extension that does not decode");
    }
    // SAFETY: read-only inspection of a valid certificate.
    let usage = unsafe { sys::X509_get_extended_key_usage(s.cert.as_ptr()) };
    if usage & sys::XKU_ANYEKU != 0 {
        return untrusted(sys::X509_V_ERR_INVALID_PURPOSE, "has anyExtendedKeyUsage in its extended key usage (not allowed in an end-entity certificate)");
    }
    if critical {
        return untrusted(sys::X509_V_ERR_INVALID_PURPOSE, "has its extended key usage marked critical (not allowed in an end-entity certificate)");
    }
    let (needed, what) = match s.purpose {
        Purpose::Client => (sys::XKU_SSL_CLIENT, "TLS client authentication"),
        Purpose::Server => (sys::XKU_SSL_SERVER, "TLS server authentication"),
        Purpose::Any => return None,
    };
    if usage & needed == 0 {
        return untrusted(sys::X509_V_ERR_INVALID_PURPOSE, format!("does not allow {what} (extended key usage)"));
    }
    None
}

/// CA/B BR 7.1.2.1.2: a root CA certificate carries no extended key usage. Applies to
/// self-signed anchors only; an intermediate configured as anchor may carry one.
fn root_without_extended_key_usage(s: &Subject) -> Option<Finding> {
    if extension_flags(s.cert) & sys::EXFLAG_SS != 0 && extension_criticality(s.cert, sys::NID_ext_key_usage).is_some() {
        return untrusted(sys::X509_V_ERR_INVALID_PURPOSE, "is a self-signed root with an extendedKeyUsage extension (CA/B BR 7.1.2.1.2)");
    }
    None
}

/// The raw IA5String of a general name of `kind` (rfc822Name, dNSName), or None for other kinds.
fn ia5_bytes(name: &GeneralNameRef, kind: c_int) -> Option<&[u8]> {
    // SAFETY: for these kinds `d` is an ASN1_IA5STRING owned by the name, which outlives the slice.
    unsafe {
        let g = name.as_ptr();
        if (*g).type_ != kind {
            return None;
        }
        let s = (*g).d as *const sys::ASN1_STRING;
        let len = sys::ASN1_STRING_length(s);
        let data = sys::ASN1_STRING_get0_data(s);
        if len <= 0 || data.is_null() {
            return Some(&[]);
        }
        Some(std::slice::from_raw_parts(data, len as usize))
    }
}

/// RFC 1034 3.5 as RFC 1123 2.1 relaxes it: labels of letters, digits and hyphens, 1 to 63
/// octets, not starting or ending with a hyphen; at most 253 octets; no empty label (so no
/// leading, trailing or doubled dot); no underscore. With `wildcard`, the leftmost label may be
/// exactly `*` when at least one label follows.
pub fn is_hostname(name: &[u8], wildcard: bool) -> bool {
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let labels: Vec<&[u8]> = name.split(|&b| b == b'.').collect();
    labels.iter().enumerate().all(|(i, label)| {
        if wildcard && i == 0 && *label == b"*" && labels.len() > 1 {
            return true;
        }
        !label.is_empty()
            && label.len() <= 63
            && label.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && label.first() != Some(&b'-')
            && label.last() != Some(&b'-')
    })
}

/// RFC 5280 4.2.1.6 (Mailbox of RFC 5321 4.1.2): `local@domain` with one `@`, the local part a
/// dot-atom of RFC 5322 atext (quoted local parts are refused), the domain a host name.
pub fn is_mailbox(addr: &[u8]) -> bool {
    let mut parts = addr.split(|&b| b == b'@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let atext = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(b);
    !local.is_empty()
        && local.len() <= 64
        && local.split(|&b| b == b'.').all(|atom| !atom.is_empty() && atom.iter().all(atext))
        && is_hostname(domain, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Revocation;
    use crate::connection::pki::{NamedCrl, Pki, PkiPolicy};
    use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::Rsa;
    use openssl::x509::extension::{
        AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
    };
    use openssl::x509::{X509Builder, X509Crl, X509Extension, X509NameBuilder, X509};

    const NOW: i64 = 1_700_000_000;

    fn ec_key(curve: Nid) -> PKey<Private> {
        PKey::from_ec_key(EcKey::generate(&EcGroup::from_curve_name(curve).unwrap()).unwrap()).unwrap()
    }

    fn p256() -> PKey<Private> {
        ec_key(Nid::X9_62_PRIME256V1)
    }

    /// What a test certificate looks like; the defaults make a valid client certificate.
    struct Spec {
        cn: &'static str,
        ca: bool,
        version: i32,
        serial: BigNum,
        eku: Option<ExtendedKeyUsage>,
        dns: Vec<&'static str>,
        emails: Vec<&'static str>,
        /// (OID, critical, DER value) added verbatim.
        raw: Vec<(&'static str, bool, Vec<u8>)>,
        aki: bool,
        /// The digest the issuer signs with.
        md: MessageDigest,
    }

    fn leaf_spec() -> Spec {
        let mut eku = ExtendedKeyUsage::new();
        eku.client_auth();
        Spec {
            cn: "leaf.example.com",
            ca: false,
            version: 2,
            serial: BigNum::from_u32(4242).unwrap(),
            eku: Some(eku),
            dns: vec!["leaf.example.com"],
            emails: vec![],
            raw: vec![],
            aki: true,
            md: MessageDigest::sha256(),
        }
    }

    fn ca_spec(cn: &'static str) -> Spec {
        Spec { cn, ca: true, eku: None, dns: vec![], aki: false, ..leaf_spec() }
    }

    /// Builds `spec` for `key`, signed by `issuer` (self-signed when None).
    fn build(spec: Spec, key: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>) -> X509 {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_nid(Nid::COMMONNAME, spec.cn).unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_version(spec.version).unwrap();
        b.set_serial_number(&spec.serial.to_asn1_integer().unwrap()).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(issuer.map_or(&*name, |(c, _)| c.subject_name())).unwrap();
        b.set_pubkey(key).unwrap();
        b.set_not_before(&Asn1Time::from_unix(NOW - 86_400).unwrap()).unwrap();
        b.set_not_after(&Asn1Time::from_unix(NOW + 86_400).unwrap()).unwrap();
        if spec.version == 2 {
            // The raw extensions first: each rule must find its extension wherever it is.
            for (oid, critical, der) in &spec.raw {
                let oid = Asn1Object::from_str(oid).unwrap();
                let value = Asn1OctetString::new_from_bytes(der).unwrap();
                b.append_extension(X509Extension::new_from_der(&oid, *critical, &value).unwrap()).unwrap();
            }
            let ctx_ext = |b: &X509Builder, ski: bool| {
                let ctx = b.x509v3_context(issuer.map(|(c, _)| &**c), None);
                if ski {
                    SubjectKeyIdentifier::new().build(&ctx).unwrap()
                } else {
                    AuthorityKeyIdentifier::new().keyid(true).build(&ctx).unwrap()
                }
            };
            let mut bc = BasicConstraints::new();
            bc.critical();
            if spec.ca {
                bc.ca();
            }
            b.append_extension(bc.build().unwrap()).unwrap();
            let mut ku = KeyUsage::new();
            ku.critical();
            if spec.ca {
                ku.key_cert_sign().crl_sign();
            } else {
                ku.digital_signature();
            }
            b.append_extension(ku.build().unwrap()).unwrap();
            let ski = ctx_ext(&b, true);
            b.append_extension(ski).unwrap();
            if spec.aki && issuer.is_some() {
                let aki = ctx_ext(&b, false);
                b.append_extension(aki).unwrap();
            }
            if let Some(eku) = spec.eku {
                b.append_extension(eku.build().unwrap()).unwrap();
            }
            if !spec.dns.is_empty() || !spec.emails.is_empty() {
                let mut san = SubjectAlternativeName::new();
                for d in &spec.dns {
                    san.dns(d);
                }
                for e in &spec.emails {
                    san.email(e);
                }
                let san = san.build(&b.x509v3_context(issuer.map(|(c, _)| &**c), None)).unwrap();
                b.append_extension(san).unwrap();
            }
        }
        b.sign(issuer.map_or(key, |(_, k)| k), spec.md).unwrap();
        b.build()
    }

    fn root() -> (X509, PKey<Private>) {
        let key = p256();
        (build(ca_spec("Test Root"), &key, None), key)
    }

    fn leaf_under(spec: Spec, key: &PKey<Private>, root: &(X509, PKey<Private>)) -> X509 {
        build(spec, key, Some((&root.0, &root.1)))
    }

    /// The profile verdict on leaf -> root.
    fn judge(spec: Spec) -> Result<(), CertRefusal> {
        judge_with_key(spec, &p256())
    }

    fn judge_with_key(spec: Spec, key: &PKey<Private>) -> Result<(), CertRefusal> {
        let root = root();
        let leaf = leaf_under(spec, key, &root);
        check_chain(&[&leaf, &root.0], Purpose::Client)
    }

    fn refused(r: Result<(), CertRefusal>, reason: Reason, code: c_int, words: &str) {
        let e = r.expect_err("expected a refusal");
        assert_eq!((e.reason, e.x509_error), (reason, code), "{}", e.message);
        assert!(e.message.contains(words), "{:?} lacks {words:?}", e.message);
        assert!(e.message.contains("CN=leaf.example.com"), "{:?} does not name the certificate", e.message);
    }

    /// DER of NameConstraints with one permitted dNSName subtree (all lengths < 128).
    fn nc_permitting_dns(name: &str) -> Vec<u8> {
        let mut general_name = vec![0x82, name.len() as u8];
        general_name.extend_from_slice(name.as_bytes());
        let mut subtree = vec![0x30, general_name.len() as u8];
        subtree.extend(general_name);
        let mut permitted = vec![0xa0, subtree.len() as u8];
        permitted.extend(subtree);
        let mut nc = vec![0x30, permitted.len() as u8];
        nc.extend(permitted);
        nc
    }

    const NC: &str = "2.5.29.30";
    const PC: &str = "2.5.29.36";
    const AKI: &str = "2.5.29.35";
    const AIA: &str = "1.3.6.1.5.5.7.1.1";

    #[test]
    fn a_conforming_chain_passes() {
        judge(leaf_spec()).unwrap();
    }

    #[test]
    fn an_extension_twice_or_one_that_does_not_decode_is_refused() {
        let code = sys::X509_V_ERR_INVALID_EXTENSION;
        let words = "does not decode or appears twice";
        // basicConstraints again (the builder adds one), then nameConstraints that are not a SEQUENCE.
        let twice = vec![("2.5.29.19", true, vec![0x30, 0x00])];
        refused(judge(Spec { raw: twice, ..leaf_spec() }), Reason::CertMalformed, code, words);
        let garbled = vec![("2.5.29.30", true, vec![0x04, 0x00])];
        refused(judge(Spec { raw: garbled, ..leaf_spec() }), Reason::CertMalformed, code, words);
    }

    #[test]
    fn serial_numbers_are_positive_and_at_most_20_octets() {
        let bad = |serial: BigNum, words: &str| {
            refused(judge(Spec { serial, ..leaf_spec() }), Reason::CertMalformed, sys::X509_V_ERR_CERT_REJECTED, words)
        };
        bad(BigNum::from_u32(0).unwrap(), "not positive");
        bad(BigNum::from_dec_str("-5").unwrap(), "not positive");
        // 0x80 followed by 19 octets needs a leading zero: 21 content octets.
        bad(BigNum::from_hex_str(&format!("80{}", "00".repeat(19))).unwrap(), "21 octets");
        judge(Spec { serial: BigNum::from_hex_str(&format!("7f{}", "ff".repeat(19))).unwrap(), ..leaf_spec() }).unwrap();
    }

    #[test]
    fn version_1_below_the_anchor_is_refused() {
        let spec = Spec { version: 0, ..leaf_spec() };
        refused(judge(spec), Reason::CertMalformed, sys::X509_V_ERR_CERT_REJECTED, "version 1");
    }

    #[test]
    fn a_ca_certificate_is_not_a_client() {
        let spec = Spec { ca: true, ..leaf_spec() };
        refused(judge(spec), Reason::CertUntrusted, sys::X509_V_ERR_INVALID_PURPOSE, "CA:TRUE");
    }

    #[test]
    fn name_constraints_only_critical_in_cas_and_not_empty() {
        let in_leaf = Spec { raw: vec![(NC, true, nc_permitting_dns("example.com"))], ..leaf_spec() };
        refused(judge(in_leaf), Reason::CertMalformed, sys::X509_V_ERR_INVALID_EXTENSION, "not a CA certificate");

        let ca = |critical: bool, der: Vec<u8>| {
            let key = p256();
            build(Spec { raw: vec![(NC, critical, der)], ..ca_spec("Test Root") }, &key, None)
        };
        let anchor_error = |cert: X509, words: &str| {
            let e = check_anchor(&cert).expect_err("expected a configuration error");
            assert_eq!(e.kind, ErrorKind::Ca);
            assert!(e.message.contains(words) && e.message.contains("CN=Test Root"), "{}", e.message);
        };
        anchor_error(ca(false, nc_permitting_dns("example.com")), "not marked critical");
        anchor_error(ca(true, vec![0x30, 0x00]), "neither permitted nor excluded");
        anchor_error(ca(true, nc_permitting_dns(".example.com")), "not a valid domain name");
        check_anchor(&ca(true, nc_permitting_dns("example.com"))).unwrap();
    }

    #[test]
    fn policy_constraints_must_be_critical() {
        let key = p256();
        let pc = vec![0x30, 0x03, 0x80, 0x01, 0x00];
        let anchor = build(Spec { raw: vec![(PC, false, pc.clone())], ..ca_spec("Test Root") }, &key, None);
        assert!(check_anchor(&anchor).unwrap_err().message.contains("policyConstraints not marked critical"));
        check_anchor(&build(Spec { raw: vec![(PC, true, pc)], ..ca_spec("Test Root") }, &key, None)).unwrap();
    }

    #[test]
    fn leaf_dns_names_must_be_host_names() {
        for bad in ["foo_bar.example.com", ".example.com", "example.com.", "a..example.com", "-a.example.com", "f*o.example.com"] {
            let spec = Spec { dns: vec![bad], ..leaf_spec() };
            refused(judge(spec), Reason::CertMalformed, sys::X509_V_ERR_UNSUPPORTED_NAME_SYNTAX, "not a valid host name");
        }
        judge(Spec { dns: vec!["*.example.com", "leaf.example.com", "1st.example.com"], ..leaf_spec() }).unwrap();
    }

    #[test]
    fn leaf_email_names_must_be_mailboxes() {
        let spec = Spec { emails: vec!["invalid@address@example.com"], ..leaf_spec() };
        refused(judge(spec), Reason::CertMalformed, sys::X509_V_ERR_UNSUPPORTED_NAME_SYNTAX, "not a valid mailbox");
        judge(Spec { emails: vec!["ops.team+spine@example.nhs.uk"], ..leaf_spec() }).unwrap();
    }

    #[test]
    fn hostname_and_mailbox_syntax() {
        assert!(is_hostname(b"msg.dev.spine2.ncrs.nhs.uk", false));
        assert!(!is_hostname(b"*.nhs.uk", false) && is_hostname(b"*.nhs.uk", true) && !is_hostname(b"*", true));
        assert!(!is_hostname("t\u{e9}st.example".as_bytes(), false));
        assert!(!is_hostname(format!("{}.uk", "a".repeat(64)).as_bytes(), false));
        assert!(is_hostname(format!("{}.uk", "a".repeat(63)).as_bytes(), false));
        // At most 253 octets in all; none is not a name.
        let name = |last: usize| format!("{a}.{a}.{a}.{}", "d".repeat(last), a = "a".repeat(63));
        assert!(is_hostname(name(61).as_bytes(), false) && name(61).len() == 253);
        assert!(!is_hostname(name(62).as_bytes(), false));
        assert!(!is_hostname(b"", false) && !is_hostname(b"", true));
        // A local part of at most 64 octets.
        assert!(is_mailbox(format!("{}@example.com", "a".repeat(64)).as_bytes()));
        assert!(!is_mailbox(format!("{}@example.com", "a".repeat(65)).as_bytes()));
        assert!(is_mailbox(b"a.b@example.com"));
        for bad in [&b"@example.com"[..], b"a@", b"a.@example.com", b"\"a b\"@example.com", b"a@b@example.com"] {
            assert!(!is_mailbox(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn leaf_extended_key_usage_must_name_the_purpose() {
        let eku = |f: fn(&mut ExtendedKeyUsage)| {
            let mut e = ExtendedKeyUsage::new();
            f(&mut e);
            Spec { eku: Some(e), ..leaf_spec() }
        };
        let code = sys::X509_V_ERR_INVALID_PURPOSE;
        refused(judge(eku(|e| {
            e.other("anyExtendedKeyUsage");
        })), Reason::CertUntrusted, code, "anyExtendedKeyUsage");
        refused(judge(eku(|e| {
            e.client_auth().other("anyExtendedKeyUsage");
        })), Reason::CertUntrusted, code, "anyExtendedKeyUsage");
        refused(judge(eku(|e| {
            e.server_auth();
        })), Reason::CertUntrusted, code, "TLS client authentication");
        refused(judge(eku(|e| {
            e.critical().client_auth();
        })), Reason::CertUntrusted, code, "marked critical");
        // The same as the certificate's first extension.
        let client_auth = [0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02].to_vec();
        refused(judge(Spec { eku: None, raw: vec![("2.5.29.37", true, client_auth)], ..leaf_spec() }), Reason::CertUntrusted, code, "marked critical");
        // Spec §9: EKU when present; a leaf without one is accepted.
        judge(Spec { eku: None, ..leaf_spec() }).unwrap();
    }

    #[test]
    fn a_self_signed_anchor_carries_no_extended_key_usage() {
        let key = p256();
        let mut eku = ExtendedKeyUsage::new();
        eku.client_auth();
        let anchor = build(Spec { eku: Some(eku), ..ca_spec("Test Root") }, &key, None);
        assert!(check_anchor(&anchor).unwrap_err().message.contains("extendedKeyUsage"));
        // The control: an intermediate configured as the anchor may carry one.
        let root = root();
        let mut eku = ExtendedKeyUsage::new();
        eku.client_auth();
        let sub = build(Spec { eku: Some(eku), aki: true, ..ca_spec("Test Sub") }, &p256(), Some((&root.0, &root.1)));
        check_anchor(&sub).unwrap();
    }

    #[test]
    fn authority_key_identifier_needs_its_key_identifier() {
        let spec = Spec { aki: false, raw: vec![(AKI, false, vec![0x30, 0x00])], ..leaf_spec() };
        refused(judge(spec), Reason::CertMalformed, ossl::X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER, "without keyIdentifier");
    }

    #[test]
    fn authority_information_access_must_decode() {
        for der in [b"malformed".to_vec(), vec![0x30, 0x00]] {
            let spec = Spec { raw: vec![(AIA, false, der)], ..leaf_spec() };
            let e = judge(spec).expect_err("malformed AIA accepted");
            assert_eq!(e.reason, Reason::CertMalformed, "{}", e.message);
        }
    }

    #[test]
    fn weak_keys_are_refused_in_leaves_and_anchors() {
        let rsa = |bits| PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap();
        let ee = sys::X509_V_ERR_EE_KEY_TOO_SMALL;
        refused(judge_with_key(leaf_spec(), &rsa(1024)), Reason::CertUntrusted, ee, "RSA key of 1024 bits");
        refused(judge_with_key(leaf_spec(), &rsa(2056 - 4)), Reason::CertUntrusted, ee, "not a whole number of octets");
        refused(judge_with_key(leaf_spec(), &ec_key(Nid::X9_62_PRIME192V1)), Reason::CertUntrusted, ee, "curve");
        let dsa = PKey::from_dsa(openssl::dsa::Dsa::generate(1024).unwrap()).unwrap();
        refused(judge_with_key(leaf_spec(), &dsa), Reason::CertUntrusted, ee, "DSA key");
        judge_with_key(leaf_spec(), &rsa(2048)).unwrap();
        judge_with_key(leaf_spec(), &ec_key(Nid::SECP384R1)).unwrap();

        let weak = rsa(1024);
        let anchor = build(ca_spec("Test Root"), &weak, None);
        let e = check_anchor(&anchor).unwrap_err();
        assert!(e.kind == ErrorKind::Ca && e.message.contains("RSA key of 1024 bits"), "{}", e.message);
    }

    #[test]
    fn sha1_and_md5_signatures_below_the_anchor_are_refused() {
        let code = sys::X509_V_ERR_CA_MD_TOO_WEAK;
        // An EC chain: root -> intermediate signed ecdsa-with-SHA1 -> leaf.
        let root = root();
        let sub_key = p256();
        let weak_sub = build(Spec { md: MessageDigest::sha1(), aki: true, ..ca_spec("Weak SubCA") }, &sub_key, Some((&root.0, &root.1)));
        let leaf = build(leaf_spec(), &p256(), Some((&weak_sub, &sub_key)));
        let e = check_chain(&[&leaf, &weak_sub, &root.0], Purpose::Client).unwrap_err();
        assert_eq!((e.reason, e.x509_error), (Reason::CertUntrusted, code), "{}", e.message);
        assert!(e.message.contains("chain certificate CN=Weak SubCA (depth 1) is signed with ecdsa-with-SHA1"), "{}", e.message);
        // As a configured intermediate it is a configuration error naming it.
        let e = Pki::from_parts(vec![root.0.clone()], vec![weak_sub.clone()], vec![], policy()).err().expect("SHA-1 intermediate loaded");
        assert_eq!(e.kind, ErrorKind::Ca);
        assert!(e.message.contains("`intermediate`: intermediate CN=Weak SubCA is signed with ecdsa-with-SHA1"), "{}", e.message);

        // The leaf itself, SHA-1 or MD5 (RSA issuer for MD5: there is no ECDSA-with-MD5).
        refused(judge(Spec { md: MessageDigest::sha1(), ..leaf_spec() }), Reason::CertUntrusted, code, "signed with ecdsa-with-SHA1");
        let rsa = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let rsa_root = build(ca_spec("RSA Root"), &rsa, None);
        let md5_leaf = build(Spec { md: MessageDigest::md5(), ..leaf_spec() }, &p256(), Some((&rsa_root, &rsa)));
        refused(check_chain(&[&md5_leaf, &rsa_root], Purpose::Client), Reason::CertUntrusted, code, "signed with md5WithRSAEncryption");

        // The boundary: SHA-224 (112 bits, OpenSSL auth level 2) passes, as SHA-256 and up do.
        for md in [MessageDigest::sha224(), MessageDigest::sha256(), MessageDigest::sha384(), MessageDigest::sha512()] {
            judge(Spec { md, ..leaf_spec() }).unwrap();
        }
        // The anchor's own self-signature does not matter.
        let old_root = build(Spec { md: MessageDigest::sha1(), ..ca_spec("Old Root") }, &rsa, None);
        let leaf = build(leaf_spec(), &p256(), Some((&old_root, &rsa)));
        check_chain(&[&leaf, &old_root], Purpose::Client).unwrap();
        check_anchor(&old_root).unwrap();
    }

    fn policy() -> PkiPolicy {
        PkiPolicy { fqdns: vec!["leaf.example.com".into()], revocation: Revocation::Off, require_crl: false, purpose: Purpose::Client, max_depth: 8 }
    }

    #[test]
    fn pki_verify_runs_the_profile_after_openssl() {
        let root = root();
        let pki = Pki::from_parts(vec![root.0.clone()], vec![], vec![], policy()).unwrap();
        let good = leaf_under(leaf_spec(), &p256(), &root);
        pki.verify(&good, &[], NOW).unwrap();
        let zero = leaf_under(Spec { serial: BigNum::from_u32(0).unwrap(), ..leaf_spec() }, &p256(), &root);
        refused(pki.verify(&zero, &[], NOW), Reason::CertMalformed, sys::X509_V_ERR_CERT_REJECTED, "not positive");
    }

    #[test]
    fn pki_refuses_a_bad_anchor_as_configuration() {
        let key = p256();
        let anchor = build(Spec { raw: vec![(NC, false, nc_permitting_dns("example.com"))], ..ca_spec("Test Root") }, &key, None);
        let e = Pki::from_parts(vec![anchor], vec![], vec![], policy()).err().expect("bad anchor accepted");
        assert_eq!(e.kind, ErrorKind::Ca);
    }

    /// A CRL from `issuer` with a CRLNumber (critical or not) or none.
    fn crl(issuer: &(X509, PKey<Private>), number: Option<bool>) -> X509Crl {
        crl_with(issuer, number, true, false)
    }

    /// `crl`, with a nextUpdate or none, and a deltaCRLIndicator or none.
    fn crl_with(issuer: &(X509, PKey<Private>), number: Option<bool>, next_update: bool, delta: bool) -> X509Crl {
        crl_numbered(issuer, number.map(|critical| (critical, &[0x02, 0x01, 0x07][..])), next_update, delta)
    }

    /// `crl_with`, the CRLNumber extension's DER value given.
    fn crl_numbered(issuer: &(X509, PKey<Private>), number: Option<(bool, &[u8])>, next_update: bool, delta: bool) -> X509Crl {
        // SAFETY: test-only construction of a fresh CRL, owned by the returned X509Crl.
        unsafe {
            let c = sys::X509_CRL_new();
            assert!(!c.is_null());
            assert_eq!(sys::X509_CRL_set_version(c, 1), 1);
            assert_eq!(sys::X509_CRL_set_issuer_name(c, issuer.0.subject_name().as_ptr()), 1);
            let last = Asn1Time::from_unix(NOW - 3600).unwrap();
            let next = Asn1Time::from_unix(NOW + 3600).unwrap();
            assert_eq!(sys::X509_CRL_set1_lastUpdate(c, last.as_ptr()), 1);
            if next_update {
                assert_eq!(sys::X509_CRL_set1_nextUpdate(c, next.as_ptr()), 1);
            }
            let crl = X509Crl::from_ptr(c);
            if delta {
                // deltaCRLIndicator (critical, RFC 5280 5.2.4): BaseCRLNumber 6.
                let oid = Asn1Object::from_str("2.5.29.27").unwrap();
                let value = Asn1OctetString::new_from_bytes(&[0x02, 0x01, 0x06]).unwrap();
                let ext = X509Extension::new_from_der(&oid, true, &value).unwrap();
                assert_eq!(sys::X509_CRL_add_ext(c, ext.as_ptr(), -1), 1);
            }
            if let Some((critical, der)) = number {
                let oid = Asn1Object::from_str("2.5.29.20").unwrap();
                let value = Asn1OctetString::new_from_bytes(der).unwrap();
                let ext = X509Extension::new_from_der(&oid, critical, &value).unwrap();
                assert_eq!(sys::X509_CRL_add_ext(c, ext.as_ptr(), -1), 1);
            }
            assert!(sys::X509_CRL_sign(c, issuer.1.as_ptr(), MessageDigest::sha256().as_ptr()) > 0);
            crl
        }
    }

    #[test]
    fn crls_need_a_non_critical_crl_number() {
        let root = root();
        check_crl(&crl(&root, Some(false)), &root.0).unwrap();
        assert!(check_crl(&crl(&root, None), &root.0).unwrap_err().contains("no CRLNumber"));
        assert!(check_crl(&crl(&root, Some(true)), &root.0).unwrap_err().contains("critical"));

        let pki = |c: X509Crl| {
            let named = NamedCrl { source: "test.crl".into(), crl: c };
            Pki::from_parts(vec![root.0.clone()], vec![], vec![named], PkiPolicy { revocation: Revocation::Chain, ..policy() })
        };
        let e = pki(crl(&root, None)).err().expect("CRL without CRLNumber loaded");
        assert!(e.kind == ErrorKind::Crl && e.message.contains("test.crl"), "{}", e.message);
        pki(crl(&root, Some(false))).unwrap();
    }

    #[test]
    fn a_crl_number_is_non_negative_and_at_most_20_octets() {
        let root = root();
        let number = |der: Vec<u8>| check_crl(&crl_numbered(&root, Some((false, &der)), true, false), &root.0);
        let octets = |first: u8, n: usize| [vec![0x02, n as u8, first], vec![0xff; n - 1]].concat();
        number(octets(0x7f, 20)).unwrap();
        number(octets(0x00, 1)).unwrap();
        for (der, what) in [(octets(0x00, 21), "21 octets"), (octets(0xff, 1), "-1"), (octets(0x80, 20), "negative, 20 octets")] {
            let e = number(der).expect_err(what);
            assert!(e.contains("negative or longer than 20 octets"), "{what}: {e}");
        }
    }

    #[test]
    fn delta_crls_and_crls_without_next_update_are_refused_at_load() {
        let root = root();
        let pki = |c: X509Crl| {
            let named = NamedCrl { source: "test.crl".into(), crl: c };
            Pki::from_parts(vec![root.0.clone()], vec![], vec![named], PkiPolicy { revocation: Revocation::Chain, ..policy() })
        };
        // A delta CRL lists only changes since its base, and OpenSSL would never apply it.
        let e = pki(crl_with(&root, Some(false), true, true)).err().expect("delta CRL loaded");
        assert_eq!(e.kind, ErrorKind::Crl, "{}", e.message);
        assert!(e.message.contains("configuration key `crl`: test.crl (issuer CN=Test Root) is a delta CRL"), "{}", e.message);
        // No nextUpdate: it could never be shown current (and OpenSSL would take it as current for ever).
        let e = pki(crl_with(&root, Some(false), false, false)).err().expect("CRL without nextUpdate loaded");
        assert_eq!(e.kind, ErrorKind::Crl, "{}", e.message);
        assert!(e.message.contains("test.crl (issuer CN=Test Root) has no nextUpdate"), "{}", e.message);
        pki(crl_with(&root, Some(false), true, false)).unwrap();
    }

    #[test]
    fn crl_issuer_keyusage_must_allow_crl_sign() {
        // A CA whose keyUsage has keyCertSign only.
        let key = p256();
        let mut b = X509Builder::new().unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_nid(Nid::COMMONNAME, "No CRL Sign").unwrap();
        let name = name.build();
        b.set_version(2).unwrap();
        b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap()).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::from_unix(NOW - 86_400).unwrap()).unwrap();
        b.set_not_after(&Asn1Time::from_unix(NOW + 86_400).unwrap()).unwrap();
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap()).unwrap();
        b.append_extension(KeyUsage::new().critical().key_cert_sign().build().unwrap()).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let ca = (b.build(), key);
        assert!(check_crl(&crl(&ca, Some(false)), &ca.0).unwrap_err().contains("cRLSign"));
    }
}
