//! Per connection: the TLS server policy and the client certificate. [`tls`] puts the GP Connect
//! policy on an `SSL_CTX` (TLS 1.2 only, the Spine cipher string in server order, a mandatory
//! client certificate, the verify and session ticket callbacks); [`pki`] verifies a client chain
//! against the configured Spine CAs and CRLs and the SSP's FQDN, with [`profile`] the certificate
//! and CRL rules OpenSSL does not make; [`peer_cache`] keeps the chains accepted, for re-checks
//! while nothing they depend on changed.

/// OpenSSL declarations for the library's own use: not part of the C ABI.
/// cbindgen:ignore
mod ossl;
pub mod peer_cache;
pub mod pki;
pub mod profile;
pub mod tls;
