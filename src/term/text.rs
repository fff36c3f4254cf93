//! Erlang text syntax: parsing (`FromStr`) and printing (`Display`, like
//! `io:format("~p")` on one line). OWNED BY THE TEXT/ORDER WORK (issue 2). Stub.

use std::fmt;

/// Where and why Erlang text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

pub(crate) fn atom_needs_quotes(s: &str) -> bool {
    !s.starts_with(|c: char| c.is_ascii_lowercase())
        || !s
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '@')
}

pub(crate) fn write_atom(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str(s)
}
impl fmt::Display for super::Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self)
    }
}
impl std::str::FromStr for super::Term {
    type Err = ParseError;
    fn from_str(_s: &str) -> Result<Self, ParseError> {
        todo!()
    }
}
