//! EPMD's name tables, without IO: live registrations and the old/unused
//! list, with the creation rules of OTP's `epmd_srv.c` (`node_reg2`,
//! `node_unreg_sock`, `bump_creation`, `get_creation`).

use super::wire::{self, DumpEntry, DumpReply, NodeEntry};
use bytes::Bytes;
use std::collections::VecDeque;

/// One name EPMD knows, live or old.
#[derive(Debug)]
pub(crate) struct Slot {
    entry: NodeEntry,
    /// The creation counter (`cr_counter` in epmd).
    counter: u32,
    conn: u64,
    fd: i64,
}

impl Slot {
    /// What the ALIVE2 reply carries (`get_creation` in epmd).
    fn creation(&self) -> u32 {
        if self.entry.highest >= 6 {
            self.counter
        } else {
            self.counter % 3 + 1
        }
    }

    /// `bump_creation` in epmd: next value, never 0..=3.
    fn bump(&mut self) {
        self.counter = self.counter.wrapping_add(1);
        if self.counter < 4 {
            self.counter = 4;
        }
    }
}

/// Why a registration was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    InUse,
    Full(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::InUse => f.write_str("the name is already registered"),
            Refusal::Full(max) => write!(f, "{max} names are registered, the limit"),
        }
    }
}

/// The name tables, without IO: live names (oldest first) and old ones
/// (FIFO, oldest first), as epmd's `reg` and `unreg` lists.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) live: Vec<Slot>,
    old: VecDeque<Slot>,
    /// The encoded NAMES reply, shared by concurrent requests so that many
    /// clients asking at once cost one copy; dropped on every change.
    names_reply: Option<Bytes>,
}

impl Registry {
    /// `node_reg2`: registers `entry` for connection `conn`; returns the
    /// creation to reply with.
    pub(crate) fn register(
        &mut self,
        entry: NodeEntry,
        conn: u64,
        fd: i64,
        now: u64,
        max_names: usize,
        max_old: usize,
    ) -> Result<u32, Refusal> {
        if self.live.iter().any(|s| s.entry.name == entry.name) {
            return Err(Refusal::InUse);
        }
        if self.live.len() >= max_names {
            return Err(Refusal::Full(max_names));
        }
        let mut slot = match self.old.iter().position(|s| s.entry.name == entry.name) {
            Some(i) => match self.old.remove(i) {
                Some(s) => s,
                None => return Err(Refusal::Full(max_old)),
            },
            None => Slot {
                entry: entry.clone(),
                // epmd stores time() in an unsigned int.
                counter: now as u32,
                conn,
                fd,
            },
        };
        slot.bump();
        slot.entry = entry;
        slot.conn = conn;
        slot.fd = fd;
        let creation = slot.creation();
        self.live.push(slot);
        self.names_reply = None;
        Ok(creation)
    }

    /// `node_unreg_sock`: moves the name registered by `conn` to the old
    /// list. Returns its name.
    pub(crate) fn unregister_conn(&mut self, conn: u64, max_old: usize) -> Option<String> {
        let i = self.live.iter().position(|s| s.conn == conn)?;
        let slot = self.live.remove(i);
        self.names_reply = None;
        let name = slot.entry.name.clone();
        self.old.push_back(slot);
        while self.old.len() > max_old {
            self.old.pop_front();
        }
        Some(name)
    }

    pub(crate) fn lookup(&self, name: &str) -> Option<NodeEntry> {
        self.live
            .iter()
            .find(|s| s.entry.name == name)
            .map(|s| s.entry.clone())
    }

    /// Live names, newest first, as epmd lists them.
    pub(crate) fn names(&self) -> Vec<(String, u16)> {
        self.live
            .iter()
            .rev()
            .map(|s| (s.entry.name.clone(), s.entry.port))
            .collect()
    }

    pub(crate) fn names_reply(&mut self, epmd_port: u16) -> Bytes {
        if let Some(r) = &self.names_reply {
            return r.clone();
        }
        let reply = Bytes::from(wire::encode_names_reply(
            u32::from(epmd_port),
            self.live
                .iter()
                .rev()
                .map(|s| (s.entry.name.as_str(), s.entry.port)),
        ));
        self.names_reply = Some(reply.clone());
        reply
    }

    pub(crate) fn dump(&self, epmd_port: u32) -> DumpReply {
        let line = |s: &Slot| DumpEntry {
            name: s.entry.name.clone(),
            port: s.entry.port,
            fd: s.fd,
        };
        DumpReply {
            epmd_port,
            active: self.live.iter().rev().map(line).collect(),
            old: self.old.iter().map(line).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, highest: u16) -> NodeEntry {
        let mut e = NodeEntry::hidden(name, 1000);
        e.highest = highest;
        e
    }

    #[test]
    fn creation_seeded_with_time_and_bumped() {
        let mut r = Registry::default();
        let now = 1_795_604_775;
        assert_eq!(
            r.register(entry("a", 6), 1, 5, now, 10, 10),
            Ok(now as u32 + 1)
        );
        assert_eq!(
            r.register(entry("a", 6), 2, 5, now, 10, 10),
            Err(Refusal::InUse)
        );
        assert_eq!(r.unregister_conn(1, 10), Some("a".into()));
        assert_eq!(r.unregister_conn(1, 10), None);
        // Same name again: +1, whatever the time now.
        assert_eq!(
            r.register(entry("a", 6), 3, 5, 0, 10, 10),
            Ok(now as u32 + 2)
        );
        r.unregister_conn(3, 10);
        // A v5 registration of the same name: counter % 3 + 1.
        let c = now as u32 + 3;
        assert_eq!(r.register(entry("a", 5), 4, 5, 0, 10, 10), Ok(c % 3 + 1));
    }

    #[test]
    fn creation_matches_live_otp_25() {
        // Checked against OTP 25's epmd around time() = 1795604776: a new
        // name registered with HighestVersion 5 got creation 3
        // ((t + 1) % 3 + 1), then the same name with HighestVersion 6 got
        // 1795604778 (t + 2).
        let mut r = Registry::default();
        let c = r
            .register(entry("b", 5), 1, 5, 1_795_604_776, 10, 10)
            .unwrap();
        assert_eq!(c, 3);
        r.unregister_conn(1, 10);
        assert_eq!(
            r.register(entry("b", 6), 2, 5, 0, 10, 10),
            Ok(1_795_604_778)
        );
    }

    #[test]
    fn creation_skips_0_to_3() {
        let mut r = Registry::default();
        // time() truncated to u32 = u32::MAX - 1: +1 = MAX, then wraps to 4.
        let now = u64::from(u32::MAX - 1);
        assert_eq!(r.register(entry("w", 6), 1, 5, now, 10, 10), Ok(u32::MAX));
        r.unregister_conn(1, 10);
        assert_eq!(r.register(entry("w", 6), 2, 5, 0, 10, 10), Ok(4));
        // A new name at time 0 starts at 4 too.
        assert_eq!(r.register(entry("z", 6), 3, 5, 0, 10, 10), Ok(4));
    }

    #[test]
    fn limits_on_live_and_old_names() {
        let mut r = Registry::default();
        assert!(r.register(entry("a", 6), 1, 5, 100, 2, 1).is_ok());
        assert!(r.register(entry("b", 6), 2, 5, 100, 2, 1).is_ok());
        assert_eq!(
            r.register(entry("c", 6), 3, 5, 100, 2, 1),
            Err(Refusal::Full(2))
        );
        r.unregister_conn(1, 1);
        r.unregister_conn(2, 1);
        // Only the newest old name is kept.
        assert_eq!(r.old.len(), 1);
        assert_eq!(r.dump(1).old[0].name, "b");
        // "a" was forgotten: it starts again from the time.
        assert_eq!(r.register(entry("a", 6), 4, 5, 500, 2, 1), Ok(501));
        // "b" is remembered: bumped.
        assert_eq!(r.register(entry("b", 6), 5, 5, 500, 2, 1), Ok(102));
    }

    #[test]
    fn names_newest_first() {
        let mut r = Registry::default();
        r.register(entry("a", 6), 1, 5, 100, 10, 10).unwrap();
        r.register(entry("b", 6), 2, 5, 100, 10, 10).unwrap();
        assert_eq!(r.names(), vec![("b".into(), 1000), ("a".into(), 1000)]);
        let first = r.names_reply(4369);
        assert_eq!(first.as_ptr(), r.names_reply(4369).as_ptr(), "cached");
        assert_eq!(&first[4..], b"name b at port 1000\nname a at port 1000\n");
        r.unregister_conn(2, 10);
        assert_eq!(&r.names_reply(4369)[4..], b"name a at port 1000\n");
        assert_eq!(r.lookup("a").unwrap().name, "a");
        assert_eq!(r.lookup("c"), None);
    }
}
