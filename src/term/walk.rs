//! Drop that cannot overflow the stack, so that a term nested a million deep
//! (which the BEAM's `term_to_binary` happily produces) can go out of scope.
//!
//! Terms up to [`RECURSE_MAX`] containers deep are dropped by ordinary
//! recursion, which moves nothing and is the cheapest way to free a tree.
//! Below that depth the rest of the tree is unnested through a work list on
//! the heap instead, so the stack never holds more than `RECURSE_MAX` drop
//! frames whatever the input.

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
use std::cell::Cell;

/// How many nested containers are dropped by plain recursion before the
/// work list takes over. A drop frame is well under 200 bytes, so 128 levels
/// use less than 32 KiB of stack, far inside the smallest thread stack a
/// program is likely to run on (tokio's 2 MiB, or 64 KiB on tiny targets),
/// while real messages (records in lists in maps) are rarely more than ten
/// levels deep and so never pay for the work list.
pub const RECURSE_MAX: u32 = 128;

thread_local! {
    /// Containers being dropped by recursion on this thread, outermost first.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

impl Drop for Term {
    // Inlined into the drop glue, so that dropping a leaf (most terms:
    // integers, atoms, and every element of a string) is a tag test, not a
    // call.
    #[inline]
    fn drop(&mut self) {
        if owns_terms(self) {
            drop_owner(self);
        }
    }
}

/// Drops a term that owns other terms without growing the stack without
/// bound.
#[inline(never)]
fn drop_owner(t: &mut Term) {
    // A tuple or list of leaves (most messages, such as `{seq, 1}`, and
    // every string) is freed here, one level deep, without the depth
    // accounting below.
    if let Term::Tuple(v) | Term::List(v) = t {
        // Strings and lists of integers, checked with one tag test per
        // element (a third of what classifying each element costs).
        if v.iter().all(|e| matches!(e, Term::Int(_))) {
            std::mem::forget(v.drain(..));
            return;
        }
        // The most any element needs; the scan stops at the first owner.
        let most = v.iter().try_fold(Kind::Plain, |most, e| match kind(e) {
            Kind::Owner => None,
            k => Some(most.max(k)),
        });
        match most {
            // Nothing to free but the vector itself (every string, most
            // small tuples): leak the elements, which own nothing, and let
            // the vector's own drop free its buffer. Forgetting a `Drain`
            // leaves the vector empty without visiting what it held.
            Some(Kind::Plain) => {
                std::mem::forget(v.drain(..));
                return;
            }
            Some(_) => {
                std::mem::take(v).into_iter().for_each(drop_leaf);
                return;
            }
            None => {}
        }
    }
    // The same for a map whose keys and values own nothing (integer keys
    // and values, atoms), or own no terms.
    if let Term::Map(m) = t {
        let entries = m.entries_for_drop();
        let most = entries
            .iter()
            .try_fold(Kind::Plain, |most, (k, v)| match (kind(k), kind(v)) {
                (Kind::Owner, _) | (_, Kind::Owner) => None,
                (a, b) => Some(most.max(a).max(b)),
            });
        match most {
            Some(Kind::Plain) => {
                std::mem::forget(entries.drain(..));
                return;
            }
            Some(_) => {
                std::mem::take(entries).into_iter().for_each(|(k, v)| {
                    drop_leaf(k);
                    drop_leaf(v);
                });
                return;
            }
            None => {}
        }
    }
    let depth = DEPTH.with(Cell::get);
    if depth < RECURSE_MAX {
        DEPTH.with(|d| d.set(depth + 1));
        drop_children(t);
        DEPTH.with(|d| d.set(depth));
        return;
    }
    // Too deep for the stack: unnest the rest through the heap.
    let mut pending: Vec<Term> = Vec::new();
    drain(t, &mut pending);
    while let Some(mut c) = pending.pop() {
        drain(&mut c, &mut pending);
        // `c` is now an empty container (or holds only leaves), so its own
        // drop returns at once instead of scanning its children again.
    }
}

/// Drops `c`. Integers and floats (every element of a string) own nothing
/// at all: forgetting them saves a call of the drop glue per element.
#[inline(always)]
fn drop_leaf(c: Term) {
    if let Term::Int(_) | Term::Float(_) = c {
        std::mem::forget(c);
    }
}

/// Drops the terms `t` owns (each by its own `Drop`, one level deeper).
fn drop_children(t: &mut Term) {
    match t {
        Term::Tuple(v) | Term::List(v) => std::mem::take(v).into_iter().for_each(drop_leaf),
        Term::ImproperList(v, tail) => {
            std::mem::take(v).into_iter().for_each(drop_leaf);
            drop(std::mem::take(&mut **tail));
        }
        Term::Map(m) => drop(std::mem::take(&mut **m)),
        Term::Fun(f) => match &mut **f {
            Fun::New { free_vars, .. } | Fun::Old { free_vars, .. } => {
                drop(std::mem::take(free_vars))
            }
        },
        _ => {}
    }
}

/// What dropping a term involves, in increasing order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Owns no heap memory at all.
    Plain,
    /// Owns heap memory but no other terms.
    Leaf,
    /// Owns other terms.
    Owner,
}

#[inline(always)]
fn kind(t: &Term) -> Kind {
    match t {
        Term::Int(_) | Term::Float(_) => Kind::Plain,
        Term::Atom(a) if a.is_inline() => Kind::Plain,
        Term::Pid(p) if p.node.is_inline() => Kind::Plain,
        Term::Port(p) if p.node.is_inline() => Kind::Plain,
        // Not `is_empty`: an empty vector can still hold a buffer.
        Term::Tuple(v) | Term::List(v) if v.capacity() == 0 => Kind::Plain,
        _ if owns_terms(t) => Kind::Owner,
        _ => Kind::Leaf,
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
        _ if owns_terms(&c) => pending.push(c),
        _ => {}
    };
    match t {
        Term::Tuple(v) | Term::List(v) => std::mem::take(v).into_iter().for_each(&mut keep),
        Term::ImproperList(v, tail) => {
            std::mem::take(v).into_iter().for_each(&mut keep);
            keep(std::mem::take(&mut **tail));
        }
        Term::Map(m) => std::mem::take(&mut **m)
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
                _ => Term::from(crate::term::Map::from_iter([(Term::Int(4), t)])),
            };
        }
        drop(t);
    }
}
#[cfg(test)]
mod size_tests {
    use super::super::{Atom, Pid, Port};
    use super::Term;
    use std::mem::size_of;

    /// A decode writes one `Term` per element and two per map entry, and
    /// decode speed follows those bytes (docs/BENCH.md, "A 40-byte Term"),
    /// so a variant that grows `Term` past five words fails here rather
    /// than in a benchmark.
    #[test]
    fn term_is_five_words() {
        assert_eq!(size_of::<Atom>(), 16);
        assert_eq!(size_of::<Pid>(), 32);
        assert_eq!(size_of::<Port>(), 32);
        assert_eq!(size_of::<Term>(), 40);
    }
}
