//! The lexer for Erlang term literals (OTP 25's `erl_scan` rules): atoms,
//! variables (to reject them), numbers, characters, strings, punctuation,
//! and the pid/port/reference forms erlnode prints. Used by `parse.rs`.

use super::text::{ParseError, is_atom_start, is_name_char, is_var_start};
use super::{Atom, Pid, Port, Reference};
use num_bigint::BigInt;

/// The node a pid, port or reference written with channel 0 belongs to.
const LOCAL_NODE: &str = "nonode@nohost";

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
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
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) line: usize,
    pub(super) column: usize,
}

pub(super) fn describe(t: &Tok) -> String {
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

pub(super) struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    column: usize,
}

pub(super) type PResult<T> = Result<T, ParseError>;

impl Lexer {
    pub(super) fn new(text: &str) -> Lexer {
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

    pub(super) fn error_here(&self, message: impl Into<String>) -> ParseError {
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

    pub(super) fn next_token(&mut self) -> PResult<Token> {
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
