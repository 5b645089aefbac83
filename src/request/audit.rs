//! The audit record: one JSON line of provenance for every verdict on a request (spec §9
//! "Logging"). It carries what was established before the verdict (fields not yet known are
//! omitted) and never the token, the query string or the body.

use crate::verdict::{is_plain_ascii, plain_str, push_json_string, Reason, ALLOWED_AUDIT_HEAD};

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
    match first_query_or_fragment(target) {
        Some(i) => &target[..i],
        None => target,
    }
}

/// The index of the first `?` or `#`, eight bytes at a time.
fn first_query_or_fragment(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    // Bit 7 of a byte set where that byte is `?` or `#`. A borrow can also set it in a byte
    // above a true match, never below one: the lowest bit set is always the first match.
    let matches = |x: u64| {
        let (q, h) = (x ^ (ONES * b'?' as u64), x ^ (ONES * b'#' as u64));
        (q.wrapping_sub(ONES) & !q | h.wrapping_sub(ONES) & !h) & HIGH
    };
    let word = |w: &[u8]| w.try_into().map_or(0, u64::from_le_bytes);
    let mut chunks = s.chunks_exact(8);
    let mut at = 0;
    for c in chunks.by_ref() {
        let m = matches(word(c));
        if m != 0 {
            return Some(at + m.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    chunks.remainder().iter().position(|&b| b == b'?' || b == b'#').map(|i| at + i)
}

impl Provenance<'_> {
    /// The header fields, then the claims, each with the text that opens it in the record
    /// (`,"name":"`; the quote is dropped when the value needs escaping).
    fn fields(&self) -> [(&'static str, Option<&str>); 11] {
        [
            (r#","trace_id":""#, self.trace_id),
            (r#","from":""#, self.from),
            (r#","to":""#, self.to),
            (r#","interaction":""#, self.interaction),
            (r#","method":""#, self.method),
            (r#","ods_code":""#, self.ods_code),
            (r#","sds_user_id":""#, self.sds_user_id),
            (r#","sds_role_id":""#, self.sds_role_id),
            (r#","device":""#, self.device),
            (r#","scope":""#, self.scope),
            (r#","reason_for_request":""#, self.reason_for_request),
        ]
    }

    /// The record as one JSON line. Written into one allocation sized for the usual record
    /// (plain values, and one byte more for the NUL the C ABI appends), each plain value
    /// copied whole.
    pub fn record(&self, reason: Reason) -> String {
        let head = if reason == Reason::Allowed { ALLOWED_AUDIT_HEAD } else { reason.answer().refused_audit_head };
        let fields = self.fields();
        let (header_fields, claim_fields) = fields.split_at(5);
        let mut size = head.len() + 2;
        for (open, value) in fields.iter() {
            if let Some(v) = value {
                size += open.len() + v.len().min(MAX_FIELD_CHARS) + 1;
            }
        }
        if let Some(path) = self.path {
            size += PATH_OPEN.len() + path.len().min(MAX_PATH_BYTES) + 5;
        }
        let mut out = String::with_capacity(size);
        out.push_str(head);
        for &(open, value) in header_fields {
            push_field(&mut out, open, value);
        }
        if let Some(path) = self.path {
            out.push_str(PATH_OPEN);
            push_printable_json(&mut out, path, MAX_PATH_BYTES);
        }
        for &(open, value) in claim_fields {
            push_field(&mut out, open, value);
        }
        out.push('}');
        out
    }
}

/// Opens the path in the record (without a quote: [`push_printable_json`] writes its own).
const PATH_OPEN: &str = r#","path":"#;

/// Decimal digits of `n`, without a temporary string (the reference the static record heads
/// are tested against).
#[cfg(test)]
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
    if let Some(plain) = plain_str(shown) {
        // All plain ASCII: nothing to escape.
        out.push_str(plain);
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

/// Appends `open` (`,"name":"`) and the value, bounded, as a JSON string, when there is one.
#[inline(always)]
fn push_field(out: &mut String, open: &str, value: Option<&str>) {
    if let Some(v) = value {
        let v = bounded(v, MAX_FIELD_CHARS);
        if is_plain_ascii(v.as_bytes()) {
            out.push_str(open);
            out.push_str(v);
            out.push('"');
        } else {
            out.push_str(&open[..open.len() - 1]);
            push_json_string(out, v);
        }
    }
}

/// `push_json_string`, with a fast path for the usual plain-ASCII value that needs no escaping.
#[cfg(test)]
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
    use crate::verdict::REASONS;

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
        // Every position in a word and in the tail, and the first of several.
        for n in 0..20 {
            for at in 0..n {
                for c in [b'?', b'#'] {
                    let mut t = vec![b'/'; n];
                    t[at] = c;
                    if at + 3 < n {
                        t[at + 3] = b'#';
                    }
                    assert_eq!(path_of(&t), &t[..at], "{at} of {n}");
                }
            }
            for b in 0..=255u8 {
                let t: Vec<u8> = std::iter::repeat(b).take(n).collect();
                let want = t.iter().position(|&x| x == b'?' || x == b'#').unwrap_or(n);
                assert_eq!(path_of(&t).len(), want, "{b:#x} x {n}");
            }
        }
    }

    /// Reason, name and status as the spec gives them (spec §5.2, API.md), written out here
    /// rather than read from the code's own table, so a wrong row there fails the test.
    const SPEC_ANSWERS: [(Reason, &str, u16); 23] = [
        (Reason::Allowed, "ALLOWED", 200),
        (Reason::HeaderMissing, "HEADER_MISSING", 400),
        (Reason::HeaderInvalid, "HEADER_INVALID", 400),
        (Reason::WrongRecipient, "WRONG_RECIPIENT", 400),
        (Reason::InteractionUnknown, "INTERACTION_UNKNOWN", 400),
        (Reason::InteractionMismatch, "INTERACTION_MISMATCH", 400),
        (Reason::AuthorizationMissing, "AUTHORIZATION_MISSING", 400),
        (Reason::JwtMalformed, "JWT_MALFORMED", 400),
        (Reason::JwtClaimMissing, "JWT_CLAIM_MISSING", 400),
        (Reason::JwtClaimInvalid, "JWT_CLAIM_INVALID", 400),
        (Reason::JwtInvalidResource, "JWT_INVALID_RESOURCE", 422),
        (Reason::JwtExpired, "JWT_EXPIRED", 400),
        (Reason::ScopeDenied, "SCOPE_DENIED", 400),
        (Reason::RequestTooLarge, "REQUEST_TOO_LARGE", 400),
        (Reason::CertMissing, "CERT_MISSING", 496),
        (Reason::CertUntrusted, "CERT_UNTRUSTED", 495),
        (Reason::CertExpired, "CERT_EXPIRED", 495),
        (Reason::CertNotYetValid, "CERT_NOT_YET_VALID", 495),
        (Reason::CertRevoked, "CERT_REVOKED", 495),
        (Reason::CertRevocationUnknown, "CERT_REVOCATION_UNKNOWN", 495),
        (Reason::CertWrongHost, "CERT_WRONG_HOST", 495),
        (Reason::CertMalformed, "CERT_MALFORMED", 495),
        (Reason::Internal, "INTERNAL", 500),
    ];

    /// The record the provenance must give, built by serde_json from the rules (fields bounded
    /// to 128 characters; the path to 512 bytes, non-printable bytes as `?`, `...` when cut), not
    /// with the record's own escaping or bounds.
    fn expected_record(p: &Provenance<'_>, name: &str, status: u16) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        let mut m = serde_json::Map::new();
        m.insert("verdict".into(), Value::from(if name == "ALLOWED" { "allowed" } else { "refused" }));
        m.insert("reason".into(), Value::from(name));
        m.insert("status".into(), Value::from(status));
        for (key, value) in field_names(p) {
            if let Some(v) = value {
                m.insert(key.into(), Value::from(v.chars().take(128).collect::<String>()));
            }
        }
        if let Some(path) = p.path {
            let mut shown: String = path.iter().take(512).map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '?' }).collect();
            if path.len() > 512 {
                shown.push_str("...");
            }
            m.insert("path".into(), Value::from(shown));
        }
        m
    }

    /// The fields in the order the record writes them (spec §9: provenance first, claims after).
    fn field_names<'a>(p: &Provenance<'a>) -> [(&'static str, Option<&'a str>); 11] {
        [
            ("trace_id", p.trace_id), ("from", p.from), ("to", p.to), ("interaction", p.interaction), ("method", p.method),
            ("ods_code", p.ods_code), ("sds_user_id", p.sds_user_id), ("sds_role_id", p.sds_role_id), ("device", p.device),
            ("scope", p.scope), ("reason_for_request", p.reason_for_request),
        ]
    }

    #[test]
    fn record_is_what_an_independent_json_writer_expects() {
        assert_eq!(SPEC_ANSWERS.len(), REASONS.len(), "a reason without its spec answer here");
        let long_plain = "x".repeat(200);
        let long_wide = "é".repeat(200);
        let values: [Option<&str>; 10] = [
            None, Some(""), Some("a"), Some("GPCA0001"), Some("with \"quote\""), Some("ctl\u{1}\u{0}"),
            Some("é"), Some(&long_plain), Some(&long_wide), Some("patient/*.read conf/N"),
        ];
        let long_path = vec![b'/'; 600];
        let paths: [Option<&[u8]>; 5] = [None, Some(b""), Some(b"/A1/STU3/1/gpconnect/Patient/2"), Some(b"/a\"b\\c\n\xff"), Some(&long_path)];
        for (i, v) in values.iter().enumerate() {
            for (j, path) in paths.iter().enumerate() {
                // Each field in turn takes the value, the others a rotation of the list.
                let at = |k: usize| values[(i + j + k) % values.len()];
                let p = Provenance {
                    trace_id: *v,
                    from: at(1),
                    to: at(2),
                    interaction: at(3),
                    method: at(4),
                    path: *path,
                    ods_code: at(5),
                    sds_user_id: at(6),
                    sds_role_id: at(7),
                    device: at(8),
                    scope: at(9),
                    reason_for_request: *v,
                };
                for (reason, name, status) in SPEC_ANSWERS {
                    let r = p.record(reason);
                    let got: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&r).unwrap_or_else(|e| panic!("{e}: {r}"));
                    assert_eq!(got, expected_record(&p, name, status), "{reason:?} {p:?}");
                    // One line of printable ASCII, whatever the values hold.
                    assert!(r.bytes().all(|b| (0x20..0x7f).contains(&b)), "a control or non-ASCII byte in {r:?}");
                    // Fields in their documented order: verdict, reason, status, headers, path, claims.
                    let order = ["verdict", "reason", "status", "trace_id", "from", "to", "interaction", "method", "path", "ods_code", "sds_user_id", "sds_role_id", "device", "scope", "reason_for_request"];
                    let at: Vec<usize> = order.iter().filter(|k| got.contains_key(**k)).map(|k| r.find(&format!("\"{k}\":")).unwrap()).collect();
                    assert!(at.windows(2).all(|w| w[0] < w[1]), "fields out of order: {r}");
                }
            }
        }
        // The usual record is written without growing its buffer (room for the C NUL too).
        let p = Provenance { trace_id: Some("8a7b3c2d-0000-4000-8000-000000000000"), path: Some(b"/a/b"), scope: Some("patient/*.read"), ..Default::default() };
        let r = p.record(Reason::Allowed);
        assert!(r.capacity() > r.len(), "{} {}", r.capacity(), r.len());
    }
}
