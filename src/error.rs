//! Errors of calls that could not be carried out (configuration, files, OpenSSL). A refused
//! request is not an error: it is a [`crate::verdict::Verdict`].

use std::fmt;

/// What kind of failure; the C ABI maps each to one `gpcguard_result`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A key that the configuration does not have.
    UnknownKey,
    /// A value of the wrong type or outside its range.
    InvalidValue,
    /// A required key is not set.
    MissingKey,
    /// The configuration file is not valid TOML.
    Syntax,
    /// A file could not be read.
    File,
    /// A certificate, key or CRL file holds nothing usable.
    Pem,
    /// The server private key does not match the server certificate.
    KeyMismatch,
    /// A trust anchor or intermediate is not a CA certificate.
    Ca,
    /// A CRL is unusable (no configured CA issued it, bad signature).
    Crl,
    /// An OpenSSL call failed.
    Tls,
    /// An argument of the call is unusable (not UTF-8, out of range).
    Argument,
}

/// A failure with a message that names the key, file or object at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }

    /// An OpenSSL failure, with OpenSSL's own error queue appended (and cleared).
    pub fn tls(what: &str, stack: openssl::error::ErrorStack) -> Self {
        Error::new(ErrorKind::Tls, format!("{what}: {stack}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
