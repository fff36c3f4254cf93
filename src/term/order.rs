//! Equality, ordering, hashing and cloning. OWNED BY THE TEXT/ORDER WORK
//! (issue 2). Stub: recursive versions, to be made depth-safe.
use super::*;

impl PartialEq for Term {
    fn eq(&self, _other: &Term) -> bool {
        todo!()
    }
}
impl Eq for Term {}
impl Clone for Term {
    fn clone(&self) -> Term {
        todo!()
    }
}
impl Clone for Map {
    fn clone(&self) -> Map {
        todo!()
    }
}
impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
