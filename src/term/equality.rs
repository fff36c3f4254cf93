//! Exact equality (`=:=`) of terms: `PartialEq`/`Eq` for [`Term`], [`Map`]
//! and [`Fun`]. Semantics in `order.rs` and the [module docs](crate::term).
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
use super::order::{
    Class, Cons, NIL, RECURSION_LIMIT, TooDeep, bits, bits_cmp, canon, class, is_leaf, num, num_eq,
};
use super::{Fun, Map, Term};
use std::cmp::Ordering::Equal;
use std::slice::Iter;

enum EqFrame<'a> {
    Seq(Iter<'a, Term>, Iter<'a, Term>),
    Cons(Cons<'a>, Cons<'a>, bool),
    Map(MapOrder<'a>, MapOrder<'a>, Option<(&'a Term, &'a Term)>),
}

enum EqNext<'a> {
    Pair(&'a Term, &'a Term),
    Done,
    Unequal,
}

impl<'a> EqFrame<'a> {
    fn next(&mut self) -> EqNext<'a> {
        match self {
            EqFrame::Seq(a, b) => match (a.next(), b.next()) {
                (Some(x), Some(y)) => EqNext::Pair(x, y),
                (None, None) => EqNext::Done,
                _ => EqNext::Unequal,
            },
            EqFrame::Cons(a, b, ended) => {
                if *ended {
                    return EqNext::Done;
                }
                match (a.next(), b.next()) {
                    (Some(x), Some(y)) => EqNext::Pair(x, y),
                    (None, None) => {
                        *ended = true;
                        EqNext::Pair(a.end().unwrap_or(&NIL), b.end().unwrap_or(&NIL))
                    }
                    _ => EqNext::Unequal,
                }
            }
            EqFrame::Map(a, b, value) => {
                if let Some((x, y)) = value.take() {
                    return EqNext::Pair(x, y);
                }
                match (a.next(), b.next()) {
                    (Some((ka, va)), Some((kb, vb))) => {
                        *value = Some((va, vb));
                        EqNext::Pair(ka, kb)
                    }
                    (None, None) => EqNext::Done,
                    _ => EqNext::Unequal,
                }
            }
        }
    }
}

/// Compares atomic terms; false for containers.
fn leaf_eq(x: &Term, y: &Term) -> bool {
    match (x, y) {
        (Term::Atom(a), Term::Atom(b)) => a == b,
        (Term::Pid(a), Term::Pid(b)) => a == b,
        (Term::Port(a), Term::Port(b)) => a == b,
        (Term::Ref(a), Term::Ref(b)) => a == b,
        (Term::Export(a), Term::Export(b)) => a == b,
        (Term::Binary(a), Term::Binary(b)) => a == b,
        // Leaves only: empty tuples (non-empty ones go through frames).
        (Term::Tuple(a), Term::Tuple(b)) => a.is_empty() && b.is_empty(),
        _ => match (num(x), num(y)) {
            (Some(a), Some(b)) => num_eq(a, b),
            (None, None) => match (bits(x), bits(y)) {
                (Some(a), Some(b)) => bits_cmp(a, b) == Equal,
                _ => class(x) == Class::Nil && class(y) == Class::Nil,
            },
            _ => false,
        },
    }
}

/// Compares equal-length element slices: atomic pairs at once, and from the
/// first pair of containers on through a frame.
fn eq_slices<'a>(a: &'a [Term], b: &'a [Term], stack: &mut Vec<EqFrame<'a>>) -> bool {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if is_leaf(x) && is_leaf(y) {
            if !leaf_eq(x, y) {
                return false;
            }
        } else {
            let (a, b) = (a.get(i..), b.get(i..));
            stack.push(EqFrame::Seq(
                a.unwrap_or_default().iter(),
                b.unwrap_or_default().iter(),
            ));
            return true;
        }
    }
    true
}

/// Compares one pair, pushing a frame for their elements if they are
/// containers. False if they already differ.
fn eq_step<'a>(x: &'a Term, y: &'a Term, stack: &mut Vec<EqFrame<'a>>) -> bool {
    let (x, y) = (canon(x), canon(y));
    match (x, y) {
        (Term::Int(a), Term::Int(b)) => a == b,
        (Term::Atom(a), Term::Atom(b)) => a == b,
        (Term::Tuple(a), Term::Tuple(b)) | (Term::List(a), Term::List(b)) => {
            a.len() == b.len() && eq_slices(a, b, stack)
        }
        (Term::List(_) | Term::ImproperList(..), Term::List(_) | Term::ImproperList(..)) => {
            stack.push(EqFrame::Cons(Cons::new(x), Cons::new(y), false));
            true
        }
        (Term::Map(a), Term::Map(b)) => {
            if a.len() != b.len() {
                return false;
            }
            if !a.is_empty() {
                stack.push(EqFrame::Map(a.key_order(), b.key_order(), None));
            }
            true
        }
        (Term::Fun(a), Term::Fun(b)) => {
            fun_eq_head(a, b) && eq_slices(a.free_vars(), b.free_vars(), stack)
        }
        _ => leaf_eq(x, y),
    }
}

/// Everything about two funs but their free variables' values.
fn fun_eq_head(a: &Fun, b: &Fun) -> bool {
    a.beam_key() == b.beam_key() && a.tie_cmp(b) == Equal
}

fn run_eq<'a>(mut stack: Vec<EqFrame<'a>>) -> bool {
    loop {
        let (x, y) = loop {
            let Some(top) = stack.last_mut() else {
                return true;
            };
            match top.next() {
                EqNext::Pair(x, y) => break (x, y),
                EqNext::Done => {
                    stack.pop();
                }
                EqNext::Unequal => return false,
            }
        };
        if !eq_step(x, y, &mut stack) {
            return false;
        }
    }
}

/// Exact equality by recursion, for terms up to [`RECURSION_LIMIT`] deep.
fn eq_rec(x: &Term, y: &Term, depth: u32) -> Result<bool, TooDeep> {
    if depth > RECURSION_LIMIT {
        return Err(TooDeep);
    }
    let (x, y) = (canon(x), canon(y));
    let all = |a: &[Term], b: &[Term]| -> Result<bool, TooDeep> {
        for (p, q) in a.iter().zip(b) {
            if !eq_rec(p, q, depth + 1)? {
                return Ok(false);
            }
        }
        Ok(true)
    };
    match (x, y) {
        (Term::Tuple(a), Term::Tuple(b)) | (Term::List(a), Term::List(b)) => {
            Ok(a.len() == b.len() && all(a, b)?)
        }
        (Term::List(_) | Term::ImproperList(..), Term::List(_) | Term::ImproperList(..)) => {
            let (mut a, mut b) = (Cons::new(x), Cons::new(y));
            loop {
                match (a.next(), b.next()) {
                    (Some(p), Some(q)) => {
                        if !eq_rec(p, q, depth + 1)? {
                            return Ok(false);
                        }
                    }
                    (None, None) => {
                        let (p, q) = (a.end().unwrap_or(&NIL), b.end().unwrap_or(&NIL));
                        return eq_rec(p, q, depth + 1);
                    }
                    _ => return Ok(false),
                }
            }
        }
        (Term::Map(a), Term::Map(b)) => {
            if a.len() != b.len() {
                return Ok(false);
            }
            for ((ka, va), (kb, vb)) in a.key_order().zip(b.key_order()) {
                if !eq_rec(ka, kb, depth + 1)? || !eq_rec(va, vb, depth + 1)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        (Term::Fun(a), Term::Fun(b)) => Ok(fun_eq_head(a, b) && all(a.free_vars(), b.free_vars())?),
        _ => Ok(leaf_eq(x, y)),
    }
}

/// Exact equality (`=:=`).
pub(crate) fn term_eq(a: &Term, b: &Term) -> bool {
    if std::ptr::eq(a, b) {
        return true;
    }
    if let Ok(equal) = eq_rec(a, b, 0) {
        return equal;
    }
    let mut stack = Vec::new();
    eq_step(a, b, &mut stack) && run_eq(stack)
}

impl PartialEq for Term {
    /// Erlang's exact equality `=:=`; see the [module docs](crate::term).
    fn eq(&self, other: &Term) -> bool {
        term_eq(self, other)
    }
}
impl Eq for Term {}

impl PartialEq for Map {
    /// Equal keys (`=:=`) with equal values, in any order.
    fn eq(&self, other: &Map) -> bool {
        if self.len() != other.len() {
            return false;
        }
        self.is_empty()
            || run_eq(vec![EqFrame::Map(
                self.key_order(),
                other.key_order(),
                None,
            )])
    }
}
impl Eq for Map {}

impl PartialEq for Fun {
    fn eq(&self, other: &Fun) -> bool {
        let mut stack = Vec::new();
        fun_eq_head(self, other)
            && eq_slices(self.free_vars(), other.free_vars(), &mut stack)
            && run_eq(stack)
    }
}
impl Eq for Fun {}
