//! ETF encoder: [`Term`] to bytes, byte for byte as the BEAM writes them.
//!
//! With the default options the output equals OTP's
//! `term_to_binary(T, [{minor_version, 2}])`: the smallest integer form, byte
//! lists as `STRING_EXT`, `SMALL_ATOM_UTF8_EXT` (or `ATOM_UTF8_EXT` for atoms
//! over 255 bytes), `NEW_FLOAT_EXT`, `NEW_PID_EXT`, `NEWER_REFERENCE_EXT`,
//! `NEW_PORT_EXT` (`V4_PORT_EXT` for ids above 32 bits), maps in received
//! order. [`EncodeOptions`] selects the older forms.
//!
//! The encoder never recurses: containers still being written are an
//! explicit stack of slice iterators, so any nesting depth encodes.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use super::decode::*;
use super::{Atom, Fun, MAX_ATOM_CHARS, Pid, Term, VERSION_MAGIC};
use bytes::Bytes;
use std::io::Write;

/// Initial reservation for an encoding whose size is unknown; most messages
/// fit, bigger ones grow the vector geometrically.
const INITIAL_RESERVE: usize = 256;

/// Lists up to this many elements that hold only integers 0..=255 are sent as
/// `STRING_EXT`, whose length field is 16 bits (`erl_ext_dist`).
const MAX_STRING_EXT_LEN: usize = u16::MAX as usize;

/// Largest zlib level (`{compressed, 0..9}` in `term_to_binary/2`).
pub const MAX_COMPRESSION_LEVEL: u32 = 9;

/// Level used by `term_to_binary(T, [compressed])`: zlib's default, 6.
pub const DEFAULT_COMPRESSION_LEVEL: u32 = 6;

/// A term that cannot be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Erlang floats are finite.
    #[error("cannot encode {0}: Erlang floats are finite")]
    NonFiniteFloat(f64),
    /// A binary, list, tuple or map has more elements than a 32-bit length
    /// field can hold.
    #[error("cannot encode a {what} of {len} elements: the format's length field is 32 bits")]
    TooLarge {
        /// "binary", "list", "tuple", "map", "fun".
        what: &'static str,
        /// The length.
        len: usize,
    },
    /// `minor_version` other than 0, 1 or 2.
    #[error("minor_version {0} does not exist; use 0, 1 or 2")]
    BadMinorVersion(u8),
    /// A compression level above 9.
    #[error("compression level {0} is out of range; zlib levels are 0..=9")]
    BadCompressionLevel(u32),
    /// A legacy (pre-`BIG_CREATION`) form cannot carry this pid, port or
    /// reference: its creation needs more than 8 bits, or the port id more
    /// than 32.
    #[error(
        "the legacy {what} form has an 8-bit creation and 32-bit ids; this one has creation \
         {creation}: encode without legacy_node_forms"
    )]
    LegacyFormTooSmall {
        /// "pid", "port" or "reference".
        what: &'static str,
        /// The creation.
        creation: u32,
    },
    /// A `Reference` with no id words (cannot be built with
    /// `Reference::new`).
    #[error("a reference needs at least one id word")]
    EmptyReference,
}

/// How to encode, mirroring `term_to_binary/2` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// `{minor_version, N}`: 2 (default) writes UTF-8 atoms and
    /// `NEW_FLOAT_EXT`; 1 writes atoms that fit Latin-1 as `ATOM_EXT`, as
    /// OTP 25's plain `term_to_binary/1` does; 0 also writes floats as text
    /// (`FLOAT_EXT`).
    pub minor_version: u8,
    /// `{compressed, Level}`: zlib level 1..=9 (`Some(0)` or `None` for
    /// none). Like the BEAM, the output stays uncompressed when compressing
    /// does not make it smaller.
    pub compressed: Option<u32>,
    /// Write pids, ports and references in the forms from before
    /// `DFLAG_BIG_CREATION` (`PID_EXT`, `PORT_EXT`, `NEW_REFERENCE_EXT`, with
    /// an 8-bit creation), for peers older than OTP 19.
    pub legacy_node_forms: bool,
}

impl Default for EncodeOptions {
    /// `term_to_binary(T, [{minor_version, 2}])`.
    fn default() -> Self {
        EncodeOptions {
            minor_version: 2,
            compressed: None,
            legacy_node_forms: false,
        }
    }
}

/// Gives the cache slot for an atom when encoding with a distribution-header
/// atom cache.
pub trait AtomCacheWriter {
    /// The `ATOM_CACHE_REF` index for `atom` in this message, if it is cached.
    fn atom_ref(&mut self, atom: &Atom) -> Option<u8>;
}

impl Term {
    /// Encodes like `term_to_binary(T, [{minor_version, 2}])`.
    ///
    /// # Panics
    /// If the term cannot be encoded at all: a NaN or infinite float, or a
    /// binary, list, tuple or map longer than `u32::MAX`. Use
    /// [`Term::try_encode`] for terms built from untrusted values.
    pub fn encode(&self) -> Vec<u8> {
        match self.try_encode() {
            Ok(v) => v,
            // AUDIT: documented panic for terms built wrongly in Rust (NaN,
            // over-long containers); decoded terms always encode, and the
            // network paths use try_encode.
            #[allow(clippy::panic)]
            Err(e) => panic!("Term::encode: {e}"),
        }
    }

    /// Encodes like `term_to_binary(T, [{minor_version, 2}])`.
    pub fn try_encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(INITIAL_RESERVE);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Encodes with `term_to_binary/2`-like options (the result starts with 131).
    pub fn encode_with(&self, opts: &EncodeOptions) -> Result<Vec<u8>, EncodeError> {
        if opts.minor_version > 2 {
            return Err(EncodeError::BadMinorVersion(opts.minor_version));
        }
        let mut out = Vec::with_capacity(INITIAL_RESERVE);
        out.push(VERSION_MAGIC);
        Encoder {
            out: &mut out,
            minor_version: opts.minor_version,
            legacy: opts.legacy_node_forms,
            cache: None,
            splices: None,
            in_fun: 0,
        }
        .term(self)?;
        match opts.compressed {
            None | Some(0) => Ok(out),
            Some(level) if level > MAX_COMPRESSION_LEVEL => {
                Err(EncodeError::BadCompressionLevel(level))
            }
            Some(level) => Ok(compress(out, level)),
        }
    }

    /// Appends 131 and the term to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(VERSION_MAGIC);
        self.encode_body_into(out, None)
    }

    /// Appends the term without the version byte, as after a distribution
    /// header. When `cache` gives an index for an atom, the atom is written as
    /// `ATOM_CACHE_REF` (82).
    pub fn encode_body_into(
        &self,
        out: &mut Vec<u8>,
        cache: Option<&mut dyn AtomCacheWriter>,
    ) -> Result<(), EncodeError> {
        self.encode_body_spliced(out, cache, None)
    }

    /// Like [`Term::encode_body_into`], but when `splices` is given, the
    /// bytes of each binary of [`SPLICE_MIN_BYTES`] or more are not copied:
    /// `out` gets the binary's tag and length only, and `splices` gets
    /// `(offset in out, the binary)`, in order. The encoding is `out` with
    /// each binary inserted at its offset. (Binaries inside funs are copied,
    /// since the fun's size field counts them.)
    pub fn encode_body_spliced(
        &self,
        out: &mut Vec<u8>,
        cache: Option<&mut dyn AtomCacheWriter>,
        splices: Option<&mut Vec<(usize, Bytes)>>,
    ) -> Result<(), EncodeError> {
        let start = out.len();
        let nsplices = splices.as_ref().map_or(0, |s| s.len());
        let mut e = Encoder {
            out,
            minor_version: 2,
            legacy: false,
            cache,
            splices,
            in_fun: 0,
        };
        let r = e.term(self);
        if r.is_err() {
            if let Some(s) = e.splices {
                s.truncate(nsplices);
            }
            out.truncate(start);
        }
        r
    }
}

/// `131, 80, Size:32, zlib(term)` if that is shorter than `plain`.
fn compress(plain: Vec<u8>, level: u32) -> Vec<u8> {
    let body = plain.get(1..).unwrap_or_default();
    let Ok(size) = u32::try_from(body.len()) else {
        return plain;
    };
    let mut out = Vec::with_capacity(plain.len());
    out.extend_from_slice(&[VERSION_MAGIC, COMPRESSED]);
    out.extend_from_slice(&size.to_be_bytes());
    let mut z = flate2::write::ZlibEncoder::new(out, flate2::Compression::new(level));
    let done = z.write_all(body).and_then(|_| z.finish());
    match done {
        Ok(out) if out.len() < plain.len() => out,
        _ => plain,
    }
}

/// Work still to do for a container being written.
enum Work<'t> {
    /// Remaining elements of a tuple, list or fun's free variables.
    Seq(std::slice::Iter<'t, Term>),
    /// One more term (an improper list's tail).
    One(&'t Term),
    /// Remaining map entries in stored order; `Some` value when the key of
    /// the current entry has been written.
    Pairs(std::slice::Iter<'t, (Term, Term)>, Option<&'t Term>),
    /// Remaining map entries in an order computed for a Rust-built map.
    PairRefs(crate::term::map::Order<'t>, Option<&'t Term>),
    /// `NIL_EXT` closing a proper list.
    Nil,
    /// Patch a `NEW_FUN_EXT` size field at this offset.
    FunSize(usize),
}

struct Encoder<'o, 'c> {
    out: &'o mut Vec<u8>,
    minor_version: u8,
    legacy: bool,
    cache: Option<&'c mut dyn AtomCacheWriter>,
    /// Where big binaries go instead of `out`, if anywhere.
    splices: Option<&'o mut Vec<(usize, Bytes)>>,
    /// Funs being written (their size field needs every byte in `out`).
    in_fun: u32,
}

/// Smallest binary that [`Term::encode_body_spliced`] leaves out of the
/// buffer (shared rather than copied).
pub const SPLICE_MIN_BYTES: usize = 4096;

impl Encoder<'_, '_> {
    fn term(&mut self, root: &Term) -> Result<(), EncodeError> {
        // A small tuple of plain leaves (most messages, such as `{seq, 1}`):
        // the same bytes as the general way below, without its work stack
        // (an allocation per term).
        if let Term::Tuple(v) = root
            && v.len() <= 255
            && v.iter().all(|t| matches!(t, Term::Int(_) | Term::Atom(_)))
        {
            self.out
                .extend_from_slice(&[SMALL_TUPLE_EXT, v.len() as u8]);
            for t in v {
                self.plain_leaf(t);
            }
            return Ok(());
        }
        let mut stack: Vec<Work<'_>> = Vec::new();
        let mut cur = root;
        loop {
            self.one(cur, &mut stack)?;
            // Next term to write, closing finished containers.
            cur = loop {
                let Some(top) = stack.last_mut() else {
                    return Ok(());
                };
                match top {
                    Work::Seq(it) => {
                        // Plain leaves are written right here, without a trip
                        // through the work stack; the first other term (or the
                        // end) goes the general way.
                        let next = loop {
                            match it.next() {
                                Some(t) if self.plain_leaf(t) => {}
                                other => break other,
                            }
                        };
                        match next {
                            Some(t) => {
                                if it.len() == 0 {
                                    stack.pop();
                                }
                                break t;
                            }
                            None => {
                                stack.pop();
                            }
                        }
                    }
                    Work::Pairs(it, val) => {
                        if let Some(v) = val.take() {
                            break v;
                        }
                        match it.next() {
                            Some((k, v)) => {
                                *val = Some(v);
                                break k;
                            }
                            None => {
                                stack.pop();
                            }
                        }
                    }
                    Work::PairRefs(it, val) => {
                        if let Some(v) = val.take() {
                            break v;
                        }
                        match it.next() {
                            Some((k, v)) => {
                                *val = Some(v);
                                break k;
                            }
                            None => {
                                stack.pop();
                            }
                        }
                    }
                    Work::One(t) => {
                        let t = *t;
                        stack.pop();
                        break t;
                    }
                    Work::Nil => {
                        self.out.push(NIL_EXT);
                        stack.pop();
                    }
                    Work::FunSize(at) => {
                        let at = *at;
                        self.in_fun = self.in_fun.saturating_sub(1);
                        let size = u32::try_from(self.out.len() - at).map_err(|_| {
                            EncodeError::TooLarge {
                                what: "fun",
                                len: self.out.len() - at,
                            }
                        })?;
                        if let Some(s) = self.out.get_mut(at..at + 4) {
                            s.copy_from_slice(&size.to_be_bytes());
                        }
                        stack.pop();
                    }
                }
            };
        }
    }

    /// Writes `t`, or its header and pushes its contents.
    #[inline]
    fn one<'t>(&mut self, t: &'t Term, stack: &mut Vec<Work<'t>>) -> Result<(), EncodeError> {
        match t {
            Term::Int(i) => self.int(*i),
            Term::Atom(a) => self.atom(a),
            Term::Tuple(v) => {
                let n = v.len();
                if n <= 255 {
                    self.out.extend_from_slice(&[SMALL_TUPLE_EXT, n as u8]);
                } else {
                    self.out.push(LARGE_TUPLE_EXT);
                    self.len32(n, "tuple")?;
                }
                if n > 0 {
                    stack.push(Work::Seq(v.iter()));
                }
            }
            Term::List(v) => {
                if v.is_empty() {
                    self.out.push(NIL_EXT);
                } else if let Some(bytes) = byte_list(v) {
                    self.out.push(STRING_EXT);
                    self.out.extend_from_slice(&(v.len() as u16).to_be_bytes());
                    self.out.extend(bytes);
                } else {
                    self.out.push(LIST_EXT);
                    self.len32(v.len(), "list")?;
                    stack.push(Work::Nil);
                    stack.push(Work::Seq(v.iter()));
                }
            }
            Term::ImproperList(v, tail) => {
                self.out.push(LIST_EXT);
                self.len32(v.len(), "list")?;
                stack.push(Work::One(tail));
                if !v.is_empty() {
                    stack.push(Work::Seq(v.iter()));
                }
            }
            Term::Binary(b) => {
                self.out.push(BINARY_EXT);
                self.len32(b.len(), "binary")?;
                match &mut self.splices {
                    Some(s) if b.len() >= SPLICE_MIN_BYTES && self.in_fun == 0 => {
                        s.push((self.out.len(), b.clone()));
                    }
                    _ => self.out.extend_from_slice(b),
                }
            }
            Term::Map(m) => {
                self.out.push(MAP_EXT);
                self.len32(m.len(), "map")?;
                if m.is_empty() {
                } else if m.is_received_order() {
                    stack.push(Work::Pairs(m.entries().iter(), None));
                } else {
                    stack.push(Work::PairRefs(m.encode_order(), None));
                }
            }
            Term::Float(f) => self.float(*f)?,
            Term::BigInt(b) => {
                self.big_int(b)?;
            }
            Term::Pid(p) => self.pid(p)?,
            Term::Ref(r) => {
                let id = r.id();
                if id.is_empty() {
                    return Err(EncodeError::EmptyReference);
                }
                if self.legacy {
                    let creation = legacy_creation("reference", r.creation)?;
                    self.out.push(NEW_REFERENCE_EXT);
                    self.out.extend_from_slice(&(id.len() as u16).to_be_bytes());
                    self.atom(&r.node);
                    self.out.push(creation);
                } else {
                    self.out.push(NEWER_REFERENCE_EXT);
                    self.out.extend_from_slice(&(id.len() as u16).to_be_bytes());
                    self.atom(&r.node);
                    self.out.extend_from_slice(&r.creation.to_be_bytes());
                }
                for w in id {
                    self.out.extend_from_slice(&w.to_be_bytes());
                }
            }
            Term::Port(p) => {
                if self.legacy {
                    let creation = legacy_creation("port", p.creation)?;
                    let id = u32::try_from(p.id).map_err(|_| EncodeError::LegacyFormTooSmall {
                        what: "port",
                        creation: p.creation,
                    })?;
                    self.out.push(PORT_EXT);
                    self.atom(&p.node);
                    self.out.extend_from_slice(&id.to_be_bytes());
                    self.out.push(creation);
                } else if let Ok(id) = u32::try_from(p.id) {
                    self.out.push(NEW_PORT_EXT);
                    self.atom(&p.node);
                    self.out.extend_from_slice(&id.to_be_bytes());
                    self.out.extend_from_slice(&p.creation.to_be_bytes());
                } else {
                    self.out.push(V4_PORT_EXT);
                    self.atom(&p.node);
                    self.out.extend_from_slice(&p.id.to_be_bytes());
                    self.out.extend_from_slice(&p.creation.to_be_bytes());
                }
            }
            Term::BitString(b) => {
                self.out.push(BIT_BINARY_EXT);
                self.len32(b.data.len(), "binary")?;
                let bits = b.bits_in_last_byte;
                if b.data.is_empty() || bits == 0 || bits >= 8 {
                    // Not a valid partial last byte: a whole-byte binary.
                    self.out.push(if b.data.is_empty() { 0 } else { 8 });
                    self.out.extend_from_slice(&b.data);
                } else {
                    self.out.push(bits);
                    self.out.extend_from_slice(&b.data);
                    if let Some(last) = self.out.last_mut() {
                        *last &= 0xffu8 << (8 - bits);
                    }
                }
            }
            Term::Export(e) => {
                self.out.push(EXPORT_EXT);
                self.atom(&e.module);
                self.atom(&e.function);
                self.out.extend_from_slice(&[SMALL_INTEGER_EXT, e.arity]);
            }
            Term::Fun(f) => match &**f {
                Fun::New {
                    arity,
                    uniq,
                    index,
                    module,
                    old_index,
                    old_uniq,
                    pid,
                    free_vars,
                } => {
                    self.out.push(NEW_FUN_EXT);
                    let at = self.out.len();
                    self.out.extend_from_slice(&[0; 4]);
                    self.out.push(*arity);
                    self.out.extend_from_slice(uniq);
                    self.out.extend_from_slice(&index.to_be_bytes());
                    self.len32(free_vars.len(), "fun")?;
                    self.atom(module);
                    self.int(i64::from(*old_index as i32));
                    self.int(i64::from(*old_uniq as i32));
                    self.pid(pid)?;
                    stack.push(Work::FunSize(at));
                    self.in_fun = self.in_fun.saturating_add(1);
                    if !free_vars.is_empty() {
                        stack.push(Work::Seq(free_vars.iter()));
                    }
                }
                Fun::Old {
                    pid,
                    module,
                    index,
                    uniq,
                    free_vars,
                } => {
                    self.out.push(FUN_EXT);
                    self.len32(free_vars.len(), "fun")?;
                    self.pid(pid)?;
                    self.atom(module);
                    self.int(i64::from(*index as i32));
                    self.int(i64::from(*uniq as i32));
                    if !free_vars.is_empty() {
                        stack.push(Work::Seq(free_vars.iter()));
                    }
                }
            },
        }
        Ok(())
    }

    /// Writes `t` if it is an integer or an atom (most elements of tuples
    /// and lists) and says whether it did.
    #[inline]
    fn plain_leaf(&mut self, t: &Term) -> bool {
        match t {
            Term::Int(i) => self.int(*i),
            Term::Atom(a) => self.atom(a),
            _ => return false,
        }
        true
    }

    #[inline]
    fn len32(&mut self, n: usize, what: &'static str) -> Result<(), EncodeError> {
        let n32 = u32::try_from(n).map_err(|_| EncodeError::TooLarge { what, len: n })?;
        self.out.extend_from_slice(&n32.to_be_bytes());
        Ok(())
    }

    #[inline(always)]
    fn int(&mut self, i: i64) {
        if (0..=255).contains(&i) {
            self.out.extend_from_slice(&[SMALL_INTEGER_EXT, i as u8]);
        } else {
            self.wide_int(i);
        }
    }

    /// `int` for values outside 0..=255, kept out of line so that the
    /// common case inlines small.
    #[inline(never)]
    fn wide_int(&mut self, i: i64) {
        if let Ok(i) = i32::try_from(i) {
            self.out.push(INTEGER_EXT);
            self.out.extend_from_slice(&i.to_be_bytes());
        } else {
            let m = i.unsigned_abs();
            let n = 8 - (m.leading_zeros() / 8) as usize;
            self.out
                .extend_from_slice(&[SMALL_BIG_EXT, n as u8, u8::from(i < 0)]);
            // n <= 8: the bytes of a u64.
            let le = m.to_le_bytes();
            self.out.extend_from_slice(le.get(..n).unwrap_or(&le));
        }
    }

    /// A `BigInt`, its magnitude written straight from its 64-bit digits
    /// (no byte vector in between).
    fn big_int(&mut self, b: &num_bigint::BigInt) -> Result<(), EncodeError> {
        let bytes = b.bits().div_ceil(8);
        // Past `u32::MAX` bytes `len32` refuses it.
        let n = usize::try_from(bytes).unwrap_or(usize::MAX);
        if n == 0 {
            // Zero (not normal form, but encodable): one zero digit, as
            // `to_bytes_le` gives it.
            return self.big(false, &[0]);
        }
        if let Ok(n8) = u8::try_from(n) {
            self.out.extend_from_slice(&[SMALL_BIG_EXT, n8]);
        } else {
            self.out.push(LARGE_BIG_EXT);
            self.len32(n, "big integer")?;
        }
        self.out.push(u8::from(b.sign() == num_bigint::Sign::Minus));
        self.out.reserve(n + 8);
        let end = self.out.len() + n;
        for d in b.iter_u64_digits() {
            self.out.extend_from_slice(&d.to_le_bytes());
        }
        // The last digit's high zero bytes are not part of the magnitude.
        self.out.truncate(end);
        Ok(())
    }

    fn big(&mut self, negative: bool, digits: &[u8]) -> Result<(), EncodeError> {
        if let Ok(n) = u8::try_from(digits.len()) {
            self.out.extend_from_slice(&[SMALL_BIG_EXT, n]);
        } else {
            self.out.push(LARGE_BIG_EXT);
            self.len32(digits.len(), "big integer")?;
        }
        self.out.push(u8::from(negative));
        self.out.extend_from_slice(digits);
        Ok(())
    }

    fn float(&mut self, f: f64) -> Result<(), EncodeError> {
        if !f.is_finite() {
            return Err(EncodeError::NonFiniteFloat(f));
        }
        if self.minor_version == 0 {
            self.out.push(FLOAT_EXT);
            let text = float_ext_text(f);
            let mut field = [0u8; FLOAT_EXT_LEN];
            for (dst, src) in field.iter_mut().zip(text.as_bytes()) {
                *dst = *src;
            }
            self.out.extend_from_slice(&field);
        } else {
            self.out.push(NEW_FLOAT_EXT);
            self.out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        Ok(())
    }

    #[inline]
    fn atom(&mut self, a: &Atom) {
        if let Some(cache) = self.cache.as_deref_mut() {
            if let Some(i) = cache.atom_ref(a) {
                self.out.extend_from_slice(&[ATOM_CACHE_REF, i]);
                return;
            }
        }
        if self.minor_version >= 2 && a.write_small_utf8_ext(SMALL_ATOM_UTF8_EXT, self.out) {
            return;
        }
        let b = a.as_bytes();
        if self.minor_version < 2 && latin1_len(a.as_str()).is_some() {
            // OTP before 26 writes atoms that fit Latin-1 as ATOM_EXT.
            let s = a.as_str();
            let n = latin1_len(s).unwrap_or(0);
            self.out.push(ATOM_EXT);
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
            self.out.extend(s.chars().map(|c| c as u32 as u8));
            return;
        }
        if let Ok(n) = u8::try_from(b.len()) {
            self.out.extend_from_slice(&[SMALL_ATOM_UTF8_EXT, n]);
        } else {
            // At most 255 characters, so at most 1020 bytes: fits in 16 bits.
            let n = b.len().min(MAX_ATOM_CHARS * 4) as u16;
            self.out.push(ATOM_UTF8_EXT);
            self.out.extend_from_slice(&n.to_be_bytes());
        }
        self.out.extend_from_slice(b);
    }

    fn pid(&mut self, p: &Pid) -> Result<(), EncodeError> {
        if self.legacy {
            let creation = legacy_creation("pid", p.creation)?;
            self.out.push(PID_EXT);
            self.atom(&p.node);
            self.out.extend_from_slice(&p.id.to_be_bytes());
            self.out.extend_from_slice(&p.serial.to_be_bytes());
            self.out.push(creation);
        } else {
            self.out.push(NEW_PID_EXT);
            self.atom(&p.node);
            let mut b = [0u8; 12];
            b[..4].copy_from_slice(&p.id.to_be_bytes());
            b[4..8].copy_from_slice(&p.serial.to_be_bytes());
            b[8..].copy_from_slice(&p.creation.to_be_bytes());
            self.out.extend_from_slice(&b);
        }
        Ok(())
    }
}

fn legacy_creation(what: &'static str, creation: u32) -> Result<u8, EncodeError> {
    u8::try_from(creation).map_err(|_| EncodeError::LegacyFormTooSmall { what, creation })
}

/// The bytes of a list that `STRING_EXT` can carry: at most 65535 integers,
/// each 0..=255.
#[inline]
fn byte_list(v: &[Term]) -> Option<impl Iterator<Item = u8> + '_> {
    if v.len() > MAX_STRING_EXT_LEN {
        return None;
    }
    for t in v {
        match t {
            Term::Int(i) if (0..=255).contains(i) => {}
            _ => return None,
        }
    }
    Some(v.iter().map(|t| match t {
        Term::Int(i) => *i as u8,
        _ => 0,
    }))
}

/// Number of characters if every character of `s` is Latin-1.
fn latin1_len(s: &str) -> Option<usize> {
    if s.is_ascii() {
        return Some(s.len());
    }
    let mut n = 0;
    for c in s.chars() {
        if c as u32 > 0xff {
            return None;
        }
        n += 1;
    }
    Some(n)
}

/// C's `"%.20e"`: 21 significant digits, exponent with sign and at least two
/// digits (`1.00000000000000000000e+00`).
fn float_ext_text(f: f64) -> String {
    let s = format!("{f:.20e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::{BigInt, Sign};

    /// `SMALL_BIG_EXT`/`LARGE_BIG_EXT` as the byte vector of `to_bytes_le`
    /// gives them: the reference for the digit-by-digit writer.
    fn reference(b: &BigInt) -> Vec<u8> {
        let (sign, digits) = b.to_bytes_le();
        let mut out = vec![VERSION_MAGIC];
        match u8::try_from(digits.len()) {
            Ok(n) => out.extend_from_slice(&[SMALL_BIG_EXT, n]),
            Err(_) => {
                out.push(LARGE_BIG_EXT);
                out.extend_from_slice(&(digits.len() as u32).to_be_bytes());
            }
        }
        out.push(u8::from(sign == Sign::Minus));
        out.extend_from_slice(&digits);
        out
    }

    #[test]
    fn big_integers_encode_as_their_magnitude_bytes() {
        let mut values = vec![BigInt::from(0)];
        for bits in [
            63u32, 64, 65, 71, 72, 127, 128, 129, 1000, 2039, 2040, 2041, 2048, 4096,
        ] {
            let p = BigInt::from(1) << bits;
            for v in [p.clone() - 1, p.clone(), p.clone() + 1, p * 3 + 12345] {
                values.push(-v.clone());
                values.push(v);
            }
        }
        for v in values {
            let got = Term::BigInt(v.clone()).encode();
            assert_eq!(got, reference(&v), "{v}");
        }
    }
}
