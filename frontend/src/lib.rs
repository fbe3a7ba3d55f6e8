//! Only the entry point: everything the browser runs lives in `muster-app`.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(muster_app::App);
}
