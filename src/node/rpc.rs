//! Calling into the BEAM from Rust: `rpc` through erpc (a SPAWN_REQUEST of
//! `erpc:execute_call/4`, whose DOWN reason carries the result), with the
//! `rex` server as fallback for peers without DFLAG_SPAWN, and `spawn`.

use super::functions::{Class, Exception};
use super::{Dest, Mailbox, Node};
use crate::dist::Signal;
use crate::handshake::DistFlags;
use crate::term::{Atom, Pid, Reference, Term};
use std::time::Duration;

/// Why an rpc did not return a value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The function raised an exception (throw, error with stack, or exit).
    #[error("{0}")]
    Exception(Exception),
    /// The node could not be reached, or the connection was lost.
    #[error("node {0} is down or unreachable")]
    NodeDown(Atom),
    /// No answer within the timeout; the remote work was abandoned.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The process running the call died with this reason (e.g. `killed`).
    #[error("the call's process exited with reason {0}")]
    Signal(Term),
    /// erpc refused the call: the spawn failed (`notsup`, `badopt`, …) or
    /// the arguments were bad (`badarg`, `system_limit`).
    #[error("erpc error: {0}")]
    Erpc(Term),
    /// The calling process was killed while waiting.
    #[error(transparent)]
    Exited(#[from] super::Exited),
}

impl RpcError {
    /// What `rpc:call/5` returns for this outcome: `{badrpc, Reason}`, or the
    /// thrown value for a throw.
    pub fn to_rpc_value(&self) -> Term {
        let badrpc = |r: Term| Term::tuple(vec![Term::atom("badrpc"), r]);
        let exit = |r: Term| badrpc(Term::tuple(vec![Term::atom("EXIT"), r]));
        match self {
            RpcError::Exception(Exception {
                class: Class::Throw,
                reason,
                ..
            }) => reason.clone(),
            RpcError::Exception(Exception {
                class: Class::Exit,
                reason,
                ..
            }) => exit(reason.clone()),
            RpcError::Exception(Exception {
                class: Class::Error,
                reason,
                stack,
            }) => exit(Term::tuple(vec![
                reason.clone(),
                stack.clone().unwrap_or(Term::NIL),
            ])),
            RpcError::NodeDown(_) => badrpc(Term::atom("nodedown")),
            RpcError::Timeout(_) => badrpc(Term::atom("timeout")),
            RpcError::Signal(r) => exit(r.clone()),
            RpcError::Erpc(r) if r.is_atom("notsup") => badrpc(Term::atom("notsup")),
            RpcError::Erpc(r) => exit(r.clone()),
            RpcError::Exited(e) => exit(e.reason.clone()),
        }
    }
}

/// Options of a spawn on a peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpawnOpts {
    /// Link the new process to the caller.
    pub link: bool,
    /// Monitor the new process (the monitor reference is returned).
    pub monitor: bool,
}

fn down_reason(m: Term, req: &Reference) -> Option<Term> {
    match m.as_tuple() {
        Some([tag, Term::Ref(r), _, _, _]) if tag.is_atom("DOWN") && **r == *req => {
            m.into_tuple().ok().and_then(|mut v| v.pop())
        }
        _ => None,
    }
}

/// Decodes erpc's DOWN reason (PROTOCOL.md §6b's table).
fn erpc_result(node: &Atom, res: &Reference, reason: Term) -> Result<Term, RpcError> {
    let ours = |t: &Term| matches!(t, Term::Ref(r) if **r == *res);
    match reason.as_tuple() {
        Some([r, kind, v]) if ours(r) => {
            let v = v.clone();
            return match kind.as_atom().map(|a| a.as_str()) {
                Some("return") => Ok(v),
                Some("throw") => Err(RpcError::Exception(Exception::throw(v))),
                Some("exit") => Err(RpcError::Exception(Exception::exit(v))),
                Some("error") => Err(RpcError::Erpc(match v.as_tuple() {
                    Some([tag, r]) if tag.is_atom("erpc") => r.clone(),
                    _ => v,
                })),
                _ => Err(RpcError::Signal(reason)),
            };
        }
        Some([r, kind, e, stack]) if ours(r) && kind.is_atom("error") => {
            return Err(RpcError::Exception(Exception {
                class: Class::Error,
                reason: e.clone(),
                stack: Some(stack.clone()),
            }));
        }
        _ => {}
    }
    if reason.is_atom("noconnection") {
        Err(RpcError::NodeDown(node.clone()))
    } else {
        Err(RpcError::Signal(reason))
    }
}

impl Mailbox {
    /// Sends a SPAWN_REQUEST for `m:f(args)` on `node` and waits for the
    /// reply. Returns the new pid, and the monitor reference when
    /// `opts.monitor` is set (the request id, as on the BEAM).
    pub async fn spawn_on(
        &mut self,
        node: &str,
        m: &str,
        f: &str,
        args: Vec<Term>,
        opts: SpawnOpts,
        timeout: Option<Duration>,
    ) -> Result<(Pid, Option<Reference>), RpcError> {
        let (req_id, peer) = self.send_spawn_request(node, m, f, args, opts).await?;
        let got = self
            .recv_match(|t| matches!(t.as_tuple(), Some([tag, Term::Ref(r), _, _]) if tag.is_atom("spawn_reply") && **r == req_id), timeout)
            .await?;
        match got {
            Some(t) => match t.as_tuple() {
                Some([_, _, status, Term::Pid(p)]) if status.is_atom("ok") => {
                    Ok((p.clone(), opts.monitor.then_some(req_id)))
                }
                Some([_, _, _, reason]) if reason.is_atom("noconnection") => {
                    Err(RpcError::NodeDown(peer))
                }
                Some([_, _, _, reason]) => Err(RpcError::Erpc(reason.clone())),
                _ => Err(RpcError::Signal(t)),
            },
            None => {
                self.proc.lock().pending_spawns.remove(&req_id);
                Err(RpcError::Timeout(timeout.unwrap_or_default()))
            }
        }
    }

    async fn send_spawn_request(
        &mut self,
        node: &str,
        m: &str,
        f: &str,
        args: Vec<Term>,
        opts: SpawnOpts,
    ) -> Result<(Reference, Atom), RpcError> {
        let peer = Atom::new(node).map_err(|_| RpcError::NodeDown(Atom::default()))?;
        let (module, function) = (
            Atom::new(m).map_err(|e| RpcError::Erpc(Term::binary(e.to_string())))?,
            Atom::new(f).map_err(|e| RpcError::Erpc(Term::binary(e.to_string())))?,
        );
        if peer == self.node.name {
            return Err(RpcError::Erpc(Term::atom("badarg")));
        }
        let conn = self.node.conn_for(&peer);
        let Some(flags) = conn.wait_up().await else {
            return Err(RpcError::NodeDown(peer));
        };
        if !flags.contains(DistFlags::SPAWN) {
            return Err(RpcError::Erpc(Term::atom("notsup")));
        }
        let req_id = self.node.make_ref();
        let mut o = Vec::new();
        if opts.link {
            o.push(Term::atom("link"));
        }
        if opts.monitor {
            o.push(Term::atom("monitor"));
        }
        let gl = self
            .group_leader()
            .or_else(|| {
                self.node
                    .io_server
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
            })
            .unwrap_or_else(|| self.pid().clone());
        self.proc
            .lock()
            .pending_spawns
            .insert(req_id.clone(), conn.id);
        let sig = Signal::SpawnRequest {
            req_id: req_id.clone(),
            from: self.pid().clone(),
            group_leader: gl,
            module,
            function,
            args: Term::List(args),
            opts: Term::List(o),
        };
        self.node.push(&conn, sig);
        Ok((req_id, peer))
    }

    /// Calls `m:f(args)` on `node` and returns its value, as `erpc:call/5`.
    /// On timeout the remote work is abandoned (demonitored and killed).
    pub async fn rpc(
        &mut self,
        node: &str,
        m: &str,
        f: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Result<Term, RpcError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let peer = Atom::new(node).map_err(|_| RpcError::NodeDown(Atom::default()))?;
        if peer == self.node.name {
            let (m, f) = (Atom::from(m), Atom::from(f));
            let r = tokio::time::timeout(
                timeout,
                crate::services::spawn::run_fn(
                    &self.node,
                    &m,
                    &f,
                    args,
                    Some(self.pid().clone()),
                    None,
                ),
            )
            .await;
            return match r {
                Ok(r) => r.map_err(RpcError::Exception),
                Err(_) => Err(RpcError::Timeout(timeout)),
            };
        }
        let flags = match tokio::time::timeout_at(deadline, self.node.connect_atom(&peer)).await {
            Ok(Some(f)) => f,
            Ok(None) => return Err(RpcError::NodeDown(peer)),
            Err(_) => return Err(RpcError::Timeout(timeout)),
        };
        if !flags.contains(DistFlags::SPAWN) {
            return self.rpc_rex(&peer, m, f, args, timeout).await;
        }
        let res = self.node.make_ref();
        let erpc_args = vec![
            Term::Ref(Box::new(res.clone())),
            Term::atom(m),
            Term::atom(f),
            Term::List(args),
        ];
        let (req_id, _) = self
            .send_spawn_request(
                node,
                "erpc",
                "execute_call",
                erpc_args,
                SpawnOpts {
                    link: false,
                    monitor: true,
                },
            )
            .await?;
        let mut spawned: Option<Pid> = None;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let got = self
                .recv_match(
                    |t| match t.as_tuple() {
                        Some([tag, Term::Ref(r), _, _]) => {
                            tag.is_atom("spawn_reply") && **r == req_id
                        }
                        Some([tag, Term::Ref(r), _, _, _]) => tag.is_atom("DOWN") && **r == req_id,
                        _ => false,
                    },
                    Some(left),
                )
                .await?;
            let Some(t) = got else {
                // Abandon: stop watching and stop the work.
                self.proc.lock().pending_spawns.remove(&req_id);
                self.demonitor_flush(&req_id);
                if let Some(p) = spawned {
                    self.exit_signal(&p, Term::atom("kill"));
                }
                return Err(RpcError::Timeout(timeout));
            };
            match t.as_tuple() {
                Some([_, _, status, Term::Pid(p)]) if status.is_atom("ok") => {
                    spawned = Some(p.clone())
                }
                Some([_, _, _, reason]) if t.as_tuple().is_some_and(|v| v.len() == 4) => {
                    return Err(if reason.is_atom("noconnection") {
                        RpcError::NodeDown(peer)
                    } else {
                        RpcError::Erpc(reason.clone())
                    });
                }
                _ => {
                    let reason = down_reason(t, &req_id).unwrap_or_default();
                    return erpc_result(&peer, &res, reason);
                }
            }
        }
    }

    /// `rpc:call` through `rex` (peers without DFLAG_SPAWN).
    async fn rpc_rex(
        &mut self,
        peer: &Atom,
        m: &str,
        f: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Result<Term, RpcError> {
        let req = Term::tuple(vec![
            Term::atom("call"),
            Term::atom(m),
            Term::atom(f),
            Term::List(args),
            Term::atom("user"),
        ]);
        match self
            .call(
                Dest::RemoteName(Atom::from("rex"), peer.clone()),
                req,
                Some(timeout),
            )
            .await
        {
            Ok(v) => match v.as_tuple() {
                Some([tag, reason]) if tag.is_atom("badrpc") => Err(match reason.as_tuple() {
                    Some([e, r]) if e.is_atom("EXIT") => {
                        RpcError::Exception(Exception::exit(r.clone()))
                    }
                    _ if reason.is_atom("nodedown") => RpcError::NodeDown(peer.clone()),
                    _ => RpcError::Signal(reason.clone()),
                }),
                _ => Ok(v),
            },
            Err(super::CallError::Timeout(d)) => Err(RpcError::Timeout(d)),
            Err(super::CallError::Down(r)) if r.is_atom("noconnection") => {
                Err(RpcError::NodeDown(peer.clone()))
            }
            Err(super::CallError::Down(r)) => Err(RpcError::Signal(r)),
            Err(super::CallError::Exited(e)) => Err(RpcError::Exited(e)),
        }
    }
}

impl Node {
    /// Calls `m:f(args)` on `node` (`erpc:call/5`): through erpc, or the
    /// `rex` server when the peer lacks DFLAG_SPAWN.
    pub async fn rpc(
        &self,
        node: &str,
        m: &str,
        f: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Result<Term, RpcError> {
        self.mailbox().rpc(node, m, f, args, timeout).await
    }

    /// `spawn(Node, M, F, A)`: starts a process on a peer; returns its pid.
    pub async fn spawn(
        &self,
        node: &str,
        m: &str,
        f: &str,
        args: Vec<Term>,
    ) -> Result<Pid, RpcError> {
        self.mailbox()
            .spawn_on(
                node,
                m,
                f,
                args,
                SpawnOpts::default(),
                Some(super::PING_TIMEOUT),
            )
            .await
            .map(|(p, _)| p)
    }
}
