//! Helpers shared by the fuzz targets: the per-input CPU budget, the request input format, and a
//! base64url encoder/decoder and a case-twin finder written independently of the library's, for
//! the oracles.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

/// CPU time one input may take (default 100 ms; `GPCGUARD_FUZZ_BUDGET_MS` overrides it).
/// libFuzzer's own `-timeout` counts whole seconds, so the 100 ms rule is enforced here, on the
/// thread's CPU clock, which other processes on a loaded machine do not advance.
pub fn budget() -> Duration {
    static B: OnceLock<Duration> = OnceLock::new();
    *B.get_or_init(|| {
        let ms = std::env::var("GPCGUARD_FUZZ_BUDGET_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
        Duration::from_millis(ms)
    })
}

fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: plain clock read into a local.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` and fails the input (a panic, which libFuzzer records as a crash with the input
/// saved under fuzz/artifacts/) when it used more CPU than [`budget`]. One-time initialisation
/// (tables, the test PKI) must happen before, outside the measured call.
pub fn within_budget<R>(what: &str, f: impl FnOnce() -> R) -> R {
    let start = thread_cpu_time();
    let r = f();
    let spent = thread_cpu_time().saturating_sub(start);
    if spent > budget() {
        panic!("{what}: one input used {spent:?} of CPU, more than the per-input budget of {:?}", budget());
    }
    r
}

/// A request in the `check_request` input format: the first line is the method, the second the
/// target, each further line one header `Name:value` (split at the first `:`, the value passed
/// untrimmed; a line without `:` is a name with an empty value). Lines end at `\n` only.
pub struct RawRequest<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub headers: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> RawRequest<'a> {
    pub fn parse(data: &'a [u8]) -> RawRequest<'a> {
        let mut lines = data.split(|&b| b == b'\n');
        let method = lines.next().unwrap_or_default();
        let target = lines.next().unwrap_or_default();
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|l| match l.iter().position(|&b| b == b':') {
                Some(i) => (&l[..i], &l[i + 1..]),
                None => (l, &l[l.len()..]),
            })
            .collect();
        RawRequest { method, target, headers }
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url.
pub fn b64url(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 4 / 3 + 3);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..c.len() + 1 {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
        }
    }
    out
}

/// Lenient unpadded base64url decoding (ignores non-zero trailing bits); `None` for other bytes.
pub fn b64url_decode_lenient(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in text {
        let v = ALPHABET.iter().position(|&a| a == b)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Whether an object of `v`, at any depth, has two member names that are equal ignoring ASCII
/// case (`requested_scope` and `Requested_Scope`), which the strict reader must refuse. serde_json
/// keeps one of two exact duplicates, so what it read has only differently spelled twins left.
pub fn has_case_twins(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => {
            let mut folded = HashSet::new();
            m.keys().any(|k| !folded.insert(k.to_ascii_lowercase())) || m.values().any(has_case_twins)
        }
        serde_json::Value::Array(a) => a.iter().any(has_case_twins),
        _ => false,
    }
}

/// With `GPCGUARD_FUZZ_TRACE` set, prints one line per input (to see what an artifact or a seed
/// reaches: `GPCGUARD_FUZZ_TRACE=1 target/.../check_request fuzz/corpus/check_request/*`).
pub fn trace(line: impl FnOnce() -> String) {
    static ON: OnceLock<bool> = OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("GPCGUARD_FUZZ_TRACE").is_some()) {
        eprintln!("trace: {}", line());
    }
}
