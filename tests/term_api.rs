//! The term API as a user sees it: build, convert, print, parse, compare,
//! and the depth guarantees, through the public interface only.

use erlnode::term::{MAP_SMALL_MAP_LIMIT, ParseError, TermConversionError};
use erlnode::{Atom, Map, Term};
use std::collections::{BTreeSet, HashMap, HashSet};

#[test]
fn build_print_parse() {
    let t = Term::from((Term::atom("ok"), vec![1, 2], "bin", Some(1.5), None::<u8>));
    assert_eq!(t.to_string(), "{ok,[1,2],<<\"bin\">>,1.5,undefined}");
    assert_eq!(t.to_string().parse::<Term>(), Ok(t.clone()));
    assert_eq!(format!("{t:?}"), t.to_string());

    let (status, items): (Atom, Vec<i64>) =
        "{ok, [1,2,3]}".parse::<Term>().unwrap().try_into().unwrap();
    assert_eq!((status.as_str(), items), ("ok", vec![1, 2, 3]));
}

#[test]
fn parse_errors_say_where_and_why() {
    let err: ParseError = "{ok,\n [1, 2}".parse::<Term>().unwrap_err();
    assert_eq!(err.line, 2);
    assert_eq!(err.column, 7);
    assert_eq!(
        err.to_string(),
        "2:7: expected ',', '|' or ']' after list element, found '}'"
    );
    let err = "\"abc".parse::<Term>().unwrap_err();
    assert_eq!(err.to_string(), "1:1: unterminated string: no closing \"");
}

#[test]
fn conversion_errors_say_what_was_expected() {
    let err: TermConversionError = u8::try_from(Term::atom("x")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected an integer in the range of u8, got x"
    );
    let err = <(i32, String)>::try_from(&"{1, 2}".parse::<Term>().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected a UTF-8 binary or a list of code points, got 2"
    );
}

#[test]
fn terms_work_as_keys_of_std_collections() {
    let a: Term = "#{a => 1, b => [x, 2.0]}".parse().unwrap();
    let b: Term = "#{b => [x, 2.0], a => 1}".parse().unwrap();
    let c: Term = "#{b => [x, 2], a => 1}".parse().unwrap();
    let set: HashSet<Term> = [a.clone(), b.clone(), c.clone()].into_iter().collect();
    assert_eq!(set.len(), 2);
    let sorted: BTreeSet<Term> = [a, b, c].into_iter().collect();
    assert_eq!(sorted.len(), 2);
    let mut h: HashMap<Term, u32> = HashMap::new();
    h.insert(Term::Float(0.0), 1);
    assert_eq!(h.get(&Term::Float(-0.0)), Some(&1));
    assert_eq!(h.get(&Term::Int(0)), None);
}

#[test]
fn sorting_follows_erlang_term_order() {
    let mut v: Vec<Term> = "[<<>>, [a], [], #{}, {a,b}, {z}, fun m:f/0, a, 2, 1.0, 1]"
        .parse::<Term>()
        .unwrap()
        .try_into()
        .unwrap();
    v.sort();
    let sorted: Vec<String> = v.iter().map(Term::to_string).collect();
    assert_eq!(
        sorted,
        [
            "1",
            "1.0",
            "2",
            "a",
            "fun m:f/0",
            "{z}",
            "{a,b}",
            "#{}",
            "[]",
            "[a]",
            "<<>>"
        ]
    );
}

#[test]
fn maps_built_in_rust_encode_in_beam_order() {
    let mut m = Map::new();
    for k in ["c", "a", "b"] {
        m.insert(Term::atom(k), Term::Int(0));
    }
    m.insert(Term::Float(1.0), Term::Int(0));
    m.insert(Term::Int(2), Term::Int(0));
    let order: Vec<String> = m.iter_wire_order().map(|(k, _)| k.to_string()).collect();
    assert_eq!(order, ["2", "1.0", "a", "b", "c"]);
    assert_eq!(m.to_string(), "#{2 => 0,1.0 => 0,a => 0,b => 0,c => 0}");
    // Larger maps follow the BEAM's hash order (verified against OTP 25 in
    // tests/interop_text.rs); for integers 1..=40 it starts 33, 12, 23.
    let big: Map = (1..=40).map(|i| (Term::Int(i), Term::Int(i))).collect();
    assert!(big.len() > MAP_SMALL_MAP_LIMIT);
    let first: Vec<i64> = big
        .iter_wire_order()
        .take(3)
        .map(|(k, _)| k.as_i64().unwrap())
        .collect();
    assert_eq!(first, [33, 12, 23]);
}

#[test]
fn million_deep_terms_round_trip_through_text() {
    let n = 1_000_000;
    let text = format!("{}x{}", "[".repeat(n), "]".repeat(n));
    let t: Term = text.parse().unwrap();
    let copy = t.clone();
    assert_eq!(t, copy);
    assert_eq!(t.cmp(&copy), std::cmp::Ordering::Equal);
    assert!(t.erl_eq(&copy));
    let mut set = HashSet::new();
    set.insert(copy);
    assert!(set.contains(&t));
    assert_eq!(t.to_string(), text);
    let nested_maps = format!("{}1{}", "#{k => ".repeat(n), "}".repeat(n));
    let m: Term = nested_maps.parse().unwrap();
    assert_eq!(format!("{m:?}"), nested_maps);
}

/// `Map::clone` copies shallow maps by recursion and deep ones through a
/// work list; both keep the entries' received order and the key order.
#[test]
fn map_clone_keeps_order_at_any_depth() {
    // 40 integer keys in hash order, as the BEAM sends a large map.
    let mut b = vec![131, 116, 0, 0, 0, 40];
    for k in (0..40u16).map(|k| ((k * 7) % 40) as u8) {
        b.extend([97, k, 97, k]);
    }
    let t = Term::decode(&b).unwrap();
    let Term::Map(m) = &t else {
        panic!("not a map")
    };
    let copy = (**m).clone();
    assert!(copy == **m);
    assert!(copy.is_received_order());
    assert_eq!(Term::from(copy.clone()).encode(), b);
    let keys: Vec<&Term> = copy.iter_key_order().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        (0..40)
            .map(Term::Int)
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>()
    );
    // A value nested far past the recursion limit.
    let mut deep = Term::NIL;
    for _ in 0..100_000 {
        deep = Term::list(vec![deep]);
    }
    let mut m = Map::new();
    m.insert(Term::Int(1), deep);
    m.insert(Term::atom("k"), Term::Int(2));
    let copy = m.clone();
    assert!(copy == m);
    assert_eq!(copy.get(&Term::atom("k")), Some(&Term::Int(2)));
}
