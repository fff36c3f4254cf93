//! Printing terms in Erlang syntax.
//!
//! `Display` (and `Debug`, which prints the same) writes a term the way
//! OTP 25 prints it with `io_lib:format("~0tp", [T])`: `~p` semantics on a
//! single line (field width 0 turns line breaking off), Unicode atoms and
//! binaries printed as text (`~tp`), with the default printable range
//! (Latin-1) for strings:
//!
//! * lists of printable Latin-1 code points print as strings: `"abc"`; other
//!   lists as lists: `[1087,1088]`, `[97|b]`;
//! * binaries: `<<"abc">>` for ASCII (or non-UTF-8 Latin-1) text,
//!   `<<"é"/utf8>>` for UTF-8 text, `<<1,2,3>>` otherwise; bitstrings as
//!   `<<1,2:3>>`;
//! * floats in the shortest form that reads back as the same float, laid
//!   out as OTP 25 does (`1.0`, `0.1`, `1.0e3`, `1.0e-5`, `123.456`);
//! * maps as `#{a => 1,b => 2}`, in the order the BEAM prints them: key order
//!   for up to 32 keys, reverse HAMT order above that;
//! * `fun m:f/1`; local funs as `#Fun<m.OldIndex.OldUniq>`;
//! * NaN and infinities, which Erlang floats cannot be, as Rust prints them
//!   (`NaN`, `inf`); they do not parse back.
//!
//! Pids, ports and references are where erlnode must differ: the BEAM prints
//! a node-local channel number (`<0.80.0>`, `<8775.80.0>`) that only has a
//! meaning inside that node. erlnode prints the node name instead:
//! `<'a@host'.80.0>`, `#Port<'a@host'.5>`, `#Ref<'a@host'.3.2.1>` (the
//! reference's id words most significant first, as the BEAM prints them). The
//! node's creation is not printed, as on the BEAM. The parser reads these
//! forms back (with creation 0).
//!
//! Printing uses an explicit stack, so any nesting depth prints.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use super::map::Order as MapOrder;
use super::order::{Cons, canon};
use super::text::{BinaryStyle, binary_style, is_printable_latin1, write_atom, write_escaped};
use super::{ExportFun, Fun, Map, Pid, Port, Reference, Term};
use std::fmt::{self, Write};
use std::slice::Iter;

enum Frame<'a> {
    Tuple(Iter<'a, Term>, bool),
    List(Cons<'a>, bool),
    Map(MapOrder<'a>, bool, Option<&'a Term>),
    Close(&'static str),
}

/// Writes `t` in Erlang syntax.
pub(crate) fn write_term(out: &mut impl Write, t: &Term) -> fmt::Result {
    let mut stack: Vec<Frame<'_>> = Vec::new();
    write_one(out, t, &mut stack)?;
    while let Some(top) = stack.last_mut() {
        let next = match top {
            Frame::Tuple(items, first) => match items.next() {
                Some(x) => {
                    if !std::mem::take(first) {
                        out.write_char(',')?;
                    }
                    Some(x)
                }
                None => {
                    out.write_char('}')?;
                    None
                }
            },
            Frame::List(cons, first) => match cons.next() {
                Some(x) => {
                    if !std::mem::take(first) {
                        out.write_char(',')?;
                    }
                    Some(x)
                }
                None => match cons.end() {
                    Some(tail) => {
                        out.write_char('|')?;
                        *top = Frame::Close("]");
                        write_one(out, tail, &mut stack)?;
                        continue;
                    }
                    None => {
                        out.write_char(']')?;
                        None
                    }
                },
            },
            Frame::Map(order, first, value) => {
                if let Some(v) = value.take() {
                    out.write_str(" => ")?;
                    Some(v)
                } else {
                    match order.next() {
                        Some((k, v)) => {
                            if !std::mem::take(first) {
                                out.write_char(',')?;
                            }
                            *value = Some(v);
                            Some(k)
                        }
                        None => {
                            out.write_char('}')?;
                            None
                        }
                    }
                }
            }
            Frame::Close(s) => {
                out.write_str(s)?;
                None
            }
        };
        match next {
            Some(x) => write_one(out, x, &mut stack)?,
            None => {
                stack.pop();
            }
        }
    }
    Ok(())
}

/// Writes an atomic term, or the opening of a container (pushing a frame
/// for the rest).
fn write_one<'a>(out: &mut impl Write, t: &'a Term, stack: &mut Vec<Frame<'a>>) -> fmt::Result {
    let t = canon(t);
    match t {
        Term::Int(i) => write!(out, "{i}"),
        Term::BigInt(b) => write!(out, "{b}"),
        Term::Float(f) => out.write_str(&format_float(*f)),
        Term::Atom(a) => write_atom(out, a.as_str()),
        Term::Binary(b) => write_binary(out, b, None),
        Term::BitString(b) => match b.data.split_last() {
            Some((&last, full)) if (1..8).contains(&b.bits_in_last_byte) => {
                let n = b.bits_in_last_byte;
                write_binary(out, full, Some((last >> (8 - n), n)))
            }
            _ => write_binary(out, &b.data, None),
        },
        Term::Pid(p) => write_pid(out, p),
        Term::Port(p) => write_port(out, p),
        Term::Ref(r) => write_ref(out, r),
        Term::Export(e) => write_export(out, e),
        Term::Fun(f) => write_fun(out, f),
        Term::Tuple(v) if v.is_empty() => out.write_str("{}"),
        Term::Tuple(v) => {
            out.write_char('{')?;
            stack.push(Frame::Tuple(v.iter(), true));
            Ok(())
        }
        Term::List(v) if v.is_empty() => out.write_str("[]"),
        Term::List(_) | Term::ImproperList(..) => {
            if is_printable_list(t) {
                out.write_char('"')?;
                let mut cons = Cons::new(t);
                while let Some(Term::Int(c)) = cons.next().map(canon) {
                    let c = char::from_u32(*c as u32).unwrap_or('?');
                    write_escaped(out, c, '"')?;
                }
                return out.write_char('"');
            }
            out.write_char('[')?;
            stack.push(Frame::List(Cons::new(t), true));
            Ok(())
        }
        Term::Map(m) if m.is_empty() => out.write_str("#{}"),
        Term::Map(m) => {
            out.write_str("#{")?;
            stack.push(Frame::Map(m.print_order(), true, None));
            Ok(())
        }
    }
}

/// A proper, non-empty list of printable Latin-1 code points.
fn is_printable_list(t: &Term) -> bool {
    let mut cons = Cons::new(t);
    let mut any = false;
    while let Some(x) = cons.next() {
        match canon(x) {
            Term::Int(c) if (0..=0xff).contains(c) && is_printable_latin1(*c as u32) => any = true,
            _ => return false,
        }
    }
    any && cons.end().is_none()
}

/// `<<...>>` for bytes plus an optional last partial byte `(value, bits)`.
fn write_binary(out: &mut impl Write, bytes: &[u8], partial: Option<(u8, u8)>) -> fmt::Result {
    if partial.is_none() {
        match binary_style(bytes) {
            BinaryStyle::Latin1 => {
                out.write_str("<<\"")?;
                for &b in bytes {
                    write_escaped(out, char::from(b), '"')?;
                }
                return out.write_str("\">>");
            }
            BinaryStyle::Utf8 => {
                out.write_str("<<\"")?;
                for c in String::from_utf8_lossy(bytes).chars() {
                    write_escaped(out, c, '"')?;
                }
                return out.write_str("\"/utf8>>");
            }
            BinaryStyle::Bytes => {}
        }
    }
    out.write_str("<<")?;
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.write_char(',')?;
        }
        write!(out, "{b}")?;
    }
    if let Some((v, n)) = partial {
        if !bytes.is_empty() {
            out.write_char(',')?;
        }
        write!(out, "{v}:{n}")?;
    }
    out.write_str(">>")
}

fn write_pid(out: &mut impl Write, p: &Pid) -> fmt::Result {
    out.write_char('<')?;
    write_atom(out, p.node.as_str())?;
    write!(out, ".{}.{}>", p.id, p.serial)
}

fn write_port(out: &mut impl Write, p: &Port) -> fmt::Result {
    out.write_str("#Port<")?;
    write_atom(out, p.node.as_str())?;
    write!(out, ".{}>", p.id)
}

fn write_ref(out: &mut impl Write, r: &Reference) -> fmt::Result {
    out.write_str("#Ref<")?;
    write_atom(out, r.node.as_str())?;
    for w in r.id().iter().rev() {
        write!(out, ".{w}")?;
    }
    out.write_char('>')
}

fn write_export(out: &mut impl Write, e: &ExportFun) -> fmt::Result {
    out.write_str("fun ")?;
    write_atom(out, e.module.as_str())?;
    out.write_char(':')?;
    write_atom(out, e.function.as_str())?;
    write!(out, "/{}", e.arity)
}

fn write_fun(out: &mut impl Write, f: &Fun) -> fmt::Result {
    let (index, uniq) = match f {
        Fun::New {
            old_index,
            old_uniq,
            ..
        } => (*old_index, *old_uniq),
        Fun::Old { index, uniq, .. } => (*index, *uniq),
    };
    write!(out, "#Fun<{}.{index}.{uniq}>", f.module().as_str())
}

/// Formats a float as OTP 25's `io_lib_format:fwrite_g/1` (what `~p` uses):
/// the shortest digits that read back as the same float, in plain notation
/// unless scientific notation is shorter, and always scientific from 2^53 up.
pub(crate) fn format_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    if !f.is_finite() {
        // Erlang has no such floats; print something recognisable.
        return format!("{f}");
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "d.ddde-x".
    let (mut digits, mut exp) = sci_digits(&format!("{:e}", f.abs()));
    // When the float lies exactly halfway between the two shortest
    // candidates, OTP's Ryu takes the even one and Rust the upper one. A
    // tie needs a float whose precision reaches the last digit: 16 or more
    // digits, or a subnormal. Rust's fixed-precision formatting rounds
    // half to even, as Ryu does.
    if digits.len() >= 16 || f.abs() < f64::MIN_POSITIVE {
        let even = format!("{:.*e}", digits.len() - 1, f.abs());
        if even.parse::<f64>() == Ok(f.abs()) {
            (digits, exp) = sci_digits(&even);
        }
    }
    let len = digits.len() as i64;
    // The value is 0.DIGITS * 10^place.
    let place = exp + 1;
    let body = if place == 0 {
        format!("0.{digits}")
    } else if place < 0 || place >= len {
        let exp_text = (place - 1).to_string();
        let exp_dot = if len == 1 { 2 } else { 1 };
        let exp_cost = exp_text.len() as i64 + 1 + exp_dot;
        if place < 0 {
            if 2 - place <= exp_cost {
                format!("0.{}{digits}", "0".repeat((-place) as usize))
            } else {
                scientific(&digits, &exp_text)
            }
        } else if place - len + 2 <= exp_cost && f.abs() < 9_007_199_254_740_992.0 {
            format!("{digits}{}.0", "0".repeat((place - len) as usize))
        } else {
            scientific(&digits, &exp_text)
        }
    } else {
        let (int, frac) = digits.split_at(place as usize);
        format!("{int}.{frac}")
    };
    if f < 0.0 { format!("-{body}") } else { body }
}

/// The significant digits and decimal exponent of Rust's `{:e}` output.
fn sci_digits(sci: &str) -> (String, i64) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // Fixed precision may leave trailing zeros; the shortest form has none.
    let trimmed = digits.trim_end_matches('0');
    let digits = if trimmed.is_empty() { "0" } else { trimmed };
    (digits.to_string(), exp.parse().unwrap_or(0))
}

fn scientific(digits: &str, exp: &str) -> String {
    let (first, rest) = digits.split_at(1);
    if rest.is_empty() {
        format!("{first}.0e{exp}")
    } else {
        format!("{first}.{rest}e{exp}")
    }
}

impl fmt::Display for Term {
    /// Erlang syntax, as `io_lib:format("~0tp", [T])` prints it; see the
    /// [module docs](crate::term).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_term(f, self)
    }
}

impl fmt::Debug for Term {
    /// The same as `Display`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_term(f, self)
    }
}

/// Prints a map without having to own a `Term::Map`.
fn write_map(out: &mut impl Write, m: &Map) -> fmt::Result {
    if m.is_empty() {
        return out.write_str("#{}");
    }
    out.write_str("#{")?;
    let mut first = true;
    for (k, v) in m.print_order() {
        if !std::mem::take(&mut first) {
            out.write_char(',')?;
        }
        write_term(out, k)?;
        out.write_str(" => ")?;
        write_term(out, v)?;
    }
    out.write_char('}')
}

impl fmt::Display for Map {
    /// `#{k => v,...}`, as the BEAM prints a map.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_map(f, self)
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_map(f, self)
    }
}

impl fmt::Display for Pid {
    /// `<'node@host'.Id.Serial>`; see the [module docs](crate::term).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_pid(f, self)
    }
}

impl fmt::Display for Port {
    /// `#Port<'node@host'.Id>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_port(f, self)
    }
}

impl fmt::Display for Reference {
    /// `#Ref<'node@host'.W3.W2.W1>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_ref(f, self)
    }
}

impl fmt::Display for ExportFun {
    /// `fun m:f/1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_export(f, self)
    }
}

/// A writer that keeps at most `limit` bytes and then reports an error to
/// stop the printer early.
pub(crate) struct Limited {
    pub(crate) text: String,
    limit: usize,
}

impl Limited {
    pub(crate) fn new(limit: usize) -> Limited {
        Limited {
            text: String::new(),
            limit,
        }
    }
}

impl Write for Limited {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.limit.saturating_sub(self.text.len());
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        self.text.push_str("...");
        Err(fmt::Error)
    }
}

/// The term printed, shortened to about `limit` bytes.
pub(crate) fn short(t: &Term, limit: usize) -> String {
    let mut w = Limited::new(limit);
    let _ = write_term(&mut w, t);
    w.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_match_otp_25() {
        // Printed by OTP 25.2.3 with ~0p.
        let cases = [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1.0e20, "1.0e20"),
            (-0.0, "-0.0"),
            (1.0e-10, "1.0e-10"),
            (123456789.0, "123456789.0"),
            (1.0e15, "1.0e15"),
            (1.0e16, "1.0e16"),
            (5.0e-324, "5.0e-324"),
            (1.7976931348623157e308, "1.7976931348623157e308"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (0.0001, "0.0001"),
            (1234567.0, "1234567.0"),
            (12345678901234567.0, "1.2345678901234568e16"),
            (0.30000000000000004, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (2.0e-5, "2.0e-5"),
            (123.456, "123.456"),
            (9007199254740992.0, "9.007199254740992e15"),
            (9007199254740991.0, "9007199254740991.0"),
            (1.0e22, "1.0e22"),
            (5.0e-5, "5.0e-5"),
            (0.00015, "1.5e-4"),
            (1.0e3, "1.0e3"),
            (999.0, "999.0"),
            (9999.0, "9999.0"),
            (-1.5, "-1.5"),
            // Exact ties between two shortest candidates: OTP takes the even one.
            (-(1190778749315940.0 + 0.25), "-1190778749315940.2"),
            (2f64.powi(-25), "2.9802322387695312e-8"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float(f), want, "{f:e}");
        }
    }

    #[test]
    fn terms_print_like_otp_25() {
        let cases = [
            (
                Term::list(vec![Term::Int(1087), Term::Int(1088)]),
                "[1087,1088]",
            ),
            (Term::binary("héllo"), "<<\"héllo\"/utf8>>"),
            (Term::binary(b"h\xe9llo"), "<<\"héllo\">>"),
            (Term::binary([208, 191]), "<<208,191>>"),
            (Term::binary("a\nb"), "<<\"a\\nb\">>"),
            (Term::binary([]), "<<>>"),
            (Term::NIL, "[]"),
            (Term::tuple(vec![]), "{}"),
        ];
        for (t, want) in cases {
            assert_eq!(t.to_string(), want);
        }
    }

    #[test]
    fn million_deep_prints() {
        let mut t = Term::NIL;
        for _ in 0..1_000_000 {
            t = Term::Tuple(vec![t]);
        }
        let s = t.to_string();
        assert_eq!(s.len(), 2_000_002);
        assert!(s.starts_with("{{{") && s.ends_with("}}}") && s.contains("{[]}"));
        let mut l = Term::Int(1);
        for _ in 0..1_000_000 {
            l = Term::ImproperList(vec![Term::Int(0)], Box::new(l));
        }
        let s = format!("{l:?}");
        assert!(s.starts_with("[0,0,0") && s.ends_with(",0|1]"));
        assert_eq!(s.len(), 2_000_000 + 3);
    }

    #[test]
    fn short_cuts_long_output() {
        let t = Term::list((0..1000).map(Term::Int).collect::<Vec<_>>());
        let s = short(&t, 20);
        assert_eq!(s, "[0,1,2,3,4,5,6,7,8,9...");
    }
}
