//! ETF decoder: bytes to [`Term`], safe on hostile input.
//!
//! The decoder works on a byte slice with a cursor and never recurses: open
//! tuples, lists, maps and funs live on an explicit stack, so nesting is
//! bounded only by the input's size (a 1,000,000-deep list from
//! `term_to_binary` decodes). It never trusts a count from the wire for
//! allocation: every pending element needs at least one byte of input, and the
//! sum of all pending elements of all open containers is checked against the
//! bytes that remain before anything is reserved, so `131,108,255,255,255,255`
//! fails at once without allocating. Every malformed input is a
//! [`DecodeError`], never a panic.
//!
//! Forms the BEAM rejects are rejected (duplicate map keys, bad bit counts,
//! invalid UTF-8 or over-long atoms, non-finite floats, compressed terms whose
//! size does not match). Non-normal forms the BEAM accepts are accepted and
//! normalised (a `SMALL_BIG_EXT` holding `5` becomes `Term::Int(5)`, a list
//! whose tail is another list becomes one list), so they re-encode the way the
//! BEAM would re-encode them.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use super::{Atom, BitString, ExportFun, Fun, MAX_ATOM_CHARS, MAX_REFERENCE_WORDS, Map, Pid, Port};
use super::{Reference, Term, VERSION_MAGIC};
use bytes::Bytes;
use num_bigint::{BigInt, BigUint, Sign};

// Tags, named as in `erl_ext_dist`.
pub(crate) const NEW_FLOAT_EXT: u8 = 70;
pub(crate) const BIT_BINARY_EXT: u8 = 77;
pub(crate) const COMPRESSED: u8 = 80;
pub(crate) const ATOM_CACHE_REF: u8 = 82;
pub(crate) const NEW_PID_EXT: u8 = 88;
pub(crate) const NEW_PORT_EXT: u8 = 89;
pub(crate) const NEWER_REFERENCE_EXT: u8 = 90;
pub(crate) const SMALL_INTEGER_EXT: u8 = 97;
pub(crate) const INTEGER_EXT: u8 = 98;
pub(crate) const FLOAT_EXT: u8 = 99;
pub(crate) const ATOM_EXT: u8 = 100;
pub(crate) const REFERENCE_EXT: u8 = 101;
pub(crate) const PORT_EXT: u8 = 102;
pub(crate) const PID_EXT: u8 = 103;
pub(crate) const SMALL_TUPLE_EXT: u8 = 104;
pub(crate) const LARGE_TUPLE_EXT: u8 = 105;
pub(crate) const NIL_EXT: u8 = 106;
pub(crate) const STRING_EXT: u8 = 107;
pub(crate) const LIST_EXT: u8 = 108;
pub(crate) const BINARY_EXT: u8 = 109;
pub(crate) const SMALL_BIG_EXT: u8 = 110;
pub(crate) const LARGE_BIG_EXT: u8 = 111;
pub(crate) const NEW_FUN_EXT: u8 = 112;
pub(crate) const EXPORT_EXT: u8 = 113;
pub(crate) const NEW_REFERENCE_EXT: u8 = 114;
pub(crate) const SMALL_ATOM_EXT: u8 = 115;
pub(crate) const MAP_EXT: u8 = 116;
pub(crate) const FUN_EXT: u8 = 117;
pub(crate) const ATOM_UTF8_EXT: u8 = 118;
pub(crate) const SMALL_ATOM_UTF8_EXT: u8 = 119;
pub(crate) const V4_PORT_EXT: u8 = 120;
pub(crate) const LOCAL_EXT: u8 = 121;
/// `DIST_HEADER`: starts a distribution message, never part of a term.
pub(crate) const DIST_HEADER: u8 = 68;
/// `DIST_FRAG_HEADER`: starts a fragmented distribution message.
pub(crate) const DIST_FRAG_HEADER: u8 = 69;

/// Default for [`DecodeLimits::max_decompressed_size`]: 64 MiB. A compressed
/// term (tag 80) declares its own size and zlib expands up to ~1000:1, so a
/// few kilobytes could otherwise ask for gigabytes; 64 MiB is far above any
/// term a node sends in one message and well below this machine's memory.
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 64 << 20;

/// Binaries shorter than this are copied even by [`Decoder::shared`], so that
/// tiny binaries do not keep a large receive buffer alive. 64 bytes is the
/// BEAM's own `ERL_ONHEAP_BIN_LIMIT`: it copies binaries up to that size onto
/// the process heap and shares only larger ones.
pub const SHARE_MIN_BINARY: usize = 64;

/// Width of `FLOAT_EXT`'s text field: `"%.20e"` padded with NULs
/// (`erl_ext_dist`).
pub(crate) const FLOAT_EXT_LEN: usize = 31;

/// How many recently decoded long atoms (those that need an allocation) the
/// decoder remembers so that the node name in every pid and reference of a
/// message is allocated once. Four covers a local node, a peer and a couple of
/// other nodes while keeping the lookup a few comparisons.
const LONG_ATOM_CACHE: usize = 4;

/// Inputs of at most this many bytes (left to read) first try the
/// small-term fast path ([`Decoder::term`]); larger ones go straight to the
/// general decoder, so big terms never pay for a failed attempt.
const SMALL_INPUT: usize = 256;

/// Bytes read at once after a short atom's length byte: one 128-bit load
/// that covers any inline atom (`INLINE_ATOM_BYTES`, 14) and is cut back to
/// the atom's length. An atom closer than this to the end of the input goes
/// the general way.
const ATOM_WINDOW: usize = 16;

/// Tuple nesting the small-term fast path follows before giving up.
const SMALL_DEPTH: u32 = 4;

/// Chunk by which the output of a compressed term grows while inflating, so
/// that a lying size field never reserves more than the data really produces.
const INFLATE_CHUNK: usize = 64 << 10;

/// Why a term could not be decoded. Every variant is a property of the input,
/// never a bug: hostile input produces one of these, never a panic. Offsets
/// count from the start of the decoder's buffer (for a compressed term, from
/// the start of the decompressed data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended in the middle of a term.
    #[error(
        "term ends early: needed {needed} more bytes at offset {offset}; the input is truncated"
    )]
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
    #[error("{0} bytes follow the term; expected exactly one term")]
    TrailingBytes(usize),
    /// A count from the wire (elements, entries, free variables) cannot fit in
    /// the bytes that remain, so the input is truncated or hostile. Nothing was
    /// allocated for it.
    #[error(
        "{what} at offset {offset} claims {count} elements but only {remaining} bytes remain \
         for them; the input is truncated or corrupt"
    )]
    CountTooLarge {
        /// What the count was for ("list", "tuple", "map", "fun").
        what: &'static str,
        /// The count as sent.
        count: u64,
        /// Offset of the container's tag.
        offset: usize,
        /// Bytes left for all pending elements.
        remaining: usize,
    },
    /// `LOCAL_EXT` (121): only the node that made it
    /// (`term_to_binary(T, [local])`) can decode it.
    #[error(
        "LOCAL_EXT (121) at offset {offset}: this term was encoded with term_to_binary(T, [local]) \
         and only the node that made it can decode it; encode without `local`"
    )]
    LocalExt {
        /// Where the tag was.
        offset: usize,
    },
    /// `ATOM_CACHE_REF` (82) but no atom-cache table was given.
    #[error(
        "ATOM_CACHE_REF (82) at offset {offset} but no atom cache is in use; such terms are only \
         valid after a distribution header (use Decoder::with_atom_refs)"
    )]
    AtomCacheRefWithoutCache {
        /// Where the tag was.
        offset: usize,
    },
    /// `ATOM_CACHE_REF` with an index the distribution header did not define.
    #[error(
        "ATOM_CACHE_REF index {index} at offset {offset}, but the header defines only {len} atoms"
    )]
    AtomCacheIndex {
        /// The index.
        index: u8,
        /// How many atoms the table has.
        len: usize,
        /// Where the reference was.
        offset: usize,
    },
    /// A distribution header tag (68/69) where a term was expected.
    #[error(
        "distribution header tag {tag} at offset {offset} inside a term; strip the header \
         before decoding the terms that follow it"
    )]
    DistHeader {
        /// The tag.
        tag: u8,
        /// Where it was.
        offset: usize,
    },
    /// A compressed term (80) that is not directly after the version byte.
    #[error("compressed term (tag 80) at offset {offset}; it is only valid right after 131")]
    NestedCompressed {
        /// Where the tag was.
        offset: usize,
    },
    /// A compressed term declares a size above the configured limit.
    #[error(
        "compressed term declares {size} bytes uncompressed, above the limit of {limit}; \
         raise DecodeLimits::max_decompressed_size if this is expected"
    )]
    DecompressedTooLarge {
        /// The declared size.
        size: u64,
        /// The limit in force.
        limit: usize,
    },
    /// The zlib data of a compressed term is corrupt or truncated.
    #[error("compressed term has corrupt or truncated zlib data at offset {offset}")]
    BadCompressedData {
        /// Offset of the zlib data.
        offset: usize,
    },
    /// The zlib data inflates to a different size than declared.
    #[error("compressed term declares {declared} bytes but inflates to {actual}{more}",
        more = if *.actual > *.declared { " or more" } else { "" })]
    CompressedSizeMismatch {
        /// The declared size.
        declared: u64,
        /// What the data inflated to (stopped one past the declared size).
        actual: u64,
    },
    /// `BIT_BINARY_EXT` with a bit count outside 1..=8 (or non-zero with no data).
    #[error(
        "bit binary at offset {offset} has {bits} bits in the last of {len} bytes; expected 1..=8 (0 only when empty)"
    )]
    BadBitCount {
        /// The bit count.
        bits: u8,
        /// The byte length.
        len: u32,
        /// Offset of the tag.
        offset: usize,
    },
    /// A map has two equal keys; the BEAM rejects such maps too.
    #[error("map at offset {offset} has a duplicate key")]
    DuplicateMapKey {
        /// Offset of the map's tag.
        offset: usize,
    },
    /// A float is NaN or infinite; Erlang floats are finite.
    #[error("float at offset {offset} is not finite; Erlang floats are finite")]
    NonFiniteFloat {
        /// Offset of the tag.
        offset: usize,
    },
    /// `FLOAT_EXT` text that is not a number.
    #[error("FLOAT_EXT at offset {offset} does not hold a number in \"%.20e\" form")]
    BadFloatText {
        /// Offset of the tag.
        offset: usize,
    },
    /// A field that must be of one kind (an atom, a pid, a small integer) was
    /// another.
    #[error("expected {expected} at offset {offset}, found tag {tag}")]
    UnexpectedTag {
        /// What was expected ("atom", "pid", "integer").
        expected: &'static str,
        /// The tag found.
        tag: u8,
        /// Where.
        offset: usize,
    },
    /// An integer field (fun index, export arity) out of its range.
    #[error("integer at offset {offset} is out of range for {what}")]
    IntegerOutOfRange {
        /// The field.
        what: &'static str,
        /// Where.
        offset: usize,
    },
    /// A reference with no id words or more than [`MAX_REFERENCE_WORDS`].
    #[error("reference at offset {offset} has {len} id words; expected 1..=5")]
    BadReferenceLength {
        /// The length sent.
        len: u16,
        /// Offset of the tag.
        offset: usize,
    },
}

/// Limits that protect the decoder from hostile input. [`Default`] gives
/// safe values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest decompressed size accepted for a compressed term (tag 80),
    /// in bytes. Default [`DEFAULT_MAX_DECOMPRESSED_SIZE`].
    pub max_decompressed_size: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
        }
    }
}

/// Decodes terms one after another from one buffer.
///
/// ```
/// use erlnode::term::Decoder;
/// use erlnode::Term;
/// let bytes = [131, 97, 1, 131, 106];
/// let mut d = Decoder::new(&bytes);
/// assert_eq!(d.term_with_version().unwrap(), Term::Int(1));
/// assert_eq!(d.term_with_version().unwrap(), Term::NIL);
/// assert!(d.is_at_end());
/// ```
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    /// `Some` when binaries share the buffer's storage.
    shared: Option<&'a Bytes>,
    atom_refs: Option<&'a [Atom]>,
    limits: DecodeLimits,
}

impl<'a> Decoder<'a> {
    /// A decoder over `buf`; binaries are copied out of it.
    pub fn new(buf: &'a [u8]) -> Decoder<'a> {
        Decoder {
            buf,
            pos: 0,
            shared: None,
            atom_refs: None,
            limits: DecodeLimits::default(),
        }
    }

    /// A decoder over `buf` whose binaries of [`SHARE_MIN_BINARY`] bytes or
    /// more share `buf`'s storage instead of being copied.
    pub fn shared(buf: &'a Bytes) -> Decoder<'a> {
        Decoder {
            buf,
            pos: 0,
            shared: Some(buf),
            atom_refs: None,
            limits: DecodeLimits::default(),
        }
    }

    /// Resolves `ATOM_CACHE_REF` (82) `Index` to `refs[Index]`: the atoms a
    /// distribution header announced for this message. Without it, tag 82 is
    /// [`DecodeError::AtomCacheRefWithoutCache`].
    pub fn with_atom_refs(mut self, refs: &'a [Atom]) -> Self {
        self.atom_refs = Some(refs);
        self
    }

    /// Replaces the default limits.
    pub fn with_limits(mut self, limits: DecodeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Offset of the next unread byte.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// True when every byte has been read.
    pub fn is_at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Decodes one term that starts with the version byte 131 (then the term,
    /// or 80 and a compressed term).
    pub fn term_with_version(&mut self) -> Result<Term, DecodeError> {
        let v = self.u8()?;
        if v != VERSION_MAGIC {
            return Err(DecodeError::BadVersion(v));
        }
        if self.peek() == Some(COMPRESSED) {
            self.pos += 1;
            return self.compressed();
        }
        self.term()
    }

    /// Decodes one term without a version byte (as after a distribution
    /// header).
    pub fn term(&mut self) -> Result<Term, DecodeError> {
        // Most distribution messages are a few dozen bytes of integers,
        // short atoms, pids and small tuples: decode those directly, without
        // the general decoder's stack and per-term state.
        if self.left() <= SMALL_INPUT {
            let start = self.pos;
            if let Some(t) = self.small(SMALL_DEPTH) {
                return Ok(t);
            }
            // Anything else (or any error, reported properly below) goes
            // the general way from the start.
            self.pos = start;
        }
        let mut run = Run {
            pending: 0,
            long_atoms: Default::default(),
            next_slot: 0,
            map_scratch: Vec::new(),
        };
        self.run(&mut run)
    }

    /// The small-term fast path: integers, short ASCII atoms (and atom
    /// cache references), pids with such a node name, `[]` and tuples of
    /// these, nested at most `depth` deep. `None` for anything else, for too
    /// deep a term and for any error; the caller then rewinds and uses the
    /// general decoder, so results and errors are the same either way.
    fn small(&mut self, depth: u32) -> Option<Term> {
        let tag = self.u8().ok()?;
        Some(match tag {
            SMALL_INTEGER_EXT => Term::Int(i64::from(self.u8().ok()?)),
            INTEGER_EXT => Term::Int(i64::from(i32::from_be_bytes(self.array().ok()?))),
            SMALL_ATOM_UTF8_EXT | SMALL_ATOM_EXT | ATOM_CACHE_REF => {
                Term::Atom(self.small_atom_body(tag)?)
            }
            SMALL_TUPLE_EXT => {
                let n = usize::from(self.u8().ok()?);
                // Each element takes at least one byte.
                if depth == 0 || n > self.left() {
                    return None;
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.small(depth - 1)?);
                }
                Term::Tuple(items)
            }
            NIL_EXT => Term::NIL,
            NEW_PID_EXT => {
                let node_tag = self.u8().ok()?;
                let node = self.small_atom_body(node_tag)?;
                let id = self.u32().ok()?;
                let serial = self.u32().ok()?;
                let creation = self.u32().ok()?;
                Term::Pid(Pid {
                    node,
                    id,
                    serial,
                    creation,
                })
            }
            _ => return None,
        })
    }

    /// An atom for the fast path: an inline-sized ASCII `SMALL_ATOM_UTF8_EXT`
    /// or `SMALL_ATOM_EXT`, or a valid atom cache reference.
    #[inline]
    fn small_atom_body(&mut self, tag: u8) -> Option<Atom> {
        match tag {
            SMALL_ATOM_UTF8_EXT | SMALL_ATOM_EXT => {
                let len = usize::from(self.u8().ok()?);
                Atom::from_short_ascii(self.take(len).ok()?)
            }
            ATOM_CACHE_REF => {
                let index = self.u8().ok()?;
                self.atom_refs?.get(usize::from(index)).cloned()
            }
            _ => None,
        }
    }

    fn compressed(&mut self) -> Result<Term, DecodeError> {
        let size = u64::from(self.u32()?);
        let limit = self.limits.max_decompressed_size;
        if size > limit as u64 {
            return Err(DecodeError::DecompressedTooLarge { size, limit });
        }
        let size = size as usize;
        let start = self.pos;
        let input = self.remaining();
        let mut z = flate2::Decompress::new(true);
        // Grows chunk by chunk up to one byte past the declared size, so a
        // lying size field costs no more memory than the real data.
        let mut out: Vec<u8> = Vec::with_capacity(size.min(INFLATE_CHUNK) + 1);
        let bad = || DecodeError::BadCompressedData { offset: start };
        loop {
            let consumed = z.total_in() as usize;
            if out.len() == out.capacity() {
                let want = (size + 1 - out.len()).min(INFLATE_CHUNK);
                if want == 0 {
                    break;
                }
                out.reserve_exact(want);
            }
            let before = (z.total_in(), z.total_out());
            let status = z
                .decompress_vec(
                    input.get(consumed..).unwrap_or_default(),
                    &mut out,
                    flate2::FlushDecompress::None,
                )
                .map_err(|_| bad())?;
            if out.len() > size {
                break;
            }
            match status {
                flate2::Status::StreamEnd => break,
                _ if (z.total_in(), z.total_out()) == before && out.len() < out.capacity() => {
                    return Err(bad());
                }
                _ => {}
            }
        }
        if out.len() != size {
            return Err(DecodeError::CompressedSizeMismatch {
                declared: size as u64,
                actual: out.len() as u64,
            });
        }
        let used = z.total_in() as usize;
        let atom_refs = self.atom_refs;
        let limits = self.limits.clone();
        let term = if self.shared.is_some() {
            let bytes = Bytes::from(out);
            let mut inner = Decoder::shared(&bytes).with_limits(limits);
            inner.atom_refs = atom_refs;
            let t = inner.term()?;
            inner.expect_end()?;
            t
        } else {
            let mut inner = Decoder::new(&out).with_limits(limits);
            inner.atom_refs = atom_refs;
            let t = inner.term()?;
            inner.expect_end()?;
            t
        };
        self.pos = start + used;
        Ok(term)
    }

    pub(crate) fn expect_end(&self) -> Result<(), DecodeError> {
        match self.buf.len().saturating_sub(self.pos) {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    // ---- cursor primitives -------------------------------------------------

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    #[inline]
    fn end(&self, n: usize) -> DecodeError {
        DecodeError::UnexpectedEnd {
            offset: self.pos,
            needed: n.saturating_sub(self.buf.len().saturating_sub(self.pos)),
        }
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let buf: &'a [u8] = self.buf;
        match self.pos.checked_add(n).and_then(|e| buf.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.end(n)),
        }
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    #[inline]
    fn u8(&mut self) -> Result<u8, DecodeError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.end(1)),
        }
    }

    #[inline]
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    #[inline]
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    #[inline]
    fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// A binary's bytes: shared with the buffer when allowed and large enough.
    #[inline]
    fn bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        let s = self.take(n)?;
        match self.shared {
            Some(b) if n >= SHARE_MIN_BINARY => Ok(b.slice(start..start + n)),
            _ => Ok(Bytes::copy_from_slice(s)),
        }
    }

    // ---- the iterative decoder --------------------------------------------

    fn run(&mut self, run: &mut Run) -> Result<Term, DecodeError> {
        let mut stack: Vec<Frame> = Vec::new();
        // Only a term that is not a container lands here; a container is
        // returned as soon as it completes with nothing open around it.
        let mut root: Vec<Term> = Vec::new();
        loop {
            // Decode one element into the innermost open container (or
            // `root`), or open a new container.
            if !stack.is_empty() {
                run.pending = run.pending.saturating_sub(1);
            }
            self.one(run, &mut stack, &mut root)?;
            if stack.is_empty() {
                return root.pop().ok_or(DecodeError::UnexpectedEnd {
                    needed: 1,
                    offset: self.pos,
                });
            }
            // Close every container that is now complete.
            while let Some(top) = stack.last_mut() {
                if top.items.len() < top.want {
                    // Map keys and values are mostly integers and short
                    // atoms: take those in a run.
                    if let Kind::Map = top.kind {
                        self.scalars(run, top);
                    }
                    if top.items.len() < top.want {
                        break;
                    }
                }
                if let Kind::List { in_tail: false } = top.kind {
                    // All elements are in: read the tail, which may extend
                    // the list or leave a tail term to decode.
                    if !self.list_tail(run, top)? {
                        break;
                    }
                }
                let Some(Frame {
                    items,
                    kind,
                    offset,
                    ..
                }) = stack.pop()
                else {
                    break;
                };
                // The finished container goes into its parent, or is the
                // whole term.
                match stack.last_mut() {
                    Some(parent) => finish_into(run, kind, items, offset, &mut parent.items)?,
                    None => {
                        finish_into(run, kind, items, offset, &mut root)?;
                        return root.pop().ok_or(DecodeError::UnexpectedEnd {
                            needed: 1,
                            offset: self.pos,
                        });
                    }
                }
            }
        }
    }

    /// Decodes the integers (`SMALL_INTEGER_EXT`, `INTEGER_EXT`) and short
    /// ASCII atoms that come next into `top`, for as long as it wants more
    /// elements, without the general loop's per-term work. Stops, having
    /// read nothing of it, at any other term, and at the end of the input
    /// (which the general path then reports).
    #[inline]
    fn scalars(&mut self, run: &mut Run, top: &mut Frame) {
        let start = top.items.len();
        while top.items.len() < top.want {
            match self.buf.get(self.pos..) {
                Some([SMALL_INTEGER_EXT, b, ..]) => {
                    push_int(&mut top.items, i64::from(*b));
                    self.pos += 2;
                }
                Some([INTEGER_EXT, a, b, c, d, ..]) => {
                    push_int(
                        &mut top.items,
                        i64::from(i32::from_be_bytes([*a, *b, *c, *d])),
                    );
                    self.pos += 5;
                }
                Some([SMALL_ATOM_UTF8_EXT | SMALL_ATOM_EXT, ..]) => {
                    self.pos += 1;
                    if !self.short_ascii_atom(&mut top.items) {
                        self.pos -= 1;
                        break;
                    }
                }
                _ => break,
            }
        }
        run.pending = run.pending.saturating_sub(top.items.len() - start);
    }

    /// The list `top` has all its elements: read its tail. A tail that is
    /// itself a list (`NIL_EXT`, `STRING_EXT`, `LIST_EXT`) is merged into
    /// the same vector, so `[1|[2|[3]]]` chains stay linear. True when the
    /// list is complete; false when more must be decoded into it (more
    /// elements, or a tail that is not a list, which becomes its last item).
    fn list_tail(&mut self, run: &mut Run, top: &mut Frame) -> Result<bool, DecodeError> {
        loop {
            // The tail is the frame's last pending element.
            run.pending = run.pending.saturating_sub(1);
            match self.peek() {
                Some(NIL_EXT) => {
                    self.pos += 1;
                    return Ok(true);
                }
                Some(STRING_EXT) => {
                    self.pos += 1;
                    let n = self.u16()? as usize;
                    let s = self.take(n)?;
                    top.items.extend(s.iter().map(|&b| Term::Int(i64::from(b))));
                    return Ok(true);
                }
                Some(LIST_EXT) => {
                    let offset = self.pos;
                    self.pos += 1;
                    let n = self.u32()?;
                    run.open(self, "list", u64::from(n) + 1, offset)?;
                    if n > 0 {
                        top.items.reserve(n as usize);
                        top.want += n as usize;
                        return Ok(false);
                    }
                    // `LIST_EXT` with no elements: its tail is the tail.
                }
                _ => {
                    top.kind = Kind::List { in_tail: true };
                    top.want += 1;
                    // Counted again when the tail is decoded through `run`.
                    run.pending += 1;
                    return Ok(false);
                }
            }
        }
    }

    /// Decodes one term into the innermost open container (`root` when none
    /// is open), or opens a container: pushes its frame on `stack`.
    #[inline]
    fn one(
        &mut self,
        run: &mut Run,
        stack: &mut Vec<Frame>,
        root: &mut Vec<Term>,
    ) -> Result<(), DecodeError> {
        let offset = self.pos;
        let tag = self.u8()?;
        let items = match stack.last_mut() {
            Some(top) => &mut top.items,
            None => root,
        };
        // Each scalar is pushed into its container right where it is made.
        // Returning it instead moved every term (40 bytes, copied in pieces
        // that straddle the stores that built it) two or three times more,
        // each time stalling on store-to-load forwarding.
        match tag {
            SMALL_INTEGER_EXT => push_int(items, i64::from(self.u8()?)),
            INTEGER_EXT => push_int(items, i64::from(i32::from_be_bytes(self.array()?))),
            // The guard pushes the atom when it is short ASCII; otherwise it
            // reads nothing and the general arm below takes it.
            SMALL_ATOM_UTF8_EXT | SMALL_ATOM_EXT if self.short_ascii_atom(items) => {}
            SMALL_ATOM_UTF8_EXT | ATOM_UTF8_EXT | ATOM_EXT | SMALL_ATOM_EXT | ATOM_CACHE_REF => {
                items.push(Term::Atom(self.atom_body(tag, offset, run)?))
            }
            SMALL_TUPLE_EXT | LARGE_TUPLE_EXT => {
                let n = if tag == SMALL_TUPLE_EXT {
                    u32::from(self.u8()?)
                } else {
                    self.u32()?
                };
                if n == 0 {
                    items.push(Term::Tuple(Vec::new()));
                    return Ok(());
                }
                run.open(self, "tuple", u64::from(n), offset)?;
                stack.push(Frame::new(Kind::Tuple, n as usize, offset));
                return Ok(());
            }
            NIL_EXT => items.push(Term::List(Vec::new())),
            STRING_EXT => {
                let n = self.u16()? as usize;
                let s = self.take(n)?;
                items.push(Term::List(
                    s.iter().map(|&b| Term::Int(i64::from(b))).collect(),
                ))
            }
            LIST_EXT => {
                let n = self.u32()?;
                run.open(self, "list", u64::from(n) + 1, offset)?;
                // With no elements the frame is complete at once and the
                // caller goes straight to its tail.
                stack.push(Frame::new(
                    Kind::List { in_tail: false },
                    n as usize,
                    offset,
                ));
                return Ok(());
            }
            MAP_EXT => {
                let n = self.u32()?;
                if n == 0 {
                    items.push(Term::Map(Box::new(Map::from_received(Vec::new()))));
                    return Ok(());
                }
                run.open(self, "map", 2 * u64::from(n), offset)?;
                let want = 2 * n as usize;
                let mut items = run.map_scratch.pop().unwrap_or_default();
                items.reserve(want);
                stack.push(Frame {
                    items,
                    want,
                    kind: Kind::Map,
                    offset,
                });
                return Ok(());
            }
            NEW_FUN_EXT => {
                let _size = self.u32()?; // the BEAM skips it as well
                let arity = self.u8()?;
                let uniq: [u8; 16] = self.array()?;
                let index = self.u32()?;
                let num_free = self.u32()?;
                let module = self.atom(run)?;
                let old_index = self.u32_field("fun old index")?;
                let old_uniq = self.u32_field("fun old uniq")?;
                let pid = self.pid(run)?;
                let fun = Fun::New {
                    arity,
                    uniq,
                    index,
                    module,
                    old_index,
                    old_uniq,
                    pid,
                    free_vars: Vec::new(),
                };
                return self.open_fun(run, fun, num_free, offset, stack, root);
            }
            FUN_EXT => {
                let num_free = self.u32()?;
                let pid = self.pid(run)?;
                let module = self.atom(run)?;
                let index = self.u32_field("fun index")?;
                let uniq = self.u32_field("fun uniq")?;
                let fun = Fun::Old {
                    pid,
                    module,
                    index,
                    uniq,
                    free_vars: Vec::new(),
                };
                return self.open_fun(run, fun, num_free, offset, stack, root);
            }
            _ => items.push(self.scalar(tag, offset, run)?),
        }
        Ok(())
    }

    /// After a `SMALL_ATOM_UTF8_EXT` or `SMALL_ATOM_EXT` tag: pushes the
    /// atom and returns true if it is short ASCII text (nearly every atom);
    /// false, having read nothing, for anything else.
    #[inline]
    fn short_ascii_atom(&mut self, items: &mut Vec<Term>) -> bool {
        let Some(&len) = self.buf.get(self.pos) else {
            return false;
        };
        let start = self.pos + 1;
        let end = start + usize::from(len);
        let window = self
            .buf
            .get(start..start + ATOM_WINDOW)
            .and_then(|w| <&[u8; ATOM_WINDOW]>::try_from(w).ok());
        // Within ATOM_WINDOW bytes of the end of the input the general atom path,
        // which the caller falls back to, takes it.
        let pushed = window.is_some_and(|w| push_atom_window(items, w, len));
        if pushed {
            self.pos = end;
        }
        pushed
    }

    /// A term that is not a container (tags other than those `one` handles
    /// itself).
    fn scalar(&mut self, tag: u8, offset: usize, run: &mut Run) -> Result<Term, DecodeError> {
        Ok(match tag {
            BINARY_EXT => {
                let n = self.u32()? as usize;
                Term::Binary(self.bytes(n)?)
            }
            NEW_FLOAT_EXT => {
                let f = f64::from_be_bytes(self.array()?);
                if !f.is_finite() {
                    return Err(DecodeError::NonFiniteFloat { offset });
                }
                Term::Float(f)
            }
            NEW_PID_EXT | PID_EXT => Term::Pid(self.pid_body(tag, run)?),
            NEWER_REFERENCE_EXT | NEW_REFERENCE_EXT => {
                let len = self.u16()?;
                if len == 0 || usize::from(len) > MAX_REFERENCE_WORDS {
                    return Err(DecodeError::BadReferenceLength { len, offset });
                }
                let node = self.atom(run)?;
                let creation = if tag == NEWER_REFERENCE_EXT {
                    self.u32()?
                } else {
                    u32::from(self.u8()?)
                };
                let mut words = [0u32; MAX_REFERENCE_WORDS];
                for w in words.iter_mut().take(usize::from(len)) {
                    *w = self.u32()?;
                }
                Term::Ref(Box::new(Reference {
                    node,
                    creation,
                    len: len as u8,
                    words,
                }))
            }
            REFERENCE_EXT => {
                let node = self.atom(run)?;
                let id = self.u32()?;
                let creation = u32::from(self.u8()?);
                let mut words = [0u32; MAX_REFERENCE_WORDS];
                words[0] = id;
                Term::Ref(Box::new(Reference {
                    node,
                    creation,
                    len: 1,
                    words,
                }))
            }
            NEW_PORT_EXT | V4_PORT_EXT | PORT_EXT => {
                let node = self.atom(run)?;
                let (id, creation) = match tag {
                    NEW_PORT_EXT => (u64::from(self.u32()?), self.u32()?),
                    V4_PORT_EXT => (u64::from_be_bytes(self.array()?), self.u32()?),
                    _ => (u64::from(self.u32()?), u32::from(self.u8()?)),
                };
                Term::Port(Port { node, id, creation })
            }
            SMALL_BIG_EXT | LARGE_BIG_EXT => {
                let n = if tag == SMALL_BIG_EXT {
                    self.u8()? as usize
                } else {
                    self.u32()? as usize
                };
                let sign = self.u8()?;
                let digits = self.take(n)?;
                big(sign != 0, digits)
            }
            BIT_BINARY_EXT => {
                let len = self.u32()?;
                let bits = self.u8()?;
                if bits > 8 || (bits == 0) != (len == 0) {
                    return Err(DecodeError::BadBitCount { bits, len, offset });
                }
                let n = len as usize;
                if bits == 8 || n == 0 {
                    Term::Binary(self.bytes(n)?)
                } else {
                    let mask = 0xffu8 << (8 - bits);
                    let start = self.pos;
                    let s = self.take(n)?;
                    let last = s.last().copied().unwrap_or(0);
                    let data = if last & mask == last {
                        self.pos = start;
                        self.bytes(n)?
                    } else {
                        // Unused bits set: the BEAM ignores them; keep the
                        // invariant that they are zero.
                        let mut v = s.to_vec();
                        if let Some(b) = v.last_mut() {
                            *b &= mask;
                        }
                        Bytes::from(v)
                    };
                    Term::BitString(Box::new(BitString {
                        data,
                        bits_in_last_byte: bits,
                    }))
                }
            }
            EXPORT_EXT => {
                let module = self.atom(run)?;
                let function = self.atom(run)?;
                let at = self.pos;
                let arity = self.int_field()?;
                let arity = u8::try_from(arity).map_err(|_| DecodeError::IntegerOutOfRange {
                    what: "export arity",
                    offset: at,
                })?;
                Term::Export(Box::new(ExportFun {
                    module,
                    function,
                    arity,
                }))
            }
            FLOAT_EXT => {
                let s: [u8; FLOAT_EXT_LEN] = self.array()?;
                Term::Float(parse_float_ext(&s).ok_or(DecodeError::BadFloatText { offset })?)
            }
            LOCAL_EXT => return Err(DecodeError::LocalExt { offset }),
            COMPRESSED => return Err(DecodeError::NestedCompressed { offset }),
            DIST_HEADER | DIST_FRAG_HEADER => return Err(DecodeError::DistHeader { tag, offset }),
            _ => return Err(DecodeError::UnknownTag { tag, offset }),
        })
    }

    fn open_fun(
        &mut self,
        run: &mut Run,
        fun: Fun,
        num_free: u32,
        offset: usize,
        stack: &mut Vec<Frame>,
        root: &mut Vec<Term>,
    ) -> Result<(), DecodeError> {
        if num_free == 0 {
            match stack.last_mut() {
                Some(top) => top.items.push(Term::Fun(Box::new(fun))),
                None => root.push(Term::Fun(Box::new(fun))),
            }
            return Ok(());
        }
        run.open(self, "fun", u64::from(num_free), offset)?;
        stack.push(Frame::new(
            Kind::Fun(Box::new(fun)),
            num_free as usize,
            offset,
        ));
        Ok(())
    }

    /// An atom field (node, module, function name).
    #[inline]
    fn atom(&mut self, run: &mut Run) -> Result<Atom, DecodeError> {
        let offset = self.pos;
        let tag = self.u8()?;
        match tag {
            SMALL_ATOM_UTF8_EXT | ATOM_UTF8_EXT | ATOM_EXT | SMALL_ATOM_EXT | ATOM_CACHE_REF => {
                self.atom_body(tag, offset, run)
            }
            _ => Err(DecodeError::UnexpectedTag {
                expected: "atom",
                tag,
                offset,
            }),
        }
    }

    #[inline]
    fn atom_body(&mut self, tag: u8, offset: usize, run: &mut Run) -> Result<Atom, DecodeError> {
        let (len, latin1) = match tag {
            SMALL_ATOM_UTF8_EXT => (self.u8()? as usize, false),
            ATOM_UTF8_EXT => (self.u16()? as usize, false),
            SMALL_ATOM_EXT => (self.u8()? as usize, true),
            ATOM_EXT => (self.u16()? as usize, true),
            _ => {
                let index = self.u8()?;
                let refs = self
                    .atom_refs
                    .ok_or(DecodeError::AtomCacheRefWithoutCache { offset })?;
                return refs
                    .get(usize::from(index))
                    .cloned()
                    .ok_or(DecodeError::AtomCacheIndex {
                        index,
                        len: refs.len(),
                        offset,
                    });
            }
        };
        let text = self.take(len)?;
        if let Some(a) = Atom::from_short_ascii(text) {
            return Ok(a);
        }
        if latin1 && !text.is_ascii() {
            if len > MAX_ATOM_CHARS {
                return Err(DecodeError::AtomTooLong { chars: len });
            }
            let s: String = text.iter().map(|&b| char::from(b)).collect();
            return Ok(Atom::new_unchecked_len(&s));
        }
        let s = std::str::from_utf8(text).map_err(|_| DecodeError::InvalidUtf8Atom)?;
        if len > MAX_ATOM_CHARS {
            let chars = s.chars().count();
            if chars > MAX_ATOM_CHARS {
                return Err(DecodeError::AtomTooLong { chars });
            }
        }
        Ok(run.atom(s))
    }

    fn pid(&mut self, run: &mut Run) -> Result<Pid, DecodeError> {
        let offset = self.pos;
        let tag = self.u8()?;
        match tag {
            NEW_PID_EXT | PID_EXT => self.pid_body(tag, run),
            _ => Err(DecodeError::UnexpectedTag {
                expected: "pid",
                tag,
                offset,
            }),
        }
    }

    #[inline]
    fn pid_body(&mut self, tag: u8, run: &mut Run) -> Result<Pid, DecodeError> {
        let node = self.atom(run)?;
        let id = self.u32()?;
        let serial = self.u32()?;
        let creation = if tag == NEW_PID_EXT {
            self.u32()?
        } else {
            u32::from(self.u8()?)
        };
        Ok(Pid {
            node,
            id,
            serial,
            creation,
        })
    }

    /// An integer field of a fun or export (`SMALL_INTEGER_EXT`,
    /// `INTEGER_EXT` or a small big).
    fn int_field(&mut self) -> Result<i64, DecodeError> {
        let offset = self.pos;
        let tag = self.u8()?;
        let n = match tag {
            SMALL_INTEGER_EXT => i64::from(self.u8()?),
            INTEGER_EXT => i64::from(i32::from_be_bytes(self.array()?)),
            SMALL_BIG_EXT => {
                let n = self.u8()? as usize;
                let sign = self.u8()?;
                match big(sign != 0, self.take(n)?) {
                    Term::Int(i) => i,
                    _ => {
                        return Err(DecodeError::IntegerOutOfRange {
                            what: "fun field",
                            offset,
                        });
                    }
                }
            }
            _ => {
                return Err(DecodeError::UnexpectedTag {
                    expected: "integer",
                    tag,
                    offset,
                });
            }
        };
        Ok(n)
    }

    /// A 32-bit fun field. The BEAM keeps these as C `int`s and sends negative
    /// ones as negative `INTEGER_EXT`; the bit pattern is kept so that they
    /// re-encode identically.
    fn u32_field(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let offset = self.pos;
        let n = self.int_field()?;
        if let Ok(i) = i32::try_from(n) {
            Ok(i as u32)
        } else {
            u32::try_from(n).map_err(|_| DecodeError::IntegerOutOfRange { what, offset })
        }
    }
}

/// Per-term decoding state.
struct Run {
    /// Elements announced by open containers and not started yet. Each needs
    /// at least one byte of input, so this never exceeds the bytes left.
    pending: usize,
    long_atoms: [Option<Atom>; LONG_ATOM_CACHE],
    next_slot: usize,
    /// Emptied key/value vectors of finished maps, for the next map to
    /// reuse: a map's entries are built from its own vector of keys and
    /// values, which is scratch once they have moved. At most one per map
    /// open at a time; all freed when the decode ends.
    map_scratch: Vec<Vec<Term>>,
}

impl Run {
    /// Accounts for a container announcing `count` elements (each at least
    /// one byte); fails before any allocation if they cannot all fit.
    #[inline]
    fn open(
        &mut self,
        d: &Decoder<'_>,
        what: &'static str,
        count: u64,
        offset: usize,
    ) -> Result<(), DecodeError> {
        let remaining = d.left();
        let total = (self.pending as u64).saturating_add(count);
        if total > remaining as u64 {
            return Err(DecodeError::CountTooLarge {
                what,
                count,
                offset,
                remaining: remaining.saturating_sub(self.pending),
            });
        }
        self.pending = total as usize;
        Ok(())
    }

    /// An atom from checked text; long atoms come from a small
    /// cache so a node name repeated in every pid is allocated once.
    #[inline]
    fn atom(&mut self, s: &str) -> Atom {
        let text = s.as_bytes();
        if text.len() <= super::INLINE_ATOM_BYTES {
            return Atom::new_unchecked_len(s);
        }
        for a in self.long_atoms.iter().flatten() {
            if a.as_bytes() == text {
                return a.clone();
            }
        }
        let a = Atom::new_unchecked_len(s);
        if let Some(slot) = self.long_atoms.get_mut(self.next_slot) {
            *slot = Some(a.clone());
        }
        self.next_slot = (self.next_slot + 1) % LONG_ATOM_CACHE;
        a
    }
}

/// An open container: the terms decoded into it so far.
struct Frame {
    items: Vec<Term>,
    /// Items it holds when complete: elements (and the tail, once a list
    /// has a tail that is not a list), two per map entry, free variables.
    want: usize,
    kind: Kind,
    /// Offset of its tag, for errors.
    offset: usize,
}

impl Frame {
    fn new(kind: Kind, want: usize, offset: usize) -> Frame {
        Frame {
            items: Vec::with_capacity(want),
            want,
            kind,
            offset,
        }
    }
}

enum Kind {
    Tuple,
    List {
        /// The elements are done and the (non-list) tail is being decoded.
        in_tail: bool,
    },
    /// Keys and values alternate in `items`.
    Map,
    /// The fun whose free variables `items` holds.
    Fun(Box<Fun>),
}

/// Pushes the container whose items are all decoded onto `dest`, built
/// inside `extend` so that it is written straight into place (see
/// `push_int`).
fn finish_into(
    run: &mut Run,
    kind: Kind,
    mut items: Vec<Term>,
    offset: usize,
    dest: &mut Vec<Term>,
) -> Result<(), DecodeError> {
    use std::iter::once;
    match kind {
        Kind::Tuple => dest.extend(once(items).map(Term::Tuple)),
        Kind::List { in_tail: false } => dest.extend(once(items).map(Term::List)),
        Kind::List { in_tail: true } => match items.pop() {
            Some(tail) if !items.is_empty() => {
                dest.extend(once((items, tail)).map(|(i, t)| Term::ImproperList(i, Box::new(t))))
            }
            // `LIST_EXT` with no elements: the term is its tail.
            Some(tail) => dest.push(tail),
            None => dest.extend(once(items).map(Term::List)),
        },
        Kind::Map => {
            // Keys and values alternate in `items` (a complete map frame
            // holds an even number). Taken pair by pair inside `extend`,
            // each moves once, straight into its entry, and leaves the
            // integer 0 behind.
            let mut entries = Vec::with_capacity(items.len() / 2);
            entries.extend(items.chunks_exact_mut(2).map(|kv| match kv {
                [k, v] => (
                    std::mem::replace(k, Term::Int(0)),
                    std::mem::replace(v, Term::Int(0)),
                ),
                _ => (Term::NIL, Term::NIL),
            }));
            // Only those integers are left, which own nothing: empty the
            // vector without visiting them (a `clear` would run the drop of
            // each).
            std::mem::forget(items.drain(..));
            run.map_scratch.push(items);
            // Equal keys are neighbours in key order, which the map
            // computes anyway.
            let Some(map) = Map::from_received_checked(entries) else {
                return Err(DecodeError::DuplicateMapKey { offset });
            };
            dest.extend(once(map).map(|m| Term::Map(Box::new(m))))
        }
        Kind::Fun(mut fun) => {
            match &mut *fun {
                Fun::New { free_vars, .. } | Fun::Old { free_vars, .. } => *free_vars = items,
            }
            dest.extend(once(fun).map(Term::Fun))
        }
    }
    Ok(())
}

/// Pushes `Term::Int(v)`. `Vec::push(Term::Int(v))` builds the term on the
/// stack and copies all 40 bytes into the vector with wide loads that
/// straddle the narrower stores that just built it: no store-to-load
/// forwarding, a stall on every term. Made inside `extend`'s loop, after
/// its capacity check, the term is written straight into the vector. Out
/// of line so that the decoder's big match cannot merge it with the other
/// arms' pushes.
#[inline(never)]
fn push_int(items: &mut Vec<Term>, v: i64) {
    items.extend(std::iter::once(v).map(Term::Int));
}

/// Pushes the atom of the first `len` bytes of `window` and returns true if
/// they are short ASCII text; false, pushing nothing, otherwise. Built inside
/// `extend` for the reason given at `push_int`.
#[inline(never)]
fn push_atom_window(items: &mut Vec<Term>, window: &[u8; ATOM_WINDOW], len: u8) -> bool {
    match Atom::inline_ascii_from_window(window, len) {
        Some(atom) => {
            items.extend(std::iter::once(atom).map(Term::Atom));
            true
        }
        None => false,
    }
}

/// An integer from little-endian magnitude bytes, in normal
/// form (`Int` when it fits an `i64`; negative zero is zero).
fn big(negative: bool, digits: &[u8]) -> Term {
    let mut digits = digits;
    while let [rest @ .., 0] = digits {
        digits = rest;
    }
    if digits.len() <= 8 {
        let mut m = 0u64;
        for &d in digits.iter().rev() {
            m = (m << 8) | u64::from(d);
        }
        if !negative {
            if let Ok(i) = i64::try_from(m) {
                return Term::Int(i);
            }
        } else if m <= 1u64 << 63 {
            return Term::Int((-(i128::from(m))) as i64);
        }
    }
    let sign = if negative { Sign::Minus } else { Sign::Plus };
    // Up to BIG_WORDS_ON_STACK 32-bit words are assembled four bytes at a
    // time on the stack (num-bigint's `from_bytes_le` folds byte by byte).
    let mut words = [0u32; BIG_WORDS_ON_STACK];
    if digits.len() <= 4 * BIG_WORDS_ON_STACK {
        let whole = digits.chunks_exact(4);
        let tail = whole.remainder();
        let n = whole.len();
        for (w, c) in words.iter_mut().zip(whole) {
            if let Ok(c) = <[u8; 4]>::try_from(c) {
                *w = u32::from_le_bytes(c);
            }
        }
        let mut last = [0u8; 4];
        if let Some(room) = last.get_mut(..tail.len()) {
            room.copy_from_slice(tail);
        }
        if let Some(w) = words.get_mut(n) {
            *w = u32::from_le_bytes(last);
        }
        let used = digits.len().div_ceil(4);
        let mag = BigUint::from_slice(words.get(..used).unwrap_or_default());
        return Term::BigInt(BigInt::from_biguint(sign, mag));
    }
    Term::BigInt(BigInt::from_bytes_le(sign, digits))
}

/// Big integers of up to this many 32-bit words (512 bits, which covers
/// most big integers seen in practice) are built from a buffer on the
/// stack; longer ones through num-bigint's byte-wise constructor.
const BIG_WORDS_ON_STACK: usize = 16;

/// Parses `FLOAT_EXT`'s `"%.20e"` text: a number, then NUL padding. Like the
/// BEAM, no leading spaces and no junk after the number.
fn parse_float_ext(s: &[u8]) -> Option<f64> {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    let text = std::str::from_utf8(s.get(..end)?).ok()?;
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    let f: f64 = text.parse().ok()?;
    f.is_finite().then_some(f)
}

impl Term {
    /// Decodes `term_to_binary` output: the version byte 131, then one term
    /// (possibly compressed), and nothing after it. Binaries are copied.
    ///
    /// ```
    /// use erlnode::Term;
    /// assert_eq!(Term::decode(&[131, 97, 42]).unwrap(), Term::Int(42));
    /// assert!(Term::decode(&[131, 108, 255, 255, 255, 255]).is_err());
    /// ```
    pub fn decode(bytes: &[u8]) -> Result<Term, DecodeError> {
        let mut d = Decoder::new(bytes);
        let t = d.term_with_version()?;
        d.expect_end()?;
        Ok(t)
    }

    /// As [`Term::decode`], but binaries of [`SHARE_MIN_BINARY`] bytes or
    /// more share `bytes`' storage instead of being copied (smaller ones are
    /// copied, as the BEAM does with heap binaries, so that they do not keep a
    /// large buffer alive).
    pub fn decode_shared(bytes: &Bytes) -> Result<Term, DecodeError> {
        let mut d = Decoder::shared(bytes);
        let t = d.term_with_version()?;
        d.expect_end()?;
        Ok(t)
    }
}

#[cfg(test)]
mod small_path_tests {
    use super::*;

    /// Decodes `bytes` (one term after the version byte) with the fast path
    /// allowed, then again behind padding that keeps the general decoder.
    fn both(bytes: &[u8]) -> (Result<Term, DecodeError>, Result<Term, DecodeError>) {
        let fast = Decoder::new(bytes).term_with_version();
        let mut padded = bytes.to_vec();
        padded.resize(bytes.len() + SMALL_INPUT + 1, 0);
        let general = Decoder::new(&padded).term_with_version();
        (fast, general)
    }

    #[test]
    fn fast_path_agrees_with_the_general_decoder() {
        let pid = Term::Pid(Pid {
            node: Atom::from("a@b"),
            id: 1,
            serial: 2,
            creation: 3,
        });
        let terms = [
            Term::Int(7),
            Term::Int(-70_000),
            Term::atom(""),
            Term::atom("ok"),
            Term::atom("été"),
            Term::atom("a_rather_long_atom_of_more_than_22_bytes"),
            Term::NIL,
            Term::tuple(vec![]),
            Term::tuple(vec![
                Term::Int(6),
                pid.clone(),
                Term::atom(""),
                Term::atom("sink"),
            ]),
            Term::tuple(vec![Term::atom("seq"), Term::Int(123_456)]),
            Term::tuple(vec![Term::tuple(vec![Term::tuple(vec![Term::tuple(
                vec![Term::tuple(vec![Term::Int(1)])],
            )])])]),
            Term::tuple(vec![Term::atom("x"), Term::list(vec![Term::Int(1)])]),
            Term::tuple(vec![Term::Int(1), Term::binary(b"bin")]),
        ];
        for t in terms {
            let bytes = t.encode();
            let (fast, general) = both(&bytes);
            assert_eq!(fast.as_ref().ok(), Some(&t));
            assert_eq!(general.as_ref().ok(), Some(&t));
        }
    }

    #[test]
    fn fast_path_errors_are_the_general_decoders() {
        let good = Term::tuple(vec![Term::atom("seq"), Term::Int(1)]).encode();
        for cut in 1..good.len() {
            let (fast, _) = both(good.get(..cut).unwrap_or_default());
            let general = Decoder::new(good.get(..cut).unwrap_or_default()).term_with_version();
            assert!(fast.is_err());
            assert_eq!(format!("{fast:?}"), format!("{general:?}"));
        }
        // A tuple announcing more elements than there are bytes.
        let (fast, _) = both(&[131, 104, 200, 97, 1]);
        assert!(matches!(fast, Err(DecodeError::CountTooLarge { .. })));
        // An atom cache reference without a cache.
        let (fast, general) = both(&[131, 104, 1, 82, 0]);
        assert!(matches!(
            fast,
            Err(DecodeError::AtomCacheRefWithoutCache { .. })
        ));
        assert!(general.is_err());
    }

    #[test]
    fn fast_path_resolves_atom_cache_references() {
        let refs = [Atom::from("sink"), Atom::from("seq")];
        let bytes = [104, 2, 82, 1, 82, 0];
        let t = Decoder::new(&bytes).with_atom_refs(&refs).term();
        assert_eq!(
            t.ok(),
            Some(Term::tuple(vec![Term::atom("seq"), Term::atom("sink")]))
        );
        let bad = [104, 1, 82, 2];
        let e = Decoder::new(&bad).with_atom_refs(&refs).term();
        assert!(matches!(
            e,
            Err(DecodeError::AtomCacheIndex { index: 2, .. })
        ));
    }
}

#[cfg(test)]
mod big_tests {
    use super::*;

    /// Every magnitude length around the stack buffer's word boundaries,
    /// both signs, with and without trailing zero bytes: the word-wise
    /// assembly gives what num-bigint's byte-wise constructor gives.
    #[test]
    fn big_integers_match_num_bigint() {
        for len in 0..=4 * BIG_WORDS_ON_STACK + 9 {
            for zeros in [0, 1, 5] {
                let mut digits: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8 | 1).collect();
                digits.extend(std::iter::repeat_n(0, zeros));
                for negative in [false, true] {
                    let sign = if negative { Sign::Minus } else { Sign::Plus };
                    let want = Term::from_bigint(BigInt::from_bytes_le(sign, &digits));
                    let got = big(negative, &digits);
                    assert_eq!(got, want, "len {len} zeros {zeros} negative {negative}");
                    // Normal form: an i64-sized value is never a BigInt.
                    if let Term::BigInt(b) = &got {
                        assert!(i64::try_from(b).is_err(), "len {len}");
                    }
                }
            }
        }
    }
}
