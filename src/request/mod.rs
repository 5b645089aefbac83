//! The per-request check: the orchestrator of [`ssp`], [`interactions`], [`jwt`], [`claims`]
//! and [`scope`], in the settled order (API.md): request size limits, SSP headers, interaction,
//! Authorization/JWT envelope, claims, times, scope. The first failure decides the verdict.
//!
//! Every verdict, allowed or refused, carries an audit record ([`audit::Provenance`]) with what
//! was established up to the decision, and never the token or the query string.
//!
//! The parts, each named after what it checks: [`ssp`] the SSP headers, [`interactions`] the
//! interaction ID against method and path (table in `interactions.toml`), [`jwt`] the bearer
//! token's envelope with [`base64url`] and the strict JSON reader [`json`], [`claims`] the audit
//! claims and their FHIR resources, [`scope`] `requested_scope` against the interaction, and
//! [`audit`] the audit record.

pub mod audit;
pub mod base64url;
pub mod claims;
pub mod fhir;
pub mod interactions;
pub mod json;
pub mod jwt;
pub mod scope;
pub mod ssp;

use audit::{Provenance};
use claims::{ClaimRules, FhirElements};
use crate::config::{Limits, ServiceRoot, Settings};
use crate::error::Result;
use interactions::{Interaction, Table};
use crate::refusal::Refusal;
use crate::verdict::{plain_str, Reason, Verdict};

/// A request as the host received it. Header names and values are raw bytes; `now` is Unix
/// seconds, already resolved by the caller (the C ABI turns 0 into the system clock).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a [u8],
    /// Path and query as received, e.g. `/A1/STU3/1/gpconnect/Patient?identifier=...`.
    pub target: &'a [u8],
    pub headers: &'a [(&'a [u8], &'a [u8])],
    pub now: i64,
}

/// Everything a request check needs, prepared once per guard.
#[derive(Debug)]
pub struct RequestChecker {
    provider_asid: String,
    /// Longest prefix first.
    service_roots: Vec<ServiceRoot>,
    limits: Limits,
    enforce_scope: bool,
    jwt_audience: Option<String>,
    times: claims::TimeRules,
    error_code_system: std::sync::Arc<str>,
    table: &'static Table,
    elements: &'static FhirElements,
}

fn too_large(message: String) -> Refusal {
    Refusal::new(Reason::RequestTooLarge, message)
}

impl RequestChecker {
    pub fn new(settings: &Settings) -> Result<RequestChecker> {
        let mut service_roots = settings.service_roots.clone();
        // Settings sorts them already; the first-match-is-longest rule must not depend on that.
        service_roots.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(RequestChecker {
            provider_asid: settings.provider_asid.clone(),
            service_roots,
            limits: settings.limits.clone(),
            enforce_scope: settings.enforce_scope,
            jwt_audience: settings.jwt_audience.clone(),
            times: claims::TimeRules::new(settings.clock_skew_seconds, settings.check_iat_future),
            error_code_system: settings.error_code_system.clone(),
            table: Table::standard()?,
            elements: FhirElements::standard()?,
        })
    }

    /// Judges one request.
    pub fn check(&self, req: &Request<'_>) -> Verdict {
        let mut prov = Provenance::default();
        let mut matched: Option<&'static Interaction> = None;
        macro_rules! attempt {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(refusal) => return self.refuse(refusal, matched, &prov),
                }
            };
        }
        // What the request line says is known from the start; only a plausible method is recorded.
        if interactions::is_token(req.method) {
            prov.method = plain_str(req.method);
        }
        prov.path = Some(audit::path_of(req.target));

        // 1. Size limits, before anything is examined in detail.
        let l = &self.limits;
        if req.headers.len() > l.max_header_count {
            return self.refuse(too_large(format!("{} headers, more than max_header_count ({})", req.headers.len(), l.max_header_count)), None, &prov);
        }
        if req.target.len() > l.max_target_bytes {
            return self.refuse(too_large(format!("the request target is {} bytes, more than max_target_bytes ({})", req.target.len(), l.max_target_bytes)), None, &prov);
        }
        let scan = ssp::scan(req.headers);
        if scan.total_bytes > l.max_header_bytes {
            return self.refuse(too_large(format!("the headers are {} bytes, more than max_header_bytes ({})", scan.total_bytes, l.max_header_bytes)), None, &prov);
        }
        if scan.longest_authorization > l.max_authorization_bytes {
            return self.refuse(too_large(format!("the Authorization header is {} bytes, more than max_authorization_bytes ({})", scan.longest_authorization, l.max_authorization_bytes)), None, &prov);
        }

        // 2. SSP headers.
        let ssp = attempt!(scan.check_ssp(&self.provider_asid, &mut prov));

        // 3. The interaction named, against method, service root and path.
        let Some(row) = self.table.find(ssp.interaction_id.as_bytes()) else {
            let r = Refusal::new(Reason::InteractionUnknown, format!("Ssp-InteractionID {} is not a GP Connect STU3 1.x interaction this library knows", ssp.interaction_id));
            return self.refuse(r, None, &prov);
        };
        let path = attempt!(interactions::target_path(req.target));
        attempt!(interactions::check_fits(row, req.method, path, &self.service_roots));
        matched = Some(row);

        // 4. Authorization and the JWT envelope.
        let authorization = attempt!(scan.authorization());
        let token = attempt!(jwt::bearer_token(authorization));
        let payload = attempt!(jwt::decode_unsigned(token, &self.limits));
        let payload = attempt!(claims::read(&payload, &self.limits, self.elements));

        // 5. Claims, 6. times, 7. scope.
        let rules = ClaimRules { elements: self.elements, audience: self.jwt_audience.as_deref() };
        let claims = attempt!(claims::check(&payload, row, &rules, &mut prov));
        attempt!(claims::check_times(&claims, req.now, &self.times));
        attempt!(scope::check(&claims.scope, row, self.enforce_scope));

        let record = prov.record(Reason::Allowed);
        let mut message = String::with_capacity("allowed: ".len() + row.id.len() + 1);
        message.push_str("allowed: ");
        message.push_str(&row.id);
        Verdict::allow(message, "", record).with_interaction(row)
    }

    #[inline(always)]
    fn refuse(&self, refusal: Refusal, matched: Option<&'static Interaction>, prov: &Provenance<'_>) -> Verdict {
        let v = Verdict::refuse(refusal.reason, refusal.message, &self.error_code_system);
        // Recorded with the reason the verdict really has (refuse never yields Allowed).
        let record = prov.record(v.reason);
        let v = match matched {
            Some(row) => v.with_interaction(row),
            None => v,
        };
        v.with_audit(record)
    }
}

#[cfg(test)]
mod tests;
