use crate::error::AppError;
use leptos::prelude::*;

/// Sets the invited user's password, once; returns their tenant's slug and their
/// user ID, which they sign in with.
#[server(endpoint = "accept_invitation")]
pub async fn accept_invitation(token: String, password: String, repeat: String) -> Result<(String, String), AppError> {
    use axum::http::HeaderMap;
    use muster_store::invitations::{self, InvitationError};

    let state = expect_context::<crate::ssr::AppState>();
    let headers: HeaderMap = leptos_axum::extract().await.map_err(AppError::internal)?;
    // A plain form post (before the WebAssembly has loaded) is sent back to the
    // page with the outcome in the query, as the sign-in form is.
    let plain_form = crate::ssr::is_plain_form(&headers);
    let back = |code: &str| {
        if plain_form {
            let token: String = token.chars().filter(char::is_ascii_alphanumeric).collect();
            leptos_axum::redirect(&format!("/invitation/{token}?result={code}"));
        }
    };
    if password != repeat {
        back("mismatch");
        return Err(AppError::Invalid("The two passwords differ. Type the same password twice.".into()));
    }
    match invitations::accept(&state.db, &token, &password).await {
        Ok(accepted) => {
            back("set");
            Ok((accepted.tenant_slug, accepted.user_id))
        }
        Err(InvitationError::Db(err)) => {
            back("error");
            Err(AppError::internal(err))
        }
        Err(refused) => {
            back(match refused {
                InvitationError::Used => "used",
                InvitationError::Expired(_) => "expired",
                InvitationError::WeakPassword(_) => "weak",
                InvitationError::Inactive => "inactive",
                _ => "unknown",
            });
            Err(AppError::Invalid(refused.to_string()))
        }
    }
}
