//! What a signal does to local processes: the BEAM's process semantics for
//! messages, links, exits, monitors and aliases (PROTOCOL.md §4).

use super::NodeInner;
use super::process::{LOCAL, MonitorOut, Proc, Watcher};
use crate::dist::{ProcRef, Signal};
use crate::term::{Atom, Pid, Reference, Term};
use std::collections::VecDeque;
use std::sync::Arc;

/// Where a signal came from: the peer and the connection id, or `None` for a
/// signal between local processes.
pub(crate) type Via<'a> = Option<(&'a Atom, u64)>;

pub(crate) fn atom_term(s: &str) -> Term {
    Term::Atom(Atom::from(s))
}

/// `{'DOWN', Ref, process, Obj, Reason}`.
pub(crate) fn down_msg(reference: &Reference, obj: &ProcRef, node: &Atom, reason: Term) -> Term {
    let obj = match obj {
        ProcRef::Pid(p) => Term::Pid(p.clone()),
        ProcRef::Name(n) => Term::Tuple(vec![Term::Atom(n.clone()), Term::Atom(node.clone())]),
    };
    Term::Tuple(vec![
        atom_term("DOWN"),
        Term::Ref(Box::new(reference.clone())),
        atom_term("process"),
        obj,
        reason,
    ])
}

/// `{'EXIT', From, Reason}`.
pub(crate) fn exit_msg(from: &Pid, reason: Term) -> Term {
    Term::Tuple(vec![atom_term("EXIT"), Term::Pid(from.clone()), reason])
}

impl NodeInner {
    /// Applies a signal addressed to a process of this node.
    pub(crate) fn handle_signal(self: &Arc<Self>, sig: Signal, via: Via<'_>) {
        let conn = via.map_or(LOCAL, |(_, id)| id);
        match sig {
            Signal::Send { to, msg, .. } => {
                if let Some(p) = self.lookup(&to) {
                    p.deliver(msg);
                }
            }
            Signal::RegSend { from, to, msg } => match self.whereis(&to) {
                Some(p) => p.deliver(msg),
                None => self.unknown_name(&from, &to, msg),
            },
            Signal::AliasSend { alias, msg, .. } => {
                if let Some(p) = self.alias_owner(&alias) {
                    p.deliver(msg);
                }
            }
            Signal::Link { from, to } => match self.lookup(&to) {
                Some(p) => {
                    let mut st = p.lock();
                    if st.exit.is_none() {
                        if !st.unlinking.contains_key(&from) {
                            st.links.insert(from, conn);
                        }
                        return;
                    }
                    drop(st);
                    self.route(
                        &from.node.clone(),
                        Signal::Exit {
                            from: to,
                            to: from,
                            reason: atom_term("noproc"),
                        },
                    );
                }
                None => self.route(
                    &from.node.clone(),
                    Signal::Exit {
                        from: to,
                        to: from,
                        reason: atom_term("noproc"),
                    },
                ),
            },
            Signal::Unlink { from, to } => {
                if let Some(p) = self.lookup(&to) {
                    p.lock().links.remove(&from);
                }
            }
            Signal::UnlinkId { id, from, to } => {
                if let Some(p) = self.lookup(&to) {
                    p.lock().links.remove(&from);
                }
                // Always acknowledged, even for an unknown process, so the
                // unlinker's state machine completes.
                self.route(
                    &from.node.clone(),
                    Signal::UnlinkIdAck {
                        id,
                        from: to,
                        to: from,
                    },
                );
            }
            Signal::UnlinkIdAck { id, from, to } => {
                if let Some(p) = self.lookup(&to) {
                    let mut st = p.lock();
                    if st.unlinking.get(&from) == Some(&id) {
                        st.unlinking.remove(&from);
                    }
                }
            }
            Signal::Exit { from, to, reason } => {
                if let Some(p) = self.lookup(&to) {
                    let linked = {
                        let mut st = p.lock();
                        st.exit.is_none()
                            && !st.unlinking.contains_key(&from)
                            && st.links.remove(&from).is_some()
                    };
                    if linked {
                        self.exit_signal(&p, &from, reason, true);
                    }
                }
            }
            Signal::Exit2 { from, to, reason } => {
                if let Some(p) = self.lookup(&to) {
                    self.exit_signal(&p, &from, reason, false);
                }
            }
            Signal::GroupLeader { from, to } => {
                if let Some(p) = self.lookup(&to) {
                    p.lock().group_leader = Some(from);
                }
            }
            Signal::Monitor {
                from,
                target,
                reference,
            } => {
                let proc = match &target {
                    ProcRef::Pid(pid) => self.lookup(pid),
                    ProcRef::Name(name) => self.whereis(name),
                };
                let added = proc.as_ref().is_some_and(|p| {
                    let mut st = p.lock();
                    st.exit.is_none()
                        && st
                            .watchers
                            .insert(
                                reference.clone(),
                                Watcher {
                                    pid: from.clone(),
                                    as_ref: target.clone(),
                                    conn,
                                },
                            )
                            .is_none()
                });
                if !added {
                    self.route(
                        &from.node.clone(),
                        Signal::MonitorExit {
                            from: target,
                            to: from,
                            reference,
                            reason: atom_term("noproc"),
                        },
                    );
                }
            }
            Signal::Demonitor {
                target, reference, ..
            } => {
                let proc = match &target {
                    ProcRef::Pid(pid) => self.lookup(pid),
                    ProcRef::Name(name) => self.whereis(name),
                };
                if let Some(p) = proc {
                    let orphaned = {
                        let mut st = p.lock();
                        st.watchers.remove(&reference);
                        st.dies_unwatched && st.watchers.is_empty()
                    };
                    if orphaned {
                        // The caller of an erpc call gave up (timeout): stop the work.
                        self.exit_process(&p, atom_term("killed"));
                    }
                }
            }
            Signal::MonitorExit {
                from,
                to,
                reference,
                reason,
            } => {
                if let Some(p) = self.lookup(&to) {
                    let removed = p.lock().monitors.remove(&reference);
                    if let Some(m) = removed {
                        p.deliver(down_msg(&reference, &from, &m.node, reason));
                    }
                }
            }
            Signal::SpawnRequest { .. } => self.spawn_request(sig, via),
            Signal::SpawnReply {
                req_id,
                to,
                flags,
                result,
            } => self.spawn_reply(req_id, to, flags, result, conn),
        }
    }

    /// A REG_SEND to a name nobody has registered: the BEAM drops it. The
    /// built-in services register themselves, so this only logs.
    fn unknown_name(&self, from: &Pid, name: &Atom, _msg: Term) {
        tracing::debug!(%name, from = ?from, "message to unregistered name dropped");
    }

    /// Delivers an exit signal from `from` to `p`: `link` is true for the
    /// signal of a broken link (the link is already removed), false for
    /// `exit/2`.
    pub(crate) fn exit_signal(
        self: &Arc<Self>,
        p: &Arc<Proc>,
        from: &Pid,
        reason: Term,
        link: bool,
    ) {
        let trap = {
            let st = p.lock();
            if st.exit.is_some() {
                return;
            }
            st.trap_exit
        };
        if !link && reason.is_atom("kill") {
            self.exit_process(p, atom_term("killed"));
        } else if trap {
            p.deliver(exit_msg(from, reason));
        } else if reason.is_atom("normal") {
            // A normal exit signal is ignored, except `exit(self(), normal)`.
            if !link && *from == p.pid {
                self.exit_process(p, reason);
            }
        } else {
            self.exit_process(p, reason);
        }
    }

    /// Ends a local process with `reason` and sends the exit to its links and
    /// monitors. Cascading deaths go through a work queue, so a long chain of
    /// linked processes does not recurse.
    pub(crate) fn exit_process(self: &Arc<Self>, p: &Arc<Proc>, reason: Term) {
        let mut work: VecDeque<(Arc<Proc>, Term)> = VecDeque::new();
        work.push_back((p.clone(), reason));
        while let Some((p, mut reason)) = work.pop_front() {
            let (links, watchers, monitors, name, aliases) = {
                let mut st = p.lock();
                if st.exit.is_some() {
                    continue;
                }
                st.exit = Some(if st.owner_gone {
                    Term::NIL
                } else {
                    reason.clone()
                });
                p.exited.store(true, std::sync::atomic::Ordering::Release);
                (
                    std::mem::take(&mut st.links),
                    std::mem::take(&mut st.watchers),
                    std::mem::take(&mut st.monitors),
                    st.name.take(),
                    std::mem::take(&mut st.aliases),
                )
            };
            self.unregister_proc(&p, name.as_ref(), &aliases);
            p.wake_exited();
            if let Some(task) = p.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
                task.abort();
            }
            for (peer, _conn) in links {
                if peer.node != self.name {
                    self.route(
                        &peer.node.clone(),
                        Signal::Exit {
                            from: p.pid.clone(),
                            to: peer,
                            reason: reason.clone(),
                        },
                    );
                    continue;
                }
                let Some(lp) = self.lookup(&peer) else {
                    continue;
                };
                let trap = {
                    let mut st = lp.lock();
                    if st.exit.is_some() || st.links.remove(&p.pid).is_none() {
                        continue;
                    }
                    st.trap_exit
                };
                if trap {
                    lp.deliver(exit_msg(&p.pid, reason.clone()));
                } else if !reason.is_atom("normal") {
                    work.push_back((lp, reason.clone()));
                }
            }
            // The last watcher takes the reason itself: an erpc result
            // travels as the exit reason of the process that computed it, and
            // a big one would otherwise be copied whole for its one watcher.
            let mut left = watchers.len();
            for (reference, w) in watchers {
                left -= 1;
                let reason = if left == 0 {
                    std::mem::take(&mut reason)
                } else {
                    reason.clone()
                };
                if w.pid.node == self.name {
                    if let Some(wp) = self.lookup(&w.pid) {
                        let removed = wp.lock().monitors.remove(&reference);
                        if let Some(m) = removed {
                            wp.deliver(down_msg(&reference, &w.as_ref, &m.node, reason));
                        }
                    }
                } else {
                    self.route(
                        &w.pid.node.clone(),
                        Signal::MonitorExit {
                            from: w.as_ref,
                            to: w.pid,
                            reference,
                            reason,
                        },
                    );
                }
            }
            for (reference, m) in monitors {
                self.drop_monitor(&p.pid, reference, m);
            }
        }
    }

    /// Removes a monitor `owner` held: tells the target's node (remote) or
    /// the target (local).
    pub(crate) fn drop_monitor(self: &Arc<Self>, owner: &Pid, reference: Reference, m: MonitorOut) {
        if m.node == self.name {
            let target = match &m.target {
                ProcRef::Pid(pid) => self.lookup(pid),
                ProcRef::Name(name) => self.whereis(name),
            };
            if let Some(t) = target {
                t.lock().watchers.remove(&reference);
            }
        } else {
            self.route(
                &m.node.clone(),
                Signal::Demonitor {
                    from: owner.clone(),
                    target: m.target,
                    reference,
                },
            );
        }
    }

    /// A connection to `peer` with id `conn` is gone: every link and monitor
    /// that lived on it fires once with `noconnection`, and `monitor_node`
    /// subscribers get `{nodedown, Node}`.
    pub(crate) fn sweep_connection(self: &Arc<Self>, peer: &Atom, conn: u64) {
        for p in self.all_procs() {
            let (links, monitors, node_mons, spawns) = {
                let mut st = p.lock();
                if st.exit.is_some() {
                    continue;
                }
                let links: Vec<Pid> = st
                    .links
                    .iter()
                    .filter(|(_, c)| **c == conn)
                    .map(|(pid, _)| pid.clone())
                    .collect();
                for l in &links {
                    st.links.remove(l);
                }
                let mons: Vec<Reference> = st
                    .monitors
                    .iter()
                    .filter(|(_, m)| m.conn == conn)
                    .map(|(r, _)| r.clone())
                    .collect();
                let monitors: Vec<(Reference, MonitorOut)> = mons
                    .into_iter()
                    .filter_map(|r| st.monitors.remove(&r).map(|m| (r, m)))
                    .collect();
                st.watchers.retain(|_, w| w.conn != conn);
                st.unlinking.retain(|pid, _| pid.node != *peer);
                let node_mons = st.node_monitors.remove(peer).unwrap_or(0);
                let spawns: Vec<Reference> = st
                    .pending_spawns
                    .iter()
                    .filter(|(_, c)| **c == conn)
                    .map(|(r, _)| r.clone())
                    .collect();
                for r in &spawns {
                    st.pending_spawns.remove(r);
                }
                (links, monitors, node_mons, spawns)
            };
            for r in spawns {
                p.deliver(crate::services::spawn::spawn_reply_msg(
                    &r,
                    false,
                    atom_term("noconnection"),
                ));
            }
            for (reference, m) in monitors {
                p.deliver(down_msg(
                    &reference,
                    &m.target,
                    &m.node,
                    atom_term("noconnection"),
                ));
            }
            for _ in 0..node_mons {
                p.deliver(Term::Tuple(vec![
                    atom_term("nodedown"),
                    Term::Atom(peer.clone()),
                ]));
            }
            for l in links {
                self.exit_signal(&p, &l, atom_term("noconnection"), true);
            }
        }
    }

    /// A signal that could not be sent to `node` (no connection): the BEAM
    /// drops messages silently, but links, monitors and spawn requests
    /// answer at once with `noconnection`.
    pub(crate) fn undeliverable(self: &Arc<Self>, sig: Signal) {
        match sig {
            Signal::Link { from, to } => {
                if let Some(p) = self.lookup(&from) {
                    let had = p.lock().links.remove(&to).is_some();
                    if had {
                        self.exit_signal(&p, &to, atom_term("noconnection"), true);
                    }
                }
            }
            Signal::Monitor {
                from, reference, ..
            } => {
                if let Some(p) = self.lookup(&from) {
                    let removed = p.lock().monitors.remove(&reference);
                    if let Some(m) = removed {
                        p.deliver(down_msg(
                            &reference,
                            &m.target,
                            &m.node,
                            atom_term("noconnection"),
                        ));
                    }
                }
            }
            Signal::SpawnRequest { req_id, from, .. } => {
                if let Some(p) = self.lookup(&from) {
                    p.deliver(Term::Tuple(vec![
                        atom_term("spawn_reply"),
                        Term::Ref(Box::new(req_id)),
                        atom_term("error"),
                        atom_term("noconnection"),
                    ]));
                }
            }
            _ => {}
        }
    }
}
