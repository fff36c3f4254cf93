//! ETF encoder. OWNED BY THE CODEC WORK (issue 2): this file is a stub that
//! fixes the API the rest of the crate codes against.

use super::{Atom, Term};

/// A term that cannot be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Erlang floats are finite.
    #[error("cannot encode {0}: Erlang floats are finite")]
    NonFiniteFloat(f64),
}

/// How to encode, mirroring `term_to_binary/2` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// `{minor_version, N}`.
    pub minor_version: u8,
}

/// Gives the cache slot for an atom when encoding with a distribution-header
/// atom cache.
pub trait AtomCacheWriter {
    /// The `ATOM_CACHE_REF` index for `atom` in this message, if it is cached.
    fn atom_ref(&mut self, atom: &Atom) -> Option<u8>;
}

impl Term {
    /// Encodes like `term_to_binary(T, [{minor_version, 2}])`.
    pub fn encode(&self) -> Vec<u8> {
        todo!()
    }
}
