//! Client certificates the probe makes with the test CA's key: a good one (the control) and the
//! ones a provider must refuse (expired, revoked-looking, wrong FQDN, from an unrelated CA).

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, PKeyRef, Private};
use openssl::x509::extension::{AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier};
use openssl::x509::{X509Builder, X509NameBuilder, X509Ref, X509};

use super::client::Identity;

pub fn ec_key() -> Result<PKey<Private>, String> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(|e| e.to_string())?;
    PKey::from_ec_key(EcKey::generate(&group).map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

/// How a leaf differs from a good one.
pub struct Leaf<'a> {
    pub cn: &'a str,
    pub dns: &'a str,
    /// Validity relative to now, in seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// None: a random serial.
    pub serial: Option<&'a BigNum>,
}

/// A client certificate issued by `ca` (signed with `ca_key`) and its key.
pub fn issue(ca: &X509Ref, ca_key: &PKeyRef<Private>, leaf: &Leaf<'_>) -> Result<Identity, String> {
    let s = |e: openssl::error::ErrorStack| e.to_string();
    let key = ec_key()?;
    let mut b = X509Builder::new().map_err(s)?;
    b.set_version(2).map_err(s)?;
    let serial = match leaf.serial {
        Some(n) => Asn1Integer::from_bn(n).map_err(s)?,
        None => {
            let mut n = BigNum::new().map_err(s)?;
            n.rand(120, MsbOption::MAYBE_ZERO, false).map_err(s)?;
            Asn1Integer::from_bn(&n).map_err(s)?
        }
    };
    b.set_serial_number(&serial).map_err(s)?;
    let mut name = X509NameBuilder::new().map_err(s)?;
    name.append_entry_by_nid(Nid::COMMONNAME, leaf.cn).map_err(s)?;
    let name = name.build();
    b.set_subject_name(&name).map_err(s)?;
    b.set_issuer_name(ca.subject_name()).map_err(s)?;
    let now = gpcguard::guard::system_now();
    let t = Asn1Time::from_unix(now + leaf.not_before).map_err(s)?;
    b.set_not_before(&t).map_err(s)?;
    let t = Asn1Time::from_unix(now + leaf.not_after).map_err(s)?;
    b.set_not_after(&t).map_err(s)?;
    b.set_pubkey(&key).map_err(s)?;
    b.append_extension(BasicConstraints::new().critical().build().map_err(s)?).map_err(s)?;
    b.append_extension(KeyUsage::new().critical().digital_signature().build().map_err(s)?).map_err(s)?;
    b.append_extension(ExtendedKeyUsage::new().client_auth().build().map_err(s)?).map_err(s)?;
    let ctx = b.x509v3_context(Some(ca), None);
    let san = SubjectAlternativeName::new().dns(leaf.dns).build(&ctx).map_err(s)?;
    let skid = SubjectKeyIdentifier::new().build(&ctx).map_err(s)?;
    let akid = AuthorityKeyIdentifier::new().keyid(false).build(&ctx);
    b.append_extension(san).map_err(s)?;
    b.append_extension(skid).map_err(s)?;
    if let Ok(akid) = akid {
        b.append_extension(akid).map_err(s)?;
    }
    b.sign(ca_key, MessageDigest::sha256()).map_err(s)?;
    Ok(Identity { chain: vec![b.build()], key })
}

/// A self-signed CA with `like`'s subject name but its own key: certificates it issues look
/// like the real CA's by name only.
pub fn impostor_ca(like: &X509Ref) -> Result<(X509, PKey<Private>), String> {
    let s = |e: openssl::error::ErrorStack| e.to_string();
    let key = ec_key()?;
    let mut b = X509Builder::new().map_err(s)?;
    b.set_version(2).map_err(s)?;
    let mut serial = BigNum::new().map_err(s)?;
    serial.rand(120, MsbOption::MAYBE_ZERO, false).map_err(s)?;
    let serial = Asn1Integer::from_bn(&serial).map_err(s)?;
    b.set_serial_number(&serial).map_err(s)?;
    b.set_subject_name(like.subject_name()).map_err(s)?;
    b.set_issuer_name(like.subject_name()).map_err(s)?;
    let now = gpcguard::guard::system_now();
    let t = Asn1Time::from_unix(now - 86_400).map_err(s)?;
    b.set_not_before(&t).map_err(s)?;
    let t = Asn1Time::from_unix(now + 86_400 * 365).map_err(s)?;
    b.set_not_after(&t).map_err(s)?;
    b.set_pubkey(&key).map_err(s)?;
    b.append_extension(BasicConstraints::new().critical().ca().build().map_err(s)?).map_err(s)?;
    b.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build().map_err(s)?).map_err(s)?;
    let ctx = b.x509v3_context(None, None);
    let skid = SubjectKeyIdentifier::new().build(&ctx).map_err(s)?;
    b.append_extension(skid).map_err(s)?;
    b.sign(&key, MessageDigest::sha256()).map_err(s)?;
    Ok((b.build(), key))
}
