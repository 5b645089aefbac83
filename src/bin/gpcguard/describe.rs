//! Certificates and keys described for operators, and the configuration loaded as a host loads it.

use std::path::Path;

use gpcguard::config::Config;
use gpcguard::guard::Guard;
use gpcguard::connection::pki::{name_text, printable, unix_time};
use openssl::pkey::{Id, PKeyRef, Public};
use openssl::x509::X509Ref;
use serde_json::{json, Value};

use crate::time::iso;

/// Where `--config` points when it is not given.
pub const DEFAULT_CONFIG: &str = "/etc/gpcguard/provider.toml";

/// Reads the configuration file and loads every file it names, as `gpcguard_config_from_file`
/// and `gpcguard_guard_new` do; the error is the library's message (it names the key and file).
pub fn load_guard(path: &str) -> Result<Guard, String> {
    let config = Config::from_file(Path::new(path)).map_err(|e| e.message)?;
    Guard::new(&config).map_err(|e| e.message)
}

/// "RSA 2048", "EC prime256v1", ...
pub fn key_text(key: &PKeyRef<Public>) -> String {
    match key.id() {
        Id::RSA => format!("RSA {}", key.bits()),
        Id::EC => {
            let curve = key.ec_key().ok().and_then(|k| k.group().curve_name()).and_then(|n| n.short_name().ok()).unwrap_or("?");
            format!("EC {curve}")
        }
        Id::ED25519 => "Ed25519".into(),
        other => format!("key type {}", other.as_raw()),
    }
}

pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub key: String,
    pub not_before: i64,
    pub not_after: i64,
    pub dns_names: Vec<String>,
}

pub fn cert_info(c: &X509Ref) -> CertInfo {
    CertInfo {
        subject: name_text(c.subject_name()),
        issuer: name_text(c.issuer_name()),
        serial: c.serial_number().to_bn().ok().and_then(|b| b.to_hex_str().ok().map(|h| h.to_string())).unwrap_or_default(),
        key: c.public_key().map(|k| key_text(&k)).unwrap_or_else(|_| "unreadable key".into()),
        not_before: unix_time(c.not_before()),
        not_after: unix_time(c.not_after()),
        dns_names: c
            .subject_alt_names()
            .map(|names| names.iter().filter_map(|n| n.dnsname().map(|d| printable(d, 253))).collect())
            .unwrap_or_default(),
    }
}

impl CertInfo {
    pub fn json(&self) -> Value {
        json!({
            "subject": self.subject, "issuer": self.issuer, "serial": self.serial, "key": self.key,
            "not_before": iso(self.not_before), "not_after": iso(self.not_after), "dns_names": self.dns_names,
        })
    }
}
