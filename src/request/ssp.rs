//! The SSP headers (spec §2.2, §9 "Header names", "Ssp-TraceID"; API.md "Settled details"):
//! `Ssp-TraceID`, `Ssp-From`, `Ssp-To` and `Ssp-InteractionID` each present exactly once and
//! well formed, and `Ssp-To` this provider's own ASID. Also finds `Authorization`.
//!
//! Names are matched case-insensitively (RFC 9110); values are trimmed of leading and trailing
//! SP/HTAB only. A header that appears twice is invalid: two parsers picking different copies is
//! how a request gets checked as one thing and served as another.

use crate::request::audit::Provenance;
use crate::config::is_asid;
use crate::refusal::{Checked, Refusal};
use crate::verdict::Reason;

/// Whether a header was seen, and its value when seen once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen<'a> {
    Absent,
    Once(&'a [u8]),
    Repeated,
}

impl<'a> Seen<'a> {
    fn add(&mut self, value: &'a [u8]) {
        *self = match *self {
            Seen::Absent => Seen::Once(value),
            _ => Seen::Repeated,
        };
    }
}

/// The headers this module looks for, in the order their failures are reported.
const TRACE_ID: usize = 0;
const FROM: usize = 1;
const TO: usize = 2;
const INTERACTION_ID: usize = 3;
const AUTHORIZATION: usize = 4;
const NAMES: [&str; 5] = ["Ssp-TraceID", "Ssp-From", "Ssp-To", "Ssp-InteractionID", "Authorization"];

/// One pass over the request headers: the wanted ones, and the sizes the limits bound.
#[derive(Clone, Debug)]
pub struct Scan<'a> {
    seen: [Seen<'a>; 5],
    /// Sum of all header name and value lengths.
    pub total_bytes: usize,
    /// Longest `Authorization` value (raw, before trimming), 0 when absent.
    pub longest_authorization: usize,
}

/// The slot in [`NAMES`] of a header name of each length (`NONE` where no name has it): the
/// names all differ in length, so one lookup picks the only candidate to compare.
const NONE: u8 = u8::MAX;
const SLOT_BY_LEN: [u8; NAME_MAX + 1] = {
    let mut t = [NONE; NAME_MAX + 1];
    let mut i = 0;
    while i < NAMES.len() {
        assert!(t[NAMES[i].len()] == NONE, "two SSP header names of one length");
        t[NAMES[i].len()] = i as u8;
        i += 1;
    }
    t
};

/// The longest of [`NAMES`].
const NAME_MAX: usize = 17;

/// [`NAMES`] in lower case, made from them when compiling (each padded with zeros to NAME_MAX).
const NAMES_LOWER: [[u8; NAME_MAX]; 5] = {
    let mut t = [[0u8; NAME_MAX]; 5];
    let mut i = 0;
    while i < NAMES.len() {
        let name = NAMES[i].as_bytes();
        let mut j = 0;
        while j < name.len() {
            t[i][j] = name[j].to_ascii_lowercase();
            j += 1;
        }
        i += 1;
    }
    t
};

/// `name` is `known` (an ASCII header name in lower case) in any case: what
/// `eq_ignore_ascii_case` answers, folding `name` to lower case eight bytes at a time.
#[inline(always)]
fn same_name(name: &[u8], known: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    // ASCII upper case to lower case in each byte. On the low seven bits no sum carries across
    // bytes; bit 7 is kept, so a non-ASCII byte never equals a byte of an ASCII name.
    #[inline(always)]
    fn fold(x: u64) -> u64 {
        let low = x & !HIGH;
        let upper = low.wrapping_add(ONES * (0x80 - b'A' as u64)) & !low.wrapping_add(ONES * (0x80 - b'Z' as u64 - 1)) & HIGH;
        x | upper >> 2
    }
    let n = name.len();
    if n != known.len() {
        return false;
    }
    #[inline(always)]
    fn word(s: &[u8], at: usize) -> u64 {
        s.get(at..at + 8).and_then(|w| w.try_into().ok()).map_or(0, u64::from_le_bytes)
    }
    #[inline(always)]
    fn half(s: &[u8], at: usize) -> u64 {
        s.get(at..at + 4).and_then(|w| w.try_into().ok()).map_or(0, u32::from_le_bytes) as u64
    }
    if n < 4 {
        return name.eq_ignore_ascii_case(known);
    }
    if n < 8 {
        // Two overlapping halves cover every byte.
        let (a, b) = (half(name, 0) | half(name, n - 4) << 32, half(known, 0) | half(known, n - 4) << 32);
        return fold(a) == b;
    }
    let mut diff = 0;
    let mut at = 0;
    while at + 8 <= n {
        diff |= fold(word(name, at)) ^ word(known, at);
        at += 8;
    }
    if at < n {
        diff |= fold(word(name, n - 8)) ^ word(known, n - 8);
    }
    diff == 0
}

/// Scans the headers once, without allocating.
pub fn scan<'a>(headers: &[(&'a [u8], &'a [u8])]) -> Scan<'a> {
    let mut s = Scan { seen: [Seen::Absent; 5], total_bytes: 0, longest_authorization: 0 };
    for &(name, value) in headers {
        s.total_bytes = s.total_bytes.saturating_add(name.len()).saturating_add(value.len());
        // Dispatch on length first: most headers are not ours and fail this cheaply.
        let Some(&slot) = SLOT_BY_LEN.get(name.len()) else { continue };
        let i = slot as usize;
        if slot == NONE || !same_name(name, &NAMES_LOWER[i][..name.len()]) {
            continue;
        }
        s.seen[i].add(value);
        if i == AUTHORIZATION {
            s.longest_authorization = s.longest_authorization.max(value.len());
        }
    }
    s
}

/// A header value without its leading and trailing SP/HTAB.
pub fn trim_ows(v: &[u8]) -> &[u8] {
    // The usual value has nothing to trim: two comparisons, no scan.
    match (v.first(), v.last()) {
        (Some(&f), Some(&l)) if f != b' ' && f != b'\t' && l != b' ' && l != b'\t' => return v,
        _ => {}
    }
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    &v[start..end.max(start)]
}

/// What each byte may be in an SSP header value, as bits: a table (data) consulted once per
/// byte, instead of a chain of range comparisons.
const HEX: u8 = 1;
/// URN name characters after the interaction prefix: ASCII letters and digits, `:.-_`.
const URN: u8 = 2;
static VALUE_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_hexdigit() {
            t[b] |= HEX;
        }
        if c.is_ascii_alphanumeric() || matches!(c, b':' | b'.' | b'-' | b'_') {
            t[b] |= URN;
        }
        b += 1;
    }
    t
};

/// Whether every byte of `s` has `class` (no early exit: the loop is branch-free, and the
/// values are short and bounded).
fn all_of(s: &[u8], class: u8) -> bool {
    s.iter().fold(class, |acc, &b| acc & VALUE_BYTES[b as usize]) != 0
}

/// A UUID in its 8-4-4-4-12 hex form (either case).
pub fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v[8] == b'-'
        && v[13] == b'-'
        && v[18] == b'-'
        && v[23] == b'-'
        && all_of(&v[..8], HEX)
        && all_of(&v[9..13], HEX)
        && all_of(&v[14..18], HEX)
        && all_of(&v[19..23], HEX)
        && all_of(&v[24..], HEX)
}

/// The GP Connect interaction URN prefix (spec §3 naming policy).
pub const INTERACTION_PREFIX: &str = "urn:nhs:names:services:gpconnect:";

/// A well-formed interaction ID: the GP Connect URN prefix, then URN name characters, bounded.
/// Well-formed but unknown is `InteractionUnknown`; anything else is `HeaderInvalid`.
pub fn is_interaction_id(v: &[u8]) -> bool {
    // The prefix is made of URN name characters itself, so only the rest needs the table.
    v.len() > INTERACTION_PREFIX.len()
        && v.len() <= 128
        && v.starts_with(INTERACTION_PREFIX.as_bytes())
        && all_of(&v[INTERACTION_PREFIX.len()..], URN)
}

/// The validated SSP headers; all plain ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SspHeaders<'a> {
    pub trace_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub interaction_id: &'a str,
}

impl<'a> Scan<'a> {
    /// The trimmed value of header `i` if it is present once, non-empty and passes `valid`.
    #[inline(always)]
    fn value(&self, i: usize, valid: impl Fn(&[u8]) -> bool, what: &str) -> Checked<&'a str> {
        let name = NAMES[i];
        match self.seen[i] {
            Seen::Absent => Err(Refusal::new(Reason::HeaderMissing, format!("the {name} header is missing"))),
            Seen::Repeated => Err(Refusal::new(Reason::HeaderInvalid, format!("the {name} header appears more than once"))),
            Seen::Once(raw) => {
                let v = trim_ows(raw);
                if v.is_empty() {
                    return Err(Refusal::new(Reason::HeaderInvalid, format!("the {name} header is empty")));
                }
                if !valid(v) {
                    return Err(Refusal::new(Reason::HeaderInvalid, format!("the {name} header is not {what}")));
                }
                // The validators admit ASCII only, so this cannot fail; refuse if it ever did.
                if !v.is_ascii() {
                    return Err(Refusal::new(Reason::HeaderInvalid, format!("the {name} header is not {what}")));
                }
                // SAFETY: ASCII (checked just above) is UTF-8; a word-wide ASCII test is cheaper
                // than a UTF-8 validation of the same bytes.
                Ok(unsafe { std::str::from_utf8_unchecked(v) })
            }
        }
    }

    /// Checks the four SSP headers, then that `Ssp-To` is `provider_asid`. Validated values go
    /// into `prov` as they are established, for the audit record.
    pub fn check_ssp(&self, provider_asid: &str, prov: &mut Provenance<'a>) -> Checked<SspHeaders<'a>> {
        let trace_id = self.value(TRACE_ID, is_uuid, "a UUID (8-4-4-4-12 hex digits)")?;
        prov.trace_id = Some(trace_id);
        let from = self.value(FROM, is_asid, "an ASID (1-20 digits)")?;
        prov.from = Some(from);
        let to = self.value(TO, is_asid, "an ASID (1-20 digits)")?;
        prov.to = Some(to);
        let interaction_id = self.value(
            INTERACTION_ID,
            is_interaction_id,
            "a GP Connect interaction URN (urn:nhs:names:services:gpconnect:...)",
        )?;
        prov.interaction = Some(interaction_id);
        if to != provider_asid {
            return Err(Refusal::new(
                Reason::WrongRecipient,
                format!("Ssp-To {to} is not this provider's ASID {provider_asid}"),
            ));
        }
        Ok(SspHeaders { trace_id, from, to, interaction_id })
    }

    /// The `Authorization` value, trimmed. Absent is `AuthorizationMissing`; twice is
    /// `HeaderInvalid` (a repeated header is invalid whatever its name, API.md), reported at the
    /// Authorization step so the order of checks stays the documented one.
    pub fn authorization(&self) -> Checked<&'a [u8]> {
        match self.seen[AUTHORIZATION] {
            Seen::Absent => Err(Refusal::new(Reason::AuthorizationMissing, "the Authorization header is missing")),
            Seen::Repeated => Err(Refusal::new(Reason::HeaderInvalid, "the Authorization header appears more than once")),
            Seen::Once(raw) => Ok(trim_ows(raw)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASID: &str = "918999198993";
    const TRACE: &[u8] = b"0f9a8b7c-1234-4d5e-8f90-abcdefABCDEF";
    const META: &[u8] = b"urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1";

    fn base() -> Vec<(&'static [u8], &'static [u8])> {
        vec![
            (&b"Ssp-TraceID"[..], TRACE),
            (b"Ssp-From", b"200000000359"),
            (b"Ssp-To", ASID.as_bytes()),
            (b"Ssp-InteractionID", META),
            (b"Authorization", b"Bearer x.y."),
            (b"Accept", b"application/fhir+json"),
        ]
    }

    fn check(h: &[(&'static [u8], &'static [u8])]) -> Checked<SspHeaders<'static>> {
        scan(h).check_ssp(ASID, &mut Provenance::default())
    }

    fn with(name: &'static [u8], value: &'static [u8]) -> Vec<(&'static [u8], &'static [u8])> {
        base().into_iter().map(|(n, v)| if n.eq_ignore_ascii_case(name) { (n, value) } else { (n, v) }).collect()
    }

    #[test]
    fn accepts_well_formed_headers_in_any_case() {
        let h = check(&base()).unwrap();
        assert_eq!(h.to, ASID);
        let lower: Vec<_> = vec![
            (&b"ssp-traceid"[..], TRACE),
            (b"SSP-FROM", b" \t200000000359 "),
            (b"sSp-To", ASID.as_bytes()),
            (b"ssp-interactionid", META),
        ];
        let h = check(&lower).unwrap();
        assert_eq!(h.from, "200000000359");
    }

    #[test]
    fn each_missing_header_is_header_missing() {
        for name in ["Ssp-TraceID", "Ssp-From", "Ssp-To", "Ssp-InteractionID"] {
            let h: Vec<_> = base().into_iter().filter(|(n, _)| *n != name.as_bytes()).collect();
            let r = check(&h).unwrap_err();
            assert_eq!(r.reason, Reason::HeaderMissing, "{name}");
            assert!(r.message.contains(name));
        }
    }

    #[test]
    fn empty_malformed_or_repeated_is_header_invalid() {
        let cases: Vec<(&[u8], &[u8])> = vec![
            (b"Ssp-TraceID", b""), (b"Ssp-TraceID", b" \t "), (b"Ssp-TraceID", b"not-a-uuid"),
            (b"Ssp-TraceID", b"0f9a8b7c12344d5e8f90abcdefabcdef"), (b"Ssp-TraceID", b"{0f9a8b7c-1234-4d5e-8f90-abcdefabcdef}"),
            (b"Ssp-TraceID", b"0f9a8b7c-1234-4d5e-8f90-abcdefabcdeg"), (b"Ssp-From", b"20000000035a"),
            (b"Ssp-From", b"200000000359\0"), (b"Ssp-From", b"2000\r\n00359"), (b"Ssp-From", b"123456789012345678901"),
            (b"Ssp-From", b"-1"), (b"Ssp-To", b"9189 99198993"), (b"Ssp-To", b"\xd9\xa1"),
            (b"Ssp-InteractionID", b"urn:nhs:names:services:gpconnect:"), (b"Ssp-InteractionID", b"metadata"),
            (b"Ssp-InteractionID", b"urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1\n"),
            (b"Ssp-InteractionID", b"URN:NHS:NAMES:SERVICES:GPCONNECT:FHIR:REST:READ:METADATA-1"),
            (b"Ssp-InteractionID", b"urn:nhs:names:services:gpconnect:fhir rest"),
            (b"Ssp-InteractionID", b"urn:nhs:names:services:gpconnect:fhir:rest:read:metadata-1\0"),
        ];
        for (name, value) in cases {
            let leaked: &'static [u8] = Box::leak(value.to_vec().into_boxed_slice());
            let name: &'static [u8] = Box::leak(name.to_vec().into_boxed_slice());
            assert_eq!(check(&with(name, leaked)).unwrap_err().reason, Reason::HeaderInvalid, "{value:?}");
        }
        for name in ["Ssp-TraceID", "ssp-from", "SSP-TO", "Ssp-InteractionID"] {
            let mut h = base();
            let v = h.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).unwrap().1;
            h.push((name.as_bytes(), v));
            assert_eq!(check(&h).unwrap_err().reason, Reason::HeaderInvalid, "{name} twice");
        }
    }

    #[test]
    fn wrong_recipient_names_our_asid() {
        let r = check(&with(b"Ssp-To", b"123456789123")).unwrap_err();
        assert_eq!(r.reason, Reason::WrongRecipient);
        assert!(r.message.contains(ASID));
        // Leading zeros are not the same ASID.
        assert_eq!(check(&with(b"Ssp-To", b"0918999198993")).unwrap_err().reason, Reason::WrongRecipient);
    }

    #[test]
    fn a_well_formed_unknown_interaction_passes_this_module() {
        assert!(check(&with(b"Ssp-InteractionID", b"urn:nhs:names:services:gpconnect:fhir:rest:read:nothing-1")).is_ok());
    }

    #[test]
    fn authorization_once() {
        assert_eq!(scan(&base()).authorization().unwrap(), b"Bearer x.y.");
        let mut h = base();
        h.push((b"authorization", b"Bearer x.y."));
        assert_eq!(scan(&h).authorization().unwrap_err().reason, Reason::HeaderInvalid);
        h.retain(|(n, _)| !n.eq_ignore_ascii_case(b"authorization"));
        assert_eq!(scan(&h).authorization().unwrap_err().reason, Reason::AuthorizationMissing);
        assert_eq!(scan(&with(b"Authorization", b" \t ")).authorization().unwrap(), b"");
    }

    #[test]
    fn scan_counts_sizes() {
        let s = scan(&base());
        assert_eq!(s.longest_authorization, 11);
        assert_eq!(s.total_bytes, base().iter().map(|(n, v)| n.len() + v.len()).sum::<usize>());
    }

    #[test]
    fn trimming_is_sp_and_htab_only() {
        assert_eq!(trim_ows(b" \ta b\t "), b"a b");
        assert_eq!(trim_ows(b"\r\na\r\n"), b"\r\na\r\n");
        assert_eq!(trim_ows(b"   "), b"");
        // Space or tab at one end only: the fast path must not take these for untrimmed.
        for v in [&b" ab"[..], b"\tab", b"ab ", b"ab\t", b" ab\t", b"\tab "] {
            assert_eq!(trim_ows(v), b"ab", "{:?}", String::from_utf8_lossy(v));
        }
        assert_eq!(trim_ows(b""), b"");
    }

    /// The validators as first written, byte by byte: the table forms must agree with them.
    fn reference_uuid(v: &[u8]) -> bool {
        v.len() == 36
            && v.iter().enumerate().all(|(i, &b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
    }

    fn reference_interaction_id(v: &[u8]) -> bool {
        v.len() > INTERACTION_PREFIX.len()
            && v.len() <= 128
            && v.starts_with(INTERACTION_PREFIX.as_bytes())
            && v.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'-' | b'_'))
    }

    #[test]
    fn table_validators_agree_with_the_byte_by_byte_rules() {
        let uuid = TRACE.to_vec();
        let iid = META.to_vec();
        for b in 0..=255u8 {
            for at in 0..uuid.len() {
                let mut v = uuid.clone();
                v[at] = b;
                assert_eq!(is_uuid(&v), reference_uuid(&v), "{b:#x} at {at}");
            }
            for at in 0..iid.len() {
                let mut v = iid.clone();
                v[at] = b;
                assert_eq!(is_interaction_id(&v), reference_interaction_id(&v), "{b:#x} at {at}");
            }
            let mut longer = iid.clone();
            longer.push(b);
            assert_eq!(is_interaction_id(&longer), reference_interaction_id(&longer), "{b:#x} appended");
        }
        for n in 0..140 {
            let v: Vec<u8> = INTERACTION_PREFIX.bytes().chain(std::iter::repeat(b'a')).take(n).collect();
            assert_eq!(is_interaction_id(&v), reference_interaction_id(&v), "length {n}");
            assert_eq!(is_uuid(&uuid[..n.min(36)]), reference_uuid(&uuid[..n.min(36)]));
        }
    }

    #[test]
    fn names_are_found_by_length_then_case_insensitively() {
        for (i, name) in NAMES.iter().enumerate() {
            assert_eq!(SLOT_BY_LEN[name.len()] as usize, i);
        }
        // A name of an SSP header's length that is not that header is not taken for it.
        let h: Vec<(&[u8], &[u8])> = vec![(b"Accept", b"x"), (b"Ssp-Tx", b"y"), (b"SSP-TO", b"1")];
        let s = scan(&h);
        assert_eq!(s.seen[TO], Seen::Once(b"1"));
        assert!(s.seen.iter().enumerate().all(|(i, x)| i == TO || *x == Seen::Absent));
        let long = [b'a'; 100];
        assert!(scan(&[(&long[..], &b""[..])]).seen.iter().all(|x| *x == Seen::Absent));
    }

    #[test]
    fn word_folding_name_compare_is_eq_ignore_ascii_case() {
        for (name, padded) in NAMES.iter().zip(NAMES_LOWER) {
            let lower = &padded[..name.len()];
            assert_eq!(lower, name.to_ascii_lowercase().as_bytes());
            for b in 0..=255u8 {
                for at in 0..name.len() {
                    for base in [name.as_bytes().to_vec(), lower.to_vec(), name.to_ascii_uppercase().into_bytes()] {
                        let mut v = base;
                        v[at] = b;
                        assert_eq!(same_name(&v, lower), v.eq_ignore_ascii_case(lower), "{b:#x} at {at} of {name}");
                    }
                }
            }
        }
        assert!(!same_name(b"abc", b"abcd") && same_name(b"AbC", b"abc") && !same_name(b"AbD", b"abc"));
        // Any lower-case token (RFC 9110 tchar), not only the letters and '-' of the SSP names: a
        // fold that also moved `[\]^_` onto `{|}~` DEL would pass the names above.
        let tchar = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz";
        for len in [4, 5, 7, 8, 9, 16, 17] {
            for known in tchar.windows(len) {
                for at in 0..len {
                    for b in 0..=255u8 {
                        let mut v = known.to_vec();
                        v[at] = b;
                        assert_eq!(same_name(&v, known), v.eq_ignore_ascii_case(known), "{b:#x} at {at} of {known:?}");
                    }
                }
            }
        }
    }
}
