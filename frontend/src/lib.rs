//! The WebAssembly entry point: hydration, and the import engine exposed to
//! scripts (a Web Worker, the browser benchmark) on the same bytes the server reads.
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(muster_app::App);
}

/// Validates a users file exactly as the server's first pass does, and returns
/// the [`muster_import::plan::Validation`] as JSON.
#[wasm_bindgen]
pub fn validate_users_file(bytes: &[u8], tenant_slug: Option<String>) -> String {
    let report = muster_import::validate(bytes, &muster_import::HeadingMapping::new(), tenant_slug.as_deref());
    serde_json::to_string(&report).unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}

/// The benchmark's baseline: the raw `csv` crate counting the records of the same
/// bytes, with nothing validated.
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
