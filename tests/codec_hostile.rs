//! Hostile input: every case gives an error, never a panic, an abort, a huge
//! allocation or a stack overflow. Includes the inputs that break `eetf` 0.12
//! (issue 2). A counting global allocator checks the "never preallocate more
//! than the remaining bytes could hold" rule.

use bytes::Bytes;
use erlnode::Term;
use erlnode::term::{DecodeError, DecodeLimits, Decoder};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Tracks the largest single allocation made by the current thread while
/// armed (tests run on several threads at once).
struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note(l.size());
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        note(new);
        unsafe { System.realloc(p, l, new) }
    }
}

fn note(size: usize) {
    let _ = ARMED.try_with(|a| {
        if a.get() {
            let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
        }
    });
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Decodes with allocation tracking; returns the result and the largest
/// single allocation.
fn decode_tracked(b: &[u8]) -> (Result<Term, DecodeError>, usize) {
    LARGEST.with(|m| m.set(0));
    ARMED.with(|a| a.set(true));
    let r = Term::decode(b);
    ARMED.with(|a| a.set(false));
    (r, LARGEST.with(|m| m.get()))
}

/// Fixed allowance on top of the per-byte one: zlib's inflate state and
/// window (~43 KB) and the first output chunk of a compressed term (64 KiB).
const FIXED_SLACK: usize = 128 << 10;

/// Largest single allocation allowed for `n` input bytes: a `Term` (64 bytes)
/// per input byte, plus the fixed slack.
fn allowed(n: usize) -> usize {
    64 * n + FIXED_SLACK
}

fn err(b: &[u8]) -> DecodeError {
    let (r, largest) = decode_tracked(b);
    assert!(
        largest <= allowed(b.len()),
        "{largest} bytes allocated at once for {} input bytes",
        b.len()
    );
    match r {
        Ok(t) => panic!("decoded to {t:?}, expected an error"),
        Err(e) => e,
    }
}

#[test]
fn eetf_abort_list_count_from_the_wire() {
    // eetf 0.12 tries to allocate 240 GB here and aborts.
    let e = err(&[131, 108, 255, 255, 255, 255]);
    assert!(
        matches!(
            e,
            DecodeError::CountTooLarge {
                what: "list",
                count: 4294967296,
                offset: 1,
                remaining: 0
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("truncated or corrupt"));
}

#[test]
fn huge_counts_fail_fast_without_allocating() {
    for b in [
        &[131, 105, 255, 255, 255, 255][..],
        &[131, 116, 255, 255, 255, 255, 97, 1],
        &[131, 104, 255, 97, 1],
        &[131, 109, 255, 255, 255, 255, 1, 2, 3],
        &[131, 111, 255, 255, 255, 255, 0, 1],
        &[131, 77, 255, 255, 255, 255, 3, 1],
        &[131, 107, 255, 255, 1],
        &[131, 118, 255, 255, b'a'],
        // NEW_FUN_EXT claiming 2^32-1 free variables.
        &[
            131, 112, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            255, 255, 255, 255, 119, 1, b'm', 97, 0, 97, 0, 88, 119, 1, b'n', 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0,
        ],
    ] {
        let e = err(b);
        assert!(
            matches!(
                e,
                DecodeError::CountTooLarge { .. } | DecodeError::UnexpectedEnd { .. }
            ),
            "{b:?}: {e:?}"
        );
    }
}

#[test]
fn nested_counts_cannot_add_up_to_quadratic_memory() {
    // 20,000 nested tuples, each claiming as many elements as the rest of the
    // input has bytes: each alone would fit, together they cannot.
    let depth = 20_000usize;
    let mut b = vec![131];
    for i in 0..depth {
        let rest = (depth - i - 1) * 5 + 1;
        b.push(105);
        b.extend_from_slice(&(rest as u32).to_be_bytes());
    }
    b.push(106);
    let e = err(&b);
    assert!(matches!(e, DecodeError::CountTooLarge { .. }), "{e:?}");
}

#[test]
fn eetf_panics_on_dist_header_and_cache_ref() {
    assert_eq!(
        err(&[131, 68, 0]),
        DecodeError::DistHeader { tag: 68, offset: 1 }
    );
    assert_eq!(
        err(&[131, 69, 0]),
        DecodeError::DistHeader { tag: 69, offset: 1 }
    );
    let e = err(&[131, 82, 0]);
    assert_eq!(e, DecodeError::AtomCacheRefWithoutCache { offset: 1 });
    assert!(e.to_string().contains("with_atom_refs"));
    // Inside a pid's node too.
    assert!(matches!(
        err(&[131, 88, 82, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        DecodeError::AtomCacheRefWithoutCache { offset: 2 }
    ));
}

/// `term_to_binary` of a list nested `depth` deep: `[[[...[]...]]]`.
fn nested_list_bytes(depth: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(depth * 6 + 2);
    b.push(131);
    for _ in 0..depth {
        b.extend_from_slice(&[108, 0, 0, 0, 1]);
    }
    b.push(106);
    b.extend(std::iter::repeat_n(106, depth));
    b
}

#[test]
fn eetf_stack_overflow_200_000_nested_lists() {
    let b = nested_list_bytes(200_000);
    let t = Term::decode(&b).unwrap();
    assert_eq!(t.encode(), b);
}

#[test]
fn million_deep_list_round_trips() {
    let b = nested_list_bytes(1_000_000);
    let t = Term::decode(&b).unwrap();
    let mut depth = 0;
    let mut cur = &t;
    while let Some([inner]) = cur.as_list() {
        cur = inner;
        depth += 1;
    }
    assert_eq!(depth, 1_000_000);
    assert!(cur.is_nil());
    assert_eq!(t.encode(), b);
    drop(t);
}

#[test]
fn million_deep_mixed_nesting_round_trips() {
    // Tuples, maps, improper lists and funs' free variables, a million deep.
    let mut t = Term::Int(1);
    for i in 0..1_000_000 {
        t = match i % 4 {
            0 => Term::tuple(vec![t, Term::Int(2)]),
            1 => Term::ImproperList(vec![Term::Int(3)], Box::new(t)),
            2 => Term::from(erlnode::Map::from_iter([(Term::Int(4), t)])),
            _ => Term::list(vec![t]),
        };
    }
    let b = t.encode();
    let back = Term::decode(&b).unwrap();
    assert_eq!(back.encode(), b);
}

#[test]
fn truncated_prefixes_are_errors() {
    let t = Term::tuple(vec![
        Term::atom("ok"),
        Term::list(vec![Term::Int(1), Term::Int(1000), Term::Float(1.5)]),
        Term::binary(b"abc"),
        Term::Int(i64::MAX),
        Term::from(erlnode::Map::from_iter([(Term::atom("k"), Term::NIL)])),
        Term::Pid(erlnode::Pid {
            node: erlnode::Atom::from("a_long_node_name_for_the_cache@host"),
            id: 1,
            serial: 2,
            creation: 3,
        }),
    ]);
    let b = t.encode();
    for n in 0..b.len() {
        let e = err(&b[..n]);
        assert!(
            matches!(
                e,
                DecodeError::UnexpectedEnd { .. } | DecodeError::CountTooLarge { .. }
            ),
            "prefix {n}: {e:?}"
        );
    }
    let mut long = b.clone();
    long.push(0);
    assert_eq!(err(&long), DecodeError::TrailingBytes(1));
}

#[test]
fn framing_errors() {
    assert!(matches!(
        err(&[]),
        DecodeError::UnexpectedEnd {
            offset: 0,
            needed: 1
        }
    ));
    assert!(matches!(
        err(&[131]),
        DecodeError::UnexpectedEnd { offset: 1, .. }
    ));
    assert_eq!(err(&[130, 97, 1]), DecodeError::BadVersion(130));
    assert_eq!(
        err(&[131, 0]),
        DecodeError::UnknownTag { tag: 0, offset: 1 }
    );
    assert_eq!(
        err(&[131, 255]),
        DecodeError::UnknownTag {
            tag: 255,
            offset: 1
        }
    );
    let e = err(&[131, 121, 1, 2, 3]);
    assert_eq!(e, DecodeError::LocalExt { offset: 1 });
    assert!(e.to_string().contains("[local]"));
    // A compressed term is only valid right after 131.
    assert!(matches!(
        err(&[
            131, 104, 1, 80, 0, 0, 0, 1, 120, 156, 75, 4, 0, 0, 98, 0, 98
        ]),
        DecodeError::NestedCompressed { offset: 3 }
    ));
}

fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

fn compressed(declared: u32, data: &[u8]) -> Vec<u8> {
    let mut b = vec![131, 80];
    b.extend_from_slice(&declared.to_be_bytes());
    b.extend_from_slice(&zlib(data));
    b
}

#[test]
fn compressed_bombs_and_lies() {
    assert_eq!(
        Term::decode(&compressed(2, &[97, 1])).unwrap(),
        Term::Int(1)
    );
    // Declares more than the limit: refused before inflating.
    let e = err(&compressed(u32::MAX, &[97, 1]));
    assert!(
        matches!(
            e,
            DecodeError::DecompressedTooLarge {
                size: 4294967295,
                ..
            }
        ),
        "{e:?}"
    );
    // Declares more than it holds, or less.
    assert!(matches!(
        err(&compressed(5, &[97, 1])),
        DecodeError::CompressedSizeMismatch {
            declared: 5,
            actual: 2
        }
    ));
    assert!(matches!(
        err(&compressed(1, &[97, 1])),
        DecodeError::CompressedSizeMismatch { declared: 1, .. }
    ));
    // A bomb under a small limit: 10 MB of zeros inside a binary.
    let mut inner = vec![109];
    inner.extend_from_slice(&10_000_000u32.to_be_bytes());
    inner.resize(5 + 10_000_000, 0);
    let bomb = compressed(inner.len() as u32, &inner);
    assert!(bomb.len() < 20_000);
    let small = DecodeLimits {
        max_decompressed_size: 1 << 20,
    };
    let mut d = Decoder::new(&bomb).with_limits(small);
    assert!(matches!(
        d.term_with_version(),
        Err(DecodeError::DecompressedTooLarge { .. })
    ));
    // Under the default limit it decodes.
    assert_eq!(
        Term::decode(&bomb).unwrap().as_binary().unwrap().len(),
        10_000_000
    );
    // Corrupt and truncated zlib data.
    let mut bad = compressed(2, &[97, 1]);
    bad[7] ^= 0xff;
    assert!(matches!(
        err(&bad),
        DecodeError::BadCompressedData { .. } | DecodeError::CompressedSizeMismatch { .. }
    ));
    let good = compressed(2, &[97, 1]);
    for n in 6..good.len() {
        let e = err(&good[..n]);
        assert!(
            matches!(
                e,
                DecodeError::BadCompressedData { .. }
                    | DecodeError::CompressedSizeMismatch { .. }
                    | DecodeError::UnexpectedEnd { .. }
            ),
            "prefix {n}: {e:?}"
        );
    }
    // The inner term must use every decompressed byte.
    assert_eq!(
        err(&compressed(3, &[97, 1, 0])),
        DecodeError::TrailingBytes(1)
    );
    // Shared decoding of a compressed term works too.
    let c = compressed(2, &[97, 1]);
    assert_eq!(Term::decode_shared(&Bytes::from(c)).unwrap(), Term::Int(1));
}

#[test]
fn duplicate_keys_and_bad_forms() {
    assert!(matches!(
        err(&[
            131, 116, 0, 0, 0, 2, 119, 1, b'a', 97, 1, 119, 1, b'a', 97, 2
        ]),
        DecodeError::DuplicateMapKey { .. }
    ));
    // Keys equal as terms even when encoded differently.
    assert!(matches!(
        err(&[
            131, 116, 0, 0, 0, 2, 119, 1, b'a', 97, 1, 100, 0, 1, b'a', 97, 2
        ]),
        DecodeError::DuplicateMapKey { .. }
    ));
    assert!(matches!(
        err(&[131, 116, 0, 0, 0, 2, 97, 1, 97, 1, 98, 0, 0, 0, 1, 97, 2]),
        DecodeError::DuplicateMapKey { .. }
    ));
    // A pid whose node is not an atom, a fun whose pid is not a pid.
    assert!(matches!(
        err(&[131, 88, 106, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        DecodeError::UnexpectedTag {
            expected: "atom",
            tag: 106,
            offset: 2
        }
    ));
}

#[test]
fn random_bytes_never_panic() {
    // A quick deterministic sweep; the cargo-fuzz target goes further.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let tags = [
        70u8, 77, 80, 82, 88, 89, 90, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109,
        110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121,
    ];
    for _ in 0..20_000 {
        let len = (next() % 40) as usize;
        let mut b = vec![131];
        for _ in 0..len {
            let r = next();
            b.push(if r % 3 == 0 {
                tags[(r >> 8) as usize % tags.len()]
            } else {
                (r >> 16) as u8 % 8
            });
        }
        let (_, largest) = decode_tracked(&b);
        assert!(largest <= allowed(b.len()), "{b:?}");
    }
}

/// Map keys and values that are integers and short ASCII atoms are decoded
/// in a run of their own (`Decoder::scalars`); everything else, and the end
/// of the input, falls back to the general path. Both must give the same
/// terms and the same errors.
#[test]
fn maps_of_scalars_decode_like_any_other() {
    use erlnode::{Atom, Map};
    // Small and 32-bit integers, UTF-8 and Latin-1 short atoms, an atom too
    // long to be inline, a non-ASCII atom, and container values between
    // scalar runs.
    let mut b = vec![131, 116, 0, 0, 0, 7];
    b.extend([97, 1, 98, 0x80, 0, 0, 0]); // 1 => -2147483648
    b.extend([119, 2, b'o', b'k', 115, 2, b'n', b'o']); // ok => no (Latin-1)
    b.extend([98, 0, 1, 0, 0, 104, 2, 97, 1, 97, 2]); // 65536 => {1,2}
    b.extend([119, 15]);
    b.extend(b"fifteen_letters"); // fifteen_letters => []
    b.push(106);
    b.extend([119, 2, 0xc3, 0xa9, 107, 0, 2, 1, 2]); // 'é' => [1,2]
    b.extend([97, 7, 109, 0, 0, 0, 1, 9]); // 7 => <<9>>
    b.extend([97, 8, 119, 1, b'z']); // 8 => z, the atom at the very end
    let t = Term::decode(&b).unwrap();
    let want = Map::from_iter([
        (Term::Int(1), Term::Int(i64::from(i32::MIN))),
        (Term::atom("ok"), Term::atom("no")),
        (
            Term::Int(65536),
            Term::tuple(vec![Term::Int(1), Term::Int(2)]),
        ),
        (Term::Atom(Atom::from("fifteen_letters")), Term::NIL),
        (Term::Atom(Atom::from("é")), Term::charlist("\u{1}\u{2}")),
        (Term::Int(7), Term::binary([9])),
        (Term::Int(8), Term::atom("z")),
    ]);
    assert!(t == Term::from(want));
    // Every prefix is an error, wherever it cuts a run.
    for n in 0..b.len() {
        assert!(
            matches!(
                err(&b[..n]),
                DecodeError::UnexpectedEnd { .. } | DecodeError::CountTooLarge { .. }
            ),
            "prefix {n}"
        );
    }
    // A key repeated inside a run of integers.
    let mut dup = vec![131, 116, 0, 0, 0, 40];
    for k in (0..39).chain([17]) {
        dup.extend([97, k, 98, 0, 0, 1, k]);
    }
    assert!(matches!(err(&dup), DecodeError::DuplicateMapKey { .. }));
    // More entries announced than the bytes could hold: refused before
    // the run starts.
    assert!(matches!(
        err(&[131, 116, 0, 0, 0, 3, 97, 1, 97, 2]),
        DecodeError::CountTooLarge { .. }
    ));
    // Forty integer keys in hash order, as the BEAM sends a large map.
    let mut big = vec![131, 116, 0, 0, 0, 40];
    for k in (0..40u16).map(|k| ((k * 7) % 40) as u8) {
        big.extend([97, k, 98, 0, 0, 1, k]);
    }
    let t = Term::decode(&big).unwrap();
    let Term::Map(m) = &t else {
        panic!("not a map: {t}")
    };
    assert_eq!(m.len(), 40);
    assert_eq!(m.get(&Term::Int(33)), Some(&Term::Int(256 + 33)));
    assert_eq!(t.encode(), big, "received order kept");
}
