//! Replays the saved fuzz corpora (`fuzz/corpus/<target>/`), the seeds
//! captured from real OTP (`fuzz/seeds/corpus/<target>/`) and the crash
//! regressions (`fuzz/regressions/<target>/`) through the same entry points
//! the `cargo fuzz` targets call (`erlnode::fuzzing`), on the stable
//! toolchain. A panic on any input fails the test and names the file.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// The files of `dir`, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Runs every file of `root/<target>/` through the target; returns how many
/// ran and the files that panicked.
fn replay(root: &Path) -> (usize, Vec<String>) {
    let mut ran = 0;
    let mut failed = Vec::new();
    for (target, run) in erlnode::fuzzing::TARGETS {
        for path in files(&root.join(target)) {
            let data = std::fs::read(&path).unwrap();
            ran += 1;
            if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
                failed.push(format!("{target}: {}", path.display()));
            }
        }
    }
    (ran, failed)
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

#[test]
fn every_corpus_input_runs_without_panic() {
    let root = fuzz_dir().join("corpus");
    for (target, _) in erlnode::fuzzing::TARGETS {
        let n = files(&root.join(target)).len();
        assert!(
            n > 0,
            "fuzz/corpus/{target}/ is empty or missing; the replay would prove nothing"
        );
    }
    let (ran, failed) = replay(&root);
    assert!(
        failed.is_empty(),
        "{} of {ran} corpus inputs panicked:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn every_real_seed_runs_without_panic() {
    let root = fuzz_dir().join("seeds").join("corpus");
    let (ran, failed) = replay(&root);
    assert!(ran > 0, "no seeds in fuzz/seeds/corpus/");
    assert!(
        failed.is_empty(),
        "{} of {ran} seeds panicked:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn every_crash_regression_runs_without_panic() {
    let (_, failed) = replay(&fuzz_dir().join("regressions"));
    assert!(
        failed.is_empty(),
        "crash regressions panicked again:\n{}",
        failed.join("\n")
    );
}

/// The seeds captured from a real `erl` (fuzz/seeds/capture.py) drive both
/// handshake machines to the end when the digest is made right (options bit
/// 3), and fail on the digest when it is not: the targets reach every step.
#[test]
fn real_handshake_seeds_reach_the_end() {
    use erlnode::fuzzing::{Outcome, handshake_acceptor_outcome, handshake_initiator_outcome};
    let corpus = fuzz_dir().join("seeds").join("corpus");
    let read = |target: &str, name: &str| std::fs::read(corpus.join(target).join(name)).unwrap();
    // Acceptor: a real OTP 25 send_name 'N' and challenge reply 'r'.
    let acc = read("handshake_acceptor", "real_opts8");
    assert_eq!(acc[0], 8);
    assert_eq!(handshake_acceptor_outcome(&acc), Outcome::Established);
    let mut wrong = acc.clone();
    wrong[0] = 0;
    assert_eq!(handshake_acceptor_outcome(&wrong), Outcome::Failed);
    // Status nok / not_allowed: refused before the challenge.
    wrong[0] = 2;
    assert_eq!(handshake_acceptor_outcome(&wrong), Outcome::Rejected);
    // Initiator: a real OTP 25 acceptor's status, challenge and ack, for a
    // static and a dynamic (NAME_ME) name.
    for (name, opts) in [("real_opts8", 8), ("real_opts9", 9)] {
        let ini = read("handshake_initiator", name);
        assert_eq!(ini[0], opts);
        assert_eq!(handshake_initiator_outcome(&ini), Outcome::Established);
        let mut wrong = ini.clone();
        wrong[0] = opts & !8;
        assert_eq!(handshake_initiator_outcome(&wrong), Outcome::Failed);
    }
}
