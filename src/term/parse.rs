//! Parsing Erlang term literals: `"{ok, [1,2]}".parse::<Term>()`.
//!
//! Accepts what the erl shell accepts as a literal term, with OTP 25's
//! lexical rules (`erl_scan`):
//!
//! * atoms, bare (`ok`, `node@host`) or quoted with escapes (`'hello world'`);
//!   reserved words must be quoted;
//! * integers in any base with digit separators (`-16#ff_ff`, `2#1010`,
//!   `1_000`), of any size; floats (`1.5e-3`, `1.0`);
//! * characters (`$a`, `$\n`, `$\x{1F600}`, `$\^A`) as integers;
//! * strings (`"a\tb"`, adjacent strings concatenate) as lists of code
//!   points;
//! * binaries: segments of integers, floats, characters, strings and nested
//!   binaries with sizes and types: `<<"abc">>`, `<<1:16, 2/little-unit:8>>`,
//!   `<<"é"/utf8>>`, `<<1.5/float-32>>`, `<< <<1>>/binary, 0:3 >>`;
//! * tuples, proper and improper lists (`[1,2|3]`), maps (`#{a => 1}`);
//! * `fun Module:Function/Arity`;
//! * the forms that [`Display`](std::fmt::Display) prints for pids, ports and
//!   references: `<'a@host'.80.0>`, `#Port<'a@host'.5>`,
//!   `#Ref<'a@host'.3.2.1>`, all with creation 0; `<0.80.0>` means node
//!   `nonode@nohost` (only channel 0 has a meaning outside the shell that
//!   printed it);
//! * whitespace and `%` comments anywhere, and an optional final `.`.
//!
//! Errors give the line and column of the offending text and what was
//! expected. Containers nest to any depth (the parser keeps its own stack);
//! binaries inside binary segments nest at most [`MAX_NESTED_BINARIES`]
//! deep.

use super::bitsyntax::{BitBuf, Kind, SegValue, Spec};
use super::lex::{Lexer, PResult, Tok, Token, describe};
use super::text::{ParseError, RESERVED_WORDS};
use super::{Atom, ExportFun, Map, Term};
use num_bigint::BigInt;
use std::str::FromStr;

/// How deep binaries may nest inside binary segments (`<< <<...>>/binary >>`).
/// Nesting here is parsed recursively; real literals nest one or two deep.
pub const MAX_NESTED_BINARIES: usize = 32;

/// Largest binary a literal may build, in bytes. A segment size such as
/// `<<0:99999999999>>` would otherwise allocate without bound from a few
/// bytes of text.
pub const MAX_LITERAL_BINARY_BYTES: usize = 64 << 20;

/// A container being parsed.
enum Frame {
    Tuple(Vec<Term>),
    List(Vec<Term>),
    /// After `|`: the tail comes next.
    Tail(Vec<Term>),
    /// Expecting a key (after `#{` or `,`).
    Key(Vec<(Term, Term)>),
    /// Expecting the value for a key (after `=>`).
    Value(Vec<(Term, Term)>, Term),
}

struct Parser {
    lex: Lexer,
    peeked: Option<Token>,
}

impl Parser {
    fn next(&mut self) -> PResult<Token> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex.next_token(),
        }
    }

    fn peek(&mut self) -> PResult<&Token> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex.next_token()?);
        }
        match &self.peeked {
            Some(t) => Ok(t),
            None => Err(self.lex.error_here("internal: no token")),
        }
    }

    fn peek_is(&mut self, p: &str) -> PResult<bool> {
        Ok(matches!(&self.peek()?.tok, Tok::Punct(q) if *q == p))
    }

    fn expect(&mut self, p: &str, why: &str) -> PResult<()> {
        let t = self.next()?;
        match t.tok {
            Tok::Punct(q) if q == p => Ok(()),
            other => Err(at(
                &t.line,
                &t.column,
                format!("{why}, found {}", describe(&other)),
            )),
        }
    }

    fn parse(&mut self) -> PResult<Term> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let mut value = match self.start_value(&mut stack)? {
                Some(v) => v,
                None => continue,
            };
            // Hand the value to the enclosing containers, closing those that
            // end here.
            loop {
                let Some(frame) = stack.last_mut() else {
                    self.finish()?;
                    return Ok(value);
                };
                match frame {
                    Frame::Tuple(items) => {
                        items.push(value);
                        let t = self.next()?;
                        match t.tok {
                            Tok::Punct(",") => break,
                            Tok::Punct("}") => {
                                let Some(Frame::Tuple(items)) = stack.pop() else {
                                    unreachable!()
                                };
                                value = Term::Tuple(items);
                            }
                            other => {
                                return Err(at(
                                    &t.line,
                                    &t.column,
                                    format!(
                                        "expected ',' or '}}' after tuple element, found {}",
                                        describe(&other)
                                    ),
                                ));
                            }
                        }
                    }
                    Frame::List(items) => {
                        items.push(value);
                        let t = self.next()?;
                        match t.tok {
                            Tok::Punct(",") => break,
                            Tok::Punct("|") => {
                                let items = std::mem::take(items);
                                *frame = Frame::Tail(items);
                                break;
                            }
                            Tok::Punct("]") => {
                                let Some(Frame::List(items)) = stack.pop() else {
                                    unreachable!()
                                };
                                value = Term::List(items);
                            }
                            other => {
                                return Err(at(
                                    &t.line,
                                    &t.column,
                                    format!(
                                        "expected ',', '|' or ']' after list element, found {}",
                                        describe(&other)
                                    ),
                                ));
                            }
                        }
                    }
                    Frame::Tail(_) => {
                        self.expect("]", "expected ']' after the tail of a list")?;
                        let Some(Frame::Tail(mut items)) = stack.pop() else {
                            unreachable!()
                        };
                        value = match &mut value {
                            Term::List(rest) => {
                                items.append(rest);
                                Term::List(items)
                            }
                            Term::ImproperList(rest, tail) => {
                                items.append(rest);
                                Term::ImproperList(items, Box::new(std::mem::take(&mut **tail)))
                            }
                            _ => Term::ImproperList(items, Box::new(value)),
                        };
                    }
                    Frame::Key(entries) => {
                        let t = self.next()?;
                        match t.tok {
                            Tok::Punct("=>") => {
                                let entries = std::mem::take(entries);
                                *frame = Frame::Value(entries, value);
                                break;
                            }
                            Tok::Punct(":=") => {
                                return Err(at(
                                    &t.line,
                                    &t.column,
                                    "':=' only updates an existing map; use '=>' in a map literal"
                                        .into(),
                                ));
                            }
                            other => {
                                return Err(at(
                                    &t.line,
                                    &t.column,
                                    format!(
                                        "expected '=>' after map key, found {}",
                                        describe(&other)
                                    ),
                                ));
                            }
                        }
                    }
                    Frame::Value(entries, key) => {
                        let key = std::mem::take(key);
                        entries.push((key, value));
                        let t = self.next()?;
                        match t.tok {
                            Tok::Punct(",") => {
                                let entries = std::mem::take(entries);
                                *frame = Frame::Key(entries);
                                break;
                            }
                            Tok::Punct("}") => {
                                let Some(Frame::Value(entries, _)) = stack.pop() else {
                                    unreachable!()
                                };
                                value = Term::Map(Box::new(entries.into_iter().collect()));
                            }
                            other => {
                                return Err(at(
                                    &t.line,
                                    &t.column,
                                    format!(
                                        "expected ',' or '}}' after map value, found {}",
                                        describe(&other)
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Reads the start of a term: an atomic term is returned; a container
    /// that is not empty pushes a frame and returns `None`.
    fn start_value(&mut self, stack: &mut Vec<Frame>) -> PResult<Option<Term>> {
        let t = self.next()?;
        let (line, column) = (t.line, t.column);
        Ok(Some(match t.tok {
            Tok::Punct("{") => {
                if self.peek_is("}")? {
                    self.next()?;
                    Term::Tuple(Vec::new())
                } else {
                    stack.push(Frame::Tuple(Vec::new()));
                    return Ok(None);
                }
            }
            Tok::Punct("[") => {
                if self.peek_is("]")? {
                    self.next()?;
                    Term::NIL
                } else {
                    stack.push(Frame::List(Vec::new()));
                    return Ok(None);
                }
            }
            Tok::Punct("#{") => {
                if self.peek_is("}")? {
                    self.next()?;
                    Term::Map(Box::new(Map::new()))
                } else {
                    stack.push(Frame::Key(Vec::new()));
                    return Ok(None);
                }
            }
            Tok::Punct("<<") => self.binary(line, column, 0)?,
            Tok::Punct(sign @ ("-" | "+")) => {
                let n = self.next()?;
                let neg = sign == "-";
                match n.tok {
                    Tok::Int(i) => Term::from_bigint(if neg { -i } else { i }),
                    Tok::Char(c) => Term::Int(if neg { -i64::from(c) } else { i64::from(c) }),
                    Tok::Float(f) => Term::Float(if neg { -f } else { f }),
                    other => {
                        return Err(at(
                            &n.line,
                            &n.column,
                            format!(
                                "expected a number after '{sign}', found {}",
                                describe(&other)
                            ),
                        ));
                    }
                }
            }
            Tok::Int(i) => Term::from_bigint(i),
            Tok::Float(f) => Term::Float(f),
            Tok::Char(c) => Term::Int(i64::from(c)),
            Tok::Str(mut s) => {
                while let Tok::Str(_) = self.peek()?.tok {
                    if let Tok::Str(more) = self.next()?.tok {
                        s.extend(more);
                    }
                }
                Term::List(s.into_iter().map(|c| Term::Int(i64::from(c))).collect())
            }
            Tok::Atom(name, quoted) => {
                if !quoted && name == "fun" {
                    self.export_fun()?
                } else if !quoted && RESERVED_WORDS.contains(&name.as_str()) {
                    return Err(at(
                        &line,
                        &column,
                        format!("'{name}' is a reserved word; quote it to use it as an atom"),
                    ));
                } else {
                    Term::Atom(Atom::new(&name).map_err(|e| at(&line, &column, e.to_string()))?)
                }
            }
            Tok::Pid(p) => Term::Pid(p),
            Tok::Port(p) => Term::Port(p),
            Tok::Ref(r) => Term::Ref(Box::new(r)),
            Tok::Var(v) => {
                return Err(at(
                    &line,
                    &column,
                    format!(
                        "variable {v} in a term literal; atoms starting with a capital letter or '_' need quotes ('{v}')"
                    ),
                ));
            }
            other => {
                return Err(at(
                    &line,
                    &column,
                    format!("expected a term, found {}", describe(&other)),
                ));
            }
        }))
    }

    /// `fun M:F/A`, after `fun`.
    fn export_fun(&mut self) -> PResult<Term> {
        let module = self.atom("expected a module name after 'fun'")?;
        self.expect(":", "expected ':' after the module in fun M:F/A")?;
        let function = self.atom("expected a function name in fun M:F/A")?;
        self.expect("/", "expected '/' after the function in fun M:F/A")?;
        let t = self.next()?;
        let arity = match &t.tok {
            Tok::Int(i) => u8::try_from(i).ok(),
            _ => None,
        };
        let Some(arity) = arity else {
            return Err(at(
                &t.line,
                &t.column,
                "expected an arity from 0 to 255 in fun M:F/A".into(),
            ));
        };
        Ok(Term::Export(Box::new(ExportFun {
            module,
            function,
            arity,
        })))
    }

    fn atom(&mut self, why: &str) -> PResult<Atom> {
        let t = self.next()?;
        match t.tok {
            Tok::Atom(a, _) => Atom::new(&a).map_err(|e| at(&t.line, &t.column, e.to_string())),
            other => Err(at(
                &t.line,
                &t.column,
                format!("{why}, found {}", describe(&other)),
            )),
        }
    }

    /// After the term: an optional `.`, then nothing.
    fn finish(&mut self) -> PResult<()> {
        let mut t = self.next()?;
        if t.tok == Tok::Punct(".") {
            t = self.next()?;
        }
        match t.tok {
            Tok::Eof => Ok(()),
            other => Err(at(
                &t.line,
                &t.column,
                format!("unexpected {} after the term", describe(&other)),
            )),
        }
    }

    /// A binary, after `<<`.
    fn binary(&mut self, line: usize, column: usize, depth: usize) -> PResult<Term> {
        if depth >= MAX_NESTED_BINARIES {
            return Err(at(
                &line,
                &column,
                format!("binaries nest more than {MAX_NESTED_BINARIES} deep"),
            ));
        }
        let mut bits = BitBuf::default();
        if self.peek_is(">>")? {
            self.next()?;
            return Ok(bits.into_term());
        }
        loop {
            self.segment(&mut bits, depth)?;
            let t = self.next()?;
            match t.tok {
                Tok::Punct(",") => {}
                Tok::Punct(">>") => return Ok(bits.into_term()),
                other => {
                    return Err(at(
                        &t.line,
                        &t.column,
                        format!(
                            "expected ',' or '>>' after binary segment, found {}",
                            describe(&other)
                        ),
                    ));
                }
            }
        }
    }

    /// One binary segment: `Value[:Size][/Type-Specifiers]`.
    fn segment(&mut self, bits: &mut BitBuf, depth: usize) -> PResult<()> {
        let t = self.next()?;
        let (line, column) = (t.line, t.column);
        let value = match t.tok {
            Tok::Int(i) => SegValue::Int(i),
            Tok::Char(c) => SegValue::Int(BigInt::from(c)),
            Tok::Float(f) => SegValue::Float(f),
            Tok::Str(s) => SegValue::Str(s),
            Tok::Punct(sign @ ("-" | "+")) => {
                let n = self.next()?;
                let neg = sign == "-";
                match n.tok {
                    Tok::Int(i) => SegValue::Int(if neg { -i } else { i }),
                    Tok::Char(c) => {
                        SegValue::Int(BigInt::from(if neg { -i64::from(c) } else { i64::from(c) }))
                    }
                    Tok::Float(f) => SegValue::Float(if neg { -f } else { f }),
                    other => {
                        return Err(at(
                            &n.line,
                            &n.column,
                            format!(
                                "expected a number after '{sign}', found {}",
                                describe(&other)
                            ),
                        ));
                    }
                }
            }
            Tok::Punct("<<") => SegValue::Bits(self.binary(line, column, depth + 1)?),
            other => {
                return Err(at(
                    &line,
                    &column,
                    format!(
                        "expected an integer, float, string or binary in a binary segment, found {}",
                        describe(&other)
                    ),
                ));
            }
        };
        let mut size: Option<u64> = None;
        if self.peek_is(":")? {
            self.next()?;
            let s = self.next()?;
            match s.tok {
                Tok::Int(i) => match u64::try_from(&i) {
                    Ok(n) => size = Some(n),
                    Err(_) => return Err(at(&s.line, &s.column, format!("bad segment size {i}"))),
                },
                other => {
                    return Err(at(
                        &s.line,
                        &s.column,
                        format!(
                            "expected a segment size after ':', found {}",
                            describe(&other)
                        ),
                    ));
                }
            }
        }
        let spec = if self.peek_is("/")? {
            self.next()?;
            self.type_specs()?
        } else {
            Spec::default()
        };
        let err = |m: String| at(&line, &column, m);
        bits.segment(value, size, &spec).map_err(err)
    }

    /// Type specifiers after `/`: `integer-little-unit:8` and so on.
    fn type_specs(&mut self) -> PResult<Spec> {
        let mut spec = Spec::default();
        loop {
            let t = self.next()?;
            let Tok::Atom(name, _) = &t.tok else {
                return Err(at(
                    &t.line,
                    &t.column,
                    format!("expected a type specifier, found {}", describe(&t.tok)),
                ));
            };
            match name.as_str() {
                "integer" => spec.kind = Some(Kind::Integer),
                "float" => spec.kind = Some(Kind::Float),
                "binary" | "bytes" => spec.kind = Some(Kind::Binary),
                "bitstring" | "bits" => spec.kind = Some(Kind::Bits),
                "utf8" => spec.kind = Some(Kind::Utf8),
                "utf16" => spec.kind = Some(Kind::Utf16),
                "utf32" => spec.kind = Some(Kind::Utf32),
                "signed" | "unsigned" => {}
                "big" => spec.little = false,
                // The BEAM running this test suite, and every one erlnode
                // talks to in practice, is little-endian.
                "little" | "native" => spec.little = true,
                "unit" => {
                    self.expect(":", "expected ':' after 'unit'")?;
                    let u = self.next()?;
                    match u.tok {
                        Tok::Int(i) if (BigInt::from(1)..=BigInt::from(256)).contains(&i) => {
                            spec.unit = u64::try_from(&i).ok();
                        }
                        _ => {
                            return Err(at(
                                &u.line,
                                &u.column,
                                "unit must be from 1 to 256".into(),
                            ));
                        }
                    }
                }
                other => {
                    return Err(at(
                        &t.line,
                        &t.column,
                        format!("unknown type specifier {other}"),
                    ));
                }
            }
            if !self.peek_is("-")? {
                return Ok(spec);
            }
            self.next()?;
        }
    }
}

fn at(line: &usize, column: &usize, message: String) -> ParseError {
    ParseError {
        line: *line,
        column: *column,
        message,
    }
}

impl FromStr for Term {
    type Err = ParseError;

    /// Parses one Erlang term literal; see the [module docs](crate::term).
    fn from_str(text: &str) -> Result<Term, ParseError> {
        Parser {
            lex: Lexer::new(text),
            peeked: None,
        }
        .parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Term {
        match s.parse::<Term>() {
            Ok(t) => t,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn e(s: &str) -> ParseError {
        match s.parse::<Term>() {
            Ok(t) => panic!("{s:?} parsed as {t}"),
            Err(e) => e,
        }
    }

    #[test]
    fn atoms_and_numbers() {
        assert_eq!(p("ok"), Term::atom("ok"));
        assert_eq!(p("'hello world'"), Term::atom("hello world"));
        assert_eq!(p("'a\\'b\\n'"), Term::atom("a'b\n"));
        assert_eq!(p("node@host"), Term::atom("node@host"));
        assert_eq!(p("16#ff"), Term::Int(255));
        assert_eq!(p("-16#ff_ff"), Term::Int(-65535));
        assert_eq!(p("2#1010"), Term::Int(10));
        assert_eq!(p("-36#zz"), Term::Int(-1295));
        assert_eq!(p("1_000"), Term::Int(1000));
        assert_eq!(
            p("123456789012345678901234567890"),
            Term::from_bigint("123456789012345678901234567890".parse().unwrap())
        );
        assert_eq!(p("1.5e-3"), Term::Float(0.0015));
        assert_eq!(p("1_0.2_5e1_0"), Term::Float(1.025e11));
        assert_eq!(p("- 2.5"), Term::Float(-2.5));
        assert_eq!(p("$a"), Term::Int(97));
        assert_eq!(p("$\\n"), Term::Int(10));
        assert_eq!(p("$\\s"), Term::Int(32));
        assert_eq!(p("$\\x{1F600}"), Term::Int(0x1F600));
        assert_eq!(p("$\\^A"), Term::Int(1));
        assert_eq!(p("$ "), Term::Int(32));
        assert_eq!(p("\"\\x41\\101\\^Z\\d\\s\""), p("[65,65,26,127,32]"));
    }

    #[test]
    fn containers() {
        assert_eq!(p("{ok, [1,2]}").to_string(), "{ok,[1,2]}");
        assert_eq!(p("[1,2|3]").to_string(), "[1,2|3]");
        assert_eq!(p("[1|[2,3]]"), p("[1,2,3]"));
        assert_eq!(p("[1|[2|x]]"), p("[1,2|x]"));
        assert_eq!(p("#{a => 1, b => [x]}").to_string(), "#{a => 1,b => [x]}");
        assert_eq!(p("#{a => 1, a => 2}").to_string(), "#{a => 2}");
        assert_eq!(p("\"ab\" \"cd\""), p("\"abcd\""));
        assert_eq!(p("fun lists:map/2").to_string(), "fun lists:map/2");
        assert_eq!(p("fun 'A b':'c'/0").to_string(), "fun 'A b':c/0");
        assert_eq!(p(" % comment\n {a, % more\n b}. "), p("{a,b}"));
    }

    #[test]
    fn binaries() {
        assert_eq!(p("<<\"abc\">>"), Term::binary("abc"));
        assert_eq!(p("<<1,2,3>>"), Term::binary([1, 2, 3]));
        assert_eq!(p("<<\"a\", 1, 2, \"x\">>"), Term::binary([97, 1, 2, 120]));
        assert_eq!(p("<<1:16>>"), Term::binary([0, 1]));
        assert_eq!(p("<<\"é\"/utf8>>"), Term::binary("é"));
        assert_eq!(p("<<1:16/little>>"), Term::binary([1, 0]));
        assert_eq!(p("<<-1:12, 0:4>>"), Term::binary([255, 240]));
        assert_eq!(p("<<1:3>>").to_string(), "<<1:3>>");
        assert_eq!(p("<< <<1,2>>/binary, 3:4 >>").to_string(), "<<1,2,3:4>>");
        assert_eq!(p("<<1.5/float>>"), Term::binary(1.5f64.to_be_bytes()));
        assert_eq!(p("<<1.5:32/float>>"), Term::binary(1.5f32.to_be_bytes()));
        assert_eq!(p("<<1.5:16/float>>"), Term::binary([0x3e, 0x00]));
        assert_eq!(p("<<\"ab\"/utf16-little>>"), Term::binary([97, 0, 98, 0]));
        assert_eq!(p("<<300>>"), Term::binary([44]));
        assert_eq!(p("<<>>"), Term::binary([]));
    }

    #[test]
    fn pids_ports_refs() {
        let pid = p("<'a@h'.80.2>");
        assert_eq!(pid.to_string(), "<a@h.80.2>");
        assert_eq!(p("<0.80.0>").to_string(), "<nonode@nohost.80.0>");
        assert_eq!(p("#Ref<'a@h'.3.2.1>").to_string(), "#Ref<a@h.3.2.1>");
        assert_eq!(p("#Port<'x@y.z'.5>").to_string(), "#Port<'x@y.z'.5>");
        assert!(e("<8775.1.2>").message.contains("node name"));
    }

    #[test]
    fn errors_say_where_and_why() {
        let err = e("{a, b");
        assert_eq!((err.line, err.column), (1, 6));
        assert!(
            err.message
                .contains("expected ',' or '}' after tuple element"),
            "{err}"
        );
        let err = e("[1,\n  \"abc");
        assert_eq!((err.line, err.column), (2, 3));
        assert!(err.message.contains("unterminated string"), "{err}");
        assert!(e("{a b}").message.contains("after tuple element"));
        assert!(e("[1 2]").message.contains("after list element"));
        assert!(e("#{a 1}").message.contains("'=>'"));
        assert!(e("#{a := 1}").message.contains("':='"));
        assert!(e("Foo").message.contains("variable"));
        assert!(e("case").message.contains("reserved"));
        assert!(e("1 2").message.contains("after the term"));
        assert!(e("16#").message.contains("digit"));
        assert!(e("37#1").message.contains("base"));
        assert!(e("1.0e999").message.contains("out of range"));
        assert!(
            e("'unterminated")
                .message
                .contains("unterminated quoted atom")
        );
        assert!(e("#rec{}").message.contains("records"));
        assert!(e("#Fun<a.1.2>").message.contains("local fun"));
        assert!(e("<<1:99999999999999>>").message.contains("larger than"));
        assert!(e("").message.contains("expected a term"));
        assert!(e(&format!("'{}'", "a".repeat(256))).message.contains("255"));
        assert!(
            e(&format!("<{}.1.2>", "a".repeat(256)))
                .message
                .contains("255")
        );
    }

    #[test]
    fn million_deep_parses() {
        let n = 1_000_000;
        let text = format!("{}{}", "[".repeat(n), "]".repeat(n));
        let t = p(&text);
        let mut depth = 0;
        let mut cur = &t;
        while let Term::List(v) = cur {
            depth += 1;
            match v.first() {
                Some(x) => cur = x,
                None => break,
            }
        }
        assert_eq!(depth, n);
        assert_eq!(t.to_string(), text);
    }
}
