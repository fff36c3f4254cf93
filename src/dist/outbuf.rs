//! The bytes waiting to be written to a connection: small pieces copied into
//! one buffer, big ones (the binaries of big messages, or slices of them)
//! kept as shared [`Bytes`], so a 64 MiB binary goes from the term to the
//! socket without a copy, by vectored writes.
//!
//! A writer that does not do vectored writes (TLS) gets everything copied
//! into one contiguous buffer instead, so no write is a tiny piece.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use crate::term::SPLICE_MIN_BYTES;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;

/// Most pieces handed to one vectored write (Linux's `IOV_MAX` is 1024).
pub const MAX_IO_SLICES: usize = 64;

/// Outgoing bytes in order: `segs`, then `tail`.
#[derive(Debug)]
pub struct OutBuf {
    segs: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
    share: bool,
}

impl OutBuf {
    /// An empty buffer; `share` says whether big pieces may be kept by
    /// reference (the writer does vectored writes) or must be copied.
    pub fn new(share: bool) -> OutBuf {
        OutBuf {
            segs: VecDeque::new(),
            tail: BytesMut::new(),
            len: 0,
            share,
        }
    }

    /// Bytes not yet written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a copy of `b`.
    pub fn extend_from_slice(&mut self, b: &[u8]) {
        self.tail.extend_from_slice(b);
        self.len += b.len();
    }

    /// Appends `b`, by reference if it is big and the writer is vectored.
    pub fn push_bytes(&mut self, b: Bytes) {
        if !self.share || b.len() < SPLICE_MIN_BYTES {
            self.extend_from_slice(&b);
            return;
        }
        if !self.tail.is_empty() {
            self.segs.push_back(self.tail.split().freeze());
        }
        self.len += b.len();
        self.segs.push_back(b);
    }

    /// Moves everything in `other` to the end of this buffer, leaving
    /// `other` empty (with this buffer's spare capacity, when this one was
    /// empty: the two are swapped).
    pub fn append(&mut self, other: &mut OutBuf) {
        if other.is_empty() {
            return;
        }
        if self.is_empty() && self.share == other.share {
            std::mem::swap(self, other);
            return;
        }
        for b in other.segs.drain(..) {
            self.push_bytes(b);
        }
        self.extend_from_slice(&other.tail);
        other.tail.clear();
        other.len = 0;
    }

    /// Fills `dst` with the next pieces to write; returns how many.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let pieces = self
            .segs
            .iter()
            .map(|b| &b[..])
            .chain(std::iter::once(&self.tail[..]))
            .filter(|b| !b.is_empty());
        let mut n = 0;
        for (d, p) in dst.iter_mut().zip(pieces) {
            *d = IoSlice::new(p);
            n += 1;
        }
        n
    }

    /// The first contiguous piece (empty when nothing waits).
    pub fn chunk(&self) -> &[u8] {
        match self.segs.front() {
            Some(b) => b,
            None => &self.tail,
        }
    }

    /// Drops the first `n` bytes (written).
    pub fn advance(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            match self.segs.front_mut() {
                Some(b) if b.len() <= n => {
                    n -= b.len();
                    self.segs.pop_front();
                }
                Some(b) => {
                    b.advance(n);
                    n = 0;
                }
                None => {
                    self.tail.advance(n);
                    n = 0;
                }
            }
        }
        if self.len == 0 {
            self.tail.clear();
        }
    }

    /// Releases the copy buffer when it is empty and bigger than `keep`.
    pub fn shrink(&mut self, keep: usize) {
        if self.len == 0 && self.tail.capacity() > keep {
            self.tail = BytesMut::new();
        }
    }

    /// Everything waiting, copied (tests and diagnostics).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for b in &self.segs {
            v.extend_from_slice(b);
        }
        v.extend_from_slice(&self.tail);
        v
    }

    /// Pieces held by reference (tests).
    pub fn shared_pieces(&self) -> usize {
        self.segs.len()
    }
}

/// A byte sequence made of shared pieces, consumed from the front: the part
/// of a big message not sent yet.
#[derive(Debug, Default)]
pub struct Segments {
    segs: VecDeque<Bytes>,
    len: usize,
}

impl Segments {
    /// Appends a piece.
    pub fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.len += b.len();
            self.segs.push_back(b);
        }
    }

    /// Bytes left.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is left.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Moves the first `n` bytes (or all there are) to `out`.
    pub fn take_into(&mut self, mut n: usize, out: &mut OutBuf) {
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let Some(front) = self.segs.front_mut() else {
                break;
            };
            if front.len() <= n {
                n -= front.len();
                if let Some(b) = self.segs.pop_front() {
                    out.push_bytes(b);
                }
            } else {
                out.push_bytes(front.split_to(n));
                n = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_and_partial_writes() {
        let mut o = OutBuf::new(true);
        o.extend_from_slice(b"ab");
        o.push_bytes(Bytes::from(vec![7u8; SPLICE_MIN_BYTES]));
        o.push_bytes(Bytes::from_static(b"cd"));
        assert_eq!(o.len(), SPLICE_MIN_BYTES + 4);
        assert_eq!(o.shared_pieces(), 2);
        let mut s = [IoSlice::new(&[]); 8];
        assert_eq!(o.io_slices(&mut s), 3);
        let mut want = b"ab".to_vec();
        want.extend(vec![7u8; SPLICE_MIN_BYTES]);
        want.extend(b"cd");
        assert_eq!(o.to_vec(), want);
        o.advance(1);
        assert_eq!(o.chunk(), b"b");
        o.advance(2);
        assert_eq!(o.chunk().len(), SPLICE_MIN_BYTES - 1);
        o.advance(SPLICE_MIN_BYTES);
        assert_eq!(o.chunk(), b"d");
        o.advance(1);
        assert!(o.is_empty());
        // Appending: swapped when empty, moved in order otherwise.
        let mut a = OutBuf::new(true);
        let mut b = OutBuf::new(true);
        b.extend_from_slice(b"xy");
        a.append(&mut b);
        assert!(b.is_empty());
        b.extend_from_slice(b"z");
        b.push_bytes(Bytes::from(vec![5u8; SPLICE_MIN_BYTES]));
        b.extend_from_slice(b"w");
        a.append(&mut b);
        assert!(b.is_empty() && b.to_vec().is_empty());
        let mut want = b"xyz".to_vec();
        want.extend(vec![5u8; SPLICE_MIN_BYTES]);
        want.push(b'w');
        assert_eq!(a.to_vec(), want);
        assert_eq!(a.len(), want.len());
        // Copying mode keeps one piece.
        let mut o = OutBuf::new(false);
        o.push_bytes(Bytes::from(vec![7u8; SPLICE_MIN_BYTES]));
        assert_eq!(o.shared_pieces(), 0);
        assert_eq!(o.chunk().len(), SPLICE_MIN_BYTES);
    }
}
