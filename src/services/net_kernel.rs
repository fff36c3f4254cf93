//! The `net_kernel` registered process, as far as peers use it: the
//! `{is_auth, Node}` call behind `net_adm:ping/1` (PROTOCOL.md §6a).

use super::gen_server::{self, Request};
use crate::node::Mailbox;
use crate::term::Term;

/// Serves `net_kernel` until the node shuts down.
pub(crate) async fn serve(mut mb: Mailbox) {
    while let Ok(msg) = mb.recv().await {
        match Request::parse(msg) {
            Request::Call(from, req) => {
                let answer = match req.as_tuple() {
                    Some([tag, _node]) if tag.is_atom("is_auth") => Term::atom("yes"),
                    _ => {
                        tracing::debug!(request = %req, "net_kernel call not supported");
                        Term::tuple(vec![Term::atom("error"), Term::atom("not_supported")])
                    }
                };
                gen_server::reply(&mb, &from, answer);
            }
            Request::Cast(_) | Request::Info(_) => {}
        }
    }
}
