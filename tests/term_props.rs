//! Property tests of the term model: `Ord` is a total order that agrees
//! with `Eq` and refines Erlang's order, `Hash` agrees with `Eq`, printed
//! terms parse back to themselves, and maps do not care about insertion
//! order.

use erlnode::{Atom, BitString, ExportFun, Map, Pid, Port, Reference, Term};
use proptest::prelude::*;
use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

fn atom() -> impl Strategy<Value = Atom> {
    prop_oneof![
        "[a-z][a-zA-Z0-9_@]{0,6}",
        "[a-c]",
        proptest::collection::vec(any::<char>(), 0..8).prop_map(|v| v.into_iter().collect()),
    ]
    .prop_map(|s: String| Atom::from(s.as_str()))
}

fn leaf() -> impl Strategy<Value = Term> {
    let node = prop_oneof![Just("a@h"), Just("b@h"), Just("n@x.y")];
    prop_oneof![
        any::<i64>().prop_map(Term::Int),
        (-3i64..3).prop_map(Term::Int),
        (-3i32..3).prop_map(|i| Term::Float(f64::from(i) / 2.0)),
        any::<i128>().prop_map(Term::from),
        any::<f64>()
            .prop_filter("Erlang floats are finite", |f| f.is_finite())
            .prop_map(Term::Float),
        atom().prop_map(Term::Atom),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Term::binary),
        "[ -~]{0,6}".prop_map(|s| Term::binary(s.as_bytes())),
        (proptest::collection::vec(any::<u8>(), 1..4), 1u8..8).prop_map(|(mut v, bits)| {
            if let Some(last) = v.last_mut() {
                *last &= 0xffu8 << (8 - bits);
            }
            Term::from(BitString {
                data: v.into(),
                bits_in_last_byte: bits,
            })
        }),
        (node.clone(), 0u32..4, 0u32..4).prop_map(|(n, id, serial)| Term::Pid(Pid {
            node: Atom::from(n),
            id,
            serial,
            creation: 0,
        })),
        (node.clone(), 0u64..4).prop_map(|(n, id)| Term::Port(Port {
            node: Atom::from(n),
            id,
            creation: 0,
        })),
        (node, proptest::collection::vec(0u32..3, 1..=5))
            .prop_map(|(n, w)| Term::from(Reference::new(Atom::from(n), 0, &w).unwrap())),
        (atom(), atom(), any::<u8>()).prop_map(|(module, function, arity)| Term::Export(Box::new(
            ExportFun {
                module,
                function,
                arity
            }
        ))),
        Just(Term::NIL),
        "[a-z]{1,5}".prop_map(|s| Term::charlist(&s)),
    ]
}

fn term() -> impl Strategy<Value = Term> {
    leaf().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Term::Tuple),
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Term::List),
            (
                proptest::collection::vec(inner.clone(), 1..3),
                inner.clone()
            )
                .prop_map(|(v, tail)| Term::ImproperList(v, Box::new(tail))),
            proptest::collection::vec((inner.clone(), inner), 0..5)
                .prop_map(|kv| Term::from(kv.into_iter().collect::<Map>())),
        ]
    })
}

fn hash(t: &Term) -> u64 {
    let mut h = DefaultHasher::new();
    t.hash(&mut h);
    h.finish()
}

/// An exactly equal term built differently: maps with their entries in
/// reverse order, lists split into improper cons chains, and with
/// `flip_zero` `0.0` as `-0.0` (equal, but printed differently, as in
/// Erlang).
fn rebuilt(t: &Term) -> Term {
    rebuild(t, true)
}

fn rebuild(t: &Term, flip_zero: bool) -> Term {
    let rebuilt = |t: &Term| rebuild(t, flip_zero);
    match t {
        Term::Float(f) if *f == 0.0 && flip_zero => Term::Float(-f),
        Term::Tuple(v) => Term::Tuple(v.iter().map(rebuilt).collect()),
        Term::List(v) if v.len() >= 2 => {
            let (head, rest) = v.split_at(1);
            Term::ImproperList(
                head.iter().map(rebuilt).collect(),
                Box::new(Term::List(rest.iter().map(rebuilt).collect())),
            )
        }
        Term::List(v) => Term::List(v.iter().map(rebuilt).collect()),
        Term::ImproperList(v, tail) => {
            Term::ImproperList(v.iter().map(rebuilt).collect(), Box::new(rebuilt(tail)))
        }
        Term::Map(m) => Term::from(
            m.iter()
                .rev()
                .map(|(k, v)| (rebuilt(k), rebuilt(v)))
                .collect::<Map>(),
        ),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ord_is_a_total_order_that_agrees_with_eq(a in term(), b in term(), c in term()) {
        prop_assert_eq!(a.cmp(&a), Ordering::Equal);
        prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
        let mut v = [a.clone(), b.clone(), c.clone()];
        v.sort();
        prop_assert!(v[0] <= v[1] && v[1] <= v[2] && v[0] <= v[2]);
        // Ord refines Erlang's order.
        let erl = a.erl_cmp(&b);
        prop_assert_eq!(erl, b.erl_cmp(&a).reverse());
        if erl != Ordering::Equal {
            prop_assert_eq!(a.cmp(&b), erl);
        }
        if a == b {
            prop_assert!(a.erl_eq(&b));
        }
    }

    #[test]
    fn equal_terms_built_differently_are_equal_and_hash_alike(a in term()) {
        let b = rebuilt(&a);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.cmp(&b), Ordering::Equal);
        prop_assert_eq!(hash(&a), hash(&b));
        prop_assert_eq!(hash(&a), hash(&a.clone()));
        prop_assert_eq!(a.to_string(), rebuild(&a, false).to_string());
    }

    #[test]
    fn printed_terms_parse_back(a in term()) {
        let text = a.to_string();
        let back: Term = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&back, &a, "{}", text);
        prop_assert_eq!(back.to_string(), text);
        prop_assert_eq!(format!("{a:?}"), a.to_string());
    }

    #[test]
    fn conversions_round_trip(
        i in any::<i64>(),
        u in any::<u128>(),
        s in ".{0,12}",
        v in proptest::collection::vec(any::<i32>(), 0..6),
        o in proptest::option::of(any::<bool>()),
    ) {
        prop_assert_eq!(i64::try_from(Term::from(i)), Ok(i));
        prop_assert_eq!(u128::try_from(Term::from(u)), Ok(u));
        prop_assert_eq!(String::try_from(Term::from(s.as_str())), Ok(s.clone()));
        prop_assert_eq!(String::try_from(Term::charlist(&s)), Ok(s.clone()));
        prop_assert_eq!(Vec::<i32>::try_from(Term::from(v.clone())), Ok(v.clone()));
        prop_assert_eq!(Option::<bool>::try_from(Term::from(o)), Ok(o));
        let t = Term::from((i, s.clone(), v.clone()));
        prop_assert_eq!(<(i64, String, Vec<i32>)>::try_from(&t), Ok((i, s, v)));
    }
}

proptest! {
    // Maps of up to 40 entries of generated terms are slow to generate in a
    // debug build; fewer cases still cover small and large (HAMT) maps.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn maps_ignore_insertion_order(kv in proptest::collection::vec((term(), term()), 0..40)) {
        let forward: Map = kv.iter().cloned().collect();
        let mut backward = Map::new();
        // Later duplicates win in both: insert the reversed list keeping
        // only each key's last value. As in the BEAM, a map keeps the key it
        // first got and only replaces the value, which shows for keys that
        // are equal but print differently (0.0 and -0.0 in OTP 25).
        for (k, v) in kv.iter().rev() {
            if !backward.contains_key(k) {
                let first = kv.iter().map(|(k2, _)| k2).find(|k2| *k2 == k).unwrap_or(k);
                backward.insert(first.clone(), v.clone());
            }
        }
        prop_assert_eq!(&forward, &backward);
        prop_assert_eq!(forward.to_string(), backward.to_string());
        let f: Vec<&Term> = forward.iter_wire_order().map(|(k, _)| k).collect();
        let b: Vec<&Term> = backward.iter_wire_order().map(|(k, _)| k).collect();
        prop_assert_eq!(f, b);
        for (k, _) in &kv {
            prop_assert_eq!(forward.get(k), backward.get(k));
        }
    }
}
