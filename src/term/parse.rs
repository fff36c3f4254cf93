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

use super::text::{ParseError, RESERVED_WORDS, is_atom_start, is_name_char, is_var_start};
use super::{Atom, BitString, ExportFun, Map, Pid, Port, Reference, Term};
use bytes::Bytes;
use num_bigint::BigInt;
use std::str::FromStr;

/// How deep binaries may nest inside binary segments (`<< <<...>>/binary >>`).
/// Nesting here is parsed recursively; real literals nest one or two deep.
pub const MAX_NESTED_BINARIES: usize = 32;

/// Largest binary a literal may build, in bytes. A segment size such as
/// `<<0:99999999999>>` would otherwise allocate without bound from a few
/// bytes of text.
pub const MAX_LITERAL_BINARY_BYTES: usize = 64 << 20;

/// The node a pid, port or reference written with channel 0 belongs to.
const LOCAL_NODE: &str = "nonode@nohost";

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An atom; `quoted` is false for a bare word (which may be reserved).
    Atom(String, bool),
    Var(String),
    Int(BigInt),
    Float(f64),
    Char(u32),
    Str(Vec<u32>),
    Pid(Pid),
    Port(Port),
    Ref(Reference),
    Punct(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    column: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Atom(a, _) => format!("atom {a}"),
        Tok::Var(v) => format!("variable {v}"),
        Tok::Int(i) => format!("integer {i}"),
        Tok::Float(f) => format!("float {f}"),
        Tok::Char(_) => "character literal".to_string(),
        Tok::Str(_) => "string".to_string(),
        Tok::Pid(_) => "pid".to_string(),
        Tok::Port(_) => "port".to_string(),
        Tok::Ref(_) => "reference".to_string(),
        Tok::Punct(p) => format!("'{p}'"),
        Tok::Eof => "end of input".to_string(),
    }
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    column: usize,
}

type PResult<T> = Result<T, ParseError>;

impl Lexer {
    fn new(text: &str) -> Lexer {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            line: 1,
            column: 1,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn error_here(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }

    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c == '%' {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.bump();
                }
            } else if c.is_whitespace() {
                self.bump();
            } else {
                break;
            }
        }
    }

    fn next_token(&mut self) -> PResult<Token> {
        self.skip_blank();
        let (line, column) = (self.line, self.column);
        let at = |tok| Token { tok, line, column };
        let Some(c) = self.peek() else {
            return Ok(at(Tok::Eof));
        };
        let err = |message: String| ParseError {
            line,
            column,
            message,
        };
        if c.is_ascii_digit() {
            return self.number().map(at);
        }
        if is_atom_start(c) {
            let name = self.name();
            return Ok(at(Tok::Atom(name, false)));
        }
        if is_var_start(c) {
            let name = self.name();
            return Ok(at(Tok::Var(name)));
        }
        let two = |a: char, b: char| c == a && self.peek_at(1) == Some(b);
        let punct = if two('<', '<') {
            "<<"
        } else if two('>', '>') {
            ">>"
        } else if two('=', '>') {
            "=>"
        } else if two(':', '=') {
            ":="
        } else if two('#', '{') {
            "#{"
        } else {
            ""
        };
        if !punct.is_empty() {
            self.bump();
            self.bump();
            return Ok(at(Tok::Punct(punct)));
        }
        match c {
            '\'' => {
                self.bump();
                let text = self.quoted('\'', line, column, "quoted atom")?;
                let text: String = text
                    .into_iter()
                    .map(|c| char::from_u32(c).ok_or(()))
                    .collect::<Result<_, _>>()
                    .map_err(
                        |_| err("atom contains a code point that is not a character".into()),
                    )?;
                Ok(at(Tok::Atom(text, true)))
            }
            '"' => {
                self.bump();
                Ok(at(Tok::Str(self.quoted('"', line, column, "string")?)))
            }
            '$' => {
                self.bump();
                match self.bump() {
                    None => Err(err("'$' must be followed by a character".into())),
                    Some('\\') => Ok(at(Tok::Char(self.escape()?))),
                    Some(c) => Ok(at(Tok::Char(c as u32))),
                }
            }
            '<' => self.pid().map(at),
            '#' => self.hash_literal(line, column).map(at),
            '{' | '}' | '[' | ']' | '(' | ')' | ',' | '|' | ':' | '/' | '-' | '+' | '.' => {
                self.bump();
                let p = match c {
                    '{' => "{",
                    '}' => "}",
                    '[' => "[",
                    ']' => "]",
                    '(' => "(",
                    ')' => ")",
                    ',' => ",",
                    '|' => "|",
                    ':' => ":",
                    '/' => "/",
                    '-' => "-",
                    '+' => "+",
                    _ => ".",
                };
                Ok(at(Tok::Punct(p)))
            }
            other => Err(err(format!("unexpected character {other:?}"))),
        }
    }

    fn name(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if !is_name_char(c) {
                break;
            }
            s.push(c);
            self.bump();
        }
        s
    }

    /// Digits in `radix` with `_` allowed between digits.
    fn digits(&mut self, radix: u32) -> PResult<String> {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_digit(radix) {
                s.push(c);
                self.bump();
            } else if c == '_'
                && !s.is_empty()
                && self.peek_at(1).is_some_and(|d| d.is_digit(radix))
            {
                self.bump();
            } else {
                break;
            }
        }
        if s.is_empty() {
            return Err(self.error_here(format!("expected a digit in base {radix}")));
        }
        Ok(s)
    }

    fn number(&mut self) -> PResult<Tok> {
        let (line, column) = (self.line, self.column);
        let int = self.digits(10)?;
        if self.peek() == Some('#') {
            let base: u32 = int.parse().unwrap_or(0);
            if !(2..=36).contains(&base) {
                return Err(ParseError {
                    line,
                    column,
                    message: format!("integer base {int} is not between 2 and 36"),
                });
            }
            self.bump();
            let digits = self.digits(base)?;
            let value = BigInt::parse_bytes(digits.as_bytes(), base)
                .ok_or_else(|| self.error_here("bad digits"))?;
            return Ok(Tok::Int(value));
        }
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            let frac = self.digits(10)?;
            let mut text = format!("{int}.{frac}");
            if matches!(self.peek(), Some('e' | 'E')) {
                let sign = match self.peek_at(1) {
                    Some(s @ ('+' | '-')) => Some(s),
                    _ => None,
                };
                let digit_at = if sign.is_some() { 2 } else { 1 };
                if self.peek_at(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                    text.push('e');
                    if let Some(s) = sign {
                        self.bump();
                        text.push(s);
                    }
                    text.push_str(&self.digits(10)?);
                }
            }
            let f: f64 = text.parse().map_err(|_| ParseError {
                line,
                column,
                message: format!("bad float {text}"),
            })?;
            if !f.is_finite() {
                return Err(ParseError {
                    line,
                    column,
                    message: format!("float {text} is out of range"),
                });
            }
            return Ok(Tok::Float(f));
        }
        Ok(Tok::Int(int.parse().unwrap_or_default()))
    }

    /// The characters of a quoted atom or string up to `quote`.
    fn quoted(&mut self, quote: char, line: usize, column: usize, what: &str) -> PResult<Vec<u32>> {
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => {
                    return Err(ParseError {
                        line,
                        column,
                        message: format!("unterminated {what}: no closing {quote}"),
                    });
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => out.push(self.escape()?),
                Some(c) => out.push(c as u32),
            }
        }
    }

    /// An escape sequence after `\`.
    fn escape(&mut self) -> PResult<u32> {
        let Some(c) = self.bump() else {
            return Err(self.error_here("unfinished escape sequence at end of input"));
        };
        Ok(match c {
            'n' => 10,
            'r' => 13,
            't' => 9,
            'v' => 11,
            'b' => 8,
            'f' => 12,
            'e' => 27,
            's' => 32,
            'd' => 127,
            '0'..='7' => {
                let mut v = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.bump();
                        }
                        None => break,
                    }
                }
                v
            }
            'x' => {
                if self.peek() == Some('{') {
                    self.bump();
                    let mut hex = String::new();
                    while let Some(d) = self.peek() {
                        if d == '}' {
                            break;
                        }
                        hex.push(d);
                        self.bump();
                    }
                    if self.bump() != Some('}') {
                        return Err(self.error_here("unterminated \\x{...} escape"));
                    }
                    match u32::from_str_radix(&hex, 16) {
                        Ok(v) if v <= 0x10_ffff => v,
                        _ => {
                            return Err(
                                self.error_here(format!("\\x{{{hex}}} is not a code point"))
                            );
                        }
                    }
                } else {
                    let mut v = 0;
                    for _ in 0..2 {
                        match self.peek().and_then(|d| d.to_digit(16)) {
                            Some(d) => {
                                v = v * 16 + d;
                                self.bump();
                            }
                            None => {
                                return Err(self.error_here("\\x needs two hex digits or {...}"));
                            }
                        }
                    }
                    v
                }
            }
            '^' => match self.bump() {
                Some(c) => (c as u32) & 31,
                None => return Err(self.error_here("unfinished \\^ escape at end of input")),
            },
            other => other as u32,
        })
    }

    /// `<` followed by a pid: `<0.80.0>` or `<'node@host'.80.0>`.
    fn pid(&mut self) -> PResult<Tok> {
        let (line, column) = (self.line, self.column);
        self.bump();
        let node = self.node_part("pid", line, column)?;
        let id = self.dot_number("pid")?;
        let serial = self.dot_number("pid")?;
        self.expect_char('>', "pid")?;
        Ok(Tok::Pid(Pid {
            node,
            id: to_u32(id, line, column)?,
            serial: to_u32(serial, line, column)?,
            creation: 0,
        }))
    }

    /// `#Ref<...>`, `#Port<...>` or `#Fun<...>` (which cannot be read back).
    fn hash_literal(&mut self, line: usize, column: usize) -> PResult<Tok> {
        self.bump();
        let word = self.name();
        let err = |message: String| ParseError {
            line,
            column,
            message,
        };
        if self.peek() != Some('<') {
            return Err(err(if word.is_empty() {
                "'#' must start a map #{...}".to_string()
            } else {
                format!("records (#{word}{{...}}) are not term literals")
            }));
        }
        match word.as_str() {
            "Ref" => {
                self.bump();
                let node = self.node_part("reference", line, column)?;
                let mut words = Vec::new();
                while self.peek() == Some('.') {
                    words.push(to_u32(self.dot_number("reference")?, line, column)?);
                }
                self.expect_char('>', "reference")?;
                words.reverse();
                let r = Reference::new(node, 0, &words).ok_or_else(|| {
                    err(format!(
                        "a reference has 1 to {} id numbers, not {}",
                        super::MAX_REFERENCE_WORDS,
                        words.len()
                    ))
                })?;
                Ok(Tok::Ref(r))
            }
            "Port" => {
                self.bump();
                let node = self.node_part("port", line, column)?;
                let id = self.dot_number("port")?;
                self.expect_char('>', "port")?;
                let id = u64::try_from(&id).map_err(|_| err("port id out of range".into()))?;
                Ok(Tok::Port(Port {
                    node,
                    id,
                    creation: 0,
                }))
            }
            "Fun" => Err(err(
                "a local fun (#Fun<...>) cannot be written as a literal; only fun M:F/A can"
                    .to_string(),
            )),
            _ => Err(err(format!("unknown literal #{word}<...>"))),
        }
    }

    /// The node of a pid, port or reference: channel `0` or an atom.
    fn node_part(&mut self, what: &str, line: usize, column: usize) -> PResult<Atom> {
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                let n = self.digits(10)?;
                if n.trim_start_matches('0').is_empty() {
                    Ok(Atom::from(LOCAL_NODE))
                } else {
                    Err(ParseError {
                        line,
                        column,
                        message: format!(
                            "{what} on node channel {n}: channel numbers only mean something \
                             in the shell that printed them; write the node name instead, \
                             as in <'name@host'.80.0>"
                        ),
                    })
                }
            }
            Some('\'') => {
                let (l, c) = (self.line, self.column);
                self.bump();
                let text = self.quoted('\'', l, c, "quoted atom")?;
                let text: String = text.into_iter().filter_map(char::from_u32).collect();
                Atom::new(&text).map_err(|e| self.error_here(e.to_string()))
            }
            Some(c) if is_atom_start(c) => {
                let name = self.name();
                Atom::new(&name).map_err(|e| self.error_here(e.to_string()))
            }
            _ => Err(self.error_here(format!(
                "expected a node name or 0 in {what}, as in <'name@host'.80.0>"
            ))),
        }
    }

    fn dot_number(&mut self, what: &str) -> PResult<BigInt> {
        self.expect_char('.', what)?;
        let d = self.digits(10)?;
        Ok(d.parse().unwrap_or_default())
    }

    fn expect_char(&mut self, want: char, what: &str) -> PResult<()> {
        if self.peek() == Some(want) {
            self.bump();
            Ok(())
        } else {
            Err(self.error_here(format!("expected '{want}' in {what}")))
        }
    }
}

fn to_u32(n: BigInt, line: usize, column: usize) -> PResult<u32> {
    u32::try_from(&n).map_err(|_| ParseError {
        line,
        column,
        message: format!("{n} does not fit in 32 bits"),
    })
}

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
                                value = Term::Map(entries.into_iter().collect());
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
                    Term::Map(Map::new())
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
            Tok::Ref(r) => Term::Ref(r),
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

enum SegValue {
    Int(BigInt),
    Float(f64),
    Str(Vec<u32>),
    Bits(Term),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Float,
    Binary,
    Bits,
    Utf8,
    Utf16,
    Utf32,
}

#[derive(Default)]
struct Spec {
    kind: Option<Kind>,
    little: bool,
    unit: Option<u64>,
}

/// Bits being built, most significant first.
#[derive(Default)]
struct BitBuf {
    data: Vec<u8>,
    len: u64,
}

impl BitBuf {
    fn push_bit(&mut self, bit: bool) {
        let used = (self.len % 8) as u32;
        if used == 0 {
            self.data.push(0);
        }
        if bit {
            if let Some(last) = self.data.last_mut() {
                *last |= 0x80 >> used;
            }
        }
        self.len += 1;
    }

    fn room(&self, more_bits: u64) -> Result<(), String> {
        if (self.len + more_bits) / 8 > MAX_LITERAL_BINARY_BYTES as u64 {
            return Err(format!(
                "binary literal larger than {MAX_LITERAL_BINARY_BYTES} bytes"
            ));
        }
        Ok(())
    }

    /// The low `n` bits of `v` (two's complement), most significant first.
    fn push_int(&mut self, v: &BigInt, n: u64) -> Result<(), String> {
        self.room(n)?;
        for i in (0..n).rev() {
            self.push_bit(v.bit(i));
        }
        Ok(())
    }

    fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.push_bits(bytes, bytes.len() as u64 * 8)
    }

    fn push_bits(&mut self, bytes: &[u8], n: u64) -> Result<(), String> {
        self.room(n)?;
        if self.len % 8 == 0 && n % 8 == 0 {
            self.data.extend_from_slice(&bytes[..(n / 8) as usize]);
            self.len += n;
            return Ok(());
        }
        for i in 0..n {
            let byte = bytes[(i / 8) as usize];
            self.push_bit(byte & (0x80 >> (i % 8)) != 0);
        }
        Ok(())
    }

    fn segment(&mut self, value: SegValue, size: Option<u64>, spec: &Spec) -> Result<(), String> {
        match value {
            SegValue::Str(chars) => {
                for c in chars {
                    self.segment(SegValue::Int(BigInt::from(c)), size, spec)?;
                }
                Ok(())
            }
            SegValue::Int(v) => match spec.kind.unwrap_or(Kind::Integer) {
                Kind::Integer => {
                    let n = size.unwrap_or(8) * spec.unit.unwrap_or(1);
                    if spec.little {
                        if n % 8 != 0 {
                            return Err(
                                "little-endian segments must be a whole number of bytes".into()
                            );
                        }
                        let mut le = Vec::new();
                        for byte in 0..n / 8 {
                            let mut b = 0u8;
                            for bit in 0..8 {
                                if v.bit(byte * 8 + bit) {
                                    b |= 1 << bit;
                                }
                            }
                            le.push(b);
                        }
                        self.push_bytes(&le)
                    } else {
                        self.push_int(&v, n)
                    }
                }
                Kind::Float => match v.to_string().parse::<f64>() {
                    Ok(f) => self.segment(SegValue::Float(f), size, spec),
                    Err(_) => Err("integer too large for a float segment".into()),
                },
                Kind::Utf8 | Kind::Utf16 | Kind::Utf32 => {
                    if size.is_some() {
                        return Err("utf8/utf16/utf32 segments take no size".into());
                    }
                    let c = u32::try_from(&v)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("{v} is not a Unicode code point"))?;
                    let plain = Spec {
                        kind: None,
                        unit: None,
                        ..*spec
                    };
                    match spec.kind {
                        Some(Kind::Utf8) => {
                            let mut buf = [0u8; 4];
                            self.push_bytes(c.encode_utf8(&mut buf).as_bytes())
                        }
                        Some(Kind::Utf16) => {
                            let mut buf = [0u16; 2];
                            for u in c.encode_utf16(&mut buf) {
                                self.segment(SegValue::Int(BigInt::from(*u)), Some(16), &plain)?;
                            }
                            Ok(())
                        }
                        _ => self.segment(
                            SegValue::Int(BigInt::from(u32::from(c))),
                            Some(32),
                            &plain,
                        ),
                    }
                }
                Kind::Binary | Kind::Bits => Err("an integer cannot be a binary segment".into()),
            },
            SegValue::Float(f) => {
                match spec.kind.unwrap_or(Kind::Float) {
                    Kind::Float => {}
                    _ => return Err("a float segment must have type float".into()),
                }
                let n = size.unwrap_or(64) * spec.unit.unwrap_or(1);
                let bytes = match n {
                    64 => f.to_be_bytes().to_vec(),
                    32 => (f as f32).to_be_bytes().to_vec(),
                    16 => f16_bits(f)?.to_be_bytes().to_vec(),
                    _ => return Err(format!("a float segment is 16, 32 or 64 bits, not {n}")),
                };
                let bytes = if spec.little {
                    bytes.into_iter().rev().collect()
                } else {
                    bytes
                };
                self.push_bytes(&bytes)
            }
            SegValue::Bits(t) => {
                let (data, len) = match &t {
                    Term::Binary(b) => (b.to_vec(), b.len() as u64 * 8),
                    Term::BitString(b) => (
                        b.data.to_vec(),
                        (b.data.len() as u64).saturating_sub(1) * 8
                            + u64::from(b.bits_in_last_byte),
                    ),
                    _ => (Vec::new(), 0),
                };
                let kind = spec.kind.unwrap_or(Kind::Integer);
                let unit = match kind {
                    Kind::Binary => spec.unit.unwrap_or(8),
                    Kind::Bits => spec.unit.unwrap_or(1),
                    _ => return Err("a binary inside a binary needs /binary or /bits".into()),
                };
                let n = match size {
                    Some(s) => s * unit,
                    None => len,
                };
                if n > len {
                    return Err(format!("segment of {n} bits from a binary of {len} bits"));
                }
                if kind == Kind::Binary && size.is_none() && len % 8 != 0 {
                    return Err("a bitstring is not a /binary; use /bits".into());
                }
                self.push_bits(&data, n)
            }
        }
    }

    fn into_term(self) -> Term {
        let rest = (self.len % 8) as u8;
        if rest == 0 {
            Term::Binary(Bytes::from(self.data))
        } else {
            Term::BitString(BitString {
                data: Bytes::from(self.data),
                bits_in_last_byte: rest,
            })
        }
    }
}

/// IEEE half precision, rounding to nearest even; overflow is an error as
/// in Erlang.
fn f16_bits(f: f64) -> Result<u16, String> {
    let x = f as f32;
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x7f_ffff;
    if x == 0.0 {
        return Ok(sign);
    }
    let e = exp - 127 + 15;
    if e >= 31 {
        return Err(format!("{f} does not fit a 16-bit float"));
    }
    if e <= 0 {
        // Subnormal half.
        if e < -10 {
            return Ok(sign);
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = m >> shift;
        let rem = m & ((1 << shift) - 1);
        let mid = 1 << (shift - 1);
        let rounded = if rem > mid || (rem == mid && half & 1 == 1) {
            half + 1
        } else {
            half
        };
        return Ok(sign | rounded as u16);
    }
    let half = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1fff;
    let rounded = if rem > 0x1000 || (rem == 0x1000 && half & 1 == 1) {
        half + 1
    } else {
        half
    };
    if rounded >= 0x7c00 {
        return Err(format!("{f} does not fit a 16-bit float"));
    }
    Ok(sign | rounded as u16)
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
