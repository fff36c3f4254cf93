//! Byte vectors for every tag of the external term format, both directions.
//! The expected bytes were checked against OTP 25's `term_to_binary` and
//! `binary_to_term` (see tests/interop_codec.rs for the live comparison).

use bytes::Bytes;
use erlnode::term::{DecodeError, Decoder, EncodeOptions};
use erlnode::{Atom, BitString, ExportFun, Fun, Map, Pid, Port, Reference, Term};
use num_bigint::BigInt;

fn dec(b: &[u8]) -> Term {
    match Term::decode(b) {
        Ok(t) => t,
        Err(e) => panic!("decode {b:?}: {e}"),
    }
}

/// Decodes `bytes` to `term` and encodes `term` back to `bytes`.
fn both(bytes: &[u8], term: Term) {
    assert_eq!(dec(bytes), term, "decode {bytes:?}");
    assert_eq!(term.encode(), bytes, "encode {term:?}");
}

fn err(b: &[u8]) -> DecodeError {
    match Term::decode(b) {
        Ok(t) => panic!("{b:?} decoded to {t:?}, expected an error"),
        Err(e) => e,
    }
}

fn pid(node: &str, id: u32, serial: u32, creation: u32) -> Pid {
    Pid {
        node: Atom::from(node),
        id,
        serial,
        creation,
    }
}

#[test]
fn small_integer_ext_97() {
    both(&[131, 97, 0], Term::Int(0));
    both(&[131, 97, 255], Term::Int(255));
}

#[test]
fn integer_ext_98() {
    both(&[131, 98, 0, 0, 1, 0], Term::Int(256));
    both(&[131, 98, 255, 255, 255, 255], Term::Int(-1));
    both(&[131, 98, 128, 0, 0, 0], Term::Int(i32::MIN as i64));
    // Non-minimal form accepted, as by the BEAM.
    assert_eq!(dec(&[131, 98, 0, 0, 0, 5]), Term::Int(5));
}

#[test]
fn small_big_ext_110() {
    both(&[131, 110, 4, 0, 0, 0, 0, 128], Term::Int(1 << 31));
    both(
        &[131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128],
        Term::Int(i64::MIN),
    );
    both(
        &[131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 127],
        Term::Int(i64::MAX),
    );
    // 2^64 needs a BigInt.
    both(
        &[131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        Term::BigInt(BigInt::from(1u128 << 64)),
    );
    // i64::MAX + 1 and -(i64::MIN) - 1
    both(
        &[131, 110, 8, 0, 0, 0, 0, 0, 0, 0, 0, 128],
        Term::BigInt(BigInt::from(1u128 << 63)),
    );
    both(
        &[131, 110, 8, 1, 1, 0, 0, 0, 0, 0, 0, 128],
        Term::BigInt(-BigInt::from((1u128 << 63) + 1)),
    );
    // Non-normal forms the BEAM accepts, normalised.
    assert_eq!(dec(&[131, 110, 1, 0, 5]), Term::Int(5));
    assert_eq!(dec(&[131, 110, 3, 0, 5, 0, 0]), Term::Int(5));
    assert_eq!(dec(&[131, 110, 0, 1]), Term::Int(0), "negative zero");
    assert_eq!(dec(&[131, 110, 1, 1, 0]), Term::Int(0), "negative zero");
    assert_eq!(
        dec(&[131, 110, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
        Term::BigInt(BigInt::from(1u128 << 64))
    );
}

#[test]
fn large_big_ext_111() {
    let n = BigInt::from(1) << (8 * 256);
    let mut bytes = vec![131, 111, 0, 0, 1, 1, 0];
    bytes.extend(std::iter::repeat_n(0, 256));
    bytes.push(1);
    both(&bytes, Term::BigInt(n));
}

#[test]
fn new_float_ext_70() {
    both(&[131, 70, 63, 248, 0, 0, 0, 0, 0, 0], Term::Float(1.5));
    both(&[131, 70, 128, 0, 0, 0, 0, 0, 0, 0], Term::Float(-0.0));
    assert!(matches!(
        err(&[131, 70, 127, 248, 0, 0, 0, 0, 0, 0]),
        DecodeError::NonFiniteFloat { offset: 1 }
    ));
    assert!(matches!(
        err(&[131, 70, 127, 240, 0, 0, 0, 0, 0, 0]),
        DecodeError::NonFiniteFloat { .. }
    ));
}

fn float_ext(text: &str) -> Vec<u8> {
    let mut v = vec![131, 99];
    v.extend_from_slice(text.as_bytes());
    v.resize(2 + 31, 0);
    v
}

#[test]
fn float_ext_99() {
    assert_eq!(
        dec(&float_ext("1.50000000000000000000e+00")),
        Term::Float(1.5)
    );
    assert_eq!(dec(&float_ext("1.5")), Term::Float(1.5));
    // What term_to_binary(T, [{minor_version, 0}]) writes (OTP 25).
    let opts = EncodeOptions {
        minor_version: 0,
        ..Default::default()
    };
    for (f, text) in [
        (0.1, "1.00000000000000005551e-01"),
        (-0.0, "-0.00000000000000000000e+00"),
        (1.0e300, "1.00000000000000005250e+300"),
        (5.0e-324, "4.94065645841246544177e-324"),
    ] {
        assert_eq!(Term::Float(f).encode_with(&opts).unwrap(), float_ext(text));
        assert_eq!(dec(&float_ext(text)).encode(), Term::Float(f).encode());
    }
    assert!(matches!(
        err(&float_ext("1.5xyz")),
        DecodeError::BadFloatText { .. }
    ));
    assert!(matches!(
        err(&float_ext(" 1.5")),
        DecodeError::BadFloatText { .. }
    ));
    assert!(matches!(
        err(&float_ext("inf")),
        DecodeError::BadFloatText { .. }
    ));
    assert!(matches!(
        err(&float_ext("")),
        DecodeError::BadFloatText { .. }
    ));
}

#[test]
fn atoms_118_119_100_115() {
    both(&[131, 119, 2, b'o', b'k'], Term::atom("ok"));
    both(&[131, 119, 0], Term::atom(""));
    let long = "ö".repeat(200); // 400 bytes: too long for SMALL_ATOM_UTF8_EXT
    let mut b = vec![131, 118, 1, 144];
    b.extend_from_slice(long.as_bytes());
    both(&b, Term::atom(&long));
    // Latin-1 forms decode to the same atoms.
    assert_eq!(dec(&[131, 100, 0, 2, b'o', b'k']), Term::atom("ok"));
    assert_eq!(dec(&[131, 115, 2, b'o', b'k']), Term::atom("ok"));
    assert_eq!(dec(&[131, 100, 0, 1, 255]), Term::atom("ÿ"));
    assert_eq!(dec(&[131, 115, 1, 0xe9]), Term::atom("é"));
}

#[test]
fn atom_minor_versions() {
    let t = Term::tuple(vec![Term::atom("ok"), Term::atom("ÿ"), Term::atom("ŝ")]);
    let v1 = EncodeOptions {
        minor_version: 1,
        ..Default::default()
    };
    // Bytes written by OTP 25: term_to_binary({ok,'ÿ','ŝ'}, [{minor_version,1}]).
    assert_eq!(
        t.encode_with(&v1).unwrap(),
        [
            131, 104, 3, 100, 0, 2, 111, 107, 100, 0, 1, 255, 119, 2, 197, 157
        ]
    );
    assert_eq!(
        t.encode(),
        [
            131, 104, 3, 119, 2, 111, 107, 119, 2, 195, 191, 119, 2, 197, 157
        ]
    );
    assert_eq!(dec(&t.encode_with(&v1).unwrap()), t);
}

#[test]
fn bad_atoms() {
    let mut b = vec![131, 118, 1, 0];
    b.extend(std::iter::repeat_n(b'a', 256));
    assert_eq!(err(&b), DecodeError::AtomTooLong { chars: 256 });
    let mut b = vec![131, 100, 1, 0];
    b.extend(std::iter::repeat_n(b'a', 256));
    assert_eq!(err(&b), DecodeError::AtomTooLong { chars: 256 });
    assert_eq!(err(&[131, 119, 1, 255]), DecodeError::InvalidUtf8Atom);
    assert_eq!(
        err(&[131, 118, 0, 2, 0xc3, 0x28]),
        DecodeError::InvalidUtf8Atom
    );
    // 255 four-byte characters is legal.
    let s = "😀".repeat(255);
    let mut b = vec![131, 118];
    b.extend_from_slice(&(s.len() as u16).to_be_bytes());
    b.extend_from_slice(s.as_bytes());
    both(&b, Term::atom(&s));
}

#[test]
fn tuples_104_105() {
    both(&[131, 104, 0], Term::tuple(vec![]));
    both(
        &[131, 104, 2, 97, 1, 119, 1, b'a'],
        Term::tuple(vec![Term::Int(1), Term::atom("a")]),
    );
    let big: Vec<Term> = (0..256).map(|_| Term::NIL).collect();
    let mut b = vec![131, 105, 0, 0, 1, 0];
    b.extend(std::iter::repeat_n(106, 256));
    both(&b, Term::tuple(big));
    assert_eq!(
        dec(&[131, 105, 0, 0, 0, 1, 97, 1]),
        Term::tuple(vec![Term::Int(1)])
    );
}

#[test]
fn nil_string_list_106_107_108() {
    both(&[131, 106], Term::NIL);
    both(
        &[131, 107, 0, 3, 1, 2, 3],
        Term::list(vec![Term::Int(1), Term::Int(2), Term::Int(3)]),
    );
    assert_eq!(dec(&[131, 107, 0, 0]), Term::NIL);
    both(
        &[131, 108, 0, 0, 0, 2, 97, 1, 119, 1, b'a', 106],
        Term::list(vec![Term::Int(1), Term::atom("a")]),
    );
    // A list of 256 as an element keeps LIST_EXT.
    both(
        &[131, 108, 0, 0, 0, 1, 98, 0, 0, 1, 0, 106],
        Term::list(vec![Term::Int(256)]),
    );
    // Improper.
    both(
        &[131, 108, 0, 0, 0, 1, 97, 1, 97, 2],
        Term::ImproperList(vec![Term::Int(1)], Box::new(Term::Int(2))),
    );
    // A byte list longer than 65535 is LIST_EXT.
    let long: Vec<Term> = (0..65536).map(|i| Term::Int(i % 256)).collect();
    let enc = Term::list(long.clone()).encode();
    assert_eq!(&enc[..6], &[131, 108, 0, 1, 0, 0]);
    assert_eq!(dec(&enc), Term::list(long));
    let at_limit: Vec<Term> = (0..65535).map(|i| Term::Int(i % 256)).collect();
    assert_eq!(&Term::list(at_limit).encode()[..4], &[131, 107, 255, 255]);
}

#[test]
fn list_normal_forms() {
    // LIST_EXT of 0 elements is its tail, as in binary_to_term.
    assert_eq!(dec(&[131, 108, 0, 0, 0, 0, 106]), Term::NIL);
    assert_eq!(dec(&[131, 108, 0, 0, 0, 0, 97, 1]), Term::Int(1));
    // A tail that is a list joins the list.
    assert_eq!(
        dec(&[131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 106]),
        Term::list(vec![Term::Int(1), Term::Int(2)])
    );
    assert_eq!(
        dec(&[131, 108, 0, 0, 0, 1, 97, 1, 107, 0, 2, 2, 3]),
        Term::list(vec![Term::Int(1), Term::Int(2), Term::Int(3)])
    );
    assert_eq!(
        dec(&[131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 97, 3]),
        Term::ImproperList(vec![Term::Int(1), Term::Int(2)], Box::new(Term::Int(3)))
    );
    assert_eq!(
        dec(&[131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 0, 106]),
        Term::list(vec![Term::Int(1)])
    );
    // and re-encodes the way the BEAM re-encodes [1,2|3]
    assert_eq!(
        dec(&[131, 108, 0, 0, 0, 1, 97, 1, 108, 0, 0, 0, 1, 97, 2, 97, 3]).encode(),
        [131, 108, 0, 0, 0, 2, 97, 1, 97, 2, 97, 3]
    );
}

#[test]
fn binary_109() {
    both(&[131, 109, 0, 0, 0, 0], Term::binary(b""));
    both(&[131, 109, 0, 0, 0, 3, 1, 2, 3], Term::binary([1, 2, 3]));
}

#[test]
fn shared_binaries() {
    let mut b = vec![131, 104, 2, 109, 0, 0, 0, 100];
    b.extend(std::iter::repeat_n(7u8, 100));
    b.extend_from_slice(&[109, 0, 0, 0, 3, 1, 2, 3]);
    let buf = Bytes::from(b);
    let t = Term::decode_shared(&buf).unwrap();
    let items = t.as_tuple().unwrap();
    let big = items[0].as_binary().unwrap();
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    assert!(
        range.contains(&(big.as_ptr() as usize)),
        "large binary shares"
    );
    let small = items[1].as_binary().unwrap();
    assert!(
        !range.contains(&(small.as_ptr() as usize)),
        "small binary copied"
    );
    // Plain decode copies.
    let t = Term::decode(&buf).unwrap();
    let big = t.as_tuple().unwrap()[0].as_binary().unwrap().clone();
    assert!(!range.contains(&(big.as_ptr() as usize)));
}

#[test]
fn bit_binary_77() {
    both(
        &[131, 77, 0, 0, 0, 1, 3, 32],
        Term::from(BitString {
            data: Bytes::from_static(&[32]),
            bits_in_last_byte: 3,
        }),
    );
    // Unused bits are cleared, as binary_to_term does.
    assert_eq!(
        dec(&[131, 77, 0, 0, 0, 1, 3, 255]).encode(),
        [131, 77, 0, 0, 0, 1, 3, 224]
    );
    assert_eq!(dec(&[131, 77, 0, 0, 0, 0, 0]), Term::binary(b""));
    assert_eq!(dec(&[131, 77, 0, 0, 0, 1, 8, 5]), Term::binary([5]));
    for bad in [
        &[131, 77, 0, 0, 0, 1, 0, 5][..],
        &[131, 77, 0, 0, 0, 0, 3],
        &[131, 77, 0, 0, 0, 1, 9, 5],
    ] {
        assert!(
            matches!(err(bad), DecodeError::BadBitCount { .. }),
            "{bad:?}"
        );
    }
}

#[test]
fn pids_88_103() {
    let b = [131, 88, 119, 1, b'n', 0, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0, 3];
    both(&b, Term::Pid(pid("n", 80, 0, 3)));
    let old = [131, 103, 100, 0, 1, b'n', 0, 0, 0, 80, 0, 0, 0, 0, 3];
    assert_eq!(dec(&old), Term::Pid(pid("n", 80, 0, 3)));
    let legacy = EncodeOptions {
        legacy_node_forms: true,
        ..Default::default()
    };
    assert_eq!(
        Term::Pid(pid("n", 80, 0, 3)).encode_with(&legacy).unwrap(),
        [131, 103, 119, 1, b'n', 0, 0, 0, 80, 0, 0, 0, 0, 3]
    );
    assert!(Term::Pid(pid("n", 1, 0, 256)).encode_with(&legacy).is_err());
    assert!(matches!(
        err(&[131, 88, 97, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        DecodeError::UnexpectedTag {
            expected: "atom",
            ..
        }
    ));
}

#[test]
fn ports_89_102_120() {
    let p = |id: u64, creation: u32| {
        Term::Port(Port {
            node: Atom::from("n"),
            id,
            creation,
        })
    };
    both(&[131, 89, 119, 1, b'n', 0, 0, 0, 9, 0, 0, 0, 3], p(9, 3));
    both(
        &[131, 120, 119, 1, b'n', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3],
        p(1 << 32, 3),
    );
    assert_eq!(dec(&[131, 102, 100, 0, 1, b'n', 0, 0, 0, 9, 3]), p(9, 3));
    let legacy = EncodeOptions {
        legacy_node_forms: true,
        ..Default::default()
    };
    assert_eq!(
        p(9, 3).encode_with(&legacy).unwrap(),
        [131, 102, 119, 1, b'n', 0, 0, 0, 9, 3]
    );
    assert!(p(1 << 32, 3).encode_with(&legacy).is_err());
}

#[test]
fn references_90_101_114() {
    let r = |id: &[u32], creation: u32| {
        Term::from(Reference::new(Atom::from("n"), creation, id).unwrap())
    };
    both(
        &[
            131, 90, 0, 3, 119, 1, b'n', 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3,
        ],
        r(&[1, 2, 3], 7),
    );
    let five = [
        131, 90, 0, 5, 119, 1, b'n', 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0,
        0, 0, 5,
    ];
    both(&five, r(&[1, 2, 3, 4, 5], 7));
    assert_eq!(
        dec(&[131, 114, 0, 1, 100, 0, 1, b'n', 7, 0, 0, 0, 1]),
        r(&[1], 7)
    );
    assert_eq!(dec(&[131, 101, 100, 0, 1, b'n', 0, 0, 0, 1, 7]), r(&[1], 7));
    let legacy = EncodeOptions {
        legacy_node_forms: true,
        ..Default::default()
    };
    assert_eq!(
        r(&[1, 2], 7).encode_with(&legacy).unwrap(),
        [131, 114, 0, 2, 119, 1, b'n', 7, 0, 0, 0, 1, 0, 0, 0, 2]
    );
    for len in [0u8, 6] {
        let mut b = vec![131, 90, 0, len, 119, 1, b'n', 0, 0, 0, 7];
        b.extend(std::iter::repeat_n(0, 4 * len as usize));
        assert!(matches!(err(&b), DecodeError::BadReferenceLength { .. }));
    }
}

#[test]
fn export_113() {
    both(
        &[131, 113, 119, 1, b'm', 119, 1, b'f', 97, 2],
        Term::Export(Box::new(ExportFun {
            module: Atom::from("m"),
            function: Atom::from("f"),
            arity: 2,
        })),
    );
    assert!(
        dec(&[131, 113, 100, 0, 1, b'm', 100, 0, 1, b'f', 98, 0, 0, 0, 1])
            .encode()
            .ends_with(&[97, 1])
    );
    assert!(matches!(
        err(&[131, 113, 119, 1, b'm', 119, 1, b'f', 98, 0, 0, 1, 0]),
        DecodeError::IntegerOutOfRange { .. }
    ));
}

/// `fun(X) -> X + 1 end` from OTP 25 (module probe, no free variables).
const FUN_NO_FREE: [u8; 73] = [
    131, 112, 0, 0, 0, 71, 1, 118, 142, 169, 156, 106, 116, 251, 39, 77, 135, 5, 168, 9, 140, 149,
    89, 0, 0, 0, 0, 0, 0, 0, 0, 119, 5, 112, 114, 111, 98, 101, 97, 0, 98, 3, 180, 117, 76, 88,
    119, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0, 0, 0, 9, 0, 0, 0,
    0, 0, 0, 0, 0,
];

#[test]
fn new_fun_112() {
    let t = dec(&FUN_NO_FREE);
    let Term::Fun(f) = &t else { panic!("{t:?}") };
    let Fun::New {
        arity,
        module,
        old_uniq,
        pid: fun_pid,
        free_vars,
        ..
    } = &**f
    else {
        panic!()
    };
    assert_eq!(*arity, 1);
    assert_eq!(module.as_str(), "probe");
    assert_eq!(*old_uniq, 0x03b4754c);
    assert_eq!(fun_pid.node.as_str(), "nonode@nohost");
    assert!(free_vars.is_empty());
    assert_eq!(t.encode(), FUN_NO_FREE);
    // With free variables (and a negative old uniq): the size is recomputed.
    let f2 = Term::Fun(Box::new(Fun::New {
        arity: 0,
        uniq: [1; 16],
        index: 3,
        module: Atom::from("m"),
        old_index: 3,
        old_uniq: (-5i32) as u32,
        pid: pid("n", 1, 2, 3),
        free_vars: vec![Term::Int(1), Term::list(vec![Term::atom("x")])],
    }));
    let b = f2.encode();
    assert_eq!(&b[2..6], &((b.len() - 2) as u32).to_be_bytes());
    assert_eq!(dec(&b), f2);
}

#[test]
fn old_fun_117() {
    let f = Term::Fun(Box::new(Fun::Old {
        pid: pid("n", 1, 2, 3),
        module: Atom::from("m"),
        index: 4,
        uniq: 5,
        free_vars: vec![Term::Int(9)],
    }));
    let b = f.encode();
    assert_eq!(b[1], 117);
    assert_eq!(&b[2..6], &[0, 0, 0, 1]);
    assert_eq!(dec(&b), f);
}

#[test]
fn map_116() {
    both(&[131, 116, 0, 0, 0, 0], Term::from(Map::new()));
    // Received order is kept, not sorted.
    let b = [
        131, 116, 0, 0, 0, 2, 119, 1, b'b', 97, 1, 119, 1, b'a', 97, 2,
    ];
    let t = dec(&b);
    let Term::Map(m) = &t else { panic!() };
    assert!(m.is_received_order());
    assert_eq!(m.entries()[0].0, Term::atom("b"));
    assert_eq!(t.encode(), b);
    assert!(matches!(
        err(&[131, 116, 0, 0, 0, 2, 97, 1, 97, 1, 97, 1, 97, 2]),
        DecodeError::DuplicateMapKey { offset: 1 }
    ));
    // A duplicate in a larger map, past the first neighbours, is found too.
    let mut big = vec![131, 116, 0, 0, 0, 40];
    for i in 0..40u8 {
        big.extend_from_slice(&[97, i, 106]);
    }
    assert!(dec(&big).encode() == big);
    big.extend_from_slice(&[97, 7, 106]);
    big[5] = 41;
    assert!(matches!(err(&big), DecodeError::DuplicateMapKey { .. }));
}

/// The decoder reuses one finished map's key/value vector for the next
/// map: maps after, inside and as keys of other maps still get exactly
/// their own entries, and a duplicate in a later map is still caught.
#[test]
fn maps_in_sequence_and_nested_keep_their_own_entries() {
    let text = "[#{a => 1, b => 2, c => 3}, #{x => #{y => [#{}], z => #{1 => 2}}}, \
                #{#{k => v} => {#{}, #{2 => 3, 4 => 5}}}, #{d => 4}, \
                #{1 => 1, 2 => 2, 3 => 3, 4 => 4, 5 => 5, 6 => 6}]";
    let t: Term = text.parse().unwrap();
    let b = t.encode();
    let back = dec(&b);
    assert_eq!(back, t);
    assert_eq!(back.to_string(), t.to_string());
    assert_eq!(back.encode(), b);
    let Term::List(items) = &back else { panic!() };
    let lens: Vec<usize> = items
        .iter()
        .map(|m| match m {
            Term::Map(m) => m.len(),
            _ => panic!("not a map: {m}"),
        })
        .collect();
    assert_eq!(lens, [3, 1, 1, 1, 6]);

    // [#{a => 1, b => 2}, #{c => 1, c => 2}]: the second map repeats `c`.
    let dup = [
        131, 108, 0, 0, 0, 2, //
        116, 0, 0, 0, 2, 119, 1, b'a', 97, 1, 119, 1, b'b', 97, 2, //
        116, 0, 0, 0, 2, 119, 1, b'c', 97, 1, 119, 1, b'c', 97, 2, //
        106,
    ];
    assert!(matches!(
        err(&dup),
        DecodeError::DuplicateMapKey { offset: 21 }
    ));
}

#[test]
fn compressed_80() {
    let t = Term::list((0..200).map(|_| Term::atom("a")).collect::<Vec<_>>());
    let opts = EncodeOptions {
        compressed: Some(6),
        ..Default::default()
    };
    let c = t.encode_with(&opts).unwrap();
    assert_eq!(&c[..2], &[131, 80]);
    assert!(c.len() < t.encode().len());
    assert_eq!(dec(&c), t);
    assert_eq!(Term::decode_shared(&Bytes::from(c.clone())).unwrap(), t);
    // Bytes written by OTP 25's term_to_binary(lists:duplicate(200,a), [compressed]).
    let beam = [
        131, 80, 0, 0, 3, 38, 120, 156, 203, 97, 96, 96, 56, 145, 194, 192, 152, 56, 138, 71, 241,
        40, 198, 142, 179, 0, 118, 186, 156, 79,
    ];
    assert_eq!(
        dec(&beam),
        Term::list((0..200).map(|_| Term::atom("a")).collect::<Vec<_>>())
    );
    // Not smaller: stays plain, like term_to_binary.
    let small = Term::Int(1);
    assert_eq!(small.encode_with(&opts).unwrap(), [131, 97, 1]);
    assert!(matches!(
        small.encode_with(&EncodeOptions {
            compressed: Some(10),
            ..Default::default()
        }),
        Err(erlnode::term::EncodeError::BadCompressionLevel(10))
    ));
}

#[test]
fn decoder_sequence_and_cache_refs() {
    let atoms = [Atom::from("hello"), Atom::from("world")];
    let body = [104, 2, 82, 0, 82, 1, 131, 97, 5];
    let mut d = Decoder::new(&body).with_atom_refs(&atoms);
    assert_eq!(
        d.term().unwrap(),
        Term::tuple(vec![Term::atom("hello"), Term::atom("world")])
    );
    assert_eq!(d.position(), 6);
    assert_eq!(d.remaining(), &[131, 97, 5]);
    assert_eq!(d.term_with_version().unwrap(), Term::Int(5));
    assert!(d.is_at_end());
    let mut d = Decoder::new(&[82, 2]).with_atom_refs(&atoms);
    assert!(matches!(
        d.term(),
        Err(DecodeError::AtomCacheIndex {
            index: 2,
            len: 2,
            ..
        })
    ));
    // Encoding through a cache writer.
    struct W;
    impl erlnode::term::AtomCacheWriter for W {
        fn atom_ref(&mut self, a: &Atom) -> Option<u8> {
            (a.as_str() == "world").then_some(1)
        }
    }
    let mut out = Vec::new();
    Term::tuple(vec![Term::atom("hello"), Term::atom("world")])
        .encode_body_into(&mut out, Some(&mut W))
        .unwrap();
    assert_eq!(out, [104, 2, 119, 5, b'h', b'e', b'l', b'l', b'o', 82, 1]);
}

#[test]
fn encode_into_appends() {
    let mut out = vec![1, 2];
    Term::Int(3).encode_into(&mut out).unwrap();
    assert_eq!(out, [1, 2, 131, 97, 3]);
    let mut out = vec![9];
    assert!(
        Term::tuple(vec![Term::Int(1), Term::Float(f64::NAN)])
            .encode_body_into(&mut out, None)
            .is_err()
    );
    assert_eq!(out, [9], "nothing appended on error");
}

#[test]
fn unencodable_terms() {
    assert_eq!(
        Term::Float(f64::INFINITY).try_encode(),
        Err(erlnode::term::EncodeError::NonFiniteFloat(f64::INFINITY))
    );
    assert!(
        Term::Int(1)
            .encode_with(&EncodeOptions {
                minor_version: 3,
                ..Default::default()
            })
            .is_err()
    );
    let r = std::panic::catch_unwind(|| Term::Float(f64::NAN).encode());
    assert!(r.is_err(), "encode documents a panic for NaN");
}
