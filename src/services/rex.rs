//! The `rex` registered process (PROTOCOL.md §6b): the rpc server of OTP
//! before erpc. `erl_call` and other C nodes still use its C-node form
//! `{Pid, {call, M, F, A, GL}}` → `{rex, Result}`; OTP uses its gen_server
//! forms for `rpc:block_call` and from releases before 25.

use super::gen_server::{self, Request};
use super::spawn::run_fn;
use crate::node::functions::{BoxFuture, Class, Exception, RpcResult};
use crate::node::{Mailbox, NodeInner};
use crate::term::{Atom, Pid, Term};
use std::sync::Arc;
use std::task::Poll;

/// `rpc:call`'s value for a result: the value, a thrown value, or
/// `{badrpc, {'EXIT', Reason}}`.
pub(crate) fn rpc_value(r: RpcResult) -> Term {
    match r {
        Ok(v) => v,
        Err(Exception {
            class: Class::Throw,
            reason,
            ..
        }) => reason,
        Err(Exception {
            class: Class::Exit,
            reason,
            ..
        }) => badrpc_exit(reason),
        Err(Exception {
            class: Class::Error,
            reason,
            stack,
        }) => badrpc_exit(Term::tuple(vec![reason, stack.unwrap_or(Term::NIL)])),
    }
}

fn badrpc_exit(reason: Term) -> Term {
    Term::tuple(vec![
        Term::atom("badrpc"),
        Term::tuple(vec![Term::atom("EXIT"), reason]),
    ])
}

/// `{call, M, F, A, GL}` (or `block_call`) as (M, F, A, GL).
fn call_parts(
    req: &Term,
) -> Option<(
    &crate::term::Atom,
    &crate::term::Atom,
    Vec<Term>,
    Option<Pid>,
)> {
    match req.as_tuple()? {
        [kind, Term::Atom(m), Term::Atom(f), a, gl]
            if kind.is_atom("call") || kind.is_atom("block_call") =>
        {
            Some((m, f, a.as_list()?.to_vec(), gl.as_pid().cloned()))
        }
        _ => None,
    }
}

/// Serves `rex` until the node shuts down. Each call runs on its own task,
/// as OTP's rex spawns a process per call.
pub(crate) async fn serve(mut mb: Mailbox) {
    let node = mb.node.clone();
    while let Ok(msg) = mb.recv().await {
        match Request::parse(msg) {
            Request::Call(from, req) => {
                let Some((m, f, args, gl)) = call_parts(&req) else {
                    gen_server::reply(
                        &mb,
                        &from,
                        Term::tuple(vec![Term::atom("badrpc"), Term::atom("badarg")]),
                    );
                    continue;
                };
                let mut call = rex_call(&node, m, f, args, Some(from.pid.clone()), gl);
                // A function that answers at once is answered from here;
                // one that waits gets a task, as OTP's rex spawns a process
                // per call.
                if let Poll::Ready(r) = poll_now(&mut call) {
                    gen_server::reply(&mb, &from, r);
                    continue;
                }
                let node = node.clone();
                tokio::spawn(async move {
                    let r = call.await;
                    let replier = node.spawn_mailbox();
                    gen_server::reply(&replier, &from, r);
                });
            }
            Request::Cast(req) => {
                if let Some([kind, Term::Atom(m), Term::Atom(f), a, gl]) = req.as_tuple() {
                    if kind.is_atom("cast") {
                        let (m, f, args, gl) = (
                            m.clone(),
                            f.clone(),
                            a.as_list().unwrap_or_default().to_vec(),
                            gl.as_pid().cloned(),
                        );
                        let node = node.clone();
                        tokio::spawn(async move {
                            if let Err(e) = run_fn(&node, &m, &f, args, None, gl).await {
                                tracing::warn!(module = %m, function = %f, "rpc cast failed: {e}");
                            }
                        });
                    }
                }
            }
            Request::Info(msg) => c_node_form(&node, &mb, msg),
        }
    }
}

/// `{Pid, {call, M, F, A, GL}}` → `{rex, Result}`, and
/// `{Pid, features_request}` → `{features_reply, node(), [erpc]}`.
fn c_node_form(node: &Arc<NodeInner>, mb: &Mailbox, msg: Term) {
    let Some([Term::Pid(from), req]) = msg.as_tuple() else {
        return;
    };
    if req.is_atom("features_request") {
        let reply = Term::tuple(vec![
            Term::atom("features_reply"),
            Term::Atom(node.name.clone()),
            Term::list(vec![Term::atom("erpc")]),
        ]);
        mb.send(from, reply);
        return;
    }
    let Some((m, f, args, gl)) = call_parts(req) else {
        return;
    };
    let mut call = rex_call(node, m, f, args, Some(from.clone()), gl);
    if let Poll::Ready(r) = poll_now(&mut call) {
        mb.send(from, Term::tuple(vec![Term::atom("rex"), r]));
        return;
    }
    let from = from.clone();
    let node = node.clone();
    tokio::spawn(async move {
        let r = call.await;
        node.spawn_mailbox()
            .send(&from, Term::tuple(vec![Term::atom("rex"), r]));
    });
}

/// One call for rex: `rpc:call`'s value of `m:f(args)`, as a future that
/// can be polled once in place and handed to a task if it has to wait.
fn rex_call(
    node: &Arc<NodeInner>,
    m: &Atom,
    f: &Atom,
    args: Vec<Term>,
    caller: Option<Pid>,
    gl: Option<Pid>,
) -> BoxFuture<Term> {
    let (node, m, f) = (node.clone(), m.clone(), f.clone());
    Box::pin(async move { rpc_value(run_fn(&node, &m, &f, args, caller, gl).await) })
}

/// Polls a rex call once; a panic outside the function (which `run_fn`
/// already catches) would be a bug, and answers like a killed call.
fn poll_now(call: &mut BoxFuture<Term>) -> Poll<Term> {
    match super::spawn::poll_now(call) {
        Poll::Ready(Ok(r)) => Poll::Ready(r),
        Poll::Ready(Err(_)) => Poll::Ready(rpc_value(Err(Exception::exit(Term::atom("killed"))))),
        Poll::Pending => Poll::Pending,
    }
}
