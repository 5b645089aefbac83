//! The audit record: one JSON line of provenance for every verdict on a request (spec §9
//! "Logging"). It carries what was established before the verdict (fields not yet known are
//! omitted) and never the token, the query string or the body.

use crate::verdict::{is_plain_ascii, push_json_string, Reason};

/// Claim values are bounded in the record so a hostile token cannot flood a log line.
const MAX_FIELD_CHARS: usize = 128;
const MAX_PATH_BYTES: usize = 512;

/// What is known about a request, filled in as the checks establish it. Header values are set
/// only once validated (so they are plain ASCII); claim values as found.
#[derive(Clone, Debug, Default)]
pub struct Provenance<'a> {
    pub trace_id: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub interaction: Option<&'a str>,
    pub method: Option<&'a str>,
    /// The path only: the query string may carry patient identifiers (spec §1 risk note).
    pub path: Option<&'a [u8]>,
    pub ods_code: Option<&'a str>,
    pub sds_user_id: Option<&'a str>,
    pub sds_role_id: Option<&'a str>,
    pub device: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub reason_for_request: Option<&'a str>,
}

/// `s` cut to at most `max` characters, on a character boundary.
fn bounded(s: &str, max: usize) -> &str {
    // No more bytes than `max`: no more characters either (the usual case, no scan).
    if s.len() <= max {
        return s;
    }
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(""),
        None => s,
    }
}

/// The path part of a request target: up to the first `?` or `#`.
pub fn path_of(target: &[u8]) -> &[u8] {
    match target.iter().position(|&b| b == b'?' || b == b'#') {
        Some(i) => &target[..i],
        None => target,
    }
}

impl Provenance<'_> {
    /// The record as one JSON line.
    pub fn record(&self, reason: Reason) -> String {
        let answer = reason.answer();
        let mut out = String::with_capacity(512);
        out.push_str(if reason == Reason::Allowed { r#"{"verdict":"allowed""# } else { r#"{"verdict":"refused""# });
        out.push_str(r#","reason":"#);
        push_json(&mut out, answer.name);
        out.push_str(r#","status":"#);
        push_u16(&mut out, answer.http_status);
        let fields = [
            ("trace_id", self.trace_id),
            ("from", self.from),
            ("to", self.to),
            ("interaction", self.interaction),
            ("method", self.method),
        ];
        for (name, value) in fields {
            push_field(&mut out, name, value);
        }
        if let Some(path) = self.path {
            out.push_str(r#","path":"#);
            push_printable_json(&mut out, path, MAX_PATH_BYTES);
        }
        let claims = [
            ("ods_code", self.ods_code),
            ("sds_user_id", self.sds_user_id),
            ("sds_role_id", self.sds_role_id),
            ("device", self.device),
            ("scope", self.scope),
            ("reason_for_request", self.reason_for_request),
        ];
        for (name, value) in claims {
            push_field(&mut out, name, value);
        }
        out.push('}');
        out
    }
}

/// Decimal digits of `n`, without a temporary string.
fn push_u16(out: &mut String, n: u16) {
    let mut buf = [0u8; 5];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &buf[i..] {
        out.push(d as char);
    }
}

/// `push_json(out, &printable(bytes, max))` without the temporary string: printable ASCII kept,
/// other bytes as `?`, `...` after `max` bytes; quotes and backslashes escaped.
fn push_printable_json(out: &mut String, bytes: &[u8], max: usize) {
    let shown = &bytes[..bytes.len().min(max)];
    out.reserve(shown.len() + 5);
    out.push('"');
    if is_plain_ascii(shown) {
        // All plain ASCII: valid UTF-8, nothing to escape.
        out.push_str(std::str::from_utf8(shown).unwrap_or(""));
    } else {
        for &b in shown {
            match b {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                0x20..=0x7e => out.push(b as char),
                _ => out.push('?'),
            }
        }
    }
    if bytes.len() > max {
        out.push_str("...");
    }
    out.push('"');
}

fn push_field(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        push_json(out, bounded(v, MAX_FIELD_CHARS));
    }
}

/// `push_json_string`, with a fast path for the usual plain-ASCII value that needs no escaping.
fn push_json(out: &mut String, s: &str) {
    if is_plain_ascii(s.as_bytes()) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        push_json_string(out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_one_json_line_with_known_fields_only() {
        let p = Provenance {
            trace_id: Some("8a7b3c2d-0000-4000-8000-000000000000"),
            path: Some(b"/Patient/1\n"),
            ods_code: Some("A\u{0}B"),
            device: Some(&"é".repeat(300)),
            ..Default::default()
        };
        let r = p.record(Reason::JwtExpired);
        assert!(!r.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&r).unwrap();
        assert_eq!(v["verdict"], "refused");
        assert_eq!(v["reason"], "JWT_EXPIRED");
        assert_eq!(v["status"], 400);
        assert_eq!(v["path"], "/Patient/1?");
        assert_eq!(v["ods_code"], "A\u{0}B");
        assert_eq!(v["device"].as_str().unwrap().chars().count(), 128);
        assert!(v.get("from").is_none() && v.get("scope").is_none());
        assert_eq!(serde_json::from_str::<serde_json::Value>(&Provenance::default().record(Reason::Allowed)).unwrap()["verdict"], "allowed");
    }

    #[test]
    fn fast_path_writes_what_push_json_string_writes() {
        for s in ["plain", "with \"quote\"", "back\\slash", "ctl\u{1}", "é", "", "~ !"] {
            let (mut a, mut b) = (String::new(), String::new());
            push_json(&mut a, s);
            push_json_string(&mut b, s);
            assert_eq!(a, b, "{s:?}");
        }
    }

    #[test]
    fn printable_path_is_what_printable_then_push_json_writes() {
        for (path, max) in [(&b"/a/b"[..], 512), (b"/a\"b\\c\n\xff", 512), (b"/abcdef", 3), (b"", 512)] {
            let (mut a, mut b) = (String::new(), String::new());
            push_printable_json(&mut a, path, max);
            push_json(&mut b, &crate::refusal::printable(path, max));
            assert_eq!(a, b, "{path:?}");
        }
        for n in [0u16, 7, 200, 495, 65535] {
            let mut s = String::new();
            push_u16(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn path_stops_before_query_and_fragment() {
        assert_eq!(path_of(b"/a/b?x=1"), b"/a/b");
        assert_eq!(path_of(b"/a#f?x"), b"/a");
        assert_eq!(path_of(b"/a"), b"/a");
    }
}
