//! Erlang maps.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]
//!
//! A [`Map`] keeps its entries in a vector, plus the permutation that lists
//! them in map key order (Erlang's term order with every integer before
//! every float: `2 < 1.0` as keys).
//!
//! * A decoded map keeps the order its entries arrived in, so that it
//!   re-encodes byte for byte ([`Map::is_received_order`]).
//! * A map built or changed in Rust is encoded in the order the BEAM itself
//!   would use (see [`Map::iter_wire_order`]): maps of up to
//!   [`MAP_SMALL_MAP_LIMIT`] keys (the BEAM's "flatmaps") in map key order,
//!   larger ones (the BEAM's HAMTs) in the order of OTP 25's internal hash.
//!   That hash is reproduced exactly for keys made of integers, floats,
//!   binaries, bitstrings, lists, tuples and small maps of those. It cannot
//!   be reproduced for keys that contain atoms, pids, ports, references or
//!   funs, because the BEAM hashes those by their address in its own
//!   tables; such large maps are encoded in key order, which the BEAM reads
//!   just the same (only the bytes differ from what the BEAM would write).
//!
//! The key order is computed when the map is made, as the BEAM sorts its
//! small maps when it makes them. Since a map's keys are complete terms
//! before the map exists, comparing keys never has to sort anything, which
//! keeps every comparison free of recursion. Lookups binary-search the key
//! order (linear scan for tiny maps); [`FromIterator`] sorts once, so
//! building a map of `n` entries costs O(n log n) comparisons. A single
//! [`Map::insert`] costs O(log n) comparisons plus moving O(n) 4-byte
//! positions. `Map` has no interior mutability, so terms are safe keys for
//! `HashMap`/`BTreeMap` (and clippy's `mutable_key_type` stays quiet).

use super::Term;
use super::order::key_cmp;
use std::cmp::Ordering;

/// Largest map the BEAM stores as a sorted "flatmap" (`MAP_SMALL_MAP_LIMIT`
/// in OTP's `erl_map.h`); larger maps are HAMTs ordered by hash.
pub const MAP_SMALL_MAP_LIMIT: usize = 32;

/// Maps up to this many entries are searched linearly: comparing a handful
/// of (usually atom) keys for equality beats a binary search's ordered
/// comparisons.
pub const LINEAR_SCAN_MAX: usize = 8;

/// An Erlang map. Keys are compared with exact equality (`=:=`), so `1` and
/// `1.0` are different keys, as in Erlang.
#[derive(Default)]
pub struct Map {
    entries: Vec<(Term, Term)>,
    /// Entry positions in map key order; empty when the entries already are
    /// in key order (always so for a small map the BEAM sent).
    sorted: Box<[u32]>,
    /// True while the entries are in the order they were received in; false
    /// once Rust code has built or changed the map.
    received_order: bool,
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
    /// that the keys are distinct (the decoder uses
    /// [`Map::from_received_checked`], which checks).
    #[allow(dead_code)] // for the decoder
    pub(crate) fn from_received(entries: Vec<(Term, Term)>) -> Map {
        let sorted = key_order_of(&entries);
        Map {
            entries,
            sorted,
            received_order: true,
        }
    }

    /// A map whose entries keep the given (wire) order, or `None` if two of
    /// its keys are equal (`=:=`), which the BEAM rejects in a received map.
    /// One pass finds both the key order and the duplicates.
    pub(crate) fn from_received_checked(entries: Vec<(Term, Term)>) -> Option<Map> {
        let sorted = checked_key_order_of(&entries).ok()?;
        Some(Map {
            entries,
            sorted,
            received_order: true,
        })
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
    // AUDIT: indexes only with positions this map computed from its own entries
    // (positions, ranks, permutations of 0..len), never with wire data.
    #[allow(clippy::indexing_slicing)]
    pub fn get(&self, key: &Term) -> Option<&Term> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// The value for `key`, mutably. Changing a value keeps the map's order.
    // AUDIT: indexes only with positions this map computed from its own entries
    // (positions, ranks, permutations of 0..len), never with wire data.
    #[allow(clippy::indexing_slicing)]
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
    // AUDIT: indexes only with positions this map computed from its own entries
    // (positions, ranks, permutations of 0..len), never with wire data.
    #[allow(clippy::indexing_slicing)]
    pub fn insert(&mut self, key: Term, value: Term) -> Option<Term> {
        self.received_order = false;
        let rank = match self.rank(&key) {
            Ok(rank) => {
                let i = self.at_rank(rank);
                return Some(std::mem::replace(&mut self.entries[i].1, value));
            }
            Err(rank) => rank,
        };
        let pos = self.entries.len() as u32;
        self.entries.push((key, value));
        if self.sorted.is_empty() && rank == pos as usize {
            // Appended in key order: the stored order stays sorted.
            return None;
        }
        let mut perm = self.permutation(pos as usize);
        perm.insert(rank, pos);
        self.sorted = perm.into_boxed_slice();
        None
    }

    /// Removes `key`; returns its value. The last entry takes the removed
    /// one's place in the stored order.
    pub fn remove(&mut self, key: &Term) -> Option<Term> {
        let rank = self.rank(key).ok()?;
        self.received_order = false;
        let last = self.entries.len() - 1;
        let mut perm = self.permutation(self.entries.len());
        let pos = perm.remove(rank) as usize;
        let (_, value) = self.entries.swap_remove(pos);
        if pos != last {
            if let Some(p) = perm.iter_mut().find(|p| **p as usize == last) {
                *p = pos as u32;
            }
        }
        self.sorted = if is_identity(&perm) {
            Box::default()
        } else {
            perm.into_boxed_slice()
        };
        Some(value)
    }

    /// The entries in stored order: received order for a decoded map,
    /// insertion order for a map built in Rust (see [`Map::remove`]).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Term, &Term)> + ExactSizeIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries in Erlang's map key order (integers before floats, then
    /// the standard term order), which is how the BEAM orders a map of up to
    /// 32 keys.
    pub fn iter_key_order(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&Term, &Term)> + ExactSizeIterator {
        self.key_order().map(|(k, v)| (k, v))
    }

    /// The entries in the order they are encoded on the wire: received order
    /// for a decoded map; otherwise the order the BEAM itself would use (see
    /// the [module docs](crate::term)). For a large map this hashes every
    /// key.
    pub fn iter_wire_order(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&Term, &Term)> + ExactSizeIterator {
        self.encode_order().map(|(k, v)| (k, v))
    }

    /// The entries as a slice, in stored order.
    pub fn entries(&self) -> &[(Term, Term)] {
        &self.entries
    }

    /// The entries themselves, for the drop in `walk.rs`, which can free
    /// entries that own nothing without visiting them one by one.
    #[inline]
    pub(crate) fn entries_for_drop(&mut self) -> &mut Vec<(Term, Term)> {
        &mut self.entries
    }

    /// Takes the entries out, in stored order.
    pub fn into_entries(mut self) -> Vec<(Term, Term)> {
        std::mem::take(&mut self.entries)
    }

    /// True if the entries are still in the order they were decoded in.
    pub fn is_received_order(&self) -> bool {
        self.received_order
    }

    /// True if two keys are equal (`=:=`), checked pairwise along the key
    /// order: the reference the tests hold [`Map::from_received_checked`]'s
    /// one-pass check to.
    #[cfg(test)]
    pub(crate) fn has_duplicate_keys(&self) -> bool {
        let keys: Vec<&Term> = self.key_order().map(|(k, _)| k).collect();
        keys.windows(2)
            .any(|w| matches!(w, [a, b] if key_cmp(a, b) == Ordering::Equal))
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
        match super::beam_hash::hamt_order(&self.entries) {
            Some(perm) => Order::owned(&self.entries, perm),
            None => self.key_order(),
        }
    }

    /// The entries in map key order.
    pub(crate) fn key_order(&self) -> Order<'_> {
        if self.sorted.is_empty() {
            Order::stored(&self.entries)
        } else {
            Order::permuted(&self.entries, &self.sorted)
        }
    }

    /// The stored position of the entry at `rank` in key order.
    fn at_rank(&self, rank: usize) -> usize {
        match self.sorted.get(rank) {
            Some(&p) => p as usize,
            None => rank,
        }
    }

    /// The key-order permutation of the first `n` entries, as a vector.
    fn permutation(&self, n: usize) -> Vec<u32> {
        if self.sorted.is_empty() {
            (0..n as u32).collect()
        } else {
            self.sorted.to_vec()
        }
    }

    /// `Ok(rank)` of `key` in key order, or `Err(rank)` where it would go.
    // AUDIT: indexes only with positions this map computed from its own entries
    // (positions, ranks, permutations of 0..len), never with wire data.
    #[allow(clippy::indexing_slicing)]
    fn rank(&self, key: &Term) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.entries.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match key_cmp(&self.entries[self.at_rank(mid)].0, key) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Stored position of `key`.
    fn position(&self, key: &Term) -> Option<usize> {
        if self.entries.len() <= LINEAR_SCAN_MAX {
            return self.entries.iter().position(|(k, _)| k == key);
        }
        self.rank(key).ok().map(|r| self.at_rank(r))
    }

    /// A map with these entries, equal keys to `self`'s in the same stored
    /// order (a clone): the key order carries over.
    pub(crate) fn clone_shell(&self, entries: Vec<(Term, Term)>) -> Map {
        Map {
            entries,
            sorted: self.sorted.clone(),
            received_order: self.received_order,
        }
    }

    /// Builds a map from entries that may repeat keys: each key keeps its
    /// first position and takes its last value (as `maps:from_list/1`).
    // AUDIT: indexes only with positions this map computed from its own entries
    // (positions, ranks, permutations of 0..len), never with wire data.
    #[allow(clippy::indexing_slicing)]
    fn from_entries(mut items: Vec<(Term, Term)>) -> Map {
        let mut idx: Vec<u32> = (0..items.len() as u32).collect();
        idx.sort_by(|&a, &b| key_cmp(&items[a as usize].0, &items[b as usize].0).then(a.cmp(&b)));
        let mut keep = vec![true; items.len()];
        let mut r = 0;
        while r < idx.len() {
            let mut end = r + 1;
            while end < idx.len()
                && key_cmp(&items[idx[r] as usize].0, &items[idx[end] as usize].0)
                    == Ordering::Equal
            {
                end += 1;
            }
            if end - r > 1 {
                let (first, last) = (idx[r] as usize, idx[end - 1] as usize);
                let value = std::mem::take(&mut items[last].1);
                items[first].1 = value;
                for &dup in &idx[r + 1..end] {
                    keep[dup as usize] = false;
                }
            }
            r = end;
        }
        let mut new_pos = vec![0u32; items.len()];
        let mut entries = Vec::with_capacity(keep.iter().filter(|k| **k).count());
        for (i, item) in items.into_iter().enumerate() {
            if keep[i] {
                new_pos[i] = entries.len() as u32;
                entries.push(item);
            }
        }
        let perm: Vec<u32> = idx
            .into_iter()
            .filter(|&i| keep[i as usize])
            .map(|i| new_pos[i as usize])
            .collect();
        Map {
            entries,
            sorted: if is_identity(&perm) {
                Box::default()
            } else {
                perm.into_boxed_slice()
            },
            received_order: false,
        }
    }
}

fn is_identity(perm: &[u32]) -> bool {
    perm.iter().enumerate().all(|(i, &p)| p as usize == i)
}

/// Entry positions in key order; empty if the entries already are sorted.
/// Equal keys still give a valid order (they are neighbours in it).
fn key_order_of(entries: &[(Term, Term)]) -> Box<[u32]> {
    checked_key_order_of(entries).unwrap_or_else(|sorted| sorted)
}

/// Entry positions in key order (empty when already in key order): `Ok`
/// when the keys are distinct, `Err` when two are equal.
type KeyOrder = Result<Box<[u32]>, Box<[u32]>>;

/// The key order of `entries` (empty when they already are in key order),
/// as `Err` if two keys are equal (`=:=`): equal keys are neighbours in key
/// order, so the check costs one pass over an order computed anyway.
// AUDIT: indexes only with positions computed from `entries` itself
// (permutations of 0..len), never with wire data.
#[allow(clippy::indexing_slicing)]
fn checked_key_order_of(entries: &[(Term, Term)]) -> KeyOrder {
    let mut in_order = true;
    let mut distinct = true;
    for w in entries.windows(2) {
        if let [(a, _), (b, _)] = w {
            match key_cmp(a, b) {
                Ordering::Less => {}
                Ordering::Equal => distinct = false,
                Ordering::Greater => {
                    in_order = false;
                    break;
                }
            }
        }
    }
    if in_order {
        return if distinct {
            Ok(Box::default())
        } else {
            Err(Box::default())
        };
    }
    // Integer keys, as large maps from the BEAM often have (in hash order):
    // sort the values themselves, which is key order for integers. Each key
    // is packed with its position into one number whose unsigned order is
    // (key, position) order, so the sort compares single numbers: a `u64`
    // for keys in the `i32` range, sorted on the stack when there are few.
    // Nothing to pack (and no buffer to fill) when the first key is not
    // an integer.
    if let Some((Term::Int(_), _)) = entries.first() {
        if let Some(order) = dense_int_key_order(entries) {
            return Ok(order);
        }
        if let Some(order) = small_int_key_order(entries) {
            return order;
        }
        // Any `i64`: a `u128`. Sized up front (collecting through `Option`
        // gives no size hint, and the vector would grow by doubling).
        let mut packed: Vec<u128> = Vec::with_capacity(entries.len());
        let all_int = entries.iter().zip(0u32..).all(|((k, _), i)| match k {
            Term::Int(x) => {
                packed.push((u128::from((*x as u64) ^ (1 << 63)) << 32) | u128::from(i));
                true
            }
            _ => false,
        });
        if all_int {
            return order_of_packed(&mut packed);
        }
    }
    let mut perm: Vec<u32> = (0..entries.len() as u32).collect();
    perm.sort_by(|&a, &b| key_cmp(&entries[a as usize].0, &entries[b as usize].0));
    let distinct = perm.windows(2).all(|w| match w {
        [a, b] => key_cmp(&entries[*a as usize].0, &entries[*b as usize].0) != Ordering::Equal,
        _ => true,
    });
    let order = perm.into_boxed_slice();
    if distinct { Ok(order) } else { Err(order) }
}

/// The most keys, and the widest span of key values, that
/// [`dense_int_key_order`] handles: one bit each in a `u64`.
const DENSE_KEYS_MAX: usize = 64;

/// Key order without a sort for integer keys that all lie within
/// `DENSE_KEYS_MAX` of the smallest (ids, indices, enumerations; the BEAM
/// sends maps of more than 32 keys in hash order): a bit per value present,
/// read back lowest first. About a fifth of the instructions of sorting 40
/// keys. `None` for anything else, including a repeated key, which the
/// sort then finds and reports.
fn dense_int_key_order(entries: &[(Term, Term)]) -> Option<Box<[u32]>> {
    if entries.len() > DENSE_KEYS_MAX {
        return None;
    }
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for (k, _) in entries {
        let Term::Int(x) = k else { return None };
        (lo, hi) = (lo.min(*x), hi.max(*x));
    }
    if hi.checked_sub(lo)? >= DENSE_KEYS_MAX as i64 {
        return None;
    }
    let mut seen = 0u64;
    let mut position = [0u32; DENSE_KEYS_MAX];
    for ((k, _), i) in entries.iter().zip(0u32..) {
        let Term::Int(x) = k else { return None };
        // In 0..DENSE_KEYS_MAX: `lo <= x <= hi` and the span was checked.
        let at = (x - lo) as u32;
        let bit = 1u64 << at;
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        *position.get_mut(at as usize)? = i;
    }
    let mut order = Vec::with_capacity(entries.len());
    while seen != 0 {
        order.push(*position.get(seen.trailing_zeros() as usize)?);
        seen &= seen - 1;
    }
    Some(order.into_boxed_slice())
}

/// Maps of up to this many integer keys are put in key order in a buffer
/// on the stack (512 bytes) instead of a heap vector.
const STACK_SORT_MAX: usize = 64;

/// [`checked_key_order_of`] for keys that are all integers in the `i32`
/// range (`None` otherwise): each key, made unsigned by flipping its sign
/// bit, is packed above its position into a `u64`.
fn small_int_key_order(entries: &[(Term, Term)]) -> Option<KeyOrder> {
    let mut on_stack = [0u64; STACK_SORT_MAX];
    let mut on_heap = Vec::new();
    let packed: &mut [u64] = match on_stack.get_mut(..entries.len()) {
        Some(p) => p,
        None => {
            on_heap.resize(entries.len(), 0);
            &mut on_heap
        }
    };
    for ((slot, (k, _)), i) in packed.iter_mut().zip(entries).zip(0u32..) {
        let Term::Int(x) = k else { return None };
        let x = i32::try_from(*x).ok()?;
        *slot = (u64::from((x as u32) ^ (1 << 31)) << 32) | u64::from(i);
    }
    Some(order_of_packed(packed))
}

/// Sorts keys packed above their 32-bit positions and reads the key order
/// off them; equal keys are neighbours once sorted.
fn order_of_packed<P: Copy + Ord + Into<u128>>(packed: &mut [P]) -> KeyOrder {
    packed.sort_unstable();
    let distinct = packed.windows(2).all(|w| match w {
        [a, b] => (*a).into() >> 32 != (*b).into() >> 32,
        _ => true,
    });
    let order: Box<[u32]> = packed.iter().map(|&p| p.into() as u32).collect();
    if distinct { Ok(order) } else { Err(order) }
}

/// A map's entries in some order: stored, or through a permutation
/// (borrowed or computed), possibly reversed.
#[derive(Clone)]
pub(crate) struct Order<'a> {
    entries: &'a [(Term, Term)],
    perm: Perm<'a>,
    reversed: bool,
    front: usize,
    back: usize,
}

#[derive(Clone)]
enum Perm<'a> {
    Identity,
    Borrowed(&'a [u32]),
    Owned(Box<[u32]>),
}

impl<'a> Order<'a> {
    fn stored(entries: &'a [(Term, Term)]) -> Order<'a> {
        Order {
            entries,
            perm: Perm::Identity,
            reversed: false,
            front: 0,
            back: entries.len(),
        }
    }

    fn permuted(entries: &'a [(Term, Term)], perm: &'a [u32]) -> Order<'a> {
        Order {
            perm: Perm::Borrowed(perm),
            ..Order::stored(entries)
        }
    }

    fn owned(entries: &'a [(Term, Term)], perm: Box<[u32]>) -> Order<'a> {
        Order {
            perm: Perm::Owned(perm),
            ..Order::stored(entries)
        }
    }

    /// The `i`-th entry in this order (from the start, ignoring iteration).
    // AUDIT: indexes only with positions this map computed from its own entries
    // (positions, ranks, permutations of 0..len), never with wire data.
    #[allow(clippy::indexing_slicing)]
    pub(crate) fn entry(&self, i: usize) -> &'a (Term, Term) {
        let i = if self.reversed {
            self.entries.len() - 1 - i
        } else {
            i
        };
        let j = match &self.perm {
            Perm::Identity => i,
            Perm::Borrowed(p) => p[i] as usize,
            Perm::Owned(p) => p[i] as usize,
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
    /// Sorts once: O(n log n) comparisons.
    fn from_iter<I: IntoIterator<Item = (Term, Term)>>(iter: I) -> Map {
        let items: Vec<(Term, Term)> = iter.into_iter().collect();
        Map::from_entries(items)
    }
}

impl Extend<(Term, Term)> for Map {
    /// As [`Map::insert`] for each pair; a large batch is merged with one
    /// sort instead.
    fn extend<I: IntoIterator<Item = (Term, Term)>>(&mut self, iter: I) {
        let items: Vec<(Term, Term)> = iter.into_iter().collect();
        if items.len() * 8 < self.len() {
            for (k, v) in items {
                self.insert(k, v);
            }
            return;
        }
        let mut all = std::mem::take(&mut self.entries);
        all.extend(items);
        *self = Map::from_entries(all);
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
    fn checked_construction_finds_duplicates_on_every_path() {
        let atom = |s: &str| Term::Atom(crate::Atom::from(s));
        let cases: Vec<(Vec<(Term, Term)>, bool)> = vec![
            // Already in key order (a flatmap as the BEAM sends it).
            (vec![(int(1), int(0)), (int(2), int(0))], true),
            (vec![(int(1), int(0)), (int(1), int(0))], false),
            // Integer keys out of order (the packed sort), including the
            // extremes whose packing must keep signed order.
            (
                vec![
                    (int(i64::MAX), int(0)),
                    (int(i64::MIN), int(0)),
                    (int(-1), int(0)),
                ],
                true,
            ),
            (
                vec![(int(5), int(0)), (int(-3), int(0)), (int(5), int(1))],
                false,
            ),
            // Keys in the `i32` range (the `u64` packing), on the stack and,
            // past `STACK_SORT_MAX`, on the heap; then one key past `i32`
            // in an otherwise small map (back to the `u128` packing).
            (
                vec![
                    (int(i64::from(i32::MAX)), int(0)),
                    (int(0), int(0)),
                    (int(i64::from(i32::MIN)), int(0)),
                    (int(-1), int(0)),
                ],
                true,
            ),
            (
                vec![
                    (int(i64::from(i32::MIN)), int(0)),
                    (int(7), int(0)),
                    (int(i64::from(i32::MIN)), int(1)),
                ],
                false,
            ),
            ((0..200).rev().map(|i| (int(i * 3), int(i))).collect(), true),
            (
                (0..200).rev().map(|i| (int(i % 150), int(i))).collect(),
                false,
            ),
            (
                vec![
                    (int(3), int(0)),
                    (int(i64::from(i32::MAX) + 1), int(0)),
                    (int(1), int(0)),
                ],
                true,
            ),
            // Integer keys within `DENSE_KEYS_MAX` of each other (the bit
            // mask, no sort): the widest span, negative keys, all 64 keys,
            // a repeat; then one past each limit (back to the sort).
            (
                vec![(int(63), int(0)), (int(0), int(0)), (int(40), int(0))],
                true,
            ),
            ((-10..=10).rev().map(|i| (int(i), int(i))).collect(), true),
            (
                (0..64).rev().map(|i| (int(i * 7 % 64), int(i))).collect(),
                true,
            ),
            (
                vec![
                    (int(3), int(0)),
                    (int(1), int(0)),
                    (int(2), int(0)),
                    (int(3), int(1)),
                ],
                false,
            ),
            (
                vec![(int(64), int(0)), (int(0), int(0)), (int(40), int(0))],
                true,
            ),
            ((0..65).rev().map(|i| (int(i), int(i))).collect(), true),
            // Mixed keys out of order (the general sort).
            (
                vec![
                    (atom("b"), int(0)),
                    (int(2), int(0)),
                    (Term::Float(2.0), int(0)),
                ],
                true,
            ),
            (
                vec![(atom("b"), int(0)), (int(2), int(0)), (atom("b"), int(1))],
                false,
            ),
        ];
        for (entries, distinct) in cases {
            let plain = Map::from_received(entries.clone());
            assert_eq!(!plain.has_duplicate_keys(), distinct, "{entries:?}");
            let checked = Map::from_received_checked(entries.clone());
            assert_eq!(checked.is_some(), distinct, "{entries:?}");
            if let Some(m) = checked {
                let a: Vec<&Term> = m.iter_key_order().map(|(k, _)| k).collect();
                let b: Vec<&Term> = plain.iter_key_order().map(|(k, _)| k).collect();
                assert_eq!(a, b);
                let keys: Vec<&Term> = m.iter_key_order().map(|(k, _)| k).collect();
                assert!(
                    keys.windows(2)
                        .all(|w| key_cmp(w[0], w[1]) == Ordering::Less)
                );
            }
        }
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
    fn inserting_one_by_one_stays_fast() {
        // Keys in a scrambled order, so that the key order is a real
        // permutation; each insert is a binary search plus a short memmove.
        let n = 20_000i64;
        let start = std::time::Instant::now();
        let mut m = Map::new();
        for i in 0..n {
            m.insert(int((i * 7919) % n), int(i));
        }
        assert_eq!(m.len(), n as usize);
        let keys: Vec<i64> = m
            .iter_key_order()
            .map(|(k, _)| k.as_i64().unwrap())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for i in 0..n {
            assert!(m.contains_key(&int(i)));
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn extend_merges_and_later_values_win() {
        let mut m: Map = (0..10).map(|i| (int(i), int(0))).collect();
        m.extend((5..30).map(|i| (int(i), int(1))));
        assert_eq!(m.len(), 30);
        assert_eq!(m.get(&int(4)), Some(&int(0)));
        assert_eq!(m.get(&int(5)), Some(&int(1)));
        let stored: Vec<i64> = m.iter().map(|(k, _)| k.as_i64().unwrap()).collect();
        assert_eq!(stored, (0..30).collect::<Vec<_>>());
    }

    #[test]
    fn map_stays_small() {
        assert!(std::mem::size_of::<Map>() <= 48);
        assert!(std::mem::size_of::<Term>() <= 56);
    }
}
