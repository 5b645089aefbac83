//! Scans of a byte slice 16 bytes at a time with SSE2 (part of the x86_64 baseline), shared by
//! the byte-class checks of the request path ([`crate::request::json`], [`crate::verdict`]).

use std::arch::x86_64::{__m128i, _mm_loadu_si128};

/// The OR of `mask(block)` over the 16-byte blocks of `bytes`, the last block overlapping the
/// one before it so that no byte is left to a tail loop; `None` when `bytes` is shorter than 16.
#[inline(always)]
pub fn or_over_blocks(bytes: &[u8], mask: impl Fn(__m128i) -> i32) -> Option<i32> {
    let last = bytes.len().checked_sub(16)?;
    let mut acc = 0;
    let mut offset = 0;
    loop {
        let at = offset.min(last);
        let block = &bytes[at..at + 16];
        // SAFETY: `block` is 16 readable bytes (loadu has no alignment need); SSE2 is part of the
        // x86_64 baseline.
        acc |= mask(unsafe { _mm_loadu_si128(block.as_ptr().cast()) });
        if at == last {
            return Some(acc);
        }
        offset += 16;
    }
}
