use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use muster_store::DatabaseConnection;
use std::sync::Arc;

/// What the web layer needs to know of the server's configuration.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Mark cookies `Secure`: set when Muster is served over HTTPS.
    pub secure_cookies: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`ssr::client`).
    pub trusted_proxies: Vec<super::client::Proxies>,
    /// The largest file an upload may send, in bytes.
    pub max_upload_bytes: usize,
    /// How often an event stream looks for events it was not told of.
    pub events_look_every: std::time::Duration,
}

/// Shared by every request handler and, through Leptos context, every server function.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub leptos_options: LeptosOptions,
    pub config: Arc<WebConfig>,
    /// The open event streams: per tenant one reader, per admin a count.
    pub(crate) streams: Arc<super::events::Streams>,
}

impl AppState {
    pub fn new(db: DatabaseConnection, leptos_options: LeptosOptions, config: WebConfig) -> Self {
        Self { db, leptos_options, config: Arc::new(config), streams: Default::default() }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
