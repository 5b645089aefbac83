//! `gpcguard check-config FILE`: the configuration loaded as a host loads it, and the policy in
//! effect; warnings for CA certificates and CRLs near their end.

use gpcguard::config::Revocation;
use serde_json::{json, Value};

use crate::args::{Command, Opt};
use crate::describe::{cert_info, load_guard, CertInfo};
use crate::time::{iso, relative};

pub const COMMAND: Command = Command {
    name: "check-config",
    usage: "check-config FILE [--warn-hours N] [--at TIME] [--json]",
    about: "Loads FILE as nginx, Apache or a C host would (every file it names is read and checked) and prints\n\
the effective policy: TLS version, the cipher suites in server order as this OpenSSL expands the\n\
policy's cipher string, each trust anchor and intermediate, each CRL, the server certificate,\n\
service roots and limits. Warns when a CA certificate's notAfter or a CRL's nextUpdate is within\n\
--warn-hours. Exit status: 0 clean, 1 warnings only, 2 errors (the message names the key or file).",
    options: &[
        Opt { name: "warn-hours", value: Some("N"), help: "warn when a CA or CRL ends within N hours (default 48)" },
        Opt { name: "at", value: Some("TIME"), help: "judge at TIME (Unix seconds or YYYY-MM-DDTHH:MM:SSZ) instead of now" },
        Opt { name: "json", value: None, help: "print one JSON object instead of text" },
    ],
};

pub fn run(args: &[String]) -> i32 {
    let given = match crate::parse(&COMMAND, args) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let [file] = given.positional.as_slice() else {
        return crate::usage(&COMMAND, "one configuration FILE is needed");
    };
    let warn_hours: i64 = match given.value("warn-hours").map(str::parse::<u32>) {
        None => 48,
        Some(Ok(h)) => i64::from(h),
        Some(Err(_)) => return crate::usage(&COMMAND, "--warn-hours takes a whole number of hours"),
    };
    let now = match crate::now_from(&given) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let json_out = given.flag("json");
    let guard = match load_guard(file) {
        Ok(g) => g,
        Err(message) => {
            if json_out {
                println!("{}", json!({ "file": file, "errors": [message], "warnings": [] }));
            } else {
                eprintln!("gpcguard check-config: error: {message}");
            }
            return 2;
        }
    };
    let state = guard.state();
    let s = &state.settings;
    let horizon = now.saturating_add(warn_hours * 3600);
    let mut warnings = Vec::new();
    let ca_json = |role: &str, c: &openssl::x509::X509Ref, warnings: &mut Vec<String>| -> (CertInfo, Value) {
        let info = cert_info(c);
        if info.not_after <= now {
            warnings.push(format!("{role} {} expired at {}", info.subject, iso(info.not_after)));
        } else if info.not_after <= horizon {
            warnings.push(format!("{role} {} expires at {} ({}), within {warn_hours} h", info.subject, iso(info.not_after), relative(info.not_after, now)));
        }
        let mut v = info.json();
        v["seconds_to_not_after"] = json!(info.not_after.saturating_sub(now));
        (info, v)
    };
    let anchors: Vec<(CertInfo, Value)> = state.pki.anchors().iter().map(|c| ca_json("trust anchor", c, &mut warnings)).collect();
    let intermediates: Vec<(CertInfo, Value)> = state.pki.intermediates().iter().map(|c| ca_json("intermediate", c, &mut warnings)).collect();
    let server: Vec<(CertInfo, Value)> =
        state.server.as_ref().map(|id| id.chain.iter().take(1).map(|c| ca_json("server certificate", c, &mut warnings)).collect()).unwrap_or_default();
    let mut crls = Vec::new();
    for c in state.pki.crls() {
        match c.next_update_unix {
            Some(next) if next <= now => warnings.push(format!("CRL {} (issuer {}) is past its nextUpdate {}: clients it covers are refused", c.source, c.issuer, iso(next))),
            Some(next) if next <= horizon => {
                warnings.push(format!("CRL {} (issuer {}) reaches its nextUpdate at {} ({}), within {warn_hours} h", c.source, c.issuer, iso(next), relative(next, now)))
            }
            _ => {}
        }
        crls.push(json!({
            "file": c.source, "issuer": c.issuer, "this_update": iso(c.this_update_unix),
            "next_update": c.next_update_unix.map(iso), "seconds_to_next_update": c.next_update_unix.map(|n| n.saturating_sub(now)),
            "entries": c.entries, "crl_number": c.crl_number,
        }));
    }
    // Chain mode checks every CA below the anchor and the anchor itself: each needs a CRL.
    if s.revocation == Revocation::Chain && s.require_crl {
        for (info, _) in anchors.iter().chain(&intermediates) {
            if !state.pki.crls().iter().any(|c| c.issuer == info.subject) {
                warnings.push(format!("no CRL from {} is configured: with revocation = \"chain\" every client it covers is refused", info.subject));
            }
        }
    }
    let suites = match gpcguard::connection::tls::policy_suites() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gpcguard check-config: error: {}", e.message);
            return 2;
        }
    };
    let revocation = match s.revocation {
        Revocation::Chain => "chain",
        Revocation::Leaf => "leaf",
        Revocation::Off => "off",
    };
    let l = &s.limits;
    let limits = json!({
        "max_authorization_bytes": l.max_authorization_bytes, "max_header_count": l.max_header_count,
        "max_header_bytes": l.max_header_bytes, "max_target_bytes": l.max_target_bytes, "max_json_bytes": l.max_json_bytes,
        "max_json_depth": l.max_json_depth, "max_peer_certificates": l.max_peer_certificates, "max_peer_chain_bytes": l.max_peer_chain_bytes,
    });
    let roots: Vec<Value> = s.service_roots.iter().map(|r| json!({ "capability": r.capability.name(), "prefix": if r.prefix.is_empty() { "/" } else { &r.prefix } })).collect();
    if json_out {
        let out = json!({
            "file": file, "errors": [], "warnings": warnings, "generation": state.generation, "at": iso(now),
            "provider_asid": s.provider_asid, "ssp_fqdn": s.ssp_fqdn,
            "tls": { "versions": ["TLSv1.2"], "cipher_string": gpcguard::connection::tls::CIPHER_LIST.to_str().unwrap_or(""), "suites": suites, "server_order": true,
                     "renegotiation": false, "client_certificate": "required" },
            "trust_anchors": anchors.iter().map(|a| &a.1).collect::<Vec<_>>(),
            "intermediates": intermediates.iter().map(|a| &a.1).collect::<Vec<_>>(),
            "crls": crls, "revocation": revocation, "require_crl": s.require_crl,
            "server_certificate": server.first().map(|a| &a.1),
            "service_roots": roots, "enforce_scope": s.enforce_scope, "jwt_audience": s.jwt_audience,
            "clock_skew_seconds": s.clock_skew_seconds, "check_iat_future": s.check_iat_future,
            "error_code_system": &*s.error_code_system, "limits": limits,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!("configuration {file}: loaded (as a host loads it), judged at {}", iso(now));
        println!("provider_asid   {}", s.provider_asid);
        println!("ssp_fqdn        {}", s.ssp_fqdn.join(", "));
        println!("TLS             TLSv1.2 only, server order, client certificate required, no renegotiation");
        println!("cipher string   {}", gpcguard::connection::tls::CIPHER_LIST.to_str().unwrap_or(""));
        println!("suites          (this OpenSSL, in server order; a server with an RSA key uses the RSA ones)");
        for (i, suite) in suites.iter().enumerate() {
            println!("  {:>2}. {suite}", i + 1);
        }
        for (title, list) in [("trust anchors", &anchors), ("intermediates", &intermediates), ("server certificate", &server)] {
            println!("{title}");
            if list.is_empty() {
                println!("  (none)");
            }
            for (c, _) in list {
                println!("  {}\n    key {}, notAfter {} ({})", c.subject, c.key, iso(c.not_after), relative(c.not_after, now));
            }
        }
        println!("CRLs            revocation = {revocation}, require_crl = {}", s.require_crl);
        for c in state.pki.crls() {
            let next = c.next_update_unix.map_or("never".to_owned(), |n| format!("{} ({})", iso(n), relative(n, now)));
            println!(
                "  {}\n    issuer {}, thisUpdate {}, nextUpdate {next}, {} entries, crlNumber {}",
                c.source,
                c.issuer,
                iso(c.this_update_unix),
                c.entries,
                c.crl_number.as_deref().unwrap_or("(none)")
            );
        }
        println!("service roots");
        for r in &roots {
            println!("  {:<12} {}", r["capability"].as_str().unwrap_or(""), r["prefix"].as_str().unwrap_or(""));
        }
        println!("scope           enforce_scope = {}, jwt_audience = {}", s.enforce_scope, s.jwt_audience.as_deref().unwrap_or("(not checked)"));
        println!("times           clock_skew_seconds = {}, check_iat_future = {}", s.clock_skew_seconds, s.check_iat_future);
        println!("limits");
        if let Some(map) = limits.as_object() {
            for (k, v) in map {
                println!("  {k:<24} {v}");
            }
        }
        for w in &warnings {
            println!("warning: {w}");
        }
        println!("{}", if warnings.is_empty() { "OK: no warnings".to_owned() } else { format!("{} warning(s)", warnings.len()) });
    }
    if warnings.is_empty() { 0 } else { 1 }
}
