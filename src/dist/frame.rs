//! 4-byte length framing of an established distribution connection.
//!
//! After the handshake every packet is `Len:u32` followed by `Len` bytes
//! (PROTOCOL.md §3.1). `Len = 0` is a tick. This module is sans-IO: it cuts
//! frames out of a receive buffer and never blocks.

use bytes::{Buf, Bytes, BytesMut};

/// Default largest frame accepted from a peer: 1 GiB. The BEAM has no limit
/// of its own; this bounds what one peer can make us buffer, while leaving
/// room for the 64 MiB messages people do send. Configurable per node.
pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 30;

/// One packet of an established connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A zero-length keep-alive.
    Tick,
    /// A distribution message (header or pass-through), without its length.
    Data(Bytes),
}

/// A frame longer than the configured maximum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("frame of {len} bytes exceeds the limit of {max} bytes (max_frame_len)")]
pub struct FrameTooLong {
    /// Length announced by the peer.
    pub len: usize,
    /// The limit in force.
    pub max: usize,
}

/// Cuts the next frame out of `buf`. `Ok(None)` means more bytes are needed.
/// The length is checked against `max` before anything is buffered for it.
pub fn next_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Frame>, FrameTooLong> {
    let Some(head) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*head) as usize;
    if len > max {
        return Err(FrameTooLong { len, max });
    }
    if buf.len() < 4 + len {
        // Reserve what the frame needs, so a large frame is read with few
        // reallocations; bounded by `max` above.
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    if len == 0 {
        return Ok(Some(Frame::Tick));
    }
    Ok(Some(Frame::Data(buf.split_to(len).freeze())))
}

/// The 4 bytes of a tick.
pub const TICK: [u8; 4] = [0, 0, 0, 0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_ticks_and_data_keeping_the_rest() {
        let mut buf = BytesMut::from(&[0, 0, 0, 0, 0, 0, 0, 2, 7, 8, 0, 0][..]);
        assert_eq!(next_frame(&mut buf, 100), Ok(Some(Frame::Tick)));
        assert_eq!(
            next_frame(&mut buf, 100),
            Ok(Some(Frame::Data(Bytes::from_static(&[7, 8]))))
        );
        assert_eq!(next_frame(&mut buf, 100), Ok(None));
        assert_eq!(&buf[..], &[0, 0]);
    }

    #[test]
    fn oversized_length_is_refused_before_buffering() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert_eq!(
            next_frame(&mut buf, 1000),
            Err(FrameTooLong {
                len: 0xffff_ffff,
                max: 1000
            })
        );
        assert!(buf.capacity() < 1 << 20);
    }

    #[test]
    fn partial_frame_waits() {
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 1][..]);
        assert_eq!(next_frame(&mut buf, 100), Ok(None));
        buf.extend_from_slice(&[2, 3]);
        assert_eq!(
            next_frame(&mut buf, 100),
            Ok(Some(Frame::Data(Bytes::from_static(&[1, 2, 3]))))
        );
    }
}
