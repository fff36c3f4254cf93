//! Rust functions and process bodies that Erlang code can call with
//! `rpc:call`/`erpc:call` or start with `spawn/4`.

use super::{Mailbox, Node};
use crate::term::{Atom, Pid, Term};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The class of an Erlang exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `throw(Value)`.
    Throw,
    /// `erlang:error(Reason)`.
    Error,
    /// `exit(Reason)`.
    Exit,
}

impl Class {
    /// The class atom's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Throw => "throw",
            Class::Error => "error",
            Class::Exit => "exit",
        }
    }
}

/// An exception raised by a Rust function, as Erlang code sees it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}:{reason}", class.as_str())]
pub struct Exception {
    /// throw, error or exit.
    pub class: Class,
    /// The thrown value or the reason.
    pub reason: Term,
    /// For errors: the stack trace (`[{M, F, ArityOrArgs, Location}]`).
    /// When `None`, erlnode puts `[{Module, Function, Arity, []}]`.
    pub stack: Option<Term>,
}

impl Exception {
    /// `throw(Value)`.
    pub fn throw(value: impl Into<Term>) -> Exception {
        Exception {
            class: Class::Throw,
            reason: value.into(),
            stack: None,
        }
    }

    /// `erlang:error(Reason)`.
    pub fn error(reason: impl Into<Term>) -> Exception {
        Exception {
            class: Class::Error,
            reason: reason.into(),
            stack: None,
        }
    }

    /// `exit(Reason)`.
    pub fn exit(reason: impl Into<Term>) -> Exception {
        Exception {
            class: Class::Exit,
            reason: reason.into(),
            stack: None,
        }
    }
}

/// One call of a registered function.
#[derive(Debug)]
pub struct RpcCall {
    /// Module name the caller used.
    pub module: Atom,
    /// Function name the caller used.
    pub function: Atom,
    /// The arguments.
    pub args: Vec<Term>,
    /// The calling process, when known.
    pub caller: Option<Pid>,
    /// The caller's group leader, when known: output written through
    /// `io_request`s to it shows on the caller's side.
    pub group_leader: Option<Pid>,
    /// The node the function runs on.
    pub node: Node,
}

/// What a registered function returns.
pub type RpcResult = Result<Term, Exception>;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type RpcFn = Arc<dyn Fn(RpcCall) -> BoxFuture<RpcResult> + Send + Sync>;
pub(crate) type ProcFn =
    Arc<dyn Fn(Mailbox, Vec<Term>) -> BoxFuture<Result<(), Term>> + Send + Sync>;

/// `(module, function, arity)`.
pub(crate) type Mfa = (Atom, Atom, usize);

/// Registered functions and process bodies.
#[derive(Default)]
pub(crate) struct Registry {
    pub fns: HashMap<Mfa, RpcFn>,
    pub procs: HashMap<Mfa, ProcFn>,
}

impl Node {
    /// Makes `module:function/arity` callable from Erlang
    /// (`rpc:call`, `erpc:call`, `rpc:cast`, `erpc:multicall`, the `rex`
    /// server and `erl_call`). The handler returns the result, or an
    /// [`Exception`] that reaches the caller as the BEAM would raise it. A
    /// panic becomes `error:{rust_panic, Message}`; the node keeps running.
    ///
    /// For latency, the handler's future is first polled on the task that
    /// received the call (for `rpc:call`/`erpc:call`, the connection's
    /// task), and only continues on a task of its own if it has to wait. So
    /// a handler that answers at once costs no task switch; one that does
    /// long computation before its first `.await` holds up that connection
    /// meanwhile, and should move the work to
    /// [`tokio::task::spawn_blocking`] (or await something first).
    ///
    /// ```no_run
    /// # async fn demo(node: erlnode::Node) {
    /// use erlnode::{Term, node::Exception};
    /// node.register_fn("calc", "add", 2, |call| async move {
    ///     match (&call.args[0], &call.args[1]) {
    ///         (Term::Int(a), Term::Int(b)) => Ok(Term::Int(a + b)),
    ///         _ => Err(Exception::error(Term::atom("badarith"))),
    ///     }
    /// });
    /// // erl> rpc:call('rust@host', calc, add, [1, 2]).  % => 3
    /// # }
    /// ```
    pub fn register_fn<F, Fut>(&self, module: &str, function: &str, arity: usize, f: F)
    where
        F: Fn(RpcCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = RpcResult> + Send + 'static,
    {
        let f: RpcFn = Arc::new(move |call| Box::pin(f(call)));
        self.inner
            .registry_write()
            .fns
            .insert((Atom::from(module), Atom::from(function), arity), f);
    }

    /// Makes `module:function/arity` spawnable from Erlang (`spawn/4`,
    /// `spawn_link/4`, `spawn_monitor/4`, `spawn_opt/5`). The body gets the
    /// new process's mailbox and the arguments; `Ok(())` ends the process
    /// with reason `normal`, `Err(Reason)` with `Reason`.
    pub fn register_process<F, Fut>(&self, module: &str, function: &str, arity: usize, f: F)
    where
        F: Fn(Mailbox, Vec<Term>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Term>> + Send + 'static,
    {
        let f: ProcFn = Arc::new(move |mb, args| Box::pin(f(mb, args)));
        self.inner
            .registry_write()
            .procs
            .insert((Atom::from(module), Atom::from(function), arity), f);
    }
}
