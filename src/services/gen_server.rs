//! The gen_server call protocol as seen from the server side
//! (PROTOCOL.md §6a): `{'$gen_call', {From, Tag}, Request}` in, `{Tag,
//! Reply}` out, to the caller's alias when the tag is `[alias|Ref]`.

use crate::node::{Dest, Mailbox};
use crate::term::{Pid, Term};

/// The `From` of a gen_server call: who to answer and the tag to echo.
#[derive(Debug, Clone, PartialEq)]
pub struct From {
    /// The calling process.
    pub pid: Pid,
    /// The whole tag, echoed as is: a reference, `[alias|Ref]`, or an older form.
    pub tag: Term,
}

/// A message a gen_server-like process can get.
#[derive(Debug, PartialEq)]
pub enum Request {
    /// `{'$gen_call', {Pid, Tag}, Req}`.
    Call(From, Term),
    /// `{'$gen_cast', Req}`.
    Cast(Term),
    /// Anything else.
    Info(Term),
}

impl Request {
    /// Classifies a message.
    pub fn parse(msg: Term) -> Request {
        let is_call = matches!(msg.as_tuple(), Some([tag, Term::Tuple(from), _]) if tag.is_atom("$gen_call") && from.len() == 2 && matches!(from.first(), Some(Term::Pid(_))));
        let is_cast = matches!(msg.as_tuple(), Some([tag, _]) if tag.is_atom("$gen_cast"));
        if !is_call && !is_cast {
            return Request::Info(msg);
        }
        let mut items = match msg.into_tuple() {
            Ok(v) => v,
            Err(t) => return Request::Info(t),
        };
        if is_cast {
            return Request::Cast(items.pop().unwrap_or_default());
        }
        let req = items.pop().unwrap_or_default();
        let mut from = items
            .pop()
            .and_then(|f| f.into_tuple().ok())
            .unwrap_or_default();
        let tag = from.pop().unwrap_or_default();
        match from.pop().as_ref().and_then(Term::as_pid) {
            Some(pid) => Request::Call(
                From {
                    pid: pid.clone(),
                    tag,
                },
                req,
            ),
            None => Request::Info(Term::NIL),
        }
    }
}

/// The alias inside a `[alias|Ref]` tag.
pub fn alias_of(tag: &Term) -> Option<&crate::term::Reference> {
    match tag {
        Term::ImproperList(head, tail) if matches!(head.as_slice(), [a] if a.is_atom("alias")) => {
            match &**tail {
                Term::Ref(r) => Some(r),
                _ => None,
            }
        }
        Term::ImproperList(head, _) => match head.first()? {
            // `[[alias|Ref]|Extra]`, the older extended form.
            inner @ Term::ImproperList(..) => alias_of(inner),
            _ => None,
        },
        _ => None,
    }
}

/// Answers a call: `{Tag, Reply}` to the caller's alias when the tag carries
/// one (so a reply after the caller's timeout is dropped, as on the BEAM),
/// otherwise to its pid.
pub fn reply(mb: &Mailbox, from: &From, reply: Term) {
    let msg = Term::Tuple(vec![from.tag.clone(), reply]);
    match alias_of(&from.tag) {
        Some(alias) if mb.node.peer_supports_alias(&from.pid.node) => {
            mb.send(Dest::Alias(alias.clone()), msg)
        }
        _ => mb.send(&from.pid, msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::term::{Atom, Reference};

    fn pid() -> Pid {
        Pid {
            node: Atom::from("a@h"),
            id: 1,
            serial: 0,
            creation: 5,
        }
    }

    #[test]
    fn parses_call_with_alias_tag() {
        let r = Reference::new(Atom::from("a@h"), 5, &[1, 2, 3]).unwrap();
        let tag = Term::ImproperList(vec![Term::atom("alias")], Box::new(Term::from(r.clone())));
        let msg = Term::tuple(vec![
            Term::atom("$gen_call"),
            Term::tuple(vec![Term::Pid(pid()), tag.clone()]),
            Term::atom("ping"),
        ]);
        match Request::parse(msg) {
            Request::Call(f, req) => {
                assert_eq!(f.pid, pid());
                assert_eq!(f.tag, tag);
                assert_eq!(alias_of(&f.tag), Some(&r));
                assert!(req.is_atom("ping"));
            }
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn other_messages_are_info() {
        assert!(matches!(Request::parse(Term::atom("x")), Request::Info(_)));
        assert!(matches!(
            Request::parse(Term::tuple(vec![Term::atom("$gen_cast"), Term::Int(1)])),
            Request::Cast(_)
        ));
    }
}
