//! erlnode: an Erlang distribution node in Rust.
//!
//! It speaks EPMD, the distribution handshake and the external term format,
//! so a Rust program joins a real BEAM cluster as a hidden node.
#![forbid(unsafe_code)]
#![deny(unused_must_use)]
#![warn(missing_docs)]

pub mod cookie;
pub mod dist;
pub mod epmd;
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
pub mod name;
pub mod node;
pub mod services;
pub mod term;
pub mod tls;

pub use node::{Mailbox, Node, NodeBuilder, NodeError, NodeEvent};
pub use term::{Atom, BitString, ExportFun, Fun, Map, Pid, Port, Reference, Term};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
