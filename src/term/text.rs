//! Lexical rules of Erlang text shared by the parser (`parse.rs`) and the
//! printer (`display.rs`): which atoms need quotes, how quoted text escapes
//! characters, which lists and binaries print as strings.
//!
//! The rules follow OTP 25's `erl_scan` and `io_lib` (`io_lib:write_atom/1`,
//! `io_lib:write_string/2`, `io_lib_pretty` with `~tp`), checked against a
//! real `erl` in `tests/interop_text.rs`.

use std::fmt;

/// Where and why Erlang text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Erlang's reserved words (`erl_scan:reserved_word/1` in OTP 25); an atom
/// with one of these names must be quoted.
pub(crate) const RESERVED_WORDS: [&str; 27] = [
    "after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr", "bxor", "case",
    "catch", "cond", "div", "end", "fun", "if", "let", "not", "of", "or", "orelse", "receive",
    "rem", "try", "when", "xor",
];

/// A lowercase letter that may start an unquoted atom: `a`-`z` and Latin-1
/// `ß`-`ÿ` except `÷`.
pub(crate) fn is_atom_start(c: char) -> bool {
    c.is_ascii_lowercase() || (('\u{df}'..='\u{ff}').contains(&c) && c != '\u{f7}')
}

/// A character that may continue an unquoted atom or a variable: ASCII
/// letters and digits, `_`, `@`, and Latin-1 letters (`À`-`ÿ` except `×`
/// and `÷`).
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || c == '_'
        || c == '@'
        || (('\u{c0}'..='\u{ff}').contains(&c) && c != '\u{d7}' && c != '\u{f7}')
}

/// A character that starts a variable: `A`-`Z`, `_`, Latin-1 `À`-`Þ`
/// except `×`.
pub(crate) fn is_var_start(c: char) -> bool {
    c.is_ascii_uppercase() || c == '_' || (('\u{c0}'..='\u{de}').contains(&c) && c != '\u{d7}')
}

/// True when the atom must be quoted to read back as itself.
pub(crate) fn atom_needs_quotes(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if is_atom_start(c) => {}
        _ => return true,
    }
    !chars.all(is_name_char) || RESERVED_WORDS.contains(&s)
}

/// Writes an atom as Erlang prints it (`~tp`): bare when it can be, else in
/// single quotes with escapes.
pub(crate) fn write_atom(out: &mut impl fmt::Write, s: &str) -> fmt::Result {
    if atom_needs_quotes(s) {
        write_quoted(out, s.chars(), '\'')
    } else {
        out.write_str(s)
    }
}

/// Writes characters between `quote`s, escaped as `io_lib:write_string/2`
/// does.
pub(crate) fn write_quoted(
    out: &mut impl fmt::Write,
    chars: impl IntoIterator<Item = char>,
    quote: char,
) -> fmt::Result {
    out.write_char(quote)?;
    for c in chars {
        write_escaped(out, c, quote)?;
    }
    out.write_char(quote)
}

/// One character inside quotes: the quote and `\` escaped, named escapes for
/// the usual control characters, octal for the other control characters
/// (C0 and C1), anything else as itself.
pub(crate) fn write_escaped(out: &mut impl fmt::Write, c: char, quote: char) -> fmt::Result {
    match c {
        _ if c == quote => {
            out.write_char('\\')?;
            out.write_char(c)
        }
        '\\' => out.write_str("\\\\"),
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        '\u{0b}' => out.write_str("\\v"),
        '\u{08}' => out.write_str("\\b"),
        '\u{0c}' => out.write_str("\\f"),
        '\u{1b}' => out.write_str("\\e"),
        '\u{7f}' => out.write_str("\\d"),
        c if (c as u32) < 0x20 || (0x80..0xa0).contains(&(c as u32)) => {
            write!(out, "\\{:03o}", c as u32)
        }
        c => out.write_char(c),
    }
}

/// A code point that `~p` prints inside a string with the default printable
/// range (Latin-1): printable ASCII, `\240`-`\377`, and `\n \r \t \v \b \f
/// \e` (`io_lib:printable_latin1_list/1`).
pub(crate) fn is_printable_latin1(c: u32) -> bool {
    matches!(c, 0x20..=0x7e | 0xa0..=0xff | 8..=13 | 27)
}

/// How `~tp` prints a binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryStyle {
    /// `<<"abc">>`: ASCII text (or Latin-1 text that is not UTF-8).
    Latin1,
    /// `<<"é"/utf8>>`: UTF-8 text with characters beyond ASCII.
    Utf8,
    /// `<<1,2,3>>`.
    Bytes,
}

/// Decides how `~tp` prints a binary (OTP 25 `io_lib_pretty`, default
/// printable range): UTF-8 whose characters are all printable Latin-1 is
/// text (`/utf8` unless it is plain ASCII); bytes that are not UTF-8 but are
/// all printable Latin-1 are Latin-1 text; anything else is a byte list.
pub(crate) fn binary_style(b: &[u8]) -> BinaryStyle {
    if b.is_empty() {
        return BinaryStyle::Bytes;
    }
    // Walk the UTF-8 prefix: a non-printable character ends it as bytes,
    // invalid UTF-8 falls back to the Latin-1 test.
    let (valid, rest) = match std::str::from_utf8(b) {
        Ok(s) => (s, &[][..]),
        Err(e) => {
            let (v, r) = b.split_at(e.valid_up_to());
            (std::str::from_utf8(v).unwrap_or_default(), r)
        }
    };
    if !valid.chars().all(|c| is_printable_latin1(c as u32)) {
        return BinaryStyle::Bytes;
    }
    if rest.is_empty() {
        return if valid.is_ascii() {
            BinaryStyle::Latin1
        } else {
            BinaryStyle::Utf8
        };
    }
    if b.iter().all(|&x| is_printable_latin1(u32::from(x))) {
        BinaryStyle::Latin1
    } else {
        BinaryStyle::Bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(s: &str) -> String {
        let mut out = String::new();
        write_atom(&mut out, s).unwrap();
        out
    }

    #[test]
    fn atom_quoting_matches_otp_25() {
        // Expected values printed by OTP 25 with ~0tp.
        let cases = [
            ("ok", "ok"),
            ("maybe", "maybe"),
            ("else", "else"),
            ("cond", "'cond'"),
            ("catch", "'catch'"),
            ("a b", "'a b'"),
            ("a\nb", "'a\\nb'"),
            ("a\u{0}b", "'a\\000b'"),
            ("a\u{7f}b", "'a\\db'"),
            ("a\u{80}b", "'a\\200b'"),
            ("a\u{9f}b", "'a\\237b'"),
            ("a\u{a0}b", "'a\u{a0}b'"),
            ("a'b", "'a\\'b'"),
            ("a\\b", "'a\\\\b'"),
            ("a\"b", "'a\"b'"),
            ("\u{1F600}", "'\u{1F600}'"),
            ("aÀ", "aÀ"),
            ("a×", "'a×'"),
            ("ß", "ß"),
            ("÷", "'÷'"),
            ("Ø", "'Ø'"),
            ("a@", "a@"),
            ("@", "'@'"),
            ("_a", "'_a'"),
            ("a.b", "'a.b'"),
            ("a1", "a1"),
            ("A", "'A'"),
            ("", "''"),
            ("é1", "é1"),
        ];
        for (a, want) in cases {
            assert_eq!(atom(a), want, "atom {a:?}");
        }
    }

    #[test]
    fn binary_styles_match_otp_25() {
        use BinaryStyle::*;
        assert_eq!(binary_style(b"abc"), Latin1);
        assert_eq!(binary_style("héllo".as_bytes()), Utf8);
        assert_eq!(binary_style(b"h\xe9llo"), Latin1);
        assert_eq!(binary_style(&[208, 191]), Bytes);
        assert_eq!(binary_style(&[195, 169, 0]), Bytes);
        assert_eq!(binary_style(b"a\xff"), Latin1);
        assert_eq!(binary_style(&[0, 255]), Bytes);
        assert_eq!(binary_style(&[0xc3]), Latin1);
        assert_eq!(binary_style(b"\t\x0b\x08\x0c\r\x1b"), Latin1);
    }
}
