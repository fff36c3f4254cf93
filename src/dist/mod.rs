//! The distribution protocol after the handshake: framing, control messages,
//! and the task that owns each peer connection.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod control;
pub mod frame;
pub mod header;
pub mod outbuf;
pub mod writer;

pub use control::{ControlError, ProcRef, Signal};
pub use frame::{Frame, FrameTooLong};
pub use header::{DistStats, HeaderError};
