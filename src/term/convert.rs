//! Conversions between Rust values and terms. OWNED BY THE TEXT/ORDER WORK
//! (issue 2). Stub.

/// A term did not have the shape a Rust type needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {got}")]
pub struct TermConversionError {
    /// What the Rust type needs.
    pub expected: &'static str,
    /// What the term was (printed, possibly shortened).
    pub got: String,
}
impl From<u64> for super::Term {
    fn from(v: u64) -> Self {
        super::Term::from_bigint(v.into())
    }
}
