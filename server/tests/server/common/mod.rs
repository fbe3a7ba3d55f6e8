//! What the server's integration tests share.
#![allow(dead_code)]
pub mod smtp;

use std::path::PathBuf;

/// A fresh, empty folder for one test, named after it and this process (the
/// tests of a run share one process, so names are unique per test).
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("muster-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
