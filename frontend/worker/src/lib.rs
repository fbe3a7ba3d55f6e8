//! The upload page's Web Worker (`validate.js` beside this crate) runs the
//! import engine here, on the same bytes the server reads: its own module,
//! fetched only by the page that validates a file, not by every page.
use wasm_bindgen::prelude::wasm_bindgen;

/// Validates a users file exactly as the server's first pass does, and returns
/// the [`muster_import::plan::Validation`] as JSON. `mapping` is the admin's
/// mapping of unknown headings as JSON (`{"Dept": "organisation", "Notes": null}`).
#[wasm_bindgen]
pub fn validate_users_file(bytes: &[u8], tenant_slug: Option<String>, mapping: Option<String>) -> String {
    let mapping: muster_import::HeadingMapping = match mapping.as_deref().map(serde_json::from_str).transpose() {
        Ok(mapping) => mapping.unwrap_or_default(),
        Err(e) => return format!("{{\"error\":{:?}}}", format!("the heading mapping is not valid: {e}")),
    };
    let report = muster_import::validate(bytes, &mapping, tenant_slug.as_deref());
    serde_json::to_string(&report).unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}

/// The picked file with a `problem` column (each line's problems, joined),
/// passwords blanked and formulas neutralised: to fix the file in a spreadsheet.
#[wasm_bindgen]
pub fn problems_csv(bytes: &[u8], mapping: Option<String>) -> Vec<u8> {
    let mapping: muster_import::HeadingMapping =
        mapping.as_deref().and_then(|m| serde_json::from_str(m).ok()).unwrap_or_default();
    let verdict = muster_import::validate(bytes, &mapping, None);
    let mut by_line: std::collections::HashMap<u64, Vec<String>> = std::collections::HashMap::new();
    for d in &verdict.file_diagnostics {
        by_line.entry(d.line.unwrap_or(1)).or_default().push(d.message.clone());
    }
    for line in verdict.problems {
        by_line.entry(line.line).or_default().extend(line.diagnostics.into_iter().map(|d| d.message));
    }
    muster_import::results::problems_file(bytes, Some(verdict.delimiter), &mapping, |line| {
        by_line.get(&line).map(|m| m.join("; ")).unwrap_or_default()
    })
}

/// The benchmark's baseline: the raw `csv` crate counting the records of the same
/// bytes, with nothing validated.
#[cfg(feature = "bench")]
#[wasm_bindgen]
pub fn baseline_count_records(bytes: &[u8]) -> u32 {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut count = 0;
    while reader.read_byte_record(&mut record).unwrap_or(false) {
        count += 1;
    }
    count
}
