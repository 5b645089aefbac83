//! `reqbench`: the request-side workloads of `make bench` (benches/run.sh drives it).
//!
//!   reqbench time                 ns/op, median of RUNS (default 7) timed runs, every workload
//!   reqbench loop WORKLOAD N      setup, then N iterations of one workload (run under callgrind
//!                                 twice, with two N, by the driver: instructions/op is the
//!                                 difference divided by the difference of N, so setup cancels)
//!   reqbench alloc                allocations per op, every workload
//!   reqbench threads N            check_request throughput with 1 and 2 threads
//!   reqbench rss N                resident memory after 1,000 then N allowed checks
//!   reqbench emit DIR             the token (alg none and HS256) the C and Python peers judge
//!
//! Every workload checks its own answer once before it is timed (an allowed request must be
//! allowed, a refusal refused with the expected reason): a benchmark of a wrong answer is void.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_char;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use base64::Engine as _;
use gpcguard::config::{Capability, ServiceRoot, Settings};
use gpcguard::ffi::request::{gpcguard_check_request, gpcguard_header, gpcguard_request};
use gpcguard::ffi::verdict::{gpcguard_verdict_allowed, gpcguard_verdict_free, gpcguard_verdict_reason};
use gpcguard::request::{Request, RequestChecker};
use gpcguard::verdict::Reason;
use serde::Deserialize;

// ---------------------------------------------------------------------------------------------
// Allocation counting (only while COUNTING is set, so the timed runs pay one shared read).

struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ---------------------------------------------------------------------------------------------
// The request: GP Connect "read patient" with the five SSP headers and the test pack's
// baseline claims (JwtFactory defaults), as the library's own tests use them.

const PROVIDER_ASID: &str = "918999198993";
const CONSUMER_ASID: &str = "200000000359";
const TRACE_ID: &str = "5b1e7a4c-9f2d-4c1b-8e3a-2d6f0c9b7a15";
const ROOT: &str = "/A1/STU3/1/gpconnect";
const INTERACTION: &str = "urn:nhs:names:services:gpconnect:fhir:rest:read:patient-1";
const UNKNOWN_INTERACTION: &str = "urn:nhs:names:services:gpconnect:fhir:rest:read:nothing-1";
const AUDIENCE: &str = "https://authorize.fhir.nhs.net/token";
pub const HS256_SECRET: &[u8] = b"gpcguard-bench-hs256-secret-0123456789";

/// The clock of every workload: the system's, or GPCGUARD_BENCH_NOW (Unix seconds) so that a
/// run can be repeated with the very same tokens.
fn unix_now() -> i64 {
    if let Some(now) = std::env::var("GPCGUARD_BENCH_NOW").ok().and_then(|v| v.parse().ok()) {
        return now;
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The baseline claims, compact JSON, issued at `iat` (exp = iat + 300).
fn claims_json(iat: i64) -> String {
    let v = serde_json::json!({
        "iss": "http://gpconnect-uat.answerappcloud.com/",
        "sub": "1",
        "aud": AUDIENCE,
        "exp": iat + 300,
        "iat": iat,
        "reason_for_request": "directcare",
        "requested_scope": "patient/*.read",
        "requesting_device": {
            "resourceType": "Device",
            "identifier": [{ "system": "GPConnectTestSystem", "value": "Client" }],
            "model": "v1",
            "version": "1.1"
        },
        "requesting_organization": {
            "resourceType": "Organization",
            "identifier": [{ "system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "GPCA0001" }],
            "name": "GP Connect Assurance"
        },
        "requesting_practitioner": {
            "resourceType": "Practitioner",
            "id": "1",
            "identifier": [
                { "system": "https://fhir.nhs.uk/Id/sds-user-id", "value": "GCASDS0001" },
                { "system": "https://fhir.nhs.uk/Id/sds-role-profile-id", "value": "112233445566" },
                { "system": "https://consumersupplier.com/Id/user-guid", "value": "98ed4f78-814d-4266-8d5b-cde742f3093c" }
            ],
            "name": [{ "family": "AssurancePractitioner", "given": ["AssuranceTest"], "prefix": ["Dr."] }]
        }
    });
    v.to_string()
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn token_none(iat: i64) -> String {
    format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims_json(iat).as_bytes()))
}

fn token_hs256(iat: i64) -> String {
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let claims: serde_json::Value = serde_json::from_str(&claims_json(iat)).unwrap();
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(HS256_SECRET)).unwrap()
}

struct Fixture {
    iat: i64,
    token: String,
    method: Vec<u8>,
    target: Vec<u8>,
    /// Owned header (name, value) for the allowed request and the bad-interaction one.
    allowed: Vec<(Vec<u8>, Vec<u8>)>,
    bad_interaction: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Fixture {
    fn new() -> Fixture {
        let iat = unix_now() - 10;
        let token = token_none(iat);
        let headers = |interaction: &str| {
            vec![
                (b"Ssp-TraceID".to_vec(), TRACE_ID.as_bytes().to_vec()),
                (b"Ssp-From".to_vec(), CONSUMER_ASID.as_bytes().to_vec()),
                (b"Ssp-To".to_vec(), PROVIDER_ASID.as_bytes().to_vec()),
                (b"Ssp-InteractionID".to_vec(), interaction.as_bytes().to_vec()),
                (b"Authorization".to_vec(), format!("Bearer {token}").into_bytes()),
                (b"Accept".to_vec(), b"application/fhir+json".to_vec()),
            ]
        };
        Fixture {
            iat,
            method: b"GET".to_vec(),
            target: format!("{ROOT}/Patient/2").into_bytes(),
            allowed: headers(INTERACTION),
            bad_interaction: headers(UNKNOWN_INTERACTION),
            token,
        }
    }
}

fn settings() -> Settings {
    let mut s = Settings::for_tests(PROVIDER_ASID, "msg.dev.spine2.ncrs.nhs.uk");
    s.service_roots = vec![ServiceRoot { capability: Capability::Foundations, prefix: ROOT.to_owned() }];
    s
}

// ---------------------------------------------------------------------------------------------
// The peers' typed claims ("just parse it"): serde_json into structs, then the same checks.

#[derive(Deserialize)]
struct Identifier<'a> {
    #[serde(borrow)]
    system: Option<&'a str>,
    #[serde(borrow)]
    value: Option<&'a str>,
}

#[derive(Deserialize)]
struct HumanName<'a> {
    #[serde(borrow)]
    family: Option<&'a str>,
}

#[derive(Deserialize)]
struct Organization<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'a str,
    #[serde(borrow)]
    identifier: Vec<Identifier<'a>>,
    name: &'a str,
}

#[derive(Deserialize)]
struct Practitioner<'a> {
    #[serde(rename = "resourceType")]
    resource_type: &'a str,
    #[serde(borrow)]
    identifier: Vec<Identifier<'a>>,
    #[serde(borrow)]
    name: Vec<HumanName<'a>>,
}

#[derive(Deserialize)]
struct TypedClaims<'a> {
    exp: i64,
    iat: i64,
    #[serde(borrow)]
    reason_for_request: &'a str,
    requested_scope: &'a str,
    #[serde(borrow)]
    requesting_organization: Organization<'a>,
    #[serde(borrow)]
    requesting_practitioner: Practitioner<'a>,
}

/// Owned twin for jsonwebtoken (its decode needs DeserializeOwned).
#[derive(Deserialize)]
struct OwnedIdentifier {
    system: Option<String>,
    value: Option<String>,
}
#[derive(Deserialize)]
struct OwnedName {
    family: Option<String>,
}
#[derive(Deserialize)]
struct OwnedOrganization {
    #[serde(rename = "resourceType")]
    resource_type: String,
    identifier: Vec<OwnedIdentifier>,
    name: String,
}
#[derive(Deserialize)]
struct OwnedPractitioner {
    #[serde(rename = "resourceType")]
    resource_type: String,
    identifier: Vec<OwnedIdentifier>,
    name: Vec<OwnedName>,
}
#[derive(Deserialize)]
struct OwnedClaims {
    exp: i64,
    iat: i64,
    reason_for_request: String,
    requested_scope: String,
    requesting_organization: OwnedOrganization,
    requesting_practitioner: OwnedPractitioner,
}

const ODS: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
const SDS_USER: &str = "https://fhir.nhs.uk/Id/sds-user-id";

/// The checks every peer makes: times, lifetime, reason, scope, ODS code, SDS user id, name.
#[allow(clippy::too_many_arguments)]
fn peer_checks<'a>(
    now: i64,
    exp: i64,
    iat: i64,
    reason: &str,
    scope: &str,
    org_type: &str,
    org_name: &str,
    mut org_ids: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
    prac_type: &str,
    mut prac_ids: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
    has_name: bool,
) -> bool {
    exp >= now
        && exp - iat == 300
        && reason == "directcare"
        && scope == "patient/*.read"
        && org_type == "Organization"
        && !org_name.is_empty()
        && org_ids.any(|(s, v)| s == Some(ODS) && v.is_some_and(|v| !v.is_empty()))
        && prac_type == "Practitioner"
        && prac_ids.any(|(s, v)| s == Some(SDS_USER) && v.is_some_and(|v| !v.is_empty()))
        && has_name
}

/// The floor: base64url-decode the payload, serde_json into borrowed structs, the checks.
fn serde_floor(token: &str, now: i64) -> bool {
    let mut parts = token.split('.');
    let (Some(_h), Some(p)) = (parts.next(), parts.next()) else { return false };
    let Ok(payload) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p) else { return false };
    let Ok(c) = serde_json::from_slice::<TypedClaims>(&payload) else { return false };
    let o = &c.requesting_organization;
    let pr = &c.requesting_practitioner;
    peer_checks(
        now,
        c.exp,
        c.iat,
        c.reason_for_request,
        c.requested_scope,
        o.resource_type,
        o.name,
        o.identifier.iter().map(|i| (i.system, i.value)),
        pr.resource_type,
        pr.identifier.iter().map(|i| (i.system, i.value)),
        pr.name.iter().any(|n| n.family.is_some()),
    )
}

struct Jwt {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

impl Jwt {
    fn new() -> Jwt {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat", "aud"]);
        Jwt { key: jsonwebtoken::DecodingKey::from_secret(HS256_SECRET), validation }
    }

    fn check(&self, token: &str, now: i64) -> bool {
        let Ok(d) = jsonwebtoken::decode::<OwnedClaims>(token, &self.key, &self.validation) else { return false };
        let c = d.claims;
        let o = &c.requesting_organization;
        let pr = &c.requesting_practitioner;
        peer_checks(
            now,
            c.exp,
            c.iat,
            &c.reason_for_request,
            &c.requested_scope,
            &o.resource_type,
            &o.name,
            o.identifier.iter().map(|i| (i.system.as_deref(), i.value.as_deref())),
            &pr.resource_type,
            pr.identifier.iter().map(|i| (i.system.as_deref(), i.value.as_deref())),
            pr.name.iter().any(|n| n.family.is_some()),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Workloads.

const WORKLOADS: &[&str] = &[
    "rust_allowed",
    "rust_bad_interaction",
    "rust_expired",
    "abi_allowed",
    "abi_bad_interaction",
    "abi_expired",
    "serde_floor",
    "jsonwebtoken_hs256",
];

/// One prepared workload: `run()` judges once and returns whether the answer was the expected one.
struct Bench {
    fx: Fixture,
    checker: RequestChecker,
    hs256: String,
    jwt: Jwt,
    now: i64,
}

/// The C ABI form of a request, borrowing `headers`.
struct CRequest {
    _headers: Vec<gpcguard_header>,
    req: gpcguard_request,
}

fn c_request(fx: &Fixture, headers: &[(Vec<u8>, Vec<u8>)], now: i64) -> CRequest {
    let hs: Vec<gpcguard_header> = headers
        .iter()
        .map(|(n, v)| gpcguard_header {
            name: n.as_ptr() as *const c_char,
            name_len: n.len(),
            value: v.as_ptr() as *const c_char,
            value_len: v.len(),
        })
        .collect();
    let req = gpcguard_request {
        method: fx.method.as_ptr() as *const c_char,
        method_len: fx.method.len(),
        target: fx.target.as_ptr() as *const c_char,
        target_len: fx.target.len(),
        headers: hs.as_ptr(),
        header_count: hs.len(),
        now,
    };
    CRequest { _headers: hs, req }
}

impl Bench {
    fn new() -> Bench {
        let fx = Fixture::new();
        let now = fx.iat + 10;
        Bench { checker: RequestChecker::new(&settings()).unwrap(), hs256: token_hs256(fx.iat), jwt: Jwt::new(), now, fx }
    }

    /// A closure for `name` that judges once and says whether the answer was right.
    fn workload<'s>(&'s self, name: &str, guard: &'s GuardPtr) -> Box<dyn FnMut() -> bool + 's> {
        let fx = &self.fx;
        let expired_now = fx.iat + 10_000;
        let borrowed = |h: &'s [(Vec<u8>, Vec<u8>)]| -> Vec<(&'s [u8], &'s [u8])> { h.iter().map(|(n, v)| (&n[..], &v[..])).collect() };
        match name {
            "rust_allowed" | "rust_bad_interaction" | "rust_expired" => {
                let (headers, now, want) = match name {
                    "rust_allowed" => (borrowed(&fx.allowed), self.now, Reason::Allowed),
                    "rust_bad_interaction" => (borrowed(&fx.bad_interaction), self.now, Reason::InteractionUnknown),
                    _ => (borrowed(&fx.allowed), expired_now, Reason::JwtExpired),
                };
                Box::new(move || {
                    let req = Request { method: &fx.method, target: &fx.target, headers: &headers, now };
                    let v = self.checker.check(black_box(&req));
                    v.reason == want
                })
            }
            "abi_allowed" | "abi_bad_interaction" | "abi_expired" => {
                let (c, want) = match name {
                    "abi_allowed" => (c_request(fx, &fx.allowed, self.now), Reason::Allowed),
                    "abi_bad_interaction" => (c_request(fx, &fx.bad_interaction, self.now), Reason::InteractionUnknown),
                    _ => (c_request(fx, &fx.allowed, expired_now), Reason::JwtExpired),
                };
                let g = guard.0;
                Box::new(move || {
                    // The whole request, its header array included (a closure capturing only
                    // `c.req` would let the array drop).
                    let c: &CRequest = &c;
                    let mut v = std::ptr::null_mut();
                    let r = gpcguard_check_request(g, black_box(&c.req), &mut v);
                    let ok = r as i32 == 0
                        && gpcguard_verdict_reason(v) == want
                        && gpcguard_verdict_allowed(v) == (want == Reason::Allowed);
                    if !ok && std::env::var_os("REQBENCH_DEBUG").is_some() {
                        let m = unsafe { std::ffi::CStr::from_ptr(gpcguard::ffi::verdict::gpcguard_verdict_message(v)) };
                        let h0 = unsafe { &*c.req.headers };
                        let n0 = unsafe { std::slice::from_raw_parts(h0.name as *const u8, h0.name_len) };
                        eprintln!("{:?}: {m:?} count={} first={:?}", gpcguard_verdict_reason(v), c.req.header_count, String::from_utf8_lossy(n0));
                    }
                    gpcguard_verdict_free(v);
                    ok
                })
            }
            // The verdict counter of the C ABI's check_request (status, spec: live status), alone:
            // what `gpcguard_check_request` adds to a check by counting its verdict. `loop_only`
            // is the harness's own cost per iteration, subtracted from it.
            "count_verdict" => {
                let path = std::env::var("GPCGUARD_BENCH_CONFIG").expect("count_verdict needs GPCGUARD_BENCH_CONFIG");
                let config = gpcguard::config::Config::from_file(std::path::Path::new(&path)).expect("config");
                let g = gpcguard::guard::Guard::new(&config).expect("guard");
                Box::new(move || {
                    g.count(gpcguard::status::Check::Request, black_box(Reason::Allowed));
                    true
                })
            }
            "loop_only" => Box::new(move || black_box(true)),
            "serde_floor" => Box::new(move || serde_floor(black_box(&fx.token), self.now)),
            "jsonwebtoken_hs256" => Box::new(move || self.jwt.check(black_box(&self.hs256), unix_now())),
            other => panic!("unknown workload {other}"),
        }
    }
}

/// A guard from the C ABI (for the abi_* workloads), configured like `settings()` but from a
/// real configuration file (the PKI the driver made): GPCGUARD_BENCH_CONFIG.
struct GuardPtr(*const gpcguard::ffi::guard::gpcguard_guard);

fn abi_guard() -> GuardPtr {
    use gpcguard::ffi::config::{gpcguard_config_free, gpcguard_config_from_file, gpcguard_config_set};
    use gpcguard::ffi::guard::gpcguard_guard_new;
    use std::ffi::CString;
    let Ok(path) = std::env::var("GPCGUARD_BENCH_CONFIG") else { return GuardPtr(std::ptr::null()) };
    let path = CString::new(path).unwrap();
    let mut cfg = std::ptr::null_mut();
    assert_eq!(gpcguard_config_from_file(path.as_ptr(), &mut cfg) as i32, 0, "config {path:?}");
    let root = CString::new(format!("foundations={ROOT}")).unwrap();
    assert_eq!(gpcguard_config_set(cfg, c"service_root".as_ptr(), root.as_ptr()) as i32, 0);
    let mut g = std::ptr::null_mut();
    assert_eq!(gpcguard_guard_new(cfg, &mut g) as i32, 0, "guard from {path:?}");
    gpcguard_config_free(cfg);
    GuardPtr(g)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn runnable(name: &str, guard: &GuardPtr) -> bool {
    !name.starts_with("abi_") || !guard.0.is_null()
}

fn cmd_time(runs: usize) {
    let b = Bench::new();
    let guard = abi_guard();
    for name in WORKLOADS.iter().filter(|n| runnable(n, &guard)) {
        let mut f = b.workload(name, &guard);
        assert!(f(), "{name}: wrong answer");
        // Calibrate: a run of about 100 ms.
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed().as_millis() < 30 {
            f();
            n += 1;
        }
        let per_run = (n * 100 / 30).max(10);
        let samples: Vec<f64> = (0..runs)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..per_run {
                    black_box(f());
                }
                t.elapsed().as_nanos() as f64 / per_run as f64
            })
            .collect();
        let all: Vec<String> = samples.iter().map(|s| format!("{s:.0}")).collect();
        println!("RESULT time {name} {:.1} runs={} iters={per_run} samples={}", median(samples.clone()), runs, all.join(","));
    }
}

fn cmd_loop(name: &str, n: u64) {
    let b = Bench::new();
    let guard = abi_guard();
    let mut f = b.workload(name, &guard);
    assert!(f(), "{name}: wrong answer");
    let mut ok = 0u64;
    for _ in 0..n {
        ok += f() as u64;
    }
    assert_eq!(ok, n);
    println!("RESULT loop {name} {n}");
}

fn cmd_alloc() {
    let b = Bench::new();
    let guard = abi_guard();
    for name in WORKLOADS.iter().filter(|n| runnable(n, &guard)) {
        let mut f = b.workload(name, &guard);
        assert!(f(), "{name}: wrong answer");
        let n = 1000u64;
        ALLOCS.store(0, Ordering::SeqCst);
        COUNTING.store(true, Ordering::SeqCst);
        for _ in 0..n {
            black_box(f());
        }
        COUNTING.store(false, Ordering::SeqCst);
        println!("RESULT alloc {name} {:.2}", ALLOCS.load(Ordering::SeqCst) as f64 / n as f64);
    }
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Throughput of `threads` threads, each judging `n` allowed requests on the one shared checker.
/// Also the CPU time per op (per-thread CPU clocks): it stays flat when nothing is contended,
/// whatever else runs on the machine.
fn cmd_threads(n: u64, runs: usize) {
    let b = Bench::new();
    let headers: Vec<(&[u8], &[u8])> = b.fx.allowed.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    // One and two threads alternate, run after run, so that a change in what else the machine
    // is doing falls on both alike.
    let (mut rates, mut cpus) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for _ in 0..runs {
        for threads in [1usize, 2] {
            let start = Instant::now();
            let cpu: u64 = std::thread::scope(|s| {
                let hs = (0..threads)
                    .map(|_| {
                        let (b, headers) = (&b, &headers);
                        s.spawn(move || {
                            let c0 = thread_cpu_ns();
                            for _ in 0..n {
                                let req = Request { method: &b.fx.method, target: &b.fx.target, headers, now: b.now };
                                assert!(b.checker.check(black_box(&req)).allowed());
                            }
                            thread_cpu_ns() - c0
                        })
                    })
                    .collect::<Vec<_>>();
                hs.into_iter().map(|h| h.join().unwrap()).sum()
            });
            let secs = start.elapsed().as_secs_f64();
            rates[threads - 1].push((threads as u64 * n) as f64 / secs);
            cpus[threads - 1].push(cpu as f64 / (threads as u64 * n) as f64);
        }
    }
    for (i, (rate, cpu)) in rates.into_iter().zip(cpus).enumerate() {
        println!("RESULT threads {} {:.0} cpu_ns_per_op={:.1}", i + 1, median(rate), median(cpu));
    }
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * (unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64) / 1024
}

fn cmd_rss(n: u64) {
    let b = Bench::new();
    let guard = abi_guard();
    let mut rust = b.workload("rust_allowed", &guard);
    let mut abi = if guard.0.is_null() { None } else { Some(b.workload("abi_allowed", &guard)) };
    let step = |f: &mut Box<dyn FnMut() -> bool + '_>, count: u64| {
        for _ in 0..count {
            assert!(f());
        }
    };
    step(&mut rust, 1000);
    if let Some(a) = abi.as_mut() {
        step(a, 1000);
    }
    let start = rss_kib();
    step(&mut rust, n / 10);
    let tenth = rss_kib();
    step(&mut rust, n - n / 10);
    if let Some(a) = abi.as_mut() {
        step(a, n);
    }
    println!("RESULT rss {n} start_kib={start} tenth_kib={tenth} end_kib={}", rss_kib());
}

fn cmd_emit(dir: &str) {
    let iat = unix_now() - 10;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(format!("{dir}/token-none.txt"), token_none(iat)).unwrap();
    std::fs::write(format!("{dir}/token-hs256.txt"), token_hs256(iat)).unwrap();
    std::fs::write(format!("{dir}/hs256-secret.txt"), HS256_SECRET).unwrap();
    println!("RESULT emit {dir} token_bytes={}", token_none(iat).len());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(7);
    match args.get(1).map(String::as_str) {
        Some("time") => cmd_time(runs),
        Some("loop") => cmd_loop(&args[2], args[3].parse().unwrap()),
        Some("alloc") => cmd_alloc(),
        Some("threads") => cmd_threads(args.get(2).and_then(|a| a.parse().ok()).unwrap_or(200_000), runs),
        Some("rss") => cmd_rss(args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1_000_000)),
        Some("emit") => cmd_emit(&args[2]),
        Some("list") => WORKLOADS.iter().for_each(|w| println!("{w}")),
        _ => {
            eprintln!("usage: reqbench time|loop WORKLOAD N|alloc|threads [N]|rss [N]|emit DIR|list");
            std::process::exit(2);
        }
    }
}
