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
        let mut pending: Vec<Term> = Vec::new();
        detach_nested(self, &mut pending);
        while let Some(mut t) = pending.pop() {
            detach_nested(&mut t, &mut pending);
            // `t` now holds no nested containers, so its own drop does not recurse.
        }
    }
}

/// True for a term that owns other terms that themselves own terms, i.e.
/// whose drop glue could recurse more than one level.
fn has_nested(t: &Term) -> bool {
    match t {
        Term::Tuple(v) | Term::List(v) => !v.is_empty(),
        Term::ImproperList(..) | Term::Map(_) | Term::Fun(_) => true,
        _ => false,
    }
}

/// Moves every child of `t` that itself has children onto `pending`, leaving
/// `[]` in its place.
fn detach_nested(t: &mut Term, pending: &mut Vec<Term>) {
    let mut take = |c: &mut Term| {
        if has_nested(c) {
            pending.push(std::mem::take(c));
        }
    };
    match t {
        Term::Tuple(v) | Term::List(v) => v.iter_mut().for_each(&mut take),
        Term::ImproperList(v, tail) => {
            v.iter_mut().for_each(&mut take);
            take(tail);
        }
        Term::Map(m) => m.entries_mut().for_each(|(k, v)| {
            take(k);
            take(v);
        }),
        Term::Fun(f) => match &mut **f {
            Fun::New { free_vars, .. } | Fun::Old { free_vars, .. } => {
                free_vars.iter_mut().for_each(&mut take)
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
