//! ETF decoder. OWNED BY THE CODEC WORK (issue 2): this file is a stub that
//! fixes the API the rest of the crate codes against.

use super::{Atom, Term};
use bytes::Bytes;

/// Why a term could not be decoded. Every variant is a property of the input,
/// never a bug: hostile input produces one of these, never a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended in the middle of a term.
    #[error("term ends early: needed {needed} more bytes at offset {offset}")]
    UnexpectedEnd {
        /// Offset where more bytes were needed.
        offset: usize,
        /// How many more.
        needed: usize,
    },
    /// The first byte was not the version byte 131.
    #[error("not an external term: first byte is {0}, expected 131")]
    BadVersion(u8),
    /// An unknown tag byte.
    #[error("unknown term tag {tag} at offset {offset}")]
    UnknownTag {
        /// The tag byte.
        tag: u8,
        /// Where it was.
        offset: usize,
    },
    /// An atom's text is not valid UTF-8.
    #[error("atom text is not valid UTF-8")]
    InvalidUtf8Atom,
    /// An atom is longer than 255 characters.
    #[error("atom has {chars} characters; Erlang allows 255")]
    AtomTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// Bytes follow the term.
    #[error("{0} bytes follow the term")]
    TrailingBytes(usize),
}

/// Limits that protect the decoder from hostile input. Defaults are safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest decompressed size accepted for a compressed term (tag 80).
    pub max_decompressed_size: usize,
}

/// The atoms that an atom-cache header announced for one message, indexed by
/// `ATOM_CACHE_REF` index.
pub type AtomCacheTable = [Atom];

/// Decodes terms one after another from a buffer.
pub struct Decoder<'a> {
    _buf: &'a [u8],
}

impl<'a> Decoder<'a> {
    /// A decoder over `buf` whose binaries share `buf`'s storage.
    pub fn new(_buf: &'a Bytes) -> Decoder<'a> {
        todo!()
    }
}

impl Term {
    /// Decodes `term_to_binary` output (starting with 131).
    pub fn decode(_bytes: &[u8]) -> Result<Term, DecodeError> {
        todo!()
    }
}
