//! The strict base64url decoder (`base64url::base64url_decode`, the decode of both JWT parts):
//! the path this CPU takes (AVX2 or SSSE3 blocks), the SSSE3 path alone and the scalar table
//! decoder, against each other and against an independent decoder and encoder.
//! Input: base64url text as is; or, after a first byte `!`, bytes that are encoded first (so that
//! long valid inputs are common), with the character at position `data[1]` replaced by `data[2]`
//! when the input has at least 3 bytes and `data[1]` falls inside the text.
//!
//! Oracles: every path takes the same decision and writes the same bytes, never past the decoded
//! length; a wrong output length is refused; accepted exactly when every byte is in the alphabet,
//! the length has a decoding and the text is the canonical encoding of what it decodes to.
#![no_main]

use gpcguard::request::base64url::{base64url_decode, decode_scalar, decode_ssse3, decoded_len, NotBase64url};
use gpcguard_fuzz::{b64url, b64url_decode_lenient, within_budget};
use libfuzzer_sys::fuzz_target;

const GUARD: usize = 64;

/// Decodes `text` with `f` into a buffer of the decoded length followed by guard bytes, which
/// must come back untouched; `None` when `f` refuses.
fn run(text: &[u8], n: usize, f: &dyn Fn(&[u8], &mut [u8]) -> Result<(), NotBase64url>) -> Option<Vec<u8>> {
    let mut buf = vec![0x5au8; n + GUARD];
    let r = f(text, &mut buf[..n]);
    assert!(buf[n..].iter().all(|&b| b == 0x5a), "a decoder wrote past the decoded length ({} characters)", text.len());
    r.ok().map(|()| {
        buf.truncate(n);
        buf
    })
}

fuzz_target!(|data: &[u8]| {
    within_budget("base64url", || {
        let text = match data {
            [b'!', rest @ ..] => {
                let mut t = b64url(rest.get(2..).unwrap_or_default());
                if let [at, with, ..] = *rest {
                    if let Some(c) = t.get_mut(at as usize) {
                        *c = with;
                    }
                }
                t
            }
            _ => data.to_vec(),
        };
        let ssse3 = |t: &[u8], o: &mut [u8]| decode_ssse3(t, o).unwrap_or_else(|| decode_scalar(t, o));
        let decoders: [(&str, &dyn Fn(&[u8], &mut [u8]) -> Result<(), NotBase64url>); 3] =
            [("dispatch", &base64url_decode), ("ssse3", &ssse3), ("scalar", &decode_scalar)];

        let Some(n) = decoded_len(text.len()) else {
            assert_eq!(text.len() % 4, 1);
            for (name, f) in decoders {
                assert!(run(&text, text.len() * 3 / 4, f).is_none(), "{name} accepted a length of 4k+1");
            }
            return;
        };
        // The independent oracle: lenient decoding, then canonical iff it re-encodes to the text.
        let expected = b64url_decode_lenient(&text).filter(|d| b64url(d) == text);
        for (name, f) in decoders {
            assert_eq!(run(&text, n, f), expected, "{name} disagrees with the independent decoder");
            for wrong in [Some(n + 1), n.checked_sub(1)].into_iter().flatten() {
                assert!(run(&text, wrong, f).is_none(), "{name} accepted an output of {wrong} bytes for {n}");
            }
        }
    })
});
