//! Verdicts: why a request or a peer was refused, and how that is answered.
//!
//! A verdict is a value, not an error: a refusal carries its reason, the HTTP status, the Spine
//! error code, a message precise enough to fix the caller, and the FHIR OperationOutcome body.
//! The mapping from reason to status and code is one table ([`REASONS`]), following the spec's
//! error section and our policy (spec §5, §9; API.md "Settled details").

use std::ffi::CStr;
use std::sync::Arc;
use std::fmt::Write as _;

use crate::request::interactions::Interaction;


/// Why a request or a peer certificate was judged as it was. Numbers are stable and never reused.
///
/// cbindgen:prefix-with-name
/// cbindgen:rename-all=ScreamingSnakeCase
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Allowed.
    Allowed = 0,
    /// A required SSP header is absent.
    HeaderMissing = 1,
    /// A header is present but empty, malformed or repeated.
    HeaderInvalid = 2,
    /// `Ssp-To` is not this provider's ASID.
    WrongRecipient = 3,
    /// `Ssp-InteractionID` is well formed but not a known interaction.
    InteractionUnknown = 4,
    /// The interaction does not fit the method and path requested (or the path is not canonical).
    InteractionMismatch = 5,
    /// No `Authorization` header, or an empty one.
    AuthorizationMissing = 6,
    /// `Authorization` is not `Bearer <header.payload.>` with a strictly formed unsigned JWT.
    JwtMalformed = 7,
    /// A required claim is absent.
    JwtClaimMissing = 8,
    /// A claim has the wrong JSON type or value.
    JwtClaimInvalid = 9,
    /// A FHIR resource claim has a wrong `resourceType` or an element the resource does not have.
    JwtInvalidResource = 10,
    /// `exp` is in the past.
    JwtExpired = 11,
    /// `requested_scope` does not permit the interaction.
    ScopeDenied = 12,
    /// A client-controlled size limit was exceeded.
    RequestTooLarge = 13,
    /// The client presented no certificate.
    CertMissing = 100,
    /// The certificate does not chain to a configured trust anchor (or is not for client auth).
    CertUntrusted = 101,
    /// A certificate in the chain is past its notAfter.
    CertExpired = 102,
    /// A certificate in the chain is before its notBefore.
    CertNotYetValid = 103,
    /// A certificate in the chain is revoked by a configured CRL.
    CertRevoked = 104,
    /// Revocation could not be decided (no CRL for an issuer, or the CRL is expired or bad).
    CertRevocationUnknown = 105,
    /// The certificate does not carry the SSP's FQDN.
    CertWrongHost = 106,
    /// The certificate could not be parsed.
    CertMalformed = 107,
    /// The library failed internally; the request is refused.
    Internal = 200,
}

/// How one reason is answered: HTTP status, Spine code, FHIR issue type and display text.
pub struct Answer {
    pub reason: Reason,
    pub name: &'static str,
    pub name_c: &'static CStr,
    pub http_status: u16,
    pub spine_code: &'static str,
    pub spine_code_c: &'static CStr,
    pub issue_code: &'static str,
    pub display: &'static str,
    /// The start of the audit record of a refusal for this reason, written once here rather
    /// than piece by piece per request: `{"verdict":"refused","reason":"NAME","status":NNN`.
    pub refused_audit_head: &'static str,
}

/// The start of the audit record of an allowed request (the refused form is per reason).
pub const ALLOWED_AUDIT_HEAD: &str = r#"{"verdict":"allowed","reason":"ALLOWED","status":200"#;

type Coding = (&'static CStr, &'static str, &'static str);
const BAD_REQUEST: Coding = (c"BAD_REQUEST", "invalid", "Bad request");
const INVALID_RESOURCE: Coding = (c"INVALID_RESOURCE", "invalid", "Invalid validation of resource");
const INTERNAL: Coding = (c"INTERNAL_SERVER_ERROR", "processing", "Unexpected internal server error");

macro_rules! answers {
    ($( $reason:ident, $name:literal, $status:literal, $code:expr; )*) => {
        /// The answer table, one row per reason (spec §5.2; certificate codes are nginx's 495/496).
        pub static REASONS: &[Answer] = &[ $( Answer {
            reason: Reason::$reason, name: $name, name_c: match CStr::from_bytes_with_nul(concat!($name, "\0").as_bytes()) { Ok(c) => c, Err(_) => panic!() }, http_status: $status,
            spine_code: match $code.0.to_str() { Ok(s) => s, Err(_) => "" }, spine_code_c: $code.0,
            issue_code: $code.1, display: $code.2,
            refused_audit_head: concat!(r#"{"verdict":"refused","reason":""#, $name, r#"","status":"#, $status),
        }, )* ];

        /// The index of reason `r`'s row in [`REASONS`], found when compiling.
        const fn row_of(r: Reason) -> usize {
            let names = [$( Reason::$reason as i32, )*];
            let mut i = 0;
            while i < names.len() {
                if names[i] == r as i32 {
                    return i;
                }
                i += 1;
            }
            panic!("a reason without a row")
        }

        impl Reason {
            /// The row of [`REASONS`] for this reason: a jump, not a search (the index of each
            /// row is found when compiling).
            pub fn answer(self) -> &'static Answer {
                match self {
                    $( Reason::$reason => {
                        const ROW: usize = row_of(Reason::$reason);
                        &REASONS[ROW]
                    } )*
                }
            }

            /// This reason's index in [`REASONS`] (0..REASONS.len()), e.g. to index counters.
            #[inline(always)]
            pub fn row(self) -> usize {
                match self {
                    $( Reason::$reason => {
                        const ROW: usize = row_of(Reason::$reason);
                        ROW
                    } )*
                }
            }
        }
    };
}

answers! {
    Allowed, "ALLOWED", 200, (c"", "", "");
    HeaderMissing, "HEADER_MISSING", 400, BAD_REQUEST;
    HeaderInvalid, "HEADER_INVALID", 400, BAD_REQUEST;
    WrongRecipient, "WRONG_RECIPIENT", 400, BAD_REQUEST;
    InteractionUnknown, "INTERACTION_UNKNOWN", 400, BAD_REQUEST;
    InteractionMismatch, "INTERACTION_MISMATCH", 400, BAD_REQUEST;
    AuthorizationMissing, "AUTHORIZATION_MISSING", 400, BAD_REQUEST;
    JwtMalformed, "JWT_MALFORMED", 400, BAD_REQUEST;
    JwtClaimMissing, "JWT_CLAIM_MISSING", 400, BAD_REQUEST;
    JwtClaimInvalid, "JWT_CLAIM_INVALID", 400, BAD_REQUEST;
    JwtInvalidResource, "JWT_INVALID_RESOURCE", 422, INVALID_RESOURCE;
    JwtExpired, "JWT_EXPIRED", 400, BAD_REQUEST;
    ScopeDenied, "SCOPE_DENIED", 400, BAD_REQUEST;
    RequestTooLarge, "REQUEST_TOO_LARGE", 400, BAD_REQUEST;
    CertMissing, "CERT_MISSING", 496, BAD_REQUEST;
    CertUntrusted, "CERT_UNTRUSTED", 495, BAD_REQUEST;
    CertExpired, "CERT_EXPIRED", 495, BAD_REQUEST;
    CertNotYetValid, "CERT_NOT_YET_VALID", 495, BAD_REQUEST;
    CertRevoked, "CERT_REVOKED", 495, BAD_REQUEST;
    CertRevocationUnknown, "CERT_REVOCATION_UNKNOWN", 495, BAD_REQUEST;
    CertWrongHost, "CERT_WRONG_HOST", 495, BAD_REQUEST;
    CertMalformed, "CERT_MALFORMED", 495, BAD_REQUEST;
    Internal, "INTERNAL", 500, INTERNAL;
}

/// Headers every response carries (spec §6, §9): no caching of patient data, and HSTS.
pub static RESPONSE_HEADERS: &[(&CStr, &CStr)] = &[
    (c"Cache-Control", c"no-store"),
    (c"Strict-Transport-Security", c"max-age=31536000"),
];

/// FHIR profile of the error body (spec §5.1).
pub const OPERATION_OUTCOME_PROFILE: &str =
    "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-OperationOutcome-1";
/// Default coding system of the Spine error code (spec §5.1: the CodeSystem URL the test pack asserts).
pub const DEFAULT_ERROR_CODE_SYSTEM: &str =
    "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1";

/// The judgement on one request or one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub reason: Reason,
    /// What was checked and what failed. Never holds the token, a query value or a header
    /// value beyond what the audit record names.
    pub message: String,
    /// The matched interaction ID, empty when none matched. Borrowed from the interaction
    /// table, which lives as long as the program: naming it costs no allocation.
    pub interaction_id: &'static str,
    /// The same ID NUL-terminated, for the C ABI, when the table gave one (`None` for an ID
    /// given as a plain `&str`: the C ABI then makes its own copy).
    interaction_id_c: Option<&'static CStr>,
    /// One JSON line of provenance (empty for peer-certificate verdicts).
    pub audit_record: String,
    /// For refusals, the coding system of the OperationOutcome, which is built only when asked
    /// for (`operation_outcome`): a refusal costs no more to judge than an allowed request.
    error_code_system: Option<Arc<str>>,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        self.reason == Reason::Allowed
    }

    pub fn http_status(&self) -> u16 {
        self.reason.answer().http_status
    }

    pub fn error_code(&self) -> &'static str {
        self.reason.answer().spine_code
    }

    /// The coding system the OperationOutcome of a refusal uses; `None` when allowed.
    pub fn error_code_system(&self) -> Option<&Arc<str>> {
        self.error_code_system.as_ref()
    }

    /// The interaction ID NUL-terminated, when the interaction table gave it (see
    /// [`Verdict::with_interaction`]); `None` when there is none or it came as a plain `&str`.
    pub fn interaction_id_c(&self) -> Option<&'static CStr> {
        self.interaction_id_c
    }

    /// The FHIR OperationOutcome JSON to answer a refusal with; `None` when allowed.
    pub fn operation_outcome(&self) -> Option<String> {
        self.error_code_system.as_deref().map(|system| operation_outcome(self.reason, &self.message, system))
    }

    /// An allowed verdict.
    pub fn allow(message: impl Into<String>, interaction_id: &'static str, audit_record: String) -> Self {
        Verdict {
            reason: Reason::Allowed,
            message: message.into(),
            interaction_id,
            interaction_id_c: None,
            audit_record,
            error_code_system: None,
        }
    }

    /// A refusal with its OperationOutcome. `Reason::Allowed` is never a refusal: it is turned
    /// into `Internal` so that a coding error cannot produce an "allow".
    pub fn refuse(reason: Reason, message: impl Into<String>, error_code_system: &Arc<str>) -> Self {
        let reason = if reason == Reason::Allowed { Reason::Internal } else { reason };
        Verdict {
            reason,
            message: message.into(),
            interaction_id: "",
            interaction_id_c: None,
            audit_record: String::new(),
            error_code_system: Some(Arc::clone(error_code_system)),
        }
    }

    /// Names the matched interaction, borrowing its ID from the table in both forms (the C
    /// ABI hands out the NUL-terminated one without copying).
    pub fn with_interaction(mut self, row: &'static Interaction) -> Self {
        self.interaction_id = &row.id;
        self.interaction_id_c = Some(&row.id_c);
        self
    }

    pub fn with_audit(mut self, audit_record: String) -> Self {
        self.audit_record = audit_record;
        self
    }
}

/// The GP Connect OperationOutcome for a refusal: one issue, severity `error`, the Spine coding,
/// and the verdict message as diagnostics.
pub fn operation_outcome(reason: Reason, message: &str, error_code_system: &str) -> String {
    let a = reason.answer();
    let mut out = String::with_capacity(400 + message.len());
    out.push_str(r#"{"resourceType":"OperationOutcome","meta":{"profile":["#);
    push_json_string(&mut out, OPERATION_OUTCOME_PROFILE);
    out.push_str(r#"]},"issue":[{"severity":"error","code":"#);
    push_json_string(&mut out, a.issue_code);
    out.push_str(r#","details":{"coding":[{"system":"#);
    push_json_string(&mut out, error_code_system);
    out.push_str(r#","code":"#);
    push_json_string(&mut out, a.spine_code);
    out.push_str(r#","display":"#);
    push_json_string(&mut out, a.display);
    out.push_str(r#"}]},"diagnostics":"#);
    push_json_string(&mut out, message);
    out.push_str("}]}");
    out
}

/// Whether every byte of `s` is printable ASCII (0x20..0x7f) other than `"` and `\\`: a JSON
/// string literal of it is the bytes between two quotes. 16 bytes at a time on x86_64 from 16
/// bytes on, else eight, the last block overlapping the one before it (or padded, for fewer than
/// eight bytes) instead of a byte loop. Inlined: the audit record calls it per field, and the
/// constants stay in registers.
#[inline(always)]
pub fn is_plain_ascii(s: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some(bad) = crate::blocks::or_over_blocks(s, plain_ascii_bad_bits) {
        return bad & 0xffff == 0;
    }
    is_plain_ascii_swar(s)
}

/// A bit set for each byte of a 16-byte block that is not plain (see [`is_plain_ascii`]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn plain_ascii_bad_bits(x: std::arch::x86_64::__m128i) -> i32 {
    use std::arch::x86_64::*;
    // SAFETY: register-only SSE2 operations, part of the x86_64 baseline.
    unsafe {
        // As signed bytes, 0x20..=0x7f are exactly those above 0x1f (0x80.. are negative).
        let printable = _mm_cmpgt_epi8(x, _mm_set1_epi8(0x1f));
        let del = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f));
        let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
        !_mm_movemask_epi8(printable) | _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(del, quote), backslash))
    }
}

/// [`is_plain_ascii`] eight bytes at a time in a u64.
#[inline(always)]
fn is_plain_ascii_swar(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    const PAD: u64 = ONES * b'a' as u64;
    // Bit 7 of each byte set where that byte is plain. For bytes below 0x80 no sum carries into
    // the next byte, so each byte is judged exactly; a byte of 0x80 or more clears its own bit 7
    // through `below_del` (which ORs in `x` itself), so a word holding one is never all set.
    #[inline(always)]
    fn plain_bits(x: u64) -> u64 {
        let from_space = x.wrapping_add(ONES * (0x80 - 0x20));
        let not_quote = (x ^ (ONES * b'"' as u64)).wrapping_add(ONES * 0x7f);
        let not_backslash = (x ^ (ONES * b'\\' as u64)).wrapping_add(ONES * 0x7f);
        let below_del = !(x.wrapping_add(ONES) | x);
        from_space & not_quote & not_backslash & below_del & HIGH
    }
    #[inline(always)]
    fn word(b: &[u8]) -> u64 {
        b.get(..8).and_then(|w| w.try_into().ok()).map_or(0, u64::from_le_bytes)
    }
    let n = s.len();
    let mut all = HIGH;
    if n >= 8 {
        let mut chunks = s.chunks_exact(8);
        for c in chunks.by_ref() {
            all &= plain_bits(word(c));
        }
        if !chunks.remainder().is_empty() {
            all &= plain_bits(word(&s[n - 8..]));
        }
    } else if n >= 4 {
        // Two overlapping halves cover every byte.
        let half = |b: &[u8]| b.get(..4).and_then(|w| w.try_into().ok()).map_or(0, u32::from_le_bytes) as u64;
        all &= plain_bits(half(&s[..4]) | half(&s[n - 4..]) << 32);
    } else if n > 0 {
        // First, middle and last byte cover every byte of one to three; the rest is padding.
        let x = s[0] as u64 | (s[n / 2] as u64) << 8 | (s[n - 1] as u64) << 16 | PAD << 24;
        all &= plain_bits(x);
    }
    all == HIGH
}

/// `s` as text when it is plain ASCII ([`is_plain_ascii`]), without a second, UTF-8 pass over it.
#[inline(always)]
pub fn plain_str(s: &[u8]) -> Option<&str> {
    if is_plain_ascii(s) {
        // SAFETY: every byte is in 0x20..0x7f (is_plain_ascii, tested for every byte value in
        // every position of a word and of the tail), and ASCII is UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(s) })
    } else {
        None
    }
}

/// Appends `s` as a JSON string literal. Control characters and non-ASCII are escaped so the
/// result is one line of plain ASCII, safe for any log.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    // The usual value (plain printable ASCII without quotes or backslashes) is copied whole.
    if is_plain_ascii(s.as_bytes()) {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) >= 0x7f => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{:04x}", unit);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_one_row() {
        for (i, a) in REASONS.iter().enumerate() {
            assert_eq!(a.reason.answer().name, a.name);
            assert!(REASONS[i + 1..].iter().all(|b| b.reason != a.reason));
        }
    }

    #[test]
    fn refusal_body_is_the_gp_connect_operation_outcome() {
        let v = Verdict::refuse(Reason::JwtInvalidResource, "bad \"Device\"\n", &Arc::from(DEFAULT_ERROR_CODE_SYSTEM));
        assert_eq!(v.http_status(), 422);
        assert_eq!(v.error_code(), "INVALID_RESOURCE");
        let body: serde_json::Value = serde_json::from_str(&v.operation_outcome().unwrap()).unwrap();
        assert_eq!(body["resourceType"], "OperationOutcome");
        assert_eq!(body["meta"]["profile"][0], OPERATION_OUTCOME_PROFILE);
        let issue = &body["issue"][0];
        assert_eq!(issue["severity"], "error");
        assert_eq!(issue["code"], "invalid");
        assert_eq!(issue["details"]["coding"][0]["system"], DEFAULT_ERROR_CODE_SYSTEM);
        assert_eq!(issue["details"]["coding"][0]["code"], "INVALID_RESOURCE");
        assert_eq!(issue["diagnostics"], "bad \"Device\"\n");
    }

    #[test]
    fn allowed_cannot_be_a_refusal() {
        let v = Verdict::refuse(Reason::Allowed, "x", &Arc::from(DEFAULT_ERROR_CODE_SYSTEM));
        assert!(!v.allowed());
        assert_eq!(v.reason, Reason::Internal);
        assert_eq!(v.http_status(), 500);
    }

    #[test]
    fn internal_failure_is_answered_500_internal_server_error() {
        // No request or certificate reaches Reason::Internal (allocation failures and broken
        // built-in tables do), so its whole answer is pinned here (spec §5.2).
        let v = Verdict::refuse(Reason::Internal, "could not verify certificate CN=x: out of memory", &Arc::from("urn:example:errors"));
        assert_eq!((v.http_status(), v.error_code()), (500, "INTERNAL_SERVER_ERROR"));
        let body: serde_json::Value = serde_json::from_str(&v.operation_outcome().unwrap()).unwrap();
        let issue = &body["issue"][0];
        assert_eq!(issue["code"], "processing");
        assert_eq!(issue["details"]["coding"][0]["system"], "urn:example:errors");
        assert_eq!(issue["details"]["coding"][0]["code"], "INTERNAL_SERVER_ERROR");
        assert_eq!(issue["details"]["coding"][0]["display"], "Unexpected internal server error");
        assert_eq!(issue["diagnostics"], "could not verify certificate CN=x: out of memory");
        assert_eq!(Reason::Internal.answer().name, "INTERNAL");
    }

    #[test]
    fn plain_ascii_is_exactly_printable_without_quote_or_backslash() {
        let plain = |b: u8| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\';
        for b in 0..=255u8 {
            for at in 0..40 {
                let mut v = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN".to_vec();
                v[at] = b;
                assert_eq!(is_plain_ascii(&v), plain(b), "{b:#x} at {at}");
                assert_eq!(is_plain_ascii_swar(&v), plain(b), "{b:#x} at {at} (SWAR)");
                // Every prefix length, so every byte is seen in a block, a word and the tail.
                assert_eq!(is_plain_ascii(&v[..=at]), plain(b), "{b:#x} at {at} (prefix)");
                assert_eq!(is_plain_ascii(&v[at..]), plain(b), "{b:#x} at {at} (suffix)");
            }
        }
        assert!(is_plain_ascii(b""));
        assert_eq!(plain_str(b"a b~"), Some("a b~"));
        assert_eq!(plain_str(b"a\xc3\xa9"), None);
        // Two bad bytes in one word (a carry out of one must not hide the other).
        for (a, b) in [(0xffu8, 0x1fu8), (0x80, 0x7f), (0x1f, 0xff), (0xff, 0xff), (0x7f, 0x80)] {
            for at in 0..7 {
                let mut v = *b"abcdefgh";
                v[at] = a;
                v[at + 1] = b;
                assert!(!is_plain_ascii(&v), "{a:#x} {b:#x} at {at}");
            }
        }
    }

    #[test]
    fn json_strings_are_one_ascii_line() {
        let mut s = String::new();
        push_json_string(&mut s, "a\u{0}\u{7f}é😀\r\n");
        assert_eq!(s, r#""a\u0000\u007f\u00e9\ud83d\ude00\r\n""#);
    }
}
