//! The `erlnode` command-line tool.
fn main() {}
