//! SPAWN_REQUEST from the BEAM (PROTOCOL.md §6b, §6c): `spawn/4` and friends
//! start registered Rust process bodies, and `erpc:execute_call/4` /
//! `execute_cast/3` — what every `rpc:call`, `rpc:cast` and `erpc:*` sends
//! since OTP 25 — run registered Rust functions.

use crate::dist::ProcRef;
use crate::dist::Signal;
use crate::dist::control::{SPAWN_REPLY_LINK, SPAWN_REPLY_MONITOR};
use crate::node::functions::{Class, Exception, RpcCall, RpcResult};
use crate::node::{Mailbox, NodeInner};
use crate::term::{Atom, Pid, Reference, Term};
use std::sync::Arc;

fn atom(s: &str) -> Term {
    Term::atom(s)
}

/// `[{M, F, ArgsOrArity, []}]`, the one-frame stack the BEAM reports for an
/// undefined function or erpc's trimmed stack.
pub(crate) fn mfa_stack(m: &Atom, f: &Atom, args_or_arity: Term) -> Term {
    Term::List(vec![Term::Tuple(vec![
        Term::Atom(m.clone()),
        Term::Atom(f.clone()),
        args_or_arity,
        Term::NIL,
    ])])
}

/// The text of a panic payload.
pub(crate) fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    match p.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast_ref::<&str>()
            .map_or_else(|| "panic".to_string(), |s| s.to_string()),
    }
}

/// Runs a registered function on its own task, so that a panic in it
/// becomes `error:{rust_panic, Message}` instead of taking anything down.
pub(crate) async fn run_fn(
    node: &Arc<NodeInner>,
    m: &Atom,
    f: &Atom,
    args: Vec<Term>,
    caller: Option<Pid>,
    gl: Option<Pid>,
) -> RpcResult {
    let arity = args.len();
    let Some(handler) = node.lookup_fn(m, f, arity) else {
        return Err(undef(m, f, args));
    };
    let Some(handle) = node.handle() else {
        return Err(Exception::exit(atom("shutdown")));
    };
    let call = RpcCall {
        module: m.clone(),
        function: f.clone(),
        args,
        caller,
        group_leader: gl,
        node: handle,
    };
    match tokio::spawn(handler(call)).await {
        Ok(r) => r.map_err(|e| with_stack(e, m, f, arity)),
        Err(e) if e.is_panic() => {
            let text = panic_text(e.into_panic());
            tracing::error!(module = %m, function = %f, "function panicked: {text}");
            Err(panic_exception(m, f, arity, text))
        }
        Err(_) => Err(Exception::exit(atom("killed"))),
    }
}

/// What erpc:execute_call/4 exits with (its DOWN reason carries the result).
fn erpc_reply(res: Term, r: RpcResult) -> Term {
    match r {
        Ok(v) => Term::Tuple(vec![res, atom("return"), v]),
        Err(Exception {
            class: Class::Throw,
            reason,
            ..
        }) => Term::Tuple(vec![res, atom("throw"), reason]),
        Err(Exception {
            class: Class::Exit,
            reason,
            ..
        }) => Term::Tuple(vec![res, atom("exit"), reason]),
        Err(Exception {
            class: Class::Error,
            reason,
            stack,
        }) => Term::Tuple(vec![res, atom("error"), reason, stack.unwrap_or(Term::NIL)]),
    }
}

/// What a spawn request asks to run.
enum Body {
    Call {
        res: Term,
        m: Atom,
        f: Atom,
        args: Vec<Term>,
    },
    Cast {
        m: Atom,
        f: Atom,
        args: Vec<Term>,
    },
    Process {
        m: Atom,
        f: Atom,
        args: Vec<Term>,
    },
}

fn mfa_args(m: &Term, f: &Term, a: &Term) -> Option<(Atom, Atom, Vec<Term>)> {
    Some((
        m.as_atom()?.clone(),
        f.as_atom()?.clone(),
        a.as_list()?.to_vec(),
    ))
}

impl NodeInner {
    /// Handles a SPAWN_REQUEST addressed to this node.
    pub(crate) fn spawn_request(self: &Arc<Self>, sig: Signal, via: Option<(&Atom, u64)>) {
        let Signal::SpawnRequest {
            req_id,
            from,
            group_leader,
            module,
            function,
            args,
            opts,
        } = sig
        else {
            return;
        };
        let conn = via.map_or(0, |(_, id)| id);
        let args = args.into_list().unwrap_or_default();
        let (mut link, mut monitor) = (false, false);
        for o in opts.as_list().unwrap_or_default() {
            if o.is_atom("link") {
                link = true;
            } else if o.is_atom("monitor") {
                monitor = true;
            }
            // Other options (priority, min_heap_size, fullsweep_after...) tune
            // the BEAM's scheduler and heap; they mean nothing here.
        }
        let body = match (module.as_str(), function.as_str(), args.as_slice()) {
            ("erpc", "execute_call", [res, m, f, a]) => match mfa_args(m, f, a) {
                Some((m, f, args)) => Body::Call {
                    res: res.clone(),
                    m,
                    f,
                    args,
                },
                None => Body::Process {
                    m: module.clone(),
                    f: function.clone(),
                    args,
                },
            },
            ("erpc", "execute_cast", [m, f, a]) => match mfa_args(m, f, a) {
                Some((m, f, args)) => Body::Cast { m, f, args },
                None => Body::Process {
                    m: module.clone(),
                    f: function.clone(),
                    args,
                },
            },
            _ => Body::Process {
                m: module.clone(),
                f: function.clone(),
                args,
            },
        };

        let mb = self.spawn_mailbox();
        let pid = mb.pid().clone();
        let mut flags = 0;
        {
            let mut st = mb.proc.lock();
            st.group_leader = Some(group_leader);
            st.managed = true;
            if link {
                st.links.insert(from.clone(), conn);
                flags |= SPAWN_REPLY_LINK;
            }
            if monitor {
                st.watchers.insert(
                    req_id.clone(),
                    crate::node::process::Watcher {
                        pid: from.clone(),
                        as_ref: ProcRef::Pid(pid.clone()),
                        conn,
                    },
                );
                flags |= SPAWN_REPLY_MONITOR;
            }
            // Nobody but the caller can see an erpc call's result: when it
            // stops watching (its call timed out), stop the work.
            st.dies_unwatched = matches!(body, Body::Call { .. }) && monitor;
        }
        // The reply goes first, before any signal from the new process.
        self.route(
            &from.node.clone(),
            Signal::SpawnReply {
                req_id,
                to: from.clone(),
                flags,
                result: Term::Pid(pid),
            },
        );

        self.start_process(mb, body, from);
    }

    /// Runs the body of a spawned process as its own task (so that a kill
    /// aborts it), and ends the process with the reason its outcome gives.
    fn start_process(self: &Arc<Self>, mb: Mailbox, body: Body, caller: Pid) {
        let proc = mb.proc.clone();
        let gl = mb.group_leader();
        let handle = self.handle();
        let (inner, on_panic): (
            tokio::task::JoinHandle<Term>,
            Box<dyn FnOnce(String) -> Term + Send>,
        ) = match body {
            Body::Call { res, m, f, args } => {
                let arity = args.len();
                let fixed = (m.clone(), f.clone());
                let call = self.lookup_fn(&m, &f, arity).zip(handle).map(|(h, node)| {
                    h(RpcCall {
                        module: m.clone(),
                        function: f.clone(),
                        args: args.clone(),
                        caller: Some(caller),
                        group_leader: gl,
                        node,
                    })
                });
                let res2 = res.clone();
                let task = tokio::spawn(async move {
                    let _keep = mb;
                    let r = match call {
                        Some(fut) => fut.await.map_err(|e| with_stack(e, &m, &f, arity)),
                        None => Err(undef(&m, &f, args)),
                    };
                    erpc_reply(res, r)
                });
                let on_panic = Box::new(move |text: String| {
                    erpc_reply(res2, Err(panic_exception(&fixed.0, &fixed.1, arity, text)))
                });
                (task, on_panic)
            }
            Body::Cast { m, f, args } => {
                let arity = args.len();
                let call = self.lookup_fn(&m, &f, arity).zip(handle).map(|(h, node)| {
                    h(RpcCall {
                        module: m.clone(),
                        function: f.clone(),
                        args: args.clone(),
                        caller: Some(caller),
                        group_leader: gl,
                        node,
                    })
                });
                let task = tokio::spawn(async move {
                    let _keep = mb;
                    let r = match call {
                        Some(fut) => fut.await,
                        None => Err(undef(&m, &f, args)),
                    };
                    if let Err(e) = r {
                        // As erpc:execute_cast/3: errors are only logged where they ran.
                        tracing::warn!(module = %m, function = %f, "rpc cast failed: {e}");
                    }
                    atom("normal")
                });
                (task, Box::new(|_| atom("normal")))
            }
            Body::Process { m, f, args } => match self.lookup_proc_fn(&m, &f, args.len()) {
                Some(body) => {
                    let fut = body(mb, args);
                    let task = tokio::spawn(async move {
                        match fut.await {
                            Ok(()) => atom("normal"),
                            Err(reason) => reason,
                        }
                    });
                    (
                        task,
                        Box::new(|text| Term::Tuple(vec![atom("rust_panic"), Term::binary(text)])),
                    )
                }
                None => {
                    tracing::warn!("spawn of undefined function {m}:{f}/{}", args.len());
                    let reason =
                        Term::Tuple(vec![atom("undef"), mfa_stack(&m, &f, Term::List(args))]);
                    drop(mb);
                    self.exit_process(&proc, reason);
                    return;
                }
            },
        };
        *proc.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(inner.abort_handle());
        if !proc.is_alive() {
            // Killed before the handle was in place.
            inner.abort();
        }
        let node = self.clone();
        tokio::spawn(async move {
            let reason = match inner.await {
                Ok(reason) => reason,
                Err(e) if e.is_panic() => {
                    let text = panic_text(e.into_panic());
                    tracing::error!(pid = ?proc.pid, "process panicked: {text}");
                    on_panic(text)
                }
                // Aborted: the process was already ended by a signal.
                Err(_) => atom("killed"),
            };
            node.exit_process(&proc, reason);
        });
    }
}

fn undef(m: &Atom, f: &Atom, args: Vec<Term>) -> Exception {
    Exception {
        class: Class::Error,
        reason: atom("undef"),
        stack: Some(mfa_stack(m, f, Term::List(args))),
    }
}

fn with_stack(mut e: Exception, m: &Atom, f: &Atom, arity: usize) -> Exception {
    if e.class == Class::Error && e.stack.is_none() {
        e.stack = Some(mfa_stack(m, f, Term::Int(arity as i64)));
    }
    e
}

fn panic_exception(m: &Atom, f: &Atom, arity: usize, text: String) -> Exception {
    Exception {
        class: Class::Error,
        reason: Term::Tuple(vec![atom("rust_panic"), Term::binary(text)]),
        stack: Some(mfa_stack(m, f, Term::Int(arity as i64))),
    }
}

/// `{spawn_reply, ReqId, ok | error, PidOrReason}`, as the BEAM delivers the
/// answer to `spawn_request/5`.
pub(crate) fn spawn_reply_msg(req_id: &Reference, ok: bool, value: Term) -> Term {
    Term::Tuple(vec![
        atom("spawn_reply"),
        Term::Ref(req_id.clone()),
        atom(if ok { "ok" } else { "error" }),
        value,
    ])
}
