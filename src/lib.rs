//! gpcguard: makes a GP Connect provider enforce the GP Connect API security model.
//!
//! Per connection ([`connection`]): TLS 1.2 only with mutual authentication and the Spine cipher
//! policy ([`connection::tls`]), client certificates chained to the configured Spine CAs, in
//! validity, not revoked and carrying the SSP's FQDN ([`connection::pki`]). Per request
//! ([`request`]): the SSP headers, the interaction ID against method and path, the audit JWT and
//! its scope. Refusals are [`verdict::Verdict`]s with the HTTP status, Spine code and FHIR
//! OperationOutcome to answer.
//!
//! Module map: [`config`] settings; [`guard`] the loaded, shareable state and its atomic reload,
//! composing [`connection`] and [`request`]; [`verdict`] reasons, statuses and bodies, with [`status`] the verdict counters and the
//! Prometheus text,
//! [`refusal`] the internal failure value and [`error`] the errors of calls that fail; `blocks` the 16-byte SSE2 scan the JSON reader and
//! the verdict's text checks share; `ffi` the
//! C ABI only, on top of everything else.

#[cfg(target_arch = "x86_64")]
mod blocks;
pub mod config;
pub mod connection;
pub mod error;
pub mod ffi;
pub mod guard;
pub mod refusal;
pub mod request;
pub mod status;
#[cfg(test)]
mod testkit;
pub mod verdict;
