//! `From`/`TryFrom` between `erlnode::Term` and `eetf::Term`. OWNED BY THE
//! CODEC WORK (issue 2). Stub.
