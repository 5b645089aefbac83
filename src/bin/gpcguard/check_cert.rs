//! `gpcguard check-cert CHAIN.pem`: the verdict the TLS handshake would give a client presenting
//! CHAIN.pem, with the issuer path and the rule that failed.

use gpcguard::connection::pki::parse_pem_chain;
use openssl::x509::{X509Ref, X509};

use crate::args::{Command, Opt};
use crate::describe::{cert_info, load_guard, DEFAULT_CONFIG};
use crate::time::{iso, relative};

pub const COMMAND: Command = Command {
    name: "check-cert",
    usage: "check-cert [--config FILE] [--at TIME] CHAIN.pem",
    about: "Judges a client certificate chain (PEM, leaf first, then any intermediates the client sends) as\n\
the handshake would: chain to a configured trust anchor, validity, revocation by the configured\n\
CRLs, client-auth use and the SSP FQDN. Prints each certificate, the issuer path and the verdict.\n\
Exit status: 0 accepted, 1 refused, 2 error.",
    options: &[
        Opt { name: "config", value: Some("FILE"), help: "the gpcguard configuration (default /etc/gpcguard/provider.toml)" },
        Opt { name: "at", value: Some("TIME"), help: "judge at TIME (Unix seconds or YYYY-MM-DDTHH:MM:SSZ) instead of now" },
    ],
};

pub fn run(args: &[String]) -> i32 {
    let given = match crate::parse(&COMMAND, args) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let [file] = given.positional.as_slice() else {
        return crate::usage(&COMMAND, "one CHAIN.pem is needed");
    };
    let now = match crate::now_from(&given) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let guard = match load_guard(given.value("config").unwrap_or(DEFAULT_CONFIG)) {
        Ok(g) => g,
        Err(message) => return crate::error(&COMMAND, &message),
    };
    let pem = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => return crate::error(&COMMAND, &format!("cannot read {file}: {e}")),
    };
    let state = guard.state();
    let limits = &state.settings.limits;
    let chain = match parse_pem_chain(&pem, limits.max_peer_certificates, limits.max_peer_chain_bytes) {
        Ok(c) => c,
        Err(r) => {
            println!("verdict  refused: {} ({}), status {}\nmessage  {}", r.reason.answer().name, r.reason.answer().spine_code, r.reason.answer().http_status, r.message);
            return 1;
        }
    };
    println!("presented ({} certificate(s)), judged at {}", chain.len(), iso(now));
    for (i, c) in chain.iter().enumerate() {
        let info = cert_info(c);
        println!("  [{i}] {}\n      issuer {}\n      serial {}, key {}, valid {} .. {} ({})", info.subject, info.issuer, info.serial, info.key, iso(info.not_before), iso(info.not_after), relative(info.not_after, now));
        if !info.dns_names.is_empty() {
            println!("      SAN dNSName {}", info.dns_names.join(", "));
        }
    }
    println!("issuer path (by name and signature; the verdict below is the library's own verification)");
    for step in issuer_path(&chain, state.pki.intermediates(), state.pki.anchors()) {
        println!("  {step}");
    }
    let verdict = guard.check_peer(&chain[0], &chain[1..], now);
    let answer = verdict.reason.answer();
    if verdict.allowed() {
        println!("verdict  accepted\nmessage  {}", verdict.message);
        0
    } else {
        println!("verdict  refused: {} ({}), status {}, TLS alert on the handshake\nmessage  {}", answer.name, answer.spine_code, answer.http_status, verdict.message);
        1
    }
}

/// From the leaf up: each certificate's issuer among the presented, configured intermediate and
/// anchor certificates (same name, signature verifies), for the operator to read.
fn issuer_path(presented: &[X509], intermediates: &[X509], anchors: &[X509]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: &X509Ref = &presented[0];
    out.push(format!("{} (presented leaf)", gpcguard::connection::pki::name_text(current.subject_name())));
    for _ in 0..8 {
        let candidates = presented[1..].iter().map(|c| (c, "presented")).chain(intermediates.iter().map(|c| (c, "configured intermediate"))).chain(anchors.iter().map(|c| (c, "configured trust anchor")));
        let found = candidates.into_iter().find(|(c, _)| {
            c.subject_name().try_cmp(current.issuer_name()).map(|o| o.is_eq()).unwrap_or(false) && c.public_key().ok().is_some_and(|k| current.verify(&k).unwrap_or(false))
        });
        match found {
            Some((c, role)) => {
                out.push(format!("<- {} ({role})", gpcguard::connection::pki::name_text(c.subject_name())));
                if role == "configured trust anchor" {
                    return out;
                }
                current = c;
            }
            None => {
                out.push(format!("<- {} : no configured or presented CA with this name signed it", gpcguard::connection::pki::name_text(current.issuer_name())));
                return out;
            }
        }
    }
    out
}
