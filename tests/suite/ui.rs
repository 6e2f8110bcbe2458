//! Compile errors: every case under `tests/ui/<category>/` must fail to compile with exactly
//! its `.stderr`, and the `*-pass.rs` cases must compile and run.
//! `TRYBUILD=overwrite cargo test --test suite ui` rewrites the snapshots after a deliberate change.

use std::path::PathBuf;

#[test]
fn ui() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/ui")
        .flat_map(|dir| std::fs::read_dir(dir.expect("a category").path()).expect("a category"))
        .map(|f| f.expect("a case").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "only {} UI cases", cases.len());
    let t = trybuild::TestCases::new();
    for case in cases {
        let rel = case
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .expect("inside the crate")
            .to_path_buf();
        if rel.to_string_lossy().ends_with("-pass.rs") {
            t.pass(rel);
        } else {
            t.compile_fail(rel);
        }
    }
}
