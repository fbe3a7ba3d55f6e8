//! Every request passes here: cross-site writes are refused, the session cookie is
//! resolved to a principal once, and pages need a signed-in person.
use super::cookies::session_token;
use super::state::AppState;
use crate::error::AppError;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use muster_store::auth::Principal;
use muster_store::sessions;

#[derive(Debug, Clone)]
pub struct CurrentPrincipal(pub Option<Principal>);

/// Paths anyone may fetch without a session.
fn is_public(path: &str) -> bool {
    path == "/signin"
        || path.starts_with("/invitation/")
        || path.starts_with("/pkg/")
        || path == "/favicon.ico"
        || path == "/healthz"
}

/// What an account that must change its password may still reach.
fn may_while_changing_password(path: &str) -> bool {
    is_public(path)
        || matches!(
            path,
            "/change-password" | "/api/change_password" | "/api/sign_in" | "/api/sign_out" | "/api/current_session"
        )
}

/// A state-changing request that a browser marks as coming from another origin
/// is refused, whatever cookie it carries: defence in depth beside SameSite=Lax.
/// That includes `same-site` (another subdomain of the same site), whose
/// requests carry a Lax cookie: Muster's own pages post from its own origin.
fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) != Some(host),
        _ => false,
    }
}

pub async fn session_layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if path.starts_with("/pkg/") {
        return next.run(req).await;
    }
    if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) && is_cross_site(req.headers()) {
        return (StatusCode::FORBIDDEN, "Cross-site request refused").into_response();
    }
    // Leptos's multipart decoder panics on a body that is not multipart: such
    // a request is refused here, with the reason, before it reaches it.
    if path == "/api/send_upload" && !is_multipart_form(req.headers()) {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Send the file as multipart/form-data, with a boundary.")
            .into_response();
    }
    let principal = match session_token(req.headers(), state.config.secure_cookies) {
        Some(token) => match sessions::find(&state.db, &token).await {
            Ok(found) => found,
            Err(err) => {
                tracing::error!(%err, "session lookup failed");
                return (StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable; try again shortly.")
                    .into_response();
            }
        },
        None => None,
    };
    // The event stream answers 401 instead: a browser's EventSource cannot follow
    // a redirect to a page, and stops there.
    let is_page = method == Method::GET && !path.starts_with("/api/") && path != "/events" && !is_public(&path);
    if is_page && principal.is_none() {
        return Redirect::to("/signin").into_response();
    }
    // A password an admin typed or a mail carried is changed before anything
    // else is done with it.
    let must_change = matches!(&principal, Some(Principal::TenantUser { must_change_password: true, .. }));
    if must_change && !may_while_changing_password(&path) {
        return if is_page {
            Redirect::to("/change-password").into_response()
        } else {
            (StatusCode::FORBIDDEN, "Change your password first: /change-password").into_response()
        };
    }
    req.extensions_mut().insert(CurrentPrincipal(principal));
    let mut response = next.run(req).await;
    // No page of Muster may be framed by another site (clickjacking: a framed
    // Load or Delete button under a decoy).
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static("frame-ancestors 'none'"));
    // Pages hold people's data and one-time links: no shared or back-button
    // cache keeps them, and no link followed from them carries their address
    // (an invitation's token is in it) to another site.
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Whether a request's body says it is `multipart/form-data` with a boundary.
fn is_multipart_form(headers: &HeaderMap) -> bool {
    let Some(kind) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let mut parts = kind.split(';').map(str::trim);
    parts.next().is_some_and(|mime| mime.eq_ignore_ascii_case("multipart/form-data"))
        && parts
            .any(|p| p.to_ascii_lowercase().strip_prefix("boundary=").is_some_and(|b| !b.trim_matches('"').is_empty()))
}

/// The signed-in principal of the request a server function is serving.
pub async fn current_principal() -> Result<Option<Principal>, AppError> {
    let Extension(CurrentPrincipal(principal)) =
        leptos_axum::extract::<Extension<CurrentPrincipal>>().await.map_err(AppError::internal)?;
    Ok(principal)
}

/// A tenant admin's tenant and user, or `Forbidden`.
pub async fn require_tenant_admin() -> Result<(i64, i64), AppError> {
    match current_principal().await? {
        Some(Principal::TenantUser { tenant_id, user_pk, is_admin: true, .. }) => Ok((tenant_id, user_pk)),
        Some(_) => Err(AppError::Forbidden),
        None => Err(AppError::NotSignedIn),
    }
}

pub async fn require_platform_admin() -> Result<i64, AppError> {
    match current_principal().await? {
        Some(Principal::PlatformAdmin { id, .. }) => Ok(id),
        Some(_) => Err(AppError::Forbidden),
        None => Err(AppError::NotSignedIn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_a_multipart_form_with_a_boundary_reaches_the_upload_function() {
        assert!(is_multipart_form(&headers(&[("content-type", "multipart/form-data; boundary=x1")])));
        assert!(is_multipart_form(&headers(&[("content-type", "Multipart/Form-Data;BOUNDARY=\"a b\"")])));
        assert!(!is_multipart_form(&headers(&[("content-type", "multipart/form-data")])));
        assert!(!is_multipart_form(&headers(&[("content-type", "multipart/form-data; boundary=")])));
        assert!(!is_multipart_form(&headers(&[("content-type", "application/x-www-form-urlencoded")])));
        assert!(!is_multipart_form(&headers(&[])));
    }

    #[test]
    fn cross_site_detection() {
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(is_cross_site(&headers(&[("origin", "https://evil.example"), ("host", "muster.example")])));
        assert!(!is_cross_site(&headers(&[("origin", "http://127.0.0.1:3000"), ("host", "127.0.0.1:3000")])));
        assert!(is_cross_site(&headers(&[("origin", "null"), ("host", "127.0.0.1:3000")])));
        assert!(!is_cross_site(&headers(&[("host", "127.0.0.1:3000")])));
    }
}
