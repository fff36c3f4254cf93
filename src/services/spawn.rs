//! SPAWN_REQUEST from the BEAM (PROTOCOL.md §6b, §6c): `spawn/4` and friends
//! start registered Rust process bodies, and `erpc:execute_call/4` /
//! `execute_cast/3` — what every `rpc:call`, `rpc:cast` and `erpc:*` sends
//! since OTP 25 — run registered Rust functions.

use crate::dist::ProcRef;
use crate::dist::Signal;
use crate::dist::control::{SPAWN_REPLY_LINK, SPAWN_REPLY_MONITOR};
use crate::node::functions::{BoxFuture, Class, Exception, RpcCall, RpcResult};
use crate::node::{Mailbox, NodeInner};
use crate::term::{Atom, Pid, Reference, Term};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

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

/// Runs a registered function in the caller's task; a panic in it becomes
/// `error:{rust_panic, Message}` instead of taking anything down.
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
    match catch_unwind(handler(call)).await {
        Ok(r) => r.map_err(|e| with_stack(e, m, f, arity)),
        Err(panic) => {
            let text = panic_text(panic);
            tracing::error!(module = %m, function = %f, "function panicked: {text}");
            Err(panic_exception(m, f, arity, text))
        }
    }
}

/// What becomes of a process body's panic: its exit reason, from the
/// panic's text.
type OnPanic = Box<dyn FnOnce(String) -> Term + Send>;

/// A caught panic's payload.
type Panic = Box<dyn std::any::Any + Send>;

/// Polls `fut` once with a waker that does nothing: `Ready` when it finished
/// (or panicked) without waiting. A future left `Pending` must be polled
/// again (by a task) before it can make progress, since the waker it got
/// here wakes nobody; every future re-registers the waker of its latest
/// poll, so handing it to a task afterwards is enough.
pub(crate) fn poll_now<F: Future + Unpin>(fut: &mut F) -> Poll<Result<F::Output, Panic>> {
    let mut cx = Context::from_waker(Waker::noop());
    match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(fut).poll(&mut cx))) {
        Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => Poll::Ready(Err(panic)),
    }
}

/// Runs `fut` to completion; a panic in any of its polls becomes
/// `Err(payload)`, as a spawned task's `JoinHandle` would report it, but
/// without a task. A future that panicked is dropped at once (a panic in its
/// drop is caught too).
pub(crate) async fn catch_unwind<F: Future + Unpin>(fut: F) -> Result<F::Output, Panic> {
    let mut fut = Some(fut);
    std::future::poll_fn(move |cx| {
        let Some(f) = fut.as_mut() else {
            // Not polled again once it has finished.
            return Poll::Pending;
        };
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(f).poll(cx)));
        match r {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                fut = None;
                Poll::Ready(Ok(v))
            }
            Err(panic) => {
                let doomed = fut.take();
                let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(doomed)));
                Poll::Ready(Err(panic))
            }
        }
    })
    .await
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

    /// Runs the body of a spawned process and ends the process with the
    /// reason its outcome gives.
    ///
    /// An erpc call is first polled once right here, on the task that
    /// delivered the SPAWN_REQUEST (normally the connection's): a function
    /// that answers without waiting (most do) then exits its process, and so
    /// queues the caller's DOWN with the result, before the connection task
    /// even looks at its send queue again — no task is spawned and no other
    /// worker thread is woken. Anything that has to wait, and every other
    /// body, runs as one task of its own (so that a kill aborts it), which
    /// also ends the process.
    fn start_process(self: &Arc<Self>, mb: Mailbox, body: Body, caller: Pid) {
        let proc = mb.proc.clone();
        let gl = mb.group_leader();
        let handle = self.handle();
        let (fut, on_panic): (BoxFuture<Term>, OnPanic) = match body {
            Body::Call { res, m, f, args } => {
                let arity = args.len();
                let Some(mut call) = self.lookup_fn(&m, &f, arity).zip(handle).map(|(h, node)| {
                    h(RpcCall {
                        module: m.clone(),
                        function: f.clone(),
                        args: args.clone(),
                        caller: Some(caller),
                        group_leader: gl,
                        node,
                    })
                }) else {
                    drop(mb);
                    self.exit_process(&proc, erpc_reply(res, Err(undef(&m, &f, args))));
                    return;
                };
                match poll_now(&mut call) {
                    Poll::Ready(r) => {
                        let r = match r {
                            Ok(r) => r.map_err(|e| with_stack(e, &m, &f, arity)),
                            Err(panic) => {
                                let text = panic_text(panic);
                                tracing::error!(module = %m, function = %f, "function panicked: {text}");
                                Err(panic_exception(&m, &f, arity, text))
                            }
                        };
                        // Dropped here so that a panic in a panicked
                        // future's drop stays here too.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(call)));
                        drop(mb);
                        self.exit_process(&proc, erpc_reply(res, r));
                        return;
                    }
                    Poll::Pending => {}
                }
                let (res2, m2, f2) = (res.clone(), m.clone(), f.clone());
                let fut: BoxFuture<Term> = Box::pin(async move {
                    let _keep = mb;
                    let r = call.await.map_err(|e| with_stack(e, &m, &f, arity));
                    erpc_reply(res, r)
                });
                let on_panic: OnPanic = Box::new(move |text: String| {
                    erpc_reply(res2, Err(panic_exception(&m2, &f2, arity, text)))
                });
                (fut, on_panic)
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
                let fut: BoxFuture<Term> = Box::pin(async move {
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
                (fut, Box::new(|_| atom("normal")))
            }
            Body::Process { m, f, args } => match self.lookup_proc_fn(&m, &f, args.len()) {
                Some(body) => {
                    let body = body(mb, args);
                    let fut: BoxFuture<Term> = Box::pin(async move {
                        match body.await {
                            Ok(()) => atom("normal"),
                            Err(reason) => reason,
                        }
                    });
                    (
                        fut,
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
        let node = self.clone();
        let task_proc = proc.clone();
        let task = tokio::spawn(async move {
            let reason = match catch_unwind(fut).await {
                Ok(reason) => reason,
                Err(panic) => {
                    let text = panic_text(panic);
                    tracing::error!(pid = ?task_proc.pid, "process panicked: {text}");
                    on_panic(text)
                }
            };
            node.exit_process(&task_proc, reason);
        });
        *proc.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        if !proc.is_alive() {
            // Killed before the handle was in place.
            task.abort();
        }
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
        Term::Ref(Box::new(req_id.clone())),
        atom(if ok { "ok" } else { "error" }),
        value,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_now_finishes_ready_futures_and_catches_panics() {
        let mut ready = Box::pin(async { 7 });
        assert!(matches!(poll_now(&mut ready), Poll::Ready(Ok(7))));
        let mut boom = Box::pin(async {
            if std::env::var_os("ERLNODE_NEVER_SET_THIS").is_none() {
                panic!("boom");
            }
            1
        });
        match poll_now(&mut boom) {
            Poll::Ready(Err(p)) => assert_eq!(panic_text(p), "boom"),
            _ => panic!("the panic was not caught"),
        }
    }

    #[tokio::test]
    async fn a_pending_future_finishes_on_a_task_and_later_panics_are_caught() {
        let mut waits = Box::pin(async {
            tokio::task::yield_now().await;
            5
        });
        assert!(poll_now(&mut waits).is_pending());
        assert_eq!(
            tokio::spawn(catch_unwind(waits)).await.ok().map(|r| r.ok()),
            Some(Some(5))
        );
        let later = Box::pin(async {
            tokio::task::yield_now().await;
            if std::env::var_os("ERLNODE_NEVER_SET_THIS").is_none() {
                panic!("later");
            }
            1
        });
        match catch_unwind(later).await {
            Err(p) => assert_eq!(panic_text(p), "later"),
            Ok(_) => panic!("the panic was not caught"),
        }
    }
}
