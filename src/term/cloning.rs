//! Deep copies of terms (`Clone` for [`Term`] and [`Map`]): recursion for
//! shallow terms, an explicit stack below [`RECURSION_LIMIT`]. Binaries
//! share their bytes.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use super::order::{RECURSION_LIMIT, TooDeep, is_leaf};
use super::{Fun, Map, Term};
use std::slice::Iter;

/// A container being copied: its source elements still to visit and the
/// copies made so far.
enum CloneFrame<'a> {
    /// Tuple, list or improper list: elements, then the tail (if any).
    Seq {
        kind: SeqKind,
        src: Iter<'a, Term>,
        tail: Option<&'a Term>,
        in_tail: bool,
        out: Vec<Term>,
        tail_out: Option<Term>,
    },
    Map {
        src: &'a Map,
        entries: Iter<'a, (Term, Term)>,
        value: Option<&'a Term>,
        out: Vec<(Term, Term)>,
        key_out: Option<Term>,
    },
    Fun {
        src: &'a Fun,
        vars: Iter<'a, Term>,
        out: Vec<Term>,
    },
}

#[derive(Clone, Copy)]
enum SeqKind {
    Tuple,
    List,
    Improper,
}

impl<'a> CloneFrame<'a> {
    /// The next source child to copy.
    fn next(&mut self) -> Option<&'a Term> {
        match self {
            CloneFrame::Seq {
                src, tail, in_tail, ..
            } => src.next().or_else(|| {
                *in_tail = true;
                tail.take()
            }),
            CloneFrame::Map { entries, value, .. } => {
                if let Some(v) = value.take() {
                    return Some(v);
                }
                let (k, v) = entries.next()?;
                *value = Some(v);
                Some(k)
            }
            CloneFrame::Fun { vars, .. } => vars.next(),
        }
    }

    /// Takes the copy of the child that [`CloneFrame::next`] gave.
    fn accept(&mut self, t: Term) {
        match self {
            CloneFrame::Seq {
                in_tail,
                out,
                tail_out,
                ..
            } => {
                if *in_tail {
                    *tail_out = Some(t);
                } else {
                    out.push(t);
                }
            }
            CloneFrame::Map { out, key_out, .. } => match key_out.take() {
                None => *key_out = Some(t),
                Some(k) => out.push((k, t)),
            },
            CloneFrame::Fun { out, .. } => out.push(t),
        }
    }

    fn finish(self) -> Term {
        match self {
            CloneFrame::Seq {
                kind,
                out,
                tail_out,
                ..
            } => match kind {
                SeqKind::Tuple => Term::Tuple(out),
                SeqKind::List => Term::List(out),
                SeqKind::Improper => {
                    Term::ImproperList(out, Box::new(tail_out.unwrap_or_default()))
                }
            },
            CloneFrame::Map { src, out, .. } => Term::Map(Box::new(src.clone_shell(out))),
            CloneFrame::Fun { src, out, .. } => Term::Fun(Box::new(match src {
                Fun::New {
                    arity,
                    uniq,
                    index,
                    module,
                    old_index,
                    old_uniq,
                    pid,
                    ..
                } => Fun::New {
                    arity: *arity,
                    uniq: *uniq,
                    index: *index,
                    module: module.clone(),
                    old_index: *old_index,
                    old_uniq: *old_uniq,
                    pid: pid.clone(),
                    free_vars: out,
                },
                Fun::Old {
                    pid,
                    module,
                    index,
                    uniq,
                    ..
                } => Fun::Old {
                    pid: pid.clone(),
                    module: module.clone(),
                    index: *index,
                    uniq: *uniq,
                    free_vars: out,
                },
            })),
        }
    }
}

/// Copies an atomic term.
fn clone_leaf(t: &Term) -> Term {
    match t {
        Term::Int(i) => Term::Int(*i),
        Term::BigInt(b) => Term::BigInt(b.clone()),
        Term::Float(f) => Term::Float(*f),
        Term::Atom(a) => Term::Atom(a.clone()),
        Term::Binary(b) => Term::Binary(b.clone()),
        Term::BitString(b) => Term::BitString(b.clone()),
        Term::Pid(p) => Term::Pid(p.clone()),
        Term::Port(p) => Term::Port(p.clone()),
        Term::Ref(r) => Term::Ref(r.clone()),
        Term::Export(e) => Term::Export(e.clone()),
        Term::Tuple(_) => Term::Tuple(Vec::new()),
        Term::List(_) => Term::NIL,
        // Not leaves; never called with them.
        Term::ImproperList(..) | Term::Map(_) | Term::Fun(_) => Term::NIL,
    }
}

/// Copies a term whose children are all atomic, or gives a frame to copy it
/// child by child.
fn clone_seq<'a>(
    kind: SeqKind,
    v: &'a [Term],
    tail: Option<&'a Term>,
) -> Result<Term, CloneFrame<'a>> {
    if tail.is_none() && v.iter().all(is_leaf) {
        let out: Vec<Term> = v.iter().map(clone_leaf).collect();
        return Ok(match kind {
            SeqKind::Tuple => Term::Tuple(out),
            _ => Term::List(out),
        });
    }
    Err(CloneFrame::Seq {
        kind,
        src: v.iter(),
        tail,
        in_tail: false,
        out: Vec::with_capacity(v.len()),
        tail_out: None,
    })
}

fn clone_start(t: &Term) -> Result<Term, CloneFrame<'_>> {
    let seq = clone_seq;
    match t {
        Term::Tuple(v) => seq(SeqKind::Tuple, v, None),
        Term::List(v) => seq(SeqKind::List, v, None),
        Term::ImproperList(v, tail) => seq(SeqKind::Improper, v, Some(tail)),
        Term::Map(m) => Err(CloneFrame::Map {
            src: m,
            entries: m.entries().iter(),
            value: None,
            out: Vec::with_capacity(m.len()),
            key_out: None,
        }),
        Term::Fun(f) => Err(CloneFrame::Fun {
            src: f,
            vars: f.free_vars().iter(),
            out: Vec::with_capacity(f.free_vars().len()),
        }),
        leaf => Ok(clone_leaf(leaf)),
    }
}

fn clone_frames(first: CloneFrame<'_>) -> Term {
    let mut stack = vec![first];
    loop {
        let Some(top) = stack.last_mut() else {
            return Term::NIL;
        };
        match top.next() {
            Some(child) => match clone_start(child) {
                Ok(copy) => top.accept(copy),
                Err(frame) => stack.push(frame),
            },
            None => {
                let Some(done) = stack.pop() else {
                    return Term::NIL;
                };
                let built = done.finish();
                match stack.last_mut() {
                    Some(parent) => parent.accept(built),
                    None => return built,
                }
            }
        }
    }
}

/// A deep copy by recursion, for terms up to [`RECURSION_LIMIT`] deep.
fn clone_rec(t: &Term, depth: u32) -> Result<Term, TooDeep> {
    if depth > RECURSION_LIMIT {
        return Err(TooDeep);
    }
    let all = |v: &[Term]| -> Result<Vec<Term>, TooDeep> {
        let mut out = Vec::with_capacity(v.len());
        for x in v {
            out.push(if is_leaf(x) {
                clone_leaf(x)
            } else {
                clone_rec(x, depth + 1)?
            });
        }
        Ok(out)
    };
    Ok(match t {
        Term::Tuple(v) => Term::Tuple(all(v)?),
        Term::List(v) => Term::List(all(v)?),
        Term::ImproperList(v, tail) => {
            Term::ImproperList(all(v)?, Box::new(clone_rec(tail, depth + 1)?))
        }
        Term::Map(m) => Term::Map(Box::new(clone_map_rec(m, depth)?)),
        Term::Fun(f) => {
            let frame = CloneFrame::Fun {
                src: f,
                vars: [].iter(),
                out: all(f.free_vars())?,
            };
            frame.finish()
        }
        leaf => clone_leaf(leaf),
    })
}

impl Clone for Term {
    /// A deep copy (binaries share their bytes); any depth.
    fn clone(&self) -> Term {
        if let Ok(t) = clone_rec(self, 0) {
            return t;
        }
        match clone_start(self) {
            Ok(t) => t,
            Err(frame) => clone_frames(frame),
        }
    }
}

/// A copy of the map `m`, found `depth` containers deep, by recursion.
fn clone_map_rec(m: &Map, depth: u32) -> Result<Map, TooDeep> {
    let mut out = Vec::with_capacity(m.len());
    for (k, v) in m.entries() {
        out.push((clone_rec(k, depth + 1)?, clone_rec(v, depth + 1)?));
    }
    Ok(m.clone_shell(out))
}

impl Clone for Map {
    fn clone(&self) -> Map {
        // Recursion for maps of shallow terms (nearly all), as
        // `Term::clone` does; the work list only below RECURSION_LIMIT.
        if let Ok(m) = clone_map_rec(self, 0) {
            return m;
        }
        let mut t = clone_start_map(self);
        match &mut t {
            Term::Map(m) => std::mem::take(&mut **m),
            _ => Map::new(),
        }
    }
}

fn clone_start_map(m: &Map) -> Term {
    clone_frames(CloneFrame::Map {
        src: m,
        entries: m.entries().iter(),
        value: None,
        out: Vec::with_capacity(m.len()),
        key_out: None,
    })
}
