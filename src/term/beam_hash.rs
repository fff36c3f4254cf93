//! OTP 25's internal term hash, to order large maps as the BEAM does.
//!
//! The BEAM stores a map of more than 32 keys as a HAMT indexed by
//! `make_internal_hash(Key, 0)` (`erts/emulator/beam/utils.c`), 4 bits per
//! level, lowest bits first. `term_to_binary` and `maps:to_list` walk that
//! tree with the highest slot first, so the entries come out sorted by the
//! hash's nibbles, level 0 first, in descending order. Checked against
//! OTP 25.2.3 (`tests/interop_text.rs`).
//!
//! The hash is Bob Jenkins' 96-bit mix over the raw term words. Immediate
//! terms (small integers, `[]`) hash their tagged machine word, which is
//! fixed by the term. Atoms, pids, ports, references and funs hash a table
//! index or a pointer inside the running VM, so their hash cannot be known
//! outside it: [`internal_hash`] returns `None` for any key that contains
//! one, and the caller falls back to key order.

use super::Term;
use super::order::Cons;

/// `INTERNAL_HASH_SALT` in `utils.c`: a 32-bit prime mixed into the seed.
const INTERNAL_HASH_SALT: u32 = 3_432_918_353;
/// The golden ratio, `HCONST` in `utils.c`; the other constants are
/// `HCONST * n mod 2^32`, named as in the C source.
const HCONST: u32 = 0x9e37_79b9;
const HCONST_4: u32 = 0x78dd_e6e4;
const HCONST_9: u32 = 0x8ff3_4781;
const HCONST_10: u32 = 0x2e2a_c13a;
const HCONST_11: u32 = 0xcc62_3af3;
const HCONST_12: u32 = 0x6a99_b4ac;
const HCONST_13: u32 = 0x08d1_2e65;
const HCONST_15: u32 = 0x4540_21d7;
const HCONST_16: u32 = 0xe377_9b90;
const HCONST_17: u32 = 0x81af_1549;
const HCONST_18: u32 = 0x1fe6_8f02;
const HCONST_22: u32 = 0x98c4_75e6;

/// Small integers are immediates of 64 - 4 tag bits on a 64-bit BEAM.
const MIN_SMALL: i64 = -(1 << 59);
const MAX_SMALL: i64 = (1 << 59) - 1;
/// The machine word of `[]` on OTP 25 (`NIL` in `erl_term.h`: the
/// `_TAG_IMMED2_NIL` tag alone; checked against `maps:to_list/1` order).
const NIL_WORD: u64 = 0x3b;

/// Bob Jenkins' `mix` (the `MIX` macro); the result is the new `c`.
fn mix(a: u32, b: u32, c: u32) -> u32 {
    mix3(a, b, c).2
}

/// `block_hash` over bytes with initial value `c`.
fn block_hash(bytes: &[u8], init: u32) -> u32 {
    let word = |k: &[u8]| u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
    let (mut a, mut b, mut c) = (HCONST, HCONST, init);
    let mut chunks = bytes.chunks_exact(12);
    for k in &mut chunks {
        a = a.wrapping_add(word(&k[0..4]));
        b = b.wrapping_add(word(&k[4..8]));
        c = c.wrapping_add(word(&k[8..12]));
        // The C macro mixes all three words in place and they carry over.
        (a, b, c) = mix3(a, b, c);
    }
    let rest = chunks.remainder();
    c = c.wrapping_add(bytes.len() as u32);
    for (i, &byte) in rest.iter().enumerate() {
        let v = u32::from(byte);
        match i {
            0..=3 => a = a.wrapping_add(v << (8 * i)),
            4..=7 => b = b.wrapping_add(v << (8 * (i - 4))),
            // The low byte of `c` holds the length.
            _ => c = c.wrapping_add(v << (8 * (i - 7))),
        }
    }
    mix(a, b, c)
}

/// Bob Jenkins' `mix`, returning all three words.
fn mix3(mut a: u32, mut b: u32, mut c: u32) -> (u32, u32, u32) {
    a = a.wrapping_sub(b).wrapping_sub(c) ^ (c >> 13);
    b = b.wrapping_sub(c).wrapping_sub(a) ^ (a << 8);
    c = c.wrapping_sub(a).wrapping_sub(b) ^ (b >> 13);
    a = a.wrapping_sub(b).wrapping_sub(c) ^ (c >> 12);
    b = b.wrapping_sub(c).wrapping_sub(a) ^ (a << 16);
    c = c.wrapping_sub(a).wrapping_sub(b) ^ (b >> 5);
    a = a.wrapping_sub(b).wrapping_sub(c) ^ (c >> 3);
    b = b.wrapping_sub(c).wrapping_sub(a) ^ (a << 10);
    c = c.wrapping_sub(a).wrapping_sub(b) ^ (b >> 15);
    (a, b, c)
}

/// The running hash state of `make_internal_hash`.
struct State(u32);

impl State {
    /// `UINT32_HASH_2(x, y, k)`.
    fn two(&mut self, x: u32, y: u32, k: u32) {
        self.0 = mix(k.wrapping_add(x), k.wrapping_add(y), self.0);
    }
    /// `UINT32_HASH(x, k)`.
    fn one(&mut self, x: u32, k: u32) {
        self.two(x, 0, k);
    }
    /// `CONST_HASH(k)`.
    fn constant(&mut self, k: u32) {
        self.0 = (self.0 ^ k).rotate_left(17);
    }
    /// An immediate term's machine word.
    fn word(&mut self, w: u64) {
        self.two(w as u32, (w >> 32) as u32, HCONST);
    }
    fn bignum(&mut self, negative: bool, digits: &[u64]) {
        let k = if negative { HCONST_10 } else { HCONST_11 };
        for &d in digits {
            self.two(d as u32, (d >> 32) as u32, k);
        }
        if digits.is_empty() {
            self.two(0, 0, k);
        }
    }
}

enum Item<'a> {
    Term(&'a Term),
    /// The rest of a list after an element that is not a byte.
    Rest(Cons<'a>),
    /// `HASH_CDR`: mark that a non-list tail is being hashed.
    Cdr,
}

/// `make_internal_hash(t, salt)` of OTP 25 on a 64-bit BEAM, or `None` when
/// `t` contains a term whose hash depends on the VM's internal tables.
pub(crate) fn internal_hash(t: &Term, salt: u32) -> Option<u32> {
    let mut h = State(salt ^ INTERNAL_HASH_SALT);
    let mut stack: Vec<Item<'_>> = Vec::new();
    let mut item = Item::Term(t);
    loop {
        match item {
            Item::Cdr => h.constant(HCONST_18),
            Item::Rest(cons) => hash_list(cons, &mut h, &mut stack),
            Item::Term(t) => match super::order::canon(t) {
                Term::Int(i) if (MIN_SMALL..=MAX_SMALL).contains(i) => {
                    h.word(((*i as u64) << 4) | 0xf);
                }
                Term::Int(i) => h.bignum(*i < 0, &[i.unsigned_abs()]),
                Term::BigInt(b) => match i64::try_from(b) {
                    Ok(i) if (MIN_SMALL..=MAX_SMALL).contains(&i) => {
                        h.word(((i as u64) << 4) | 0xf)
                    }
                    _ => h.bignum(b.sign() == num_bigint::Sign::Minus, &b.to_u64_digits().1),
                },
                Term::Float(f) => {
                    let f = if *f == 0.0 { 0.0 } else { *f };
                    let bits = f.to_bits();
                    h.two(bits as u32, (bits >> 32) as u32, HCONST_12);
                }
                Term::Binary(b) => h.0 = binary_hash(b, h.0),
                Term::BitString(b) => {
                    let (full, bits) = match b.data.split_last() {
                        Some((last, full)) if (1..8).contains(&b.bits_in_last_byte) => {
                            (full, Some((b.bits_in_last_byte, *last)))
                        }
                        _ => (&b.data[..], None),
                    };
                    h.0 = match bits {
                        Some(_) => block_hash(full, HCONST_13.wrapping_add(h.0)),
                        None => binary_hash(full, h.0),
                    };
                    if let Some((n, last)) = bits {
                        h.two(u32::from(n), u32::from(last >> (8 - n)), HCONST_15);
                    }
                }
                Term::Tuple(v) => {
                    h.one(v.len() as u32, HCONST_9);
                    stack.extend(v.iter().rev().map(Item::Term));
                }
                Term::List(v) if v.is_empty() => h.word(NIL_WORD),
                t @ (Term::List(_) | Term::ImproperList(..)) => {
                    hash_list(Cons::new(t), &mut h, &mut stack)
                }
                Term::Map(m) => {
                    if m.len() > super::map::MAP_SMALL_MAP_LIMIT {
                        return None;
                    }
                    h.one(m.len() as u32, HCONST_16);
                    for (k, v) in m.key_order().rev() {
                        stack.push(Item::Term(v));
                        stack.push(Item::Term(k));
                    }
                }
                Term::Atom(_)
                | Term::Pid(_)
                | Term::Port(_)
                | Term::Ref(_)
                | Term::Fun(_)
                | Term::Export(_) => return None,
            },
        }
        match stack.pop() {
            Some(next) => item = next,
            None => return Some(h.0),
        }
    }
}

/// Hashes a binary (a whole number of bytes) as `make_internal_hash` does.
fn binary_hash(bytes: &[u8], h: u32) -> u32 {
    let con = HCONST_13.wrapping_add(h);
    if bytes.is_empty() {
        con
    } else {
        block_hash(bytes, con)
    }
}

/// The list case: runs of byte elements are packed four to a word; the
/// first other element is hashed next, with the rest of the list saved.
fn hash_list<'a>(mut cons: Cons<'a>, h: &mut State, stack: &mut Vec<Item<'a>>) {
    let (mut count, mut packed) = (0u32, 0u32);
    loop {
        let Some(head) = cons.next() else {
            // Only bytes: hash whatever ends the list, as a plain term.
            if count > 0 {
                h.two(packed, count, HCONST_22);
            }
            stack.push(Item::Term(cons.end().unwrap_or(&NIL)));
            return;
        };
        match super::order::canon(head) {
            Term::Int(b @ 0..=255) => {
                packed = (packed << 8).wrapping_add(*b as u32);
                if count == 3 {
                    h.one(packed, HCONST_4);
                    count = 0;
                    packed = 0;
                } else {
                    count += 1;
                }
            }
            _ => {
                if count > 0 {
                    h.two(packed, count, HCONST_22);
                }
                h.constant(HCONST_17);
                let mut rest = cons;
                if rest.is_done() {
                    stack.push(Item::Term(rest.end().unwrap_or(&NIL)));
                    stack.push(Item::Cdr);
                } else {
                    stack.push(Item::Rest(rest));
                }
                stack.push(Item::Term(head));
                return;
            }
        }
    }
}

static NIL: Term = Term::NIL;

/// How many 32-bit hashes the HAMT order follows for keys whose hashes
/// collide; past that, erlnode orders them by key (a 128-bit collision of
/// distinct keys is not a practical concern).
const MAX_HASH_DEPTH: u32 = 4;

/// `make_map_hash(Key, Depth)`: the hash the HAMT uses 8 levels (32 bits)
/// down, when keys share all the bits above.
fn map_hash(key: &Term, depth: u32) -> Option<u32> {
    let salt = if depth == 0 {
        0
    } else {
        mix(HCONST_22.wrapping_add(depth), HCONST_22.wrapping_add(1), 0)
    };
    internal_hash(key, salt)
}

/// The HAMT order of these entries (positions), or `None` if a key's hash
/// cannot be reproduced.
pub(crate) fn hamt_order(entries: &[(Term, Term)]) -> Option<Box<[u32]>> {
    // (hash at the current depth, nibble-reversed; position)
    let mut keyed: Vec<(u32, u32)> = Vec::with_capacity(entries.len());
    for (i, (k, _)) in entries.iter().enumerate() {
        keyed.push((nibbles_first_level_high(map_hash(k, 0)?), i as u32));
    }
    keyed.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
    // Runs of equal hashes continue one level (32 bits) further down, with
    // the next depth's hash; the tree walk visits the highest slot first.
    let mut work: Vec<(usize, usize, u32)> = vec![(0, keyed.len(), 0)];
    while let Some((from, to, depth)) = work.pop() {
        let mut i = from;
        while i < to {
            let mut j = i + 1;
            while j < to && keyed[j].0 == keyed[i].0 {
                j += 1;
            }
            if j - i > 1 {
                let run = &mut keyed[i..j];
                if depth + 1 < MAX_HASH_DEPTH {
                    for e in run.iter_mut() {
                        let key = &entries[e.1 as usize].0;
                        e.0 = nibbles_first_level_high(map_hash(key, depth + 1)?);
                    }
                    run.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
                    work.push((i, j, depth + 1));
                } else {
                    run.sort_by(|a, b| {
                        super::order::key_cmp(&entries[a.1 as usize].0, &entries[b.1 as usize].0)
                    });
                }
            }
            i = j;
        }
    }
    Some(keyed.into_iter().map(|e| e.1).collect())
}

/// Reverses the order of the eight nibbles, so that comparing the results
/// compares level 0 (the lowest nibble) first.
fn nibbles_first_level_high(h: u32) -> u32 {
    let mut out = 0;
    for level in 0..8 {
        out = (out << 4) | ((h >> (4 * level)) & 0xf);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_integer_hashes_match_otp_25() {
        // From OTP 25: maps:to_list(maps:from_list([{K,K} || K <- lists:seq(1,40)])).
        let want = [
            33, 12, 23, 29, 30, 39, 26, 31, 11, 37, 9, 32, 34, 25, 28, 6, 38, 13, 40, 20, 15, 14,
            2, 7, 1, 8, 3, 17, 22, 21, 4, 36, 24, 10, 35, 27, 19, 5, 18, 16,
        ];
        let entries: Vec<(Term, Term)> = (1..=40).map(|i| (Term::Int(i), Term::Int(i))).collect();
        let order = hamt_order(&entries).unwrap();
        let got: Vec<i64> = order.iter().map(|&p| p as i64 + 1).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn colliding_hashes_go_one_level_deeper() {
        // 22575 and 119693 share their 32-bit hash; OTP 25 lists 119693
        // first (checked with maps:to_list/1).
        assert_eq!(
            internal_hash(&Term::Int(22575), 0),
            internal_hash(&Term::Int(119693), 0)
        );
        let mut entries: Vec<(Term, Term)> = (1..=40).map(|i| (Term::Int(i), Term::NIL)).collect();
        entries.push((Term::Int(22575), Term::NIL));
        entries.push((Term::Int(119693), Term::NIL));
        let order = hamt_order(&entries).unwrap();
        let a = order.iter().position(|&p| p == 40).unwrap();
        let b = order.iter().position(|&p| p == 41).unwrap();
        assert!(b < a);
    }

    #[test]
    fn atoms_are_not_reproducible() {
        assert_eq!(internal_hash(&Term::atom("a"), 0), None);
        assert_eq!(
            internal_hash(&Term::tuple(vec![Term::Int(1), Term::atom("a")]), 0),
            None
        );
        assert!(internal_hash(&Term::tuple(vec![Term::Int(1), Term::binary("a")]), 0).is_some());
    }
}
