//! Request-level tests: the provider test pack's cases and adversarial inputs, each changing one
//! thing of a valid baseline request (testkit's baseline token).

use super::*;
use crate::config::Capability;
use crate::testkit::{self as kit, baseline_claims, token, token_raw, with};
use serde_json::{json, Value};

const G: &str = "/A1/STU3/1/gpconnect";
const URN: &str = "urn:nhs:names:services:gpconnect:";

/// Every interaction: id tail, method, path under the service-root base `G`, the test pack's
/// default scope (spec §3.1, §3.2).
const ALL: &[(&str, &str, &str, &str)] = &[
    ("fhir:rest:read:metadata-1", "GET", "/metadata", "organization/*.read"),
    ("fhir:rest:read:patient-1", "GET", "/Patient/2", "patient/*.read"),
    ("fhir:rest:search:patient-1", "GET", "/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009", "patient/*.read"),
    ("fhir:rest:read:practitioner-1", "GET", "/Practitioner/1", "organization/*.read"),
    ("fhir:rest:search:practitioner-1", "GET", "/Practitioner?identifier=https://fhir.nhs.uk/Id/sds-user-id|G13579135", "organization/*.read"),
    ("fhir:rest:read:organization-1", "GET", "/Organization/7", "organization/*.read"),
    ("fhir:rest:search:organization-1", "GET", "/Organization?identifier=https://fhir.nhs.uk/Id/ods-organization-code|A20047", "organization/*.read"),
    ("fhir:rest:read:location-1", "GET", "/Location/1", "organization/*.read"),
    ("fhir:operation:gpc.registerpatient-1", "POST", "/Patient/$gpc.registerpatient", "patient/*.write"),
    ("fhir:rest:search:slot-1", "GET", "/Slot?status=free&start=ge2017-10-20&end=le2017-10-21&_include=Slot:schedule", "organization/*.read"),
    ("fhir:rest:read:appointment-1", "GET", "/Appointment/1", "patient/*.read"),
    ("fhir:rest:create:appointment-1", "POST", "/Appointment", "patient/*.write"),
    ("fhir:rest:update:appointment-1", "PUT", "/Appointment/1", "patient/*.write"),
    ("fhir:rest:cancel:appointment-1", "PUT", "/Appointment/1", "patient/*.write"),
    ("fhir:rest:search:patient_appointments-1", "GET", "/Patient/2/Appointment?start=ge2017-10-20&start=le2017-10-30", "patient/*.read"),
    ("structured:fhir:rest:read:metadata-1", "GET", "/structured/metadata", "organization/*.read"),
    ("fhir:operation:gpc.getstructuredrecord-1", "POST", "/structured/Patient/$gpc.getstructuredrecord", "patient/*.read"),
    ("fhir:operation:gpc.migratestructuredrecord-1", "POST", "/structured/Patient/$gpc.migratestructuredrecord", "patient/*.read conf/N"),
    ("documents:fhir:rest:read:metadata-1", "GET", "/documents/metadata", "organization/*.read"),
    ("documents:fhir:rest:search:patient-1", "GET", "/documents/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9690937286", "patient/*.read"),
    ("documents:fhir:rest:search:documentreference-1", "GET", "/documents/Patient/2/DocumentReference?_include=DocumentReference:subject:Patient", "patient/*.read"),
    ("documents:fhir:rest:read:binary-1", "GET", "/documents/Binary/07a6483f-732b-461e-86b6-edb665c45510", "patient/*.read conf/N"),
    ("documents:fhir:rest:migrate:binary-1", "GET", "/documents/Binary/07a6483f-732b-461e-86b6-edb665c45510", "patient/*.read conf/R"),
];

fn settings() -> Settings {
    let mut s = Settings::for_tests(kit::PROVIDER_ASID, "msg.dev.spine2.ncrs.nhs.uk");
    s.service_roots = vec![
        ServiceRoot { capability: Capability::Structured, prefix: format!("{G}/structured") },
        ServiceRoot { capability: Capability::Documents, prefix: format!("{G}/documents") },
        ServiceRoot { capability: Capability::Foundations, prefix: G.to_owned() },
    ];
    s
}

fn checker() -> RequestChecker {
    RequestChecker::new(&settings()).unwrap()
}

#[derive(Clone)]
struct Req {
    method: Vec<u8>,
    target: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    now: i64,
}

impl Req {
    /// A valid request for the interaction `tail` of [`ALL`].
    fn of(tail: &str) -> Req {
        let &(_, method, path, scope) = ALL.iter().find(|r| r.0 == tail).expect("interaction in ALL");
        let mut claims = with(baseline_claims(), "requested_scope", Some(json!(scope)));
        if tail.contains("migrate") {
            claims = with(claims, "reason_for_request", Some(json!("migration")));
        }
        Req {
            method: method.into(),
            target: format!("{G}{path}").into(),
            headers: vec![
                (b"Ssp-TraceID".to_vec(), kit::TRACE_ID.into()),
                (b"Ssp-From".to_vec(), kit::CONSUMER_ASID.into()),
                (b"Ssp-To".to_vec(), kit::PROVIDER_ASID.into()),
                (b"Ssp-InteractionID".to_vec(), format!("{URN}{tail}").into()),
                (b"Authorization".to_vec(), format!("Bearer {}", token(&claims)).into()),
                (b"Accept".to_vec(), b"application/fhir+json".to_vec()),
            ],
            now: kit::NOW,
        }
    }

    fn read_patient() -> Req {
        Req::of("fhir:rest:read:patient-1")
    }

    /// Replaces (or with `None` removes) every header named `name`, any case.
    fn header(mut self, name: &str, value: Option<&[u8]>) -> Req {
        let at = self.headers.iter().position(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()));
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()));
        if let Some(v) = value {
            self.headers.insert(at.unwrap_or(0), (name.as_bytes().to_vec(), v.to_vec()));
        }
        self
    }

    fn add(mut self, name: &str, value: &[u8]) -> Req {
        self.headers.push((name.as_bytes().to_vec(), value.to_vec()));
        self
    }

    fn bearer(self, token: &str) -> Req {
        self.header("Authorization", Some(format!("Bearer {token}").as_bytes()))
    }

    /// Replaces the token with one carrying `claims`.
    fn claims(self, claims: &Value) -> Req {
        self.bearer(&token(claims))
    }

    /// The baseline claims of this request with one member changed (or removed).
    fn claim(self, path: &str, value: Option<Value>) -> Req {
        let c = self.current_claims();
        self.claims(&with(c, path, value))
    }

    fn current_claims(&self) -> Value {
        let auth = &self.headers.iter().find(|(n, _)| n == b"Authorization").unwrap().1;
        let payload = std::str::from_utf8(auth).unwrap().split('.').nth(1).unwrap();
        let mut out = vec![0; crate::request::base64url::decoded_len(payload.len()).unwrap()];
        crate::request::base64url::base64url_decode(payload.as_bytes(), &mut out).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    fn method(mut self, m: &str) -> Req {
        self.method = m.into();
        self
    }

    fn target(mut self, t: &str) -> Req {
        self.target = t.into();
        self
    }

    fn run_with(&self, c: &RequestChecker) -> Verdict {
        let headers: Vec<(&[u8], &[u8])> = self.headers.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        let v = c.check(&Request { method: &self.method, target: &self.target, headers: &headers, now: self.now });
        self.assert_no_leak(&v);
        v
    }

    fn run(&self) -> Verdict {
        self.run_with(&checker())
    }

    fn reason(&self) -> Reason {
        self.run().reason
    }

    /// The verdict never carries the token or the query string, whatever it is.
    fn assert_no_leak(&self, v: &Verdict) {
        let record: Value = serde_json::from_str(&v.audit_record).expect("audit record is JSON");
        assert!(!v.audit_record.contains('\n'));
        assert_eq!(record["reason"], v.reason.answer().name);
        let mut secrets: Vec<Vec<u8>> = Vec::new();
        if let Some((_, auth)) = self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(b"authorization")) {
            if let Some(t) = auth.split(|&b| b == b' ').nth(1) {
                for part in t.split(|&b| b == b'.').filter(|p| p.len() > 8) {
                    secrets.push(part.to_vec());
                }
            }
        }
        if let Some(q) = self.target.iter().position(|&b| b == b'?') {
            for param in self.target[q + 1..].split(|&b| b == b'&') {
                if let Some(eq) = param.iter().position(|&b| b == b'=') {
                    if param.len() - eq > 4 {
                        secrets.push(param[eq + 1..].to_vec());
                    }
                }
            }
        }
        let outcome = v.operation_outcome().unwrap_or_default();
        for s in &secrets {
            let s = String::from_utf8_lossy(s);
            for text in [&v.audit_record, &v.message, &outcome] {
                assert!(!text.contains(&*s), "{s} leaked into {text}");
            }
        }
    }
}

#[test]
fn every_interaction_with_its_default_scope_is_allowed() {
    let c = checker();
    for &(tail, ..) in ALL {
        let v = Req::of(tail).run_with(&c);
        assert!(v.allowed(), "{tail}: {:?} {}", v.reason, v.message);
        assert_eq!(v.interaction_id, format!("{URN}{tail}"));
        assert_eq!(v.http_status(), 200);
        assert_eq!(v.error_code(), "");
        assert!(v.operation_outcome().is_none());
    }
}

#[test]
fn allowed_audit_record_has_the_provenance_but_not_the_query() {
    let v = Req::of("fhir:rest:search:patient-1").run();
    assert!(v.allowed());
    let r: Value = serde_json::from_str(&v.audit_record).unwrap();
    assert_eq!(r["verdict"], "allowed");
    assert_eq!(r["status"], 200);
    assert_eq!(r["trace_id"], kit::TRACE_ID);
    assert_eq!(r["from"], kit::CONSUMER_ASID);
    assert_eq!(r["to"], kit::PROVIDER_ASID);
    assert_eq!(r["interaction"], format!("{URN}fhir:rest:search:patient-1"));
    assert_eq!(r["method"], "GET");
    assert_eq!(r["path"], format!("{G}/Patient"));
    assert_eq!(r["ods_code"], "GPCA0001");
    assert_eq!(r["sds_user_id"], "GCASDS0001");
    assert_eq!(r["sds_role_id"], "112233445566");
    assert_eq!(r["device"], "Client");
    assert_eq!(r["scope"], "patient/*.read");
    assert_eq!(r["reason_for_request"], "directcare");
    assert!(!v.audit_record.contains("9000000009") && !v.audit_record.contains("identifier"));
}

#[test]
fn missing_each_header_per_interaction() {
    let c = checker();
    for &(tail, ..) in ALL {
        for name in ["Ssp-TraceID", "Ssp-From", "Ssp-To", "Ssp-InteractionID"] {
            let v = Req::of(tail).header(name, None).run_with(&c);
            assert_eq!(v.reason, Reason::HeaderMissing, "{tail} without {name}");
            assert_eq!((v.http_status(), v.error_code()), (400, "BAD_REQUEST"));
            assert!(v.message.contains(name));
        }
        let v = Req::of(tail).header("Authorization", None).run_with(&c);
        assert_eq!(v.reason, Reason::AuthorizationMissing, "{tail} without Authorization");
        assert_eq!(v.interaction_id, format!("{URN}{tail}"));
    }
}

#[test]
fn refusals_carry_an_operation_outcome_and_an_audit_record() {
    let v = Req::read_patient().header("Ssp-To", Some(b"123456789123")).run();
    assert_eq!(v.reason, Reason::WrongRecipient);
    assert_eq!((v.http_status(), v.error_code()), (400, "BAD_REQUEST"));
    assert!(v.message.contains(kit::PROVIDER_ASID));
    let body: Value = serde_json::from_str(&v.operation_outcome().unwrap()).unwrap();
    assert_eq!(body["issue"][0]["details"]["coding"][0]["code"], "BAD_REQUEST");
    let r: Value = serde_json::from_str(&v.audit_record).unwrap();
    assert_eq!((r["verdict"].as_str(), r["reason"].as_str(), r["to"].as_str()), (Some("refused"), Some("WRONG_RECIPIENT"), Some("123456789123")));
    assert!(r.get("ods_code").is_none());
    assert_eq!(v.interaction_id, "");
}

#[test]
fn header_values_with_control_bytes_or_repeats_are_invalid() {
    for (name, value) in [
        ("Ssp-TraceID", &b""[..]),
        ("Ssp-TraceID", b"5b1e7a4c-9f2d-4c1b-8e3a-2d6f0c9b7a15\0"),
        ("Ssp-From", b"2000\r\n00359"),
        ("Ssp-From", b"200000000359\n"),
        ("Ssp-To", b"918999198993\r"),
        ("Ssp-To", b"\x00918999198993"),
        ("Ssp-InteractionID", b"urn:nhs:names:services:gpconnect:fhir:rest:read:patient-1\x7f"),
        ("Ssp-InteractionID", b"urn:nhs:names:services:gpconnect:fhir:rest:read:patient-1\xc3\xa9"),
        ("Ssp-InteractionID", b"read:patient"),
    ] {
        assert_eq!(Req::read_patient().header(name, Some(value)).reason(), Reason::HeaderInvalid, "{name} {value:?}");
    }
    // Surrounding SP/HTAB is not part of the value.
    assert!(Req::read_patient().header("Ssp-To", Some(b"\t 918999198993 \t")).run().allowed());
    for name in ["Ssp-TraceID", "SSP-FROM", "ssp-to", "Ssp-InteractionId"] {
        let r = Req::read_patient();
        let v = r.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).unwrap().1.clone();
        assert_eq!(r.add(name, &v).reason(), Reason::HeaderInvalid, "{name} twice");
    }
    let r = Req::read_patient();
    let auth = r.headers.iter().find(|(n, _)| n == b"Authorization").unwrap().1.clone();
    assert_eq!(r.add("authorization", &auth).reason(), Reason::HeaderInvalid);
    // Someone else's odd header is none of our business.
    assert!(Req::read_patient().add("X-Other", b"\xff\0\r\n").run().allowed());
}

#[test]
fn unknown_and_wrong_interaction_ids() {
    for id in [
        "urn:nhs:names:services:gpconnect:fhir:rest:read:nothing-1",
        "urn:nhs:names:services:gpconnect:fhir:rest:read:patient",
        "urn:nhs:names:services:gpconnect:fhir:rest:read:patient-2",
        "urn:nhs:names:services:gpconnect:fhir:rest:read:Patient-1",
        "urn:nhs:names:services:gpconnect:fhir:operation:gpc.getcarerecord",
    ] {
        let v = Req::read_patient().header("Ssp-InteractionID", Some(id.as_bytes())).run();
        assert_eq!(v.reason, Reason::InteractionUnknown, "{id}");
        assert_eq!(v.interaction_id, "");
    }
    for tail in ["fhir:rest:search:patient-1", "fhir:rest:read:practitioner-1", "fhir:operation:gpc.registerpatient-1", "fhir:rest:read:metadata-1", "documents:fhir:rest:read:binary-1"] {
        let id = format!("{URN}{tail}");
        let v = Req::read_patient().header("Ssp-InteractionID", Some(id.as_bytes())).run();
        assert_eq!(v.reason, Reason::InteractionMismatch, "{tail}");
    }
    // Amend and cancel share the request line: either ID fits.
    let amend = Req::of("fhir:rest:update:appointment-1");
    assert!(amend.clone().header("Ssp-InteractionID", Some(format!("{URN}fhir:rest:cancel:appointment-1").as_bytes())).run().allowed());
}

#[test]
fn http_method_and_url_hygiene_on_metadata() {
    let meta = || Req::of("fhir:rest:read:metadata-1");
    for (method, path) in [
        ("GET", "/metadatas"), ("POST", "/metadatas"), ("PUT", "/metadatas"), ("GET", "/Metadata"), ("PATCH", "/metadata"),
        ("DELETE", "/metadata"), ("OPTIONS", "/metadata"), ("get", "/metadata"), ("G\0T", "/metadata"), ("", "/metadata"),
        ("GET", "/metadata/"), ("GET", "/metadata#x"), ("GET", "/./metadata"), ("GET", "/x/../metadata"), ("GET", "/%6detadata"),
    ] {
        let v = meta().method(method).target(&format!("{G}{path}")).run();
        assert_eq!(v.reason, Reason::InteractionMismatch, "{method:?} {path}");
        assert!(v.operation_outcome().is_some());
    }
}

#[test]
fn unnormalised_paths_are_mismatches() {
    for path in [
        "/Patient/..", "/Patient/.", "/Patient/%2e%2e", "/Patient%2F2", "/Patient/2%2F..%2F3", "/Patient//2", "/Patient/2/",
        "/Patient/../Patient/2", "/Patient/2#x", "/Patient/a b", "/Patient/x\r\nX-Injected: 1", "/Patient/2?a=1#f",
    ] {
        let v = Req::read_patient().target(&format!("{G}{path}")).run();
        assert_eq!(v.reason, Reason::InteractionMismatch, "{path:?}");
    }
    // The query string never routes: an unexpected or encoded query is fine.
    assert!(Req::read_patient().target(&format!("{G}/Patient/2?_format=application/fhir%2Bjson")).run().allowed());
}

#[test]
fn interaction_under_the_wrong_service_root() {
    let v = Req::of("fhir:operation:gpc.getstructuredrecord-1").target(&format!("{G}/Patient/$gpc.getstructuredrecord")).run();
    assert_eq!(v.reason, Reason::InteractionMismatch);
    let v = Req::of("fhir:rest:read:metadata-1").target(&format!("{G}/structured/metadata")).run();
    assert_eq!(v.reason, Reason::InteractionMismatch);
    let v = Req::of("fhir:rest:read:metadata-1").target("/other/metadata").run();
    assert_eq!(v.reason, Reason::InteractionMismatch);
}

#[test]
fn exp_minus_iat_must_be_300() {
    for delta in [299, 301, -1] {
        let v = Req::read_patient().claim("exp", Some(json!(kit::IAT + delta))).run();
        assert_eq!(v.reason, Reason::JwtClaimInvalid, "{delta}");
        assert_eq!(v.interaction_id, format!("{URN}fhir:rest:read:patient-1"));
    }
}

#[test]
fn expiry_and_future_iat() {
    let mut r = Req::read_patient();
    r.now = kit::IAT + 301;
    assert_eq!(r.reason(), Reason::JwtExpired);
    r.now = kit::IAT + 300;
    assert!(r.run().allowed());
    // Future iat +200 s is accepted (GP Connect 1.2.3+), refused only when configured.
    r.now = kit::IAT - 200;
    assert!(r.run().allowed());
    let mut s = settings();
    s.check_iat_future = true;
    assert_eq!(r.run_with(&RequestChecker::new(&s).unwrap()).reason, Reason::JwtClaimInvalid);
    s.clock_skew_seconds = 200;
    assert!(r.run_with(&RequestChecker::new(&s).unwrap()).allowed());
    let mut s = settings();
    s.clock_skew_seconds = 60;
    r.now = kit::IAT + 360;
    assert!(r.run_with(&RequestChecker::new(&s).unwrap()).allowed());
    r.now = kit::IAT + 361;
    assert_eq!(r.run_with(&RequestChecker::new(&s).unwrap()).reason, Reason::JwtExpired);
}

#[test]
fn scope_read_and_write_per_operation() {
    // GET /Patient/{id}/Appointment with a write scope: 400.
    for scope in ["patient/*.write", "organization/*.write"] {
        let v = Req::of("fhir:rest:search:patient_appointments-1").claim("requested_scope", Some(json!(scope))).run();
        assert_eq!(v.reason, Reason::ScopeDenied, "{scope}");
        assert_eq!(v.http_status(), 400);
    }
    // $gpc.registerpatient with a read scope: 400.
    for scope in ["patient/*.read", "organization/*.read"] {
        assert_eq!(Req::of("fhir:operation:gpc.registerpatient-1").claim("requested_scope", Some(json!(scope))).reason(), Reason::ScopeDenied);
    }
    // Every interaction refuses the scopes other than its own.
    let c = checker();
    for &(tail, _, _, own) in ALL {
        for scope in ["patient/*.read", "patient/*.write", "organization/*.read", "organization/*.write"] {
            if own.starts_with(scope) {
                continue;
            }
            let v = Req::of(tail).claim("requested_scope", Some(json!(scope))).run_with(&c);
            assert_eq!(v.reason, Reason::ScopeDenied, "{tail} with {scope}");
        }
    }
    // With enforcement off the read/write rule is not applied.
    let mut s = settings();
    s.enforce_scope = false;
    let v = Req::of("fhir:operation:gpc.registerpatient-1").claim("requested_scope", Some(json!("organization/*.read"))).run_with(&RequestChecker::new(&s).unwrap());
    assert!(v.allowed());
}

#[test]
fn metadata_with_bad_scope_is_400() {
    let v = Req::of("fhir:rest:read:metadata-1").claim("requested_scope", Some(json!("badScope"))).run();
    assert_eq!(v.reason, Reason::JwtClaimInvalid);
    assert_eq!(v.http_status(), 400);
    assert_eq!(Req::of("fhir:rest:read:metadata-1").claim("requested_scope", Some(json!("patient/*.read"))).reason(), Reason::ScopeDenied);
}

#[test]
fn confidentiality_and_migration() {
    assert_eq!(Req::of("documents:fhir:rest:read:binary-1").claim("requested_scope", Some(json!("patient/*.read conf/R"))).reason(), Reason::ScopeDenied);
    assert!(Req::of("fhir:operation:gpc.migratestructuredrecord-1").claim("requested_scope", Some(json!("patient/*.read conf/R"))).run().allowed());
    assert!(Req::of("fhir:operation:gpc.migratestructuredrecord-1").claim("requesting_practitioner", None).run().allowed());
    assert_eq!(Req::read_patient().claim("requesting_practitioner", None).reason(), Reason::JwtClaimMissing);
    assert_eq!(Req::of("fhir:operation:gpc.migratestructuredrecord-1").claim("reason_for_request", Some(json!("badReason"))).reason(), Reason::JwtClaimInvalid);
    assert_eq!(Req::of("fhir:operation:gpc.migratestructuredrecord-1").claim("reason_for_request", None).reason(), Reason::JwtClaimMissing);
    assert_eq!(Req::of("fhir:operation:gpc.migratestructuredrecord-1").claim("requested_scope", None).reason(), Reason::JwtClaimMissing);
    assert_eq!(Req::read_patient().claim("reason_for_request", Some(json!("migration"))).reason(), Reason::JwtClaimInvalid);
}

#[test]
fn test_pack_claim_cases() {
    let r = Req::read_patient;
    assert!(r().claim("requesting_practitioner.identifier.0.value", Some(json!("UNK"))).run().allowed());
    assert!(r().claim("requesting_practitioner.identifier.1.value", Some(json!("UNK"))).run().allowed());
    let v = r().claim("requesting_device.notAnElement", Some(json!("x"))).run();
    assert_eq!((v.reason, v.http_status(), v.error_code()), (Reason::JwtInvalidResource, 422, "INVALID_RESOURCE"));
    for (claim, wrong) in [("requesting_device", "Organization"), ("requesting_organization", "Device"), ("requesting_practitioner", "Patient")] {
        let v = r().claim(&format!("{claim}.resourceType"), Some(json!(wrong))).run();
        assert_eq!((v.reason, v.http_status()), (Reason::JwtInvalidResource, 422), "{claim}");
    }
    for claim in ["iss", "sub", "aud", "exp", "iat", "reason_for_request", "requested_scope", "requesting_device", "requesting_organization", "requesting_practitioner"] {
        assert_eq!(r().claim(claim, None).reason(), Reason::JwtClaimMissing, "{claim}");
    }
    assert_eq!(r().claim("aud", Some(json!(""))).reason(), Reason::JwtClaimInvalid);
    assert_eq!(r().claim("requested_record", Some(json!({"resourceType": "Patient"}))).reason(), Reason::JwtClaimInvalid);
    let mut s = settings();
    s.jwt_audience = Some(format!("https://provider.example{G}"));
    assert_eq!(r().run_with(&RequestChecker::new(&s).unwrap()).reason, Reason::JwtClaimInvalid);
}

#[test]
fn envelope_attacks() {
    let claims = baseline_claims().to_string();
    let payload = kit::b64url(claims.as_bytes());
    let r = Req::read_patient;
    let head = |h: &str| kit::b64url(h.as_bytes());
    // A payload whose base64url has `-` and `_`, so its std-base64 spelling differs.
    let odd = kit::b64url(with(baseline_claims(), "iss", Some(json!("http://x/?>?>~~~\u{fffe}"))).to_string().as_bytes());
    assert!(odd.contains('-') && odd.contains('_'));
    for (what, t) in [
        ("alg None", format!("{}.{payload}.", head(r#"{"alg":"None","typ":"JWT"}"#))),
        ("alg NONE", format!("{}.{payload}.", head(r#"{"alg":"NONE","typ":"JWT"}"#))),
        ("alg HS256", format!("{}.{payload}.", head(r#"{"alg":"HS256","typ":"JWT"}"#))),
        ("kid", format!("{}.{payload}.", head(r#"{"alg":"none","typ":"JWT","kid":"k"}"#))),
        ("jku", format!("{}.{payload}.", head(r#"{"alg":"none","typ":"JWT","jku":"https://evil"}"#))),
        ("crit", format!("{}.{payload}.", head(r#"{"alg":"none","typ":"JWT","crit":["x"]}"#))),
        ("duplicate alg", format!("{}.{payload}.", head(r#"{"alg":"none","alg":"none","typ":"JWT"}"#))),
        ("signature", format!("{}.{payload}.c2ln", head(kit::HEADER))),
        ("third dot", format!("{}.{payload}..", head(kit::HEADER))),
        ("no trailing dot", format!("{}.{payload}", head(kit::HEADER))),
        ("padding", format!("{}=.{payload}.", head(kit::HEADER))),
        ("std base64", format!("{}.{}.", head(kit::HEADER), odd.replace('-', "+").replace('_', "/"))),
        ("raw json", format!("{}.{claims}.", kit::HEADER)),
        ("non-utf8 payload", token_raw("{\"iss\":\"\u{0}\"}").replace(&kit::b64url(b"{\"iss\":\"\0\"}"), &kit::b64url(b"{\"iss\":\"\xff\"}"))),
        ("duplicate claim", token_raw(&claims.replacen('{', "{\"requested_scope\":\"patient/*.write\",", 1))),
        ("nested duplicate", token_raw(&claims.replacen("\"model\"", "\"model\":\"x\",\"model\"", 1))),
        ("trailing garbage", token_raw(&format!("{claims} x"))),
        ("array payload", token_raw("[1]")),
    ] {
        let v = r().bearer(&t).run();
        assert_eq!(v.reason, Reason::JwtMalformed, "{what}");
        assert!(!v.message.contains(&payload[..40]));
    }
    for auth in [&b"Basic dXNlcjpwYXNz"[..], b"Bearer", b"Bearer  x.y.", b"bearer\tx.y.", b"x.y."] {
        assert_eq!(r().header("Authorization", Some(auth)).reason(), Reason::JwtMalformed, "{auth:?}");
    }
    assert_eq!(r().header("Authorization", Some(b"  ")).reason(), Reason::AuthorizationMissing);
    assert_eq!(r().header("Authorization", Some(b"")).reason(), Reason::AuthorizationMissing);
    // Scheme case does not matter.
    let t = token(&baseline_claims());
    assert!(r().header("Authorization", Some(format!("BEARER {t}").as_bytes())).run().allowed());
}

/// Two member names equal ignoring ASCII case, at any depth of the payload or in the header, are
/// refused as duplicates are: a binder that ignores case could read the other value.
#[test]
fn claim_names_that_differ_only_in_case_are_malformed() {
    let r = Req::read_patient;
    let claims = baseline_claims().to_string();
    let twin_message = "has two members whose names differ only in case";
    let expect_twin = |what: &str, req: Req| {
        let v = req.run();
        assert_eq!((v.reason, v.http_status(), v.error_code()), (Reason::JwtMalformed, 400, "BAD_REQUEST"), "{what}: {}", v.message);
        assert_eq!(v.message, format!("the JWT payload {twin_message}"), "{what}");
        req.assert_no_leak(&v);
    };
    expect_twin("Requested_Scope", r().claim("Requested_Scope", Some(json!("patient/*.write"))));
    expect_twin("REQUESTED_SCOPE", r().claim("REQUESTED_SCOPE", Some(json!("patient/*.write"))));
    for claim in ["iss", "sub", "aud", "exp", "iat", "reason_for_request", "requested_scope", "requesting_device", "requesting_organization", "requesting_practitioner"] {
        let value = baseline_claims()[claim].clone();
        expect_twin(claim, r().claim(&claim.to_ascii_uppercase(), Some(value.clone())));
        let capitalised = claim[..1].to_ascii_uppercase() + &claim[1..];
        expect_twin(claim, r().claim(&capitalised, Some(value)));
    }
    for nested in [
        "requesting_practitioner.name.0.Family",
        "requesting_practitioner.ID",
        "requesting_practitioner.Identifier",
        "requesting_practitioner.identifier.0.System",
        "requesting_device.identifier.0.VALUE",
        "requesting_organization.NAME",
    ] {
        expect_twin(nested, r().claim(nested, Some(json!("x"))));
    }
    // Compared after unescaping: \u0052 is R.
    expect_twin("escaped R", r().bearer(&token_raw(&claims.replacen('{', r#"{"\u0052equested_scope":"patient/*.write","#, 1))));
    // The header too (a case twin of alg is not just "another member").
    let head = kit::b64url(br#"{"alg":"none","typ":"JWT","ALG":"none"}"#);
    let v = r().bearer(&format!("{head}.{}.", kit::b64url(claims.as_bytes()))).run();
    assert_eq!((v.reason, v.message.as_str()), (Reason::JwtMalformed, format!("the JWT header {twin_message}").as_str()));
    // Only ASCII letters fold: a long s (U+017F, Unicode's case-fold of S) makes another, unknown claim.
    assert!(r().claim("reque\u{17f}ted_scope", Some(json!("patient/*.write"))).run().allowed());
}

#[test]
fn sizes_are_bounded() {
    let r = Req::read_patient;
    // 1 MB Authorization.
    let huge = format!("Bearer {}", "A".repeat(1 << 20));
    assert_eq!(r().header("Authorization", Some(huge.as_bytes())).reason(), Reason::RequestTooLarge);
    // Huge JSON within a raised Authorization limit still meets max_json_bytes.
    let mut s = settings();
    s.limits.max_authorization_bytes = 1 << 21;
    s.limits.max_header_bytes = 1 << 22;
    let c = RequestChecker::new(&s).unwrap();
    let big = with(baseline_claims(), "iss", Some(json!("x".repeat(100_000))));
    assert_eq!(r().claims(&big).run_with(&c).reason, Reason::RequestTooLarge);
    // Deep nesting: 10k '[' is too large by default, and too deep when size is allowed.
    let deep = token_raw(&"[".repeat(10_000));
    assert_eq!(r().bearer(&deep).reason(), Reason::RequestTooLarge);
    s.limits.max_json_bytes = 1 << 20;
    let c = RequestChecker::new(&s).unwrap();
    assert_eq!(r().bearer(&deep).run_with(&c).reason, Reason::JwtMalformed);
    let deep_claim = with(baseline_claims(), "iss", Some(serde_json::from_str(&format!("{}{}", "[".repeat(40), "]".repeat(40))).unwrap()));
    assert_eq!(r().claims(&deep_claim).reason(), Reason::JwtMalformed);
    // Header count, header bytes, target bytes.
    let mut many = r();
    for i in 0..100 {
        many = many.add(&format!("X-{i}"), b"1");
    }
    assert_eq!(many.reason(), Reason::RequestTooLarge);
    assert_eq!(r().add("X-Big", &vec![b'a'; 70_000]).reason(), Reason::RequestTooLarge);
    assert_eq!(r().target(&format!("{G}/Patient/2?q={}", "a".repeat(9000))).reason(), Reason::RequestTooLarge);
}

#[test]
fn first_failure_decides_in_the_settled_order() {
    let bad_token = "x";
    // Size beats everything.
    let huge = format!("Bearer {}", "A".repeat(9000));
    assert_eq!(Req::read_patient().header("Ssp-To", None).header("Authorization", Some(huge.as_bytes())).reason(), Reason::RequestTooLarge);
    // SSP headers beat interaction and token.
    assert_eq!(Req::read_patient().header("Ssp-From", None).method("POST").bearer(bad_token).reason(), Reason::HeaderMissing);
    assert_eq!(Req::read_patient().header("Ssp-To", Some(b"123456789123")).method("POST").reason(), Reason::WrongRecipient);
    // Interaction beats token.
    assert_eq!(Req::read_patient().method("POST").bearer(bad_token).reason(), Reason::InteractionMismatch);
    assert_eq!(Req::read_patient().header("Authorization", None).target(&format!("{G}/Patient/..")).reason(), Reason::InteractionMismatch);
    // Envelope beats claims; claims beat times; times beat scope.
    let mut r = Req::read_patient().claim("requested_scope", Some(json!("patient/*.write")));
    r.now = kit::IAT + 1000;
    assert_eq!(r.reason(), Reason::JwtExpired);
    let r = r.claim("iss", None);
    assert_eq!(r.reason(), Reason::JwtClaimMissing);
}

#[test]
fn refusal_messages_do_not_quote_claims_or_query() {
    let v = Req::of("fhir:rest:search:patient-1")
        .claim("requesting_organization.name", Some(json!(123)))
        .run();
    assert_eq!(v.reason, Reason::JwtInvalidResource);
    assert!(!v.message.contains("GP Connect Assurance"));
    // A malformed value is named by its path, never quoted.
    let bad = Req::read_patient().claim("requesting_practitioner.birthDate", Some(json!("1970-13-01"))).run();
    assert_eq!((bad.reason, bad.message.as_str()), (Reason::JwtInvalidResource, "requesting_practitioner.birthDate is not a valid FHIR date"));
    let r: Value = serde_json::from_str(&v.audit_record).unwrap();
    assert_eq!(r["device"], "Client");
    assert!(r.get("ods_code").is_none());
    assert_eq!(r["path"], format!("{G}/Patient"));
}

#[test]
fn the_checker_never_panics_on_garbage() {
    let c = checker();
    let junk: Vec<Vec<u8>> = vec![b"".to_vec(), b"\xff\xfe".to_vec(), b"\0".to_vec(), "é".repeat(50).into_bytes(), b"Bearer ..".to_vec(), b"Bearer a.b.".to_vec(), b"Bearer eyJ.eyJ.".to_vec()];
    for a in &junk {
        for b in &junk {
            let mut r = Req::read_patient().header("Authorization", Some(a)).method(std::str::from_utf8(b).unwrap_or("GET"));
            r.target = b.clone();
            let v = r.run_with(&c);
            assert!(!v.allowed());
        }
    }
}

/// `(reason, message)` of a verdict, for exact assertions.
fn why(v: &Verdict) -> (Reason, &str) {
    (v.reason, v.message.as_str())
}

/// The settings of [`settings`] with one limit changed.
fn checker_with(change: impl FnOnce(&mut Limits)) -> RequestChecker {
    let mut s = settings();
    change(&mut s.limits);
    RequestChecker::new(&s).unwrap()
}

impl Req {
    fn header_bytes(&self) -> usize {
        self.headers.iter().map(|(n, v)| n.len() + v.len()).sum()
    }

    fn authorization(&self) -> &[u8] {
        &self.headers.iter().find(|(n, _)| n == b"Authorization").unwrap().1
    }
}

/// Each request limit of the configuration table at exactly N (allowed) and N + 1 (refused with
/// the reason and a message naming the key), at its default value.
#[test]
fn header_count_limit_at_n_and_n_plus_1() {
    let c = checker();
    let mut r = Req::read_patient();
    let mut i = 0;
    while r.headers.len() < 100 {
        r = r.add(&format!("X-{i}"), b"1");
        i += 1;
    }
    assert!(r.run_with(&c).allowed(), "exactly max_header_count (100) headers");
    let v = r.add("X-one-more", b"1").run_with(&c);
    assert_eq!(why(&v), (Reason::RequestTooLarge, "101 headers, more than max_header_count (100)"));
    assert_eq!((v.http_status(), v.error_code()), (400, "BAD_REQUEST"));
}

#[test]
fn header_bytes_limit_at_n_and_n_plus_1() {
    let c = checker();
    let r = Req::read_patient();
    let pad = 65536 - r.header_bytes() - "X-Pad".len();
    let r = r.add("X-Pad", &vec![b'a'; pad]);
    assert_eq!(r.header_bytes(), 65536);
    assert!(r.run_with(&c).allowed(), "exactly max_header_bytes (65536)");
    let v = r.add("X", b"").run_with(&c);
    assert_eq!(why(&v), (Reason::RequestTooLarge, "the headers are 65537 bytes, more than max_header_bytes (65536)"));
}

#[test]
fn authorization_limit_at_n_and_n_plus_1() {
    // A valid token padded with JSON whitespace after the payload object to exactly 8192 bytes of
    // Authorization value ("Bearer " + header + "." + payload + ".").
    let claims = baseline_claims().to_string();
    let room = 8192 - "Bearer .".len() - kit::b64url(kit::HEADER.as_bytes()).len() - 1;
    // base64url of n bytes is ceil(4n/3) characters.
    let n = (0..).find(|&n| (4 * n + 2) / 3 == room).expect("a payload length fills the room exactly");
    let padded = format!("{claims}{}", " ".repeat(n - claims.len()));
    let r = Req::read_patient().bearer(&token_raw(&padded));
    assert_eq!(r.authorization().len(), 8192);
    let c = checker();
    assert!(r.run_with(&c).allowed(), "exactly max_authorization_bytes (8192)");
    let mut auth = r.authorization().to_vec();
    auth.push(b'A');
    let v = r.header("Authorization", Some(&auth)).run_with(&c);
    assert_eq!(why(&v), (Reason::RequestTooLarge, "the Authorization header is 8193 bytes, more than max_authorization_bytes (8192)"));
}

#[test]
fn target_limit_at_n_and_n_plus_1() {
    let c = checker();
    let base = format!("{G}/Patient/2?q=");
    let at = |n: usize| Req::read_patient().target(&format!("{base}{}", "a".repeat(n - base.len())));
    assert!(at(8192).run_with(&c).allowed(), "exactly max_target_bytes (8192)");
    let v = at(8193).run_with(&c);
    assert_eq!(why(&v), (Reason::RequestTooLarge, "the request target is 8193 bytes, more than max_target_bytes (8192)"));
}

#[test]
fn json_bytes_limit_at_n_and_n_plus_1() {
    // The decoded payload at exactly 8192 bytes (JSON whitespace after the object), with room in
    // the Authorization and header limits so that max_json_bytes alone decides.
    let c = checker_with(|l| {
        l.max_authorization_bytes = 1 << 16;
        l.max_header_bytes = 1 << 17;
    });
    let claims = baseline_claims().to_string();
    let sized = |n: usize| Req::read_patient().bearer(&token_raw(&format!("{claims}{}", " ".repeat(n - claims.len()))));
    assert!(sized(8192).run_with(&c).allowed(), "exactly max_json_bytes (8192)");
    let v = sized(8193).run_with(&c);
    assert_eq!(why(&v), (Reason::RequestTooLarge, "the JWT payload decodes to 8193 bytes, more than max_json_bytes (8192)"));
    // The JOSE header is held to the same limit.
    let c = checker_with(|l| l.max_json_bytes = kit::HEADER.len() - 1);
    let v = Req::read_patient().bearer(&format!("{}.{}.", kit::b64url(kit::HEADER.as_bytes()), kit::b64url(b"{}"))).run_with(&c);
    assert_eq!(why(&v), (Reason::RequestTooLarge, "the JWT header decodes to 26 bytes, more than max_json_bytes (25)"));
}

/// `claims` with an extra member `x` holding `levels` nested arrays: the payload's nesting is
/// then `levels + 1` (the payload object is level 1).
fn nested(levels: usize) -> Value {
    let text = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    with(baseline_claims(), "x", Some(serde_json::from_str(&text).unwrap()))
}

#[test]
fn json_depth_limit_at_n_and_n_plus_1() {
    let c = checker();
    assert!(Req::read_patient().claims(&nested(15)).run_with(&c).allowed(), "nesting exactly max_json_depth (16)");
    let v = Req::read_patient().claims(&nested(16)).run_with(&c);
    assert_eq!(why(&v), (Reason::JwtMalformed, "the JWT payload is nested too deeply"));
    // A configured depth moves the boundary with it. The baseline's own deepest value is at
    // level 5 (requesting_practitioner.name[0].given), so 5 is the least that admits it.
    for depth in [5, 6, 64] {
        let c = checker_with(|l| l.max_json_depth = depth);
        let v = Req::read_patient().claims(&nested(depth - 1)).run_with(&c);
        assert!(v.allowed(), "nesting {depth} with max_json_depth {depth}: {v:?}");
        let v = Req::read_patient().claims(&nested(depth)).run_with(&c);
        assert_eq!(why(&v), (Reason::JwtMalformed, "the JWT payload is nested too deeply"), "max_json_depth {depth}");
    }
    let v = Req::read_patient().run_with(&checker_with(|l| l.max_json_depth = 4));
    assert_eq!(why(&v), (Reason::JwtMalformed, "the JWT payload is nested too deeply"));
    // Inside a resource claim: an unknown element at depth 16 is read (and refused as not STU3),
    // one level deeper the reader stops first.
    let deep_in = |levels: usize| {
        let text = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        with(baseline_claims(), "requesting_device.x", Some(serde_json::from_str(&text).unwrap()))
    };
    assert_eq!(Req::read_patient().claims(&deep_in(14)).run_with(&c).reason, Reason::JwtInvalidResource);
    let v = Req::read_patient().claims(&deep_in(15)).run_with(&c);
    assert_eq!(why(&v), (Reason::JwtMalformed, "the JWT payload is nested too deeply"));
}

#[test]
fn exp_at_now_plus_skew_and_one_more() {
    for skew in [0, 60, 3600] {
        let mut s = settings();
        s.clock_skew_seconds = skew;
        let c = RequestChecker::new(&s).unwrap();
        let exp = kit::IAT + 300;
        let mut r = Req::read_patient();
        r.now = exp + skew;
        assert!(r.run_with(&c).allowed(), "now = exp + skew ({skew})");
        r.now = exp + skew + 1;
        let v = r.run_with(&c);
        assert_eq!(why(&v), (Reason::JwtExpired, format!("the JWT expired {} seconds ago", skew + 1).as_str()));
        assert_eq!((v.http_status(), v.error_code()), (400, "BAD_REQUEST"));
    }
}

#[test]
fn future_iat_at_now_plus_skew_and_one_more() {
    for skew in [0, 60, 3600] {
        let mut s = settings();
        s.clock_skew_seconds = skew;
        s.check_iat_future = true;
        let c = RequestChecker::new(&s).unwrap();
        let mut r = Req::read_patient();
        r.now = kit::IAT - skew;
        assert!(r.run_with(&c).allowed(), "iat = now + skew ({skew})");
        r.now = kit::IAT - skew - 1;
        let v = r.run_with(&c);
        assert_eq!(why(&v), (Reason::JwtClaimInvalid, format!("the JWT claim iat is {} seconds in the future", skew + 1).as_str()));
        // Not checked unless configured (GP Connect 1.2.3+).
        s.check_iat_future = false;
        assert!(r.run_with(&RequestChecker::new(&s).unwrap()).allowed());
    }
}

/// One change of a token's claims (a path of `testkit::with`, and the value, `None` to remove).
type Change = (&'static str, Option<Value>);

/// Changes that each break one claim rule (some two), across every rule of claims, times and scope.
fn claim_faults() -> Vec<Change> {
    vec![
        ("iss", None), ("iss", Some(json!(""))), ("iss", Some(json!(1))),
        ("sub", None), ("sub", Some(json!(""))), ("sub", Some(json!("2"))),
        ("aud", None), ("aud", Some(json!(""))), ("aud", Some(json!([]))),
        ("exp", None), ("exp", Some(json!("1"))), ("exp", Some(json!(1.5))), ("exp", Some(json!(kit::IAT + 301))), ("exp", Some(json!(kit::IAT + 5))),
        ("iat", None), ("iat", Some(json!(kit::IAT - 1))), ("iat", Some(json!(null))),
        ("reason_for_request", None), ("reason_for_request", Some(json!("migration"))), ("reason_for_request", Some(json!(1))),
        ("requested_scope", None), ("requested_scope", Some(json!("badScope"))), ("requested_scope", Some(json!("organization/*.write"))),
        ("requested_scope", Some(json!("patient/*.read conf/R"))), ("requested_scope", Some(json!(1))),
        ("requested_record", Some(json!({"resourceType": "Patient"}))),
        ("requesting_device", None), ("requesting_device", Some(json!("x"))), ("requesting_device", Some(json!({}))),
        ("requesting_device.resourceType", Some(json!("Organization"))), ("requesting_device.zz", Some(json!(1))),
        ("requesting_device.identifier", None), ("requesting_device.identifier.0.value", None),
        ("requesting_device.model", None), ("requesting_device.version", None),
        ("requesting_organization", None), ("requesting_organization", Some(json!([]))),
        ("requesting_organization.name", None), ("requesting_organization.identifier", None), ("requesting_organization.identifier.0.value", None),
        ("requesting_practitioner", None), ("requesting_practitioner", Some(json!(1))),
        ("requesting_practitioner.resourceType", Some(json!("Patient"))),
        ("requesting_practitioner.id", None), ("requesting_practitioner.id", Some(json!("2"))),
        ("requesting_practitioner.name", None), ("requesting_practitioner.name.0.family", None),
        ("requesting_practitioner.identifier", None), ("requesting_practitioner.identifier.1.value", None),
    ]
}

/// The token and interaction of a request, for [`RequestChecker::explain_token`].
fn token_and_interaction(r: &Req) -> (Vec<u8>, String) {
    let value = |name: &[u8]| r.headers.iter().find(|(n, _)| n == name).unwrap().1.clone();
    (value(b"Authorization")[7..].to_vec(), String::from_utf8(value(b"Ssp-InteractionID")).unwrap())
}

/// Every rule judged on its own (the operators' `check-request --token`) agrees with the check a
/// host runs: the first rule to fail has the verdict's step, reason and message; an allowed
/// token fails no rule; every rule is listed each time, in one order. Each fault alone and every
/// pair of faults, for a direct-care, a migrate and an organisation interaction, with the
/// optional rules off and on, inside the token's lifetime and after it.
#[test]
fn every_rule_explanation_agrees_with_the_verdict() {
    let mut strict = settings();
    strict.jwt_audience = Some("https://authorize.fhir.nhs.net/token".into());
    strict.check_iat_future = true;
    let mut lax = settings();
    lax.enforce_scope = false;
    let checkers = [checker(), RequestChecker::new(&strict).unwrap(), RequestChecker::new(&lax).unwrap()];
    let faults = claim_faults();
    let mut changes: Vec<Vec<&Change>> = vec![vec![]];
    for (i, a) in faults.iter().enumerate() {
        changes.push(vec![a]);
        // A second fault elsewhere (not inside a claim the first one replaced).
        let top = |c: &Change| c.0.split('.').next().unwrap();
        changes.extend(faults[i + 1..].iter().filter(|b| top(a) != top(b)).map(|b| vec![a, b]));
    }
    let mut names: Option<Vec<&'static str>> = None;
    let (mut compared, mut several) = (0, 0);
    for tail in ["fhir:rest:read:patient-1", "fhir:operation:gpc.migratestructuredrecord-1", "fhir:rest:read:metadata-1"] {
        for change in &changes {
            let mut r = Req::of(tail);
            for (path, value) in change {
                r = r.claim(path, value.clone());
            }
            for now in [kit::NOW, kit::IAT + 1000] {
                r.now = now;
                let (token, iid) = token_and_interaction(&r);
                for c in &checkers {
                    let v = r.run_with(c);
                    let e = c.explain_token(&token, &iid, now);
                    let listed: Vec<&'static str> = e.rules.iter().map(|j| j.rule).collect();
                    assert_eq!(&listed, names.get_or_insert_with(|| listed.clone()), "{tail} {change:?}: every rule, in one order");
                    let failed: Vec<&rules::Judged> = e.rules.iter().filter(|j| matches!(j.outcome, rules::Outcome::Fail(_))).collect();
                    let decided = e.steps.last().unwrap();
                    match failed.first() {
                        None => assert!(v.allowed(), "{tail} {change:?}: refused ({}) with no rule failed", v.message),
                        Some(first) => {
                            let rules::Outcome::Fail(f) = &first.outcome else { unreachable!() };
                            assert_eq!((f.reason, f.message.as_str()), (v.reason, v.message.as_str()), "{tail} {change:?} at {now}: rule {}", first.rule);
                            assert_eq!(first.step, decided.step, "{tail} {change:?}");
                            assert_eq!(decided.outcome.as_ref().unwrap_err(), f);
                            compared += 1;
                            several += usize::from(failed.len() > 1);
                        }
                    }
                }
            }
        }
    }
    assert_eq!(names.unwrap().len(), 42);
    assert!(compared > 10_000 && several > 5_000, "{compared} refusals compared, {several} with more than one rule failed");
}

/// Three faults in three claims: the explanation names all three, each with the message the
/// request path gives when it is the first; the rules that hold pass.
#[test]
fn explanation_lists_every_failed_rule_not_only_the_first() {
    let r = Req::read_patient()
        .claim("aud", Some(json!("")))
        .claim("requesting_device.model", None)
        .claim("requesting_practitioner.id", Some(json!("2")));
    let (token, iid) = token_and_interaction(&r);
    let e = checker().explain_token(&token, &iid, r.now);
    let outcome = |rule: &str| e.rules.iter().find(|j| j.rule == rule).unwrap_or_else(|| panic!("no rule {rule}")).outcome.clone();
    let fail = |message: &str| rules::Outcome::Fail(Refusal::new(Reason::JwtClaimInvalid, message));
    assert_eq!(outcome("aud a non-empty string"), fail("the JWT claim aud is an empty string"));
    assert_eq!(outcome("requesting_device.model"), fail("requesting_device.model is missing"));
    assert_eq!(outcome("sub is requesting_practitioner.id"), fail("the JWT claim sub is not requesting_practitioner.id"));
    let failed = e.rules.iter().filter(|j| matches!(j.outcome, rules::Outcome::Fail(_))).count();
    assert_eq!(failed, 3);
    for rule in ["iss a non-empty string", "requesting_device.version", "requesting_practitioner.id", "requested_scope in the grammar", "requested_scope permits the interaction"] {
        assert_eq!(outcome(rule), rules::Outcome::Pass, "{rule}");
    }
    // The verdict: the first of the three.
    assert_eq!(why(&r.run()), (Reason::JwtClaimInvalid, "the JWT claim aud is an empty string"));
    // A resource claim that is not an object fails that rule, and the rules of its content do not apply.
    let r = Req::read_patient().claim("requesting_device", Some(json!("x")));
    assert_eq!(why(&r.run()), (Reason::JwtClaimInvalid, "the JWT claim requesting_device is not a JSON object"));
    let (token, iid) = token_and_interaction(&r);
    let e = checker().explain_token(&token, &iid, r.now);
    let device: Vec<&rules::Outcome> = e.rules.iter().filter(|j| j.rule.starts_with("requesting_device ") || j.rule.starts_with("requesting_device.")).map(|j| &j.outcome).collect();
    let not_a_device = rules::Outcome::NotApplicable("requesting_device is not a valid Device");
    assert_eq!(device[1..], [&rules::Outcome::Fail(Refusal::new(Reason::JwtClaimInvalid, "the JWT claim requesting_device is not a JSON object")), &not_a_device, &not_a_device, &not_a_device, &not_a_device]);
}
