//! `gpcguard crl-fetch`: refreshes the configured CRLs from the CRL distribution points named in
//! the certificates, and never replaces a good CRL with a bad, older or truncated one.
//!
//! For each configured CA, the HTTP(S) URLs are the CRL distribution points of the certificates
//! it issued that the configuration holds (intermediates, the server chain) and of those given
//! with --cert. A download is refused unless it is at most --max-bytes, arrives within
//! --timeout, parses (PEM or DER) as a CRL whose issuer is that CA and whose signature that CA's
//! key verifies, passes the library's CRL profile (the checks a configuration load makes), is
//! current (thisUpdate not in the future, nextUpdate not past) and is not older than the
//! installed one (crlNumber, then thisUpdate). A good one is written beside the configured file
//! (or into --dir) by a temporary file, fsync and rename, so a reader sees the old or the new
//! file whole. A host reload (`nginx -s reload`, `apachectl graceful`) then applies it.
//!
//! Downloads use the curl program (--proto =http,https, bounded redirects, time limit): no HTTP
//! or TLS client is compiled into gpcguard, and a Debian package depends on curl.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use gpcguard::connection::pki::{crl_number, name_text, read_cert_file, unix_time};
use openssl::bn::BigNum;
use openssl::x509::{X509Crl, X509Ref, X509};

use crate::args::{Command, Opt};
use crate::describe::load_guard;
use crate::time::{iso, relative};

pub const COMMAND: Command = Command {
    name: "crl-fetch",
    usage: "crl-fetch --config FILE [--dir DIR] [--cert CERT.pem] [--max-bytes N] [--timeout SECONDS] [--on-change COMMAND] [--dry-run]",
    about: "Downloads each configured CA's CRL from the CRL distribution points (http and https) of the\n\
certificates it issued, checks it (signed by that CA, the library's CRL profile, current, crlNumber\n\
not lower than the installed one, size and time limits) and writes it atomically over the\n\
configured CRL file (temporary file, fsync, rename), saying what changed. A bad, stale, older or\n\
truncated download never replaces the installed CRL. Reload the host afterwards.\n\
Exit status: 0 every CA's CRL is current (updated or unchanged), 1 some CA could not be refreshed\n\
(its installed CRL is kept), 2 error (or the --on-change command failed).",
    options: &[
        Opt { name: "config", value: Some("FILE"), help: "the gpcguard configuration whose CRLs to refresh (required)" },
        Opt { name: "dir", value: Some("DIR"), help: "write the CRLs into DIR (same file names) instead of over the configured files" },
        Opt { name: "cert", value: Some("CERT.pem"), help: "also take distribution points from these certificates (e.g. a client certificate)" },
        Opt { name: "max-bytes", value: Some("N"), help: "largest CRL accepted (default 16777216)" },
        Opt { name: "timeout", value: Some("SECONDS"), help: "time limit per download (default 30)" },
        Opt { name: "on-change", value: Some("COMMAND"), help: "run COMMAND (sh -c) when a CRL was written, e.g. \"nginx -t -q && nginx -s reload\"" },
        Opt { name: "dry-run", value: None, help: "download and check, write nothing" },
    ],
};

const DEFAULT_MAX_BYTES: u64 = 16 << 20;
const DEFAULT_TIMEOUT: u64 = 30;

struct Limits {
    max_bytes: u64,
    timeout: u64,
}

pub fn run(args: &[String]) -> i32 {
    let given = match crate::parse(&COMMAND, args) {
        Ok(g) => g,
        Err(code) => return code,
    };
    if !given.positional.is_empty() {
        return crate::usage(&COMMAND, "no positional arguments");
    }
    let Some(config) = given.value("config") else {
        return crate::usage(&COMMAND, "--config FILE is required");
    };
    let number = |name: &str, default: u64| -> Result<u64, i32> {
        match given.value(name).map(str::parse::<u64>) {
            None => Ok(default),
            Some(Ok(n)) if n > 0 => Ok(n),
            _ => Err(crate::usage(&COMMAND, &format!("--{name} takes a positive whole number"))),
        }
    };
    let limits = match (number("max-bytes", DEFAULT_MAX_BYTES), number("timeout", DEFAULT_TIMEOUT)) {
        (Ok(max_bytes), Ok(timeout)) => Limits { max_bytes, timeout },
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let guard = match load_guard(config) {
        Ok(g) => g,
        Err(message) => return crate::error(&COMMAND, &message),
    };
    let state = guard.state();
    let mut known: Vec<X509> = state.pki.intermediates().to_vec();
    known.extend(state.pki.anchors().iter().cloned());
    if let Some(id) = &state.server {
        known.extend(id.chain.iter().cloned());
    }
    if let Some(extra) = given.value("cert") {
        match read_cert_file("--cert", extra) {
            Ok(certs) => known.extend(certs),
            Err(e) => return crate::error(&COMMAND, &e.message),
        }
    }
    let cas: Vec<&X509> = state.pki.anchors().iter().chain(state.pki.intermediates()).collect();
    let now = gpcguard::guard::system_now();
    let mut all_current = true;
    let mut written = 0;
    for ca in cas {
        let subject = name_text(ca.subject_name());
        let Some(installed) = state.pki.crls().iter().find(|c| c.issuer == subject) else {
            println!("{subject}: no CRL file of this CA is configured (key `crl`): nothing to refresh");
            continue;
        };
        let target = match given.value("dir") {
            Some(dir) => Path::new(dir).join(Path::new(&installed.source).file_name().unwrap_or_default()),
            None => PathBuf::from(&installed.source),
        };
        let urls = distribution_points(ca, &known);
        if urls.is_empty() {
            println!("{subject}: no http(s) CRL distribution point in any certificate it issued that gpcguard knows (add one with --cert); kept {}", installed.source);
            all_current &= installed.next_update_unix.map_or(true, |n| n > now);
            continue;
        }
        let installed_crl = std::fs::read(&installed.source).ok().and_then(|b| parse_crl(&b));
        let mut outcome = None;
        for url in &urls {
            match fetch(url, &limits).and_then(|bytes| judge(&bytes, ca, installed_crl.as_ref(), now)) {
                Ok(crl) => {
                    outcome = Some((url, crl));
                    break;
                }
                Err(why) => println!("{subject}: refused {url}: {why}"),
            }
        }
        let Some((url, crl)) = outcome else {
            let stale = installed.next_update_unix.is_some_and(|n| n <= now);
            println!(
                "{subject}: kept {} (nextUpdate {}){}",
                installed.source,
                installed.next_update_unix.map_or("never".into(), |n| format!("{} ({})", iso(n), relative(n, now))),
                if stale { ": it is STALE, clients it covers are refused" } else { "" }
            );
            all_current = false;
            continue;
        };
        let change = describe_change(installed_crl.as_ref(), &crl, now);
        let same = installed_crl.as_ref().is_some_and(|old| old.to_der().ok() == crl.to_der().ok());
        if same && target == Path::new(&installed.source) {
            println!("{subject}: unchanged ({url}: {})", describe_change(None, &crl, now));
            continue;
        }
        if given.flag("dry-run") {
            println!("{subject}: would write {} from {url}: {change}", target.display());
            continue;
        }
        // Keep the installed file's encoding, so a diff of the folder stays readable.
        let installed_is_pem = std::fs::read(&installed.source).is_ok_and(|b| b.starts_with(b"-----BEGIN"));
        let out = if installed_is_pem { crl.to_pem() } else { crl.to_der() };
        let out = match out {
            Ok(o) => o,
            Err(_) => {
                println!("{subject}: cannot encode the new CRL; kept {}", installed.source);
                all_current = false;
                continue;
            }
        };
        match write_atomically(&target, &out) {
            Ok(()) => {
                println!("{subject}: updated {} from {url}: {change}", target.display());
                written += 1;
            }
            Err(e) => {
                println!("{subject}: cannot write {}: {e}; kept {}", target.display(), installed.source);
                all_current = false;
            }
        }
    }
    if written > 0 {
        if let Some(command) = given.value("on-change") {
            println!("{written} CRL file(s) written: running {command}");
            match Process::new("sh").arg("-c").arg(command).status() {
                Ok(s) if s.success() => {}
                Ok(s) => return crate::error(&COMMAND, &format!("--on-change command failed ({s})")),
                Err(e) => return crate::error(&COMMAND, &format!("--on-change command: {e}")),
            }
        }
    }
    if all_current { 0 } else { 1 }
}

/// The http(s) URLs of `ca`'s CRL: the distribution points of known certificates `ca` issued
/// (issuer name and signature), in the order found, without repeats.
fn distribution_points(ca: &X509Ref, known: &[X509]) -> Vec<String> {
    let Ok(key) = ca.public_key() else { return Vec::new() };
    let mut urls = Vec::new();
    for cert in known {
        let issued = cert.issuer_name().try_cmp(ca.subject_name()).is_ok_and(|o| o.is_eq()) && cert.verify(&key).unwrap_or(false);
        if !issued {
            continue;
        }
        let Some(points) = cert.crl_distribution_points() else { continue };
        for point in &points {
            let Some(names) = point.distpoint().and_then(|d| d.fullname()) else { continue };
            for name in names {
                if let Some(uri) = name.uri() {
                    let lower = uri.to_ascii_lowercase();
                    if (lower.starts_with("http://") || lower.starts_with("https://")) && !urls.iter().any(|u| u == uri) {
                        urls.push(uri.to_owned());
                    }
                }
            }
        }
    }
    urls
}

fn parse_crl(bytes: &[u8]) -> Option<X509Crl> {
    let crl = X509Crl::from_pem(bytes).or_else(|_| X509Crl::from_der(bytes)).ok()?;
    // DER must be exactly one CRL: trailing bytes mean something else was sent.
    if !bytes.starts_with(b"-----BEGIN") && crl.to_der().ok()?.len() != bytes.len() {
        return None;
    }
    Some(crl)
}

/// Downloads `url` with curl within the limits; the body as received.
fn fetch(url: &str, limits: &Limits) -> Result<Vec<u8>, String> {
    let mut child = Process::new("curl")
        .args(["--silent", "--show-error", "--fail", "--location", "--max-redirs", "3", "--proto", "=http,https", "--proto-redir", "=http,https"])
        .args(["--max-time", &limits.timeout.to_string(), "--max-filesize", &limits.max_bytes.to_string(), "--output", "-", "--", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run curl: {e}"))?;
    let mut body = Vec::new();
    let read = child.stdout.take().map(|out| out.take(limits.max_bytes + 1).read_to_end(&mut body));
    if body.len() as u64 > limits.max_bytes {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("more than --max-bytes ({} bytes)", limits.max_bytes));
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = (&mut e).take(4096).read_to_string(&mut err);
    }
    let status = child.wait().map_err(|e| format!("curl: {e}"))?;
    if let Some(Err(e)) = read {
        return Err(format!("reading the download: {e}"));
    }
    match status.code() {
        Some(0) => Ok(body),
        Some(28) => Err(format!("time limit of {} s reached (curl: {})", limits.timeout, err.trim())),
        Some(63) => Err(format!("more than --max-bytes ({} bytes) announced (curl: {})", limits.max_bytes, err.trim())),
        _ => Err(format!("download failed: {}", if err.trim().is_empty() { status.to_string() } else { err.trim().to_owned() })),
    }
}

/// The checks a download must pass to replace `installed`.
fn judge(bytes: &[u8], ca: &X509Ref, installed: Option<&X509Crl>, now: i64) -> Result<X509Crl, String> {
    let crl = parse_crl(bytes).ok_or_else(|| format!("{} bytes that are not one PEM or DER CRL (truncated?)", bytes.len()))?;
    if !crl.issuer_name().try_cmp(ca.subject_name()).is_ok_and(|o| o.is_eq()) {
        return Err(format!("issued by {}, not by {}", name_text(crl.issuer_name()), name_text(ca.subject_name())));
    }
    let key = ca.public_key().map_err(|_| "the CA's key is unreadable".to_owned())?;
    if !crl.verify(&key).unwrap_or(false) {
        return Err(format!("its signature does not verify with the key of {}", name_text(ca.subject_name())));
    }
    gpcguard::connection::profile::check_crl(&crl, ca).map_err(|what| format!("the CRL {what}"))?;
    let this_update = unix_time(crl.last_update());
    if this_update > now {
        return Err(format!("its thisUpdate {} is in the future", iso(this_update)));
    }
    if let Some(next) = crl.next_update().map(unix_time) {
        if next <= now {
            return Err(format!("it is stale: nextUpdate {} is past", iso(next)));
        }
    }
    if let Some(old) = installed {
        let number = |c: &X509Crl| crl_number(c).and_then(|h| BigNum::from_hex_str(&h).ok());
        match (number(old), number(&crl)) {
            (Some(o), Some(n)) if n < o => return Err(format!("older than the installed CRL: crlNumber {} < {}", hex(&n), hex(&o))),
            (Some(_), None) => return Err("it has no crlNumber and the installed CRL has one".into()),
            _ => {}
        }
        if this_update < unix_time(old.last_update()) {
            return Err(format!("older than the installed CRL: thisUpdate {} < {}", iso(this_update), iso(unix_time(old.last_update()))));
        }
    }
    Ok(crl)
}

fn hex(n: &BigNum) -> String {
    n.to_hex_str().map(|h| h.to_string()).unwrap_or_default()
}

fn describe_change(old: Option<&X509Crl>, new: &X509Crl, now: i64) -> String {
    let entries = |c: &X509Crl| c.get_revoked().map_or(0, |r| r.len());
    let number = |c: &X509Crl| crl_number(c).unwrap_or_else(|| "(none)".into());
    let next = |c: &X509Crl| c.next_update().map(unix_time).map_or("never".into(), |n| format!("{} ({})", iso(n), relative(n, now)));
    match old {
        Some(o) => format!(
            "crlNumber {} -> {}, thisUpdate {} -> {}, nextUpdate {} -> {}, entries {} -> {}",
            number(o),
            number(new),
            iso(unix_time(o.last_update())),
            iso(unix_time(new.last_update())),
            next(o),
            next(new),
            entries(o),
            entries(new)
        ),
        None => format!("crlNumber {}, nextUpdate {}, {} entries", number(new), next(new), entries(new)),
    }
}

/// Writes `bytes` to `target` so that readers see the old or the new file, whole: a temporary
/// file in the same folder, fsync, rename over the target, fsync of the folder.
fn write_atomically(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.gpcguard-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        // Readable as the file it replaces was (hosts' workers may run as another user).
        if let Ok(meta) = std::fs::metadata(target) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, target)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
