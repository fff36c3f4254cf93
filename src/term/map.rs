//! Erlang maps.
//!
//! A [`Map`] keeps its entries in a vector.
//!
//! * A decoded map keeps the order its entries arrived in, so that it
//!   re-encodes byte for byte ([`Map::is_received_order`]).
//! * A map built or changed in Rust is encoded in the order the BEAM itself
//!   would use (see `encode_order`): maps of up to
//!   [`MAP_SMALL_MAP_LIMIT`] keys (the BEAM's "flatmaps") in Erlang's map
//!   key order, larger ones (the BEAM's HAMTs) in the order of OTP 25's
//!   internal hash. That hash is reproduced exactly for keys made of
//!   integers, floats, binaries, bitstrings, lists, tuples and small maps of
//!   those. It cannot be reproduced for keys that contain atoms, pids, ports,
//!   references or funs, because the BEAM hashes those by their address in
//!   its own tables; such large maps are encoded in key order, which the
//!   BEAM accepts just the same (only the bytes differ from what the BEAM
//!   itself would write).
//!
//! Lookups scan small maps linearly and use a hash index, built on first
//! use, for maps of more than [`LINEAR_SCAN_MAX`] entries, so building a map
//! of `n` entries costs O(n), not O(n²).
//!
//! Map key order (the BEAM's "exact" term order) is Erlang's term order
//! except that every integer sorts before every float: `2 < 1.0` as keys.
//! The key-sorted order of each map is computed once, when first needed
//! (comparison, hashing, printing, encoding), and cached.

use super::Term;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::OnceLock;

/// Largest map the BEAM stores as a sorted "flatmap" (`MAP_SMALL_MAP_LIMIT`
/// in OTP's `erl_map.h`); larger maps are HAMTs ordered by hash.
pub const MAP_SMALL_MAP_LIMIT: usize = 32;

/// Maps up to this many entries are searched linearly: comparing a handful
/// of (usually atom) keys is cheaper than hashing one.
pub const LINEAR_SCAN_MAX: usize = 16;

/// An Erlang map. Keys are compared with exact equality (`=:=`), so `1` and
/// `1.0` are different keys, as in Erlang.
#[derive(Default)]
pub struct Map {
    entries: Vec<(Term, Term)>,
    /// True while the entries are in the order they were received in; false
    /// once Rust code has built or changed the map.
    received_order: bool,
    /// Derived data, computed on first use. Boxed so that `Map` (and with it
    /// `Term`) stays small.
    aux: OnceLock<Box<Aux>>,
}

/// Caches derived from the keys. All of it is invalidated when keys change.
#[derive(Default)]
struct Aux {
    /// Permutation that lists the entries in map key order; `None` when the
    /// stored order already is key order.
    sorted: OnceLock<Option<Box<[u32]>>>,
    /// The BEAM's HAMT order, for maps larger than `MAP_SMALL_MAP_LIMIT`;
    /// `None` when it cannot be reproduced (then key order is used).
    hamt: OnceLock<Option<Box<[u32]>>>,
    /// Hash index for maps larger than `LINEAR_SCAN_MAX`.
    index: OnceLock<Index>,
}

/// Hash index over the keys: hash → entry positions.
struct Index {
    state: RandomState,
    /// The hash of each entry's key, by position.
    hashes: Vec<u64>,
    table: HashMap<u64, Bucket, BuildHasherDefault<PassThrough>>,
}

/// Entry positions whose keys share one 64-bit hash (almost always one).
enum Bucket {
    One(u32),
    Many(Vec<u32>),
}

/// The index keys are already SipHash outputs; hashing them again is waste.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Index {
    fn build(entries: &[(Term, Term)]) -> Index {
        let mut index = Index {
            state: RandomState::new(),
            hashes: Vec::with_capacity(entries.len()),
            table: HashMap::with_capacity_and_hasher(entries.len(), Default::default()),
        };
        for (k, _) in entries {
            let h = index.state.hash_one(k);
            index.push(h);
        }
        index
    }

    /// Records the entry at the next position, with key hash `h`.
    fn push(&mut self, h: u64) {
        let pos = self.hashes.len() as u32;
        self.hashes.push(h);
        match self.table.get_mut(&h) {
            None => {
                self.table.insert(h, Bucket::One(pos));
            }
            Some(Bucket::Many(v)) => v.push(pos),
            Some(b @ Bucket::One(_)) => {
                if let Bucket::One(first) = *b {
                    *b = Bucket::Many(vec![first, pos]);
                }
            }
        }
    }

    fn positions(&self, h: u64) -> &[u32] {
        match self.table.get(&h) {
            None => &[],
            Some(Bucket::One(p)) => std::slice::from_ref(p),
            Some(Bucket::Many(v)) => v,
        }
    }

    /// Mirrors `Vec::swap_remove(pos)` on the entries.
    fn swap_remove(&mut self, pos: usize) {
        let last = self.hashes.len() - 1;
        let h = self.hashes[pos];
        self.unlink(h, pos as u32);
        if pos != last {
            let hl = self.hashes[last];
            if let Some(b) = self.table.get_mut(&hl) {
                match b {
                    Bucket::One(p) => *p = pos as u32,
                    Bucket::Many(v) => v.iter_mut().filter(|p| **p == last as u32).for_each(|p| {
                        *p = pos as u32;
                    }),
                }
            }
        }
        self.hashes.swap_remove(pos);
    }

    fn unlink(&mut self, h: u64, pos: u32) {
        let empty = match self.table.get_mut(&h) {
            Some(Bucket::One(p)) => *p == pos,
            Some(Bucket::Many(v)) => {
                v.retain(|p| *p != pos);
                v.is_empty()
            }
            None => false,
        };
        if empty {
            self.table.remove(&h);
        }
    }
}

impl Map {
    /// An empty map, `#{}`.
    pub fn new() -> Map {
        Map::default()
    }

    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Map {
        Map {
            entries: Vec::with_capacity(n),
            ..Map::default()
        }
    }

    /// A map whose entries keep the given (wire) order. The caller guarantees
    /// that the keys are distinct (see [`Map::has_duplicate_keys`]).
    #[allow(dead_code)] // for the decoder
    pub(crate) fn from_received(entries: Vec<(Term, Term)>) -> Map {
        Map {
            entries,
            received_order: true,
            aux: OnceLock::new(),
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

    /// The value for `key` (keys compare with `=:=`).
    pub fn get(&self, key: &Term) -> Option<&Term> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// The value for `key`, mutably. Changing a value keeps the map's order.
    pub fn get_mut(&mut self, key: &Term) -> Option<&mut Term> {
        let i = self.position(key)?;
        Some(&mut self.entries[i].1)
    }

    /// True if the map has `key`.
    pub fn contains_key(&self, key: &Term) -> bool {
        self.position(key).is_some()
    }

    /// Inserts or replaces; returns the old value. As in Erlang, a key equal
    /// (`=:=`) to an existing one replaces that entry's value.
    pub fn insert(&mut self, key: Term, value: Term) -> Option<Term> {
        self.received_order = false;
        if let Some(i) = self.position(&key) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        if let Some(aux) = self.aux.get_mut() {
            aux.sorted = OnceLock::new();
            aux.hamt = OnceLock::new();
            if let Some(index) = aux.index.get_mut() {
                let h = index.state.hash_one(&key);
                index.push(h);
            }
        }
        self.entries.push((key, value));
        None
    }

    /// Removes `key`; returns its value. The last entry takes the removed
    /// one's place in the stored order.
    pub fn remove(&mut self, key: &Term) -> Option<Term> {
        let i = self.position(key)?;
        self.received_order = false;
        if let Some(aux) = self.aux.get_mut() {
            aux.sorted = OnceLock::new();
            aux.hamt = OnceLock::new();
            if let Some(index) = aux.index.get_mut() {
                index.swap_remove(i);
            }
        }
        let (_, v) = self.entries.swap_remove(i);
        Some(v)
    }

    /// The entries in stored order: received order for a decoded map,
    /// insertion order for a map built in Rust (see [`Map::remove`]).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Term, &Term)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries in Erlang's map key order (integers before floats, then
    /// the standard term order), which is how the BEAM orders a map of up to
    /// 32 keys.
    pub fn iter_key_order(&self) -> impl ExactSizeIterator<Item = (&Term, &Term)> {
        self.key_order().map(|(k, v)| (k, v))
    }

    /// The entries in the order they are encoded on the wire: received order
    /// for a decoded map; otherwise the order the BEAM itself would use (see
    /// the [module docs](self)).
    pub fn iter_wire_order(&self) -> impl ExactSizeIterator<Item = (&Term, &Term)> {
        self.encode_order().map(|(k, v)| (k, v))
    }

    /// The entries as a slice, in stored order.
    pub fn entries(&self) -> &[(Term, Term)] {
        &self.entries
    }

    pub(crate) fn entries_mut(&mut self) -> impl Iterator<Item = (&mut Term, &mut Term)> {
        // Keys may change through this: drop everything derived from them.
        self.aux = OnceLock::new();
        self.entries.iter_mut().map(|(k, v)| (k, v))
    }

    /// Takes the entries out, in stored order.
    pub fn into_entries(mut self) -> Vec<(Term, Term)> {
        std::mem::take(&mut self.entries)
    }

    /// True if the entries are still in the order they were decoded in.
    pub fn is_received_order(&self) -> bool {
        self.received_order
    }

    /// True if two keys are equal (`=:=`). The BEAM rejects such a map on
    /// decode; `Map` never creates one, but [`Map::from_received`] trusts its
    /// caller.
    #[allow(dead_code)] // for the decoder
    pub(crate) fn has_duplicate_keys(&self) -> bool {
        let view = self.key_order();
        (1..view.len()).any(|i| view.entry(i - 1).0 == view.entry(i).0)
    }

    /// The entries in the order the BEAM would encode them: received order
    /// for a decoded map; otherwise key order for up to
    /// [`MAP_SMALL_MAP_LIMIT`] keys and the BEAM's HAMT order above that
    /// (key order when that order cannot be reproduced, see the module docs).
    pub(crate) fn encode_order(&self) -> Order<'_> {
        if self.received_order {
            return Order::stored(&self.entries);
        }
        self.beam_order()
    }

    /// The order in which `io:format("~p")` on the BEAM lists the entries:
    /// key order for a small map; for a large one the reverse of its HAMT
    /// order (received order for a decoded map, which came from a HAMT).
    pub(crate) fn print_order(&self) -> Order<'_> {
        if self.entries.len() <= MAP_SMALL_MAP_LIMIT {
            return self.key_order();
        }
        let mut order = self.encode_order();
        order.reversed = true;
        order
    }

    /// The BEAM's order for this map's size, ignoring received order.
    fn beam_order(&self) -> Order<'_> {
        if self.entries.len() <= MAP_SMALL_MAP_LIMIT {
            return self.key_order();
        }
        let aux = self.aux();
        let hamt = aux.hamt.get_or_init(|| {
            // Key order first: the HAMT order of keys that contain maps
            // hashes those maps in key order.
            let _ = self.sorted_perm();
            super::beam_hash::hamt_order(&self.entries)
        });
        match hamt {
            Some(perm) => Order::permuted(&self.entries, perm),
            None => self.key_order(),
        }
    }

    /// The entries in map key order.
    pub(crate) fn key_order(&self) -> Order<'_> {
        match self.sorted_perm() {
            Some(perm) => Order::permuted(&self.entries, perm),
            None => Order::stored(&self.entries),
        }
    }

    fn aux(&self) -> &Aux {
        self.aux.get_or_init(Box::default)
    }

    fn has_sorted(&self) -> bool {
        self.entries.len() < 2 || self.aux.get().is_some_and(|a| a.sorted.get().is_some())
    }

    /// The key-order permutation (`None`: stored order is key order).
    ///
    /// Sorting compares keys, and keys may hold maps whose own key order is
    /// then needed. To keep the call stack flat whatever the nesting, every
    /// map inside the keys is sorted first, innermost first, so that the
    /// comparisons below never have to sort anything themselves.
    fn sorted_perm(&self) -> Option<&[u32]> {
        if self.entries.len() < 2 {
            return None;
        }
        let aux = self.aux();
        if let Some(p) = aux.sorted.get() {
            return p.as_deref();
        }
        let mut pending: Vec<&Map> = Vec::new();
        let mut stack: Vec<&Term> = self.entries.iter().map(|(k, _)| k).collect();
        while let Some(t) = stack.pop() {
            match t {
                Term::Map(m) => {
                    if !m.has_sorted() {
                        pending.push(m);
                        stack.extend(m.entries.iter().map(|(k, _)| k));
                    }
                    stack.extend(m.entries.iter().map(|(_, v)| v));
                }
                Term::Tuple(v) | Term::List(v) => stack.extend(v),
                Term::ImproperList(v, tail) => {
                    stack.extend(v);
                    stack.push(tail);
                }
                Term::Fun(f) => stack.extend(f.free_vars()),
                _ => {}
            }
        }
        // A map found later in the walk is nested inside (or beside) the
        // ones found earlier, never around them.
        for m in pending.iter().rev() {
            m.aux().sorted.get_or_init(|| compute_key_order(&m.entries));
        }
        aux.sorted
            .get_or_init(|| compute_key_order(&self.entries))
            .as_deref()
    }

    /// Position of `key` in the stored entries.
    fn position(&self, key: &Term) -> Option<usize> {
        if self.entries.len() <= LINEAR_SCAN_MAX {
            return self.entries.iter().position(|(k, _)| k == key);
        }
        let index = self.aux().index.get_or_init(|| Index::build(&self.entries));
        let h = index.state.hash_one(key);
        index
            .positions(h)
            .iter()
            .map(|&p| p as usize)
            .find(|&p| self.entries.get(p).is_some_and(|(k, _)| k == key))
    }

    /// Copies the derived key order into a clone whose keys are equal.
    pub(crate) fn clone_shell(&self, entries: Vec<(Term, Term)>) -> Map {
        let aux = OnceLock::new();
        if let Some(sorted) = self.aux.get().and_then(|a| a.sorted.get()) {
            let copy = Aux::default();
            let _ = copy.sorted.set(sorted.clone());
            let _ = aux.set(Box::new(copy));
        }
        Map {
            entries,
            received_order: self.received_order,
            aux,
        }
    }
}

/// Sorts entry positions by key in map key order; `None` if already sorted.
fn compute_key_order(entries: &[(Term, Term)]) -> Option<Box<[u32]>> {
    use std::cmp::Ordering::Greater;
    let key_cmp = |a: &Term, b: &Term| super::order::key_cmp(a, b);
    if entries
        .windows(2)
        .all(|w| key_cmp(&w[0].0, &w[1].0) != Greater)
    {
        return None;
    }
    let mut perm: Vec<u32> = (0..entries.len() as u32).collect();
    perm.sort_by(|&a, &b| key_cmp(&entries[a as usize].0, &entries[b as usize].0));
    Some(perm.into_boxed_slice())
}

/// A map's entries in some order: stored, or through a permutation,
/// possibly reversed.
#[derive(Clone, Copy)]
pub(crate) struct Order<'a> {
    entries: &'a [(Term, Term)],
    perm: Option<&'a [u32]>,
    reversed: bool,
    front: usize,
    back: usize,
}

impl<'a> Order<'a> {
    fn stored(entries: &'a [(Term, Term)]) -> Order<'a> {
        Order {
            entries,
            perm: None,
            reversed: false,
            front: 0,
            back: entries.len(),
        }
    }

    fn permuted(entries: &'a [(Term, Term)], perm: &'a [u32]) -> Order<'a> {
        Order {
            perm: Some(perm),
            ..Order::stored(entries)
        }
    }

    /// The `i`-th entry in this order (from the start, ignoring iteration).
    pub(crate) fn entry(&self, i: usize) -> &'a (Term, Term) {
        let i = if self.reversed {
            self.entries.len() - 1 - i
        } else {
            i
        };
        let j = match self.perm {
            Some(p) => p[i] as usize,
            None => i,
        };
        &self.entries[j]
    }
}

impl<'a> Iterator for Order<'a> {
    type Item = &'a (Term, Term);
    fn next(&mut self) -> Option<&'a (Term, Term)> {
        if self.front >= self.back {
            return None;
        }
        let e = self.entry(self.front);
        self.front += 1;
        Some(e)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Order<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        Some(self.entry(self.back))
    }
}

impl ExactSizeIterator for Order<'_> {}

impl FromIterator<(Term, Term)> for Map {
    /// Later duplicates replace earlier ones, as in `maps:from_list/1`.
    fn from_iter<I: IntoIterator<Item = (Term, Term)>>(iter: I) -> Map {
        let iter = iter.into_iter();
        let mut m = Map::with_capacity(iter.size_hint().0);
        m.extend(iter);
        m
    }
}

impl Extend<(Term, Term)> for Map {
    fn extend<I: IntoIterator<Item = (Term, Term)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(i: i64) -> Term {
        Term::Int(i)
    }

    #[test]
    fn insert_get_remove_small_and_large() {
        for n in [3i64, 16, 17, 40, 1000] {
            let mut m: Map = (0..n).map(|i| (int(i), int(i * 10))).collect();
            assert_eq!(m.len(), n as usize);
            for i in 0..n {
                assert_eq!(m.get(&int(i)), Some(&int(i * 10)), "n={n} i={i}");
            }
            assert_eq!(m.get(&int(n)), None);
            // 1.0 is not the key 1.
            assert_eq!(m.get(&Term::Float(1.0)), None);
            assert_eq!(m.insert(int(1), int(-1)), Some(int(10)));
            assert_eq!(m.len(), n as usize);
            for i in (0..n).step_by(2) {
                assert_eq!(
                    m.remove(&int(i)),
                    Some(if i == 1 { int(-1) } else { int(i * 10) })
                );
            }
            for i in 0..n {
                let want = if i % 2 == 0 {
                    None
                } else if i == 1 {
                    Some(int(-1))
                } else {
                    Some(int(i * 10))
                };
                assert_eq!(m.get(&int(i)).cloned(), want, "n={n} i={i}");
            }
        }
    }

    #[test]
    fn later_duplicates_win() {
        let m: Map = [(int(1), int(1)), (int(1), int(2))].into_iter().collect();
        assert_eq!(m.len(), 1);
        assert_eq!(m.get(&int(1)), Some(&int(2)));
    }

    #[test]
    fn key_order_puts_integers_before_floats() {
        let m: Map = [
            (Term::Float(0.5), int(0)),
            (Term::atom("a"), int(0)),
            (int(2), int(0)),
            (Term::Float(1.0), int(0)),
            (int(1), int(0)),
        ]
        .into_iter()
        .collect();
        let keys: Vec<String> = m.iter_key_order().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["1", "2", "0.5", "1.0", "a"]);
    }

    #[test]
    fn received_order_is_kept_until_changed() {
        let mut m = Map::from_received(vec![(int(2), int(0)), (int(1), int(0))]);
        let order: Vec<&Term> = m.encode_order().map(|(k, _)| k).collect();
        assert_eq!(order, [&int(2), &int(1)]);
        m.insert(int(3), int(0));
        let order: Vec<&Term> = m.encode_order().map(|(k, _)| k).collect();
        assert_eq!(order, [&int(1), &int(2), &int(3)]);
    }

    #[test]
    fn duplicate_keys_are_detected() {
        let m = Map::from_received(vec![(int(2), int(0)), (int(1), int(0)), (int(2), int(1))]);
        assert!(m.has_duplicate_keys());
        let m = Map::from_received(vec![(int(2), int(0)), (Term::Float(2.0), int(0))]);
        assert!(!m.has_duplicate_keys());
    }

    #[test]
    fn building_a_large_map_is_not_quadratic() {
        let n = 200_000i64;
        let start = std::time::Instant::now();
        let m: Map = (0..n).map(|i| (int(i), int(i))).collect();
        assert_eq!(m.len(), n as usize);
        assert_eq!(m.get(&int(n - 1)), Some(&int(n - 1)));
        // Quadratic insertion would take minutes; linear takes milliseconds.
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn map_stays_small() {
        assert!(std::mem::size_of::<Map>() <= 48);
        assert!(std::mem::size_of::<Term>() <= 56);
    }
}
