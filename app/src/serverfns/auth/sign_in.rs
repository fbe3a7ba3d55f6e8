use crate::error::AppError;
use leptos::prelude::*;

/// Signs in a tenant's user (tenant slug given) or a platform admin (tenant blank).
#[server(endpoint = "sign_in")]
pub async fn sign_in(tenant: String, login: String, password: String) -> Result<(), AppError> {
    use crate::ssr::client::{client_address, throttle_client};
    use crate::ssr::{cookies, AppState};
    use axum::extract::ConnectInfo;
    use axum::http::{header, HeaderMap, HeaderValue};
    use muster_store::auth::{self, AuthError, Principal};
    use std::net::SocketAddr;

    let state = expect_context::<AppState>();
    let headers: HeaderMap = leptos_axum::extract().await.map_err(AppError::internal)?;
    // A plain form post (before the WebAssembly has loaded) cannot show an error in
    // place, so it is sent back to the sign-in page with the reason in the query.
    let plain_form = crate::ssr::is_plain_form(&headers);
    let fail = |err: AppError| {
        if plain_form {
            let reason = match err {
                AppError::Throttled { .. } => "throttled",
                AppError::Busy => "busy",
                AppError::BadCredentials => "credentials",
                _ => "error",
            };
            leptos_axum::redirect(&format!("/signin?failed={reason}"));
        }
        Err(err)
    };

    let client = leptos_axum::extract::<ConnectInfo<SocketAddr>>()
        .await
        .map(|ConnectInfo(peer)| throttle_client(client_address(peer.ip(), &headers, &state.config.trusted_proxies)))
        .unwrap_or_else(|_| "unknown".into());
    let principal = match auth::sign_in(&state.db, &tenant, &login, &password, &client).await {
        Ok(principal) => principal,
        // The text typed is not logged: it may be a password in the wrong
        // field, or a megabyte of anything.
        Err(AuthError::BadCredentials) => {
            tracing::info!(%client, "sign-in refused");
            return fail(AppError::BadCredentials);
        }
        Err(AuthError::Throttled(wait)) => {
            tracing::info!(%client, "sign-in throttled");
            return fail(AppError::Throttled { minutes: wait.as_secs().div_ceil(60).max(1) });
        }
        Err(AuthError::Busy) => {
            let response = expect_context::<leptos_axum::ResponseOptions>();
            response.set_status(axum::http::StatusCode::SERVICE_UNAVAILABLE);
            response.insert_header(header::RETRY_AFTER, HeaderValue::from_static("2"));
            return fail(AppError::Busy);
        }
        Err(AuthError::Db(err)) => return fail(AppError::internal(err)),
    };
    let token = muster_store::sessions::create(&state.db, &principal).await?;
    // The session this browser had before ends: a cookie planted or left
    // behind is worth nothing once its holder signs in again.
    if let Some(previous) = cookies::session_token(&headers, state.config.secure_cookies) {
        muster_store::sessions::delete(&state.db, &previous).await?;
    }
    let response = expect_context::<leptos_axum::ResponseOptions>();
    let cookie = cookies::session_cookie(&token, state.config.secure_cookies);
    response.insert_header(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(AppError::internal)?);
    let landing = match principal {
        Principal::PlatformAdmin { .. } => "/tenants",
        Principal::TenantUser { .. } => "/",
    };
    leptos_axum::redirect(landing);
    Ok(())
}
