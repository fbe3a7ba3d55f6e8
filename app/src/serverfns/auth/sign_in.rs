use crate::error::AppError;
use leptos::prelude::*;

/// Signs in a tenant's user (tenant slug given) or a platform admin (tenant blank).
#[server(endpoint = "sign_in")]
pub async fn sign_in(tenant: String, login: String, password: String) -> Result<(), AppError> {
    use crate::ssr::client::client_address;
    use crate::ssr::{cookies, AppState};
    use axum::extract::ConnectInfo;
    use axum::http::{header, HeaderMap, HeaderValue};
    use muster_import::normalize_key;
    use muster_store::auth::{self, AuthError, Principal};
    use std::net::SocketAddr;

    let state = expect_context::<AppState>();
    let headers: HeaderMap = leptos_axum::extract().await.map_err(AppError::internal)?;
    // A plain form post (before the WebAssembly has loaded) cannot show an error in
    // place, so it is sent back to the sign-in page with the reason in the query.
    let plain_form = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    let fail = |err: AppError| {
        if plain_form {
            let reason = match err {
                AppError::Throttled { .. } => "throttled",
                AppError::BadCredentials => "credentials",
                _ => "error",
            };
            leptos_axum::redirect(&format!("/signin?failed={reason}"));
        }
        Err(err)
    };

    let address = leptos_axum::extract::<ConnectInfo<SocketAddr>>()
        .await
        .map(|ConnectInfo(peer)| client_address(peer.ip(), &headers, &state.config.trusted_proxies).to_string())
        .unwrap_or_else(|_| "unknown".into());
    let account_key = vec![format!("{}/{}", normalize_key(&tenant), normalize_key(&login))];
    let address_key = vec![address];
    // Counted before the password is checked, so that a burst of attempts sent
    // side by side cannot all pass before the first one fails; a success or a
    // database failure gives its attempt back.
    let throttled = state.account_throttle.attempt(&account_key).and_then(|()| {
        state.address_throttle.attempt(&address_key).inspect_err(|_| state.account_throttle.forgive(&account_key))
    });
    if let Err(wait) = throttled {
        return fail(AppError::Throttled { minutes: wait.as_secs().div_ceil(60).max(1) });
    }

    let principal = match auth::authenticate(&state.db, &tenant, &login, &password).await {
        Ok(principal) => principal,
        Err(AuthError::BadCredentials) => {
            tracing::info!(tenant = %tenant, login = %login, "sign-in refused");
            return fail(AppError::BadCredentials);
        }
        Err(AuthError::Db(err)) => {
            state.account_throttle.forgive(&account_key);
            state.address_throttle.forgive(&address_key);
            return fail(AppError::internal(err));
        }
    };
    state.account_throttle.record_success(&account_key);
    state.address_throttle.forgive(&address_key);
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
