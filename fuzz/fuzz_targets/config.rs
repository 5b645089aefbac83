//! Configuration text: `Config::merge_toml` on the input as TOML, and `Config::set` on the input
//! read as `key=value` lines (the `gpcguard_config_set` path), each followed by `validate`.
//!
//! Oracles: a set that succeeded leaves a configuration whose settings respect the documented
//! bounds (service roots longest first, distinct; limits within their ranges; an ASID of 1-20
//! digits); the same key=value lines applied twice give the same result.
#![no_main]

use gpcguard::config::{is_asid, Config, Settings};
use gpcguard_fuzz::within_budget;
use libfuzzer_sys::fuzz_target;

fn check(s: &Settings) {
    assert!(is_asid(s.provider_asid.as_bytes()));
    assert!(!s.ssp_fqdn.is_empty() && !s.trust_anchor.is_empty());
    assert!(!s.service_roots.is_empty());
    for w in s.service_roots.windows(2) {
        assert!(w[0].prefix.len() >= w[1].prefix.len(), "service roots not longest first");
    }
    for (i, a) in s.service_roots.iter().enumerate() {
        assert!(a.prefix.is_empty() || (a.prefix.starts_with('/') && !a.prefix.ends_with('/')), "prefix {:?}", a.prefix);
        assert!(s.service_roots[i + 1..].iter().all(|b| b.prefix != a.prefix && b.capability != a.capability));
    }
    assert!((0..=3600).contains(&s.clock_skew_seconds));
    let l = &s.limits;
    assert!((2..=64).contains(&l.max_json_depth) && (1..=32).contains(&l.max_peer_certificates));
    for n in [l.max_authorization_bytes, l.max_header_count, l.max_header_bytes, l.max_target_bytes, l.max_json_bytes, l.max_peer_chain_bytes] {
        assert!((1..=1 << 24).contains(&n));
    }
}

fn set_lines(text: &str) -> (Config, Vec<bool>) {
    let mut c = Config::new();
    let results = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| c.set(k, v).is_ok())
        .collect();
    (c, results)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    within_budget("config", || {
        let mut c = Config::new();
        if c.merge_toml(text).is_ok() {
            if let Ok(s) = c.validate() {
                check(&s);
            }
        }
        let (c1, r1) = set_lines(text);
        let (c2, r2) = set_lines(text);
        assert_eq!(r1, r2);
        assert_eq!(c1, c2, "the same key=value lines gave two configurations");
        if let Ok(s) = c1.validate() {
            check(&s);
        }
    })
});
