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
//! The binaries of a message ([`SPLICE_MIN_BYTES`] and up) are not copied:
//! the encoding is a list of pieces (the encoder's bytes and the binaries
//! themselves), fragments are cut across them, and the pieces go to the
//! [`OutBuf`] by reference.
//!
//! This module is sans-IO: it appends length-prefixed packets to a buffer.

use crate::dist::control::{self, Signal};
use crate::dist::header::{
    DIST_FRAG_CONT, DIST_FRAG_HEADER, DIST_HEADER, DistCounters, FRAGMENT_SIZE, SendAtomCache,
    VERSION_MAGIC,
};
use crate::dist::outbuf::{OutBuf, Segments};
use crate::handshake::DistFlags;
#[cfg(doc)]
use crate::term::SPLICE_MIN_BYTES;
use crate::term::{Atom, AtomCacheWriter, Pid};
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
    data: Segments,
    /// Signals from the same sender, queued after this message.
    held: VecDeque<Signal>,
    /// Roughly what `held` will encode to (see [`approx_signal_bytes`]).
    held_bytes: usize,
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
    /// Big binaries left out of `scratch`: offset and the binary.
    splices: Vec<(usize, Bytes)>,
    /// Reused buffer for packet headers.
    hdr: Vec<u8>,
    /// Reused buffer for pass-through packets.
    plain: Vec<u8>,
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
            splices: Vec::new(),
            hdr: Vec::new(),
            plain: Vec::new(),
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
    #[inline]
    pub fn push(&mut self, sig: Signal, out: &mut OutBuf) {
        if !self.inflight.is_empty() {
            let key = sig.sender();
            if let Some(o) = self.inflight.iter_mut().find(|o| o.key.as_ref() == key) {
                o.held_bytes += approx_signal_bytes(&sig);
                o.held.push_back(sig);
                return;
            }
        }
        self.encoded += 1;
        // Encoded by reference (a `Signal` is a few hundred bytes, and a
        // move through a call is a copy); dropped here once encoded.
        if let Err(e) = self.encode(&sig, out) {
            tracing::warn!(peer = %self.peer, "message not sent: {e}");
        }
    }

    /// Bytes waiting inside the writer: the unsent part of messages in
    /// fragments, and (roughly) the signals held behind them.
    pub fn backlog(&self) -> usize {
        self.inflight
            .iter()
            .map(|o| o.data.len() + o.held_bytes)
            .sum()
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
    pub fn next_fragment(&mut self, out: &mut OutBuf) -> bool {
        let Some(mut o) = self.inflight.pop_front() else {
            return false;
        };
        let n = o.data.len().min(FRAGMENT_SIZE);
        let mut head = [0u8; 4 + FRAG_HEADER_BYTES];
        // FRAGMENT_SIZE + 18 fits in u32.
        let fields = ((FRAG_HEADER_BYTES + n) as u32)
            .to_be_bytes()
            .into_iter()
            .chain([VERSION_MAGIC, DIST_FRAG_CONT])
            .chain(o.seq.to_be_bytes())
            .chain(o.next_id.to_be_bytes());
        for (d, b) in head.iter_mut().zip(fields) {
            *d = b;
        }
        out.extend_from_slice(&head);
        o.data.take_into(n, out);
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

    fn encode(&mut self, sig: &Signal, out: &mut OutBuf) -> Result<(), crate::term::EncodeError> {
        if !self.header {
            self.plain.clear();
            let r = control::encode_frame(sig, self.flags, &mut self.plain);
            out.extend_from_slice(&self.plain);
            if self.plain.capacity() > SCRATCH_KEEP_BYTES {
                self.plain = Vec::new();
            }
            return r;
        }
        if self.scratch.capacity() > SCRATCH_KEEP_BYTES {
            self.scratch = Vec::new();
        }
        self.scratch.clear();
        self.splices.clear();
        if let Some(c) = self.cache.as_mut() {
            c.begin();
        }
        let cache = self.cache.as_mut().map(|c| c as &mut dyn AtomCacheWriter);
        let ctrl_len = match control::encode_dist_body_spliced(
            sig,
            self.flags,
            &mut self.scratch,
            cache,
            Some(&mut self.splices),
        ) {
            Ok(n) => n,
            Err(e) => {
                if let Some(c) = self.cache.as_mut() {
                    c.rollback();
                }
                return Err(e);
            }
        };
        let body_len = self
            .splices
            .iter()
            .map(|(_, b)| b.len())
            .fold(self.scratch.len(), usize::saturating_add);
        let fragmented = self.fragments && body_len > FRAGMENT_SIZE;
        // Later signals of this sender wait behind a message in fragments.
        let key = if fragmented {
            sig.sender().cloned()
        } else {
            None
        };
        // The control term always goes whole into the first fragment.
        let first_len = if fragmented {
            ctrl_len.max(FRAGMENT_SIZE).min(body_len)
        } else {
            body_len
        };
        let rest = body_len - first_len;
        let count = 1 + rest.div_ceil(FRAGMENT_SIZE) as u64;
        let seq = self.next_seq;
        self.hdr.clear();
        self.hdr.extend_from_slice(&[0, 0, 0, 0, VERSION_MAGIC]);
        if fragmented {
            self.hdr.push(DIST_FRAG_HEADER);
            self.hdr.extend_from_slice(&seq.to_be_bytes());
            self.hdr.extend_from_slice(&count.to_be_bytes());
        } else {
            self.hdr.push(DIST_HEADER);
        }
        match &self.cache {
            Some(c) => c.write_refs(&mut self.hdr, &self.counters),
            None => self.hdr.push(0),
        }
        let len = self.hdr.len() - 4 + first_len;
        let Ok(len32) = u32::try_from(len) else {
            if let Some(c) = self.cache.as_mut() {
                c.rollback();
            }
            self.splices.clear();
            return Err(crate::term::EncodeError::TooLarge {
                what: "distribution message (negotiate FRAGMENTS for messages over 4 GiB)",
                len,
            });
        };
        if let Some(head) = self.hdr.get_mut(..4) {
            head.copy_from_slice(&len32.to_be_bytes());
        }
        out.extend_from_slice(&self.hdr);
        if self.splices.is_empty() && !fragmented {
            // The usual small message: one copy into the batch.
            out.extend_from_slice(&self.scratch);
            return Ok(());
        }
        // Pieces: the encoder's bytes between the binaries, and the binaries.
        let flat = Bytes::from(std::mem::take(&mut self.scratch));
        let mut data = Segments::default();
        let mut at = 0;
        for (pos, bin) in self.splices.drain(..) {
            data.push(flat.slice(at.min(pos)..pos.min(flat.len())));
            data.push(bin);
            at = pos;
        }
        data.push(flat.slice(at.min(flat.len())..));
        data.take_into(first_len, out);
        if fragmented {
            self.next_seq = self.next_seq.wrapping_add(1);
            self.counters.sent_fragment(true);
            self.inflight.push_back(Outgoing {
                key,
                seq,
                next_id: count - 1,
                data,
                held: VecDeque::new(),
                held_bytes: 0,
            });
        }
        Ok(())
    }
}

/// Roughly the encoded size of `sig`, without encoding it: binaries by
/// their length, everything else a few bytes a term. For the send queue's
/// byte limit on signals held unencoded behind a message in fragments.
fn approx_signal_bytes(sig: &Signal) -> usize {
    /// About the bytes of a control message, its header and its pids.
    const CONTROL_BYTES: usize = 64;
    let term = match sig {
        Signal::Send { msg, .. } | Signal::RegSend { msg, .. } | Signal::AliasSend { msg, .. } => {
            msg
        }
        Signal::Exit { reason, .. } | Signal::Exit2 { reason, .. } => reason,
        _ => return CONTROL_BYTES,
    };
    CONTROL_BYTES + approx_term_bytes(term)
}

/// Roughly the encoded size of `t`; walks it with a work list (terms can be
/// nested a million deep).
fn approx_term_bytes(t: &crate::term::Term) -> usize {
    use crate::term::Term;
    let mut n = 0usize;
    let mut todo = vec![t];
    while let Some(t) = todo.pop() {
        n += match t {
            Term::Binary(b) => 5 + b.len(),
            Term::BitString(b) => 6 + b.data.len(),
            Term::Tuple(v) | Term::List(v) => {
                todo.extend(v.iter());
                5
            }
            Term::ImproperList(v, tail) => {
                todo.extend(v.iter());
                todo.push(tail);
                5
            }
            Term::Map(m) => {
                for (k, v) in m.iter() {
                    todo.push(k);
                    todo.push(v);
                }
                5
            }
            _ => 9,
        };
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::header::DistReceiver;
    use crate::term::Term;

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
        let mut out = OutBuf::new(true);
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
        let got = deliver(&out.to_vec(), &mut r);
        assert_eq!(got, vec![other, big, after]);
        let s = counters.snapshot();
        assert_eq!((s.fragmented_sent, s.fragments_sent), (1, 6));
        assert!(s.atom_refs_sent_cached > 0, "{s:?}");
    }

    #[test]
    fn received_binaries_share_the_packet_and_the_reassembled_buffer() {
        let mut w = DistWriter::new(all_flags(), Atom::from("b@h"), Arc::default());
        let mut out = OutBuf::new(true);
        w.push(send(1, 1000), &mut out);
        w.push(send(2, 3 * FRAGMENT_SIZE), &mut out);
        while w.next_fragment(&mut out) {}
        let mut buf = bytes::BytesMut::from(&out.to_vec()[..]);
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
        let mut out = OutBuf::new(true);
        w.push(send(1, 3 * FRAGMENT_SIZE), &mut out);
        w.push(send(2, 3 * FRAGMENT_SIZE), &mut out);
        let mut seqs = Vec::new();
        let mut mark = out.len();
        while w.next_fragment(&mut out) {
            // Sequence id of the fragment just written.
            let v = out.to_vec();
            let s = &v[mark + 6..mark + 14];
            seqs.push(u64::from_be_bytes(s.try_into().unwrap()));
            mark = out.len();
        }
        assert_eq!(seqs, vec![1, 2, 1, 2, 1, 2]);
        let mut r = DistReceiver::new(usize::MAX, Arc::default());
        assert_eq!(deliver(&out.to_vec(), &mut r).len(), 2);
    }

    #[test]
    fn fragments_only_and_pass_through_modes() {
        // FRAGMENTS without the atom cache: headers with 0 refs.
        let flags = DistFlags::RECOMMENDED_HIDDEN.difference(DistFlags::DIST_HDR_ATOM_CACHE);
        let mut w = DistWriter::new(flags, Atom::from("b@h"), Arc::default());
        let mut out = OutBuf::new(true);
        w.push(send(1, 10), &mut out);
        assert_eq!(&out.to_vec()[4..7], &[131, 68, 0]);
        // Neither flag: pass-through.
        let mut w = DistWriter::new(
            DistFlags::RECOMMENDED_HIDDEN
                .difference(DistFlags::DIST_HDR_ATOM_CACHE | DistFlags::FRAGMENTS),
            Atom::from("b@h"),
            Arc::default(),
        );
        let mut out = OutBuf::new(true);
        w.push(send(1, 10), &mut out);
        assert_eq!(out.to_vec()[4], 112);
    }

    /// The packets for `sig` as the plain encoder gives them, cut as
    /// PROTOCOL.md §3.4 says (FRAGMENTS without the atom cache, sequence 1).
    fn reference(sig: &Signal, flags: DistFlags) -> Vec<u8> {
        let mut body = Vec::new();
        let ctrl = control::encode_dist_body(sig, flags, &mut body, None).unwrap();
        let mut out = Vec::new();
        if body.len() <= FRAGMENT_SIZE {
            out.extend_from_slice(&(body.len() as u32 + 3).to_be_bytes());
            out.extend_from_slice(&[131, 68, 0]);
            out.extend_from_slice(&body);
            return out;
        }
        let first = ctrl.max(FRAGMENT_SIZE).min(body.len());
        let rest = &body[first..];
        let count = 1 + rest.len().div_ceil(FRAGMENT_SIZE) as u64;
        out.extend_from_slice(&(first as u32 + 19).to_be_bytes());
        out.extend_from_slice(&[131, 69]);
        out.extend_from_slice(&1u64.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.push(0);
        out.extend_from_slice(&body[..first]);
        for (i, chunk) in rest.chunks(FRAGMENT_SIZE).enumerate() {
            out.extend_from_slice(&(chunk.len() as u32 + 18).to_be_bytes());
            out.extend_from_slice(&[131, 70]);
            out.extend_from_slice(&1u64.to_be_bytes());
            out.extend_from_slice(&(count - 1 - i as u64).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }

    fn bin(n: usize, seed: u8) -> Term {
        Term::Binary(Bytes::from(
            (0..n)
                .map(|i| (i as u8).wrapping_mul(31) ^ seed)
                .collect::<Vec<u8>>(),
        ))
    }

    #[test]
    fn segments_cut_byte_exact_across_and_inside_binaries() {
        use crate::term::SPLICE_MIN_BYTES as T;
        let flags = all_flags().difference(DistFlags::DIST_HDR_ATOM_CACHE);
        let f = FRAGMENT_SIZE;
        // Binary sizes placing fragment boundaries inside binaries, between
        // them, in the bytes between them, and at the sharing threshold.
        let layouts: Vec<Vec<usize>> = vec![
            vec![10],
            vec![T - 1, T, T + 1],
            vec![f - 40, T, 100, 3 * f + 17],
            vec![f, f, f],
            vec![f - 31, f - 5, 2 * T],
            vec![5 * f],
            vec![2 * f - 7, 0, 1, T, f + 1],
            vec![f - 100],
            vec![f + 100],
        ];
        for (n, sizes) in layouts.iter().enumerate() {
            let mut items = vec![Term::atom("hello")];
            for (k, &sz) in sizes.iter().enumerate() {
                items.push(bin(sz, k as u8));
                items.push(Term::Int(k as i64 * 1000));
            }
            items.push(Term::List((0..50).map(Term::Int).collect()));
            let sig = Signal::Send {
                from: Some(pid("a@h", 1)),
                to: pid("b@h", 1),
                msg: Term::Tuple(items),
            };
            let want = reference(&sig, flags);
            for share in [true, false] {
                let mut w = DistWriter::new(flags, Atom::from("b@h"), Arc::default());
                let mut out = OutBuf::new(share);
                w.push(sig.clone(), &mut out);
                while w.next_fragment(&mut out) {}
                assert_eq!(out.to_vec(), want, "layout {n}, share {share}");
                if !share {
                    assert_eq!(out.shared_pieces(), 0);
                } else if sizes.iter().any(|&s| s >= 2 * T) {
                    assert!(out.shared_pieces() > 0, "layout {n}: nothing shared");
                }
            }
        }
    }

    #[test]
    fn spliced_big_binary_is_not_copied_and_control_binaries_stay_whole() {
        let flags = all_flags().difference(DistFlags::DIST_HDR_ATOM_CACHE);
        let data = Bytes::from(vec![9u8; 3 * FRAGMENT_SIZE]);
        let sig = Signal::Send {
            from: Some(pid("a@h", 1)),
            to: pid("b@h", 1),
            msg: Term::Binary(data.clone()),
        };
        let mut w = DistWriter::new(flags, Atom::from("b@h"), Arc::default());
        let mut out = OutBuf::new(true);
        w.push(sig.clone(), &mut out);
        while w.next_fragment(&mut out) {}
        assert_eq!(out.to_vec(), reference(&sig, flags));
        // Each fragment's data is a slice of the original binary.
        let mut slices = [std::io::IoSlice::new(&[]); 16];
        let n = out.io_slices(&mut slices);
        let range = data.as_ptr_range();
        let shared = slices[..n]
            .iter()
            .filter(|s| range.contains(&s.as_ptr()))
            .count();
        assert!(shared >= 3, "{shared} pieces share the binary");
        // An exit reason (payload) with a big binary, and a plain write.
        let sig = Signal::Exit2 {
            from: pid("a@h", 1),
            to: pid("b@h", 1),
            reason: Term::Tuple(vec![Term::atom("big"), bin(FRAGMENT_SIZE + 5, 3)]),
        };
        let mut w = DistWriter::new(flags, Atom::from("b@h"), Arc::default());
        let mut out = OutBuf::new(true);
        w.push(sig.clone(), &mut out);
        while w.next_fragment(&mut out) {}
        assert_eq!(out.to_vec(), reference(&sig, flags));
    }
}
