#![no_main]
//! Any bytes through everything that parses outside input: decoding, delimiter
//! detection, headings, rows, the rules between rows and planning.
use libfuzzer_sys::fuzz_target;
use muster_import::plan::validate_in_parts;
use muster_import::{plan, validate, Directory, HeadingMapping, PlanOptions, RowStatus};

fuzz_target!(|data: &[u8]| {
    let v = validate(data, &HeadingMapping::new(), Some("demo"));
    assert!(v.rows_with_errors <= v.rows);
    // Read in parts side by side (as a large file is), the verdict is the same.
    assert_eq!(validate_in_parts(data, &HeadingMapping::new(), Some("demo"), Some(3)), v);
    let p = plan(data, &Directory::empty("demo"), &PlanOptions::default());
    assert_eq!(p.summary.counts.total() as usize, p.rows.len());
    for row in &p.rows {
        assert!(row.status != RowStatus::Error || row.diagnostics.iter().any(|d| d.is_error()));
    }
});
