#![recursion_limit = "512"]
//! The WebAssembly entry point: hydration. The import engine the upload page
//! runs in the browser is a module of its own (`worker/`).
use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(muster_app::App);
}
