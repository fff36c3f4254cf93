//! Equality, ordering, hashing and cloning. OWNED BY THE TEXT/ORDER WORK
//! (issue 2). Placeholder: simple recursive versions (exact equality), to be
//! replaced by depth-safe ones with Erlang's term order.
use super::*;
use std::hash::{Hash, Hasher};

impl PartialEq for Term {
    fn eq(&self, other: &Term) -> bool {
        use Term::*;
        match (self, other) {
            (Int(a), Int(b)) => a == b,
            (BigInt(a), BigInt(b)) => a == b,
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (Atom(a), Atom(b)) => a == b,
            (Binary(a), Binary(b)) => a == b,
            (BitString(a), BitString(b)) => a == b,
            (Pid(a), Pid(b)) => a == b,
            (Port(a), Port(b)) => a == b,
            (Ref(a), Ref(b)) => a == b,
            (Fun(a), Fun(b)) => a == b,
            (Export(a), Export(b)) => a == b,
            (Tuple(a), Tuple(b)) | (List(a), List(b)) => a == b,
            (ImproperList(a, x), ImproperList(b, y)) => a == b && x == y,
            (Map(a), Map(b)) => a == b,
            _ => false,
        }
    }
}
impl Eq for Term {}

impl PartialEq for Fun {
    fn eq(&self, other: &Fun) -> bool {
        match (self, other) {
            (
                Fun::New {
                    arity,
                    uniq,
                    index,
                    module,
                    old_index,
                    old_uniq,
                    pid,
                    free_vars,
                },
                Fun::New {
                    arity: a2,
                    uniq: u2,
                    index: i2,
                    module: m2,
                    old_index: oi2,
                    old_uniq: ou2,
                    pid: p2,
                    free_vars: f2,
                },
            ) => {
                arity == a2
                    && uniq == u2
                    && index == i2
                    && module == m2
                    && old_index == oi2
                    && old_uniq == ou2
                    && pid == p2
                    && free_vars == f2
            }
            (
                Fun::Old {
                    pid,
                    module,
                    index,
                    uniq,
                    free_vars,
                },
                Fun::Old {
                    pid: p2,
                    module: m2,
                    index: i2,
                    uniq: u2,
                    free_vars: f2,
                },
            ) => pid == p2 && module == m2 && index == i2 && uniq == u2 && free_vars == f2,
            _ => false,
        }
    }
}
impl Eq for Fun {}

impl PartialEq for Map {
    /// Maps are equal when they hold the same keys with equal values, in any order.
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}
impl Eq for Map {}

impl Hash for Term {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Term::Int(i) => i.hash(state),
            Term::BigInt(b) => b.hash(state),
            Term::Float(f) => f.to_bits().hash(state),
            Term::Atom(a) => a.hash(state),
            Term::Binary(b) => b.hash(state),
            Term::BitString(b) => b.hash(state),
            Term::Pid(p) => p.hash(state),
            Term::Port(p) => p.hash(state),
            Term::Ref(r) => r.hash(state),
            Term::Fun(_) => {}
            Term::Export(e) => e.hash(state),
            Term::Tuple(v) | Term::List(v) => v.hash(state),
            Term::ImproperList(v, t) => {
                v.hash(state);
                t.hash(state)
            }
            // Order-independent: only the size.
            Term::Map(m) => m.len().hash(state),
        }
    }
}

impl Clone for Term {
    fn clone(&self) -> Term {
        match self {
            Term::Int(i) => Term::Int(*i),
            Term::BigInt(b) => Term::BigInt(b.clone()),
            Term::Float(f) => Term::Float(*f),
            Term::Atom(a) => Term::Atom(a.clone()),
            Term::Binary(b) => Term::Binary(b.clone()),
            Term::BitString(b) => Term::BitString(b.clone()),
            Term::Pid(p) => Term::Pid(p.clone()),
            Term::Port(p) => Term::Port(p.clone()),
            Term::Ref(r) => Term::Ref(r.clone()),
            Term::Fun(f) => Term::Fun(f.clone()),
            Term::Export(e) => Term::Export(e.clone()),
            Term::Tuple(v) => Term::Tuple(v.clone()),
            Term::List(v) => Term::List(v.clone()),
            Term::ImproperList(v, t) => Term::ImproperList(v.clone(), t.clone()),
            Term::Map(m) => Term::Map(m.clone()),
        }
    }
}

impl Clone for Map {
    fn clone(&self) -> Map {
        if self.is_received_order() {
            Map::from_received(self.entries().to_vec())
        } else {
            self.entries().iter().cloned().collect()
        }
    }
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
