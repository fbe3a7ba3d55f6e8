//! `cargo run -p muster-import --example verdict -- TENANT FILE...`
//!
//! Prints, one line per file, the engine's validation of it as JSON: what the
//! browser's `validate_users_file` returns for the same bytes. The end-to-end
//! test `end2end/tests/verdict.test.mjs` compares the two.
fn main() {
    let mut args = std::env::args().skip(1);
    let tenant = args.next().expect("usage: verdict TENANT FILE...");
    for path in args {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        let report = muster_import::validate(&bytes, &muster_import::HeadingMapping::new(), Some(&tenant));
        println!("{}", serde_json::to_string(&report).expect("a validation serialises"));
    }
}
