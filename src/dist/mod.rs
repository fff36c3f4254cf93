//! The distribution protocol after the handshake: framing, control messages,
//! and the task that owns each peer connection.

pub mod control;
pub mod frame;

pub use control::{ControlError, ProcRef, Signal};
pub use frame::{Frame, FrameTooLong};
