//! The term model's semantics against a real OTP 25 `erl`:
//!
//! * `Display` prints what `io_lib:format("~0tp", [T])` prints (the harness
//!   prints every result that way), and the parser reads what the erl shell
//!   reads: each literal is evaluated by `erl` and parsed + printed by Rust,
//!   and the two texts must be identical;
//! * floats print as OTP prints them (a large random corpus);
//! * `sort()` orders a mixed corpus (with pids, ports and references of
//!   several nodes) as `lists:sort/1` does, and `==`, `=:=` and `<` agree
//!   with Erlang on every pair;
//! * maps built in Rust list their entries in the order the BEAM encodes and
//!   prints them, for large maps (HAMT order) too.
//!
//! Terms that have no literal syntax (pids, ports, references from other
//! nodes) are handed to `erl` as `binary_to_term(<<...>>)` expressions.
// The shared harness trips this lint in code this file does not own.
#![allow(clippy::zombie_processes)]

mod common;
use common::*;
use erlnode::{Atom, Fun, Map, Pid, Port, Reference, Term};
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::cmp::Ordering;

fn start_erl(prefix: &str) -> (Epmd, Erl) {
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let erl = Erl::start(ErlOpts::new(prefix, &cookie, epmd.port));
    (epmd, erl)
}

fn parse(text: &str) -> Term {
    match text.parse::<Term>() {
        Ok(t) => t,
        Err(e) => panic!("erlnode cannot parse {text:?}: {e}"),
    }
}

/// `SMALL_ATOM_UTF8_EXT` bytes of an atom, as Erlang binary segments.
fn atom_ext(a: &Atom) -> String {
    let bytes: Vec<String> = a.as_bytes().iter().map(u8::to_string).collect();
    format!("119,{},{}", a.len(), bytes.join(","))
}

/// External-format bytes of a small free variable (an atom or a byte).
fn ext_bytes(t: &Term) -> String {
    match t {
        Term::Atom(a) => atom_ext(a),
        Term::Int(i @ 0..=255) => format!("97,{i}"),
        other => panic!("corpus funs capture only atoms and bytes, not {other}"),
    }
}

/// A local fun as the BEAM sends it (`NEW_FUN_EXT`).
fn local_fun(module: &str, old_index: u32, old_uniq: u32, free_vars: Vec<Term>) -> Term {
    let mut uniq = [0u8; 16];
    uniq[12..].copy_from_slice(&old_uniq.to_be_bytes());
    uniq[0] = module.len() as u8;
    Term::Fun(Box::new(Fun::New {
        arity: 0,
        uniq,
        index: old_index,
        module: Atom::from(module),
        old_index,
        old_uniq,
        pid: Pid {
            node: Atom::from("a@h"),
            id: 1,
            serial: 0,
            creation: 1,
        },
        free_vars,
    }))
}

/// An Erlang expression that evaluates to `t`.
fn erl_expr(t: &Term) -> String {
    let join = |v: &[Term]| v.iter().map(erl_expr).collect::<Vec<_>>().join(",");
    match t {
        Term::Pid(p) => format!(
            "binary_to_term(<<131,88,{},{}:32,{}:32,{}:32>>)",
            atom_ext(&p.node),
            p.id,
            p.serial,
            p.creation
        ),
        Term::Port(p) if p.id <= u64::from(u32::MAX) => format!(
            "binary_to_term(<<131,89,{},{}:32,{}:32>>)",
            atom_ext(&p.node),
            p.id,
            p.creation
        ),
        Term::Port(p) => format!(
            "binary_to_term(<<131,120,{},{}:64,{}:32>>)",
            atom_ext(&p.node),
            p.id,
            p.creation
        ),
        Term::Ref(r) => {
            let words: Vec<String> = r.id().iter().map(|w| format!("{w}:32")).collect();
            format!(
                "binary_to_term(<<131,90,{}:16,{},{}:32,{}>>)",
                r.id().len(),
                atom_ext(&r.node),
                r.creation,
                words.join(",")
            )
        }
        Term::Fun(f) => match &**f {
            Fun::New {
                arity,
                uniq,
                index,
                module,
                old_index,
                old_uniq,
                pid,
                free_vars,
            } => {
                let uniq: Vec<String> = uniq.iter().map(u8::to_string).collect();
                let vars: Vec<String> = free_vars.iter().map(ext_bytes).collect();
                let var_bytes: usize = free_vars
                    .iter()
                    .map(|v| match v {
                        Term::Atom(a) => 2 + a.len(),
                        _ => 2,
                    })
                    .sum();
                // Size counts itself: 4 + arity 1 + uniq 16 + index 4 +
                // numfree 4 + module + old index 5 + old uniq 5 + pid + vars.
                let size = 4
                    + 1
                    + 16
                    + 4
                    + 4
                    + (2 + module.len())
                    + 5
                    + 5
                    + (1 + 2 + pid.node.len() + 12)
                    + var_bytes;
                format!(
                    "binary_to_term(<<131,112,{size}:32,{arity},{},{index}:32,{}:32,{},98,{old_index}:32,98,{old_uniq}:32,88,{},{}:32,{}:32,{}:32{}>>)",
                    uniq.join(","),
                    free_vars.len(),
                    atom_ext(module),
                    atom_ext(&pid.node),
                    pid.id,
                    pid.serial,
                    pid.creation,
                    vars.iter().map(|v| format!(",{v}")).collect::<String>(),
                )
            }
            Fun::Old { .. } => unreachable!("no old funs in the corpus"),
        },
        Term::Tuple(v) => format!("{{{}}}", join(v)),
        Term::List(v) if !v.is_empty() => format!("[{}]", join(v)),
        Term::ImproperList(v, tail) => format!("[{}|{}]", join(v), erl_expr(tail)),
        Term::Map(m) => {
            let entries: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{} => {}", erl_expr(k), erl_expr(v)))
                .collect();
            format!("#{{{}}}", entries.join(","))
        }
        other => other.to_string(),
    }
}

#[test]
fn display_and_parse_match_erl() {
    let (_epmd, mut erl) = start_erl("txt");
    let corpus = [
        // Atoms.
        "ok",
        "'hello world'",
        "'Caps'",
        "''",
        "'cond'",
        "maybe",
        "'a\\nb'",
        "'a\\000b\\177\\200'",
        "'\\x{1F600}'",
        "'é1'",
        "ß",
        "'÷'",
        "node@host",
        "'a.b'",
        // Integers and floats.
        "0",
        "-1",
        "123456789012345678901234567890",
        "-123456789012345678901234567890",
        "-16#ff",
        "2#1010",
        "36#ZZ",
        "1_000_000",
        "$a",
        "$\\n",
        "$\\x{1F600}",
        "1.0",
        "0.1",
        "-0.0",
        "1.0e20",
        "1.5e-3",
        "123.456",
        "1000.0",
        "0.0001",
        "2.0e-5",
        "1_0.2_5e1_0",
        // Strings and lists.
        "\"abc\"",
        "\"a\\\"b\\\\c\"",
        "\"\\t\\v\\b\\f\\r\\e\\n\"",
        "\"héllo\"",
        "\"ab\" \"cd\"",
        "[160,255]",
        "[1087,1088]",
        "\"\"",
        "[[97]]",
        "[0]",
        "[127]",
        "[128]",
        "[$a|b]",
        "[1,2|3]",
        "[a,[b|c],{}]",
        "[\"\"]",
        "\"a\\x{100}\"",
        // Binaries and bitstrings.
        "<<>>",
        "<<\"abc\">>",
        "<<1,2,3>>",
        "<<\"é\"/utf8>>",
        "<<\"é\">>",
        "<<\"€\"/utf8>>",
        "<<208,191>>",
        "<<0,255>>",
        "<<\"a\",255>>",
        "<<\"a\\nb\">>",
        "<<\"\\\"'\\\\\">>",
        "<<1:3>>",
        "<<255,1:1>>",
        "<<1:16/little>>",
        "<<\"ab\"/utf16>>",
        "<<\"ab\"/utf32-little>>",
        "<<1.5/float>>",
        "<<1.5:32/float>>",
        "<<-1:12>>",
        "<<300,-1>>",
        "<<\"abc\":16>>",
        "<< <<1,2>>/binary, 3:4 >>",
        "<<1:1,0:1,1:1,1:5,7:3>>",
        // Tuples, maps, funs.
        "{}",
        "{a}",
        "{ok,[1,2]}",
        "{'EXIT',\"x\"}",
        "#{}",
        "#{a => 1}",
        "#{b => 2, a => 1}",
        "#{1.0 => a, 1 => b, 2 => c, 0.5 => d, -1 => e}",
        "#{[] => x, {} => y, <<>> => z, a => w, #{} => v, \"s\" => u}",
        "#{a => #{b => [c]}}",
        "#{<<\"k\">> => \"v\"}",
        "#{{1.0} => a, {2} => b, [1.0] => c, [2] => d}",
        "fun lists:map/2",
        "fun 'Elixir.Enum':map/2",
        "fun 'a b':'C'/0",
        "{[],[[]],\"\",[\"\"]}",
    ];
    let mut failures = Vec::new();
    for text in corpus {
        let theirs = erl.eval_ok(text);
        let ours = parse(text).to_string();
        if theirs != ours {
            failures.push(format!(
                "{text}\n   erl:      {theirs}\n   erlnode:  {ours}"
            ));
        }
        // What erl printed reads back as the same term.
        assert_eq!(parse(&theirs), parse(text), "re-reading {theirs}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Floats of every magnitude, shape and rounding difficulty.
fn float_corpus() -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(25);
    let mut v = Vec::new();
    for _ in 0..6000 {
        let f = f64::from_bits(rng.r#gen::<u64>());
        if f.is_finite() {
            v.push(f);
        }
    }
    for _ in 0..4000 {
        let width = rng.gen_range(1..17);
        let digits: u64 = rng.gen_range(1..10u64.pow(width));
        let exp: i32 = rng.gen_range(-30..30);
        v.push(digits as f64 * 10f64.powi(exp));
    }
    for e in -325..=308 {
        v.push(10f64.powi(e));
        v.push(-(2f64.powi(e.clamp(-1074, 1023))));
    }
    let two53 = 9_007_199_254_740_992.0;
    v.extend([
        two53,
        two53 - 1.0,
        two53 + 2.0,
        1e15,
        1e16,
        1e17,
        999.0,
        9999.0,
    ]);
    v.extend([
        0.1,
        0.2,
        0.3,
        1.0 / 3.0,
        f64::MIN_POSITIVE,
        f64::MAX,
        f64::EPSILON,
    ]);
    v.extend((0..200).map(|i| i as f64 / 8.0));
    v
}

#[test]
fn floats_print_as_erl_prints_them() {
    let (_epmd, mut erl) = start_erl("flt");
    let floats = float_corpus();
    let mut mismatches = Vec::new();
    for chunk in floats.chunks(500) {
        let list = Term::List(chunk.iter().map(|&f| Term::Float(f)).collect());
        let ours = list.to_string();
        let theirs = erl.eval_ok(&ours);
        if theirs != ours {
            let a: Vec<&str> = ours.trim_matches(['[', ']']).split(',').collect();
            let b: Vec<&str> = theirs.trim_matches(['[', ']']).split(',').collect();
            for (x, y) in a.iter().zip(&b) {
                if x != y {
                    mismatches.push(format!("erlnode {x} erl {y}"));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} floats differ, e.g. {:?}",
        mismatches.len(),
        floats.len(),
        &mismatches[..mismatches.len().min(10)]
    );
}

fn pid(node: &str, id: u32, serial: u32, creation: u32) -> Term {
    Term::Pid(Pid {
        node: Atom::from(node),
        id,
        serial,
        creation,
    })
}

fn port(node: &str, id: u64, creation: u32) -> Term {
    Term::Port(Port {
        node: Atom::from(node),
        id,
        creation,
    })
}

fn reference(node: &str, creation: u32, words: &[u32]) -> Term {
    Term::from(Reference::new(Atom::from(node), creation, words).unwrap())
}

/// A mixed corpus; with `ties`, terms that are `==` but not `=:=` too.
fn order_corpus(ties: bool) -> Vec<Term> {
    let texts = [
        "0",
        "1",
        "-1",
        "2.5",
        "-2.5",
        "1.5",
        "1180591620717411303424",
        "-1180591620717411303424",
        "18446744073709551616",
        "1.0e30",
        "-1.0e30",
        "1.0e-300",
        "9007199254740993",
        "9007199254740992.0",
        "a",
        "b",
        "'B'",
        "''",
        "'é'",
        "ok",
        "aa",
        "fun a:b/0",
        "fun lists:map/2",
        "fun lists:all/2",
        "fun lists:map/3",
        "{}",
        "{a}",
        "{a,b}",
        "{b}",
        "{1,2}",
        "{1,{2}}",
        "#{}",
        "#{a => 1}",
        "#{a => 2}",
        "#{b => 1}",
        "#{1 => a}",
        "#{1.0 => a}",
        "#{2 => a}",
        "#{a => 1, b => 2}",
        "#{a => 1, c => 0}",
        "[]",
        "[1]",
        "[1,2]",
        "[1|2]",
        "[a]",
        "\"abc\"",
        "[1|<<>>]",
        "[[]]",
        "<<>>",
        "<<0:1>>",
        "<<1>>",
        "<<1,2>>",
        "<<1,2:7>>",
        "<<1,1:1>>",
        "<<1:1>>",
        "<<128>>",
        "<<\"abc\">>",
    ];
    let mut v: Vec<Term> = texts.iter().map(|t| parse(t)).collect();
    v.extend([
        pid("a@h", 1, 2, 3),
        pid("a@h", 2, 1, 3),
        pid("b@h", 1, 1, 1),
        pid("a@h", 1, 1, 4),
        pid("a@h", 1 << 20, 0, 3),
        pid("a@h", 0, 1, 3),
        pid("a@h", 5, 0, 2),
        pid("a@h", 1 << 31, 0, 3),
        pid("a@h", 0, 1 << 20, 3),
        pid("aa@h", 0, 0, 7),
        port("a@h", 5, 3),
        port("a@h", 4, 4),
        port("b@h", 1, 1),
        port("a@h", 6, 2),
        port("a@h", 1 << 40, 3),
        reference("a@h", 3, &[1, 2, 3]),
        reference("a@h", 3, &[2, 1, 3]),
        reference("a@h", 3, &[1, 2, 4]),
        reference("a@h", 2, &[9, 9, 9]),
        reference("b@h", 1, &[0, 0, 0]),
        reference("a@h", 3, &[1, 2, 3, 1]),
        reference("a@h", 3, &[5]),
        reference("a@h", 3, &[1, 2, 3, 4, 5]),
        Term::tuple(vec![pid("a@h", 1, 2, 3), port("a@h", 5, 3)]),
        local_fun("a_mod", 0, 5, vec![]),
        local_fun("a_mod", 1, 5, vec![]),
        local_fun("a_mod", 0, 6, vec![]),
        local_fun("a_mod", 0, 5, vec![Term::Int(1)]),
        local_fun("a_mod", 0, 5, vec![Term::Int(2)]),
        local_fun("a_mod", 0, 5, vec![Term::atom("x"), Term::Int(0)]),
        local_fun("b", 0, 0, vec![]),
        local_fun("zz", 9, 1, vec![Term::atom("a")]),
    ]);
    if ties {
        for text in [
            "1.0",
            "0.0",
            "{1.0,2}",
            "{1,2.0}",
            "[1.0]",
            "1180591620717411303424.0",
            "#{a => 1.0}",
            "[1.0|2]",
        ] {
            v.push(parse(text));
        }
        v.push(reference("a@h", 3, &[1, 2, 3, 0]));
    }
    // A fixed shuffle so that neither side sees sorted input.
    let mut rng = StdRng::seed_from_u64(7);
    for i in (1..v.len()).rev() {
        v.swap(i, rng.gen_range(0..=i));
    }
    v
}

fn erl_list(v: &[Term]) -> String {
    format!("[{}]", v.iter().map(erl_expr).collect::<Vec<_>>().join(","))
}

fn indices(text: &str) -> Vec<usize> {
    let v: Vec<i64> = parse(text).try_into().unwrap();
    v.into_iter().map(|i| i as usize).collect()
}

#[test]
fn sort_order_matches_lists_sort() {
    let (_epmd, mut erl) = start_erl("ord");

    // Without ties, `sort()` (Ord) gives exactly `lists:sort/1`'s order.
    let corpus = order_corpus(false);
    erl.eval_ok(&format!("L = {}", erl_list(&corpus)));
    let theirs = indices(&erl.eval_ok(
        "[I || {_, I} <- lists:sort([{T, I} || {T, I} <- lists:zip(L, lists:seq(0, length(L) - 1))])]",
    ));
    // `lists:sort/1` on the terms alone agrees (no two are equal).
    assert_eq!(
        erl.eval_ok(
            "lists:sort(L) =:= [lists:nth(I + 1, L) || I <- R]"
                .replace("R", &format!("{theirs:?}"))
                .as_str()
        ),
        "true"
    );
    let mut ours: Vec<usize> = (0..corpus.len()).collect();
    ours.sort_by(|&a, &b| corpus[a].cmp(&corpus[b]));
    let show = |ix: &[usize]| {
        ix.iter()
            .map(|&i| corpus[i].to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(show(&ours), show(&theirs));
    assert_eq!(ours, theirs);
}

#[test]
fn comparisons_match_erl_on_every_pair() {
    let (_epmd, mut erl) = start_erl("cmp");
    let corpus = order_corpus(true);
    erl.eval_ok(&format!("L = {}", erl_list(&corpus)));
    // With ties, order pairs {Term, Index}: equal terms by index.
    let theirs = indices(
        &erl.eval_ok("[I || {_, I} <- lists:sort(lists:zip(L, lists:seq(0, length(L) - 1)))]"),
    );
    let mut ours: Vec<usize> = (0..corpus.len()).collect();
    ours.sort_by(|&a, &b| corpus[a].erl_cmp(&corpus[b]).then(a.cmp(&b)));
    assert_eq!(ours, theirs);

    // Every pair: `=` for =:=, `~` for == only, else `<` or `>`.
    let matrix = erl.eval_ok(
        "[[if A =:= B -> $=; A == B -> $~; A < B -> $<; true -> $> end || B <- L] || A <- L]",
    );
    let rows: Vec<String> = parse(&matrix).try_into().unwrap();
    let mut wrong = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        for (j, c) in row.chars().enumerate() {
            let (a, b) = (&corpus[i], &corpus[j]);
            let ours = if a == b {
                '='
            } else if a.erl_eq(b) {
                '~'
            } else if a.erl_cmp(b) == Ordering::Less {
                '<'
            } else {
                '>'
            };
            // Ord refines Erlang's order and agrees with Eq.
            let ord = a.cmp(b);
            assert_eq!(ord == Ordering::Equal, a == b, "{a} vs {b}");
            if c == '<' {
                assert_eq!(ord, Ordering::Less, "{a} < {b}");
            }
            if ours != c {
                wrong.push(format!("{a} vs {b}: erl {c} erlnode {ours}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Keys whose BEAM hash erlnode reproduces.
fn key_corpus(rng: &mut StdRng, kind: usize, n: usize) -> Vec<Term> {
    let mut keys: Vec<Term> = Vec::new();
    while keys.len() < n {
        let k = match kind {
            0 => Term::Int(rng.gen_range(-1000..100_000)),
            1 => {
                let big: i128 = rng.r#gen::<i128>() >> rng.gen_range(0..100);
                Term::from(big)
            }
            2 => {
                let len = rng.gen_range(0..40);
                Term::binary((0..len).map(|_| rng.r#gen::<u8>()).collect::<Vec<u8>>())
            }
            3 => Term::Float(rng.gen_range(-1e6..1e6)),
            _ => match rng.gen_range(0..8) {
                0 => Term::Int(rng.gen_range(-5..300)),
                1 => Term::Float(f64::from(rng.gen_range(-5..5)) / 2.0),
                2 => Term::binary(format!("k{}", rng.gen_range(0..1000))),
                3 => Term::tuple(vec![Term::Int(rng.gen_range(0..9)), Term::binary("x")]),
                4 => Term::charlist(&format!("s{}", rng.gen_range(0..300))),
                5 => parse(&format!(
                    "[{}, 1.5, <<1:3>> | {}]",
                    rng.gen_range(0..50),
                    rng.gen_range(0..3)
                )),
                6 => parse(&format!("#{{1 => {}, 2.0 => <<>>}}", rng.gen_range(0..50))),
                _ => parse(&format!("[{}, []]", rng.gen_range(0..50))),
            },
        };
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

#[test]
fn large_maps_keep_the_beams_order() {
    let (_epmd, mut erl) = start_erl("map");
    let mut rng = StdRng::seed_from_u64(33);
    // term_to_binary writes a map in maps:to_list order (checked on small
    // integer keys whose encoding is easy to pick apart).
    assert_eq!(
        erl.eval_ok(
            "Mt = maps:from_list([{K, 0} || K <- lists:seq(0, 99)]), \
             <<131, 116, 100:32, Rest/binary>> = term_to_binary(Mt), \
             [K || <<97, K, 97, 0>> <= Rest] =:= [K || {K, _} <- maps:to_list(Mt)]"
        ),
        "true"
    );
    let cases = [
        (0, 33),
        (0, 1000),
        (1, 200),
        (2, 300),
        (3, 100),
        (4, 150),
        (4, 20),
    ];
    for (case, (kind, n)) in cases.into_iter().enumerate() {
        let mut keys = key_corpus(&mut rng, kind, n);
        if case == 1 {
            // Pairs of integers whose 32-bit hashes collide: the HAMT goes
            // on below level 8 with a salted hash.
            keys.retain(|k| k.as_i64().is_some_and(|i| i < 20_000));
            for i in [40660, 59671, 22575, 119693, 121236, 167527, 169647, 178740] {
                keys.push(Term::Int(i));
            }
            assert!(keys.len() > 100);
        }
        let pairs: Vec<Term> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Term::tuple(vec![k.clone(), Term::Int(i as i64)]))
            .collect();
        let map: Map = pairs
            .iter()
            .map(|p| {
                let t = p.as_tuple().unwrap();
                (t[0].clone(), t[1].clone())
            })
            .collect();
        let m = format!("M{case}");
        erl.eval_ok(&format!("{m} = maps:from_list({})", Term::List(pairs)));
        let theirs = erl.eval_ok(&format!("[K || {{K, _}} <- maps:to_list({m})]"));
        let ours = Term::List(map.iter_wire_order().map(|(k, _)| k.clone()).collect());
        if ours.to_string() != theirs {
            let theirs: Vec<Term> = parse(&theirs).try_into().unwrap();
            let ours: Vec<Term> = ours.try_into().unwrap();
            let i = ours
                .iter()
                .zip(&theirs)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            let around = |v: &[Term]| {
                let s: Vec<String> = v[i.saturating_sub(2)..(i + 3).min(v.len())]
                    .iter()
                    .map(Term::to_string)
                    .collect();
                s.join(",")
            };
            panic!(
                "key order of a map of {n} keys (kind {kind}) differs at {i}: erlnode {} erl {}",
                around(&ours),
                around(&theirs)
            );
        }
        let printed = erl.eval_ok(&m);
        assert_eq!(
            map.to_string(),
            printed,
            "printing a map of {n} keys (kind {kind})"
        );
        assert_eq!(parse(&printed), Term::from(map));
    }
}

#[test]
fn funs_print_as_erl_prints_them() {
    let (_epmd, mut erl) = start_erl("fun");
    for f in [
        local_fun("a_mod", 0, 5, vec![]),
        local_fun("zz", 9, 1, vec![Term::atom("a")]),
        parse("fun lists:map/2"),
        parse("fun 'Elixir.Enum':map/2"),
    ] {
        assert_eq!(erl.eval_ok(&erl_expr(&f)), f.to_string());
    }
}

#[test]
fn erl_printed_pids_refs_and_ports_parse() {
    let (_epmd, mut erl) = start_erl("pid");
    let text = erl.eval_ok("{self(), make_ref(), hd(erlang:ports()), list_to_pid(\"<0.4.5>\")}");
    let t = parse(&text);
    let parts = t.as_tuple().unwrap();
    let local = parts[3].as_pid().unwrap();
    assert_eq!(
        (local.node.as_str(), local.id, local.serial),
        ("nonode@nohost", 4, 5)
    );
    assert!(matches!(parts[1], Term::Ref(_)) && matches!(parts[2], Term::Port(_)));
    // Our own printing of the same terms names the node instead.
    assert!(t.to_string().contains("<nonode@nohost.4.5>"));
}
