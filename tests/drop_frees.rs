//! Dropping a term frees every block it holds, whatever shortcut the drop
//! takes (the leaf-only vectors whose elements are leaked on purpose because
//! they own nothing, see `src/term/walk.rs`). A counting allocator checks
//! that the live bytes come back to where they were. One test in its own
//! binary, so nothing else allocates meanwhile.

use erlnode::{Atom, Map, Pid, Port, Term};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::SeqCst};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to `System` unchanged and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, SeqCst);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, SeqCst);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn terms() -> Term {
    let long = Atom::from("an_atom_too_long_to_be_stored_inline");
    let short = Atom::from("ok");
    let pid = |node: &Atom| {
        Term::Pid(Pid {
            node: node.clone(),
            id: 1,
            serial: 2,
            creation: 3,
        })
    };
    let port = Term::Port(Port {
        node: long.clone(),
        id: 7,
        creation: 1,
    });
    let with_room: Vec<Term> = Vec::with_capacity(16);
    let mut map = Map::new();
    map.insert(Term::Atom(long.clone()), Term::charlist("value"));
    // Maps whose entries own nothing, own heap memory but no terms (long
    // atoms, binaries, vectors with room), or own terms.
    let plain = Map::from_iter((0..40).map(|i| (Term::Int(i), Term::Int(i * 7))));
    let mut leaves = Map::from_iter((0..5).map(|i| (Term::Int(i), Term::Atom(short.clone()))));
    leaves.insert(Term::Atom(long.clone()), Term::binary(b"bytes"));
    leaves.insert(Term::Int(99), Term::List(Vec::with_capacity(4)));
    let owners = Map::from_iter([
        (Term::Int(1), Term::Int(2)),
        (
            Term::charlist("key"),
            Term::tuple(vec![Term::Atom(long.clone())]),
        ),
    ]);
    Term::list(vec![
        Term::charlist("a string of plain integers"),
        Term::tuple(vec![
            Term::Atom(short.clone()),
            Term::Int(1),
            Term::Float(2.5),
        ]),
        Term::tuple(vec![Term::Atom(long.clone()), Term::Int(1)]),
        Term::tuple(vec![pid(&short), pid(&long), port]),
        Term::List(with_room),
        Term::tuple(vec![Term::Tuple(Vec::with_capacity(3)), Term::NIL]),
        Term::tuple(vec![Term::binary(b"bytes"), Term::Int(1 << 40)]),
        Term::from(map),
        Term::from(plain),
        Term::from(leaves),
        Term::from(owners),
        "[1, {2, [3, <<4>>]} | tail]".parse().unwrap(),
        Term::from(num_bigint::BigInt::from(1u8) << 300),
    ])
}

#[test]
fn dropping_terms_frees_every_block() {
    // Warm up anything lazily allocated once (thread locals, the parser).
    drop(terms());
    let before = LIVE.load(SeqCst);
    for _ in 0..100 {
        let t = terms();
        let copy = t.clone();
        let bytes = t.encode();
        let decoded = Term::decode(&bytes).unwrap();
        assert!(decoded == t);
        drop((t, copy, decoded, bytes));
    }
    assert_eq!(
        LIVE.load(SeqCst) - before,
        0,
        "bytes still allocated after the drops"
    );
}
