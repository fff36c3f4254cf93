//! The codec against a real `erl`: a zoo of terms made by the BEAM decodes
//! and re-encodes byte for byte (`term_to_binary(T, [{minor_version, 2}])`,
//! and minor versions 0 and 1 too), and what Rust encodes (plain, old forms,
//! compressed) decodes in the BEAM to terms `=:=` the originals.
mod common;
use common::*;

use erlnode::term::EncodeOptions;
use erlnode::{Atom, Map, Pid, Term};
use std::path::PathBuf;

/// Terms as Erlang expressions, one per entry (each on one line).
const ZOO: &[&str] = &[
    "0",
    "255",
    "256",
    "-1",
    "2147483647",
    "-2147483648",
    "2147483648",
    "-2147483649",
    "1 bsl 63",
    "-(1 bsl 63)",
    "(1 bsl 63) - 1",
    "1 bsl 64",
    "-(1 bsl 64) - 7",
    "1 bsl 2032",
    "1 bsl 2048",
    "-(1 bsl 5000)",
    "0.0",
    "-0.0",
    "1.5",
    "-2.25e-300",
    "1.0e300",
    "5.0e-324",
    "math:pi()",
    "0.1",
    "ok",
    "''",
    "'hello world'",
    "'ÿ'",
    "'ŝ'",
    "'日本語'",
    "list_to_atom(lists:duplicate(255, $a))",
    "list_to_atom(lists:duplicate(255, 16#1F600))",
    "list_to_atom(lists:duplicate(100, 16#E9))",
    "[]",
    "\"abc\"",
    "lists:seq(0, 255)",
    "lists:duplicate(65535, $x)",
    "lists:duplicate(65536, $x)",
    "[1000]",
    "[1, 2 | 3]",
    "[a | b]",
    "[\"abc\" | <<\"tail\">>]",
    "[[], [[]], {}]",
    "<<>>",
    "<<1, 2, 3>>",
    "binary:copy(<<\"xyz\">>, 1000)",
    "<<1:3>>",
    "<<255, 7:5>>",
    "<<\"abc\", 1:1>>",
    "{}",
    "{a}",
    "{ok, 1, \"two\", <<3>>}",
    "erlang:make_tuple(300, x)",
    "#{}",
    "#{a => 1, b => 2}",
    "#{1 => a, 1.0 => b, {x} => [y], \"s\" => <<\"b\">>, #{k => v} => #{}}",
    "maps:from_list([{I, I * I} || I <- lists:seq(1, 100)])",
    "maps:from_list([{integer_to_binary(I), I} || I <- lists:seq(1, 40)])",
    "self()",
    "list_to_pid(\"<0.1.0>\")",
    "spawn(fun() -> ok end)",
    "hd(erlang:ports())",
    "make_ref()",
    "alias()",
    "erlang:monitor(process, self())",
    "fun erlang:node/0",
    "fun lists:map/2",
    "fun() -> ok end",
    "(fun(X) -> fun(Y) -> {X, Y} end end)({captured, [1, 2], <<\"free\">>})",
    "lists:foldl(fun(_, A) -> [A] end, [], lists:seq(1, 1000))",
    "lists:foldl(fun(I, A) -> {I, A} end, nil, lists:seq(1, 1000))",
    "{person, <<\"Ada\">>, \"Lovelace\", 36, [math, poetry], #{born => 1815}, self(), make_ref()}",
    "[{node(), nonode@nohost, 'a@b'} || _ <- lists:seq(1, 3)]",
];

struct Tmp(PathBuf);
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
fn tmp(name: &str) -> Tmp {
    Tmp(std::env::temp_dir().join(unique(name)))
}

/// Length-prefixed chunks, as written by the Erlang side.
fn split(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let n = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
        out.push(b[4..4 + n].to_vec());
        b = &b[4 + n..];
    }
    out
}

fn join(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(c);
    }
    out
}

fn erl_path(p: &std::path::Path) -> String {
    format!("\"{}\"", p.display())
}

const ERL_SPLIT: &str = "Split = fun S(<<N:32, B:N/binary, R/binary>>, Acc) -> S(R, [B | Acc]); \
                         S(<<>>, Acc) -> lists:reverse(Acc) end";

#[test]
fn beam_zoo_round_trips_byte_for_byte_both_ways() {
    let epmd = Epmd::start();
    let mut erl = Erl::start(ErlOpts::new("codec", &unique_cookie(), epmd.port));
    erl.eval_ok(&format!("Zoo = [{}]", ZOO.join(", ")));
    erl.eval_ok(ERL_SPLIT);
    let from_beam = tmp("zoo_from_beam");
    let mut enc = |v: u8| -> String {
        let p = from_beam.0.with_extension(format!("v{v}"));
        erl.eval_ok(&format!(
            "ok = file:write_file({}, [<<(byte_size(B)):32, B/binary>> || \
             T <- Zoo, B <- [term_to_binary(T, [{{minor_version, {v}}}])]])",
            erl_path(&p)
        ));
        p.display().to_string()
    };
    let paths: Vec<String> = [2u8, 1, 0].iter().map(|&v| enc(v)).collect();
    let _cleanup: Vec<Tmp> = paths.iter().map(|p| Tmp(PathBuf::from(p))).collect();
    let read = |p: &str| split(&std::fs::read(p).unwrap());
    let (v2, v1, v0) = (read(&paths[0]), read(&paths[1]), read(&paths[2]));
    assert_eq!(v2.len(), ZOO.len());

    let opts = |minor_version: u8| EncodeOptions {
        minor_version,
        ..Default::default()
    };
    let mut terms = Vec::new();
    for (i, bytes) in v2.iter().enumerate() {
        let t = Term::decode(bytes).unwrap_or_else(|e| panic!("decode {}: {e}", ZOO[i]));
        assert!(
            t.encode() == *bytes,
            "{} re-encodes differently:\n beam {:?}\n rust {:?}",
            ZOO[i],
            &bytes[..bytes.len().min(80)],
            &t.encode()[..t.encode().len().min(80)]
        );
        // The shared decoder gives the same term.
        let shared = Term::decode_shared(&bytes::Bytes::from(bytes.clone())).unwrap();
        assert!(shared.encode() == *bytes, "{} (shared)", ZOO[i]);
        // Older minor versions decode to the same term and re-encode identically.
        for (v, beam) in [(1u8, &v1[i]), (0, &v0[i])] {
            let again = Term::decode(beam).unwrap();
            assert!(
                again.encode() == *bytes,
                "{} from minor_version {v}",
                ZOO[i]
            );
            let ours = t.encode_with(&opts(v)).unwrap();
            assert!(
                ours == *beam,
                "{} with minor_version {v}:\n beam {:?}\n rust {:?}",
                ZOO[i],
                &beam[..beam.len().min(80)],
                &ours[..ours.len().min(80)]
            );
        }
        terms.push(t);
    }

    // Back to the BEAM: our encodings (plain, compressed, minor 0) must give
    // terms =:= the originals.
    let to_beam = tmp("zoo_to_beam");
    let mut chunks = Vec::new();
    for t in &terms {
        chunks.push(t.encode());
        chunks.push(
            t.encode_with(&EncodeOptions {
                compressed: Some(6),
                ..Default::default()
            })
            .unwrap(),
        );
        chunks.push(t.encode_with(&opts(0)).unwrap());
    }
    std::fs::write(&to_beam.0, join(&chunks)).unwrap();
    let bad = erl.eval_ok(&format!(
        "{{ok, Back}} = file:read_file({}), Bs = Split(Back, []), \
         {{length(Bs), [{{I, K}} || {{I, T}} <- lists:zip(lists:seq(1, length(Zoo)), Zoo), \
         K <- [0, 1, 2], not (binary_to_term(lists:nth(3 * (I - 1) + K + 1, Bs)) =:= T)]}}",
        erl_path(&to_beam.0)
    ));
    assert_eq!(
        bad,
        format!("{{{},[]}}", 3 * ZOO.len()),
        "(zoo index, encoding) pairs the BEAM decoded differently"
    );
    // The compressed ones really are compressed where that pays.
    assert_eq!(chunks[3 * 37 + 1][1], 80, "{}", ZOO[37]);
}

#[test]
fn rust_built_terms_decode_in_the_beam() {
    let epmd = Epmd::start();
    let mut erl = Erl::start(ErlOpts::new("codec_rb", &unique_cookie(), epmd.port));
    erl.eval_ok(ERL_SPLIT);
    let node = Atom::from(erl.node.as_str());
    let cases: Vec<(Term, &str)> = vec![
        (Term::Int(-300), "-300"),
        (Term::Int(i64::MIN), "-(1 bsl 63)"),
        (
            Term::BigInt(num_bigint::BigInt::from(3) << 200),
            "3 bsl 200",
        ),
        (Term::Float(-0.5), "-0.5"),
        (Term::atom("ŝtrange atom"), "'ŝtrange atom'"),
        (Term::list(vec![Term::Int(104), Term::Int(105)]), "\"hi\""),
        (
            Term::ImproperList(vec![Term::Int(1)], Box::new(Term::atom("t"))),
            "[1 | t]",
        ),
        (
            Term::tuple(vec![Term::binary(b"bin"), Term::NIL, Term::tuple(vec![])]),
            "{<<\"bin\">>, [], {}}",
        ),
        (
            Term::from(Map::from_iter([
                (Term::atom("b"), Term::Int(2)),
                (Term::atom("a"), Term::Int(1)),
            ])),
            "#{a => 1, b => 2}",
        ),
        (
            Term::from(erlnode::BitString {
                data: bytes::Bytes::from_static(&[0xff, 0xe0]),
                bits_in_last_byte: 3,
            }),
            "<<255, 7:3>>",
        ),
        (
            Term::Pid(Pid {
                node: node.clone(),
                id: 0,
                serial: 0,
                creation: 0,
            }),
            "list_to_pid(\"<0.0.0>\")",
        ),
    ];
    let f = tmp("rust_built");
    let mut chunks = Vec::new();
    for (t, _) in &cases {
        chunks.push(t.encode());
        chunks.push(
            t.encode_with(&EncodeOptions {
                minor_version: 1,
                legacy_node_forms: true,
                ..Default::default()
            })
            .unwrap(),
        );
    }
    std::fs::write(&f.0, join(&chunks)).unwrap();
    let expected: Vec<&str> = cases.iter().map(|(_, e)| *e).collect();
    // The local pid's creation is the node's, not 0: compare node/id only.
    let out = erl.eval_ok(&format!(
        "{{ok, B}} = file:read_file({}), Bs = Split(B, []), Exp = [{}], \
         {{length(Bs), [I || {{I, E}} <- lists:zip(lists:seq(1, length(Exp)), Exp), K <- [0, 1], \
         T <- [binary_to_term(lists:nth(2 * (I - 1) + K + 1, Bs))], \
         not (T =:= E orelse (is_pid(T) andalso node(T) =:= node(E) \
         andalso pid_to_list(T) =:= pid_to_list(E)))]}}",
        erl_path(&f.0),
        expected.join(", ")
    ));
    assert_eq!(
        out,
        format!("{{{},[]}}", 2 * cases.len()),
        "cases the BEAM decoded differently"
    );
}

/// The `eetf` interop feature against the BEAM: each zoo term the BEAM
/// writes, converted to an `eetf::Term` and encoded by eetf, decodes in the
/// BEAM `=:=` the original; and eetf's own decoding of the BEAM's bytes
/// converts to the term erlnode decodes.
#[cfg(feature = "eetf")]
#[test]
fn beam_zoo_through_eetf() {
    let epmd = Epmd::start();
    let mut erl = Erl::start(ErlOpts::new("codec_eetf", &unique_cookie(), epmd.port));
    erl.eval_ok(&format!("Zoo = [{}]", ZOO.join(", ")));
    erl.eval_ok(ERL_SPLIT);
    let from_beam = tmp("eetf_from_beam");
    erl.eval_ok(&format!(
        "ok = file:write_file({}, [<<(byte_size(B)):32, B/binary>> || \
         T <- Zoo, B <- [term_to_binary(T, [{{minor_version, 2}}])]])",
        erl_path(&from_beam.0)
    ));
    let beam = split(&std::fs::read(&from_beam.0).unwrap());
    assert_eq!(beam.len(), ZOO.len());

    // eetf decodes and drops by recursion: give its 1000-deep zoo entries
    // room that a test thread's 2 MiB may not be in a debug build.
    let chunks = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let mut chunks = Vec::new();
            for (i, bytes) in beam.iter().enumerate() {
                let ours = Term::decode(bytes).unwrap();
                let e = eetf::Term::try_from(&ours)
                    .unwrap_or_else(|err| panic!("{} to eetf: {err}", ZOO[i]));
                let mut out = Vec::new();
                e.encode(&mut out)
                    .unwrap_or_else(|err| panic!("eetf encodes {}: {err}", ZOO[i]));
                chunks.push(out);
                let theirs = eetf::Term::decode(std::io::Cursor::new(bytes))
                    .unwrap_or_else(|err| panic!("eetf decodes {}: {err:?}", ZOO[i]));
                let back = Term::try_from(theirs)
                    .unwrap_or_else(|err| panic!("{} from eetf: {err}", ZOO[i]));
                // Maps built from eetf's HashMap are `==` but ordered anew.
                assert!(
                    back == ours,
                    "{}: eetf's decoding converts to {back}",
                    ZOO[i]
                );
            }
            chunks
        })
        .unwrap()
        .join()
        .unwrap();
    let to_beam = tmp("eetf_to_beam");
    std::fs::write(&to_beam.0, join(&chunks)).unwrap();
    let bad = erl.eval_ok(&format!(
        "{{ok, Back}} = file:read_file({}), Bs = Split(Back, []), \
         {{length(Bs), [I || {{I, T, B}} <- lists:zip3(lists:seq(1, length(Zoo)), Zoo, Bs), \
         not (binary_to_term(B) =:= T)]}}",
        erl_path(&to_beam.0)
    ));
    assert_eq!(
        bad,
        format!("{{{},[]}}", ZOO.len()),
        "zoo entries the BEAM decoded differently after eetf"
    );
}
