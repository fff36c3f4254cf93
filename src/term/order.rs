//! Ordering of terms, and the semantics shared with equality
//! (`equality.rs`), hashing (`hashing.rs`) and cloning (`cloning.rs`).
//!
//! # Semantics
//!
//! * `==` on [`Term`] (`PartialEq`/`Eq`) is Erlang's exact equality `=:=`:
//!   `1 != 1.0`, maps are equal when they hold equal keys with equal values
//!   in any order. As in OTP 25, `0.0 =:= -0.0` (OTP 27 changed that), so
//!   `Term::Float(0.0) == Term::Float(-0.0)`, and they are one map key.
//! * `Ord` is Erlang's term order: number < atom < reference < fun < port <
//!   pid < tuple < map < `[]` < list < bitstring. Numbers compare by value
//!   across integers, big integers and floats, exactly (no rounding of big
//!   integers to `f64`). It refines Erlang's order so that it agrees with
//!   `Eq` and is total: whenever Erlang says `A < B`, `Ord` says so too, and
//!   terms Erlang finds equal (`==`) but not exactly equal (`{1, x}` and
//!   `{1.0, x}`) are ordered by the first integer/float pair of equal value
//!   met in a depth-first walk, integer first. So sorting with `Ord` gives
//!   the same order as `lists:sort/1`, up to the order among `==` terms.
//! * Within a type the order is the BEAM's (`erts_cmp` in OTP's `utils.c`,
//!   checked with `lists:sort/1` on OTP 25, see `tests/interop_text.rs`):
//!   atoms by text; references by node name, creation, then id words from the
//!   last (most significant) one, a missing word counting as 0; local funs
//!   before `fun M:F/A`; local funs by module, old index, old uniq, number of
//!   free variables, then the free variables (funs the BEAM finds equal but
//!   that differ in new index, uniq, arity or creator pid are told apart like
//!   integer/float ties above);
//!   `fun M:F/A` by module, function, arity; ports by node name, creation,
//!   id; pids by serial, id, node name, creation; tuples by size, then
//!   elements; maps by size, then keys in map key order, then values in that
//!   order; lists element by element (a shorter list first); bitstrings bit
//!   by bit, then by length.
//! * Map key order (how the BEAM sorts small maps and compares map keys) is
//!   the term order with every integer before every float: `2 < 1.0`.
//! * [`Term::erl_cmp`] and [`Term::erl_eq`] are Erlang's `<`/`==`: like `Ord`
//!   but `1 == 1.0`.
//! * `Hash` agrees with `Eq`; a map hashes its entries in key order, so
//!   insertion order does not matter.
//!
//! Comparing, hashing and cloning work at any depth: a term nested a
//! million deep (which the BEAM's `term_to_binary` produces without
//! complaint) is walked with an explicit stack on the heap. Shallow terms,
//! the common case, are walked by plain recursion, which is faster and
//! allocates nothing; the explicit stack takes over below
//! [`RECURSION_LIMIT`] levels.

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
use super::*;
use std::cmp::Ordering::{self, Equal, Greater, Less};
use std::hash::{Hash, Hasher};
use std::slice::Iter;

pub(super) static NIL: Term = Term::NIL;

/// Terms nested up to this deep are compared, hashed and cloned by plain
/// recursion, which needs no heap allocation and is up to twice as fast on
/// typical messages; deeper terms go to an explicit stack on the heap (a
/// comparison or clone starts over, hashing carries on). 48 small frames
/// stay within tens of kilobytes of call stack, far below any thread's.
pub const RECURSION_LIMIT: u32 = 48;

/// The fast recursive walk met a term nested deeper than [`RECURSION_LIMIT`].
pub(super) struct TooDeep;

/// The term itself, or what an `ImproperList` without elements stands for
/// (its tail). Any other term is already canonical.
#[inline]
pub(crate) fn canon(mut t: &Term) -> &Term {
    while let Term::ImproperList(v, tail) = t {
        if !v.is_empty() {
            break;
        }
        t = tail;
    }
    t
}

/// The kinds of terms in Erlang's term order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    Number,
    Atom,
    Ref,
    Fun,
    Port,
    Pid,
    Tuple,
    Map,
    Nil,
    List,
    Bits,
}

/// The class of a canonical term.
pub(crate) fn class(t: &Term) -> Class {
    match t {
        Term::Int(_) | Term::BigInt(_) | Term::Float(_) => Class::Number,
        Term::Atom(_) => Class::Atom,
        Term::Ref(_) => Class::Ref,
        Term::Fun(_) | Term::Export(_) => Class::Fun,
        Term::Port(_) => Class::Port,
        Term::Pid(_) => Class::Pid,
        Term::Tuple(_) => Class::Tuple,
        Term::Map(_) => Class::Map,
        Term::List(v) if v.is_empty() => Class::Nil,
        Term::List(_) => Class::List,
        Term::ImproperList(v, tail) => {
            if v.is_empty() {
                class(canon(tail))
            } else {
                Class::List
            }
        }
        Term::Binary(_) | Term::BitString(_) => Class::Bits,
    }
}

/// A position in a list seen as cons cells: the elements left in the current
/// vector, then its tail. A tail that is itself a list is followed, so
/// `[1 | [2]]` built as `ImproperList([1], List([2]))` reads as `[1,2]`.
#[derive(Clone, Copy)]
pub(crate) struct Cons<'a> {
    elems: &'a [Term],
    tail: Option<&'a Term>,
}

impl<'a> Cons<'a> {
    /// The cons view of a list term (any other term reads as an empty list
    /// ending in that term).
    pub(crate) fn new(t: &'a Term) -> Cons<'a> {
        match t {
            Term::List(v) => Cons {
                elems: v,
                tail: None,
            },
            Term::ImproperList(v, tail) => Cons {
                elems: v,
                tail: Some(tail),
            },
            other => Cons {
                elems: &[],
                tail: Some(other),
            },
        }
    }

    fn settle(&mut self) {
        while self.elems.is_empty() {
            match self.tail {
                Some(Term::List(v)) => {
                    self.elems = v;
                    self.tail = None;
                }
                Some(Term::ImproperList(v, t)) => {
                    self.elems = v;
                    self.tail = Some(t);
                }
                _ => return,
            }
        }
    }

    /// The next element.
    pub(crate) fn next(&mut self) -> Option<&'a Term> {
        self.settle();
        let (head, rest) = self.elems.split_first()?;
        self.elems = rest;
        Some(head)
    }

    /// True when no element is left.
    pub(crate) fn is_done(&mut self) -> bool {
        self.settle();
        self.elems.is_empty()
    }

    /// Once no element is left: the non-list tail, or `None` for `[]`.
    pub(crate) fn end(&self) -> Option<&'a Term> {
        match self.tail {
            Some(t) if !canon(t).is_nil() => Some(canon(t)),
            _ => None,
        }
    }

    /// The class of what ends the list once no element is left.
    fn end_class(&self) -> Class {
        self.end().map_or(Class::Nil, class)
    }
}

/// True for terms that hold no other terms (or are empty containers).
#[inline]
pub(super) fn is_leaf(t: &Term) -> bool {
    match t {
        Term::Tuple(v) | Term::List(v) => v.is_empty(),
        Term::ImproperList(..) | Term::Map(_) | Term::Fun(_) => false,
        _ => true,
    }
}

impl Fun {
    /// The captured variables.
    pub fn free_vars(&self) -> &[Term] {
        match self {
            Fun::New { free_vars, .. } | Fun::Old { free_vars, .. } => free_vars,
        }
    }

    /// The module that defines the fun.
    pub fn module(&self) -> &Atom {
        match self {
            Fun::New { module, .. } | Fun::Old { module, .. } => module,
        }
    }

    /// What the BEAM compares funs by: module, old index, old uniq, number
    /// of free variables.
    pub(super) fn beam_key(&self) -> (&Atom, u32, u32, usize) {
        match self {
            Fun::New {
                module,
                old_index,
                old_uniq,
                free_vars,
                ..
            } => (module, *old_index, *old_uniq, free_vars.len()),
            Fun::Old {
                module,
                index,
                uniq,
                free_vars,
                ..
            } => (module, *index, *uniq, free_vars.len()),
        }
    }

    /// Orders funs that agree on [`Fun::beam_key`], by everything else but
    /// the free variables, so that only equal funs compare equal.
    pub(super) fn tie_cmp(&self, other: &Fun) -> Ordering {
        match (self, other) {
            (
                Fun::New {
                    arity,
                    uniq,
                    index,
                    pid,
                    ..
                },
                Fun::New {
                    arity: a2,
                    uniq: u2,
                    index: i2,
                    pid: p2,
                    ..
                },
            ) => index
                .cmp(i2)
                .then_with(|| uniq.cmp(u2))
                .then_with(|| arity.cmp(a2))
                .then_with(|| pid.cmp(p2)),
            (Fun::Old { pid, .. }, Fun::Old { pid: p2, .. }) => pid.cmp(p2),
            (Fun::Old { .. }, Fun::New { .. }) => Less,
            (Fun::New { .. }, Fun::Old { .. }) => Greater,
        }
    }
}

// ---------------------------------------------------------------------------
// Atomic comparisons

/// A number, borrowed.
#[derive(Clone, Copy)]
pub(super) enum Num<'a> {
    I(i64),
    B(&'a BigInt),
    F(f64),
}

pub(super) fn num(t: &Term) -> Option<Num<'_>> {
    match t {
        Term::Int(i) => Some(Num::I(*i)),
        Term::BigInt(b) => Some(match i64::try_from(b) {
            Ok(i) => Num::I(i),
            Err(_) => Num::B(b),
        }),
        Term::Float(f) => Some(Num::F(*f)),
        _ => None,
    }
}

/// Floats by value, `-0.0 == 0.0`; a NaN (which Erlang never has) sorts after
/// every number and equals itself, to keep the order total.
fn float_cmp(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b)
        .unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()))
}

/// An integer against a float, exactly.
fn int_float_cmp(i: Num<'_>, f: f64) -> Ordering {
    if f.is_nan() {
        return Less;
    }
    let t = f.trunc();
    let whole = match i {
        Num::I(i) => {
            // 2^63 is exact as an f64; any float at or beyond it is beyond i64.
            if t >= 9_223_372_036_854_775_808.0 {
                return Less;
            }
            if t < -9_223_372_036_854_775_808.0 {
                return Greater;
            }
            i.cmp(&(t as i64))
        }
        Num::B(b) => {
            if f.is_infinite() {
                return if f > 0.0 { Less } else { Greater };
            }
            match <BigInt as num_traits::FromPrimitive>::from_f64(t) {
                Some(bt) => b.cmp(&bt),
                None => return Less,
            }
        }
        Num::F(_) => return Equal,
    };
    // Same whole part: the float's fraction decides.
    whole.then(if f > t {
        Less
    } else if f < t {
        Greater
    } else {
        Equal
    })
}

fn num_cmp(a: Num<'_>, b: Num<'_>, mode: Mode) -> Ordering {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x.cmp(&y),
        (Num::B(x), Num::B(y)) => x.cmp(y),
        // A `B` is outside the i64 range (`num` normalises), so its sign decides.
        (Num::I(_), Num::B(y)) => {
            if y.sign() == num_bigint::Sign::Minus {
                Greater
            } else {
                Less
            }
        }
        (Num::B(x), Num::I(_)) => {
            if x.sign() == num_bigint::Sign::Minus {
                Less
            } else {
                Greater
            }
        }
        (Num::F(x), Num::F(y)) => float_cmp(x, y),
        (i, Num::F(f)) => match mode {
            Mode::Key => Less,
            Mode::Erl | Mode::Total => int_float_cmp(i, f),
        },
        (Num::F(f), i) => match mode {
            Mode::Key => Greater,
            Mode::Erl | Mode::Total => int_float_cmp(i, f).reverse(),
        },
    }
}

pub(super) fn num_eq(a: Num<'_>, b: Num<'_>) -> bool {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x == y,
        (Num::B(x), Num::B(y)) => x == y,
        (Num::F(x), Num::F(y)) => float_cmp(x, y) == Equal,
        _ => false,
    }
}

/// A bitstring's bytes and its length in bits.
pub(super) fn bits(t: &Term) -> Option<(&[u8], u64)> {
    match t {
        Term::Binary(b) => Some((b, b.len() as u64 * 8)),
        Term::BitString(b) => Some(match b.data.len() {
            0 => (&b.data[..], 0),
            n if (1..8).contains(&b.bits_in_last_byte) => (
                &b.data[..],
                (n as u64 - 1) * 8 + u64::from(b.bits_in_last_byte),
            ),
            n => (&b.data[..], n as u64 * 8),
        }),
        _ => None,
    }
}

/// Bit by bit over the common length, then shorter first.
pub(super) fn bits_cmp((a, alen): (&[u8], u64), (b, blen): (&[u8], u64)) -> Ordering {
    let common = alen.min(blen);
    let full = (common / 8) as usize;
    let rest = (common % 8) as u32;
    // Both hold at least `common` bits, so every get() below succeeds.
    let last = |d: &[u8]| d.get(full).copied().unwrap_or(0) >> (8 - rest);
    a.get(..full)
        .unwrap_or(a)
        .cmp(b.get(..full).unwrap_or(b))
        .then_with(|| {
            if rest == 0 {
                Equal
            } else {
                last(a).cmp(&last(b))
            }
        })
        .then(alen.cmp(&blen))
}

impl Reference {
    /// The id words without high zero words, which do not change a
    /// reference's identity (`erts_cmp` compares a missing word as 0).
    fn significant(&self) -> &[u32] {
        let id = self.id();
        let n = id.iter().rposition(|&w| w != 0).map_or(0, |i| i + 1);
        id.get(..n).unwrap_or(id)
    }
}

impl PartialEq for Reference {
    fn eq(&self, other: &Reference) -> bool {
        self.node == other.node
            && self.creation == other.creation
            && self.significant() == other.significant()
    }
}
impl Eq for Reference {}

impl Hash for Reference {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.node.hash(state);
        self.creation.hash(state);
        self.significant().hash(state);
    }
}

impl PartialOrd for Reference {
    fn partial_cmp(&self, other: &Reference) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Reference {
    /// The BEAM's order: node name, creation, then id words from the most
    /// significant (last) one.
    fn cmp(&self, other: &Reference) -> Ordering {
        self.node
            .cmp(&other.node)
            .then(self.creation.cmp(&other.creation))
            .then_with(|| {
                let (a, b) = (self.significant(), other.significant());
                let n = a.len().max(b.len());
                (0..n)
                    .rev()
                    .map(|i| {
                        a.get(i)
                            .copied()
                            .unwrap_or(0)
                            .cmp(&b.get(i).copied().unwrap_or(0))
                    })
                    .find(|o| *o != Equal)
                    .unwrap_or(Equal)
            })
    }
}

impl PartialOrd for Pid {
    fn partial_cmp(&self, other: &Pid) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pid {
    /// The BEAM's order: serial, id, node name, creation.
    fn cmp(&self, other: &Pid) -> Ordering {
        self.serial
            .cmp(&other.serial)
            .then(self.id.cmp(&other.id))
            .then_with(|| self.node.cmp(&other.node))
            .then(self.creation.cmp(&other.creation))
    }
}

impl PartialOrd for Port {
    fn partial_cmp(&self, other: &Port) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Port {
    /// The BEAM's order: node name, creation, id.
    fn cmp(&self, other: &Port) -> Ordering {
        self.node
            .cmp(&other.node)
            .then(self.creation.cmp(&other.creation))
            .then(self.id.cmp(&other.id))
    }
}

// ---------------------------------------------------------------------------
// Ordering

/// Which comparison: `Ord` (total), Erlang's `==`/`<`, or map key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Erlang's order, refined so that only exactly equal terms tie (`Ord`).
    Total,
    /// Erlang's arithmetic comparison: `1 == 1.0`.
    Erl,
    /// Map key order: every integer before every float.
    Key,
}

enum CmpFrame<'a> {
    Seq(Iter<'a, Term>, Iter<'a, Term>, Mode),
    Cons {
        a: Cons<'a>,
        b: Cons<'a>,
        mode: Mode,
        ended: bool,
    },
    /// Map keys, always compared in key order.
    Keys(MapOrder<'a>, MapOrder<'a>),
    Values(MapOrder<'a>, MapOrder<'a>, Mode),
}

enum CmpNext<'a> {
    Pair(&'a Term, &'a Term, Mode),
    Done,
    Decided(Ordering),
}

impl<'a> CmpFrame<'a> {
    fn next(&mut self) -> CmpNext<'a> {
        match self {
            CmpFrame::Seq(a, b, mode) => match (a.next(), b.next()) {
                (Some(x), Some(y)) => CmpNext::Pair(x, y, *mode),
                _ => CmpNext::Done,
            },
            CmpFrame::Cons { a, b, mode, ended } => {
                if *ended {
                    return CmpNext::Done;
                }
                match (a.next(), b.next()) {
                    (Some(x), Some(y)) => CmpNext::Pair(x, y, *mode),
                    (None, None) => {
                        *ended = true;
                        CmpNext::Pair(a.end().unwrap_or(&NIL), b.end().unwrap_or(&NIL), *mode)
                    }
                    // One list goes on where the other ends: its rest is a
                    // non-empty list, against whatever ends the other.
                    (None, Some(_)) => CmpNext::Decided(a.end_class().cmp(&Class::List)),
                    (Some(_), None) => CmpNext::Decided(Class::List.cmp(&b.end_class())),
                }
            }
            CmpFrame::Keys(a, b) => match (a.next(), b.next()) {
                (Some((x, _)), Some((y, _))) => CmpNext::Pair(x, y, Mode::Key),
                _ => CmpNext::Done,
            },
            CmpFrame::Values(a, b, mode) => match (a.next(), b.next()) {
                (Some((_, x)), Some((_, y))) => CmpNext::Pair(x, y, *mode),
                _ => CmpNext::Done,
            },
        }
    }
}

/// One comparison in progress: the frames still to walk and the first
/// tie-break met so far.
///
/// `Total` (and `Key`) order refine Erlang's order: terms that Erlang finds
/// equal but that are not exactly equal (an integer against an equal float,
/// two funs the BEAM does not tell apart) are ordered by the first such pair
/// met in a walk of the terms, recorded in `tie` while the walk goes on.
struct Compare<'a> {
    stack: Vec<CmpFrame<'a>>,
    tie: Option<Ordering>,
}

impl<'a> Compare<'a> {
    fn new() -> Compare<'a> {
        Compare {
            stack: Vec::new(),
            tie: None,
        }
    }

    fn record_tie(&mut self, mode: Mode, o: Ordering) {
        if mode != Mode::Erl && o != Equal && self.tie.is_none() {
            self.tie = Some(o);
        }
    }

    /// Compares equal-length element slices: atomic pairs at once, from the
    /// first pair of containers on through a frame.
    fn slices(&mut self, a: &'a [Term], b: &'a [Term], mode: Mode) -> Ordering {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if is_leaf(x) && is_leaf(y) {
                let o = self.step(x, y, mode);
                if o != Equal {
                    return o;
                }
            } else {
                self.stack.push(CmpFrame::Seq(
                    a.get(i..).unwrap_or_default().iter(),
                    b.get(i..).unwrap_or_default().iter(),
                    mode,
                ));
                return Equal;
            }
        }
        Equal
    }

    /// Compares one pair. `Equal` means "equal so far": containers push a
    /// frame for their elements.
    fn step(&mut self, x: &'a Term, y: &'a Term, mode: Mode) -> Ordering {
        let (x, y) = (canon(x), canon(y));
        let (cx, cy) = (class(x), class(y));
        if cx != cy {
            return cx.cmp(&cy);
        }
        match (x, y) {
            (Term::Atom(a), Term::Atom(b)) => a.cmp(b),
            (Term::Tuple(a), Term::Tuple(b)) => {
                a.len().cmp(&b.len()).then_with(|| self.slices(a, b, mode))
            }
            (Term::Map(a), Term::Map(b)) => {
                let o = a.len().cmp(&b.len());
                if o == Equal && !a.is_empty() {
                    self.stack
                        .push(CmpFrame::Values(a.key_order(), b.key_order(), mode));
                    self.stack
                        .push(CmpFrame::Keys(a.key_order(), b.key_order()));
                }
                o
            }
            (Term::Pid(a), Term::Pid(b)) => a.cmp(b),
            (Term::Port(a), Term::Port(b)) => a.cmp(b),
            (Term::Ref(a), Term::Ref(b)) => a.cmp(b),
            (Term::Export(a), Term::Export(b)) => a.cmp(b),
            (Term::Fun(_), Term::Export(_)) => Less,
            (Term::Export(_), Term::Fun(_)) => Greater,
            (Term::Fun(a), Term::Fun(b)) => {
                let o = a.beam_key().cmp(&b.beam_key());
                if o != Equal {
                    return o;
                }
                self.record_tie(mode, a.tie_cmp(b));
                self.slices(a.free_vars(), b.free_vars(), mode)
            }
            _ => match cx {
                Class::Number => match (num(x), num(y)) {
                    (Some(a), Some(b)) => {
                        let o = num_cmp(a, b, mode);
                        if o == Equal {
                            // Equal in value: an integer before a float.
                            let tie = match (a, b) {
                                (Num::F(_), Num::I(_) | Num::B(_)) => Greater,
                                (Num::I(_) | Num::B(_), Num::F(_)) => Less,
                                _ => Equal,
                            };
                            self.record_tie(mode, tie);
                        }
                        o
                    }
                    _ => Equal,
                },
                Class::Bits => match (bits(x), bits(y)) {
                    (Some(a), Some(b)) => bits_cmp(a, b),
                    _ => Equal,
                },
                Class::List => {
                    self.stack.push(CmpFrame::Cons {
                        a: Cons::new(x),
                        b: Cons::new(y),
                        mode,
                        ended: false,
                    });
                    Equal
                }
                _ => Equal,
            },
        }
    }

    /// Walks the frames to the end or the first difference.
    fn run(mut self) -> Ordering {
        loop {
            let (x, y, m) = loop {
                let Some(top) = self.stack.last_mut() else {
                    return self.tie.unwrap_or(Equal);
                };
                match top.next() {
                    CmpNext::Pair(x, y, m) => break (x, y, m),
                    CmpNext::Done => {
                        self.stack.pop();
                    }
                    CmpNext::Decided(o) => {
                        if o != Equal {
                            return o;
                        }
                        self.stack.pop();
                    }
                }
            };
            let o = self.step(x, y, m);
            if o != Equal {
                return o;
            }
        }
    }
}

/// [`Compare::step`] and its walk by recursion, for terms up to
/// [`RECURSION_LIMIT`] deep. Visits pairs in the same order as the frames
/// do, so it records the same first tie.
fn cmp_rec(
    x: &Term,
    y: &Term,
    mode: Mode,
    tie: &mut Option<Ordering>,
    depth: u32,
) -> Result<Ordering, TooDeep> {
    if depth > RECURSION_LIMIT {
        return Err(TooDeep);
    }
    let (x, y) = (canon(x), canon(y));
    let (cx, cy) = (class(x), class(y));
    if cx != cy {
        return Ok(cx.cmp(&cy));
    }
    let mut record = |o: Ordering| {
        if mode != Mode::Erl && o != Equal && tie.is_none() {
            *tie = Some(o);
        }
    };
    let seq = |a: &[Term], b: &[Term], tie: &mut Option<Ordering>| -> Result<Ordering, TooDeep> {
        for (p, q) in a.iter().zip(b) {
            let o = cmp_rec(p, q, mode, tie, depth + 1)?;
            if o != Equal {
                return Ok(o);
            }
        }
        Ok(Equal)
    };
    Ok(match (x, y) {
        (Term::Atom(a), Term::Atom(b)) => a.cmp(b),
        (Term::Tuple(a), Term::Tuple(b)) => match a.len().cmp(&b.len()) {
            Equal => seq(a, b, tie)?,
            o => o,
        },
        (Term::Map(a), Term::Map(b)) => {
            let o = a.len().cmp(&b.len());
            if o != Equal {
                return Ok(o);
            }
            for ((ka, _), (kb, _)) in a.key_order().zip(b.key_order()) {
                let o = cmp_rec(ka, kb, Mode::Key, tie, depth + 1)?;
                if o != Equal {
                    return Ok(o);
                }
            }
            for ((_, va), (_, vb)) in a.key_order().zip(b.key_order()) {
                let o = cmp_rec(va, vb, mode, tie, depth + 1)?;
                if o != Equal {
                    return Ok(o);
                }
            }
            Equal
        }
        (Term::Pid(a), Term::Pid(b)) => a.cmp(b),
        (Term::Port(a), Term::Port(b)) => a.cmp(b),
        (Term::Ref(a), Term::Ref(b)) => a.cmp(b),
        (Term::Export(a), Term::Export(b)) => a.cmp(b),
        (Term::Fun(_), Term::Export(_)) => Less,
        (Term::Export(_), Term::Fun(_)) => Greater,
        (Term::Fun(a), Term::Fun(b)) => {
            let o = a.beam_key().cmp(&b.beam_key());
            if o != Equal {
                return Ok(o);
            }
            record(a.tie_cmp(b));
            seq(a.free_vars(), b.free_vars(), tie)?
        }
        _ => match cx {
            Class::Number => match (num(x), num(y)) {
                (Some(a), Some(b)) => {
                    let o = num_cmp(a, b, mode);
                    if o == Equal {
                        record(match (a, b) {
                            (Num::F(_), Num::I(_) | Num::B(_)) => Greater,
                            (Num::I(_) | Num::B(_), Num::F(_)) => Less,
                            _ => Equal,
                        });
                    }
                    o
                }
                _ => Equal,
            },
            Class::Bits => match (bits(x), bits(y)) {
                (Some(a), Some(b)) => bits_cmp(a, b),
                _ => Equal,
            },
            Class::List => {
                let (mut a, mut b) = (Cons::new(x), Cons::new(y));
                loop {
                    match (a.next(), b.next()) {
                        (Some(p), Some(q)) => {
                            let o = cmp_rec(p, q, mode, tie, depth + 1)?;
                            if o != Equal {
                                return Ok(o);
                            }
                        }
                        (None, None) => {
                            let (p, q) = (a.end().unwrap_or(&NIL), b.end().unwrap_or(&NIL));
                            return cmp_rec(p, q, mode, tie, depth + 1);
                        }
                        (None, Some(_)) => return Ok(a.end_class().cmp(&Class::List)),
                        (Some(_), None) => return Ok(Class::List.cmp(&b.end_class())),
                    }
                }
            }
            _ => Equal,
        },
    })
}

fn run_cmp(a: &Term, b: &Term, mode: Mode) -> Ordering {
    let mut tie = None;
    if let Ok(o) = cmp_rec(a, b, mode, &mut tie, 0) {
        return if o == Equal { tie.unwrap_or(Equal) } else { o };
    }
    let mut c = Compare::new();
    let o = c.step(a, b, mode);
    if o != Equal {
        return o;
    }
    c.run()
}

/// Map key order (the BEAM's exact term order, integers before floats).
#[inline]
pub(crate) fn key_cmp(a: &Term, b: &Term) -> Ordering {
    // Fast paths for the keys maps nearly always have (the decoder orders
    // and checks every received map's keys); both agree with `Mode::Key`.
    match (a, b) {
        (Term::Int(x), Term::Int(y)) => x.cmp(y),
        (Term::Atom(x), Term::Atom(y)) => x.cmp(y),
        _ => run_cmp(a, b, Mode::Key),
    }
}

impl PartialOrd for Term {
    fn partial_cmp(&self, other: &Term) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Term {
    /// Erlang's term order, refined so that only `=:=` terms are equal; see
    /// the [module docs](crate::term).
    fn cmp(&self, other: &Term) -> Ordering {
        run_cmp(self, other, Mode::Total)
    }
}

impl Term {
    /// Erlang's comparison (`<`, `==`, `>`): term order where an integer and
    /// a float of the same value are equal (`1 == 1.0`).
    ///
    /// ```
    /// use erlnode::Term;
    /// use std::cmp::Ordering;
    /// assert_eq!(Term::Int(1).erl_cmp(&Term::Float(1.0)), Ordering::Equal);
    /// assert_ne!(Term::Int(1), Term::Float(1.0)); // `==` on Term is `=:=`
    /// ```
    pub fn erl_cmp(&self, other: &Term) -> Ordering {
        run_cmp(self, other, Mode::Erl)
    }

    /// Erlang's `==`: equal in value, so `1 == 1.0` (but map keys still
    /// compare exactly: `#{1 => a} /= #{1.0 => a}`).
    pub fn erl_eq(&self, other: &Term) -> bool {
        self.erl_cmp(other) == Equal
    }
}

impl PartialOrd for Map {
    fn partial_cmp(&self, other: &Map) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Map {
    /// By size, then keys in key order, then values.
    fn cmp(&self, other: &Map) -> Ordering {
        let o = self.len().cmp(&other.len());
        if o != Equal || self.is_empty() {
            return o;
        }
        let mut c = Compare::new();
        c.stack.push(CmpFrame::Values(
            self.key_order(),
            other.key_order(),
            Mode::Total,
        ));
        c.stack
            .push(CmpFrame::Keys(self.key_order(), other.key_order()));
        c.run()
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
    fn exact_equality() {
        assert_eq!(t("{{}}"), t("{{}}"));
        assert_eq!(t("[{}, []]"), t("[{}, []]"));
        assert_ne!(Term::Int(1), Term::Float(1.0));
        assert_eq!(Term::Float(0.0), Term::Float(-0.0));
        assert_eq!(h(&Term::Float(0.0)), h(&Term::Float(-0.0)));
        assert_eq!(Term::Int(5), Term::BigInt(BigInt::from(5)));
        assert_eq!(h(&Term::Int(5)), h(&Term::BigInt(BigInt::from(5))));
        assert_eq!(t("#{a => 1, b => 2}"), t("#{b => 2, a => 1}"));
        assert_ne!(t("#{a => 1}"), t("#{a => 1.0}"));
        assert_eq!(h(&t("#{a => 1, b => 2}")), h(&t("#{b => 2, a => 1}")));
        // Non-canonical list shapes compare by their cons cells.
        let split = Term::ImproperList(vec![Term::Int(1)], Box::new(t("[2]")));
        assert_eq!(split, t("[1,2]"));
        assert_eq!(h(&split), h(&t("[1,2]")));
        assert_eq!(
            Term::ImproperList(vec![], Box::new(Term::Int(3))),
            Term::Int(3)
        );
        assert_ne!(t("[1,2]"), t("[1|2]"));
    }

    #[test]
    fn references_ignore_high_zero_words() {
        let a = Reference::new(Atom::from("n@h"), 1, &[1, 2, 3]).unwrap();
        let b = Reference::new(Atom::from("n@h"), 1, &[1, 2, 3, 0]).unwrap();
        let c = Reference::new(Atom::from("n@h"), 1, &[1, 2, 3, 1]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.cmp(&b), Equal);
        assert!(b < c);
        assert_eq!(h(&Term::from(a)), h(&Term::from(b)));
    }

    #[test]
    fn number_order_is_exact() {
        let big = Term::from_bigint(BigInt::from(1u64) << 70);
        assert!(Term::Int(i64::MAX) < Term::Float(9.3e18));
        assert!(Term::Float(9.2e18) < Term::Int(i64::MAX));
        assert!(big < Term::Float(1.2e21));
        assert!(Term::Float(1.1e21) < big);
        // 2^70 exactly as a float equals the big integer in value.
        assert_eq!(big.erl_cmp(&Term::Float(1180591620717411303424.0)), Equal);
        assert!(big < Term::Float(1180591620717411303424.0));
        assert!(Term::Int(1) < Term::Float(1.0));
        assert!(Term::Float(0.5) < Term::Int(1));
        assert_eq!(Term::Int(1).erl_cmp(&Term::Float(1.0)), Equal);
        assert!(Term::Int((1 << 53) + 1) > Term::Float((1u64 << 53) as f64));
    }

    #[test]
    fn ord_refines_erlang_order() {
        // Erlang: {1, 2} > {1.0, 1} because 1 == 1.0 and 2 > 1.
        assert_eq!(t("{1, 2}").erl_cmp(&t("{1.0, 1}")), Greater);
        assert_eq!(t("{1, 2}").cmp(&t("{1.0, 1}")), Greater);
        // Equal for Erlang: the first integer/float pair decides.
        assert_eq!(t("{1, x}").erl_cmp(&t("{1.0, x}")), Equal);
        assert!(t("{1, x}") < t("{1.0, x}"));
        assert!(t("{1.0, 1}") > t("{1, 1.0}"));
        assert!(t("[1, 2.0]") < t("[1.0, 2]"));
        assert!(t("#{a => 1}") < t("#{a => 1.0}"));
    }

    #[test]
    fn type_order() {
        let corpus = "[1, a, {}, #{}, [], [1], <<>>]";
        let v = t(corpus).into_list().unwrap();
        for w in v.windows(2) {
            assert!(w[0] < w[1], "{} < {}", w[0], w[1]);
        }
    }

    #[test]
    fn maps_order_keys_exactly() {
        // OTP 25: lists:sort([#{1.0 => a}, #{2 => a}]) =:= [#{2 => a}, #{1.0 => a}].
        assert!(t("#{2 => a}") < t("#{1.0 => a}"));
        assert!(!t("#{1 => a}").erl_eq(&t("#{1.0 => a}")));
        assert!(t("#{1 => 1}").erl_eq(&t("#{1 => 1.0}")));
        assert!(t("#{a => 1}") < t("#{a => 2.0}"));
    }

    #[test]
    fn lists_and_bitstrings() {
        assert!(t("[1|2]") < t("[1,2]"));
        assert!(t("[1,2]") < t("[1|<<>>]"));
        assert!(t("[1]") < t("[1,2]"));
        assert!(t("<<0:1>>") < t("<<1>>"));
        assert!(t("<<1,2:7>>") < t("<<1,1:1>>"));
        assert!(t("<<1:1>>") < t("<<128>>"));
    }

    fn deep_list(n: usize) -> Term {
        let mut t = Term::NIL;
        for _ in 0..n {
            t = Term::List(vec![t]);
        }
        t
    }

    fn deep_mixed(n: usize, leaf: i64) -> Term {
        let mut t = Term::Int(leaf);
        for i in 0..n {
            t = match i % 4 {
                0 => Term::Tuple(vec![Term::atom("x"), t]),
                1 => Term::ImproperList(vec![Term::Int(1)], Box::new(t)),
                2 => Term::from(Map::from_iter([(Term::Int(4), t)])),
                _ => Term::from(Map::from_iter([
                    (t, Term::Int(4)),
                    (Term::Int(0), Term::NIL),
                ])),
            };
        }
        t
    }

    #[test]
    fn million_deep_terms_compare_hash_and_clone() {
        let a = deep_list(1_000_000);
        let b = a.clone();
        assert_eq!(a, b);
        assert_eq!(a.cmp(&b), Equal);
        assert_eq!(h(&a), h(&b));
        let c = deep_mixed(1_000_000, 1);
        let d = c.clone();
        let e = deep_mixed(1_000_000, 2);
        assert_eq!(c, d);
        assert_ne!(c, e);
        assert_eq!(c.cmp(&e), Less);
        assert_eq!(c.erl_cmp(&e), Less);
        assert_eq!(h(&c), h(&d));
    }

    #[test]
    fn deep_terms_need_little_call_stack() {
        // Everything on a thread with a 256 KiB stack (tokio's default is
        // 2 MiB): the recursive fast paths stop at RECURSION_LIMIT.
        let worker = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let a = deep_mixed(200_000, 1);
                let b = a.clone();
                let text = a.to_string();
                assert_eq!(a, b);
                assert_eq!(a.cmp(&b), Equal);
                assert_eq!(h(&a), h(&b));
                let deep_list = "[".repeat(200_000) + &"]".repeat(200_000);
                let parsed: Term = deep_list.parse().unwrap();
                assert_eq!(parsed.to_string(), deep_list);
                text.len()
            })
            .unwrap();
        assert!(worker.join().unwrap() > 200_000);
    }

    #[test]
    fn million_deep_map_keys() {
        // Maps nested inside map keys need their key order computed; that
        // must not recurse either.
        let mut a = Term::Int(0);
        for i in 0..1_000_000i64 {
            a = Term::from(Map::from_iter([
                (a, Term::Int(i)),
                (Term::Int(-1), Term::NIL),
            ]));
        }
        let b = a.clone();
        assert_eq!(a, b);
        assert_eq!(h(&a), h(&b));
    }

    #[test]
    fn clone_keeps_improper_tails_and_funs() {
        let x = t("{[1,2|3], [a|{b}], #{k => [v|w]}}");
        assert_eq!(x.clone(), x);
        assert_eq!(x.clone().to_string(), x.to_string());
    }
}
