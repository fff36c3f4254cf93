//! The Erlang term model and the external term format (ETF).
//!
//! [`Term`] is the value type of the whole public API. Its parts are plain
//! structs ([`Pid`], [`Port`], [`Reference`], [`Fun`], [`ExportFun`],
//! [`BitString`], [`Map`]) and [`Atom`], which needs no global atom table.
//! Binaries are [`bytes::Bytes`]: decoding from a `Bytes` buffer shares it
//! instead of copying.
//!
//! Every operation that walks a term (decode, encode, compare, hash, clone,
//! print, parse, drop) works for any nesting depth without growing the call
//! stack: a list nested a million deep, as `term_to_binary` happily makes,
//! is fine.
//!
//! See `PROTOCOL.md` §5 and OTP's `erl_ext_dist` for the wire format.
//!
//! # Equality and order
//!
//! Checked against OTP 25 (`tests/interop_text.rs`: `lists:sort/1` and
//! `==`/`=:=`/`<` on every pair of a mixed corpus).
//!
//! * `==` on terms is Erlang's exact equality `=:=`: `1 != 1.0`; maps are
//!   equal with their entries in any order. As in OTP 25, `0.0 =:= -0.0`
//!   (OTP 27 changed that): they are equal, hash alike and are one map key.
//! * `Ord` is Erlang's term order, number < atom < reference < fun < port <
//!   pid < tuple < map < `[]` < list < bitstring, with the BEAM's rules
//!   inside each type (numbers by exact value across integers, big integers
//!   and floats; pids by serial, id, node, creation; ports by node,
//!   creation, id; references by node, creation, then id words from the
//!   last; maps by size, then keys in map key order, then values; lists
//!   element by element; bitstrings bit by bit, then length). It refines
//!   Erlang's order so that it agrees with `==`: whenever Erlang says
//!   `A < B`, so does `Ord`, and terms Erlang calls equal but that are not
//!   `=:=` (`{1, x}` and `{1.0, x}`) are ordered by their first such
//!   integer/float pair, integer first. Sorting with `Ord` therefore gives
//!   `lists:sort/1`'s order.
//! * [`Term::erl_cmp`] and [`Term::erl_eq`] are Erlang's `<`/`==`, where
//!   `1 == 1.0`.
//! * `Hash` agrees with `==`.
//!
//! # Maps
//!
//! A decoded map keeps the order it arrived in and encodes back the same.
//! A map built or changed in Rust encodes as the BEAM would write it: up to
//! 32 keys in map key order (term order with every integer before every
//! float), larger maps in the order of OTP 25's HAMT hash, reproduced for
//! keys made of numbers, binaries, lists, tuples and small maps. Keys that
//! contain atoms, pids, ports, references or funs hash by VM-internal
//! addresses; such large maps encode in key order instead (the BEAM reads
//! them the same; only the bytes differ). See [`Map::iter_wire_order`].
//!
//! # Text
//!
//! `Display` (and `Debug`) print a term as `io_lib:format("~0tp", [T])`
//! does on OTP 25: `{ok,[1,2]}`, `"abc"`, `<<"bin">>`, `<<"é"/utf8>>`,
//! `#{a => 1}`, floats in their shortest exact form (`0.1`, `1.0e3`).
//! Strings are recognised with the default (Latin-1) printable range. The
//! BEAM prints pids, ports and references with a node-local channel number
//! (`<0.80.0>`); erlnode prints the node name instead: `<'a@h'.80.0>`,
//! `#Port<'a@h'.5>`, `#Ref<'a@h'.3.2.1>`.
//!
//! `"...".parse::<Term>()` reads the literals the erl shell reads: atoms,
//! numbers in any base (`16#ff`, `1_000`), floats, `$c`, strings, binaries
//! with segment sizes and types (`<<1:16, "é"/utf8>>`), tuples, lists,
//! improper lists, maps, `fun M:F/A`, and the pid/port/reference forms
//! above. A [`ParseError`] gives the line, column and reason.
//!
//! # Conversions
//!
//! `Term::from(x)` builds a term from a Rust value; `T::try_from(term)`
//! reads one back, with a [`TermConversionError`] naming what was expected
//! and what was found.
//!
//! | Rust type | Erlang term | Back from |
//! |---|---|---|
//! | `i8` … `i64`, `u8` … `u32`, `isize` | integer | integer in range |
//! | `u64`, `usize`, `i128`, `u128`, `BigInt` | integer (big when needed) | integer in range |
//! | `f64`, `f32` | float | float (an integer is not a float) |
//! | `bool` | `true` / `false` | those atoms |
//! | `char` | integer (code point, like `$a`) | integer that is a Unicode scalar |
//! | `&str`, `String` | binary (UTF-8), as Elixir and modern OTP APIs use | UTF-8 binary, or a list of code points |
//! | [`Term::charlist`] | list of code points (Erlang's `"abc"`) | — |
//! | `Vec<T>`, `&[T]`, `[T; N]` | proper list | proper list |
//! | `()` | `{}` | `{}` |
//! | tuples of 1 to 12 elements | tuple | tuple of that size |
//! | `HashMap<K, V>`, `BTreeMap<K, V>` | map | map |
//! | `Option<T>` | `undefined` for `None`, else `T` | `undefined` is `None` |
//! | [`Atom`], [`Pid`], [`Port`], [`Reference`], [`Map`], [`BitString`], [`ExportFun`] | themselves | themselves |
//! | [`bytes::Bytes`] | binary | binary |
//!
//! A `Vec<u8>` is a list of integers like any `Vec`; use [`Term::binary`]
//! or `Bytes` for a binary.

mod atom;
mod beam_hash;
mod bitsyntax;
mod cloning;
mod convert;
mod decode;
mod display;
#[cfg(feature = "eetf")]
pub mod eetf_conv;
mod encode;
mod equality;
mod hashing;
mod lex;
mod map;
mod order;
mod parse;
pub(crate) mod text;
mod walk;

pub use atom::{Atom, AtomTooLong, INLINE_ATOM_BYTES, MAX_ATOM_CHARS};
pub use convert::TermConversionError;
pub use decode::{
    DEFAULT_MAX_DECOMPRESSED_SIZE, DecodeError, DecodeLimits, Decoder, SHARE_MIN_BINARY,
};
#[cfg(feature = "eetf")]
pub use eetf_conv::{EETF_MAX_DEPTH, EetfConversionError};
pub use encode::{
    AtomCacheWriter, DEFAULT_COMPRESSION_LEVEL, EncodeError, EncodeOptions, MAX_COMPRESSION_LEVEL,
    SPLICE_MIN_BYTES,
};
pub use map::{LINEAR_SCAN_MAX, MAP_SMALL_MAP_LIMIT, Map};
pub use order::RECURSION_LIMIT;
pub use parse::{MAX_LITERAL_BINARY_BYTES, MAX_NESTED_BINARIES};
pub use text::ParseError;

use bytes::Bytes;
use num_bigint::BigInt;

/// Version byte that starts a `term_to_binary` result and each term of a
/// pass-through distribution message.
pub const VERSION_MAGIC: u8 = 131;

/// An Erlang term.
///
/// Build terms with the variants, with `From` conversions from Rust values
/// (see the [conversion table](crate::term#conversions)), or by parsing Erlang
/// text: `"{ok, [1,2]}".parse::<Term>()`.
///
/// Integers that fit in an `i64` are always [`Term::Int`]; only larger ones are
/// [`Term::BigInt`] (the decoder and the arithmetic helpers keep this
/// normal form; equality also accepts a `BigInt` that would fit).
///
/// `Debug` prints the same Erlang syntax as `Display`.
///
/// A `Term` is five machine words (40 bytes), so that a decoded message is
/// compact: a list of `n` elements is `40 n` bytes. The payloads that would
/// make every term bigger are boxed: [`Reference`] (five id words),
/// [`Map`], [`BitString`] and funs. Build those variants with `Term::from`
/// (`Term::from(reference)`, `Term::from(map)`), and compare through the
/// box: `matches!(t, Term::Ref(r) if **r == my_ref)`.
///
/// ```
/// use erlnode::{Map, Term};
/// let m: Map = [(Term::atom("a"), Term::Int(1))].into_iter().collect();
/// let t = Term::from(m.clone());
/// assert!(matches!(&t, Term::Map(b) if **b == m));
/// assert_eq!(std::mem::size_of::<Term>(), 40);
/// ```
#[non_exhaustive]
pub enum Term {
    /// An integer in the `i64` range.
    Int(i64),
    /// An integer outside the `i64` range.
    BigInt(BigInt),
    /// A float. Erlang floats are finite; a NaN or infinity cannot be encoded.
    Float(f64),
    /// An atom. `true`, `false` and `undefined` are atoms too.
    Atom(Atom),
    /// A binary: a bitstring whose length is a whole number of bytes.
    Binary(Bytes),
    /// A bitstring whose bit length is not a multiple of 8.
    BitString(Box<BitString>),
    /// A process identifier.
    Pid(Pid),
    /// A port identifier.
    Port(Port),
    /// A reference (also used as an alias).
    Ref(Box<Reference>),
    /// A local fun (`NEW_FUN_EXT`/`FUN_EXT`). Only the BEAM that owns the code
    /// can call it; Rust carries it around opaquely.
    Fun(Box<Fun>),
    /// An external fun, `fun M:F/A`.
    Export(Box<ExportFun>),
    /// A tuple.
    Tuple(Vec<Term>),
    /// A proper list; the empty vector is `[]` (nil).
    List(Vec<Term>),
    /// An improper list `[H1, H2 | Tail]` with at least one element, where
    /// `Tail` is not a list.
    ImproperList(Vec<Term>, Box<Term>),
    /// A map.
    Map(Box<Map>),
}

/// A process identifier: `<0.80.0>` locally, or a pid on another node.
///
/// Ordered as the BEAM orders pids: serial, id, node name, creation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pid {
    /// The node the process runs on.
    pub node: Atom,
    /// Process number (15 bits used by OTP before V4_NC; 32 with it).
    pub id: u32,
    /// Serial number (13 bits before V4_NC; 32 with it).
    pub serial: u32,
    /// The node's creation (incarnation) when the pid was made.
    pub creation: u32,
}

/// A port identifier.
///
/// Ordered as the BEAM orders ports: node name, creation, id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Port {
    /// The node the port belongs to.
    pub node: Atom,
    /// Port number; ids above 32 bits need `V4_PORT_EXT`.
    pub id: u64,
    /// The node's creation.
    pub creation: u32,
}

/// Maximum number of 32-bit words in a reference: OTP 26+ (V4_NC) send up to 5.
pub const MAX_REFERENCE_WORDS: usize = 5;

/// A reference, as made by `make_ref()`, monitors and aliases.
///
/// The id words are stored inline (no allocation); OTP makes 3, V4_NC allows
/// up to [`MAX_REFERENCE_WORDS`]. As in the BEAM, high id words that are 0 do
/// not count: `[1,2,3]` and `[1,2,3,0]` are the same reference. Ordered as
/// the BEAM orders references: node name, creation, then id words from the
/// last one.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The node that made the reference.
    pub node: Atom,
    /// The node's creation.
    pub creation: u32,
    len: u8,
    words: [u32; MAX_REFERENCE_WORDS],
}

/// A bitstring whose last byte is only partly used.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BitString {
    /// The bytes; the unused low bits of the last byte are zero.
    pub data: Bytes,
    /// How many high bits of the last byte are used: 1 to 7.
    pub bits_in_last_byte: u8,
}

/// A local fun, as the BEAM sends it.
#[derive(Debug, Clone)]
pub enum Fun {
    /// `NEW_FUN_EXT` (112), what every OTP since R8 sends.
    New {
        /// Number of arguments.
        arity: u8,
        /// MD5 of the module's significant parts.
        uniq: [u8; 16],
        /// Index in the module's fun table.
        index: u32,
        /// The module that defines the fun.
        module: Atom,
        /// Old index (an integer term on the wire).
        old_index: u32,
        /// Old uniq (an integer term on the wire).
        old_uniq: u32,
        /// The process that created the fun.
        pid: Pid,
        /// The captured variables.
        free_vars: Vec<Term>,
    },
    /// `FUN_EXT` (117), from nodes older than R8; decoded and re-encoded only.
    Old {
        /// The process that created the fun.
        pid: Pid,
        /// The module that defines the fun.
        module: Atom,
        /// Index in the module's fun table.
        index: u32,
        /// Hash of the module's code.
        uniq: u32,
        /// The captured variables.
        free_vars: Vec<Term>,
    },
}

/// An external fun, `fun Module:Function/Arity` (`EXPORT_EXT`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExportFun {
    /// Module name.
    pub module: Atom,
    /// Function name.
    pub function: Atom,
    /// Number of arguments.
    pub arity: u8,
}

impl Term {
    /// `[]`, the empty list.
    pub const NIL: Term = Term::List(Vec::new());

    /// An atom term.
    pub fn atom(text: &str) -> Term {
        Term::Atom(Atom::from(text))
    }

    /// A tuple term.
    pub fn tuple(items: impl Into<Vec<Term>>) -> Term {
        Term::Tuple(items.into())
    }

    /// A proper list.
    pub fn list(items: impl Into<Vec<Term>>) -> Term {
        Term::List(items.into())
    }

    /// A binary copied from bytes.
    pub fn binary(bytes: impl AsRef<[u8]>) -> Term {
        Term::Binary(Bytes::copy_from_slice(bytes.as_ref()))
    }

    /// True for `[]`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Term::List(v) if v.is_empty())
    }

    /// The atom, if this is one.
    pub fn as_atom(&self) -> Option<&Atom> {
        match self {
            Term::Atom(a) => Some(a),
            _ => None,
        }
    }

    /// True if this is the atom with text `name`.
    pub fn is_atom(&self, name: &str) -> bool {
        matches!(self, Term::Atom(a) if a.as_str() == name)
    }

    /// The elements, if this is a tuple.
    pub fn as_tuple(&self) -> Option<&[Term]> {
        match self {
            Term::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// The elements, if this is a proper list (`[]` gives an empty slice).
    pub fn as_list(&self) -> Option<&[Term]> {
        match self {
            Term::List(v) => Some(v),
            _ => None,
        }
    }

    /// The pid, if this is one.
    pub fn as_pid(&self) -> Option<&Pid> {
        match self {
            Term::Pid(p) => Some(p),
            _ => None,
        }
    }

    /// The reference, if this is one.
    pub fn as_ref(&self) -> Option<&Reference> {
        match self {
            Term::Ref(r) => Some(r),
            _ => None,
        }
    }

    /// The integer, if this is one that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Term::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The bytes, if this is a binary.
    pub fn as_binary(&self) -> Option<&Bytes> {
        match self {
            Term::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// Takes the elements out of a tuple, or gives the term back.
    pub fn into_tuple(mut self) -> Result<Vec<Term>, Term> {
        match &mut self {
            Term::Tuple(v) => Ok(std::mem::take(v)),
            _ => Err(self),
        }
    }

    /// Takes the elements out of a proper list, or gives the term back.
    pub fn into_list(mut self) -> Result<Vec<Term>, Term> {
        match &mut self {
            Term::List(v) => Ok(std::mem::take(v)),
            _ => Err(self),
        }
    }

    /// Makes an integer term in normal form: `Int` when it fits an `i64`.
    pub fn from_bigint(n: BigInt) -> Term {
        match i64::try_from(&n) {
            Ok(i) => Term::Int(i),
            Err(_) => Term::BigInt(n),
        }
    }
}

impl Reference {
    /// Makes a reference from 1 to [`MAX_REFERENCE_WORDS`] id words; `None`
    /// for any other count.
    pub fn new(node: Atom, creation: u32, id: &[u32]) -> Option<Reference> {
        if id.is_empty() || id.len() > MAX_REFERENCE_WORDS {
            return None;
        }
        let mut words = [0u32; MAX_REFERENCE_WORDS];
        words[..id.len()].copy_from_slice(id);
        Some(Reference {
            node,
            creation,
            len: id.len() as u8,
            words,
        })
    }

    /// The id words, as on the wire (first word first).
    pub fn id(&self) -> &[u32] {
        &self.words[..self.len as usize]
    }
}

impl Default for Term {
    /// `[]`.
    fn default() -> Term {
        Term::NIL
    }
}
