//! A strict, allocation-light JSON parser for the JWT header and payload.
//!
//! Why not `serde_json::Value`: it keeps the last of two members with the same name, so
//! `{"requested_scope":"patient/*.read","requested_scope":"patient/*.write"}` would mean whatever
//! the parser in front of or behind us decides. Here every ambiguity is an error: duplicate
//! member names at any level (compared after unescaping), invalid UTF-8, lone surrogates, control
//! characters in strings, trailing bytes, and nesting deeper than the configured bound.
//!
//! The document is one flat vector of nodes in document order (one allocation); strings without
//! escapes borrow the input. A container's children follow it, each child's `end` pointing past
//! its own subtree, so walking children is a hop from sibling to sibling.

/// Why a text is not accepted as JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not UTF-8.
    Utf8,
    /// Not JSON (or not only JSON: trailing bytes).
    Syntax,
    /// Two members of one object have the same name.
    DuplicateMember,
    /// Nested deeper than allowed.
    TooDeep,
}

impl JsonError {
    pub fn describe(self) -> &'static str {
        match self {
            JsonError::Utf8 => "is not UTF-8",
            JsonError::Syntax => "is not valid JSON",
            JsonError::DuplicateMember => "has two members with the same name",
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

/// Where a string lives: `start..start + len` in the input, or in the document's buffer of
/// unescaped strings when `start` has [`UNESCAPED`] set. Offsets, not `Cow`s: a node is 24 bytes
/// and dropping a document is one deallocation (two when a string had escapes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

/// Flag bit of [`Span::start`]: the string is in [`Document::unescaped`].
const UNESCAPED: u32 = 1 << 31;
/// Inputs and unescaped buffers must stay below this so that offsets never reach the flag bit.
const MAX_OFFSET: usize = (UNESCAPED - 1) as usize;

const EMPTY: Span = Span { start: 0, len: 0 };

#[derive(Clone, Copy, Debug)]
struct Node {
    kind: Kind,
    /// Member name when this node is an object member's value.
    key: Span,
    /// String value (unescaped), number text, or "true"/"false".
    text: Span,
    /// Index one past this node's subtree.
    end: u32,
}

/// A parsed JSON document.
#[derive(Debug)]
pub struct Document<'a> {
    text: &'a str,
    /// The strings that had escapes, unescaped, one after the other (empty for most tokens).
    unescaped: String,
    nodes: Vec<Node>,
}

/// One value inside a [`Document`].
#[derive(Clone, Copy)]
pub struct Value<'d, 'a> {
    doc: &'d Document<'a>,
    at: usize,
}

impl<'a> Document<'a> {
    /// Parses `input`, refusing nesting deeper than `max_depth` (the top level is depth 1).
    pub fn parse(input: &'a [u8], max_depth: usize) -> Result<Document<'a>, JsonError> {
        let text = std::str::from_utf8(input).map_err(|_| JsonError::Utf8)?;
        if input.len() > MAX_OFFSET {
            return Err(JsonError::Syntax);
        }
        let mut p = Parser {
            text,
            bytes: input,
            pos: 0,
            // A rough size guess so that a normal token needs one allocation.
            nodes: Vec::with_capacity((input.len() / 16).clamp(8, 256)),
            unescaped: String::new(),
            max_depth,
        };
        p.skip_ws();
        p.value(EMPTY, 1)?;
        p.skip_ws();
        if p.pos != p.bytes.len() {
            return Err(JsonError::Syntax);
        }
        Ok(Document { text, unescaped: p.unescaped, nodes: p.nodes })
    }

    pub fn root<'d>(&'d self) -> Value<'d, 'a> {
        Value { doc: self, at: 0 }
    }

    fn str_of(&self, s: Span) -> &str {
        span_str(self.text, &self.unescaped, s)
    }
}

/// The text of `s`: in `text`, or in `unescaped` when flagged. An impossible span reads as ""
/// rather than panicking.
#[inline]
fn span_str<'s>(text: &'s str, unescaped: &'s str, s: Span) -> &'s str {
    let (base, start) = if s.start & UNESCAPED != 0 { (unescaped, (s.start & !UNESCAPED) as usize) } else { (text, s.start as usize) };
    match base.as_bytes().get(start..start + s.len as usize) {
        // SAFETY: spans are made only by the parser: in the (UTF-8) input, between the quotes of
        // a string or around a number or literal, so both ends are next to ASCII bytes; in
        // `unescaped`, from its length before to its length after whole `str`s were appended.
        // Either way both ends are character boundaries of a `str`, so the bytes are UTF-8.
        Some(b) => unsafe { std::str::from_utf8_unchecked(b) },
        None => "",
    }
}

impl<'d, 'a> Value<'d, 'a> {
    fn node(&self) -> &'d Node {
        &self.doc.nodes[self.at]
    }

    pub fn kind(&self) -> Kind {
        self.node().kind
    }

    /// The string, when this is a JSON string.
    pub fn as_str(&self) -> Option<&'d str> {
        let n = self.node();
        (n.kind == Kind::String).then(|| self.doc.str_of(n.text))
    }

    /// The number's text as written, when this is a JSON number.
    pub fn number_text(&self) -> Option<&'d str> {
        let n = self.node();
        (n.kind == Kind::Number).then(|| self.doc.str_of(n.text))
    }

    /// The value as an i64 when it is a JSON number written as an integer (no fraction, no
    /// exponent) that fits.
    pub fn as_i64(&self) -> Option<i64> {
        let t = self.number_text()?;
        if t.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            return None;
        }
        t.parse().ok()
    }

    /// Children of an array or object (empty for scalars); for objects, with their names.
    pub fn children(&self) -> Children<'d, 'a> {
        let n = self.node();
        let end = if matches!(n.kind, Kind::Array | Kind::Object) { n.end as usize } else { self.at + 1 };
        Children { doc: self.doc, next: self.at + 1, end }
    }

    /// Elements of an array, `None` when this is not an array.
    pub fn elements(&self) -> Option<impl Iterator<Item = Value<'d, 'a>>> {
        (self.kind() == Kind::Array).then(|| self.children().map(|(_, v)| v))
    }

    /// Members of an object, `None` when this is not an object.
    pub fn members(&self) -> Option<Children<'d, 'a>> {
        (self.kind() == Kind::Object).then(|| self.children())
    }

    /// The member `name` of an object (names are unique, the parser made sure).
    pub fn get(&self, name: &str) -> Option<Value<'d, 'a>> {
        let n = self.node();
        if n.kind != Kind::Object {
            return None;
        }
        let (doc, end) = (self.doc, n.end as usize);
        let mut at = self.at + 1;
        while at < end {
            let c = doc.nodes.get(at)?;
            // Lengths first: most names differ in length and need no text at all.
            if c.key.len as usize == name.len() && doc.str_of(c.key) == name {
                return Some(Value { doc, at });
            }
            at = c.end as usize;
        }
        None
    }
}

/// Iterator over a container's children: (member name or "", value).
pub struct Children<'d, 'a> {
    doc: &'d Document<'a>,
    next: usize,
    end: usize,
}

impl<'d, 'a> Iterator for Children<'d, 'a> {
    type Item = (&'d str, Value<'d, 'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let at = self.next;
        let n = self.doc.nodes.get(at)?;
        self.next = n.end as usize;
        Some((self.doc.str_of(n.key), Value { doc: self.doc, at }))
    }
}

/// Offset of the first byte that ends a plain string run: `"`, `\\` or a control byte. Eight bytes
/// at a time (SWAR), since strings are most of a token's bytes; the words may run past the string
/// (never past `bytes`), so a short string costs one word, not a byte loop.
fn string_run(bytes: &[u8]) -> Option<usize> {
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

/// A cheap digest of a member name for the duplicate check: equal names have equal digests, so
/// only names with equal digests are compared in full.
fn digest(s: &[u8]) -> u64 {
    let n = s.len();
    let word = |b: &[u8]| -> u64 {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    let (head, tail) = if n >= 8 { (word(&s[..8]), word(&s[n - 8..])) } else { (word(s), 0) };
    head ^ tail.rotate_left(29) ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    unescaped: String,
    max_depth: usize,
}

/// Objects with more members than this are checked for duplicates by sorting, not pairwise, so a
/// hostile object with thousands of members costs n log n, not n².
const PAIRWISE_DUPLICATE_CHECK_MAX: usize = 16;

impl<'a> Parser<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    #[inline]
    fn push(&mut self, kind: Kind, key: Span, text: Span) -> Result<usize, JsonError> {
        let at = self.nodes.len();
        if at >= u32::MAX as usize {
            return Err(JsonError::Syntax);
        }
        self.nodes.push(Node { kind, key, text, end: at as u32 + 1 });
        Ok(at)
    }

    fn value(&mut self, key: Span, depth: usize) -> Result<(), JsonError> {
        match self.peek() {
            Some(b'"') => {
                let s = self.string()?;
                self.push(Kind::String, key, s).map(drop)
            }
            Some(b'{') => self.object(key, depth),
            Some(b'[') => self.array(key, depth),
            Some(b't') => self.literal(b"true", Kind::Bool, key),
            Some(b'f') => self.literal(b"false", Kind::Bool, key),
            Some(b'n') => self.literal(b"null", Kind::Null, key),
            Some(b'-' | b'0'..=b'9') => self.number(key),
            _ => Err(JsonError::Syntax),
        }
    }

    fn literal(&mut self, word: &'static [u8], kind: Kind, key: Span) -> Result<(), JsonError> {
        if !self.bytes[self.pos..].starts_with(word) {
            return Err(JsonError::Syntax);
        }
        let text = Span { start: self.pos as u32, len: word.len() as u32 };
        self.pos += word.len();
        self.push(kind, key, text).map(drop)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self, key: Span) -> Result<(), JsonError> {
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
        let text = Span { start: start as u32, len: (self.pos - start) as u32 };
        self.push(Kind::Number, key, text).map(drop)
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
                return Ok(Span { start: start as u32, len: run as u32 });
            }
            b'\\' => {}
            _ => return Err(JsonError::Syntax),
        }
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

    /// The slow path of [`Parser::string`]: from `start` (the first content byte) up to and past
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

    fn enter(&self, depth: usize) -> Result<(), JsonError> {
        if depth > self.max_depth {
            Err(JsonError::TooDeep)
        } else {
            Ok(())
        }
    }

    fn close(&mut self, at: usize) {
        let end = self.nodes.len() as u32;
        self.nodes[at].end = end;
    }

    fn array(&mut self, key: Span, depth: usize) -> Result<(), JsonError> {
        self.enter(depth)?;
        let at = self.push(Kind::Array, key, EMPTY)?;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.close(at);
            return Ok(());
        }
        loop {
            self.value(EMPTY, depth + 1)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => {
                    self.pos += 1;
                    self.close(at);
                    return Ok(());
                }
                _ => return Err(JsonError::Syntax),
            }
        }
    }

    fn object(&mut self, key: Span, depth: usize) -> Result<(), JsonError> {
        self.enter(depth)?;
        let at = self.push(Kind::Object, key, EMPTY)?;
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.close(at);
            return Ok(());
        }
        // Digests of the first names, to find duplicates as the members arrive.
        let mut digests = [0u64; PAIRWISE_DUPLICATE_CHECK_MAX];
        let mut names = [EMPTY; PAIRWISE_DUPLICATE_CHECK_MAX];
        let mut members = 0usize;
        loop {
            if self.peek() != Some(b'"') {
                return Err(JsonError::Syntax);
            }
            let name = self.string()?;
            if members < PAIRWISE_DUPLICATE_CHECK_MAX {
                let text = span_str(self.text, &self.unescaped, name);
                let d = digest(text.as_bytes());
                for i in 0..members {
                    if digests[i] == d && span_str(self.text, &self.unescaped, names[i]) == text {
                        return Err(JsonError::DuplicateMember);
                    }
                }
                digests[members] = d;
                names[members] = name;
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(JsonError::Syntax);
            }
            self.pos += 1;
            self.skip_ws();
            self.value(name, depth + 1)?;
            members += 1;
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => {
                    self.pos += 1;
                    self.close(at);
                    return if members > PAIRWISE_DUPLICATE_CHECK_MAX { self.check_unique_names(at) } else { Ok(()) };
                }
                _ => return Err(JsonError::Syntax),
            }
        }
    }

    /// The duplicate check of a large object: all names sorted, neighbours compared.
    fn check_unique_names(&self, at: usize) -> Result<(), JsonError> {
        let mut all: Vec<&str> = Vec::new();
        let (mut next, end) = (at + 1, self.nodes[at].end as usize);
        while next < end {
            let n = &self.nodes[next];
            all.push(span_str(self.text, &self.unescaped, n.key));
            next = n.end as usize;
        }
        all.sort_unstable();
        if all.windows(2).any(|w| w[0] == w[1]) {
            return Err(JsonError::DuplicateMember);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Document<'_>, JsonError> {
        Document::parse(s.as_bytes(), 16)
    }

    #[test]
    fn walks_objects_and_arrays() {
        let d = parse(r#" {"a": [1, {"b": "x"}, true, null], "c": -1.5e3, "d": {}} "#).unwrap();
        let r = d.root();
        assert_eq!(r.kind(), Kind::Object);
        let a: Vec<_> = r.get("a").unwrap().elements().unwrap().collect();
        assert_eq!(a.len(), 4);
        assert_eq!(a[0].as_i64(), Some(1));
        assert_eq!(a[1].get("b").unwrap().as_str(), Some("x"));
        assert_eq!(a[2].kind(), Kind::Bool);
        assert_eq!(a[3].kind(), Kind::Null);
        assert_eq!(r.get("c").unwrap().number_text(), Some("-1.5e3"));
        assert_eq!(r.get("c").unwrap().as_i64(), None);
        assert_eq!(r.get("d").unwrap().members().unwrap().count(), 0);
        let names: Vec<_> = r.members().unwrap().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "c", "d"]);
    }

    #[test]
    fn unescapes_strings_and_borrows_plain_ones() {
        let text = r#"{"k":"a\"b\\c\/\n\u00e9\ud83d\ude00","p":"plain"}"#;
        let d = parse(text).unwrap();
        assert_eq!(d.root().get("k").unwrap().as_str(), Some("a\"b\\c/\né😀"));
        // The plain string is a span of the input; only the escaped one was copied.
        assert_eq!(d.nodes[2].text, Span { start: text.find("plain").unwrap() as u32, len: 5 });
        assert_eq!(d.unescaped, "a\"b\\c/\né😀");
    }

    #[test]
    fn refuses_duplicates_at_every_level_even_when_escaped() {
        assert_eq!(parse(r#"{"a":1,"a":2}"#).unwrap_err(), JsonError::DuplicateMember);
        assert_eq!(parse(r#"{"x":{"a":1,"\u0061":2}}"#).unwrap_err(), JsonError::DuplicateMember);
        assert_eq!(parse(r#"[{"b":[{"c":1,"c":1}]}]"#).unwrap_err(), JsonError::DuplicateMember);
        // Many members: the sorting path.
        let mut many = String::from("{");
        for i in 0..100 {
            many.push_str(&format!("\"m{i}\":0,"));
        }
        assert!(parse(&(many.clone() + "\"end\":0}")).is_ok());
        assert_eq!(parse(&(many + "\"m7\":0}")).unwrap_err(), JsonError::DuplicateMember);
        assert_eq!(parse(r#"{"\u0062":1,"\u0062":2}"#).unwrap_err(), JsonError::DuplicateMember);
        assert_eq!(parse(r#"{"x\n":1,"y":2,"x\u000a":2}"#).unwrap_err(), JsonError::DuplicateMember);
        assert!(parse(r#"{"x\n":1,"x\t":2,"x":3}"#).is_ok());
        let mut escaped = String::from("{");
        for i in 0..40 {
            escaped.push_str(&format!("\"\\u0061{i}\":0,"));
        }
        assert_eq!(parse(&(escaped + "\"a17\":0}")).unwrap_err(), JsonError::DuplicateMember);
        // Same name in different objects is fine.
        assert!(parse(r#"{"a":{"a":1},"b":{"a":2}}"#).is_ok());
    }

    #[test]
    fn refuses_what_is_not_strictly_json() {
        for bad in [
            "", "{", "{}x", "{} {}", "{'a':1}", r#"{"a":01}"#, r#"{"a":1.}"#, r#"{"a":.5}"#, r#"{"a":1e}"#,
            r#"{"a":+1}"#, r#"{"a":tru}"#, r#"{"a":1,}"#, "[1,]", r#"{"a" 1}"#, r#"{"a":"\x"}"#,
            "{\"a\":\"\u{1}\"}", "{\"a\":\"x\ny\"}", r#"{"a":"\ud800"}"#, r#"{"a":"\udc00"}"#,
            r#"{"a":"\ud800\u0041"}"#, r#"{"a":"\u12"}"#, "\u{feff}{}", "{\"a\":NaN}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Document::parse(b"{\"a\":\"\xff\"}", 16).unwrap_err(), JsonError::Utf8);
    }

    #[test]
    fn bounds_depth_without_recursing_past_it() {
        assert!(Document::parse(b"[[[]]]", 3).is_ok());
        assert_eq!(Document::parse(b"[[[[]]]]", 3).unwrap_err(), JsonError::TooDeep);
        let deep = "[".repeat(10_000);
        assert_eq!(Document::parse(deep.as_bytes(), 64).unwrap_err(), JsonError::TooDeep);
        let deep_obj = "{\"a\":".repeat(10_000);
        assert_eq!(Document::parse(deep_obj.as_bytes(), 16).unwrap_err(), JsonError::TooDeep);
    }

    #[test]
    fn string_run_finds_the_first_special_byte() {
        let base = b"abcdefghijklmnopqrstuvwxyz\xc3\xa9\xe2\x82\xac0123456789".to_vec();
        for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for at in 0..base.len() {
                let mut v = base.clone();
                v[at] = special;
                assert_eq!(string_run(&v), Some(at), "{special} at {at}");
            }
        }
        assert_eq!(string_run(&base), None);
        assert_eq!(string_run(b""), None);
    }

    #[test]
    fn integers_are_integers() {
        let d = parse(r#"[1503995882, -3, 1.0, 1e3, 99999999999999999999]"#).unwrap();
        let v: Vec<_> = d.root().elements().unwrap().map(|v| v.as_i64()).collect();
        assert_eq!(v, [Some(1503995882), Some(-3), None, None, None]);
    }
}
