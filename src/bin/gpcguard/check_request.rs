//! `gpcguard check-request`: a captured HTTP/1.1 request judged step by step as a host would
//! judge it (the library's own check, traced), or `--token` a bearer token alone.

use std::io::Read;

use gpcguard::request::base64url::{base64url_decode, decoded_len};
use gpcguard::request::rules::{Judged, Outcome};
use gpcguard::request::{Request, Step};
use serde_json::Value;

use crate::args::{Command, Opt};
use crate::describe::{load_guard, DEFAULT_CONFIG};
use crate::time::iso;

pub const COMMAND: Command = Command {
    name: "check-request",
    usage: "check-request [--config FILE] [--at TIME] [RAW-REQUEST-FILE|-]\n       gpcguard check-request [--config FILE] [--at TIME] --token TOKEN [--interaction ID]",
    about: "Reads an HTTP/1.1 request as captured (request line and headers; a body is ignored) from the file\n\
or standard input and prints each check in the settled order (size limits, SSP headers,\n\
interaction, Authorization/JWT envelope, claims, times, scope) with its outcome, then the verdict,\n\
HTTP status, OperationOutcome and audit record a host would answer and log.\n\
With --token: the token's decoded header and payload, the envelope, then every claim, time and\n\
scope rule judged on its own (pass, FAIL with the library's message, or not applicable), so all\n\
that is wrong with the token shows at once, then the verdict (the first rule to fail decides), for\n\
the interaction given by --interaction (default the foundations metadata read). A token that\n\
cannot be read (envelope, base64url, JSON) stops at that.\n\
Exit status: 0 allowed, 1 refused, 2 error.",
    options: &[
        Opt { name: "config", value: Some("FILE"), help: "the gpcguard configuration (default /etc/gpcguard/provider.toml)" },
        Opt { name: "at", value: Some("TIME"), help: "judge at TIME (Unix seconds or YYYY-MM-DDTHH:MM:SSZ) instead of now" },
        Opt { name: "token", value: Some("TOKEN"), help: "explain this bearer token (the part after `Bearer `) alone: every claim rule" },
        Opt { name: "interaction", value: Some("ID"), help: "with --token: the interaction to judge it for (full URN or the part after urn:nhs:names:services:gpconnect:)" },
    ],
};

/// Most bytes of a captured request read: more than any limit a guard accepts in headers.
const MAX_CAPTURE_BYTES: u64 = 32 << 20;
const DEFAULT_INTERACTION: &str = "urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1";

pub fn run(args: &[String]) -> i32 {
    let given = match crate::parse(&COMMAND, args) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let now = match crate::now_from(&given) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let guard = match load_guard(given.value("config").unwrap_or(DEFAULT_CONFIG)) {
        Ok(g) => g,
        Err(message) => return crate::error(&COMMAND, &message),
    };
    let state = guard.state();
    if let Some(token) = given.value("token") {
        if !given.positional.is_empty() {
            return crate::usage(&COMMAND, "--token takes no request file");
        }
        let interaction = given.value("interaction").unwrap_or(DEFAULT_INTERACTION);
        let interaction = if interaction.starts_with("urn:") { interaction.to_owned() } else { format!("urn:nhs:names:services:gpconnect:{interaction}") };
        explain_token_parts(token.as_bytes());
        let explained = state.requests.explain_token(token.as_bytes(), &interaction, now);
        if explained.rules.is_empty() {
            // The token cannot be read (or the interaction is unknown): no rule can be judged.
            println!("checks for {interaction}, at {}", iso(now));
            print_steps(&explained.steps);
        } else {
            println!("rules for {interaction}, at {} (each judged on its own; the first to fail decides the verdict)", iso(now));
            print_steps(&explained.steps[..1]);
            print_rules(&explained.rules);
        }
        return match explained.steps.last() {
            Some(Step { step, outcome: Err(r) }) => {
                let a = r.reason.answer();
                println!("verdict   refused at {step}: {} ({}), status {}", a.name, a.spine_code, a.http_status);
                println!("message   {}", r.message);
                1
            }
            _ => {
                println!("verdict   the token is acceptable for {interaction}");
                0
            }
        };
    }
    if given.value("interaction").is_some() {
        return crate::usage(&COMMAND, "--interaction goes with --token");
    }
    let raw = match given.positional.as_slice() {
        [] => read_bounded(std::io::stdin()),
        [p] if p == "-" => read_bounded(std::io::stdin()),
        [p] => std::fs::File::open(p).map_err(|e| format!("cannot read {p}: {e}")).and_then(read_bounded),
        _ => return crate::usage(&COMMAND, "at most one request file"),
    };
    let raw = match raw {
        Ok(r) => r,
        Err(m) => return crate::error(&COMMAND, &m),
    };
    let captured = match parse_capture(&raw) {
        Ok(c) => c,
        Err(m) => return crate::error(&COMMAND, &m),
    };
    let headers: Vec<(&[u8], &[u8])> = captured.headers.iter().map(|(n, v)| (*n, *v)).collect();
    let req = Request { method: captured.method, target: captured.target, headers: &headers, now };
    let (verdict, steps) = state.requests.explain(&req);
    println!("request   {} {} ({} headers), judged at {}", gpcguard::refusal::printable(captured.method, 16), gpcguard::refusal::printable(captured.target, 200), headers.len(), iso(now));
    print_steps(&steps);
    let a = verdict.reason.answer();
    if verdict.allowed() {
        println!("verdict   allowed, status 200, interaction {}", verdict.interaction_id);
    } else {
        println!("verdict   refused: {} ({}), status {}", a.name, a.spine_code, a.http_status);
    }
    println!("message   {}", verdict.message);
    if let Some(body) = verdict.operation_outcome() {
        let pretty = serde_json::from_str::<Value>(&body).ok().and_then(|v| serde_json::to_string_pretty(&v).ok()).unwrap_or(body);
        println!("OperationOutcome (Content-Type: application/fhir+json)\n{pretty}");
    }
    println!("audit     {}", verdict.audit_record);
    if verdict.allowed() { 0 } else { 1 }
}

fn print_steps(steps: &[Step]) {
    for s in steps {
        match &s.outcome {
            Ok(detail) => println!("  pass  {:<27} {detail}", s.step),
            Err(r) => println!("  FAIL  {:<27} {}: {}", s.step, r.reason.answer().name, r.message),
        }
    }
    let last_failed = steps.last().is_some_and(|s| s.outcome.is_err());
    if last_failed {
        let at = gpcguard::request::STEPS.iter().position(|n| Some(*n) == steps.last().map(|s| s.step)).unwrap_or(0);
        for name in &gpcguard::request::STEPS[at + 1..] {
            println!("  -     {name:<27} not reached (the first failure decides)");
        }
    }
}

/// Every claim, time and scope rule with its outcome, then how many of each.
fn print_rules(rules: &[Judged]) {
    let width = rules.iter().map(|r| r.rule.len()).max().unwrap_or(0);
    let (mut pass, mut fail, mut na) = (0, 0, 0);
    for r in rules {
        match &r.outcome {
            Outcome::Pass => {
                pass += 1;
                println!("  pass  {:<6} {}", r.step, r.rule);
            }
            Outcome::Fail(f) => {
                fail += 1;
                println!("  FAIL  {:<6} {:<width$}  {}: {}", r.step, r.rule, f.reason.answer().name, f.message);
            }
            Outcome::NotApplicable(why) => {
                na += 1;
                println!("  -     {:<6} {:<width$}  not applicable: {why}", r.step, r.rule);
            }
        }
    }
    println!("rules     {} in all: {pass} pass, {fail} fail, {na} not applicable", rules.len());
}

/// The token's header and payload as decoded, for reading (the strict checks follow).
fn explain_token_parts(token: &[u8]) {
    let parts: Vec<&[u8]> = token.split(|&b| b == b'.').collect();
    for (i, what) in ["header", "payload"].iter().enumerate() {
        let Some(part) = parts.get(i) else {
            println!("{what:<9} (absent)");
            continue;
        };
        let mut out = vec![0u8; decoded_len(part.len()).unwrap_or(0)];
        if decoded_len(part.len()).is_none() || base64url_decode(part, &mut out).is_err() {
            println!("{what:<9} (not strict base64url)");
            continue;
        }
        let text = match serde_json::from_slice::<Value>(&out) {
            Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
            Err(_) => format!("(not JSON) {}", gpcguard::refusal::printable(&out, 400)),
        };
        println!("{what:<9} {text}");
    }
    println!("signature {}", match parts.get(2) {
        Some(s) if s.is_empty() && parts.len() == 3 => "(empty, as GP Connect requires)".to_owned(),
        Some(s) => format!("{} bytes, {} dots in all", s.len(), parts.len() - 1),
        None => "(absent)".to_owned(),
    });
}

fn read_bounded(r: impl Read) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    r.take(MAX_CAPTURE_BYTES + 1).read_to_end(&mut buf).map_err(|e| format!("cannot read the request: {e}"))?;
    if buf.len() as u64 > MAX_CAPTURE_BYTES {
        return Err(format!("the captured request is more than {MAX_CAPTURE_BYTES} bytes"));
    }
    Ok(buf)
}

struct Captured<'a> {
    method: &'a [u8],
    target: &'a [u8],
    headers: Vec<(&'a [u8], &'a [u8])>,
}

/// The request line and header fields of an HTTP/1.1 message (CRLF or LF line ends); the body
/// after the empty line is ignored. Header values are passed raw: the library trims them.
fn parse_capture(raw: &[u8]) -> Result<Captured<'_>, String> {
    let mut lines = raw.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let line = lines.next().filter(|l| !l.is_empty()).ok_or("no request line")?;
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(format!("the request line is not `METHOD TARGET HTTP/1.1`: {}", gpcguard::refusal::printable(line, 200)));
    };
    if !version.starts_with(b"HTTP/1.") {
        return Err(format!("the request line's version is not HTTP/1.x: {}", gpcguard::refusal::printable(version, 20)));
    }
    let mut headers = Vec::new();
    for (i, l) in lines.enumerate() {
        if l.is_empty() {
            break;
        }
        if l[0] == b' ' || l[0] == b'\t' {
            return Err(format!("header line {}: obsolete line folding is not accepted", i + 1));
        }
        let colon = l.iter().position(|&b| b == b':').ok_or_else(|| format!("header line {} has no colon", i + 1))?;
        headers.push((&l[..colon], &l[colon + 1..]));
    }
    Ok(Captured { method, target, headers })
}
