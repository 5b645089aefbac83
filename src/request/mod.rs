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
//! [`RequestChecker::explain`] runs the same check with a [`Trace`] told of each step's outcome
//! (the operators' `gpcguard check-request`); the host path uses [`NoTrace`], which compiles away.
//! [`RequestChecker::explain_token`] also judges every claim, time and scope rule of a token on
//! its own, through the same rule sequences ([`rules`]) the check runs to the first failure.

pub mod audit;
pub mod base64url;
pub mod claims;
pub mod fhir;
pub mod interactions;
pub mod json;
pub mod jwt;
pub mod rules;
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

/// The steps of a request check, in the settled order (API.md "Order of checks").
pub const STEPS: [&str; 7] = ["size limits", "SSP headers", "interaction", "Authorization/JWT envelope", "claims", "times", "scope"];

/// Told of each step of a check as it ends: passed (with a detail made only when asked) or the
/// refusal that decides the verdict. Steps after a refusal are not run, hence not told.
pub trait Trace {
    /// False for [`NoTrace`]: the steps' details are then never built, not even as closures.
    const ENABLED: bool = true;
    fn passed(&mut self, step: &'static str, detail: &dyn Fn() -> String);
    fn refused(&mut self, step: &'static str, refusal: &Refusal);
}

/// The trace of the hosts' path: nothing recorded, nothing computed.
pub struct NoTrace;

impl Trace for NoTrace {
    const ENABLED: bool = false;
    #[inline(always)]
    fn passed(&mut self, _: &'static str, _: &dyn Fn() -> String) {}
    #[inline(always)]
    fn refused(&mut self, _: &'static str, _: &Refusal) {}
}

/// One step of an explained check: its name and `Ok(detail)` or the refusal.
#[derive(Clone, Debug)]
pub struct Step {
    pub step: &'static str,
    pub outcome: std::result::Result<String, Refusal>,
}

/// A token explained ([`RequestChecker::explain_token`]).
#[derive(Clone, Debug)]
pub struct TokenExplanation {
    /// The check's steps up to the one that decided: the verdict.
    pub steps: Vec<Step>,
    /// Every claim, time and scope rule on its own, in the check's order.
    pub rules: Vec<rules::Judged>,
}

/// A trace that keeps every step, for [`RequestChecker::explain`].
#[derive(Default, Debug)]
pub struct Steps(pub Vec<Step>);

impl Trace for Steps {
    fn passed(&mut self, step: &'static str, detail: &dyn Fn() -> String) {
        self.0.push(Step { step, outcome: Ok(detail()) });
    }
    fn refused(&mut self, step: &'static str, refusal: &Refusal) {
        self.0.push(Step { step, outcome: Err(refusal.clone()) });
    }
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
        self.check_traced(req, &mut NoTrace)
    }

    /// Judges one request as [`check`](Self::check) does and lists each step's outcome, up to
    /// the one that decided.
    pub fn explain(&self, req: &Request<'_>) -> (Verdict, Vec<Step>) {
        let mut steps = Steps::default();
        let verdict = self.check_traced(req, &mut steps);
        (verdict, steps.0)
    }

    /// Explains a bearer token alone, as the check of a request for `interaction_id` would
    /// judge it at `now`. `steps`: the envelope, claims, times and scope steps through the same
    /// functions as [`check`](Self::check), up to the first refusal (the verdict). `rules`: every
    /// claim, time and scope rule judged on its own, in the order the check runs them, so all
    /// that is wrong with a token shows at once; empty when the envelope refuses (nothing to
    /// judge them on).
    pub fn explain_token(&self, token: &[u8], interaction_id: &str, now: i64) -> TokenExplanation {
        let mut every = rules::EveryRule::new(STEPS[4]);
        let steps = self.token_steps(token, interaction_id, now, &mut every);
        TokenExplanation { steps, rules: every.judged }
    }

    /// Every claim, time and scope rule of `payload` for `row` at `now`, told to `every`.
    fn judge_every_rule(&self, payload: &claims::Payload<'_>, row: &Interaction, now: i64, every: &mut rules::EveryRule) {
        let rules = ClaimRules { elements: self.elements, audience: self.jwt_audience.as_deref() };
        // EveryRule goes on after a failure: the sequences never return Err to it.
        every.step = STEPS[4];
        let found = claims::judge(payload, row, &rules, &mut Provenance::default(), every).unwrap_or_default();
        every.step = STEPS[5];
        let _ = claims::judge_times(found.exp, found.iat, now, &self.times, every);
        every.step = STEPS[6];
        let _ = scope::judge(found.scope.as_ref(), row, self.enforce_scope, every);
    }

    /// The steps of a token's check to the first refusal, as [`check`](Self::check) runs them;
    /// once the envelope has passed, every rule is also told to `every`.
    fn token_steps(&self, token: &[u8], interaction_id: &str, now: i64, every: &mut rules::EveryRule) -> Vec<Step> {
        let mut steps = Steps::default();
        let Some(row) = self.table.find(interaction_id.as_bytes()) else {
            let r = Refusal::new(Reason::InteractionUnknown, format!("{interaction_id} is not a GP Connect STU3 1.x interaction this library knows"));
            steps.refused(STEPS[2], &r);
            return steps.0;
        };
        let mut prov = Provenance::default();
        macro_rules! attempt {
            ($step:expr, $e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(refusal) => {
                        steps.refused(STEPS[$step], &refusal);
                        return steps.0;
                    }
                }
            };
        }
        if token.len() > self.limits.max_authorization_bytes {
            attempt!(0, Err(too_large(format!("the token is {} bytes, more than max_authorization_bytes ({})", token.len(), self.limits.max_authorization_bytes))));
        }
        let decoded = attempt!(3, jwt::decode_unsigned(token, &self.limits));
        let mut payload = claims::Payload::empty();
        attempt!(3, claims::read_into(&decoded, &self.limits, self.elements, &mut payload));
        steps.passed(STEPS[3], &|| "unsigned JWT, header {\"alg\":\"none\",\"typ\":\"JWT\"}, payload strict JSON".to_owned());
        self.judge_every_rule(&payload, row, now, every);
        let rules = ClaimRules { elements: self.elements, audience: self.jwt_audience.as_deref() };
        let claims = attempt!(4, claims::check(&payload, row, &rules, &mut prov));
        steps.passed(STEPS[4], &|| format!("every claim present and right for {}", row.id));
        attempt!(5, claims::check_times(&claims, now, &self.times));
        steps.passed(STEPS[5], &|| format!("exp {} is {} s from now ({now}), iat {}", claims.exp, claims.exp.saturating_sub(now), claims.iat));
        attempt!(6, scope::check(&claims.scope, row, self.enforce_scope));
        steps.passed(STEPS[6], &|| if self.enforce_scope { format!("requested_scope permits {}", row.id) } else { "not enforced (enforce_scope = false)".to_owned() });
        steps.0
    }

    #[inline(always)]
    fn check_traced<T: Trace>(&self, req: &Request<'_>, trace: &mut T) -> Verdict {
        let mut prov = Provenance::default();
        let mut matched: Option<&'static Interaction> = None;
        macro_rules! attempt {
            ($step:expr, $e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(refusal) => {
                        if T::ENABLED {
                            trace.refused(STEPS[$step], &refusal);
                        }
                        return self.refuse(refusal, matched, &prov);
                    }
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
            attempt!(0, Err(too_large(format!("{} headers, more than max_header_count ({})", req.headers.len(), l.max_header_count))));
        }
        if req.target.len() > l.max_target_bytes {
            attempt!(0, Err(too_large(format!("the request target is {} bytes, more than max_target_bytes ({})", req.target.len(), l.max_target_bytes))));
        }
        let scan = ssp::scan(req.headers);
        if scan.total_bytes > l.max_header_bytes {
            attempt!(0, Err(too_large(format!("the headers are {} bytes, more than max_header_bytes ({})", scan.total_bytes, l.max_header_bytes))));
        }
        if scan.longest_authorization > l.max_authorization_bytes {
            attempt!(0, Err(too_large(format!("the Authorization header is {} bytes, more than max_authorization_bytes ({})", scan.longest_authorization, l.max_authorization_bytes))));
        }
        if T::ENABLED {
            trace.passed(STEPS[0], &|| format!("{} headers ({} bytes), target {} bytes, Authorization {} bytes", req.headers.len(), scan.total_bytes, req.target.len(), scan.longest_authorization));
        }

        // 2. SSP headers.
        let ssp = attempt!(1, scan.check_ssp(&self.provider_asid, &mut prov));
        if T::ENABLED {
            trace.passed(STEPS[1], &|| format!("Ssp-TraceID {}, Ssp-From {}, Ssp-To {} (this provider), Ssp-InteractionID {}", ssp.trace_id, ssp.from, ssp.to, ssp.interaction_id));
        }

        // 3. The interaction named, against method, service root and path.
        let Some(row) = self.table.find(ssp.interaction_id.as_bytes()) else {
            let r = Refusal::new(Reason::InteractionUnknown, format!("Ssp-InteractionID {} is not a GP Connect STU3 1.x interaction this library knows", ssp.interaction_id));
            attempt!(2, Err(r))
        };
        let path = attempt!(2, interactions::target_path(req.target));
        attempt!(2, interactions::check_fits(row, req.method, path, &self.service_roots));
        matched = Some(row);
        if T::ENABLED {
            trace.passed(STEPS[2], &|| format!("{} {} fits {} ({} {})", plain_str(req.method).unwrap_or("?"), crate::refusal::printable(path, 200), row.id, row.method, row.pattern));
        }

        // 4. Authorization and the JWT envelope.
        let authorization = attempt!(3, scan.authorization());
        let token = attempt!(3, jwt::bearer_token(authorization));
        let decoded = attempt!(3, jwt::decode_unsigned(token, &self.limits));
        // Read in place: the payload is about a kilobyte, not moved out through a Result.
        let mut payload = claims::Payload::empty();
        attempt!(3, claims::read_into(&decoded, &self.limits, self.elements, &mut payload));
        if T::ENABLED {
            trace.passed(STEPS[3], &|| "Bearer token of an unsigned JWT, header {\"alg\":\"none\",\"typ\":\"JWT\"}, payload strict JSON".to_owned());
        }

        // 5. Claims, 6. times, 7. scope.
        let rules = ClaimRules { elements: self.elements, audience: self.jwt_audience.as_deref() };
        let claims = attempt!(4, claims::check(&payload, row, &rules, &mut prov));
        if T::ENABLED {
            trace.passed(STEPS[4], &|| format!("every claim present and right for {}", row.id));
        }
        attempt!(5, claims::check_times(&claims, req.now, &self.times));
        if T::ENABLED {
            trace.passed(STEPS[5], &|| format!("exp {} is {} s from now ({}), iat {}", claims.exp, claims.exp.saturating_sub(req.now), req.now, claims.iat));
        }
        attempt!(6, scope::check(&claims.scope, row, self.enforce_scope));
        if T::ENABLED {
            trace.passed(STEPS[6], &|| if self.enforce_scope { format!("requested_scope permits {}", row.id) } else { "not enforced (enforce_scope = false)".to_owned() });
        }

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
