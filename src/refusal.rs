//! The internal form of a failed check: the reason and the message, before the orchestrator
//! ([`crate::request`]) turns it into a [`crate::verdict::Verdict`] with its audit record.

use crate::verdict::Reason;

/// A check that failed: why, and a message precise enough to fix the caller. Messages never hold
/// the token, a query value or claim text; header values only where the audit record names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

impl Refusal {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Refusal { reason, message: message.into() }
    }
}

/// The result of one check.
pub type Checked<T> = Result<T, Refusal>;

/// Client bytes made safe to quote: printable ASCII only (others become `?`), at most `max`
/// characters, `...` when cut. Used for values the audit record carries anyway.
pub fn printable(bytes: &[u8], max: usize) -> String {
    let mut out: String = bytes
        .iter()
        .take(max)
        .map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '?' })
        .collect();
    if bytes.len() > max {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_is_bounded_ascii() {
        assert_eq!(printable(b"ab\r\n\0\xffc", 64), "ab????c");
        assert_eq!(printable(b"abcdef", 3), "abc...");
    }
}
