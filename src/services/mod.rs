//! What a BEAM expects to find on a peer node: `net_kernel` (so that
//! `net_adm:ping` answers `pong`), and helpers for gen_server-style
//! requests that the other services share.

pub mod gen_server;
pub(crate) mod net_kernel;
