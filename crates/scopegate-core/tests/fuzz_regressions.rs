//! Every input kept for the fuzz targets, replayed through the targets' own properties by an
//! ordinary `cargo test`: the crashers found once (`fuzz/regressions/<target>/`) and the seeds
//! (`fuzz/seeds/<target>/`). The properties are `fuzz/src/lib.rs`, included here as a module so
//! that the fuzzer and this test check the same thing; the fuzz crate itself is built apart
//! (it needs libFuzzer).

#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_properties;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut all = Vec::new();
    for kind in ["regressions", "seeds"] {
        let dir = fuzz.join(kind).join(target);
        // A target with no crasher found yet has no regressions directory.
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            all.push(entry.expect("a directory entry").path());
        }
    }
    all.sort();
    assert!(!all.is_empty(), "no inputs for {target}");
    all
}

fn replay(target: &str, property: fn(&[u8])) {
    for input in inputs(target) {
        let data = std::fs::read(&input).expect("an input file");
        if std::panic::catch_unwind(|| property(&data)).is_err() {
            panic!("{target}: {} breaks the property", input.display());
        }
    }
}

#[test]
fn subject_access_review_inputs_keep_the_target_property() {
    replay(
        "subject_access_review",
        fuzz_properties::subject_access_review,
    );
}

#[test]
fn manifest_loader_inputs_keep_the_target_property() {
    replay("manifest_loader", fuzz_properties::manifest_loader);
}
