//! The normal distribution header (`131, 68`), fragmented messages (`131, 69`
//! and `131, 70`) and the per-connection atom caches (PROTOCOL.md §3.3, §3.4).
//!
//! Once `DIST_HDR_ATOM_CACHE` or `FRAGMENTS` is negotiated, every data packet
//! in both directions starts with one of these headers and the terms after it
//! have no version byte. This module is sans-IO: [`DistReceiver`] turns
//! received packets into complete message bodies plus the atoms their
//! `ATOM_CACHE_REF`s stand for, and [`SendAtomCache`] chooses and writes the
//! atom-cache part of outgoing headers.
//!
//! Memory is bounded per connection: each cache is a fixed table of
//! [`ATOM_CACHE_SLOTS`] atoms whatever the peer sends, and reassembly holds at
//! most [`MAX_FRAGMENTED_SEQUENCES`] messages and `max_len` bytes in total.

use crate::term::{Atom, AtomCacheWriter};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Version byte that starts every distribution header.
pub const VERSION_MAGIC: u8 = 131;
/// `131, 68`: a whole message with a normal distribution header.
pub const DIST_HEADER: u8 = 68;
/// `131, 69`: the first fragment of a fragmented message.
pub const DIST_FRAG_HEADER: u8 = 69;
/// `131, 70`: a following fragment.
pub const DIST_FRAG_CONT: u8 = 70;

/// Slots in one direction's atom cache: 8 segments of 256 (the 3-bit segment
/// index and the 8-bit internal index of a header reference; `ERTS_ATOM_CACHE_SIZE`).
pub const ATOM_CACHE_SLOTS: usize = 2048;

/// Most atom-cache references one header carries: the count is one byte, and
/// the BEAM uses at most 255 (`ERTS_MAX_INTERNAL_ATOM_CACHE_ENTRIES`).
pub const MAX_ATOM_CACHE_REFS: usize = 255;

/// Size of the message part of each fragment erlnode sends, and the size above
/// which a message is fragmented: the BEAM's `ERTS_DIST_FRAGMENT_SIZE` (64 KiB).
/// Small enough that a small message waits for at most one fragment of a big
/// one; large enough that the per-fragment header (18 bytes) costs nothing.
pub const FRAGMENT_SIZE: usize = 64 * 1024;

/// Most fragmented messages one peer may have in flight towards us at once.
/// The BEAM has one per sending process that is in the middle of a big
/// message, so a thousand covers very busy nodes; the cap keeps a hostile
/// peer from opening sequences without end (their bytes are bounded
/// separately by `max_len`).
pub const MAX_FRAGMENTED_SEQUENCES: usize = 1024;

/// A header the BEAM would reject; the connection that sent it is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The packet ended inside the header.
    #[error("distribution header truncated while reading {what}")]
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// An old cache reference to a slot no earlier header filled.
    #[error(
        "atom cache reference to slot {slot}, which no earlier header of this connection filled"
    )]
    EmptySlot {
        /// Cache slot (segment * 256 + internal index).
        slot: usize,
    },
    /// A new cache entry whose text is not a valid atom.
    #[error("atom text for cache slot {slot} is not valid UTF-8 of at most 255 characters")]
    BadAtom {
        /// Cache slot.
        slot: usize,
    },
    /// A following fragment for a sequence that was never started.
    #[error("fragment of unknown sequence {seq}")]
    UnknownSequence {
        /// Sequence id.
        seq: u64,
    },
    /// A first fragment for a sequence already in progress.
    #[error("first fragment of sequence {seq}, which is already in progress")]
    DuplicateSequence {
        /// Sequence id.
        seq: u64,
    },
    /// A fragment id that is not the next one (they count down to 1).
    #[error("fragment {got} of sequence {seq} arrived, expected fragment {expected}")]
    FragmentOrder {
        /// Sequence id.
        seq: u64,
        /// The id that should have come.
        expected: u64,
        /// The id that came.
        got: u64,
    },
    /// Too many fragmented messages in flight.
    #[error(
        "more than {limit} fragmented messages in flight (MAX_FRAGMENTED_SEQUENCES); \
         the peer never finishes them"
    )]
    TooManySequences {
        /// The limit.
        limit: usize,
    },
    /// The fragments held for reassembly would exceed the size limit.
    #[error(
        "fragmented messages would hold {size} bytes, over the limit of {limit} bytes \
         (max_frame_len); raise it with NodeBuilder::max_frame_len if such messages are expected"
    )]
    TooLarge {
        /// Bytes that would be held.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// Counters of one connection's header traffic, for tests and diagnostics.
#[doc(hidden)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DistStats {
    /// New atom-cache entries received.
    pub atom_refs_received_new: u64,
    /// References to already cached atoms received.
    pub atom_refs_received_cached: u64,
    /// New atom-cache entries sent.
    pub atom_refs_sent_new: u64,
    /// References to already cached atoms sent.
    pub atom_refs_sent_cached: u64,
    /// Fragmented messages received (complete).
    pub fragmented_received: u64,
    /// Fragment packets received (`131,69` and `131,70`).
    pub fragments_received: u64,
    /// Messages sent in fragments.
    pub fragmented_sent: u64,
    /// Fragment packets sent.
    pub fragments_sent: u64,
}

/// Shared, live version of [`DistStats`].
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct DistCounters {
    atom_refs_received_new: AtomicU64,
    atom_refs_received_cached: AtomicU64,
    atom_refs_sent_new: AtomicU64,
    atom_refs_sent_cached: AtomicU64,
    fragmented_received: AtomicU64,
    fragments_received: AtomicU64,
    fragmented_sent: AtomicU64,
    fragments_sent: AtomicU64,
}

impl DistCounters {
    /// The current values.
    pub fn snapshot(&self) -> DistStats {
        DistStats {
            atom_refs_received_new: self.atom_refs_received_new.load(Relaxed),
            atom_refs_received_cached: self.atom_refs_received_cached.load(Relaxed),
            atom_refs_sent_new: self.atom_refs_sent_new.load(Relaxed),
            atom_refs_sent_cached: self.atom_refs_sent_cached.load(Relaxed),
            fragmented_received: self.fragmented_received.load(Relaxed),
            fragments_received: self.fragments_received.load(Relaxed),
            fragmented_sent: self.fragmented_sent.load(Relaxed),
            fragments_sent: self.fragments_sent.load(Relaxed),
        }
    }

    pub(crate) fn sent_fragment(&self, first: bool) {
        if first {
            self.fragmented_sent.fetch_add(1, Relaxed);
        }
        self.fragments_sent.fetch_add(1, Relaxed);
    }
}

/// A read cursor over a header; every read is bounds-checked.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], HeaderError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(HeaderError::Truncated { what })?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(HeaderError::Truncated { what })?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, HeaderError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or(0))
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, HeaderError> {
        let s = self.take(2, what)?;
        Ok(u16::from_be_bytes([
            s.first().copied().unwrap_or(0),
            s.get(1).copied().unwrap_or(0),
        ]))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, HeaderError> {
        let s = self.take(8, what)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(s);
        Ok(u64::from_be_bytes(b))
    }
}

/// The atoms a peer has announced, one table per connection (receive side).
pub struct RecvAtomCache {
    slots: Vec<Option<Atom>>,
    /// The flags and references of the last header read, when it added no
    /// atom (empty otherwise): a header with the same bytes changes nothing.
    last: Vec<u8>,
}

impl Default for RecvAtomCache {
    fn default() -> Self {
        RecvAtomCache {
            slots: vec![None; ATOM_CACHE_SLOTS],
            last: Vec::new(),
        }
    }
}

/// A position of [`DistReceiver`]'s reference memo that names no slot.
const NO_SLOT: u16 = u16::MAX;

impl RecvAtomCache {
    /// Reads `NumberOfAtomCacheRefs, [Flags], [AtomCacheRefs]` at the cursor,
    /// updating the cache and putting the message's atoms in `refs`.
    ///
    /// `memo[i]` is the slot `refs[i]` was read from, as long as that slot
    /// has not been overwritten since: a reference to the same slot at the
    /// same position (a stream of messages between the same processes
    /// repeats its header) keeps the atom already in `refs` instead of
    /// cloning it again. Pass an empty `memo` to fill `refs` from scratch.
    fn read_refs(
        &mut self,
        c: &mut Cursor<'_>,
        refs: &mut Vec<Atom>,
        memo: &mut Vec<u16>,
        counters: &DistCounters,
    ) -> Result<(), HeaderError> {
        // Taken, so that an error leaves no memo behind.
        let mut known = std::mem::take(memo);
        let n = usize::from(c.u8("the number of atom cache references")?);
        if n == 0 {
            refs.clear();
            return Ok(());
        }
        // The same flags and references as the last header, which added no
        // atom, with `refs` and `memo` as it left them: every reference is
        // to the same slot at the same position, so nothing changes.
        if known.len() == n && refs.len() == n && !self.last.is_empty() {
            let len = n / 2 + 1 + n;
            let same = c
                .buf
                .get(c.pos..)
                .and_then(|b| b.get(..len))
                .is_some_and(|b| b == self.last.as_slice());
            if same {
                c.take(len, "the atom cache references")?;
                *memo = known;
                counters
                    .atom_refs_received_cached
                    .fetch_add(n as u64, Relaxed);
                return Ok(());
            }
        }
        self.last.clear();
        let start = c.pos;
        let flags = c.take(n / 2 + 1, "the atom cache flags")?;
        let nibble = |i: usize| -> u8 {
            let b = flags.get(i / 2).copied().unwrap_or(0);
            if i % 2 == 0 { b & 0x0f } else { b >> 4 }
        };
        let long_atoms = nibble(n) & 1 != 0;
        let (mut new, mut old) = (0, 0);
        for i in 0..n {
            let f = nibble(i);
            let internal = usize::from(c.u8("an atom cache reference")?);
            let slot = usize::from(f & 7) * 256 + internal;
            // Below 8 * 256, so it fits, and is never NO_SLOT.
            let slot16 = slot as u16;
            let cell = self
                .slots
                .get_mut(slot)
                .ok_or(HeaderError::EmptySlot { slot })?;
            if f & 8 != 0 {
                let len = if long_atoms {
                    usize::from(c.u16("an atom length")?)
                } else {
                    usize::from(c.u8("an atom length")?)
                };
                let text = c.take(len, "atom text")?;
                let atom = std::str::from_utf8(text)
                    .ok()
                    .and_then(|s| Atom::new(s).ok())
                    .ok_or(HeaderError::BadAtom { slot })?;
                *cell = Some(atom.clone());
                // Positions that hold the slot's old atom are stale now.
                for k in known.iter_mut().filter(|k| **k == slot16) {
                    *k = NO_SLOT;
                }
                put(refs, i, atom);
                put(&mut known, i, slot16);
                new += 1;
            } else {
                let same = known.get(i) == Some(&slot16) && i < refs.len();
                if !same {
                    let atom = cell.clone().ok_or(HeaderError::EmptySlot { slot })?;
                    put(refs, i, atom);
                    put(&mut known, i, slot16);
                }
                old += 1;
            }
        }
        refs.truncate(n);
        known.truncate(n);
        *memo = known;
        if new == 0 {
            let raw = c.buf.get(start..c.pos).unwrap_or_default();
            self.last.extend_from_slice(raw);
        }
        counters.atom_refs_received_new.fetch_add(new, Relaxed);
        counters.atom_refs_received_cached.fetch_add(old, Relaxed);
        Ok(())
    }
}

/// Sets `v[i]`, or appends when `i` is its length (positions are filled
/// in order).
fn put<T>(v: &mut Vec<T>, i: usize, x: T) {
    match v.get_mut(i) {
        Some(d) => *d = x,
        None => v.push(x),
    }
}

/// A fragmented message being reassembled.
struct Partial {
    /// Atoms of the first fragment's header.
    refs: Vec<Atom>,
    /// Message bytes so far; each fragment is appended as it arrives, so its
    /// packet buffer is freed at once.
    buf: BytesMut,
    /// Bytes counted against `max_len` for this message: the size the first
    /// fragment announced (reserved up front), or more if more came.
    charged: usize,
    /// Id of the fragment expected next.
    next: u64,
}

/// Receive side of a connection with distribution headers: the atom cache and
/// fragment reassembly.
pub struct DistReceiver {
    cache: RecvAtomCache,
    refs: Vec<Atom>,
    /// The slot each of `refs` came from (see [`RecvAtomCache::read_refs`]).
    ref_slots: Vec<u16>,
    partial: HashMap<u64, Partial>,
    /// Bytes held in `partial`.
    held: usize,
    max_len: usize,
    counters: Arc<DistCounters>,
    /// What is left of the last reassembly buffer: once the message it held
    /// is dropped, the next big message reuses the memory (already mapped,
    /// so no page faults) instead of allocating anew.
    spare: BytesMut,
    /// Whether `spare` was used since the last [`DistReceiver::trim`].
    spare_used: bool,
}

/// A complete message: the control term and optional payload (no version
/// bytes), and the atoms its `ATOM_CACHE_REF`s stand for.
#[derive(Debug)]
pub struct Message<'a> {
    /// Control term followed by the payload term, if any.
    pub body: Bytes,
    /// `refs[i]` is the atom of `ATOM_CACHE_REF i`.
    pub refs: &'a [Atom],
}

impl DistReceiver {
    /// A receiver that holds at most `max_len` bytes of unfinished fragmented
    /// messages, counting into `counters`.
    pub fn new(max_len: usize, counters: Arc<DistCounters>) -> DistReceiver {
        DistReceiver {
            cache: RecvAtomCache::default(),
            refs: Vec::new(),
            ref_slots: Vec::new(),
            partial: HashMap::new(),
            held: 0,
            max_len,
            counters,
            spare: BytesMut::new(),
            spare_used: false,
        }
    }

    /// Releases the kept reassembly buffer if no fragmented message came
    /// since the last call (the connection calls this every tick period).
    pub fn trim(&mut self) {
        if !self.spare_used {
            self.spare = BytesMut::new();
        }
        self.spare_used = false;
    }

    /// Fragmented messages in progress.
    pub fn sequences_in_flight(&self) -> usize {
        self.partial.len()
    }

    /// Takes one data packet (without its length) that starts with `131` and
    /// `68`, `69` or `70`. Returns the complete message, or `None` when the
    /// packet was a fragment of a message not yet complete. The caller has
    /// checked the first two bytes.
    pub fn receive(&mut self, frame: &Bytes) -> Result<Option<Message<'_>>, HeaderError> {
        let mut c = Cursor { buf: frame, pos: 0 };
        c.u8("the version byte")?;
        let kind = c.u8("the header kind")?;
        match kind {
            DIST_HEADER => {
                self.cache.read_refs(
                    &mut c,
                    &mut self.refs,
                    &mut self.ref_slots,
                    &self.counters,
                )?;
                Ok(Some(Message {
                    body: frame.slice(c.pos..),
                    refs: &self.refs,
                }))
            }
            DIST_FRAG_HEADER => {
                let seq = c.u64("the sequence id")?;
                let frag = c.u64("the fragment id")?;
                self.counters.fragments_received.fetch_add(1, Relaxed);
                if frag == 0 {
                    return Err(HeaderError::FragmentOrder {
                        seq,
                        expected: 1,
                        got: 0,
                    });
                }
                if self.partial.contains_key(&seq) {
                    return Err(HeaderError::DuplicateSequence { seq });
                }
                // Entries this header adds may replace atoms `self.refs`
                // holds, and `self.refs` may be replaced below: forget which
                // slots they came from.
                self.ref_slots.clear();
                let mut refs = Vec::new();
                self.cache
                    .read_refs(&mut c, &mut refs, &mut Vec::new(), &self.counters)?;
                let body = frame.slice(c.pos..);
                if frag == 1 {
                    self.refs = refs;
                    self.counters.fragmented_received.fetch_add(1, Relaxed);
                    return Ok(Some(Message {
                        body,
                        refs: &self.refs,
                    }));
                }
                if self.partial.len() >= MAX_FRAGMENTED_SEQUENCES {
                    return Err(HeaderError::TooManySequences {
                        limit: MAX_FRAGMENTED_SEQUENCES,
                    });
                }
                // Reserve the announced size (fragment count × this
                // fragment) at once, counted against max_len like received
                // bytes: a message announced over the limit is refused now.
                let announced = u64::try_from(body.len())
                    .unwrap_or(u64::MAX)
                    .saturating_mul(frag);
                let announced = usize::try_from(announced).unwrap_or(usize::MAX);
                self.hold(announced)?;
                let mut buf = std::mem::take(&mut self.spare);
                self.spare_used = true;
                buf.clear();
                if !buf.try_reclaim(announced) {
                    let mut v = Vec::new();
                    if v.try_reserve_exact(announced).is_err() {
                        self.held -= announced;
                        return Err(HeaderError::TooLarge {
                            size: announced,
                            limit: self.max_len,
                        });
                    }
                    // An empty vector with capacity: becomes a BytesMut of
                    // that capacity, without a copy.
                    buf = BytesMut::from(Bytes::from(v));
                }
                buf.extend_from_slice(&body);
                self.partial.insert(
                    seq,
                    Partial {
                        refs,
                        buf,
                        charged: announced,
                        next: frag - 1,
                    },
                );
                Ok(None)
            }
            DIST_FRAG_CONT => {
                let seq = c.u64("the sequence id")?;
                let frag = c.u64("the fragment id")?;
                self.counters.fragments_received.fetch_add(1, Relaxed);
                let expected = self
                    .partial
                    .get(&seq)
                    .map(|p| p.next)
                    .ok_or(HeaderError::UnknownSequence { seq })?;
                if frag != expected {
                    return Err(HeaderError::FragmentOrder {
                        seq,
                        expected,
                        got: frag,
                    });
                }
                let chunk = frame.slice(c.pos..);
                let Some(p) = self.partial.get(&seq) else {
                    return Err(HeaderError::UnknownSequence { seq });
                };
                let over = (p.buf.len() + chunk.len()).saturating_sub(p.charged);
                self.hold(over)?;
                let Some(p) = self.partial.get_mut(&seq) else {
                    return Err(HeaderError::UnknownSequence { seq });
                };
                p.charged += over;
                p.buf.extend_from_slice(&chunk);
                p.next -= 1;
                if p.next > 0 {
                    return Ok(None);
                }
                let Some(mut p) = self.partial.remove(&seq) else {
                    return Err(HeaderError::UnknownSequence { seq });
                };
                self.held -= p.charged;
                let body = p.buf.split().freeze();
                // The rest (empty) keeps a handle on the memory for reuse.
                self.spare = p.buf;
                self.refs = p.refs;
                self.ref_slots.clear();
                self.counters.fragmented_received.fetch_add(1, Relaxed);
                Ok(Some(Message {
                    body,
                    refs: &self.refs,
                }))
            }
            _ => Err(HeaderError::Truncated {
                what: "a header kind of 68, 69 or 70",
            }),
        }
    }

    /// Accounts `n` more bytes held for reassembly, within `max_len`.
    fn hold(&mut self, n: usize) -> Result<(), HeaderError> {
        let size = self.held.saturating_add(n);
        if size > self.max_len {
            return Err(HeaderError::TooLarge {
                size,
                limit: self.max_len,
            });
        }
        self.held = size;
        Ok(())
    }
}

/// The atoms we have announced to a peer (send side), and the references
/// chosen for the message being encoded.
///
/// As the BEAM does, an atom goes to the slot its hash selects; the first
/// time (or when another atom held the slot) the header carries it as a new
/// entry, later messages refer to it with one byte. Within one message, an
/// atom whose slot is taken by another atom of the same message is written in
/// full, and at most [`MAX_ATOM_CACHE_REFS`] atoms are cached.
pub struct SendAtomCache {
    slots: Vec<SendSlot>,
    generation: u32,
    /// The current message's references: slot, and whether it is a new
    /// entry.
    refs: Vec<(u16, bool)>,
    /// What the current message's new entries replaced, in order (for
    /// [`SendAtomCache::rollback`]).
    replaced: Vec<(u16, Option<Atom>)>,
}

/// One slot of a [`SendAtomCache`]: what one lookup reads, together.
#[derive(Clone, Default)]
struct SendSlot {
    atom: Option<Atom>,
    /// Equal to the cache's generation when the current message uses it.
    stamp: u32,
    /// Reference index of the slot in the current message.
    index: u8,
}

impl Default for SendAtomCache {
    fn default() -> Self {
        SendAtomCache {
            slots: vec![SendSlot::default(); ATOM_CACHE_SLOTS],
            generation: 1,
            refs: Vec::new(),
            replaced: Vec::new(),
        }
    }
}

/// Cache slot of an atom: FNV-1a of its text. Any fixed function works, as
/// the header names the slot; this one is cheap and spreads short names.
fn slot_of(text: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for &b in text {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    (h as usize) % ATOM_CACHE_SLOTS
}

impl SendAtomCache {
    /// Starts a new message.
    pub fn begin(&mut self) {
        self.refs.clear();
        self.replaced.clear();
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.slots.iter_mut().for_each(|s| s.stamp = 0);
            self.generation = 1;
        }
    }

    /// Undoes the new entries of the current message, when it could not be
    /// encoded and will not be sent.
    pub fn rollback(&mut self) {
        for (slot, prev) in self.replaced.drain(..).rev() {
            if let Some(s) = self.slots.get_mut(usize::from(slot)) {
                s.atom = prev;
            }
        }
        self.refs.clear();
        self.generation = self.generation.wrapping_add(1);
    }

    /// References in the current message.
    pub fn len(&self) -> usize {
        self.refs.len()
    }

    /// True when the current message has no references.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// Appends `NumberOfAtomCacheRefs, [Flags], [AtomCacheRefs]` for the
    /// current message.
    pub fn write_refs(&self, out: &mut Vec<u8>, counters: &DistCounters) {
        let n = self.refs.len();
        out.push(n as u8);
        if n == 0 {
            return;
        }
        let atom = |slot: u16| {
            self.slots
                .get(usize::from(slot))
                .and_then(|s| s.atom.as_ref())
        };
        let long = self
            .refs
            .iter()
            .any(|&(slot, new)| new && atom(slot).is_some_and(|a| a.len() > 255));
        // One nibble per reference, then the long-atoms flag.
        let mut flags = [0u8; MAX_ATOM_CACHE_REFS / 2 + 1];
        let mut set = |i: usize, v: u8| {
            if let Some(b) = flags.get_mut(i / 2) {
                *b |= if i % 2 == 0 { v } else { v << 4 };
            }
        };
        let mut new = 0;
        for (i, &(slot, is_new)) in self.refs.iter().enumerate() {
            new += u64::from(is_new);
            set(i, (u8::from(is_new) << 3) | (slot >> 8) as u8);
        }
        set(n, u8::from(long));
        out.extend_from_slice(flags.get(..n / 2 + 1).unwrap_or_default());
        for &(slot, is_new) in &self.refs {
            out.push((slot & 0xff) as u8);
            if is_new {
                let text = atom(slot).map(|a| a.as_bytes()).unwrap_or_default();
                if long {
                    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
                } else {
                    out.push(text.len() as u8);
                }
                out.extend_from_slice(text);
            }
        }
        counters.atom_refs_sent_new.fetch_add(new, Relaxed);
        counters
            .atom_refs_sent_cached
            .fetch_add(n as u64 - new, Relaxed);
    }
}

impl AtomCacheWriter for SendAtomCache {
    fn atom_ref(&mut self, atom: &Atom) -> Option<u8> {
        let SendAtomCache {
            slots,
            generation,
            refs,
            replaced,
        } = self;
        let text = atom.as_bytes();
        let slot = slot_of(text);
        let s = slots.get_mut(slot)?;
        let holds = s.atom.as_ref().is_some_and(|a| a.as_bytes() == text);
        if s.stamp == *generation {
            // Used by this message: ours if it holds this very atom.
            return holds.then_some(s.index);
        }
        if refs.len() >= MAX_ATOM_CACHE_REFS {
            return None;
        }
        let ix = refs.len() as u8;
        // Below ATOM_CACHE_SLOTS, so it fits.
        let slot = slot as u16;
        if !holds {
            replaced.push((slot, s.atom.replace(atom.clone())));
        }
        s.stamp = *generation;
        s.index = ix;
        refs.push((slot, !holds));
        Some(ix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header that replaces a slot and then refers to it again (no
    /// OTP sender does that, a hostile one may): the reference memo must
    /// not hand out the slot's old atom.
    #[test]
    fn reference_memo_forgets_a_replaced_slot() {
        let mut rx = DistReceiver::new(usize::MAX, Arc::default());
        let atoms = |rx: &mut DistReceiver, pkt: &[u8]| -> Vec<String> {
            let m = rx.receive(&Bytes::copy_from_slice(pkt)).unwrap().unwrap();
            m.refs.iter().map(|a| a.to_string()).collect()
        };
        // Slot 1 = a, slot 2 = x (both new).
        let first = [131, 68, 2, 0x88, 0x00, 1, 1, b'a', 2, 1, b'x', 97, 0];
        assert_eq!(atoms(&mut rx, &first), ["a", "x"]);
        // The same header again: both from the memo.
        let again = [131, 68, 2, 0x00, 0x00, 1, 2, 97, 0];
        assert_eq!(atoms(&mut rx, &again), ["a", "x"]);
        // Once more: the same bytes as the last header, which added nothing.
        assert_eq!(atoms(&mut rx, &again), ["a", "x"]);
        // Slot 2 becomes y at position 0, then position 1 refers to slot 2.
        let replace = [131, 68, 2, 0x08, 0x00, 2, 1, b'y', 2, 97, 0];
        assert_eq!(atoms(&mut rx, &replace), ["y", "y"]);
        assert_eq!(atoms(&mut rx, &again), ["a", "y"]);
        // A header that fails half way leaves no memo behind.
        let bad = [131, 68, 2, 0x00, 0x00, 1];
        assert!(rx.receive(&Bytes::copy_from_slice(&bad)).is_err());
        assert_eq!(atoms(&mut rx, &again), ["a", "y"]);
    }

    /// Messages whose atoms come from a set larger than the cache, so
    /// slots are replaced all the time, some big enough to go in
    /// fragments: every one arrives with its own atoms, whatever the
    /// receiver remembered from the messages before.
    #[test]
    fn reference_memo_follows_replaced_slots_and_fragments() {
        use crate::dist::control::{Signal, decode_dist_body};
        use crate::dist::outbuf::OutBuf;
        use crate::dist::writer::DistWriter;
        use crate::handshake::DistFlags;
        use crate::term::{Pid, Term};
        let flags =
            DistFlags::RECOMMENDED_HIDDEN | DistFlags::FRAGMENTS | DistFlags::DIST_HDR_ATOM_CACHE;
        let mut w = DistWriter::new(flags, Atom::from("b@h"), Arc::default());
        let mut rx = DistReceiver::new(usize::MAX, Arc::default());
        let mut seed: u64 = 7;
        let mut next = move |m: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) % m
        };
        for round in 0..3000u64 {
            let mut out = OutBuf::new(true);
            let mut sent = Vec::new();
            // Runs of identical headers, then changes.
            let k = 1 + next(4);
            for _ in 0..k {
                let atoms: Vec<Term> = (0..next(6))
                    .map(|_| Term::atom(&format!("a{}", next(3000))))
                    .collect();
                let mut items = vec![Term::atom("seq"), Term::List(atoms)];
                if next(50) == 0 {
                    items.push(Term::Binary(bytes::Bytes::from(vec![
                        1u8;
                        3 * FRAGMENT_SIZE
                    ])));
                }
                let sig = Signal::RegSend {
                    from: Pid {
                        node: Atom::from(format!("n{}@h", next(3)).as_str()),
                        id: 1,
                        serial: 0,
                        creation: 1,
                    },
                    to: Atom::from(format!("to{}", next(5)).as_str()),
                    msg: Term::Tuple(items),
                };
                w.push(sig.clone(), &mut out);
                sent.push(sig);
            }
            while w.next_fragment(&mut out) {}
            let mut buf = bytes::BytesMut::from(&out.to_vec()[..]);
            let mut got = Vec::new();
            while let Some(crate::dist::Frame::Data(b)) =
                crate::dist::frame::next_frame(&mut buf, usize::MAX).unwrap()
            {
                if let Some(m) = rx.receive(&b).unwrap() {
                    got.push(decode_dist_body(&m.body, m.refs, &Default::default()).unwrap());
                }
            }
            // Other senders' messages pass one in fragments: compare in
            // a fixed order.
            let key = |v: &[Signal]| {
                let mut k: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
                k.sort();
                k
            };
            assert!(key(&got) == key(&sent), "round {round}: atoms changed");
        }
    }

    fn recv() -> DistReceiver {
        DistReceiver::new(1000, Arc::default())
    }

    #[test]
    fn decodes_the_header_seen_on_the_wire() {
        // First header: five new entries (nibbles F,8,A,F,A then long=0).
        let mut pkt = vec![131, 68, 5, 0x8f, 0xfa, 0x0a];
        for (ix, text) in [
            (1u8, &b"a@vm"[..]),
            (2, b""),
            (3, b"reg"),
            (4, b"hello"),
            (5, b"world"),
        ] {
            pkt.push(ix);
            pkt.push(text.len() as u8);
            pkt.extend_from_slice(text);
        }
        pkt.extend_from_slice(&[104, 1, 82, 3]);
        let mut r = recv();
        let frame = Bytes::from(pkt);
        let m = r.receive(&frame).unwrap().unwrap();
        let names: Vec<&str> = m.refs.iter().map(|a| a.as_str()).collect();
        assert_eq!(names, ["a@vm", "", "reg", "hello", "world"]);
        assert_eq!(&m.body[..], &[104, 1, 82, 3]);
        // The flag bytes seen on the wire (PROTOCOL.md §3.3): <<135,250,10>>,
        // i.e. ref 0 old in segment 7, refs 1-4 new in segments 0, 2, 7, 2.
        let mut pkt = vec![131, 68, 5, 135, 250, 10, 1];
        for (ix, text) in [(2u8, &b"x"[..]), (3, b"y"), (4, b"z"), (5, b"w")] {
            pkt.push(ix);
            pkt.push(text.len() as u8);
            pkt.extend_from_slice(text);
        }
        pkt.push(106);
        let m = r.receive(&Bytes::from(pkt)).unwrap().unwrap();
        let names: Vec<&str> = m.refs.iter().map(|a| a.as_str()).collect();
        assert_eq!(names, ["a@vm", "x", "y", "z", "w"]);
        // A later header refers to slot 7*256+1 (a@vm) and 2*256+3 (now y)
        // without their text: nibbles 7 and 2, then the long-atoms nibble 0.
        let again = Bytes::from_static(&[131, 68, 2, 0x27, 0, 1, 3, 106]);
        let m = r.receive(&again).unwrap().unwrap();
        let names: Vec<&str> = m.refs.iter().map(|a| a.as_str()).collect();
        assert_eq!(names, ["a@vm", "y"]);
        assert_eq!(&m.body[..], &[106]);
    }

    #[test]
    fn zero_refs_and_long_atoms() {
        let mut r = recv();
        let m = r
            .receive(&Bytes::from_static(&[131, 68, 0, 106]))
            .unwrap()
            .unwrap();
        assert!(m.refs.is_empty());
        // One new entry in segment 1 with a 2-byte length.
        let pkt = Bytes::from_static(&[131, 68, 1, 0x19, 9, 0, 2, b'o', b'k', 106]);
        let m = r.receive(&pkt).unwrap().unwrap();
        assert_eq!(m.refs[0].as_str(), "ok");
        assert_eq!(&m.body[..], &[106]);
    }

    #[test]
    fn hostile_headers_are_errors() {
        let mut r = recv();
        // Old reference to a slot never filled.
        assert_eq!(
            r.receive(&Bytes::from_static(&[131, 68, 1, 0x03, 7, 106]))
                .unwrap_err(),
            HeaderError::EmptySlot { slot: 3 * 256 + 7 }
        );
        // Flags promised but missing.
        assert!(matches!(
            r.receive(&Bytes::from_static(&[131, 68, 3])).unwrap_err(),
            HeaderError::Truncated { .. }
        ));
        // Atom text longer than the packet.
        assert!(matches!(
            r.receive(&Bytes::from_static(&[131, 68, 1, 0x08, 0, 200, b'x']))
                .unwrap_err(),
            HeaderError::Truncated { .. }
        ));
        // Invalid UTF-8 atom text.
        assert_eq!(
            r.receive(&Bytes::from_static(&[131, 68, 1, 0x08, 0, 1, 0xff]))
                .unwrap_err(),
            HeaderError::BadAtom { slot: 0 }
        );
        // 256 characters with long atoms.
        let mut pkt = vec![131, 68, 1, 0x18, 0, 1, 0];
        pkt.extend(std::iter::repeat_n(b'a', 256));
        assert_eq!(
            r.receive(&Bytes::from(pkt)).unwrap_err(),
            HeaderError::BadAtom { slot: 0 }
        );
    }

    fn frag(kind: u8, seq: u64, id: u64, rest: &[u8]) -> Bytes {
        let mut v = vec![131, kind];
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&id.to_be_bytes());
        v.extend_from_slice(rest);
        Bytes::from(v)
    }

    #[test]
    fn reassembles_interleaved_sequences() {
        let counters = Arc::new(DistCounters::default());
        let mut r = DistReceiver::new(1000, counters.clone());
        // Sequence 7: three fragments; the first carries one new atom.
        assert!(
            r.receive(&frag(69, 7, 3, &[1, 0x08, 5, 2, b'h', b'i', 104, 2]))
                .unwrap()
                .is_none()
        );
        // Sequence 9 interleaves: two fragments, no atoms.
        assert!(r.receive(&frag(69, 9, 2, &[0, 1, 2])).unwrap().is_none());
        assert_eq!(r.sequences_in_flight(), 2);
        assert!(r.receive(&frag(70, 7, 2, &[82, 0])).unwrap().is_none());
        let m = r.receive(&frag(70, 9, 1, &[3])).unwrap().unwrap();
        assert_eq!(&m.body[..], &[1, 2, 3]);
        assert!(m.refs.is_empty());
        let m = r.receive(&frag(70, 7, 1, &[106])).unwrap().unwrap();
        assert_eq!(&m.body[..], &[104, 2, 82, 0, 106]);
        assert_eq!(m.refs[0].as_str(), "hi");
        assert_eq!(r.sequences_in_flight(), 0);
        // A single-fragment message is whole at once.
        let m = r.receive(&frag(69, 1, 1, &[0, 106])).unwrap().unwrap();
        assert_eq!(&m.body[..], &[106]);
        let s = counters.snapshot();
        assert_eq!((s.fragments_received, s.fragmented_received), (6, 3));
        assert_eq!(s.atom_refs_received_new, 1);
    }

    #[test]
    fn reassembly_buffer_is_reused_once_the_message_is_dropped() {
        let mut r = DistReceiver::new(1 << 20, Arc::default());
        let piece = vec![7u8; 1000];
        let mut first = vec![0u8];
        first.extend_from_slice(&piece);
        let message = |r: &mut DistReceiver, seq: u64| -> Bytes {
            assert!(r.receive(&frag(69, seq, 3, &first)).unwrap().is_none());
            assert!(r.receive(&frag(70, seq, 2, &piece)).unwrap().is_none());
            let m = r.receive(&frag(70, seq, 1, &piece)).unwrap().unwrap();
            assert_eq!(&m.body[..], &[7u8; 3000][..]);
            m.body
        };
        let a = message(&mut r, 1);
        let at = a.as_ptr();
        // Still referenced: the next message gets new memory.
        let b = message(&mut r, 2);
        assert_ne!(b.as_ptr(), at);
        drop(a);
        let bt = b.as_ptr();
        drop(b);
        // Both dropped: the last buffer is reused.
        let c = message(&mut r, 3);
        assert_eq!(c.as_ptr(), bt);
        drop(c);
        // A tick period without fragments releases it.
        r.trim();
        r.trim();
        assert_eq!(r.spare.capacity(), 0);
    }

    #[test]
    fn hostile_fragments_are_errors() {
        let mut r = recv();
        assert_eq!(
            r.receive(&frag(70, 5, 1, &[1])).unwrap_err(),
            HeaderError::UnknownSequence { seq: 5 }
        );
        assert!(r.receive(&frag(69, 5, 3, &[0, 1])).unwrap().is_none());
        assert_eq!(
            r.receive(&frag(69, 5, 2, &[0, 1])).unwrap_err(),
            HeaderError::DuplicateSequence { seq: 5 }
        );
        assert_eq!(
            r.receive(&frag(70, 5, 1, &[1])).unwrap_err(),
            HeaderError::FragmentOrder {
                seq: 5,
                expected: 2,
                got: 1
            }
        );
        assert_eq!(
            r.receive(&frag(69, 6, 0, &[0])).unwrap_err(),
            HeaderError::FragmentOrder {
                seq: 6,
                expected: 1,
                got: 0
            }
        );
        // Oversize: the limit counts every sequence's announced size
        // (fragment count × first fragment) together; sequence 5 holds 3.
        assert!(r.receive(&frag(69, 8, 2, &[0; 400])).unwrap().is_none());
        assert_eq!(
            r.receive(&frag(69, 10, 2, &[0; 200])).unwrap_err(),
            HeaderError::TooLarge {
                size: 3 + 2 * 399 + 2 * 199,
                limit: 1000
            }
        );
        // A message announced far over the limit is refused at once.
        assert!(matches!(
            r.receive(&frag(69, 11, u64::MAX, &[0, 1])).unwrap_err(),
            HeaderError::TooLarge { .. }
        ));
        // Fragments bigger than announced are counted as they come.
        let mut r = recv();
        assert!(r.receive(&frag(69, 1, 2, &[0; 401])).unwrap().is_none());
        assert_eq!(
            r.receive(&frag(70, 1, 1, &[0; 700])).unwrap_err(),
            HeaderError::TooLarge {
                size: 400 + 700,
                limit: 1000
            }
        );
        // Truncated fragment header.
        assert!(matches!(
            r.receive(&Bytes::from_static(&[131, 70, 0, 0]))
                .unwrap_err(),
            HeaderError::Truncated { .. }
        ));
    }

    #[test]
    fn too_many_sequences() {
        let mut r = DistReceiver::new(1 << 20, Arc::default());
        for seq in 0..MAX_FRAGMENTED_SEQUENCES as u64 {
            assert!(r.receive(&frag(69, seq, 2, &[0, 1])).unwrap().is_none());
        }
        assert_eq!(
            r.receive(&frag(69, u64::MAX, 2, &[0, 1])).unwrap_err(),
            HeaderError::TooManySequences {
                limit: MAX_FRAGMENTED_SEQUENCES
            }
        );
    }

    #[test]
    fn send_cache_new_then_hit_and_round_trip() {
        let counters = DistCounters::default();
        let mut s = SendAtomCache::default();
        let mut r = recv();
        let hello = Atom::from("hello");
        let world = Atom::from("world");
        for round in 0..2 {
            s.begin();
            let mut body = vec![104, 3];
            for a in [&hello, &world, &hello] {
                let ix = s.atom_ref(a).unwrap();
                body.extend_from_slice(&[82, ix]);
            }
            assert_eq!(s.len(), 2);
            let mut pkt = vec![131, 68];
            s.write_refs(&mut pkt, &counters);
            if round == 1 {
                // Both known now: no text in the header.
                assert_eq!(pkt.len(), 2 + 1 + 2 + 2);
            }
            pkt.extend_from_slice(&body);
            let m = r.receive(&Bytes::from(pkt)).unwrap().unwrap();
            let t = crate::term::Decoder::shared(&m.body)
                .with_atom_refs(m.refs)
                .term()
                .unwrap();
            assert_eq!(
                t,
                crate::Term::Tuple(vec![
                    crate::Term::Atom(hello.clone()),
                    crate::Term::Atom(world.clone()),
                    crate::Term::Atom(hello.clone())
                ])
            );
        }
        let st = counters.snapshot();
        assert_eq!((st.atom_refs_sent_new, st.atom_refs_sent_cached), (2, 2));
    }

    #[test]
    fn send_cache_limits_and_rollback() {
        let mut s = SendAtomCache::default();
        s.begin();
        let atoms: Vec<Atom> = (0..400)
            .map(|i| Atom::from(format!("a{i}").as_str()))
            .collect();
        let cached = atoms.iter().filter(|a| s.atom_ref(a).is_some()).count();
        // At most 255 refs, fewer when two atoms of the message share a slot.
        assert!(cached <= MAX_ATOM_CACHE_REFS && cached > 200, "{cached}");
        assert_eq!(s.len(), cached);
        // A message that is not sent leaves the cache as it was.
        s.rollback();
        s.begin();
        assert!(s.atom_ref(&atoms[0]).is_some());
        let mut out = Vec::new();
        s.write_refs(&mut out, &DistCounters::default());
        assert_eq!(out[1] & 8, 8, "a rolled-back atom is new again");
        // Long atoms switch lengths to 2 bytes.
        s.begin();
        let long = Atom::from("é".repeat(200).as_str());
        let ix = s.atom_ref(&long).unwrap();
        let mut out = Vec::new();
        s.write_refs(&mut out, &DistCounters::default());
        assert_eq!(ix, 0);
        assert_eq!(out[1] >> 4, 1, "long-atoms flag");
        assert_eq!(&out[3..5], &400u16.to_be_bytes());
        let mut r = recv();
        let mut pkt = vec![131, 68];
        pkt.extend_from_slice(&out);
        let m = r.receive(&Bytes::from(pkt)).unwrap().unwrap();
        assert_eq!(m.refs[0], long);
    }
}
