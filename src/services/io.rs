//! The group leader erlnode hands out (PROTOCOL.md §6e): code that runs on a
//! BEAM with an erlnode pid as its group leader sends `io_request`s here.
//! Output is written to erlnode's log; every request gets an `io_reply`, so a
//! remote print never hangs.

use crate::node::Mailbox;
use crate::term::Term;
use std::fmt::Write;

/// Serves io requests until the node shuts down.
pub(crate) async fn serve(mut mb: Mailbox) {
    while let Ok(msg) = mb.recv().await {
        let Some([tag, Term::Pid(from), reply_as, req]) = msg.as_tuple() else {
            continue;
        };
        if !tag.is_atom("io_request") {
            continue;
        }
        let reply = handle(req, from);
        mb.send(
            from,
            Term::tuple(vec![Term::atom("io_reply"), reply_as.clone(), reply]),
        );
    }
}

fn enotsup() -> Term {
    Term::tuple(vec![Term::atom("error"), Term::atom("enotsup")])
}

/// Answers one request; output goes to the log.
fn handle(req: &Term, from: &crate::term::Pid) -> Term {
    let items = match req {
        Term::Tuple(items) => items.as_slice(),
        Term::Atom(a) if a == "getopts" => {
            return Term::list(vec![
                Term::tuple(vec![Term::atom("binary"), Term::atom("false")]),
                Term::tuple(vec![Term::atom("encoding"), Term::atom("unicode")]),
            ]);
        }
        _ => return Term::tuple(vec![Term::atom("error"), Term::atom("request")]),
    };
    let Some((Term::Atom(kind), rest)) = items.split_first() else {
        return Term::tuple(vec![Term::atom("error"), Term::atom("request")]);
    };
    let text = match (kind.as_str(), rest) {
        ("put_chars", [_, chars]) | ("put_chars", [chars]) => chars_to_string(chars),
        ("put_chars", [_, m, f, args]) | ("put_chars", [m, f, args]) => {
            if m.is_atom("io_lib") && f.is_atom("format") {
                match args.as_list() {
                    Some([fmt, fargs]) => Some(format(
                        &chars_to_string(fmt).unwrap_or_default(),
                        fargs.as_list().unwrap_or_default(),
                    )),
                    _ => None,
                }
            } else {
                // Arbitrary M:F:A formatting would need the BEAM's code.
                Some(format!("{m}:{f}({args})"))
            }
        }
        ("requests", [reqs]) => {
            let mut last = Term::atom("ok");
            for r in reqs.as_list().unwrap_or_default() {
                last = handle(r, from);
                if !last.is_atom("ok") {
                    break;
                }
            }
            return last;
        }
        ("setopts", _) => return Term::atom("ok"),
        ("get_line" | "get_chars" | "get_until" | "get_password" | "get_geometry", _) => {
            return enotsup();
        }
        _ => return Term::tuple(vec![Term::atom("error"), Term::atom("request")]),
    };
    match text {
        Some(t) => {
            for line in t.trim_end_matches('\n').split('\n') {
                tracing::info!(target: "erlnode::io", from = ?from, "{line}");
            }
            Term::atom("ok")
        }
        None => Term::tuple(vec![Term::atom("error"), Term::atom("badarg")]),
    }
}

/// The text of chardata: a binary (UTF-8), a list of characters, binaries
/// and nested lists, or an atom.
pub(crate) fn chars_to_string(t: &Term) -> Option<String> {
    let mut out = String::new();
    let mut stack = vec![t];
    while let Some(t) = stack.pop() {
        match t {
            Term::Binary(b) => out.push_str(&String::from_utf8_lossy(b)),
            Term::Atom(a) => out.push_str(a.as_str()),
            Term::Int(c) => out.push(u32::try_from(*c).ok().and_then(char::from_u32)?),
            Term::List(items) => stack.extend(items.iter().rev()),
            Term::ImproperList(items, tail) => {
                stack.push(tail);
                stack.extend(items.iter().rev());
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A practical subset of `io_lib:format/2`: `~p ~P ~w ~W ~s ~ts ~c ~b ~B ~x
/// ~X ~e ~f ~g ~i ~n ~~`, with field widths parsed and mostly ignored.
/// Unknown directives print as written; missing arguments print as `~?`.
pub(crate) fn format(fmt: &str, args: &[Term]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        // ~[-]Width.Precision.Pad Modifiers Control
        let mut spec = String::from("~");
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit()
                || d == '.'
                || d == '-'
                || d == '*'
                || d == 't'
                || d == 'l'
                || d == 'k'
            {
                spec.push(d);
                chars.next();
                if d == '*' {
                    args.next();
                }
            } else {
                break;
            }
        }
        let Some(ctl) = chars.next() else {
            out.push_str(&spec);
            break;
        };
        match ctl {
            '~' => out.push('~'),
            'n' => out.push('\n'),
            'i' => {
                args.next();
            }
            'p' | 'w' | 'P' | 'W' | 's' | 'c' | 'b' | 'B' | 'x' | 'X' | '#' | '+' | 'e' | 'f'
            | 'g' => {
                let Some(a) = args.next() else {
                    out.push_str("~?");
                    continue;
                };
                if matches!(ctl, 'P' | 'W' | 'x' | 'X') {
                    args.next();
                }
                match ctl {
                    's' => out.push_str(&chars_to_string(a).unwrap_or_else(|| a.to_string())),
                    'c' => {
                        if let Some(ch) = a
                            .as_i64()
                            .and_then(|i| u32::try_from(i).ok())
                            .and_then(char::from_u32)
                        {
                            out.push(ch);
                        }
                    }
                    'e' | 'f' | 'g' => match a {
                        Term::Float(x) => {
                            let _ = match ctl {
                                'e' => write!(out, "{x:e}"),
                                'f' => write!(out, "{x:.6}"),
                                _ => write!(out, "{x}"),
                            };
                        }
                        other => {
                            let _ = write!(out, "{other}");
                        }
                    },
                    _ => {
                        let _ = write!(out, "{a}");
                    }
                }
            }
            other => {
                out.push_str(&spec);
                out.push(other);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_common_directives() {
        let args = [Term::Int(42), Term::binary("hi"), Term::atom("ok")];
        assert_eq!(format("a ~p b ~s c ~w~n~~", &args), "a 42 b hi c ok\n~");
        assert_eq!(format("~p", &[]), "~?");
    }

    #[test]
    fn chardata_is_flattened() {
        let t = Term::list(vec![
            Term::Int('a' as i64),
            Term::binary("bc"),
            Term::list(vec![Term::Int('d' as i64)]),
        ]);
        assert_eq!(chars_to_string(&t).as_deref(), Some("abcd"));
        assert_eq!(chars_to_string(&Term::Int(-1)), None);
    }
}
