//! The Content-Security-Policy of a page: scripts only from Muster itself (the
//! hydration script inline, by this response's nonce), WebAssembly compiled
//! from them, workers only from Muster (the upload page's validator), nothing
//! framing a page, no plugins, forms posting only to Muster.
use axum::http::{header, HeaderValue};
use leptos::prelude::*;

/// The policy for a page whose inline scripts carry `nonce`.
pub fn for_page(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'nonce-{nonce}'; worker-src 'self'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Gives the page being rendered a fresh nonce (Leptos puts it on the scripts
/// it writes inline) and its response the policy that names it.
pub fn provide() {
    leptos::nonce::provide_nonce();
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&for_page(&nonce)) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_policy_allows_exactly_the_app_its_wasm_and_its_worker() {
        let policy = for_page("abc");
        for part in [
            "script-src 'self' 'wasm-unsafe-eval' 'nonce-abc'",
            "worker-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(part), "{part} in {policy}");
        }
        // Nothing inline but what carries the nonce, for scripts and styles alike.
        assert!(!policy.contains("'unsafe-inline'") && !policy.contains("'unsafe-eval'"), "{policy}");
    }
}
