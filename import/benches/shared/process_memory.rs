//! This process's memory as Linux reports it in `/proc/self/status`, for the
//! benchmarks' figures. The load benchmark (`store/benches/load`) uses this
//! file too, by path: one definition for both, and the engine stays free of I/O.
#![allow(dead_code)] // each benchmark uses part of it

/// A field of /proc/self/status in MiB (`VmHWM`, the peak; `VmRSS`, now);
/// NaN where there is no such file (not Linux).
pub fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':'))).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The peak resident memory since the process began or its peak was reset.
pub fn peak_rss_mb() -> f64 {
    status_mb("VmHWM")
}

/// The resident memory now.
pub fn rss_mb() -> f64 {
    status_mb("VmRSS")
}

/// Resets the peak resident memory (VmHWM) to what the process holds now.
pub fn reset_peak_rss() {
    if let Err(err) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("# the peak memory could not be reset ({err}): it is the whole process's");
    }
}
