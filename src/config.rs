//! Configuration: the keys a provider sets (TOML file or key=value), checked when set and again,
//! as a whole, when a guard is built. Every message names the key at fault.
//!
//! The keys are one table, [`KEYS`]: name, type, default and meaning. The README's configuration
//! reference is that table.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::verdict::DEFAULT_ERROR_CODE_SYSTEM;

/// A GP Connect capability, each with its own service root (spec §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    Foundations,
    Structured,
    Documents,
}

impl Capability {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "foundations" => Some(Capability::Foundations),
            "structured" => Some(Capability::Structured),
            "documents" => Some(Capability::Documents),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Capability::Foundations => "foundations",
            Capability::Structured => "structured",
            Capability::Documents => "documents",
        }
    }
}

/// Which certificates of a client chain must be covered by a CRL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// Every certificate below the trust anchor (the default).
    Chain,
    /// The client certificate only.
    Leaf,
    /// No revocation checking.
    Off,
}

/// A path prefix under which one capability's FHIR endpoints live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRoot {
    pub capability: Capability,
    /// Normalised: starts with `/`, no trailing `/` (empty for the root itself).
    pub prefix: String,
}

/// Bounds on what a client controls (issue: hostile input costs little).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_authorization_bytes: usize,
    pub max_header_count: usize,
    pub max_header_bytes: usize,
    pub max_target_bytes: usize,
    pub max_json_bytes: usize,
    pub max_json_depth: usize,
    pub max_peer_certificates: usize,
    pub max_peer_chain_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_authorization_bytes: 8192,
            max_header_count: 100,
            max_header_bytes: 65536,
            max_target_bytes: 8192,
            max_json_bytes: 8192,
            max_json_depth: 16,
            max_peer_certificates: 8,
            max_peer_chain_bytes: 65536,
        }
    }
}

/// A configuration being built. Turned into [`Settings`] by [`Config::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    provider_asid: Option<String>,
    ssp_fqdn: Vec<String>,
    trust_anchor: Vec<PathBuf>,
    intermediate: Vec<PathBuf>,
    crl: Vec<PathBuf>,
    require_crl: bool,
    revocation: Revocation,
    server_certificate: Option<PathBuf>,
    server_private_key: Option<PathBuf>,
    service_root: Vec<ServiceRoot>,
    enforce_scope: bool,
    jwt_audience: Option<String>,
    clock_skew_seconds: i64,
    check_iat_future: bool,
    error_code_system: String,
    limits: Limits,
    /// Relative paths are resolved against this (the TOML file's folder), else the working dir.
    base_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            provider_asid: None,
            ssp_fqdn: Vec::new(),
            trust_anchor: Vec::new(),
            intermediate: Vec::new(),
            crl: Vec::new(),
            require_crl: true,
            revocation: Revocation::Chain,
            server_certificate: None,
            server_private_key: None,
            service_root: Vec::new(),
            enforce_scope: true,
            jwt_audience: None,
            clock_skew_seconds: 0,
            check_iat_future: false,
            error_code_system: DEFAULT_ERROR_CODE_SYSTEM.to_owned(),
            limits: Limits::default(),
            base_dir: None,
        }
    }
}

/// A value as it arrives, before the key's setter checks it.
enum Value {
    Text(String),
    Bool(bool),
    Int(i64),
}

/// The shape of a key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Text,
    TextList,
    Bool,
    Int { min: i64, max: i64 },
}

/// One configuration key: its name, type, default and meaning, and where its value goes.
pub struct Key {
    pub name: &'static str,
    pub ty: KeyType,
    pub default: &'static str,
    pub meaning: &'static str,
    set: fn(&mut Config, &'static str, Value) -> Result<()>,
}

const SIZE: KeyType = KeyType::Int { min: 1, max: 1 << 24 };

/// Every configuration key. `list` keys append, in TOML as an array or a single string.
pub static KEYS: &[Key] = &[
    Key { name: "provider_asid", ty: KeyType::Text, default: "required", meaning: "this provider's ASID (1-20 digits), compared with Ssp-To", set: |c, k, v| { c.provider_asid = Some(asid(k, text(k, v)?)?); Ok(()) } },
    Key { name: "ssp_fqdn", ty: KeyType::TextList, default: "required", meaning: "FQDN(s) the client certificate must carry: SAN dNSName, else subject CN; no wildcards", set: |c, k, v| { c.ssp_fqdn.push(fqdn(k, text(k, v)?)?); Ok(()) } },
    Key { name: "trust_anchor", ty: KeyType::TextList, default: "required", meaning: "PEM file(s) with the Spine RootCA(s)", set: |c, k, v| { let p = c.path(k, v)?; c.trust_anchor.push(p); Ok(()) } },
    Key { name: "intermediate", ty: KeyType::TextList, default: "none", meaning: "PEM file(s) with the Spine SubCA(s): the only intermediates a client chain may pass through", set: |c, k, v| { let p = c.path(k, v)?; c.intermediate.push(p); Ok(()) } },
    Key { name: "crl", ty: KeyType::TextList, default: "none", meaning: "CRL file(s), PEM or DER, each issued by a configured CA", set: |c, k, v| { let p = c.path(k, v)?; c.crl.push(p); Ok(()) } },
    Key { name: "require_crl", ty: KeyType::Bool, default: "true", meaning: "refuse a client when no unexpired CRL covers an issuer the revocation mode checks", set: |c, k, v| { c.require_crl = boolean(k, v)?; Ok(()) } },
    Key { name: "revocation", ty: KeyType::Text, default: "chain", meaning: "which certificates need a CRL check: chain, leaf or off", set: |c, k, v| { c.revocation = revocation(k, text(k, v)?)?; Ok(()) } },
    Key { name: "server_certificate", ty: KeyType::Text, default: "none", meaning: "PEM file: server certificate first, then its intermediates (needed by gpcguard_ssl_ctx_new)", set: |c, k, v| { c.server_certificate = Some(c.path(k, v)?); Ok(()) } },
    Key { name: "server_private_key", ty: KeyType::Text, default: "none", meaning: "PEM file with the server certificate's private key (needed by gpcguard_ssl_ctx_new)", set: |c, k, v| { c.server_private_key = Some(c.path(k, v)?); Ok(()) } },
    Key { name: "service_root", ty: KeyType::TextList, default: "foundations=/", meaning: "CAPABILITY=PATH, capability foundations, structured or documents; longest matching prefix wins", set: |c, k, v| { let r = service_root(k, text(k, v)?)?; c.service_root.retain(|o| o.capability != r.capability); c.service_root.push(r); Ok(()) } },
    Key { name: "enforce_scope", ty: KeyType::Bool, default: "true", meaning: "check requested_scope against the interaction", set: |c, k, v| { c.enforce_scope = boolean(k, v)?; Ok(()) } },
    Key { name: "jwt_audience", ty: KeyType::Text, default: "none", meaning: "when set, the JWT aud claim must equal it", set: |c, k, v| { c.jwt_audience = Some(non_empty(k, text(k, v)?)?); Ok(()) } },
    Key { name: "clock_skew_seconds", ty: KeyType::Int { min: 0, max: 3600 }, default: "0", meaning: "leeway for exp", set: |c, k, v| { c.clock_skew_seconds = int(k, v, 0, 3600)?; Ok(()) } },
    Key { name: "check_iat_future", ty: KeyType::Bool, default: "false", meaning: "refuse an iat in the future (GP Connect 1.2.3+ says providers shall not)", set: |c, k, v| { c.check_iat_future = boolean(k, v)?; Ok(()) } },
    Key { name: "error_code_system", ty: KeyType::Text, default: DEFAULT_ERROR_CODE_SYSTEM, meaning: "coding system of the Spine error code in OperationOutcomes", set: |c, k, v| { c.error_code_system = non_empty(k, text(k, v)?)?; Ok(()) } },
    Key { name: "max_authorization_bytes", ty: SIZE, default: "8192", meaning: "largest Authorization header value examined", set: |c, k, v| { c.limits.max_authorization_bytes = size(k, v)?; Ok(()) } },
    Key { name: "max_header_count", ty: SIZE, default: "100", meaning: "most request headers examined", set: |c, k, v| { c.limits.max_header_count = size(k, v)?; Ok(()) } },
    Key { name: "max_header_bytes", ty: SIZE, default: "65536", meaning: "most bytes of header names and values examined in all", set: |c, k, v| { c.limits.max_header_bytes = size(k, v)?; Ok(()) } },
    Key { name: "max_target_bytes", ty: SIZE, default: "8192", meaning: "longest request target (path and query)", set: |c, k, v| { c.limits.max_target_bytes = size(k, v)?; Ok(()) } },
    Key { name: "max_json_bytes", ty: SIZE, default: "8192", meaning: "largest decoded JWT header or payload", set: |c, k, v| { c.limits.max_json_bytes = size(k, v)?; Ok(()) } },
    Key { name: "max_json_depth", ty: KeyType::Int { min: 2, max: 64 }, default: "16", meaning: "deepest JSON nesting in the JWT", set: |c, k, v| { c.limits.max_json_depth = int(k, v, 2, 64)? as usize; Ok(()) } },
    Key { name: "max_peer_certificates", ty: KeyType::Int { min: 1, max: 32 }, default: "8", meaning: "most certificates in a peer chain passed to gpcguard_check_peer_*", set: |c, k, v| { c.limits.max_peer_certificates = int(k, v, 1, 32)? as usize; Ok(()) } },
    Key { name: "max_peer_chain_bytes", ty: SIZE, default: "65536", meaning: "largest peer chain (PEM or DER bytes) passed to gpcguard_check_peer_*", set: |c, k, v| { c.limits.max_peer_chain_bytes = size(k, v)?; Ok(()) } },
];

fn key(name: &str) -> Result<&'static Key> {
    KEYS.iter().find(|k| k.name == name).ok_or_else(|| {
        Error::new(ErrorKind::UnknownKey, format!("unknown configuration key `{}`", printable(name)))
    })
}

/// The key name or value made safe to quote in a message.
fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(64).map(|c| if c.is_control() { '?' } else { c }).collect();
    if s.chars().count() > 64 {
        out.push('…');
    }
    out
}

fn invalid(key: &str, what: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidValue, format!("configuration key `{key}`: {what}"))
}

fn text(key: &str, v: Value) -> Result<String> {
    match v {
        Value::Text(s) => Ok(s),
        _ => Err(invalid(key, "expected a string")),
    }
}

fn non_empty(key: &str, s: String) -> Result<String> {
    if s.is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    Ok(s)
}

fn boolean(key: &str, v: Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(b),
        Value::Text(s) => match s.as_str() {
            "true" | "on" | "yes" | "1" => Ok(true),
            "false" | "off" | "no" | "0" => Ok(false),
            _ => Err(invalid(key, format!("expected true or false, got `{}`", printable(&s)))),
        },
        Value::Int(_) => Err(invalid(key, "expected true or false")),
    }
}

fn int(key: &str, v: Value, min: i64, max: i64) -> Result<i64> {
    let n = match v {
        Value::Int(n) => n,
        Value::Text(s) => s
            .parse::<i64>()
            .map_err(|_| invalid(key, format!("expected an integer, got `{}`", printable(&s))))?,
        Value::Bool(_) => return Err(invalid(key, "expected an integer")),
    };
    if n < min || n > max {
        return Err(invalid(key, format!("{n} is outside {min}..={max}")));
    }
    Ok(n)
}

fn size(key: &str, v: Value) -> Result<usize> {
    let KeyType::Int { min, max } = SIZE else { unreachable!() };
    Ok(int(key, v, min, max)? as usize)
}

/// ASIDs: 1-20 ASCII digits (spec §9).
pub fn is_asid(s: &[u8]) -> bool {
    (1..=20).contains(&s.len()) && s.iter().all(u8::is_ascii_digit)
}

fn asid(key: &str, s: String) -> Result<String> {
    if !is_asid(s.as_bytes()) {
        return Err(invalid(key, format!("`{}` is not an ASID (1-20 digits)", printable(&s))));
    }
    Ok(s)
}

fn fqdn(key: &str, s: String) -> Result<String> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !ok {
        return Err(invalid(key, format!("`{}` is not a DNS name (no wildcards)", printable(&s))));
    }
    Ok(s.to_ascii_lowercase())
}

fn revocation(key: &str, s: String) -> Result<Revocation> {
    match s.as_str() {
        "chain" => Ok(Revocation::Chain),
        "leaf" => Ok(Revocation::Leaf),
        "off" => Ok(Revocation::Off),
        _ => Err(invalid(key, format!("expected chain, leaf or off, got `{}`", printable(&s)))),
    }
}

fn service_root(key: &str, s: String) -> Result<ServiceRoot> {
    let (cap, path) = s
        .split_once('=')
        .ok_or_else(|| invalid(key, format!("expected CAPABILITY=PATH, got `{}`", printable(&s))))?;
    let capability = Capability::parse(cap.trim()).ok_or_else(|| {
        invalid(key, format!("unknown capability `{}` (foundations, structured or documents)", printable(cap)))
    })?;
    let path = path.trim();
    let segments_ok = path.starts_with('/')
        && path
            .trim_end_matches('/')
            .split('/')
            .skip(1)
            .all(|seg| !seg.is_empty() && seg != "." && seg != ".." && seg.bytes().all(|b| b.is_ascii_graphic() && !b"?#%".contains(&b)));
    if !segments_ok {
        return Err(invalid(key, format!("`{}` is not an absolute path of plain segments", printable(path))));
    }
    Ok(ServiceRoot { capability, prefix: path.trim_end_matches('/').to_owned() })
}

impl Config {
    pub fn new() -> Self {
        Config::default()
    }

    /// Sets one key from its text form, as `gpcguard_config_set` does. List keys append.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let k = key(name)?;
        (k.set)(self, k.name, Value::Text(value.to_owned()))
    }

    /// Reads a TOML file. Relative paths in it are relative to the file's folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(ErrorKind::File, format!("configuration file {}: {e}", path.display()))
        })?;
        let mut c = Config::new();
        c.base_dir = path.parent().map(Path::to_path_buf);
        c.merge_toml(&text)
            .map_err(|e| Error::new(e.kind, format!("{}: {}", path.display(), e.message)))?;
        Ok(c)
    }

    /// Applies the keys of a TOML document.
    pub fn merge_toml(&mut self, text: &str) -> Result<()> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::new(ErrorKind::Syntax, format!("not valid TOML: {}", e.message())))?;
        for (name, value) in table {
            let k = key(&name)?;
            let items = match value {
                toml::Value::Array(items) if k.ty == KeyType::TextList => items,
                toml::Value::Array(_) => return Err(invalid(k.name, "is not a list")),
                one => vec![one],
            };
            for item in items {
                let v = match item {
                    toml::Value::String(s) => Value::Text(s),
                    toml::Value::Boolean(b) => Value::Bool(b),
                    toml::Value::Integer(n) => Value::Int(n),
                    other => return Err(invalid(k.name, format!("unexpected {}", other.type_str()))),
                };
                (k.set)(self, k.name, v)?;
            }
        }
        Ok(())
    }

    fn path(&self, key: &str, v: Value) -> Result<PathBuf> {
        let p = PathBuf::from(non_empty(key, text(key, v)?)?);
        Ok(match &self.base_dir {
            // `join` keeps an absolute path as it is.
            Some(base) => base.join(p),
            _ => p,
        })
    }

    /// Checks the whole configuration and fixes it into [`Settings`].
    pub fn validate(&self) -> Result<Settings> {
        let missing = |k: &str| Error::new(ErrorKind::MissingKey, format!("configuration key `{k}` is required but not set"));
        let provider_asid = self.provider_asid.clone().ok_or_else(|| missing("provider_asid"))?;
        if self.ssp_fqdn.is_empty() {
            return Err(missing("ssp_fqdn"));
        }
        if self.trust_anchor.is_empty() {
            return Err(missing("trust_anchor"));
        }
        if self.revocation != Revocation::Off && self.require_crl && self.crl.is_empty() {
            return Err(Error::new(
                ErrorKind::MissingKey,
                "configuration key `crl` is required while `require_crl` is true (set revocation = \"off\" or require_crl = false to run without CRLs)",
            ));
        }
        if self.server_certificate.is_some() != self.server_private_key.is_some() {
            let absent = if self.server_certificate.is_none() { "server_certificate" } else { "server_private_key" };
            return Err(Error::new(ErrorKind::MissingKey, format!("configuration key `{absent}` is required when the other half of the server identity is set")));
        }
        let mut service_roots = self.service_root.clone();
        if service_roots.is_empty() {
            service_roots.push(ServiceRoot { capability: Capability::Foundations, prefix: String::new() });
        }
        for (i, a) in service_roots.iter().enumerate() {
            if let Some(b) = service_roots[i + 1..].iter().find(|b| b.prefix == a.prefix) {
                return Err(invalid("service_root", format!("{} and {} share the path `{}/`", a.capability.name(), b.capability.name(), a.prefix)));
            }
        }
        // Longest prefix first, so the first match is the longest (API.md).
        service_roots.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(Settings {
            provider_asid,
            ssp_fqdn: self.ssp_fqdn.clone(),
            trust_anchor: self.trust_anchor.clone(),
            intermediate: self.intermediate.clone(),
            crl: self.crl.clone(),
            require_crl: self.require_crl,
            revocation: self.revocation,
            server_certificate: self.server_certificate.clone(),
            server_private_key: self.server_private_key.clone(),
            service_roots,
            enforce_scope: self.enforce_scope,
            jwt_audience: self.jwt_audience.clone(),
            clock_skew_seconds: self.clock_skew_seconds,
            check_iat_future: self.check_iat_future,
            error_code_system: Arc::from(self.error_code_system.as_str()),
            limits: self.limits.clone(),
        })
    }
}

/// A checked configuration: what a guard runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub provider_asid: String,
    pub ssp_fqdn: Vec<String>,
    pub trust_anchor: Vec<PathBuf>,
    pub intermediate: Vec<PathBuf>,
    pub crl: Vec<PathBuf>,
    pub require_crl: bool,
    pub revocation: Revocation,
    pub server_certificate: Option<PathBuf>,
    pub server_private_key: Option<PathBuf>,
    /// Longest prefix first.
    pub service_roots: Vec<ServiceRoot>,
    pub enforce_scope: bool,
    pub jwt_audience: Option<String>,
    pub clock_skew_seconds: i64,
    pub check_iat_future: bool,
    pub error_code_system: Arc<str>,
    pub limits: Limits,
}

impl Settings {
    /// Settings for tests and tools: the given ASID and FQDN, no files, no revocation.
    pub fn for_tests(provider_asid: &str, ssp_fqdn: &str) -> Settings {
        let mut c = Config::new();
        c.set("provider_asid", provider_asid).expect("test ASID");
        c.set("ssp_fqdn", ssp_fqdn).expect("test FQDN");
        c.set("trust_anchor", "/nonexistent").expect("path");
        c.set("revocation", "off").expect("revocation");
        c.validate().expect("test settings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Config {
        let mut c = Config::new();
        c.set("provider_asid", "918999198993").unwrap();
        c.set("ssp_fqdn", "msg.dev.spine2.ncrs.nhs.uk").unwrap();
        c.set("trust_anchor", "/etc/root.pem").unwrap();
        c.set("crl", "/etc/sub.crl").unwrap();
        c
    }

    #[test]
    fn minimal_configuration_has_the_documented_defaults() {
        let s = minimal().validate().unwrap();
        assert!(s.require_crl && s.enforce_scope && !s.check_iat_future);
        assert_eq!(s.revocation, Revocation::Chain);
        assert_eq!(s.clock_skew_seconds, 0);
        assert_eq!(s.service_roots, vec![ServiceRoot { capability: Capability::Foundations, prefix: String::new() }]);
        assert_eq!(s.limits.max_authorization_bytes, 8192);
    }

    #[test]
    fn each_required_key_is_named_when_missing() {
        for (k, v) in [("provider_asid", None), ("ssp_fqdn", None), ("trust_anchor", None), ("crl", None)] {
            let _: Option<()> = v;
            let mut c = Config::new();
            for (other, val) in [("provider_asid", "1"), ("ssp_fqdn", "a.b"), ("trust_anchor", "/r"), ("crl", "/c")] {
                if other != k {
                    c.set(other, val).unwrap();
                }
            }
            let e = c.validate().unwrap_err();
            assert_eq!(e.kind, ErrorKind::MissingKey);
            assert!(e.message.contains(&format!("`{k}`")), "{}", e.message);
        }
    }

    #[test]
    fn crl_is_optional_when_not_required() {
        let mut c = minimal();
        c.crl.clear();
        assert!(c.validate().is_err());
        c.set("require_crl", "false").unwrap();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut c = Config::new();
        for (k, v) in [
            ("provider_asid", "12ab"),
            ("ssp_fqdn", "*.nhs.uk"),
            ("require_crl", "maybe"),
            ("clock_skew_seconds", "-1"),
            ("clock_skew_seconds", "99999"),
            ("service_root", "clinical=/x"),
            ("service_root", "structured=/a/../b"),
            // Segments of visible ASCII only, none of the URL's query, fragment or escape marks.
            ("service_root", "structured=/a b"),
            ("service_root", "structured=/a\tb"),
            ("service_root", "structured=/\u{e9}"),
            ("service_root", "structured=/a?b"),
            ("service_root", "structured=/a#b"),
            ("service_root", "structured=/a%2Fb"),
            ("service_root", "structured=/a//b"),
            ("service_root", "structured=/a/./b"),
            ("service_root", "structured=a/b"),
            ("revocation", "sometimes"),
            ("max_json_depth", "1"),
        ] {
            let e = c.set(k, v).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidValue, "{k}={v}");
            assert!(e.message.contains(k), "{}", e.message);
        }
        assert_eq!(c.set("provider_asidx", "1").unwrap_err().kind, ErrorKind::UnknownKey);
        // The control: every other visible ASCII character is a segment's.
        c.set("service_root", "structured=/A1/STU3/1/gpconnect/~a-b_c.d!$&'()*+,;=:@/").unwrap();
    }

    #[test]
    fn toml_lists_append_and_types_are_checked() {
        let mut c = minimal();
        c.merge_toml("ssp_fqdn = [\"b.example\", \"C.Example\"]\nrequire_crl = false\nclock_skew_seconds = 5\nservice_root = [\"structured=/A1/STU3/1/gpconnect/structured/\", \"foundations=/A1/STU3/1/gpconnect\"]\n").unwrap();
        let s = c.validate().unwrap();
        assert_eq!(s.ssp_fqdn, vec!["msg.dev.spine2.ncrs.nhs.uk", "b.example", "c.example"]);
        assert_eq!(s.service_roots[0].prefix, "/A1/STU3/1/gpconnect/structured");
        assert_eq!(s.clock_skew_seconds, 5);
        assert_eq!(c.merge_toml("require_crl = 1").unwrap_err().kind, ErrorKind::InvalidValue);
        assert_eq!(c.merge_toml("provider_asid = [\"1\"]").unwrap_err().kind, ErrorKind::InvalidValue);
        assert_eq!(c.merge_toml("[section]\nx=1").unwrap_err().kind, ErrorKind::UnknownKey);
        assert_eq!(c.merge_toml("provider_asid = ").unwrap_err().kind, ErrorKind::Syntax);
    }

    #[test]
    fn messages_quote_names_and_values_bounded_and_printable() {
        let mut c = Config::new();
        assert_eq!(c.set("provider_asidx", "1").unwrap_err().message, "unknown configuration key `provider_asidx`");
        let got = |c: &mut Config, v: &str| c.set("revocation", v).unwrap_err().message;
        assert_eq!(got(&mut c, "a\nb\u{7f}"), "configuration key `revocation`: expected chain, leaf or off, got `a?b?`");
        // At most 64 characters quoted, an ellipsis when cut.
        let x64 = "é".repeat(64);
        assert_eq!(got(&mut c, &x64), format!("configuration key `revocation`: expected chain, leaf or off, got `{x64}`"));
        assert_eq!(got(&mut c, &format!("{x64}é")), format!("configuration key `revocation`: expected chain, leaf or off, got `{x64}…`"));
    }

    #[test]
    fn boolean_keys_take_each_documented_spelling() {
        for (text, want) in [("true", true), ("on", true), ("yes", true), ("1", true), ("false", false), ("off", false), ("no", false), ("0", false)] {
            let mut c = minimal();
            c.set("check_iat_future", text).unwrap();
            c.set("enforce_scope", text).unwrap();
            let s = c.validate().unwrap();
            assert_eq!((s.check_iat_future, s.enforce_scope), (want, want), "{text}");
        }
        for bad in ["TRUE", "y", "2", ""] {
            assert_eq!(minimal().set("check_iat_future", bad).unwrap_err().kind, ErrorKind::InvalidValue, "{bad:?}");
        }
        assert!(minimal().merge_toml("check_iat_future = true").is_ok());
        assert_eq!(minimal().merge_toml("check_iat_future = 1").unwrap_err().kind, ErrorKind::InvalidValue);
    }

    #[test]
    fn revocation_takes_each_mode() {
        for (text, want) in [("chain", Revocation::Chain), ("leaf", Revocation::Leaf), ("off", Revocation::Off)] {
            let mut c = minimal();
            c.set("revocation", "off").unwrap();
            c.set("revocation", text).unwrap();
            assert_eq!(c.validate().unwrap().revocation, want, "{text}");
        }
        assert_eq!(minimal().set("revocation", "Chain").unwrap_err().kind, ErrorKind::InvalidValue);
    }

    #[test]
    fn capabilities_are_named_as_configured() {
        for c in [Capability::Foundations, Capability::Structured, Capability::Documents] {
            assert_eq!(Capability::parse(c.name()), Some(c));
        }
        let mut c = minimal();
        c.set("service_root", "structured=/A1/x").unwrap();
        c.set("service_root", "documents=/A1/x/").unwrap();
        let e = c.validate().unwrap_err();
        assert_eq!(e.message, "configuration key `service_root`: structured and documents share the path `/A1/x/`");
    }

    #[test]
    fn integer_keys_take_their_range_exactly() {
        // Each integer key of the table at both ends of its range and one past each (README).
        let mut checked = 0;
        for k in KEYS {
            let KeyType::Int { min, max } = k.ty else { continue };
            let mut c = minimal();
            for ok in [min, max] {
                c.set(k.name, &ok.to_string()).unwrap_or_else(|e| panic!("{} = {ok}: {}", k.name, e.message));
            }
            for bad in [min - 1, max + 1] {
                let e = c.set(k.name, &bad.to_string()).unwrap_err();
                assert_eq!(e.kind, ErrorKind::InvalidValue, "{} = {bad}", k.name);
                assert_eq!(e.message, format!("configuration key `{}`: {bad} is outside {min}..={max}", k.name));
            }
            checked += 1;
        }
        assert_eq!(checked, 9, "clock_skew_seconds and the eight limits");
    }

    #[test]
    fn limits_take_the_documented_defaults_and_the_values_set() {
        let s = minimal().validate().unwrap();
        let limits = [
            ("max_authorization_bytes", s.limits.max_authorization_bytes),
            ("max_header_count", s.limits.max_header_count),
            ("max_header_bytes", s.limits.max_header_bytes),
            ("max_target_bytes", s.limits.max_target_bytes),
            ("max_json_bytes", s.limits.max_json_bytes),
            ("max_json_depth", s.limits.max_json_depth),
            ("max_peer_certificates", s.limits.max_peer_certificates),
            ("max_peer_chain_bytes", s.limits.max_peer_chain_bytes),
        ];
        for (name, value) in limits {
            let k = key(name).unwrap();
            assert_eq!(value.to_string(), k.default, "{name}");
        }
        // A value set lands in its own field, not a neighbour's.
        for (i, (name, _)) in limits.iter().enumerate() {
            let mut c = minimal();
            c.set(name, "7").unwrap();
            let l = c.validate().unwrap().limits;
            let got = [l.max_authorization_bytes, l.max_header_count, l.max_header_bytes, l.max_target_bytes, l.max_json_bytes, l.max_json_depth, l.max_peer_certificates, l.max_peer_chain_bytes];
            for (j, v) in got.iter().enumerate() {
                assert_eq!(*v == 7, i == j, "{name} set to 7, field {j} is {v}");
            }
        }
        let mut c = minimal();
        c.set("error_code_system", "urn:example:errors").unwrap();
        assert_eq!(&*c.validate().unwrap().error_code_system, "urn:example:errors");
        assert_eq!(&*minimal().validate().unwrap().error_code_system, DEFAULT_ERROR_CODE_SYSTEM);
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let dir = crate::testkit::process_dir().join("config");
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("provider.toml");
        std::fs::write(&f, "provider_asid = \"1\"\nssp_fqdn = \"a.b\"\ntrust_anchor = \"pki/root.pem\"\nrevocation = \"off\"\n").unwrap();
        let s = Config::from_file(&f).unwrap().validate().unwrap();
        assert_eq!(s.trust_anchor, vec![dir.join("pki/root.pem")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
