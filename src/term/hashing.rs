//! Hashing of terms, in agreement with exact equality: maps hash their
//! entries in key order, `-0.0` as `0.0`, lists by their cons cells.
//! Recursion for shallow terms, an explicit stack below
//! [`RECURSION_LIMIT`].

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use super::map::Order as MapOrder;
use super::order::{Cons, NIL, RECURSION_LIMIT, bits, canon, is_leaf};
use super::{Fun, Map, Term};
use std::hash::{Hash, Hasher};
use std::slice::Iter;

/// Type tags fed to the hasher so that different kinds of terms with the
/// same content hash differently.
mod tag {
    pub const INT: u8 = 1;
    pub const BIG: u8 = 2;
    pub const FLOAT: u8 = 3;
    pub const ATOM: u8 = 4;
    pub const REF: u8 = 5;
    pub const FUN: u8 = 6;
    pub const EXPORT: u8 = 7;
    pub const PORT: u8 = 8;
    pub const PID: u8 = 9;
    pub const TUPLE: u8 = 10;
    pub const MAP: u8 = 11;
    pub const NIL: u8 = 12;
    pub const LIST: u8 = 13;
    pub const LIST_END: u8 = 14;
    pub const BITS: u8 = 15;
}

enum HashFrame<'a> {
    Seq(Iter<'a, Term>),
    Cons(Cons<'a>, bool),
    Map(MapOrder<'a>, Option<&'a Term>),
}

impl<'a> HashFrame<'a> {
    fn next<H: Hasher>(&mut self, h: &mut H) -> Option<&'a Term> {
        match self {
            HashFrame::Seq(it) => it.next(),
            HashFrame::Cons(c, ended) => {
                if let Some(t) = c.next() {
                    return Some(t);
                }
                if *ended {
                    return None;
                }
                *ended = true;
                h.write_u8(tag::LIST_END);
                Some(c.end().unwrap_or(&NIL))
            }
            HashFrame::Map(order, value) => {
                if let Some(v) = value.take() {
                    return Some(v);
                }
                let (k, v) = order.next()?;
                *value = Some(v);
                Some(k)
            }
        }
    }
}

/// Hashes one term's own data; containers push a frame for their elements.
fn hash_step<'a, H: Hasher>(t: &'a Term, h: &mut H, stack: &mut Vec<HashFrame<'a>>) {
    let t = canon(t);
    match t {
        Term::Int(i) => {
            h.write_u8(tag::INT);
            h.write_i64(*i);
        }
        Term::BigInt(b) => match i64::try_from(b) {
            Ok(i) => {
                h.write_u8(tag::INT);
                h.write_i64(i);
            }
            Err(_) => {
                h.write_u8(tag::BIG);
                b.hash(h);
            }
        },
        Term::Float(f) => {
            h.write_u8(tag::FLOAT);
            let bits = if *f == 0.0 {
                0
            } else if f.is_nan() {
                f64::NAN.to_bits()
            } else {
                f.to_bits()
            };
            h.write_u64(bits);
        }
        Term::Atom(a) => {
            h.write_u8(tag::ATOM);
            a.hash(h);
        }
        Term::Binary(_) | Term::BitString(_) => {
            if let Some((data, len)) = bits(t) {
                h.write_u8(tag::BITS);
                h.write_u64(len);
                let full = (len / 8) as usize;
                // bits() gives data of at least len bits.
                h.write(data.get(..full).unwrap_or(data));
                let rest = (len % 8) as u32;
                if rest > 0 {
                    h.write_u8(data.get(full).copied().unwrap_or(0) >> (8 - rest));
                }
            }
        }
        Term::Pid(p) => {
            h.write_u8(tag::PID);
            p.hash(h);
        }
        Term::Port(p) => {
            h.write_u8(tag::PORT);
            p.hash(h);
        }
        Term::Ref(r) => {
            h.write_u8(tag::REF);
            r.hash(h);
        }
        Term::Export(e) => {
            h.write_u8(tag::EXPORT);
            e.hash(h);
        }
        Term::Fun(f) => {
            h.write_u8(tag::FUN);
            let (module, old_index, old_uniq, n) = f.beam_key();
            module.hash(h);
            h.write_u32(old_index);
            h.write_u32(old_uniq);
            h.write_usize(n);
            stack.push(HashFrame::Seq(f.free_vars().iter()));
        }
        Term::Tuple(v) => {
            h.write_u8(tag::TUPLE);
            h.write_usize(v.len());
            hash_slice(v, h, stack);
        }
        Term::List(v) if v.is_empty() => h.write_u8(tag::NIL),
        Term::List(_) | Term::ImproperList(..) => {
            h.write_u8(tag::LIST);
            stack.push(HashFrame::Cons(Cons::new(t), false));
        }
        Term::Map(m) => {
            h.write_u8(tag::MAP);
            h.write_usize(m.len());
            stack.push(HashFrame::Map(m.key_order(), None));
        }
    }
}

fn hash_slice<'a, H: Hasher>(v: &'a [Term], h: &mut H, stack: &mut Vec<HashFrame<'a>>) {
    for (i, x) in v.iter().enumerate() {
        if is_leaf(x) {
            hash_step(x, h, stack);
        } else {
            stack.push(HashFrame::Seq(v.get(i..).unwrap_or_default().iter()));
            return;
        }
    }
}

fn run_hash<'a, H: Hasher>(mut stack: Vec<HashFrame<'a>>, h: &mut H) {
    while let Some(top) = stack.last_mut() {
        match top.next(h) {
            Some(t) => hash_step(t, h, &mut stack),
            None => {
                stack.pop();
            }
        }
    }
}

/// Hashes by recursion down to [`RECURSION_LIMIT`], handing deeper parts
/// to the explicit-stack walker; both feed the hasher the same data.
fn hash_rec<H: Hasher>(t: &Term, h: &mut H, depth: u32) {
    let mut no_frames = Vec::new();
    if depth > RECURSION_LIMIT {
        hash_step(t, h, &mut no_frames);
        run_hash(no_frames, h);
        return;
    }
    let t = canon(t);
    match t {
        Term::Fun(f) => {
            h.write_u8(tag::FUN);
            let (module, old_index, old_uniq, n) = f.beam_key();
            module.hash(h);
            h.write_u32(old_index);
            h.write_u32(old_uniq);
            h.write_usize(n);
            f.free_vars().iter().for_each(|x| hash_rec(x, h, depth + 1));
        }
        Term::Tuple(v) => {
            h.write_u8(tag::TUPLE);
            h.write_usize(v.len());
            v.iter().for_each(|x| hash_rec(x, h, depth + 1));
        }
        Term::List(v) if v.is_empty() => h.write_u8(tag::NIL),
        Term::List(_) | Term::ImproperList(..) => {
            h.write_u8(tag::LIST);
            let mut cons = Cons::new(t);
            while let Some(x) = cons.next() {
                hash_rec(x, h, depth + 1);
            }
            h.write_u8(tag::LIST_END);
            hash_rec(cons.end().unwrap_or(&NIL), h, depth + 1);
        }
        Term::Map(m) => {
            h.write_u8(tag::MAP);
            h.write_usize(m.len());
            for (k, v) in m.key_order() {
                hash_rec(k, h, depth + 1);
                hash_rec(v, h, depth + 1);
            }
        }
        leaf => hash_step(leaf, h, &mut no_frames),
    }
}

impl Hash for Term {
    /// Agrees with `==` (`=:=`): maps hash in key order, `-0.0` as `0.0`.
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_rec(self, state, 0);
    }
}

impl Hash for Map {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(tag::MAP);
        state.write_usize(self.len());
        run_hash(vec![HashFrame::Map(self.key_order(), None)], state);
    }
}

impl Hash for Fun {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (module, old_index, old_uniq, n) = self.beam_key();
        module.hash(state);
        state.write_u32(old_index);
        state.write_u32(old_uniq);
        state.write_usize(n);
        run_hash(vec![HashFrame::Seq(self.free_vars().iter())], state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn h(t: &Term) -> u64 {
        let mut s = DefaultHasher::new();
        t.hash(&mut s);
        s.finish()
    }

    fn t(s: &str) -> Term {
        s.parse().unwrap()
    }

    #[test]
    fn hashing_is_the_same_below_and_beyond_the_recursion_limit() {
        // The same subterm hashed at depth 0 (recursion) and at depth 100
        // (explicit stack) must feed the hasher identically: check through
        // two different wrappings of equal depth.
        let inner = t("{a, [1, 2.0 | x], #{k => <<1:3>>}, [], \"s\"}");
        let mut a = inner.clone();
        let mut b = inner;
        for _ in 0..100 {
            a = Term::Tuple(vec![a]);
        }
        let mut stack = Vec::new();
        let mut s1 = DefaultHasher::new();
        hash_step(&a, &mut s1, &mut stack);
        run_hash(stack, &mut s1);
        for _ in 0..100 {
            b = Term::Tuple(vec![b]);
        }
        assert_eq!(s1.finish(), h(&b));
    }
}
