//! Server-only glue between axum, the session cookie and the server functions.
pub mod client;
pub mod cookies;
pub mod downloads;
pub mod events;
pub mod guard;
pub mod policy;
pub mod state;

pub use guard::{current_principal, require_platform_admin, require_tenant_admin, CurrentPrincipal};
pub use state::{AppState, WebConfig};

/// Whether a server function was posted by a plain HTML form (before the
/// WebAssembly loaded): it cannot show an error in place, so the function
/// redirects back to its page with the outcome in the query.
pub fn is_plain_form(headers: &axum::http::HeaderMap) -> bool {
    headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
}
