//! Replays the saved fuzz corpora (`fuzz/corpus/<target>/`) and the crash
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
fn every_crash_regression_runs_without_panic() {
    let (_, failed) = replay(&fuzz_dir().join("regressions"));
    assert!(
        failed.is_empty(),
        "crash regressions panicked again:\n{}",
        failed.join("\n")
    );
}
