#![no_main]
//! Any bytes through everything that parses outside input: decoding, delimiter
//! detection, headings, rows, the rules between rows and planning.
use libfuzzer_sys::fuzz_target;
use muster_import::plan::validate_in_parts;
use muster_import::source::both_readings;
use muster_import::{plan, validate, Delimiter, Directory, HeadingMapping, PlanOptions, RowStatus};

fuzz_target!(|data: &[u8]| {
    // The reader's quick way for lines without quotes and csv_core's way for
    // the others give, together, what the csv crate reads.
    if let Ok(text) = std::str::from_utf8(data) {
        for delimiter in [Delimiter::Comma, Delimiter::Semicolon, Delimiter::Tab] {
            let [ours, theirs] = both_readings(text, delimiter);
            assert_eq!(ours, theirs, "{text:?}");
        }
    }
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
