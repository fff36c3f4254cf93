//! How fast `Term::decode` could be on the codec corpus if allocating and
//! freeing cost nothing: the bound under the "codec decode" row of
//! `scripts/bench.sh` (docs/BENCH.md, "What bounds decode").
//!
//! ```text
//! cargo run --release --example decode_bound -- CORPUS_FILE [LOOPS]
//! ```
//!
//! Four ways, each the best of 5 turns of `LOOPS` decodes (default 40),
//! taking turns so that machine noise hits them alike:
//!
//! * `glibc`: decode and drop with glibc's malloc;
//! * `mimalloc`: the same with mimalloc, the allocator `codec_bench` uses
//!   in `scripts/bench.sh` (the `mimalloc` feature; skipped without it);
//! * `bump, drop`: every allocation of one decode is carved from one
//!   pre-touched region, and freeing is a no-op; the drop still walks the
//!   whole term;
//! * `bump, no drop`: the same, and the term is forgotten instead of
//!   dropped. What is left is the decoder writing the term.
//!
//! It also prints how many allocations and bytes one decode asks for.
//! The bump allocator here is a measuring device: it never reuses memory
//! and serves one thread.

use erlnode::Term;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// The bump region. One decode of the ~0.8 MB corpus asks for about 9 MB;
/// anything past the region goes to the system allocator.
const REGION: usize = 256 << 20;
const TURNS: usize = 5;

struct Bump;

static BUMPING: AtomicBool = AtomicBool::new(false);
static BASE: AtomicUsize = AtomicUsize::new(0);
static USED: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// Set for the whole of a `mimalloc` turn: everything allocated in it is
/// freed in it, so the flag routes each pointer back to its allocator.
static MI: AtomicBool = AtomicBool::new(false);

// SAFETY: `alloc` hands out disjoint, suitably aligned pieces of a region
// owned by this allocator (or defers to `System`), and `dealloc` returns to
// `System` exactly the pointers that did not come from the region.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = BASE.load(Relaxed);
        if BUMPING.load(Relaxed) && base != 0 {
            let start = USED.load(Relaxed).next_multiple_of(layout.align());
            if start + layout.size() <= REGION {
                USED.store(start + layout.size(), Relaxed);
                ALLOCS.fetch_add(1, Relaxed);
                return (base + start) as *mut u8;
            }
        }
        #[cfg(feature = "mimalloc")]
        if MI.load(Relaxed) {
            // SAFETY: forwarded unchanged.
            return unsafe { mimalloc::MiMalloc.alloc(layout) };
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let base = BASE.load(Relaxed);
        let p = ptr as usize;
        if base != 0 && p >= base && p < base + REGION {
            return;
        }
        #[cfg(feature = "mimalloc")]
        if MI.load(Relaxed) {
            // SAFETY: `MI` was set when `ptr` was allocated (see `MI`).
            return unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) };
        }
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Bump = Bump;

#[derive(Clone, Copy, PartialEq)]
enum Way {
    Malloc,
    Mimalloc,
    BumpDrop,
    BumpForget,
}

fn turn(data: &[u8], loops: u32, way: Way) -> f64 {
    MI.store(way == Way::Mimalloc, Relaxed);
    let t0 = Instant::now();
    for _ in 0..loops {
        if way == Way::BumpDrop || way == Way::BumpForget {
            USED.store(0, Relaxed);
            BUMPING.store(true, Relaxed);
        }
        let t = Term::decode(black_box(data));
        if way == Way::BumpForget {
            std::mem::forget(black_box(t));
        } else {
            drop(black_box(t));
        }
        BUMPING.store(false, Relaxed);
    }
    let elapsed = t0.elapsed();
    MI.store(false, Relaxed);
    data.len() as f64 * f64::from(loops) / 1e6 / elapsed.as_secs_f64()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: decode_bound CORPUS_FILE [LOOPS]");
        return ExitCode::from(2);
    };
    let loops: u32 = match args.get(2).map(|s| s.parse()) {
        None => 40,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("decode_bound: LOOPS must be a positive integer");
            return ExitCode::from(2);
        }
    };
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("decode_bound: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = Term::decode(&data) {
        eprintln!("decode_bound: {path} does not decode: {e}");
        return ExitCode::from(1);
    }
    let Ok(layout) = Layout::from_size_align(REGION, 4096) else {
        return ExitCode::from(1);
    };
    // SAFETY: a non-zero size; the region lives until the process ends.
    let region = unsafe { System.alloc(layout) };
    if region.is_null() {
        eprintln!("decode_bound: cannot reserve {} MiB", REGION >> 20);
        return ExitCode::from(1);
    }
    BASE.store(region as usize, Relaxed);

    // One counted decode, which also touches the pages the turns reuse.
    ALLOCS.store(0, Relaxed);
    USED.store(0, Relaxed);
    BUMPING.store(true, Relaxed);
    let t = Term::decode(&data);
    BUMPING.store(false, Relaxed);
    drop(t);
    let (allocs, bytes) = (ALLOCS.load(Relaxed), USED.load(Relaxed));

    let ways = [Way::Malloc, Way::Mimalloc, Way::BumpDrop, Way::BumpForget];
    let mut best = [0.0f64; 4];
    for _ in 0..TURNS {
        for (i, &way) in ways.iter().enumerate() {
            if way == Way::Mimalloc && cfg!(not(feature = "mimalloc")) {
                continue;
            }
            best[i] = best[i].max(turn(&data, loops, way));
        }
    }
    println!(
        "decode bound, {} KiB corpus, one decode = {allocs} allocations, {:.1} MB: \
         glibc {:.1} MB/s, mimalloc {:.1} MB/s, bump+drop {:.1} MB/s, \
         bump without drop {:.1} MB/s (best of {TURNS} × {loops})",
        data.len() / 1024,
        bytes as f64 / 1e6,
        best[0],
        best[1],
        best[2],
        best[3],
    );
    ExitCode::SUCCESS
}
