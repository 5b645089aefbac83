//! Strict base64url (RFC 4648 §5) without padding: the encoding of the audit JWT's parts (spec
//! §4.1, §9 "JWT envelope").
//!
//! Strict means one encoding per value: only `A-Z a-z 0-9 - _` (so no `=` padding and no
//! std-base64 `+` `/`), no length that leaves a single character over (n % 4 == 1), and the unused
//! low bits of the last character zero. Anything else is refused, so two decoders can never
//! disagree about what a token says.
//!
//! Every request's payload (~1.5 KB) passes through here. On x86_64 the decoder validates and
//! translates 32 characters per step with AVX2, or 16 with SSSE3, chosen at run time; the scalar
//! table decoder is the fallback on other CPUs and decodes the last few characters. The paths
//! accept exactly the same inputs: the SIMD nibble tables are derived from the scalar table at
//! compile time, and the unit tests and the `base64url` fuzz target compare the paths.

/// The value of each alphabet byte, 0xff for every other byte.
static BASE64URL: [u8; 256] = ALPHABET_VALUES;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const ALPHABET_VALUES: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

const INVALID: u32 = 1 << 31;

/// [`BASE64URL`] shifted into place for each of the four characters of a quantum.
static SHIFTED: [[u32; 256]; 4] = {
    let mut t = [[INVALID; 256]; 4];
    let mut b = 0;
    while b < 256 {
        let v = ALPHABET_VALUES[b];
        if v != 0xff {
            t[0][b] = (v as u32) << 18;
            t[1][b] = (v as u32) << 12;
            t[2][b] = (v as u32) << 6;
            t[3][b] = v as u32;
        }
        b += 1;
    }
    t
};

/// Bytes that `n` base64url characters decode to; `None` for a length no encoding has.
pub fn decoded_len(n: usize) -> Option<usize> {
    match n % 4 {
        1 => None,
        r => Some(n / 4 * 3 + [0, 0, 1, 2][r]),
    }
}

/// Input that is not strict unpadded base64url.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotBase64url;

/// Decodes strict unpadded base64url into `out` (which must be `decoded_len` long). Refuses any
/// byte outside the alphabet (so `=`, `+`, `/`) and non-zero unused trailing bits, so every
/// decoded value has exactly one encoding. On refusal `out` holds unspecified bytes.
pub fn base64url_decode(input: &[u8], out: &mut [u8]) -> Result<(), NotBase64url> {
    if decoded_len(input.len()) != Some(out.len()) {
        return Err(NotBase64url);
    }
    let done = simd_prefix(input, out)?;
    // `done` is a whole number of quanta, so the rest has its own decoded length.
    decode_scalar(&input[done..], &mut out[done / 4 * 3..])
}

/// Decodes a prefix of `input` (a multiple of 4 characters, returned) with the best instructions
/// this CPU has. `is_x86_feature_detected!` reads std's cache of CPUID (one relaxed atomic load
/// and a bit test after the first call), so choosing per call costs a few instructions.
#[cfg(target_arch = "x86_64")]
fn simd_prefix(input: &[u8], out: &mut [u8]) -> Result<usize, NotBase64url> {
    if input.len() < 16 {
        return Ok(0);
    }
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above), which `prefix_avx2` requires.
        unsafe { x86::prefix_avx2(input, out) }
    } else if is_x86_feature_detected!("ssse3") {
        // SAFETY: the CPU has SSSE3 (checked above), which `prefix_ssse3` requires.
        unsafe { x86::prefix_ssse3(input, out) }
    } else {
        Ok(0)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn simd_prefix(_input: &[u8], _out: &mut [u8]) -> Result<usize, NotBase64url> {
    Ok(0)
}

/// The SSSE3 path alone (SSSE3 blocks, then the scalar tail), for the differential tests and the
/// fuzz target on machines whose CPU would pick AVX2; `None` when the CPU has no SSSE3. Not API.
#[doc(hidden)]
pub fn decode_ssse3(input: &[u8], out: &mut [u8]) -> Option<Result<(), NotBase64url>> {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("ssse3") {
        if decoded_len(input.len()) != Some(out.len()) {
            return Some(Err(NotBase64url));
        }
        // SAFETY: the CPU has SSSE3 (checked above), which `prefix_ssse3` requires.
        let prefix = unsafe { x86::prefix_ssse3(input, out) };
        return Some(prefix.and_then(|done| decode_scalar(&input[done..], &mut out[done / 4 * 3..])));
    }
    let _ = (input, out);
    None
}

/// The portable table decoder: the whole decode on CPUs without SSSE3, and the last characters
/// after the SIMD blocks. Public (hidden) only so that tests and the fuzz target can compare it
/// with [`base64url_decode`]; same contract.
#[doc(hidden)]
pub fn decode_scalar(input: &[u8], out: &mut [u8]) -> Result<(), NotBase64url> {
    if decoded_len(input.len()) != Some(out.len()) {
        return Err(NotBase64url);
    }
    let sextet = |b: u8| -> Result<u32, NotBase64url> {
        let v = BASE64URL[b as usize];
        if v == 0xff { Err(NotBase64url) } else { Ok(v as u32) }
    };
    let whole = input.len() / 4 * 4;
    let (full_in, _) = input.split_at(whole);
    let (full_out, rest_out) = out.split_at_mut(whole / 4 * 3);
    // Hot loop: one lookup per byte in tables pre-shifted to each position, invalid bytes
    // carrying bit 31; errors are collected with OR and tested once, after the loop.
    let mut bad = 0u32;
    let quantum = |c: &[u8]| SHIFTED[0][c[0] as usize] | SHIFTED[1][c[1] as usize] | SHIFTED[2][c[2] as usize] | SHIFTED[3][c[3] as usize];
    // Two quanta (8 characters, 6 bytes) per step, stored as one 8-byte word while the output
    // has room for the 2 bytes past them (the next step overwrites them): fewer loop, bounds-check
    // and store instructions.
    let (mut i, mut o) = (0, 0);
    while let (Some(c), Some(w)) = (full_in.get(i..i + 8), full_out.get_mut(o..o + 8)) {
        let a = quantum(&c[..4]);
        let b = quantum(&c[4..]);
        bad |= a | b;
        // Bit 31 (INVALID) of `a` shifts out of the word; `bad` has it.
        let v = (a as u64) << 40 | ((b & 0x00ff_ffff) as u64) << 16;
        w.copy_from_slice(&v.to_be_bytes());
        i += 8;
        o += 6;
    }
    for (c, o) in full_in[i..].chunks_exact(4).zip(full_out[o..].chunks_exact_mut(3)) {
        let n = quantum(c);
        bad |= n;
        o[0] = (n >> 16) as u8;
        o[1] = (n >> 8) as u8;
        o[2] = n as u8;
    }
    if bad & INVALID != 0 {
        return Err(NotBase64url);
    }
    // The last 2 or 3 characters; their unused low bits must be zero (canonical encoding).
    let (out, o) = (rest_out, 0);
    match input[whole..] {
        [] => {}
        [a, b] => {
            let n = sextet(a)? << 18 | sextet(b)? << 12;
            if n & 0xffff != 0 {
                return Err(NotBase64url);
            }
            out[o] = (n >> 16) as u8;
        }
        [a, b, c] => {
            let n = sextet(a)? << 18 | sextet(b)? << 12 | sextet(c)? << 6;
            if n & 0xff != 0 {
                return Err(NotBase64url);
            }
            out[o] = (n >> 16) as u8;
            out[o + 1] = (n >> 8) as u8;
        }
        _ => return Err(NotBase64url),
    }
    Ok(())
}

/// The SIMD validation tables, derived from the alphabet: byte `b` is in the alphabet exactly
/// when `NIBBLE_LO[b & 15] & NIBBLE_HI[b >> 4] == 0`. High nibbles with the same set of valid low
/// nibbles share a class bit (at most 8 classes); `NIBBLE_HI` holds each high nibble's class bit
/// and `NIBBLE_LO` the classes in which that low nibble is invalid. For base64url the classes
/// are: no valid byte (0x0_, 0x1_, 0x8_-0xf_), `-`, digits, `A-O`/`a-o`, `P-Z _`, `p-z`.
const NIBBLE_TABLES: ([u8; 16], [u8; 16]) = {
    let mut valid = [0u16; 16];
    let mut b = 0;
    while b < 256 {
        if ALPHABET_VALUES[b] != 0xff {
            valid[b >> 4] |= 1 << (b & 15);
        }
        b += 1;
    }
    let (mut classes, mut n) = ([0u16; 8], 0);
    let mut hi = [0u8; 16];
    let mut h = 0;
    while h < 16 {
        let mut c = 0;
        while c < n && classes[c] != valid[h] {
            c += 1;
        }
        if c == n {
            assert!(n < 8, "more than 8 nibble classes");
            classes[n] = valid[h];
            n += 1;
        }
        hi[h] = 1 << c;
        h += 1;
    }
    let mut lo = [0u8; 16];
    let mut l = 0;
    while l < 16 {
        let mut c = 0;
        while c < n {
            if classes[c] & (1 << l) == 0 {
                lo[l] |= 1 << c;
            }
            c += 1;
        }
        l += 1;
    }
    (lo, hi)
};
const NIBBLE_LO: [u8; 16] = NIBBLE_TABLES.0;
const NIBBLE_HI: [u8; 16] = NIBBLE_TABLES.1;

/// The SIMD translation: a valid byte `b` plus `ROLL[roll_index(b)]` (wrapping) is its value.
/// The index is the high nibble, plus one for bytes above `^` (0x5e) so that `_` (0x5f, 63)
/// leaves `P-Z` (0x50-0x5a) and `a-o` moves up to make room: `-` 2, digits 3, `A-O` 4, `P-Z` 5,
/// `_` 6, `a-o` 7, `p-z` 8. The table is built from the alphabet and checked to be consistent.
const fn roll_index(b: u8) -> usize {
    (b >> 4) as usize + (b > 0x5e) as usize
}
const ROLL: [u8; 16] = {
    let (mut roll, mut set) = ([0u8; 16], [false; 16]);
    let mut b = 0;
    while b < 256 {
        let v = ALPHABET_VALUES[b];
        if v != 0xff {
            let (i, delta) = (roll_index(b as u8), v.wrapping_sub(b as u8));
            assert!(!set[i] || roll[i] == delta, "one offset per roll index");
            roll[i] = delta;
            set[i] = true;
        }
        b += 1;
    }
    roll
};

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! Validation by two nibble lookups (`pshufb`) and an AND, translation by one more lookup and
    //! an add, packing of four 6-bit values into three bytes by `pmaddubsw` + `pmaddwd` and a
    //! byte shuffle. Bytes of 0x80 and up index the tables by their nibbles only (both masked to
    //! 0..15), and every high nibble from 8 up is in the "no valid byte" class, so they fail.

    use super::{NotBase64url, NIBBLE_HI, NIBBLE_LO, ROLL};
    use std::arch::x86_64::*;

    const fn twice(t: [u8; 16]) -> [u8; 32] {
        let mut w = [0u8; 32];
        let mut i = 0;
        while i < 16 {
            w[i] = t[i];
            w[i + 16] = t[i];
            i += 1;
        }
        w
    }

    /// Per 4-byte group `[c2 c1 c0 .]` (the 24-bit value, little-endian) to the big-endian
    /// `c0 c1 c2` of the output, 12 bytes first; 0x80 zeroes the last 4.
    const PACK: [u8; 16] = [2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, 0x80, 0x80, 0x80, 0x80];

    // SAFETY (all six): __m128i and __m256i are plain 16 and 32 bytes with no invalid values.
    const LO_128: __m128i = unsafe { std::mem::transmute::<[u8; 16], __m128i>(NIBBLE_LO) };
    const HI_128: __m128i = unsafe { std::mem::transmute::<[u8; 16], __m128i>(NIBBLE_HI) };
    const ROLL_128: __m128i = unsafe { std::mem::transmute::<[u8; 16], __m128i>(ROLL) };
    const PACK_128: __m128i = unsafe { std::mem::transmute::<[u8; 16], __m128i>(PACK) };
    // `vpshufb` looks up within each 128-bit lane: the 256-bit tables are the 128-bit ones twice.
    const LO_256: __m256i = unsafe { std::mem::transmute::<[u8; 32], __m256i>(twice(NIBBLE_LO)) };
    const HI_256: __m256i = unsafe { std::mem::transmute::<[u8; 32], __m256i>(twice(NIBBLE_HI)) };
    const ROLL_256: __m256i = unsafe { std::mem::transmute::<[u8; 32], __m256i>(twice(ROLL)) };
    const PACK_256: __m256i = unsafe { std::mem::transmute::<[u8; 32], __m256i>(twice(PACK)) };

    /// 16 characters: ORs into `bad` a non-zero byte for each one outside the alphabet; returns
    /// their 12 bytes (valid only if `bad` stays zero) followed by 4 zero bytes.
    #[target_feature(enable = "ssse3")]
    #[inline]
    unsafe fn block16(chars: __m128i, bad: &mut __m128i) -> __m128i {
        let nibble = _mm_set1_epi8(0x0f);
        let hi = _mm_and_si128(_mm_srli_epi32::<4>(chars), nibble);
        let lo = _mm_and_si128(chars, nibble);
        *bad = _mm_or_si128(*bad, _mm_and_si128(_mm_shuffle_epi8(LO_128, lo), _mm_shuffle_epi8(HI_128, hi)));
        // roll_index: the high nibble, minus -1 where the byte is above 0x5e (signed compare:
        // bytes from 0x80 are invalid anyway).
        let index = _mm_sub_epi8(hi, _mm_cmpgt_epi8(chars, _mm_set1_epi8(0x5e)));
        let values = _mm_add_epi8(chars, _mm_shuffle_epi8(ROLL_128, index));
        // [a b c d] -> a<<6|b, c<<6|d -> a<<18|b<<12|c<<6|d per 32-bit group.
        let pairs = _mm_maddubs_epi16(values, _mm_set1_epi32(0x0140_0140));
        let groups = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_1000));
        _mm_shuffle_epi8(groups, PACK_128)
    }

    /// [`block16`] on 32 characters: returns their 24 bytes followed by 8 zero bytes.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn block32(chars: __m256i, bad: &mut __m256i) -> __m256i {
        let nibble = _mm256_set1_epi8(0x0f);
        let hi = _mm256_and_si256(_mm256_srli_epi32::<4>(chars), nibble);
        let lo = _mm256_and_si256(chars, nibble);
        *bad = _mm256_or_si256(*bad, _mm256_and_si256(_mm256_shuffle_epi8(LO_256, lo), _mm256_shuffle_epi8(HI_256, hi)));
        let index = _mm256_sub_epi8(hi, _mm256_cmpgt_epi8(chars, _mm256_set1_epi8(0x5e)));
        let values = _mm256_add_epi8(chars, _mm256_shuffle_epi8(ROLL_256, index));
        let pairs = _mm256_maddubs_epi16(values, _mm256_set1_epi32(0x0140_0140));
        let groups = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x0001_1000));
        // Each lane now has its 12 bytes first: join them (32-bit words 0-2 and 4-5-6).
        _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(groups, PACK_256), _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7))
    }

    /// Decodes whole 16-character blocks of `input` from `i` (output from `o = i / 4 * 3`) while
    /// 16 remain; returns the characters decoded in all, or the refusal if any byte of these
    /// blocks, or a non-zero byte already in `bad`, says so.
    ///
    /// # Safety
    /// The CPU must have SSSE3.
    #[target_feature(enable = "ssse3")]
    #[inline]
    unsafe fn blocks16(input: &[u8], out: &mut [u8], mut i: usize, mut bad: __m128i) -> Result<usize, NotBase64url> {
        let mut o = i / 4 * 3;
        // Each store writes 16 bytes, 12 decoded and 4 that the next step overwrites, so it
        // runs while `out` has 16 bytes of room.
        while let (Some(c), Some(w)) = (input.get(i..i + 16), out.get_mut(o..o + 16)) {
            // SAFETY: `c` is 16 readable bytes (unaligned load).
            let chars = unsafe { _mm_loadu_si128(c.as_ptr().cast()) };
            let bytes = block16(chars, &mut bad);
            // SAFETY: `w` is 16 writable bytes (unaligned store).
            unsafe { _mm_storeu_si128(w.as_mut_ptr().cast(), bytes) };
            i += 16;
            o += 12;
        }
        // At most one whole block is left whose store would run past `out`: through a stack block.
        if let (Some(c), Some(w)) = (input.get(i..i + 16), out.get_mut(o..o + 12)) {
            let mut block = [0u8; 16];
            // SAFETY: `c` is 16 readable bytes, `block` 16 writable ones.
            unsafe { _mm_storeu_si128(block.as_mut_ptr().cast(), block16(_mm_loadu_si128(c.as_ptr().cast()), &mut bad)) };
            w.copy_from_slice(&block[..12]);
            i += 16;
        }
        if _mm_movemask_epi8(_mm_cmpeq_epi8(bad, _mm_setzero_si128())) != 0xffff {
            return Err(NotBase64url);
        }
        Ok(i)
    }

    /// Decodes the longest prefix of whole 16-character blocks of `input` into `out` (which is
    /// `decoded_len(input.len())` long) and returns its length.
    ///
    /// # Safety
    /// The CPU must have SSSE3.
    #[target_feature(enable = "ssse3")]
    pub(super) unsafe fn prefix_ssse3(input: &[u8], out: &mut [u8]) -> Result<usize, NotBase64url> {
        // SAFETY: the caller guarantees SSSE3.
        unsafe { blocks16(input, out, 0, _mm_setzero_si128()) }
    }

    /// [`prefix_ssse3`] with 32-character AVX2 steps first.
    ///
    /// # Safety
    /// The CPU must have AVX2 (which implies SSSE3).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn prefix_avx2(input: &[u8], out: &mut [u8]) -> Result<usize, NotBase64url> {
        let (mut i, mut o) = (0, 0);
        let mut bad = _mm256_setzero_si256();
        // 32-byte stores, 24 decoded and 8 that the next step overwrites; the 16-character steps
        // take the last (at most 42) characters whose store would not fit.
        while let (Some(c), Some(w)) = (input.get(i..i + 32), out.get_mut(o..o + 32)) {
            // SAFETY: `c` is 32 readable bytes (unaligned load).
            let chars = unsafe { _mm256_loadu_si256(c.as_ptr().cast()) };
            let bytes = block32(chars, &mut bad);
            // SAFETY: `w` is 32 writable bytes (unaligned store).
            unsafe { _mm256_storeu_si256(w.as_mut_ptr().cast(), bytes) };
            i += 32;
            o += 24;
        }
        let bad = _mm_or_si128(_mm256_castsi256_si128(bad), _mm256_extracti128_si256::<1>(bad));
        // SAFETY: AVX2 implies SSSE3.
        unsafe { blocks16(input, out, i, bad) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::b64url;

    /// A small deterministic generator (xorshift64*), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    type Decoder = fn(&[u8], &mut [u8]) -> Result<(), NotBase64url>;

    fn ssse3(input: &[u8], out: &mut [u8]) -> Result<(), NotBase64url> {
        decode_ssse3(input, out).expect("no SSSE3")
    }

    /// The dispatching decoder, and the SSSE3 path alone when the CPU has it (on an AVX2 machine
    /// the dispatcher never takes it).
    fn simd_decoders() -> Vec<(&'static str, Decoder)> {
        let mut d: Vec<(&'static str, Decoder)> = vec![("dispatch", base64url_decode)];
        if decode_ssse3(b"", &mut []).is_some() {
            d.push(("ssse3", ssse3));
        }
        d
    }

    /// Decodes with `f` into a buffer of the decoded length (with guard bytes after it, which
    /// must be untouched), or `None` when `f` refuses.
    fn decode(f: Decoder, input: &[u8]) -> Option<Vec<u8>> {
        let n = decoded_len(input.len())?;
        let mut buf = vec![0xa5u8; n + 40];
        let r = f(input, &mut buf[..n]);
        assert!(buf[n..].iter().all(|&b| b == 0xa5), "wrote past out ({} chars)", input.len());
        r.ok().map(|()| buf[..n].to_vec())
    }

    #[test]
    fn nibble_tables_accept_exactly_the_alphabet() {
        for b in 0..=255u8 {
            let simd_valid = NIBBLE_LO[(b & 15) as usize] & NIBBLE_HI[(b >> 4) as usize] == 0;
            assert_eq!(simd_valid, ALPHABET.contains(&b), "byte {b:#04x}");
            if let Some(v) = ALPHABET.iter().position(|&a| a == b) {
                assert_eq!(b.wrapping_add(ROLL[roll_index(b)]) as usize, v, "byte {b:#04x}");
            }
        }
    }

    #[test]
    fn round_trips_and_is_canonical() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar", b"\xff\xfe\xfd"] {
            let e = b64url(data);
            for (name, f) in simd_decoders().into_iter().chain([("scalar", decode_scalar as Decoder)]) {
                assert_eq!(decode(f, e.as_bytes()).as_deref(), Some(data), "{name}");
            }
        }
        let mut out = [0u8; 1];
        // "Zg" is "f"; "Zh" carries non-zero unused bits.
        assert!(base64url_decode(b"Zg", &mut out).is_ok());
        assert!(base64url_decode(b"Zh", &mut out).is_err());
        let mut out = [0u8; 2];
        assert!(base64url_decode(b"Zm8", &mut out).is_ok());
        assert!(base64url_decode(b"Zm9", &mut out).is_err());
        assert_eq!(decoded_len(5), None);
        let mut out = [0u8; 3];
        for bad in [&b"Zm9+"[..], b"Zm9/", b"Zm9=", b"Zm 9", b"Zm\09"] {
            assert!(base64url_decode(bad, &mut out).is_err());
        }
        // `out` of any other length is refused, by every path.
        let e = b64url(&[7u8; 75]);
        for (name, f) in simd_decoders().into_iter().chain([("scalar", decode_scalar as Decoder)]) {
            for n in [0, 74, 76, 99, 101, 200] {
                assert!(f(e.as_bytes(), &mut vec![0; n]).is_err(), "{name} {n}");
            }
            assert!(f(e.as_bytes(), &mut [0; 75]).is_ok(), "{name}");
        }
    }

    /// Every length through several SIMD steps and tails, random content: the bytes the
    /// independent encoder was given, whichever path decodes; lengths of 4k+1 refused by all.
    #[test]
    fn all_lengths_match_the_encoder_and_the_scalar_decoder() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for n in 0..=300usize {
            for _ in 0..8 {
                let Some(len) = decoded_len(n) else {
                    let input: Vec<u8> = (0..n).map(|_| ALPHABET[rng.next() as usize % 64]).collect();
                    assert_eq!(decode_scalar(&input, &mut vec![0; n * 3 / 4]), Err(NotBase64url));
                    for (name, f) in simd_decoders() {
                        assert_eq!(f(&input, &mut vec![0; n * 3 / 4]), Err(NotBase64url), "{name} {n}");
                    }
                    continue;
                };
                let data = rng.bytes(len);
                let e = b64url(&data);
                assert_eq!(e.len(), n);
                assert_eq!(decode(decode_scalar, e.as_bytes()).as_deref(), Some(&data[..]), "scalar {n}");
                for (name, f) in simd_decoders() {
                    assert_eq!(decode(f, e.as_bytes()).as_deref(), Some(&data[..]), "{name} {n}");
                }
            }
        }
    }

    /// Each of the 256 byte values at each position of a 100-character input: the alphabet's
    /// bytes decode to what the encoder says, every other byte is refused, by every path.
    #[test]
    fn every_byte_at_every_position() {
        let mut rng = Rng(42);
        let data = rng.bytes(75);
        let e = b64url(&data).into_bytes();
        assert_eq!(e.len(), 100);
        for at in 0..e.len() {
            for b in 0..=255u8 {
                let mut input = e.clone();
                input[at] = b;
                let scalar = decode(decode_scalar, &input);
                let want = ALPHABET.iter().position(|&a| a == b).map(|v| {
                    // Re-encoding: the value of the changed character put in place.
                    let mut d = data.clone();
                    let (quantum, k) = (at / 4, at % 4);
                    let mut n = (d[quantum * 3] as u32) << 16 | (d[quantum * 3 + 1] as u32) << 8 | d[quantum * 3 + 2] as u32;
                    let shift = 18 - 6 * k;
                    n = n & !(63 << shift) | (v as u32) << shift;
                    d[quantum * 3..quantum * 3 + 3].copy_from_slice(&n.to_be_bytes()[1..]);
                    d
                });
                assert_eq!(scalar, want, "scalar, byte {b:#04x} at {at}");
                if let Some(w) = &want {
                    assert_eq!(b64url(w).as_bytes(), &input[..]);
                }
                for (name, f) in simd_decoders() {
                    assert_eq!(decode(f, &input), want, "{name}, byte {b:#04x} at {at}");
                }
            }
        }
    }

    /// The last character's unused bits: only the canonical spelling decodes, whatever the length.
    #[test]
    fn non_canonical_trailing_bits_are_refused() {
        let mut rng = Rng(7);
        for n in [2, 3, 6, 7, 18, 19, 34, 35, 50, 51, 66, 67, 98, 99, 130, 131, 1302, 1303] {
            let base = b64url(&rng.bytes(n / 4 * 3 + n % 4 - 1)).into_bytes();
            assert_eq!(base.len(), n);
            let unused = if n % 4 == 2 { 4 } else { 2 };
            let last = ALPHABET.iter().position(|&a| a == base[n - 1]).unwrap();
            for low in 0..1 << unused {
                let mut input = base.clone();
                input[n - 1] = ALPHABET[last & !((1 << unused) - 1) | low];
                let ok = low == 0;
                assert_eq!(decode(decode_scalar, &input).is_some(), ok, "scalar {n} {low}");
                for (name, f) in simd_decoders() {
                    assert_eq!(decode(f, &input).is_some(), ok, "{name} {n} {low}");
                }
            }
        }
    }

    /// A bad byte anywhere in a long input, including deep in the SIMD blocks and in the tail.
    #[test]
    fn bad_bytes_anywhere_are_refused() {
        let long: Vec<u8> = (0..1000u32).map(|i| (i * 37 + 11) as u8).collect();
        for n in [0, 1, 11, 12, 13, 23, 24, 25, 35, 36, 47, 48, 100, 200, 975, 1000] {
            let e = b64url(&long[..n]);
            for at in 0..e.len() {
                for bad in [b'=', b'+', b'/', b'.', b' ', 0x80, 0xdf, 0xff, 0, b'^', b'`', b'@', b'[', b'{', b',', b':'] {
                    let mut b = e.clone().into_bytes();
                    b[at] = bad;
                    assert!(decode(decode_scalar, &b).is_none(), "scalar {n} {at} {bad}");
                    for (name, f) in simd_decoders() {
                        assert!(decode(f, &b).is_none(), "{name} {n} {at} {bad}");
                    }
                }
            }
        }
    }
}
