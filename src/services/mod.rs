//! What a BEAM expects to find on a peer node: `net_kernel` (so that
//! `net_adm:ping` answers `pong`), `rex`, the erpc/spawn service behind
//! `rpc:call` and `spawn/4`, and a group leader for remote output.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod gen_server;
pub(crate) mod io;
pub(crate) mod net_kernel;
pub(crate) mod rex;
pub(crate) mod spawn;
