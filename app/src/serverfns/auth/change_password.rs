use crate::error::AppError;
use leptos::prelude::*;

/// Changes the signed-in account's own password (the only thing an account
/// flagged "change password next time" may do until it has).
#[server(endpoint = "change_password")]
pub async fn change_password(current: String, password: String, repeat: String) -> Result<(), AppError> {
    use crate::ssr::{cookies, AppState};
    use axum::http::HeaderMap;
    use muster_store::auth::{self, ChangePasswordError};

    let state = expect_context::<AppState>();
    let Some(principal) = crate::ssr::current_principal().await? else {
        return Err(AppError::NotSignedIn);
    };
    let headers: HeaderMap = leptos_axum::extract().await.map_err(AppError::internal)?;
    // A plain form post (before the WebAssembly has loaded) is sent back to the
    // page with the outcome in the query, as the sign-in form is.
    let plain_form = crate::ssr::is_plain_form(&headers);
    let back = |code: &str| {
        if plain_form {
            leptos_axum::redirect(&format!("/change-password?result={code}"));
        }
    };
    if password != repeat {
        back("mismatch");
        return Err(AppError::Invalid("The two new passwords differ. Type the same password twice.".into()));
    }
    let keep = cookies::session_token(&headers, state.config.secure_cookies);
    match auth::change_password(&state.db, &principal, &current, &password, keep.as_deref()).await {
        Ok(()) => {
            if plain_form {
                leptos_axum::redirect("/");
            }
            Ok(())
        }
        Err(ChangePasswordError::Db(err)) => {
            back("error");
            Err(AppError::internal(err))
        }
        Err(ChangePasswordError::Busy) => {
            back("busy");
            Err(AppError::Busy)
        }
        Err(refused) => {
            back(match refused {
                ChangePasswordError::WrongCurrent => "current",
                ChangePasswordError::Weak(_) => "weak",
                _ => "same",
            });
            Err(AppError::Invalid(refused.to_string()))
        }
    }
}
