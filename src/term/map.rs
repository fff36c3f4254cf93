//! Erlang maps.
//!
//! A [`Map`] keeps its entries in a vector. A decoded map keeps the order its
//! entries arrived in, so that it re-encodes byte for byte. A map built or
//! changed in Rust is encoded in the order the BEAM itself would use.

use super::Term;

/// An Erlang map. Keys are compared with exact equality (`=:=`), so `1` and
/// `1.0` are different keys, as in Erlang.
#[derive(Default)]
pub struct Map {
    entries: Vec<(Term, Term)>,
    /// True while the entries are in the order they were received in; false
    /// once Rust code has built or changed the map.
    received_order: bool,
}

impl Map {
    /// An empty map, `#{}`.
    pub fn new() -> Map {
        Map {
            entries: Vec::new(),
            received_order: false,
        }
    }

    /// A map whose entries keep the given (wire) order. The caller guarantees
    /// that the keys are distinct.
    pub(crate) fn from_received(entries: Vec<(Term, Term)>) -> Map {
        Map {
            entries,
            received_order: true,
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for `#{}`.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value for `key`.
    pub fn get(&self, key: &Term) -> Option<&Term> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Inserts or replaces; returns the old value.
    pub fn insert(&mut self, key: Term, value: Term) -> Option<Term> {
        self.received_order = false;
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &Term) -> Option<Term> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        self.received_order = false;
        Some(self.entries.remove(i).1)
    }

    /// The entries in stored order (received order for a decoded map).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Term, &Term)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries as a slice, in stored order.
    pub fn entries(&self) -> &[(Term, Term)] {
        &self.entries
    }

    pub(crate) fn entries_mut(&mut self) -> impl Iterator<Item = (&mut Term, &mut Term)> {
        self.entries.iter_mut().map(|(k, v)| (k, v))
    }

    /// Takes the entries out, in stored order.
    pub fn into_entries(mut self) -> Vec<(Term, Term)> {
        std::mem::take(&mut self.entries)
    }

    /// The entries in the order the BEAM's `term_to_binary` writes them, for
    /// a map built or changed in Rust (the encoder uses `entries()` directly
    /// for a map still in received order).
    ///
    /// TODO(order helper): sort as the BEAM does (flatmaps up to 32 keys in
    /// term order; larger maps in HAMT order). Until then: stored order.
    pub(crate) fn encode_order(&self) -> Vec<&(Term, Term)> {
        self.entries.iter().collect()
    }

    /// True if the entries are still in the order they were decoded in.
    pub fn is_received_order(&self) -> bool {
        self.received_order
    }
}

impl FromIterator<(Term, Term)> for Map {
    /// Later duplicates replace earlier ones, as in `maps:from_list/1`.
    fn from_iter<I: IntoIterator<Item = (Term, Term)>>(iter: I) -> Map {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}
