//! The STU3 primitive types: which JSON type carries each, and the lexical rules of its value
//! (hl7.org/fhir/STU3/datatypes.html, the regexes in XML Schema's sense, where `\s` is only space,
//! tab, CR and LF; hl7.org/fhir/STU3/json.html for the JSON types). Values are judged as written,
//! with no conversion: `"true"` is not a boolean and `1` is not a string.

use crate::request::json::Item;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Primitive {
    Boolean,
    Integer,
    String,
    Decimal,
    Uri,
    Base64Binary,
    Instant,
    Date,
    DateTime,
    Time,
    Code,
    Oid,
    Id,
    Markdown,
    UnsignedInt,
    PositiveInt,
    Xhtml,
}

/// Every primitive, by its FHIR name.
pub const PRIMITIVES: [(&str, Primitive); 17] = [
    ("boolean", Primitive::Boolean),
    ("integer", Primitive::Integer),
    ("string", Primitive::String),
    ("decimal", Primitive::Decimal),
    ("uri", Primitive::Uri),
    ("base64Binary", Primitive::Base64Binary),
    ("instant", Primitive::Instant),
    ("date", Primitive::Date),
    ("dateTime", Primitive::DateTime),
    ("time", Primitive::Time),
    ("code", Primitive::Code),
    ("oid", Primitive::Oid),
    ("id", Primitive::Id),
    ("markdown", Primitive::Markdown),
    ("unsignedInt", Primitive::UnsignedInt),
    ("positiveInt", Primitive::PositiveInt),
    ("xhtml", Primitive::Xhtml),
];

/// Why a JSON value is not a value of a primitive type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrong {
    /// Not the JSON type that carries the primitive (a string, a number, true/false).
    JsonType,
    Null,
    EmptyString,
    /// The right JSON type, not the primitive's lexical form (or out of its range).
    Format,
}

impl Primitive {
    pub fn name(self) -> &'static str {
        PRIMITIVES.iter().find(|(_, p)| *p == self).map_or("primitive", |(n, _)| n)
    }

    /// What JSON carries it, for messages.
    pub fn json_type(self) -> &'static str {
        match self {
            Primitive::Boolean => "true or false",
            Primitive::Integer | Primitive::Decimal | Primitive::UnsignedInt | Primitive::PositiveInt => "a JSON number",
            _ => "a JSON string",
        }
    }

    /// Judges one JSON value (`text` is the string's text or the number as written).
    #[inline(always)]
    pub fn check(self, item: Item, text: &str) -> Result<(), Wrong> {
        match (self, item) {
            (_, Item::Null) => Err(Wrong::Null),
            (Primitive::Boolean, Item::Bool(_)) => Ok(()),
            (Primitive::Integer, Item::Number(_)) => int32(text, i32::MIN as i64).ok_or(Wrong::Format).map(drop),
            (Primitive::UnsignedInt, Item::Number(_)) => int32(text, 0).ok_or(Wrong::Format).map(drop),
            (Primitive::PositiveInt, Item::Number(_)) => int32(text, 1).ok_or(Wrong::Format).map(drop),
            (Primitive::Decimal, Item::Number(_)) => decimal(text).then_some(()).ok_or(Wrong::Format),
            (Primitive::Boolean | Primitive::Integer | Primitive::UnsignedInt | Primitive::PositiveInt | Primitive::Decimal, _) => {
                Err(Wrong::JsonType)
            }
            (_, Item::String(_)) if text.is_empty() => Err(Wrong::EmptyString),
            // The common cases without a call: any non-empty text; a uri or code without a space
            // or control character.
            (Primitive::String | Primitive::Markdown, Item::String(_)) => Ok(()),
            (Primitive::Uri | Primitive::Code, Item::String(_)) if above_space(text.as_bytes()) => Ok(()),
            (p, Item::String(_)) => p.string_form(text).then_some(()).ok_or(Wrong::Format),
            _ => Err(Wrong::JsonType),
        }
    }

    /// The lexical rule of a string-carried primitive, on a non-empty text.
    fn string_form(self, t: &str) -> bool {
        match self {
            // `[ \r\n\t\S]+`: any non-empty text.
            Primitive::String | Primitive::Markdown => true,
            // The narrative is XHTML whose root is a div (Narrative.div); not parsed further.
            Primitive::Xhtml => {
                let t = t.trim_matches(is_space);
                t.starts_with("<div") && (t.ends_with("</div>") || t.ends_with("/>"))
            }
            // No whitespace (`\S*`; empty is refused by the JSON rules), nor other control
            // characters (which only an escape can bring in, and no URI has).
            Primitive::Uri => above_space(t.as_bytes()),
            // `[^\s]+([\s]?[^\s]+)*`: no leading, trailing or doubled whitespace.
            Primitive::Code => {
                let b = t.as_bytes();
                above_space(b)
                    || (!is_space_byte(b[0]) && !is_space_byte(b[b.len() - 1]) && !b.windows(2).any(|w| is_space_byte(w[0]) && is_space_byte(w[1])))
            }
            // `[A-Za-z0-9\-\.]{1,64}`
            Primitive::Id => t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'),
            // `urn:oid:[0-2](\.[1-9]\d*)+`
            Primitive::Oid => t.strip_prefix("urn:oid:").is_some_and(|rest| {
                let mut arcs = rest.split('.');
                matches!(arcs.next(), Some("0" | "1" | "2"))
                    && arcs.clone().next().is_some()
                    && arcs.all(|a| a.bytes().all(|b| b.is_ascii_digit()) && a.bytes().next().is_some_and(|b| b != b'0'))
            }),
            Primitive::Base64Binary => base64(t),
            Primitive::Date => date(t.as_bytes()).is_some_and(|rest| rest.is_empty()),
            Primitive::DateTime => date_time(t.as_bytes(), false),
            Primitive::Instant => date_time(t.as_bytes(), true),
            Primitive::Time => time(t.as_bytes()).is_some_and(|rest| rest.is_empty()),
            Primitive::Boolean | Primitive::Integer | Primitive::Decimal | Primitive::UnsignedInt | Primitive::PositiveInt => false,
        }
    }
}

/// Whether every byte is above 0x20 (no space, no control character): 16 bytes at a time where
/// SSE2 is there, as the JSON reader's scans.
#[inline]
fn above_space(b: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some(low) = crate::blocks::or_over_blocks(b, |x| {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline. Unsigned x <= 0x20 exactly when min(x, 0x20) == x.
        unsafe { _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x)) }
    }) {
        return low == 0;
    }
    b.iter().all(|&c| c > b' ')
}

fn is_space_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `-?(0|[1-9][0-9]*)` (JSON already refuses a leading zero), no fraction or exponent, in
/// `min..=2^31-1`: integer, unsignedInt (`[0]|([1-9][0-9]*)`) and positiveInt (`[1-9][0-9]*`).
fn int32(text: &str, min: i64) -> Option<i64> {
    if text.len() > 11 {
        return None;
    }
    let v = crate::request::json::integer(text)?;
    (min..=i32::MAX as i64).contains(&v).then_some(v)
}

/// STU3 decimal: `-?([0]|([1-9][0-9]*))(\.[0-9]+)?`, no exponent (the JSON number syntax was
/// checked by the reader, so only an exponent can be left to refuse).
fn decimal(text: &str) -> bool {
    !text.bytes().any(|b| b == b'e' || b == b'E')
}

/// `(\s*([0-9a-zA-Z\+/=]){4}\s*)+`: base64 characters in groups of four, whitespace between.
fn base64(t: &str) -> bool {
    let mut n = 0usize;
    for b in t.bytes() {
        if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=' {
            n += 1;
        } else if !is_space_byte(b) {
            return false;
        }
    }
    n > 0 && n % 4 == 0
}

fn digits<const N: usize>(b: &[u8]) -> Option<(u32, &[u8])> {
    let head = b.get(..N)?;
    if !head.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((head.iter().fold(0, |v, d| v * 10 + (d - b'0') as u32), &b[N..]))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, a real calendar date of the years 0001 to 9999 ("Dates SHALL
/// be valid dates"; the STU3 regex would let a day 00 through). Returns what follows it.
fn date(b: &[u8]) -> Option<&[u8]> {
    let (year, rest) = digits::<4>(b)?;
    if year == 0 {
        return None;
    }
    let Some(rest) = rest.strip_prefix(b"-") else { return Some(rest) };
    let (month, rest) = digits::<2>(rest)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    let Some(rest) = rest.strip_prefix(b"-") else { return Some(rest) };
    let (day, rest) = digits::<2>(rest)?;
    (1..=days_in_month(year, month)).contains(&day).then_some(rest)
}

/// `hh:mm:ss(.s+)?`, hours 00-23, seconds up to 60 (a leap second). Returns what follows it.
fn time(b: &[u8]) -> Option<&[u8]> {
    let (h, rest) = digits::<2>(b)?;
    let (m, rest) = digits::<2>(rest.strip_prefix(b":")?)?;
    let (s, mut rest) = digits::<2>(rest.strip_prefix(b":")?)?;
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &fraction[n..];
    }
    Some(rest)
}

/// `Z` or `(+|-)hh:mm` with `hh:mm` up to 13:59, or 14:00.
fn zone(b: &[u8]) -> bool {
    if b == b"Z" {
        return true;
    }
    let Some(rest) = b.strip_prefix(b"+").or_else(|| b.strip_prefix(b"-")) else { return false };
    let Some((h, rest)) = digits::<2>(rest) else { return false };
    let Some((m, rest)) = rest.strip_prefix(b":").and_then(digits::<2>) else { return false };
    rest.is_empty() && m <= 59 && (h <= 13 || (h == 14 && m == 0))
}

/// dateTime: a date, or a full date with `T`, a time and a zone; instant: only the latter.
fn date_time(b: &[u8], instant: bool) -> bool {
    let Some(rest) = date(b) else { return false };
    if rest.is_empty() {
        // Only a full date may take a time; an instant must have one.
        return !instant;
    }
    if b.len() - rest.len() != 10 {
        return false;
    }
    rest.strip_prefix(b"T").and_then(time).is_some_and(zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::json::{Item, Span};

    fn s(p: Primitive, text: &str) -> Result<(), Wrong> {
        p.check(Item::String(Span::default()), text)
    }

    fn n(p: Primitive, text: &str) -> Result<(), Wrong> {
        p.check(Item::Number(Span::default()), text)
    }

    #[test]
    fn json_types_are_not_converted() {
        assert_eq!(s(Primitive::Boolean, "true"), Err(Wrong::JsonType));
        assert_eq!(Primitive::Boolean.check(Item::Bool(false), ""), Ok(()));
        assert_eq!(n(Primitive::String, "1"), Err(Wrong::JsonType));
        assert_eq!(s(Primitive::Integer, "1"), Err(Wrong::JsonType));
        assert_eq!(Primitive::Integer.check(Item::Bool(true), ""), Err(Wrong::JsonType));
        assert_eq!(Primitive::Code.check(Item::Null, ""), Err(Wrong::Null));
        assert_eq!(Primitive::String.check(Item::Object, ""), Err(Wrong::JsonType));
        for p in PRIMITIVES.map(|(_, p)| p) {
            if p.json_type() == "a JSON string" {
                assert_eq!(s(p, ""), Err(Wrong::EmptyString), "{p:?}");
            }
        }
    }

    #[test]
    fn numbers() {
        for (p, ok, bad) in [
            (Primitive::Integer, &["0", "-1", "2147483647", "-2147483648", "-0"][..], &["2147483648", "-2147483649", "1.0", "1e2", "99999999999999999999"][..]),
            (Primitive::UnsignedInt, &["0", "2147483647"], &["-1", "2147483648", "0.5"]),
            (Primitive::PositiveInt, &["1", "2147483647"], &["0", "-1", "1.0", "2147483648"]),
            (Primitive::Decimal, &["0", "-1.50", "12345678901234567890.1"], &["1e5", "1E-2", "-2.5e+3"]),
        ] {
            for t in ok {
                assert_eq!(n(p, t), Ok(()), "{p:?} {t}");
            }
            for t in bad {
                assert_eq!(n(p, t), Err(Wrong::Format), "{p:?} {t}");
            }
        }
    }

    #[test]
    fn string_forms() {
        use Primitive::*;
        for (p, ok, bad) in [
            (Id, &["a", "A-1.b", &"x".repeat(64)][..], &["a b", "a_b", &"x".repeat(65), "é"][..]),
            (Code, &["male", "a b", "a\tb", "a-long-code-of-more-than-16-bytes"], &[" a", "a ", "a  b", "a\n\nb", "a-long-code-of-more-than  16-bytes"]),
            (Uri, &["https://fhir.nhs.uk/Id/sds-user-id", "urn:uuid:1"], &["a b", "a\tb", "a\u{1}b", "https://fhir.nhs.uk/Id/sds user-id", "https://fhir.nhs.uk/Id/sds-user-id\n"]),
            (Oid, &["urn:oid:1.2.3", "urn:oid:2.16"], &["urn:oid:1", "urn:oid:3.1", "urn:oid:1.02", "urn:oid:1..2", "1.2.3"]),
            (Base64Binary, &["abcd", "ab/+", "ab==", "abcd efgh"], &["abc", "ab_d", "ab-d", "    "]),
            (String, &[" ", "x", "a\u{b}b"], &[]),
            (Markdown, &["*x*"], &[]),
            (Xhtml, &["<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>", " <div/>\n"], &["x", "<p>x</p>", "<div>x"]),
            (Date, &["1970", "1970-01", "1970-12-31", "2000-02-29", "2024-02-29", "1970-04-30", "1970-06-30", "1970-09-30", "1970-11-30", "1970-03-31"], &["1970-13-01", "1970-02-30", "2023-02-29", "1970-04-31", "1970-06-31", "1970-09-31", "1970-11-31", "1970-01-32", "1900-02-29", "1970-01-00", "0000", "197", "1970-1", "1970-01-01T00:00:00Z", "-1970"]),
            (DateTime, &["1970", "1970-01-01", "2017-01-01T00:00:00Z", "2017-01-01T23:59:60.123+14:00", "2017-01-01T00:00:00-13:59"],
                &["2017-01-01T00:00:00", "2017-01-01T24:00:00Z", "2017-01-01T00:00Z", "2017-01-01T00:00:00+14:01", "2017-01T00:00:00Z", "2017-01-01T00:00:00.Z", "2017-01-01 00:00:00Z"]),
            (Instant, &["2017-01-01T00:00:00Z", "2017-01-01T00:00:00.5+01:00"], &["2017-01-01", "2017", "2017-01-01T00:00:00"]),
            (Time, &["00:00:00", "23:59:59.9", "23:59:60"], &["24:00:00", "00:60:00", "00:00:61", "12:00", "12:00:00Z"]),
        ] {
            for t in ok {
                assert_eq!(s(p, t), Ok(()), "{p:?} {t:?}");
            }
            for t in bad {
                assert_eq!(s(p, t), Err(Wrong::Format), "{p:?} {t:?}");
            }
        }
    }
}
