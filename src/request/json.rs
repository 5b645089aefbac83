//! A strict JSON reader for the JWT header and payload: a pull reader, so that the claims are
//! read in one pass, straight into what the checks need, with no document built on the way.
//!
//! Why not `serde_json`: it keeps the last of two members with the same name, so
//! `{"requested_scope":"patient/*.read","requested_scope":"patient/*.write"}` would mean whatever
//! the parser in front of or behind us decides. Here every ambiguity is an error: duplicate
//! member names at any level (compared after unescaping), names that differ only in ASCII case
//! (`requested_scope` and `Requested_Scope`: a consumer or binder that ignores case would read
//! either), invalid UTF-8, lone surrogates, control
//! characters in strings, trailing bytes, and nesting deeper than the configured bound. The
//! reader checks all of that for every value, read or skipped, so a caller cannot forget it.
//!
//! Strings without escapes are spans of the input; strings with escapes are unescaped into one
//! buffer of the reader. A [`Span`] is resolved to text by [`Reader::str`] while reading and by
//! [`Strings::get`] after the reader has finished (see [`read`]).

use std::mem::MaybeUninit;

/// Why a text is not accepted as JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not UTF-8.
    Utf8,
    /// Not JSON (or not only JSON: trailing bytes).
    Syntax,
    /// Two members of one object have the same name.
    DuplicateMember,
    /// Two members of one object have names that differ only in ASCII case (A-Z, a-z; other
    /// letters are not folded: no Unicode case mapping is implied).
    CaseTwinMember,
    /// Nested deeper than allowed.
    TooDeep,
}

impl JsonError {
    pub fn describe(self) -> &'static str {
        match self {
            JsonError::Utf8 => "is not UTF-8",
            JsonError::Syntax => "is not valid JSON",
            JsonError::DuplicateMember => "has two members with the same name",
            JsonError::CaseTwinMember => "has two members whose names differ only in case",
            JsonError::TooDeep => "is nested too deeply",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

/// Where a string (or a number's text) lives: `start..start + len` in the input, or in the
/// reader's buffer of unescaped strings when `start` has the `UNESCAPED` flag set. Offsets, not `Cow`s:
/// they stay valid while the buffer grows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
}

/// Flag bit of [`Span::start`]: the string is in the buffer of unescaped strings.
const UNESCAPED: u32 = 1 << 31;
/// Inputs and unescaped buffers must stay below this so that offsets never reach the flag bit.
const MAX_OFFSET: usize = (UNESCAPED - 1) as usize;

/// A value, read up to its first byte (containers) or whole (scalars).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    Null,
    Bool(bool),
    /// The number's text as written.
    Number(Span),
    String(Span),
    /// `{` was read: the members follow, read them with [`Reader::members`].
    Object,
    /// `[` was read: the elements follow, read them with [`Reader::elements`].
    Array,
}

impl Item {
    pub fn kind(self) -> Kind {
        match self {
            Item::Null => Kind::Null,
            Item::Bool(_) => Kind::Bool,
            Item::Number(_) => Kind::Number,
            Item::String(_) => Kind::String,
            Item::Object => Kind::Object,
            Item::Array => Kind::Array,
        }
    }
}

/// The strings of a document read to its end: resolves the spans the reader handed out.
#[derive(Debug, Default)]
pub struct Strings<'a> {
    text: &'a str,
    unescaped: String,
}

impl Strings<'_> {
    pub fn get(&self, s: Span) -> &str {
        span_str(self.text, &self.unescaped, s)
    }
}

/// The text of `s`: in `text`, or in `unescaped` when flagged. An impossible span reads as ""
/// rather than panicking.
#[inline(always)]
fn span_str<'s>(text: &'s str, unescaped: &'s str, s: Span) -> &'s str {
    // Plain strings (nearly all of a token's) take the short path; escaped ones are out of line.
    if s.start & UNESCAPED != 0 {
        return unescaped_str(unescaped, s);
    }
    bytes_str(text, s.start as usize, s.len as usize)
}

#[cold]
#[inline(never)]
fn unescaped_str(unescaped: &str, s: Span) -> &str {
    bytes_str(unescaped, (s.start & !UNESCAPED) as usize, s.len as usize)
}

#[inline(always)]
fn bytes_str(base: &str, start: usize, len: usize) -> &str {
    match base.as_bytes().get(start..start + len) {
        // SAFETY: spans are made only by the reader: in the (UTF-8) input, between the quotes of
        // a string or around a number or literal, so both ends are next to ASCII bytes; in
        // `unescaped`, from its length before to its length after whole `str`s were appended.
        // Either way both ends are character boundaries of a `str`, so the bytes are UTF-8.
        Some(b) => unsafe { std::str::from_utf8_unchecked(b) },
        None => "",
    }
}

/// The number written `text` (as the reader checked it: JSON number syntax) when it is an integer
/// (no fraction, no exponent) that fits an i64.
pub fn integer(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    if negative {
        0i64.checked_sub_unsigned(v)
    } else {
        i64::try_from(v).ok()
    }
}

/// Reads `input` as one JSON value: `read` gets the reader at the value's first byte and must
/// read the value whole; then only whitespace may follow.
pub fn read<'a, T>(
    input: &'a [u8],
    max_depth: usize,
    read: impl FnOnce(&mut Reader<'a>) -> Result<T, JsonError>,
) -> Result<(T, Strings<'a>), JsonError> {
    let mut r = Reader::new(input, max_depth)?;
    r.skip_ws();
    let value = read(&mut r)?;
    Ok((value, r.finish()?))
}

/// Checks that `input` is one strict JSON value; returns its kind.
pub fn validate(input: &[u8], max_depth: usize) -> Result<Kind, JsonError> {
    read(input, max_depth, |r| r.skip(1)).map(|(kind, _)| kind)
}

/// Offset of the first byte that ends a plain string run: `"`, `\\` or a control byte. Strings
/// are most of a token's bytes, so the scan reads 16 bytes at a time (SSE2, which every x86_64
/// has) or 8 (SWAR) elsewhere and for the last bytes; the blocks may run past the string (never
/// past `bytes`), so a short string costs one block, not a byte loop.
#[inline]
fn string_run(bytes: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        let mut offset = 0;
        while let Some(block) = bytes.get(offset..offset + 16) {
            // SAFETY: `block` is 16 readable bytes (loadu has no alignment need); SSE2 is part of
            // the x86_64 baseline, so the intrinsics exist on every CPU this code runs on.
            let special = unsafe {
                let x = _mm_loadu_si128(block.as_ptr().cast());
                let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
                // Unsigned x < 0x20 exactly when min(x, 0x1f) == x.
                let control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
            };
            if special != 0 {
                return Some(offset + special.trailing_zeros() as usize);
            }
            offset += 16;
        }
        string_run_swar(&bytes[offset..]).map(|i| offset + i)
    }
    #[cfg(not(target_arch = "x86_64"))]
    string_run_swar(bytes)
}

/// `bytes.is_ascii()`, 16 bytes at a time on x86_64 (SSE2) with the last block overlapping, so
/// there is no byte-by-byte tail (std's tail loop was a third of the cost for a token).
#[inline]
fn all_ascii(bytes: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some(high) = crate::blocks::or_over_blocks(bytes, |x| unsafe { std::arch::x86_64::_mm_movemask_epi8(x) }) {
        return high == 0;
    }
    bytes.is_ascii()
}

/// [`string_run`] eight bytes at a time in a u64.
fn string_run_swar(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut offset = 0;
    while let Some(c) = bytes.get(offset..offset + 8) {
        let x = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let zero_in = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        // Flags every byte equal to '"' or '\\' or below 0x20 (never misses one; may also flag
        // bytes above a flagged one, which the lowest-bit rule below ignores).
        let hit = zero_in(x ^ (ONES * b'"' as u64)) | zero_in(x ^ (ONES * b'\\' as u64)) | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if hit != 0 {
            // Borrows only spread upwards, so the lowest flagged byte is the first special one.
            return Some(offset + (hit.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let special = |b: &u8| *b == b'"' || *b == b'\\' || *b < 0x20;
    bytes.get(offset..)?.iter().position(special).map(|i| offset + i)
}

/// A cheap digest of a member name for the duplicate check: names equal ignoring ASCII case have
/// equal digests, so only names with equal digests are compared in full. Length and three bytes
/// with bit 0x20 set (what tells an ASCII capital from its small letter; setting it in other
/// bytes too only merges digests, never splits them): no copy, and the names of one object rarely
/// share all four. The FHIR validator looks member names up by it too.
#[inline]
pub fn digest(s: &[u8]) -> u64 {
    const CASE_BITS: u64 = 0x20 << 32 | 0x20 << 40 | 0x20 << 48;
    CASE_BITS
        | match s {
            [] => 0,
            [first, .., last] => s.len() as u64 | (*first as u64) << 32 | (*last as u64) << 40 | (s[s.len() / 2] as u64) << 48,
            [only] => 1 | (*only as u64) << 32,
        }
}

/// The error for two names of one object that are equal ignoring ASCII case, if they are.
/// Out of line: the digests of an object's names rarely match, and the hot loop stays small.
#[cold]
#[inline(never)]
fn clash(a: &[u8], b: &[u8]) -> Option<JsonError> {
    if a == b {
        Some(JsonError::DuplicateMember)
    } else if a.eq_ignore_ascii_case(b) {
        Some(JsonError::CaseTwinMember)
    } else {
        None
    }
}

/// Orders names as their ASCII-lowercased bytes: names equal ignoring ASCII case sort next to
/// each other.
fn cmp_ignoring_ascii_case(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.iter().map(u8::to_ascii_lowercase).cmp(b.iter().map(u8::to_ascii_lowercase))
}

/// `a == b`, for the short member names and values the claims are matched by: a few word loads
/// instead of a call to `memcmp` (which is most of the cost of comparing a 3 to 16 byte name).
#[inline]
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // Two loads that overlap when n is not a multiple of the word: every byte is compared.
    let u32_at = |s: &[u8], i: usize| s[i..i + 4].try_into().map_or(0, u32::from_le_bytes);
    let u64_at = |s: &[u8], i: usize| s[i..i + 8].try_into().map_or(0, u64::from_le_bytes);
    match n {
        0..=3 => a == b,
        4..=8 => u32_at(a, 0) == u32_at(b, 0) && u32_at(a, n - 4) == u32_at(b, n - 4),
        9..=16 => u64_at(a, 0) == u64_at(b, 0) && u64_at(a, n - 8) == u64_at(b, n - 8),
        _ => a == b,
    }
}

/// Objects with more members than this are checked for duplicates by sorting, not pairwise, so a
/// hostile object with thousands of members costs n log n, not n².
const PAIRWISE_DUPLICATE_CHECK_MAX: usize = 16;

/// The pull reader. Containers are read with [`Reader::members`] and [`Reader::elements`], whose
/// callbacks must read each value whole ([`Reader::item`] and what follows it, or
/// [`Reader::skip`]); `depth` is the nesting of the value about to be read, the top level is 1.
pub struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    unescaped: String,
    max_depth: usize,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8], max_depth: usize) -> Result<Reader<'a>, JsonError> {
        if input.len() > MAX_OFFSET {
            return Err(JsonError::Syntax);
        }
        // Tokens are ASCII: the word-at-a-time check settles them without decoding.
        let text = if all_ascii(input) {
            // SAFETY: ASCII is UTF-8.
            unsafe { std::str::from_utf8_unchecked(input) }
        } else {
            std::str::from_utf8(input).map_err(|_| JsonError::Utf8)?
        };
        Ok(Reader { text, bytes: input, pos: 0, unescaped: String::new(), max_depth })
    }

    /// The text of a span handed out by this reader.
    #[inline]
    pub fn str(&self, s: Span) -> &str {
        span_str(self.text, &self.unescaped, s)
    }

    /// After the top-level value: only whitespace may follow.
    fn finish(mut self) -> Result<Strings<'a>, JsonError> {
        self.skip_ws();
        if self.pos != self.bytes.len() {
            return Err(JsonError::Syntax);
        }
        Ok(Strings { text: self.text, unescaped: self.unescaped })
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        // Tokens are compact JSON: the next byte is almost never whitespace, one compare says so.
        if self.peek().is_none_or(|b| b > b' ') {
            return;
        }
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Reads the value at nesting `depth`: scalars whole, containers up to their opening bracket.
    #[inline(always)]
    pub fn item(&mut self, depth: usize) -> Result<Item, JsonError> {
        match self.peek() {
            Some(b'"') => self.string().map(Item::String),
            Some(open @ (b'{' | b'[')) => {
                if depth > self.max_depth {
                    return Err(JsonError::TooDeep);
                }
                self.pos += 1;
                Ok(if open == b'{' { Item::Object } else { Item::Array })
            }
            Some(b't') => self.literal(b"true").map(|_| Item::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|_| Item::Bool(false)),
            Some(b'n') => self.literal(b"null").map(|_| Item::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Item::Number),
            _ => Err(JsonError::Syntax),
        }
    }

    /// Reads the value at nesting `depth` whole, keeping only its kind.
    pub fn skip(&mut self, depth: usize) -> Result<Kind, JsonError> {
        let item = self.item(depth)?;
        self.skip_rest(item, depth)?;
        Ok(item.kind())
    }

    /// Reads the rest of a value whose `item` was read at `depth` (nothing for scalars).
    #[inline]
    pub fn skip_rest(&mut self, item: Item, depth: usize) -> Result<(), JsonError> {
        match item {
            Item::Object => self.members(|r, _| r.skip(depth + 1).map(drop)),
            Item::Array => self.elements(|r| r.skip(depth + 1).map(drop)),
            _ => Ok(()),
        }
    }

    /// The members of an object whose `{` was read: `member(reader, name)` for each, which must
    /// read the value whole. Duplicate names, and names equal ignoring ASCII case, are refused
    /// before the callback sees the second (up to the pairwise bound; past it, at the object's end,
    /// before the object counts as read).
    #[inline]
    pub fn members(&mut self, mut member: impl FnMut(&mut Reader<'a>, Span) -> Result<(), JsonError>) -> Result<(), JsonError> {
        self.members_digested(|r, name, _| member(r, name))
    }

    /// [`Reader::members`], the callback also given the name's [`digest`] (computed for the
    /// duplicate check anyway), for a caller that looks the name up by it.
    pub fn members_digested(&mut self, mut member: impl FnMut(&mut Reader<'a>, Span, u64) -> Result<(), JsonError>) -> Result<(), JsonError> {
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        // Digests of the first names, to find duplicates as the members arrive; every name of a
        // larger object, to sort once at its end.
        // Not zeroed (256 bytes per object, most of which has a handful of members): only the
        // first `count` entries are ever read, and each was written before `count` passed it.
        let mut digests = [MaybeUninit::<u64>::uninit(); PAIRWISE_DUPLICATE_CHECK_MAX];
        let mut names = [MaybeUninit::<Span>::uninit(); PAIRWISE_DUPLICATE_CHECK_MAX];
        let mut many: Vec<Span> = Vec::new();
        let mut count = 0usize;
        loop {
            if self.peek() != Some(b'"') {
                return Err(JsonError::Syntax);
            }
            let name = self.string()?;
            let text = self.str(name);
            let d = digest(text.as_bytes());
            if count < PAIRWISE_DUPLICATE_CHECK_MAX {
                for i in 0..count {
                    // SAFETY: i < count, and entry count was written below before count grew.
                    if unsafe { digests[i].assume_init() } == d {
                        // SAFETY: as above.
                        if let Some(e) = clash(self.str(unsafe { names[i].assume_init() }).as_bytes(), text.as_bytes()) {
                            return Err(e);
                        }
                    }
                }
                digests[count].write(d);
                names[count].write(name);
            } else {
                if many.is_empty() {
                    // SAFETY: count == PAIRWISE_DUPLICATE_CHECK_MAX here: every entry was written.
                    many.extend(names.iter().map(|n| unsafe { n.assume_init() }));
                }
                many.push(name);
            }
            count += 1;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(JsonError::Syntax);
            }
            self.pos += 1;
            self.skip_ws();
            member(self, name, d)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    // Up to the pairwise bound every name was checked as it came.
                    return if many.is_empty() { Ok(()) } else { self.check_unique(&mut many) };
                }
                _ => return Err(JsonError::Syntax),
            }
        }
    }

    /// The elements of an array whose `[` was read: `element(reader)` for each, which must read
    /// the value whole.
    pub fn elements(&mut self, mut element: impl FnMut(&mut Reader<'a>) -> Result<(), JsonError>) -> Result<(), JsonError> {
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            element(self)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(JsonError::Syntax),
            }
        }
    }

    /// The duplicate check of a large object: all names sorted ignoring ASCII case, neighbours
    /// compared.
    #[cold]
    #[inline(never)]
    fn check_unique(&self, names: &mut [Span]) -> Result<(), JsonError> {
        let mut all: Vec<&[u8]> = names.iter().map(|&s| self.str(s).as_bytes()).collect();
        all.sort_unstable_by(|a, b| cmp_ignoring_ascii_case(a, b));
        match all.windows(2).find_map(|w| clash(w[0], w[1])) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), JsonError> {
        if !self.bytes[self.pos..].starts_with(word) {
            return Err(JsonError::Syntax);
        }
        self.pos += word.len();
        Ok(())
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Span, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(JsonError::Syntax),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(JsonError::Syntax);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(JsonError::Syntax);
            }
        }
        Ok(Span { start: start as u32, len: (self.pos - start) as u32 })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let b = self.peek().ok_or(JsonError::Syntax)?;
            let d = (b as char).to_digit(16).ok_or(JsonError::Syntax)?;
            v = v * 16 + d;
            self.pos += 1;
        }
        Ok(v)
    }

    /// A string starting at the opening quote: its span in the input when it has no escapes,
    /// else unescaped into `self.unescaped`.
    #[inline(always)]
    fn string(&mut self) -> Result<Span, JsonError> {
        self.pos += 1;
        let start = self.pos;
        // Fast path: scan to the closing quote in one tight loop; the input is known to be UTF-8.
        let run = string_run(self.bytes.get(start..).unwrap_or(&[])).ok_or(JsonError::Syntax)?;
        self.pos = start + run;
        match self.bytes[self.pos] {
            b'"' => {
                self.pos += 1;
                // Both ends are next to an ASCII quote: character boundaries.
                Ok(Span { start: start as u32, len: run as u32 })
            }
            b'\\' => self.escaped_string(start),
            _ => Err(JsonError::Syntax),
        }
    }

    /// [`Reader::string`] from its first escape on (rare: tokens are plain ASCII).
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, start: usize) -> Result<Span, JsonError> {
        let out_start = self.unescaped.len();
        let mut out = std::mem::take(&mut self.unescaped);
        let r = self.unescape(start, &mut out);
        self.unescaped = out;
        r?;
        if self.unescaped.len() > MAX_OFFSET {
            return Err(JsonError::Syntax);
        }
        Ok(Span { start: out_start as u32 | UNESCAPED, len: (self.unescaped.len() - out_start) as u32 })
    }

    /// The slow path of [`Reader::string`]: from `start` (the first content byte) up to and past
    /// the closing quote, appending the unescaped text to `out`. `self.pos` is at the first escape.
    fn unescape(&mut self, start: usize, out: &mut String) -> Result<(), JsonError> {
        out.push_str(self.text.get(start..self.pos).ok_or(JsonError::Syntax)?);
        loop {
            let b = self.peek().ok_or(JsonError::Syntax)?;
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.pos += 1;
                    let e = self.peek().ok_or(JsonError::Syntax)?;
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi) {
                                // A high surrogate must be followed by an escaped low one.
                                if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(JsonError::Syntax);
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(JsonError::Syntax);
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            // Lone low surrogates are not characters: from_u32 refuses them.
                            out.push(char::from_u32(c).ok_or(JsonError::Syntax)?);
                        }
                        _ => return Err(JsonError::Syntax),
                    }
                }
                b if b < 0x20 => return Err(JsonError::Syntax),
                _ => {
                    // Copy the run of plain characters up to the next quote or escape.
                    let run_start = self.pos;
                    let run = string_run(&self.bytes[run_start..]).ok_or(JsonError::Syntax)?;
                    self.pos += run;
                    out.push_str(self.text.get(run_start..self.pos).ok_or(JsonError::Syntax)?);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};

    /// The value as serde_json sees it, built through the reader (strings as unescaped).
    fn tree(r: &mut Reader<'_>, depth: usize) -> Result<Value, JsonError> {
        Ok(match r.item(depth)? {
            Item::Null => Value::Null,
            Item::Bool(b) => Value::Bool(b),
            Item::Number(n) => serde_json::from_str(r.str(n)).unwrap(),
            Item::String(s) => Value::String(r.str(s).to_owned()),
            Item::Object => {
                let mut m = Map::new();
                r.members(|r, name| {
                    let name = r.str(name).to_owned();
                    m.insert(name, tree(r, depth + 1)?);
                    Ok(())
                })?;
                Value::Object(m)
            }
            Item::Array => {
                let mut v = Vec::new();
                r.elements(|r| Ok(v.push(tree(r, depth + 1)?)))?;
                Value::Array(v)
            }
        })
    }

    fn parse(s: &str) -> Result<Value, JsonError> {
        read(s.as_bytes(), 16, |r| tree(r, 1)).map(|(v, _)| v)
    }

    #[test]
    fn reads_objects_and_arrays() {
        let text = r#" {"a": [1, {"b": "x"}, true, null], "c": -1.5e3, "d": {}, "e": false} "#;
        let v = parse(text).unwrap();
        assert_eq!(v, serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(validate(text.as_bytes(), 16), Ok(Kind::Object));
        assert_eq!(validate(b"[]", 16), Ok(Kind::Array));
        assert_eq!(validate(b" \"s\" ", 16), Ok(Kind::String));
    }

    #[test]
    fn unescapes_strings_and_borrows_plain_ones() {
        let text = r#"{"k":"a\"b\\c\/\n\u00e9\ud83d\ude00","p":"plain"}"#;
        let (spans, strings) = read(text.as_bytes(), 16, |r| {
            let mut spans = Vec::new();
            assert_eq!(r.item(1)?, Item::Object);
            r.members(|r, _| {
                let Item::String(s) = r.item(2)? else { panic!("not a string") };
                spans.push(s);
                Ok(())
            })?;
            Ok(spans)
        })
        .unwrap();
        assert_eq!(strings.get(spans[0]), "a\"b\\c/\né😀");
        // The plain string is a span of the input; only the escaped one was copied.
        assert_eq!(spans[1], Span { start: text.find("plain").unwrap() as u32, len: 5 });
        assert_eq!(strings.unescaped, "a\"b\\c/\né😀");
        assert_eq!(strings.get(Span { start: 1000, len: 3 }), "");
    }

    #[test]
    fn refuses_duplicates_at_every_level_even_when_escaped() {
        let v = |s: &str| validate(s.as_bytes(), 16);
        assert_eq!(v(r#"{"a":1,"a":2}"#).unwrap_err(), JsonError::DuplicateMember);
        assert_eq!(v(r#"{"x":{"a":1,"\u0061":2}}"#).unwrap_err(), JsonError::DuplicateMember);
        assert_eq!(v(r#"[{"b":[{"c":1,"c":1}]}]"#).unwrap_err(), JsonError::DuplicateMember);
        // Many members: the sorting path.
        let mut many = String::from("{");
        for i in 0..100 {
            many.push_str(&format!("\"m{i}\":0,"));
        }
        assert!(v(&(many.clone() + "\"end\":0}")).is_ok());
        assert_eq!(v(&(many.clone() + "\"m7\":0}")).unwrap_err(), JsonError::DuplicateMember);
        assert_eq!(v(&(many + "\"m99\":0}")).unwrap_err(), JsonError::DuplicateMember);
        assert_eq!(v(r#"{"\u0062":1,"\u0062":2}"#).unwrap_err(), JsonError::DuplicateMember);
        assert_eq!(v(r#"{"x\n":1,"y":2,"x\u000a":2}"#).unwrap_err(), JsonError::DuplicateMember);
        assert!(v(r#"{"x\n":1,"x\t":2,"x":3}"#).is_ok());
        let mut escaped = String::from("{");
        for i in 0..40 {
            escaped.push_str(&format!("\"\\u0061{i}\":0,"));
        }
        assert_eq!(v(&(escaped + "\"a17\":0}")).unwrap_err(), JsonError::DuplicateMember);
        // Exactly at the pairwise bound, and one past it, the duplicate being the first name.
        for n in [PAIRWISE_DUPLICATE_CHECK_MAX - 1, PAIRWISE_DUPLICATE_CHECK_MAX] {
            let mut o = String::from("{");
            for i in 0..n {
                o.push_str(&format!("\"n{i}\":0,"));
            }
            assert_eq!(v(&(o + "\"n0\":1}")).unwrap_err(), JsonError::DuplicateMember, "{n}");
        }
        // Same name in different objects is fine.
        assert!(v(r#"{"a":{"a":1},"b":{"a":2}}"#).is_ok());
    }

    #[test]
    fn refuses_names_that_differ_only_in_ascii_case_at_every_level() {
        let v = |s: &str| validate(s.as_bytes(), 16);
        let twin = Err(JsonError::CaseTwinMember);
        assert_eq!(v(r#"{"requested_scope":"patient/*.read","Requested_Scope":"patient/*.write"}"#), twin);
        assert_eq!(v(r#"{"REQUESTED_SCOPE":"patient/*.write","requested_scope":"patient/*.read"}"#), twin);
        assert_eq!(v(r#"{"a":[{"name":[{"family":"A","given":["B"],"Family":"C"}]}]}"#), twin);
        // Compared after unescaping, as duplicates are: \u0052 is R, \u0072 is r.
        assert_eq!(v(r#"{"requested_scope":1,"\u0052equested_scope":2}"#), twin);
        assert_eq!(v(r#"{"\u0072equested_scope":1,"requested_scope":2}"#), Err(JsonError::DuplicateMember));
        // Case twins in the sorting path, the twin being the first or the last name.
        let mut many = String::from("{");
        for i in 0..100 {
            many.push_str(&format!("\"m{i}\":0,"));
        }
        assert_eq!(v(&(many.clone() + "\"M0\":0}")), twin);
        assert_eq!(v(&(many.clone() + "\"M99\":0}")), twin);
        assert_eq!(v(&(many.clone() + "\"m99\":0}")), Err(JsonError::DuplicateMember));
        assert!(v(&(many + "\"M100\":0}")).is_ok());
        // At the pairwise bound and one past it.
        for n in [PAIRWISE_DUPLICATE_CHECK_MAX - 1, PAIRWISE_DUPLICATE_CHECK_MAX] {
            let mut o = String::from("{");
            for i in 0..n {
                o.push_str(&format!("\"n{i}\":0,"));
            }
            assert_eq!(v(&(o + "\"N0\":1}")), twin, "{n}");
        }
        // Only ASCII letters fold: not Unicode case (Kelvin sign, sharp s, accented and Turkish
        // letters), not the other ASCII bytes that differ from each other in bit 0x20.
        for ok in [
            r#"{"k":1,"\u212a":2}"#, r#"{"K":1,"\u212a":2}"#, r#"{"\u00df":1,"SS":2}"#, r#"{"\u00e9":1,"\u00c9":2}"#,
            r#"{"i":1,"\u0130":2}"#, r#"{"@":1,"`":2}"#, r#"{"[x]":1,"{x}":2}"#, r#"{"_":1,"\u007f":2}"#,
            r#"{"1":1,"\u0011":2}"#, r#"{"a":1,"A ":2}"#, r#"{"a":{"A":1},"A_":{"a":2}}"#,
        ] {
            assert!(v(ok).is_ok(), "{ok}");
        }
        assert_eq!(v(r#"{"ss":1,"SS":2}"#), twin);
    }

    #[test]
    fn case_twins_are_exactly_the_ascii_letter_pairs() {
        // Every pair of distinct ASCII bytes, at the first, middle and last position of a name, in
        // the pairwise path and (17 members) in the sorting path.
        let filler: String = (0..PAIRWISE_DUPLICATE_CHECK_MAX).map(|i| format!("\"f{i}\":0,")).collect();
        for a in 0..128u8 {
            for b in (0..128u8).filter(|&b| b != a) {
                let twins = a.is_ascii_alphabetic() && a.eq_ignore_ascii_case(&b);
                let name = |c: u8, at: usize| {
                    let escaped = format!("\\u{c:04x}");
                    match at {
                        0 => format!("{escaped}yz"),
                        1 => format!("x{escaped}z"),
                        _ => format!("xy{escaped}"),
                    }
                };
                for at in 0..3 {
                    for prefix in ["", filler.as_str()] {
                        let o = format!("{{{prefix}\"{}\":0,\"{}\":0}}", name(a, at), name(b, at));
                        let want = if twins { Err(JsonError::CaseTwinMember) } else { Ok(Kind::Object) };
                        assert_eq!(validate(o.as_bytes(), 4), want, "{o}");
                    }
                }
            }
        }
    }

    #[test]
    fn refuses_what_is_not_strictly_json() {
        for bad in [
            "", "{", "{}x", "{} {}", "{'a':1}", r#"{"a":01}"#, r#"{"a":1.}"#, r#"{"a":.5}"#, r#"{"a":1e}"#,
            r#"{"a":+1}"#, r#"{"a":tru}"#, r#"{"a":1,}"#, "[1,]", r#"{"a" 1}"#, r#"{"a":"\x"}"#,
            "{\"a\":\"\u{1}\"}", "{\"a\":\"x\ny\"}", r#"{"a":"\ud800"}"#, r#"{"a":"\udc00"}"#,
            r#"{"a":"\ud800\u0041"}"#, r#"{"a":"\u12"}"#, "\u{feff}{}", "{\"a\":NaN}", "[1 2]", "{\"a\":1 \"b\":2}",
            "{,}", "[,1]", "{\"a\"}", "\"unterminated",
        ] {
            assert!(validate(bad.as_bytes(), 16).is_err(), "{bad:?} accepted");
            assert!(parse(bad).is_err(), "{bad:?} read");
        }
        assert_eq!(validate(b"{\"a\":\"\xff\"}", 16).unwrap_err(), JsonError::Utf8);
        assert_eq!(validate(b"{\"a\":\"\xc3\xa9\"}", 16), Ok(Kind::Object));
    }

    #[test]
    fn bounds_depth_without_recursing_past_it() {
        assert!(validate(b"[[[]]]", 3).is_ok());
        assert_eq!(validate(b"[[[[]]]]", 3).unwrap_err(), JsonError::TooDeep);
        let deep = "[".repeat(10_000);
        assert_eq!(validate(deep.as_bytes(), 64).unwrap_err(), JsonError::TooDeep);
        let deep_obj = "{\"a\":".repeat(10_000);
        assert_eq!(validate(deep_obj.as_bytes(), 16).unwrap_err(), JsonError::TooDeep);
    }

    #[test]
    fn string_run_finds_the_first_special_byte() {
        let base = b"abcdefghijklmnopqrstuvwxyz\xc3\xa9\xe2\x82\xac0123456789 !#[]~\x7f\x80\xff".to_vec();
        for run in [string_run, string_run_swar] {
            for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                for at in 0..base.len() {
                    let mut v = base.clone();
                    v[at] = special;
                    assert_eq!(run(&v), Some(at), "{special} at {at}");
                    // A second special byte later changes nothing; every suffix length is seen.
                    v.push(b'"');
                    assert_eq!(run(&v), Some(at), "{special} at {at}, quote after");
                    assert_eq!(run(&v[at..]), Some(0));
                }
            }
            for len in 0..=base.len() {
                assert_eq!(run(&base[..len]), None, "{len}");
            }
        }
        // Every byte value, against the definition.
        for b in 0..=255u8 {
            let mut v = vec![b'a'; 40];
            v[37] = b;
            let expected = (b == b'"' || b == b'\\' || b < 0x20).then_some(37);
            assert_eq!(string_run(&v), expected, "{b}");
            assert_eq!(string_run(&v[30..]), expected.map(|i| i - 30), "{b}");
        }
    }

    #[test]
    fn all_ascii_is_is_ascii() {
        for len in 0..80 {
            let v = vec![b'a'; len];
            assert!(all_ascii(&v));
            for at in 0..len {
                for b in [0x80u8, 0xff, 0xc3] {
                    let mut w = v.clone();
                    w[at] = b;
                    assert!(!all_ascii(&w), "{len} {at} {b}");
                }
            }
        }
    }

    #[test]
    fn same_is_equality() {
        let words = ["", "a", "ab", "abc", "abcd", "abcde", "system", "value", "version", "resourceType", "iss", "iat",
            "sixteen_bytes_xy", "seventeen_bytes_x", "requesting_organization", "requesting_practitioner"];
        for a in words {
            for b in words {
                assert_eq!(same(a, b), a == b, "{a} {b}");
            }
            // One byte changed anywhere is seen.
            for i in 0..a.len() {
                let mut c = a.as_bytes().to_vec();
                c[i] ^= 0x20;
                assert!(!same(a, std::str::from_utf8(&c).unwrap()), "{a} at {i}");
            }
        }
    }

    #[test]
    fn integers_are_integers() {
        for (text, v) in [
            ("1503995882", Some(1503995882)), ("-3", Some(-3)), ("0", Some(0)), ("-0", Some(0)), ("1.0", None),
            ("1e3", None), ("99999999999999999999", None), ("9223372036854775807", Some(i64::MAX)),
            ("9223372036854775808", None), ("-9223372036854775808", Some(i64::MIN)), ("-9223372036854775809", None),
            ("-", None), ("", None),
        ] {
            assert_eq!(integer(text), v, "{text}");
        }
    }
}
