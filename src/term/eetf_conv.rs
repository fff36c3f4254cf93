//! `TryFrom` between `erlnode::Term` and [`eetf::Term`] (the `eetf` feature,
//! on by default), so that code written for `eetf` or `erl_dist` can hand
//! terms over.
//!
//! Both directions keep the Erlang term: converting there and back gives an
//! equal term, and the bytes `eetf` encodes decode here to the term that was
//! converted. What differs is representation:
//!
//! * erlnode → eetf: an integer becomes `FixInteger` when it fits an `i32`,
//!   else `BigInteger`; a non-empty list of integers 0..=255 becomes
//!   `ByteList` (what `eetf` decodes from `STRING_EXT`, and what the BEAM
//!   sends for it); a map becomes eetf's `HashMap`, so its received order is
//!   gone.
//! * eetf → erlnode: integers come back in erlnode's normal form (`Int`
//!   whenever the value fits an `i64`); an improper list whose tail is a list
//!   is joined into one list, as the BEAM holds it; a map is ordered as a
//!   map built in Rust is.
//!
//! `eetf` walks terms by recursion (its decoder, encoder, `Drop`, `Hash` and
//! `Display`), so a term nested deeper than a few tens of thousands of levels
//! overflows the stack inside `eetf`. Conversion therefore refuses terms
//! nested deeper than [`EETF_MAX_DEPTH`] in either direction, with an error,
//! rather than hand `eetf` a term it cannot drop. erlnode's own `Term` has no
//! such limit.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use super::{Atom, BitString, ExportFun, Fun, Map, Pid, Port, Reference, Term};
use bytes::Bytes;
use std::collections::HashMap;

/// Deepest nesting of containers (tuples, lists, maps, funs' free variables)
/// that converts, in either direction. erlnode's conversion needs no stack
/// for depth (it walks a work list), but `eetf` drops, compares, hashes,
/// prints, encodes and decodes by recursion: a term 1000 deep stays within
/// a 2 MiB thread stack (a tokio worker's, a test's) in all of those, even
/// in a debug build (`too_deep_is_an_error_both_ways` builds, converts,
/// compares and drops one). Real messages are rarely more than ten deep.
pub const EETF_MAX_DEPTH: usize = 1000;

/// Longest list that converts to eetf's `ByteList`: the longest `STRING_EXT`
/// (its length field is 16 bits). A longer list of bytes stays a `List`, as
/// the BEAM would send it as a `LIST_EXT`.
const BYTE_LIST_MAX: usize = u16::MAX as usize;

/// A term that cannot be converted between erlnode and `eetf`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EetfConversionError {
    /// The term nests containers deeper than [`EETF_MAX_DEPTH`].
    #[error(
        "term is nested more than {EETF_MAX_DEPTH} containers deep; eetf walks terms by \
         recursion and would overflow the stack, so keep such terms as erlnode::Term"
    )]
    TooDeep,
    /// An eetf atom longer than Erlang's 255 characters.
    #[error("eetf atom has {chars} characters; Erlang atoms have at most 255")]
    AtomTooLong {
        /// How many characters the atom had.
        chars: usize,
    },
    /// An eetf reference with no id words or more than erlnode keeps.
    #[error(
        "eetf reference has {words} id words; Erlang references have 1 to {}",
        super::MAX_REFERENCE_WORDS
    )]
    ReferenceWords {
        /// How many id words it had.
        words: usize,
    },
    /// An eetf bitstring whose last byte's bit count is not 1 to 8, or that
    /// has bits but no bytes.
    #[error("eetf bitstring has {bytes} bytes and {bits} bits in its last byte; expected 1 to 8")]
    BitString {
        /// Its byte count.
        bytes: usize,
        /// Its `tail_bits_size`.
        bits: u8,
    },
    /// An eetf float that is not finite (Erlang floats are finite).
    #[error("eetf float {0} is not finite; Erlang floats are finite")]
    NotFinite(f64),
}

// ---- erlnode → eetf --------------------------------------------------------
//
// Both directions go through `walk`, a work list on the heap instead of
// recursion, so converting costs no stack whatever the nesting (the depth
// limit is for eetf's sake, not ours).

impl TryFrom<&Term> for eetf::Term {
    type Error = EetfConversionError;

    /// Converts a term to eetf's model; see the [module docs](self).
    fn try_from(t: &Term) -> Result<eetf::Term, EetfConversionError> {
        to_eetf(t)
    }
}

impl TryFrom<Term> for eetf::Term {
    type Error = EetfConversionError;

    fn try_from(t: Term) -> Result<eetf::Term, EetfConversionError> {
        to_eetf(&t)
    }
}

fn eetf_atom(a: &Atom) -> eetf::Atom {
    eetf::Atom::from(a.as_str())
}

fn eetf_pid(p: &Pid) -> eetf::Pid {
    eetf::Pid {
        node: eetf_atom(&p.node),
        id: p.id,
        serial: p.serial,
        creation: p.creation,
    }
}

/// The bytes of a list that the BEAM would send as `STRING_EXT`.
fn byte_list(items: &[Term]) -> Option<Vec<u8>> {
    if items.is_empty() || items.len() > BYTE_LIST_MAX {
        return None;
    }
    items
        .iter()
        .map(|t| match t {
            Term::Int(i) => u8::try_from(*i).ok(),
            _ => None,
        })
        .collect()
}

/// A step of a conversion's walk.
enum Step<'a, T> {
    /// Convert this term, which sits `depth` containers deep.
    Visit(&'a T, usize),
    /// Build this container from its converted children, which are the last
    /// `children` entries of the output stack.
    Build(&'a T, usize),
}

/// The children of an erlnode container, in order; `None` for a leaf.
fn children_of(t: &Term) -> Option<Vec<&Term>> {
    Some(match t {
        Term::Tuple(v) | Term::List(v) if v.is_empty() => return None,
        Term::List(v) if byte_list(v).is_some() => return None,
        Term::Tuple(v) | Term::List(v) => v.iter().collect(),
        Term::ImproperList(v, tail) => v.iter().chain(std::iter::once(&**tail)).collect(),
        Term::Map(m) => m.iter().flat_map(|(k, v)| [k, v]).collect(),
        Term::Fun(f) => match &**f {
            Fun::New { free_vars, .. } | Fun::Old { free_vars, .. } => free_vars.iter().collect(),
        },
        _ => return None,
    })
}

fn to_eetf(root: &Term) -> Result<eetf::Term, EetfConversionError> {
    walk(root, children_of, leaf_or_string_to_eetf, |t, items| {
        Ok(build_eetf(t, items))
    })
}

/// Converts `root` bottom-up with a work list: a leaf (`children` gives
/// `None`) is converted by `leaf`; a container is visited (its children
/// queued after a note to build it), then built by `build` from its
/// converted children, which are the last entries of the output stack.
fn walk<'a, S, D>(
    root: &'a S,
    children: fn(&'a S) -> Option<Vec<&'a S>>,
    leaf: fn(&'a S) -> Result<D, EetfConversionError>,
    build: fn(&'a S, Vec<D>) -> Result<D, EetfConversionError>,
) -> Result<D, EetfConversionError> {
    let mut work = vec![Step::Visit(root, 0)];
    let mut done: Vec<D> = Vec::new();
    while let Some(step) = work.pop() {
        match step {
            Step::Visit(t, depth) => match children(t) {
                None => done.push(leaf(t)?),
                Some(_) if depth >= EETF_MAX_DEPTH => return Err(EetfConversionError::TooDeep),
                Some(kids) => {
                    work.push(Step::Build(t, kids.len()));
                    work.extend(kids.into_iter().rev().map(|c| Step::Visit(c, depth + 1)));
                }
            },
            Step::Build(t, n) => {
                let at = done.len().saturating_sub(n);
                let items = done.split_off(at);
                done.push(build(t, items)?);
            }
        }
    }
    // The root's result is the one entry left (the walk always leaves one).
    done.pop().ok_or(EetfConversionError::TooDeep)
}

/// A leaf, `[]`, `{}` or a list of bytes.
fn leaf_or_string_to_eetf(t: &Term) -> Result<eetf::Term, EetfConversionError> {
    Ok(match t {
        Term::Tuple(_) => eetf::Term::from(eetf::Tuple::from(Vec::new())),
        Term::List(v) => match byte_list(v) {
            Some(bytes) => eetf::Term::from(eetf::ByteList { bytes }),
            None => eetf::Term::from(eetf::List::nil()),
        },
        _ => leaf_to_eetf(t)?.unwrap_or_else(|| eetf::Term::from(eetf::List::nil())),
    })
}

/// Builds the eetf form of container `t` from its converted children.
fn build_eetf(t: &Term, mut items: Vec<eetf::Term>) -> eetf::Term {
    match t {
        Term::ImproperList(..) => {
            let last = items
                .pop()
                .unwrap_or_else(|| eetf::Term::from(eetf::List::nil()));
            eetf::Term::from(eetf::ImproperList::from((items, last)))
        }
        Term::Map(_) => {
            let mut map = HashMap::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                map.insert(k, v);
            }
            eetf::Term::from(eetf::Map::from(map))
        }
        Term::Fun(f) => eetf::Term::from(match &**f {
            Fun::New {
                arity,
                uniq,
                index,
                module,
                old_index,
                old_uniq,
                pid,
                ..
            } => eetf::InternalFun::New {
                module: eetf_atom(module),
                arity: *arity,
                pid: eetf_pid(pid),
                free_vars: items,
                index: *index,
                uniq: *uniq,
                // On the wire these are signed integer terms; erlnode keeps
                // their 32 bits as u32 (see the decoder's u32_field).
                old_index: *old_index as i32,
                old_uniq: *old_uniq as i32,
            },
            Fun::Old {
                pid,
                module,
                index,
                uniq,
                ..
            } => eetf::InternalFun::Old {
                module: eetf_atom(module),
                pid: eetf_pid(pid),
                free_vars: items,
                index: *index as i32,
                uniq: *uniq as i32,
            },
        }),
        Term::Tuple(_) => eetf::Term::from(eetf::Tuple::from(items)),
        _ => eetf::Term::from(eetf::List::from(items)),
    }
}

#[inline(never)]
/// A term that holds no other terms; `None` for containers.
fn leaf_to_eetf(t: &Term) -> Result<Option<eetf::Term>, EetfConversionError> {
    Ok(Some(match t {
        Term::Int(i) => match i32::try_from(*i) {
            Ok(v) => eetf::Term::from(eetf::FixInteger::from(v)),
            Err(_) => eetf::Term::from(eetf::BigInteger { value: (*i).into() }),
        },
        Term::BigInt(n) => eetf::Term::from(eetf::BigInteger { value: n.clone() }),
        Term::Float(f) => {
            let value =
                eetf::Float::try_from(*f).map_err(|_| EetfConversionError::NotFinite(*f))?;
            eetf::Term::from(value)
        }
        Term::Atom(a) => eetf::Term::from(eetf_atom(a)),
        Term::Binary(b) => eetf::Term::from(eetf::Binary::from(b.as_ref())),
        Term::BitString(b) => {
            // eetf keeps the last byte's bits in its low bits (its codec
            // shifts them on the wire); erlnode keeps them high, as the wire.
            let mut bytes = b.data.to_vec();
            let bits = b.bits_in_last_byte;
            if let Some(last) = bytes.last_mut() {
                *last >>= 8 - bits;
            }
            eetf::Term::from(eetf::BitBinary::from((bytes, bits)))
        }
        Term::Pid(p) => eetf::Term::from(eetf_pid(p)),
        Term::Port(p) => eetf::Term::from(eetf::Port {
            node: eetf_atom(&p.node),
            id: p.id,
            creation: p.creation,
        }),
        Term::Ref(r) => eetf::Term::from(eetf::Reference {
            node: eetf_atom(&r.node),
            id: r.id().to_vec(),
            creation: r.creation,
        }),
        Term::Export(e) => eetf::Term::from(eetf::ExternalFun {
            module: eetf_atom(&e.module),
            function: eetf_atom(&e.function),
            arity: e.arity,
        }),
        Term::Tuple(_) | Term::List(_) | Term::ImproperList(..) | Term::Map(_) | Term::Fun(_) => {
            return Ok(None);
        }
    }))
}

// ---- eetf → erlnode --------------------------------------------------------

impl TryFrom<&eetf::Term> for Term {
    type Error = EetfConversionError;

    /// Converts an eetf term; see the [module docs](self).
    fn try_from(t: &eetf::Term) -> Result<Term, EetfConversionError> {
        from_eetf(t)
    }
}

impl TryFrom<eetf::Term> for Term {
    type Error = EetfConversionError;

    fn try_from(t: eetf::Term) -> Result<Term, EetfConversionError> {
        from_eetf(&t)
    }
}

fn atom(a: &eetf::Atom) -> Result<Atom, EetfConversionError> {
    Atom::new(&a.name).map_err(|e| EetfConversionError::AtomTooLong { chars: e.chars })
}

fn pid(p: &eetf::Pid) -> Result<Pid, EetfConversionError> {
    Ok(Pid {
        node: atom(&p.node)?,
        id: p.id,
        serial: p.serial,
        creation: p.creation,
    })
}

/// The children of an eetf container, in order; `None` for a leaf.
fn eetf_children_of(t: &eetf::Term) -> Option<Vec<&eetf::Term>> {
    use eetf::Term as E;
    Some(match t {
        E::Tuple(v) if !v.elements.is_empty() => v.elements.iter().collect(),
        E::List(l) if !l.elements.is_empty() => l.elements.iter().collect(),
        E::ImproperList(l) => l.elements.iter().chain(std::iter::once(&*l.last)).collect(),
        E::Map(m) => m.map.iter().flat_map(|(k, v)| [k, v]).collect(),
        E::InternalFun(f) => match &**f {
            eetf::InternalFun::New { free_vars, .. } | eetf::InternalFun::Old { free_vars, .. } => {
                free_vars.iter().collect()
            }
        },
        _ => return None,
    })
}

fn from_eetf(root: &eetf::Term) -> Result<Term, EetfConversionError> {
    walk(
        root,
        eetf_children_of,
        |t| Ok(leaf_from_eetf(t)?.unwrap_or(Term::NIL)),
        build_term,
    )
}

/// Builds the erlnode form of eetf container `t` from its converted
/// children.
fn build_term(t: &eetf::Term, mut items: Vec<Term>) -> Result<Term, EetfConversionError> {
    use eetf::Term as E;
    Ok(match t {
        E::ImproperList(_) => {
            let mut tail = items.pop().unwrap_or(Term::NIL);
            // The BEAM has no improper list whose tail is a list: `[1 | [2]]`
            // is `[1, 2]`. Join such tails, as the decoder would.
            match &mut tail {
                Term::List(rest) => {
                    items.append(rest);
                    Term::List(items)
                }
                Term::ImproperList(rest, last) => {
                    items.append(rest);
                    Term::ImproperList(items, std::mem::replace(last, Box::new(Term::NIL)))
                }
                _ if items.is_empty() => tail,
                _ => Term::ImproperList(items, Box::new(tail)),
            }
        }
        E::Map(_) => {
            let mut entries = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                entries.push((k, v));
            }
            Term::from(entries.into_iter().collect::<Map>())
        }
        E::InternalFun(f) => Term::Fun(Box::new(match &**f {
            eetf::InternalFun::New {
                module,
                arity,
                pid: p,
                index,
                uniq,
                old_index,
                old_uniq,
                ..
            } => Fun::New {
                arity: *arity,
                uniq: *uniq,
                index: *index,
                module: atom(module)?,
                old_index: *old_index as u32,
                old_uniq: *old_uniq as u32,
                pid: pid(p)?,
                free_vars: items,
            },
            eetf::InternalFun::Old {
                module,
                pid: p,
                index,
                uniq,
                ..
            } => Fun::Old {
                pid: pid(p)?,
                module: atom(module)?,
                index: *index as u32,
                uniq: *uniq as u32,
                free_vars: items,
            },
        })),
        E::Tuple(_) => Term::Tuple(items),
        _ => Term::List(items),
    })
}

#[inline(never)]
/// A term that holds no other terms; `None` for containers.
fn leaf_from_eetf(t: &eetf::Term) -> Result<Option<Term>, EetfConversionError> {
    use eetf::Term as E;
    Ok(Some(match t {
        E::FixInteger(i) => Term::Int(i64::from(i.value)),
        E::BigInteger(n) => Term::from_bigint(n.value.clone()),
        E::Float(f) if f.value.is_finite() => Term::Float(f.value),
        E::Float(f) => return Err(EetfConversionError::NotFinite(f.value)),
        E::Atom(a) => Term::Atom(atom(a)?),
        E::Binary(b) => Term::Binary(Bytes::copy_from_slice(&b.bytes)),
        E::BitBinary(b) => match (b.bytes.is_empty(), b.tail_bits_size) {
            (false, 8) => Term::Binary(Bytes::copy_from_slice(&b.bytes)),
            (false, bits @ 1..=7) => {
                let mut data = b.bytes.clone();
                if let Some(last) = data.last_mut() {
                    // eetf holds the bits low; erlnode high, with the unused
                    // low bits zero.
                    *last <<= 8 - bits;
                }
                Term::from(BitString {
                    data: Bytes::from(data),
                    bits_in_last_byte: bits,
                })
            }
            _ => {
                return Err(EetfConversionError::BitString {
                    bytes: b.bytes.len(),
                    bits: b.tail_bits_size,
                });
            }
        },
        E::Pid(p) => Term::Pid(pid(p)?),
        E::Port(p) => Term::Port(Port {
            node: atom(&p.node)?,
            id: p.id,
            creation: p.creation,
        }),
        E::Reference(r) => {
            let reference = Reference::new(atom(&r.node)?, r.creation, &r.id)
                .ok_or(EetfConversionError::ReferenceWords { words: r.id.len() })?;
            Term::from(reference)
        }
        E::ExternalFun(f) => Term::Export(Box::new(ExportFun {
            module: atom(&f.module)?,
            function: atom(&f.function)?,
            arity: f.arity,
        })),
        E::ByteList(b) => Term::List(b.bytes.iter().map(|&c| Term::Int(i64::from(c))).collect()),
        E::Tuple(v) if v.elements.is_empty() => Term::Tuple(Vec::new()),
        E::List(l) if l.elements.is_empty() => Term::NIL,
        E::List(_) | E::Tuple(_) | E::ImproperList(_) | E::Map(_) | E::InternalFun(_) => {
            return Ok(None);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoo() -> Vec<Term> {
        let texts = [
            "0",
            "-1",
            "2147483647",
            "2147483648",
            "-2147483649",
            "9223372036854775807",
            "123456789012345678901234567890",
            "-123456789012345678901234567890",
            "1.5",
            "-0.0",
            "ok",
            "'an atom with spaces and é'",
            "<<>>",
            "<<1,2,3>>",
            "<<1,2:3>>",
            "[]",
            "\"abc\"",
            "[1,256,3]",
            "[a|b]",
            "[1,2|<<3>>]",
            "{}",
            "{ok,{nested,[x,#{k => v}]}}",
            "#{a => 1, {b} => [2], 3 => <<\"c\">>}",
            "fun erlang:self/0",
            "<'n@h'.1.2>",
            "#Port<'n@h'.7>",
            "#Ref<'n@h'.1.2.3>",
        ];
        texts
            .iter()
            .map(|s| s.parse::<Term>().unwrap_or_else(|e| panic!("{s}: {e}")))
            .collect()
    }

    #[test]
    fn round_trip_keeps_the_term() {
        for t in zoo() {
            let e = eetf::Term::try_from(&t).unwrap();
            let back = Term::try_from(&e).unwrap();
            assert_eq!(back, t, "via eetf: {e}");
        }
    }

    #[test]
    fn eetf_encoding_decodes_to_the_same_term() {
        for t in zoo() {
            let e = eetf::Term::try_from(&t).unwrap();
            let mut bytes = Vec::new();
            e.encode(&mut bytes).unwrap();
            assert_eq!(Term::decode(&bytes).unwrap(), t, "eetf wrote {bytes:?}");
            // And eetf reads erlnode's bytes as the term it was converted to.
            let read = eetf::Term::decode(std::io::Cursor::new(t.encode())).unwrap();
            assert_eq!(Term::try_from(read).unwrap(), t);
        }
    }

    #[test]
    fn representations_match_what_eetf_decodes() {
        let string = eetf::Term::try_from(&Term::charlist("hi")).unwrap();
        assert!(matches!(string, eetf::Term::ByteList(ref b) if b.bytes == b"hi"));
        let small = eetf::Term::try_from(&Term::Int(-5)).unwrap();
        assert!(matches!(small, eetf::Term::FixInteger(ref i) if i.value == -5));
        let big = eetf::Term::try_from(&Term::Int(1 << 40)).unwrap();
        assert!(matches!(big, eetf::Term::BigInteger(_)));
        // A big integer from eetf that fits an i64 comes back in normal form.
        let e = eetf::Term::from(eetf::BigInteger::from(7i64));
        assert_eq!(Term::try_from(e).unwrap(), Term::Int(7));
    }

    #[test]
    fn improper_tails_that_are_lists_are_joined() {
        let e = eetf::Term::from(eetf::ImproperList::from((
            vec![eetf::Term::from(eetf::FixInteger::from(1))],
            eetf::Term::from(eetf::List::from(vec![eetf::Term::from(
                eetf::FixInteger::from(2),
            )])),
        )));
        assert_eq!(Term::try_from(e).unwrap(), "[1,2]".parse().unwrap());
    }

    #[test]
    fn too_deep_is_an_error_both_ways() {
        let mut t = Term::NIL;
        for _ in 0..EETF_MAX_DEPTH {
            t = Term::List(vec![t]);
        }
        let e = eetf::Term::try_from(&t).unwrap();
        assert_eq!(Term::try_from(&e).unwrap(), t);
        // eetf itself copes with this depth on a test thread's stack: clone,
        // compare, hash, print, encode, decode and drop all recurse.
        let copy = e.clone();
        assert!(copy == e);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&e, &mut h);
        assert!(e.to_string().starts_with("[[[["));
        let mut bytes = Vec::new();
        e.encode(&mut bytes).unwrap();
        assert_eq!(bytes, t.encode());
        assert!(eetf::Term::decode(std::io::Cursor::new(&bytes)).unwrap() == e);
        drop(copy);
        let deeper = Term::List(vec![t]);
        assert_eq!(
            eetf::Term::try_from(&deeper).unwrap_err(),
            EetfConversionError::TooDeep
        );
        let e_deeper = eetf::Term::from(eetf::List::from(vec![e]));
        assert_eq!(
            Term::try_from(&e_deeper).unwrap_err(),
            EetfConversionError::TooDeep
        );
    }

    #[test]
    fn bad_eetf_terms_are_errors() {
        let long = eetf::Term::from(eetf::Atom::from("a".repeat(256)));
        assert_eq!(
            Term::try_from(long).unwrap_err(),
            EetfConversionError::AtomTooLong { chars: 256 }
        );
        let no_words = eetf::Term::from(eetf::Reference {
            node: eetf::Atom::from("n@h"),
            id: vec![],
            creation: 1,
        });
        assert_eq!(
            Term::try_from(no_words).unwrap_err(),
            EetfConversionError::ReferenceWords { words: 0 }
        );
        let bits = eetf::Term::from(eetf::BitBinary::from((vec![1u8], 0u8)));
        assert!(matches!(
            Term::try_from(bits).unwrap_err(),
            EetfConversionError::BitString { bytes: 1, bits: 0 }
        ));
        assert!(matches!(
            eetf::Term::try_from(&Term::Float(f64::NAN)).unwrap_err(),
            EetfConversionError::NotFinite(_)
        ));
    }
}
