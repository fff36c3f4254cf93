//! The send side of an established connection: encodes signals in the form
//! the negotiated flags call for, and cuts big messages into fragments that
//! leave interleaved with other traffic (PROTOCOL.md §3.2–§3.4).
//!
//! Without `DIST_HDR_ATOM_CACHE` and `FRAGMENTS` every signal is one
//! pass-through packet. With either, every packet gets a normal distribution
//! header; with `DIST_HDR_ATOM_CACHE` its atoms go through a [`SendAtomCache`];
//! with `FRAGMENTS` a message whose encoding exceeds [`FRAGMENT_SIZE`] leaves
//! as a first fragment (header, atom cache, control term and the start of the
//! payload) followed by [`FRAGMENT_SIZE`] pieces, one per call to
//! [`DistWriter::next_fragment`], so signals of other senders pass between
//! them. Signals from the sender of a message still in fragments wait behind
//! it, which keeps the order between each pair of processes.
//!
//! This module is sans-IO: it appends length-prefixed packets to a buffer.

use crate::dist::control::{self, Signal};
use crate::dist::header::{
    DIST_FRAG_CONT, DIST_FRAG_HEADER, DIST_HEADER, DistCounters, FRAGMENT_SIZE, SendAtomCache,
    VERSION_MAGIC,
};
use crate::handshake::DistFlags;
use crate::term::{Atom, AtomCacheWriter, Pid, Term};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

/// A message partly sent in fragments.
struct Outgoing {
    /// Sender whose later signals wait for this message.
    key: Option<Pid>,
    seq: u64,
    /// Id of the next fragment (counts down to 1).
    next_id: u64,
    /// Payload bytes not sent yet.
    data: Bytes,
    /// Signals from the same sender, queued after this message.
    held: VecDeque<Signal>,
}

/// Encodes outgoing signals for one connection. See the module documentation.
pub struct DistWriter {
    flags: DistFlags,
    /// Normal distribution headers in use.
    header: bool,
    fragments: bool,
    cache: Option<SendAtomCache>,
    /// Reused buffer for the control and payload of header-mode messages.
    scratch: Vec<u8>,
    next_seq: u64,
    inflight: VecDeque<Outgoing>,
    /// Signals encoded (or dropped) since the last [`DistWriter::take_encoded`].
    encoded: usize,
    counters: Arc<DistCounters>,
    peer: Atom,
}

/// Largest reused scratch buffer kept between messages; a bigger one (left by
/// a big message sent without fragments) is released.
const SCRATCH_KEEP_BYTES: usize = 4 * FRAGMENT_SIZE;

/// Bytes of a fragment header before the atom-cache part or the data:
/// 131, kind, sequence id, fragment id.
const FRAG_HEADER_BYTES: usize = 2 + 8 + 8;

/// How deep [`binary_bytes`] looks for binaries: a message is usually a
/// tuple such as `{Tag, From, Data}`, so a few levels find the big part.
const BINARY_SCAN_DEPTH: usize = 3;

/// Elements of each tuple or list [`binary_bytes`] looks at.
const BINARY_SCAN_WIDTH: usize = 64;

/// The payload term of a signal that has one.
fn payload_of(sig: &Signal) -> Option<&Term> {
    match sig {
        Signal::Send { msg, .. } | Signal::RegSend { msg, .. } | Signal::AliasSend { msg, .. } => {
            Some(msg)
        }
        Signal::Exit { reason, .. }
        | Signal::Exit2 { reason, .. }
        | Signal::MonitorExit { reason, .. } => Some(reason),
        _ => None,
    }
}

/// Bytes of the binaries near the top of `t`: a cheap lower bound of its
/// encoded size, used to size the encode buffer once.
fn binary_bytes(t: &Term, depth: usize) -> usize {
    match t {
        Term::Binary(b) => b.len(),
        Term::Tuple(v) | Term::List(v) if depth > 0 => v
            .iter()
            .take(BINARY_SCAN_WIDTH)
            .map(|e| binary_bytes(e, depth - 1))
            .fold(0usize, usize::saturating_add),
        _ => 0,
    }
}

impl DistWriter {
    /// A writer for a connection with the negotiated `flags`, counting into
    /// `counters`; `peer` names the connection in log lines.
    pub fn new(flags: DistFlags, peer: Atom, counters: Arc<DistCounters>) -> DistWriter {
        let cache = flags.contains(DistFlags::DIST_HDR_ATOM_CACHE);
        let fragments = flags.contains(DistFlags::FRAGMENTS);
        DistWriter {
            flags,
            header: cache || fragments,
            fragments,
            cache: cache.then(SendAtomCache::default),
            scratch: Vec::new(),
            next_seq: 1,
            inflight: VecDeque::new(),
            encoded: 0,
            counters,
            peer,
        }
    }

    /// Appends the packets for `sig` to `out`, or holds it behind a message
    /// of the same sender that is still in fragments. A signal that cannot be
    /// encoded is dropped with a log line.
    pub fn push(&mut self, sig: Signal, out: &mut Vec<u8>) {
        let key = sig.sender().cloned();
        if let Some(o) = self.inflight.iter_mut().find(|o| o.key == key) {
            o.held.push_back(sig);
            return;
        }
        self.encoded += 1;
        if let Err(e) = self.encode(sig, key, out) {
            tracing::warn!(peer = %self.peer, "message not sent: {e}");
        }
    }

    /// Signals encoded or dropped since the last call (held ones excluded).
    pub fn take_encoded(&mut self) -> usize {
        std::mem::take(&mut self.encoded)
    }

    /// True while a message is partly sent.
    pub fn has_fragments(&self) -> bool {
        !self.inflight.is_empty()
    }

    /// Appends the next fragment of the message whose turn it is (they take
    /// turns); after a message's last fragment, the signals held behind it
    /// are encoded. False when no message is in fragments.
    pub fn next_fragment(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(mut o) = self.inflight.pop_front() else {
            return false;
        };
        let n = o.data.len().min(FRAGMENT_SIZE);
        let chunk = o.data.split_to(n);
        // FRAGMENT_SIZE + 18 fits in u32.
        out.extend_from_slice(&((FRAG_HEADER_BYTES + n) as u32).to_be_bytes());
        out.extend_from_slice(&[VERSION_MAGIC, DIST_FRAG_CONT]);
        out.extend_from_slice(&o.seq.to_be_bytes());
        out.extend_from_slice(&o.next_id.to_be_bytes());
        out.extend_from_slice(&chunk);
        self.counters.sent_fragment(false);
        o.next_id = o.next_id.saturating_sub(1);
        if o.next_id == 0 || o.data.is_empty() {
            for sig in o.held {
                self.push(sig, out);
            }
        } else {
            self.inflight.push_back(o);
        }
        true
    }

    /// Signals still held behind unfinished messages, for the caller to fail
    /// when the connection goes down.
    pub fn take_held(&mut self) -> Vec<Signal> {
        self.inflight
            .drain(..)
            .flat_map(|o| o.held.into_iter())
            .collect()
    }

    fn encode(
        &mut self,
        sig: Signal,
        key: Option<Pid>,
        out: &mut Vec<u8>,
    ) -> Result<(), crate::term::EncodeError> {
        if !self.header {
            return control::encode_frame(&sig, self.flags, out);
        }
        if self.scratch.capacity() > SCRATCH_KEEP_BYTES {
            self.scratch = Vec::new();
        }
        self.scratch.clear();
        if let Some(payload) = payload_of(&sig) {
            // Sized once for a big binary, instead of grown by doubling.
            self.scratch
                .reserve(binary_bytes(payload, BINARY_SCAN_DEPTH).saturating_add(1024));
        }
        if let Some(c) = self.cache.as_mut() {
            c.begin();
        }
        let cache = self.cache.as_mut().map(|c| c as &mut dyn AtomCacheWriter);
        let ctrl_len = match control::encode_dist_body(&sig, self.flags, &mut self.scratch, cache) {
            Ok(n) => n,
            Err(e) => {
                if let Some(c) = self.cache.as_mut() {
                    c.rollback();
                }
                return Err(e);
            }
        };
        // The term is no longer needed: free a big one before sending it.
        drop(sig);
        let body_len = self.scratch.len();
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0, VERSION_MAGIC]);
        let fragmented = self.fragments && body_len > FRAGMENT_SIZE;
        // The control term always goes whole into the first fragment.
        let first_len = if fragmented {
            ctrl_len.max(FRAGMENT_SIZE).min(body_len)
        } else {
            body_len
        };
        let rest = body_len - first_len;
        let count = 1 + rest.div_ceil(FRAGMENT_SIZE) as u64;
        let seq = self.next_seq;
        if fragmented {
            self.next_seq = self.next_seq.wrapping_add(1);
            out.push(DIST_FRAG_HEADER);
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&count.to_be_bytes());
        } else {
            out.push(DIST_HEADER);
        }
        match &self.cache {
            Some(c) => c.write_refs(out, &self.counters),
            None => out.push(0),
        }
        out.extend_from_slice(self.scratch.get(..first_len).unwrap_or_default());
        let len = out.len() - start - 4;
        let Ok(len32) = u32::try_from(len) else {
            out.truncate(start);
            if let Some(c) = self.cache.as_mut() {
                c.rollback();
            }
            return Err(crate::term::EncodeError::TooLarge {
                what: "distribution message (negotiate FRAGMENTS for messages over 4 GiB)",
                len,
            });
        };
        if let Some(head) = out.get_mut(start..start + 4) {
            head.copy_from_slice(&len32.to_be_bytes());
        }
        if fragmented {
            self.counters.sent_fragment(true);
            let data = Bytes::from(std::mem::take(&mut self.scratch)).slice(first_len..);
            self.inflight.push_back(Outgoing {
                key,
                seq,
                next_id: count - 1,
                data,
                held: VecDeque::new(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::header::DistReceiver;

    fn pid(node: &str, id: u32) -> Pid {
        Pid {
            node: Atom::from(node),
            id,
            serial: 0,
            creation: 4,
        }
    }

    fn send(from: u32, size: usize) -> Signal {
        Signal::Send {
            from: Some(pid("a@h", from)),
            to: pid("b@h", 1),
            msg: Term::Tuple(vec![
                Term::atom("hello"),
                Term::Binary(Bytes::from(vec![from as u8; size])),
            ]),
        }
    }

    /// Cuts `out` into packets and feeds them to a receiver, returning the
    /// signals in arrival order.
    fn deliver(out: &[u8], r: &mut DistReceiver) -> Vec<Signal> {
        let mut buf = bytes::BytesMut::from(out);
        let mut got = Vec::new();
        while let Some(f) = crate::dist::frame::next_frame(&mut buf, usize::MAX).unwrap() {
            let crate::dist::Frame::Data(b) = f else {
                continue;
            };
            if let Some(m) = r.receive(&b).unwrap() {
                got.push(control::decode_dist_body(&m.body, m.refs, &Default::default()).unwrap());
            }
        }
        got
    }

    fn all_flags() -> DistFlags {
        DistFlags::RECOMMENDED_HIDDEN | DistFlags::FRAGMENTS | DistFlags::DIST_HDR_ATOM_CACHE
    }

    #[test]
    fn small_messages_pass_between_fragments_and_per_sender_order_holds() {
        let counters = Arc::new(DistCounters::default());
        let mut w = DistWriter::new(all_flags(), Atom::from("b@h"), counters.clone());
        let mut out = Vec::new();
        let big = send(1, 5 * FRAGMENT_SIZE);
        w.push(big.clone(), &mut out);
        assert!(w.has_fragments());
        // Sender 1's next message waits for its big one; sender 2's does not.
        let after = send(1, 10);
        let other = send(2, 10);
        w.push(after.clone(), &mut out);
        w.push(other.clone(), &mut out);
        assert_eq!(w.take_encoded(), 2);
        let mut fragments = 0;
        while w.next_fragment(&mut out) {
            fragments += 1;
        }
        assert_eq!(w.take_encoded(), 1);
        assert_eq!(fragments, 5);
        let mut r = DistReceiver::new(usize::MAX, Arc::default());
        let got = deliver(&out, &mut r);
        assert_eq!(got, vec![other, big, after]);
        let s = counters.snapshot();
        assert_eq!((s.fragmented_sent, s.fragments_sent), (1, 6));
        assert!(s.atom_refs_sent_cached > 0, "{s:?}");
    }

    #[test]
    fn received_binaries_share_the_packet_and_the_reassembled_buffer() {
        let mut w = DistWriter::new(all_flags(), Atom::from("b@h"), Arc::default());
        let mut out = Vec::new();
        w.push(send(1, 1000), &mut out);
        w.push(send(2, 3 * FRAGMENT_SIZE), &mut out);
        while w.next_fragment(&mut out) {}
        let mut buf = bytes::BytesMut::from(&out[..]);
        let mut r = DistReceiver::new(usize::MAX, Arc::default());
        let mut shared = 0;
        while let Some(crate::dist::Frame::Data(b)) =
            crate::dist::frame::next_frame(&mut buf, usize::MAX).unwrap()
        {
            let Some(m) = r.receive(&b).unwrap() else {
                continue;
            };
            let range = m.body.as_ptr_range();
            let sig = control::decode_dist_body(&m.body, m.refs, &Default::default()).unwrap();
            let Signal::Send { msg, .. } = sig else {
                panic!("a send")
            };
            let Term::Binary(bin) = &msg.as_tuple().unwrap()[1] else {
                panic!("a binary")
            };
            // The binary points into the message buffer: no copy.
            assert!(range.contains(&bin.as_ptr()), "binary copied");
            shared += 1;
        }
        assert_eq!(shared, 2);
    }

    #[test]
    fn two_big_messages_take_turns() {
        let mut w = DistWriter::new(all_flags(), Atom::from("b@h"), Arc::default());
        let mut out = Vec::new();
        w.push(send(1, 3 * FRAGMENT_SIZE), &mut out);
        w.push(send(2, 3 * FRAGMENT_SIZE), &mut out);
        let mut seqs = Vec::new();
        let mut mark = out.len();
        while w.next_fragment(&mut out) {
            // Sequence id of the fragment just written.
            let s = &out[mark + 6..mark + 14];
            seqs.push(u64::from_be_bytes(s.try_into().unwrap()));
            mark = out.len();
        }
        assert_eq!(seqs, vec![1, 2, 1, 2, 1, 2]);
        let mut r = DistReceiver::new(usize::MAX, Arc::default());
        assert_eq!(deliver(&out, &mut r).len(), 2);
    }

    #[test]
    fn fragments_only_and_pass_through_modes() {
        // FRAGMENTS without the atom cache: headers with 0 refs.
        let flags = DistFlags::RECOMMENDED_HIDDEN.difference(DistFlags::DIST_HDR_ATOM_CACHE);
        let mut w = DistWriter::new(flags, Atom::from("b@h"), Arc::default());
        let mut out = Vec::new();
        w.push(send(1, 10), &mut out);
        assert_eq!(&out[4..7], &[131, 68, 0]);
        // Neither flag: pass-through.
        let mut w = DistWriter::new(
            DistFlags::RECOMMENDED_HIDDEN
                .difference(DistFlags::DIST_HDR_ATOM_CACHE | DistFlags::FRAGMENTS),
            Atom::from("b@h"),
            Arc::default(),
        );
        let mut out = Vec::new();
        w.push(send(1, 10), &mut out);
        assert_eq!(out[4], 112);
    }
}
