//! Drop without recursion, so that a term nested a million deep (which the
//! BEAM's `term_to_binary` happily produces) does not overflow the stack when
//! it goes out of scope.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use super::{Fun, Term};

impl Drop for Term {
    fn drop(&mut self) {
        // Leaves and empty containers own no terms: nothing to unnest.
        if !has_nested(self) {
            return;
        }
        let mut pending: Vec<Term> = Vec::new();
        drain(self, &mut pending);
        while let Some(mut t) = pending.pop() {
            drain(&mut t, &mut pending);
            // `t` is now an empty container (or holds only leaves), so its
            // own drop returns at once instead of scanning its children again.
        }
    }
}

/// Tuples and lists up to this length whose elements are all leaves are
/// dropped by the ordinary drop glue (one level, no recursion), without
/// the work list: most messages (`{seq, 1}`, `{Pid, Ref, ok}`, control
/// tuples) are such tuples. Longer ones keep `drain`, which skips the drop
/// call for each integer.
const SHALLOW_MAX: usize = 8;

/// True for a term whose drop could recurse more than one level: one that
/// owns terms, unless it is a short tuple or list of leaves.
#[inline]
fn has_nested(t: &Term) -> bool {
    match t {
        Term::Tuple(v) | Term::List(v) => {
            !v.is_empty() && (v.len() > SHALLOW_MAX || v.iter().any(owns_terms))
        }
        Term::ImproperList(..) | Term::Map(_) | Term::Fun(_) => true,
        _ => false,
    }
}

/// True for a term that owns other terms (a non-empty container).
#[inline]
fn owns_terms(t: &Term) -> bool {
    match t {
        Term::Tuple(v) | Term::List(v) => !v.is_empty(),
        Term::ImproperList(..) | Term::Map(_) | Term::Fun(_) => true,
        _ => false,
    }
}

/// Empties `t`: children that own terms move to `pending`, the others are
/// dropped here (their drop does not recurse). Each child is visited once.
fn drain(t: &mut Term, pending: &mut Vec<Term>) {
    let mut keep = |c: Term| match c {
        // Plain numbers own nothing: skipping their (empty) drop saves a call
        // per element, and integers are most elements of strings and lists.
        Term::Int(_) | Term::Float(_) => std::mem::forget(c),
        _ if has_nested(&c) => pending.push(c),
        _ => {}
    };
    match t {
        Term::Tuple(v) | Term::List(v) => std::mem::take(v).into_iter().for_each(&mut keep),
        Term::ImproperList(v, tail) => {
            std::mem::take(v).into_iter().for_each(&mut keep);
            keep(std::mem::take(&mut **tail));
        }
        Term::Map(m) => std::mem::take(m)
            .into_entries()
            .into_iter()
            .for_each(|(k, v)| {
                keep(k);
                keep(v);
            }),
        Term::Fun(f) => match &mut **f {
            Fun::New { free_vars, .. } | Fun::Old { free_vars, .. } => {
                std::mem::take(free_vars).into_iter().for_each(&mut keep)
            }
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn million_deep_list_drops() {
        let mut t = Term::NIL;
        for _ in 0..1_000_000 {
            t = Term::List(vec![t]);
        }
        drop(t);
    }

    #[test]
    fn million_deep_mixed_drops() {
        let mut t = Term::Int(1);
        for i in 0..1_000_000 {
            t = match i % 3 {
                0 => Term::Tuple(vec![t, Term::Int(2)]),
                1 => Term::ImproperList(vec![Term::Int(3)], Box::new(t)),
                _ => Term::Map(crate::term::Map::from_iter([(Term::Int(4), t)])),
            };
        }
        drop(t);
    }
}
#[cfg(test)]
mod size_tests {
    #[test]
    fn sizes() {
        eprintln!(
            "Term={} Pid={} Port={} Ref={} Bytes={} BigInt={}",
            std::mem::size_of::<super::Term>(),
            std::mem::size_of::<super::super::Pid>(),
            std::mem::size_of::<super::super::Port>(),
            std::mem::size_of::<super::super::Reference>(),
            std::mem::size_of::<bytes::Bytes>(),
            std::mem::size_of::<num_bigint::BigInt>()
        );
    }
}
