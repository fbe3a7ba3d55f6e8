//! File sizes as admins read them, the same on the server and in the browser.

/// The refusal of a file over the upload limit, in bytes each.
pub fn too_large(size: u64, limit: u64) -> String {
    format!(
        "The file is {} ({size} bytes); files up to {} are accepted. Split it into smaller files, or ask for a higher limit",
        megabytes(size, f64::ceil),
        megabytes(limit, f64::floor)
    )
}

/// A size as admins read it: `50 MB`, `50.1 MB` (1 MB = 2^20 bytes, as the limit
/// is set), to a tenth rounded by `round`: a file up, its limit down, so that a
/// file over the limit never reads as the same size.
fn megabytes(bytes: u64, round: fn(f64) -> f64) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    if mb.fract() == 0.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{:.1} MB", round(mb * 10.0) / 10.0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_file_just_over_the_limit_never_reads_as_the_limit() {
        let limit = 3 * 1024 * 1024;
        assert_eq!(
            super::too_large(limit + 1, limit),
            format!("The file is 3.1 MB ({} bytes); files up to 3 MB are accepted. Split it into smaller files, or ask for a higher limit", limit + 1)
        );
        assert!(super::too_large(limit + limit / 2, limit + 100).contains("files up to 3.0 MB"));
    }
}
