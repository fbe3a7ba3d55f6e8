//! Server-only glue between axum, the session cookie and the server functions.
pub mod client;
pub mod cookies;
pub mod downloads;
pub mod guard;
pub mod policy;
pub mod state;

pub use guard::{current_principal, require_platform_admin, require_tenant_admin, CurrentPrincipal};
pub use state::{AppState, WebConfig};
