//! gpcguard: makes a GP Connect provider enforce the GP Connect API security model.
//!
//! Per connection: TLS 1.2 only with mutual authentication and the Spine cipher policy
//! ([`tls`]), client certificates chained to the configured Spine CAs, in validity, not revoked
//! and carrying the SSP's FQDN ([`pki`]). Per request: the SSP headers, the interaction ID
//! against method and path, the audit JWT and its scope ([`request`]). Refusals are
//! [`verdict::Verdict`]s with the HTTP status, Spine code and FHIR OperationOutcome to answer.
//!
//! Module map: [`config`] settings; [`guard`] the loaded, shareable state and its atomic reload;
//! [`tls`] the `SSL_CTX` policy; [`pki`] certificate verification, with [`profile`] the
//! certificate and CRL profile rules OpenSSL does not make; [`request`] and the modules it calls
//! ([`ssp`], [`interactions`], [`jwt`], [`claims`], [`scope`]) the per-request checks;
//! [`verdict`] reasons, statuses and bodies; [`status`] verdict counters and the Prometheus text; `ffi` the C ABI only. Helpers of the request
//! checks: [`base64url`] the strict decoder of the JWT's parts, [`json`] the strict JWT JSON reader, `blocks`
//! the 16-byte SSE2 scan they share, [`audit`] the audit record, [`refusal`] the
//! internal failure value.

pub mod audit;
pub mod base64url;
#[cfg(target_arch = "x86_64")]
mod blocks;
pub mod claims;
pub mod config;
pub mod error;
pub mod interactions;
pub mod json;
pub mod jwt;
pub mod refusal;
pub mod request;
pub mod scope;
pub mod ssp;
pub mod status;
#[cfg(test)]
mod testkit;
pub mod verdict;
pub mod ffi;
pub mod guard;
/// OpenSSL declarations for the library's own use: not part of the C ABI.
/// cbindgen:ignore
mod ossl;
pub mod pki;
pub mod profile;
pub mod tls;
