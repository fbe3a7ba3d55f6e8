use crate::error::AppError;
use leptos::prelude::*;

#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::ssr::{cookies, AppState};
    use axum::http::{header, HeaderMap, HeaderValue};

    let state = expect_context::<AppState>();
    let headers: HeaderMap = leptos_axum::extract().await.map_err(AppError::internal)?;
    if let Some(token) = cookies::session_token(&headers, state.config.secure_cookies) {
        muster_store::sessions::delete(&state.db, &token).await?;
    }
    let response = expect_context::<leptos_axum::ResponseOptions>();
    let cookie = cookies::cleared_session_cookie(state.config.secure_cookies);
    response.insert_header(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(AppError::internal)?);
    leptos_axum::redirect("/signin");
    Ok(())
}
