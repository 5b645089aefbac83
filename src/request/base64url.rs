//! Strict base64url (RFC 4648 §5) without padding: the encoding of the audit JWT's parts (spec
//! §4.1, §9 "JWT envelope").
//!
//! Strict means one encoding per value: only `A-Z a-z 0-9 - _` (so no `=` padding and no
//! std-base64 `+` `/`), no length that leaves a single character over (n % 4 == 1), and the unused
//! low bits of the last character zero. Anything else is refused, so two decoders can never
//! disagree about what a token says.
//!
//! Every request's payload (~1.3 KB of text) passes through here. On x86_64 the decoder validates
//! and translates 32 characters per step with AVX2, or 16 with SSSE3, chosen once at run time;
//! the scalar table decoder is the fallback on other CPUs and for inputs under 16 characters, and
//! decodes the last 2 or 3 characters of every input. The paths accept exactly the same inputs:
//! the SIMD nibble and offset tables are derived from the alphabet at compile time (and checked
//! there), and the unit tests and the `base64url` fuzz target compare the paths byte for byte.

use std::sync::atomic::{AtomicPtr, Ordering};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The value of each alphabet byte, 0xff for every other byte.
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

/// [`ALPHABET_VALUES`] shifted into place for each of the four characters of a quantum.
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
        // 2 characters are 1 byte, 3 are 2: 3 * r / 4.
        r => Some(n / 4 * 3 + r * 3 / 4),
    }
}

/// Input that is not strict unpadded base64url.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotBase64url;

/// Decodes strict unpadded base64url into `out` (which must be `decoded_len` long). Refuses any
/// byte outside the alphabet (so `=`, `+`, `/`) and non-zero unused trailing bits, so every
/// decoded value has exactly one encoding. On refusal `out` holds unspecified bytes.
pub fn base64url_decode(input: &[u8], out: &mut [u8]) -> Result<(), NotBase64url> {
    decode_with(input, out, decode_quanta_best)
}

/// The portable table decoder alone: what [`base64url_decode`] does on CPUs without SSSE3.
/// Public (hidden) only so that tests and the fuzz target can compare the paths. Not API.
#[doc(hidden)]
pub fn decode_scalar(input: &[u8], out: &mut [u8]) -> Result<(), NotBase64url> {
    decode_with(input, out, decode_quanta)
}

/// The SSSE3 path alone, for the differential tests and the fuzz target on machines whose CPU
/// would pick AVX2; `None` when the CPU has no SSSE3. Not API.
#[doc(hidden)]
pub fn decode_ssse3(input: &[u8], out: &mut [u8]) -> Option<Result<(), NotBase64url>> {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("ssse3") {
        return Some(decode_with(input, out, |quanta, out| {
            // SAFETY: the CPU has SSSE3 (checked above), which `quanta_ssse3` requires.
            unsafe { x86::quanta_ssse3(quanta, out) }
        }));
    }
    let _ = (input, out);
    None
}

/// The length check, the last 2 or 3 characters by [`decode_last`], the whole quanta (4
/// characters, 3 bytes) by `quanta`.
#[inline(always)]
fn decode_with(
    input: &[u8],
    out: &mut [u8],
    quanta: impl FnOnce(&[u8], &mut [u8]) -> Result<(), NotBase64url>,
) -> Result<(), NotBase64url> {
    if decoded_len(input.len()) != Some(out.len()) {
        return Err(NotBase64url);
    }
    let whole = input.len() / 4 * 4;
    let (full_in, last_in) = input.split_at(whole);
    let (full_out, last_out) = out.split_at_mut(whole / 4 * 3);
    // The short end first: both must succeed, and the quanta then end the function (a tail call
    // with nothing to keep across it).
    decode_last(last_in, last_out)?;
    quanta(full_in, full_out)
}

/// A decoder of whole quanta: `input` a multiple of 4 characters, `out` 3/4 of that.
type Quanta = fn(&[u8], &mut [u8]) -> Result<(), NotBase64url>;

/// The whole-quanta decoder chosen for this CPU: [`detect_quanta`] until the first call has
/// chosen, then the choice, so a decode costs one load and an indirect tail call, not a feature
/// test. It only ever holds a [`Quanta`].
static QUANTA: AtomicPtr<()> = AtomicPtr::new(detect_quanta as Quanta as *mut ());

/// Whole quanta with the best instructions this CPU has.
#[inline]
fn decode_quanta_best(input: &[u8], out: &mut [u8]) -> Result<(), NotBase64url> {
    let f = QUANTA.load(Ordering::Relaxed);
    // SAFETY: QUANTA only ever holds a `Quanta` function pointer (its initial value and what
    // `detect_quanta` stores); Relaxed suffices, code needs no synchronisation.
    let f = unsafe { std::mem::transmute::<*mut (), Quanta>(f) };
    f(input, out)
}

/// The first call: chooses by CPU feature (AVX2, else SSSE3, else the scalar tables), keeps the
/// choice in [`QUANTA`] (threads racing here store the same value) and decodes with it.
#[cold]
fn detect_quanta(input: &[u8], out: &mut [u8]) -> Result<(), NotBase64url> {
    let chosen = choose_quanta();
    QUANTA.store(chosen as *mut (), Ordering::Relaxed);
    chosen(input, out)
}

fn choose_quanta() -> Quanta {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") {
            // SAFETY: chosen only on a CPU with AVX2, which `quanta_avx2` requires.
            return |input, out| unsafe { x86::quanta_avx2(input, out) };
        }
        if is_x86_feature_detected!("ssse3") {
            // SAFETY: chosen only on a CPU with SSSE3, which `quanta_ssse3` requires.
            return |input, out| unsafe { x86::quanta_ssse3(input, out) };
        }
    }
    decode_quanta
}

/// Whole quanta by table lookups: `input` is a multiple of 4 characters, `out` 3/4 of that.
fn decode_quanta(full_in: &[u8], full_out: &mut [u8]) -> Result<(), NotBase64url> {
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
    Ok(())
}

/// The last 2 or 3 characters (or none); their unused low bits must be zero (canonical encoding).
#[inline]
fn decode_last(input: &[u8], out: &mut [u8]) -> Result<(), NotBase64url> {
    // As in `decode_quanta`: pre-shifted lookups, INVALID and the unused bits tested at once.
    let s = |k: usize, b: u8| SHIFTED[k][b as usize];
    match (input, out) {
        ([], []) => {}
        (&[a, b], [o0]) => {
            let n = s(0, a) | s(1, b);
            if n & (INVALID | 0xffff) != 0 {
                return Err(NotBase64url);
            }
            *o0 = (n >> 16) as u8;
        }
        (&[a, b, c], [o0, o1]) => {
            let n = s(0, a) | s(1, b) | s(2, c);
            if n & (INVALID | 0xff) != 0 {
                return Err(NotBase64url);
            }
            *o0 = (n >> 16) as u8;
            *o1 = (n >> 8) as u8;
        }
        _ => return Err(NotBase64url),
    }
    Ok(())
}

/// The SIMD validation tables, derived from the alphabet: byte `b` is in the alphabet exactly
/// when `lo(b) & NIBBLE_HI[b >> 4] != 0`, where `lo(b)` is `NIBBLE_LO[b & 15]` for `b < 0x80` and
/// 0 from 0x80 up (what `pshufb` gives for an index with its top bit set, so the low-nibble lookup
/// takes the raw byte). High nibbles with the same set of valid low nibbles share a class bit (at
/// most 8 classes); `NIBBLE_HI` holds each high nibble's class bit and `NIBBLE_LO` the classes in
/// which that low nibble is valid. For base64url the classes are: no valid byte (0x0_, 0x1_,
/// 0x8_-0xf_; its bit is in no `NIBBLE_LO` entry), `-`, digits, `A-O`/`a-o`, `P-Z _`, `p-z`.
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
            if classes[c] & (1 << l) != 0 {
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
/// `_` 6, `a-o` 7, `p-z` 8. The table is built from the alphabet and checked to be consistent;
/// what it does to bytes outside the alphabet does not matter, the validation refuses them.
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
    //! Validation by two nibble lookups (`pshufb`) and an AND, kept as a running byte minimum
    //! (a zero lane is a byte outside the alphabet); translation by one more lookup and an add;
    //! packing of four 6-bit values into three bytes by `pmaddubsw` + `pmaddwd` and a byte
    //! shuffle. Bytes from 0x80 up get 0 from the low-nibble lookup (`pshufb` zeroes lanes whose
    //! index has its top bit set), so they fail whatever their high nibble.

    use super::{decode_quanta, NotBase64url, NIBBLE_HI, NIBBLE_LO, ROLL};
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

    /// Per 4-byte group `[c2 c1 c0 0]` (the 24-bit value, little-endian) to the big-endian
    /// `c0 c1 c2` of the output, 12 bytes first; the last 4 are never stored or are overwritten.
    const PACK: [u8; 16] = [2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, 3, 7, 11, 15];

    // SAFETY (all eight): __m128i and __m256i are plain 16 and 32 bytes with no invalid values.
    const LO_128: __m128i = unsafe { std::mem::transmute::<[u8; 16], __m128i>(NIBBLE_LO) };
    const HI_128: __m128i = unsafe { std::mem::transmute::<[u8; 16], __m128i>(NIBBLE_HI) };
    const ROLL_128: __m128i = unsafe { std::mem::transmute::<[u8; 16], __m128i>(ROLL) };
    const PACK_128: __m128i = unsafe { std::mem::transmute::<[u8; 16], __m128i>(PACK) };
    // `vpshufb` looks up within each 128-bit lane: the 256-bit tables are the 128-bit ones twice.
    const LO_256: __m256i = unsafe { std::mem::transmute::<[u8; 32], __m256i>(twice(NIBBLE_LO)) };
    const HI_256: __m256i = unsafe { std::mem::transmute::<[u8; 32], __m256i>(twice(NIBBLE_HI)) };
    const ROLL_256: __m256i = unsafe { std::mem::transmute::<[u8; 32], __m256i>(twice(ROLL)) };
    const PACK_256: __m256i = unsafe { std::mem::transmute::<[u8; 32], __m256i>(twice(PACK)) };

    /// 16 characters: lowers `valid` to zero in the lanes of bytes outside the alphabet; returns
    /// their 12 bytes (meaningful only if `valid` keeps no zero lane) followed by 4 bytes of no
    /// meaning.
    #[target_feature(enable = "ssse3")]
    #[inline]
    unsafe fn block16(chars: __m128i, valid: &mut __m128i) -> __m128i {
        let hi = _mm_and_si128(_mm_srli_epi32::<4>(chars), _mm_set1_epi8(0x0f));
        // The low-nibble lookup on the raw bytes: zero from 0x80 up (see NIBBLE_TABLES).
        *valid = _mm_min_epu8(*valid, _mm_and_si128(_mm_shuffle_epi8(LO_128, chars), _mm_shuffle_epi8(HI_128, hi)));
        // roll_index: the high nibble, minus -1 where the byte is above 0x5e (signed compare:
        // bytes from 0x80 are invalid anyway).
        let index = _mm_sub_epi8(hi, _mm_cmpgt_epi8(chars, _mm_set1_epi8(0x5e)));
        let values = _mm_add_epi8(chars, _mm_shuffle_epi8(ROLL_128, index));
        // [a b c d] -> a<<6|b, c<<6|d -> a<<18|b<<12|c<<6|d per 32-bit group.
        let pairs = _mm_maddubs_epi16(values, _mm_set1_epi32(0x0140_0140));
        let groups = _mm_madd_epi16(pairs, _mm_set1_epi32(0x0001_1000));
        _mm_shuffle_epi8(groups, PACK_128)
    }

    /// [`block16`] on 32 characters: returns each 128-bit lane's 12 bytes first in that lane.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn block32(chars: __m256i, valid: &mut __m256i) -> __m256i {
        let hi = _mm256_and_si256(_mm256_srli_epi32::<4>(chars), _mm256_set1_epi8(0x0f));
        *valid = _mm256_min_epu8(*valid, _mm256_and_si256(_mm256_shuffle_epi8(LO_256, chars), _mm256_shuffle_epi8(HI_256, hi)));
        let index = _mm256_sub_epi8(hi, _mm256_cmpgt_epi8(chars, _mm256_set1_epi8(0x5e)));
        let values = _mm256_add_epi8(chars, _mm256_shuffle_epi8(ROLL_256, index));
        let pairs = _mm256_maddubs_epi16(values, _mm256_set1_epi32(0x0140_0140));
        let groups = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x0001_1000));
        _mm256_shuffle_epi8(groups, PACK_256)
    }

    /// The 24 bytes of a [`block32`] result together (32-bit words 0-2 and 4-6), then 8 bytes of
    /// no meaning.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn joined(lanes: __m256i) -> __m256i {
        _mm256_permutevar8x32_epi32(lanes, _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7))
    }

    /// One block of 16 characters at `at` whose 12 bytes are stored exactly (through a stack
    /// block), for the blocks whose 16-byte store would run past `out`.
    #[target_feature(enable = "ssse3")]
    #[inline]
    unsafe fn exact16(input: &[u8], out: &mut [u8], at: usize, valid: &mut __m128i) -> Result<(), NotBase64url> {
        // Unreachable with the lengths the callers pass; refused rather than left undecoded.
        let (Some(c), Some(w)) = (input.get(at..at + 16), out.get_mut(at / 4 * 3..at / 4 * 3 + 12)) else {
            return Err(NotBase64url);
        };
        let mut block = [0u8; 16];
        // SAFETY: `c` is 16 readable bytes, `block` 16 writable ones (unaligned load and store).
        unsafe { _mm_storeu_si128(block.as_mut_ptr().cast(), block16(_mm_loadu_si128(c.as_ptr().cast()), valid)) };
        w.copy_from_slice(&block[..12]);
        Ok(())
    }

    /// [`exact16`] for 32 characters and 24 bytes, stored by lane: the low lane's 16 bytes at 0
    /// (12 decoded), then the high lane's 12 at 12.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn exact32(input: &[u8], out: &mut [u8], at: usize, valid: &mut __m256i) -> Result<(), NotBase64url> {
        let (Some(c), Some(w)) = (input.get(at..at + 32), out.get_mut(at / 4 * 3..at / 4 * 3 + 24)) else {
            return Err(NotBase64url);
        };
        // SAFETY: `c` is 32 readable bytes (unaligned load); `w` is 24 writable bytes and the
        // stores cover 0..16, 12..20 and 20..24 of it (unaligned).
        unsafe {
            let lanes = block32(_mm256_loadu_si256(c.as_ptr().cast()), valid);
            let high = _mm256_extracti128_si256::<1>(lanes);
            _mm_storeu_si128(w.as_mut_ptr().cast(), _mm256_castsi256_si128(lanes));
            _mm_storel_epi64(w.as_mut_ptr().add(12).cast(), high);
            w.as_mut_ptr().add(20).cast::<i32>().write_unaligned(_mm_extract_epi32::<2>(high));
        }
        Ok(())
    }

    /// Decodes whole quanta: `input` a multiple of 4 characters, `out` 3/4 of it (shorter than 16
    /// characters: by the scalar tables). Memory safety does not depend on these lengths (every
    /// access is checked against the slices, or against the bound asserted before the loop); the
    /// decoding does.
    ///
    /// # Safety
    /// The CPU must have SSSE3.
    #[target_feature(enable = "ssse3")]
    pub(super) unsafe fn quanta_ssse3(input: &[u8], out: &mut [u8]) -> Result<(), NotBase64url> {
        if input.len() < 16 {
            return decode_quanta(input, out);
        }
        let mut valid = _mm_set1_epi8(-1);
        // Wide steps store 16 bytes, 12 decoded and 4 that the next step overwrites, while that
        // fits in `out`.
        let wide = out.len().saturating_sub(4) / 12;
        assert!(wide == 0 || (wide * 16 <= input.len() && wide * 12 + 4 <= out.len()));
        for k in 0..wide {
            // SAFETY: k < wide: the 16 bytes read from 16k end within `input`, the 16 written
            // from 12k within `out` (asserted above). Unaligned load and store.
            unsafe {
                let bytes = block16(_mm_loadu_si128(input.as_ptr().add(16 * k).cast()), &mut valid);
                _mm_storeu_si128(out.as_mut_ptr().add(12 * k).cast(), bytes);
            }
        }
        // At most 20 characters are left (fewer than 16 bytes of `out`): maybe one exact block,
        // then the block that ends with the input, overlapping decoded ones (it writes the same
        // bytes again there).
        let i = 16 * wide;
        // SAFETY (both): the caller guarantees SSSE3.
        if input.len() > i + 16 {
            unsafe { exact16(input, out, i, &mut valid)? };
        }
        if input.len() > i {
            unsafe { exact16(input, out, input.len() - 16, &mut valid)? };
        }
        if _mm_movemask_epi8(_mm_cmpeq_epi8(valid, _mm_setzero_si128())) != 0 {
            return Err(NotBase64url);
        }
        Ok(())
    }

    /// [`quanta_ssse3`] by 32-character AVX2 steps; shorter input goes to [`quanta_ssse3`].
    ///
    /// # Safety
    /// The CPU must have AVX2 (which implies SSSE3).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn quanta_avx2(input: &[u8], out: &mut [u8]) -> Result<(), NotBase64url> {
        if input.len() < 32 {
            // SAFETY: AVX2 implies SSSE3.
            return unsafe { quanta_ssse3(input, out) };
        }
        let mut valid = _mm256_set1_epi8(-1);
        // Wide steps store 32 bytes, 24 decoded and 8 that the next step overwrites, while that
        // fits in `out`; two per iteration, on pointers (fewer loop instructions).
        let wide = out.len().saturating_sub(8) / 24;
        assert!(wide == 0 || (wide * 32 <= input.len() && wide * 24 + 8 <= out.len()));
        // SAFETY: the pointers stay within or one past `input` and `out`: `wide` steps read
        // 32 * wide bytes of `input` and write up to 24 * wide + 8 of `out` (asserted above), the
        // loop runs while a whole pair of steps is left, the last `if` for the odd step.
        // Unaligned loads and stores.
        unsafe {
            let (mut src, mut dst) = (input.as_ptr(), out.as_mut_ptr());
            let pairs_end = src.add(wide / 2 * 64);
            while src < pairs_end {
                let a = block32(_mm256_loadu_si256(src.cast()), &mut valid);
                _mm256_storeu_si256(dst.cast(), joined(a));
                let b = block32(_mm256_loadu_si256(src.add(32).cast()), &mut valid);
                _mm256_storeu_si256(dst.add(24).cast(), joined(b));
                src = src.add(64);
                dst = dst.add(48);
            }
            if wide % 2 == 1 {
                let a = block32(_mm256_loadu_si256(src.cast()), &mut valid);
                _mm256_storeu_si256(dst.cast(), joined(a));
            }
        }
        // At most 40 characters are left (fewer than 32 bytes of `out`): maybe one exact block,
        // then the block that ends with the input, overlapping decoded ones (it writes the same
        // bytes again there).
        let i = 32 * wide;
        // SAFETY (both): the caller guarantees AVX2.
        if input.len() > i + 32 {
            unsafe { exact32(input, out, i, &mut valid)? };
        }
        if input.len() > i {
            unsafe { exact32(input, out, input.len() - 32, &mut valid)? };
        }
        if _mm256_movemask_epi8(_mm256_cmpeq_epi8(valid, _mm256_setzero_si256())) != 0 {
            return Err(NotBase64url);
        }
        Ok(())
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
            // pshufb: an index with its top bit set gives 0.
            let lo = if b >= 0x80 { 0 } else { NIBBLE_LO[(b & 15) as usize] };
            let simd_valid = lo & NIBBLE_HI[(b >> 4) as usize] != 0;
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
