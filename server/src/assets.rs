//! The front end's static files under `/pkg`. A build puts them in a folder
//! named after their content (`pkg/v-<hash>/`, see `scripts/toolchain.sh`),
//! each beside its brotli and gzip forms: they are sent precompressed and
//! browsers keep them for a year, since the next build's files have another
//! name. Anything else under `/pkg` is sent as it is and revalidated.
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use std::path::Path;
use tower_http::services::ServeDir;

/// The folder under the site root that the pages load the front end from:
/// `pkg/v-<hash>` as `pkg/current` names it, or `pkg` for a build without one.
pub fn pkg_dir(site_root: &Path) -> String {
    std::fs::read_to_string(site_root.join("pkg").join("current"))
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| {
            name.strip_prefix("v-").is_some_and(|hash| !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .filter(|name| site_root.join("pkg").join(name).is_dir())
        .map_or_else(|| "pkg".to_owned(), |name| format!("pkg/{name}"))
}

pub fn routes<S: Clone + Send + Sync + 'static>(site_root: &Path) -> Router<S> {
    let files = ServeDir::new(site_root.join("pkg")).precompressed_br().precompressed_gzip();
    Router::new().nest_service("/pkg", Router::new().fallback_service(files).layer(axum::middleware::from_fn(cache)))
}

/// A year for a versioned file; "check first" for the rest.
async fn cache(request: Request, next: Next) -> Response {
    let versioned = request.uri().path().starts_with("/v-");
    let mut response = next.run(request).await;
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let policy = if versioned { "public, max-age=31536000, immutable" } else { "no-cache" };
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}
