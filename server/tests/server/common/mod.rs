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

/// The tests' HTTP client: redirects are answered by the tests themselves, and a
/// request the server never answers fails its test, naming the step, instead of
/// hanging the run. The read timeout is per read, so an event stream that a
/// test holds open for a while is not cut.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(10))
        .read_timeout(std::time::Duration::from_secs(120))
        .build()
        .expect("an HTTP client")
}

/// Polls `check` until it holds, failing the test, named by `what`, after `timeout`.
pub async fn wait_for(what: &str, timeout: std::time::Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check().await {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
