use crate::error::AppError;
use crate::session::SessionView;
use leptos::prelude::*;

/// Who is signed in, or `None`.
#[server(endpoint = "current_session")]
pub async fn current_session() -> Result<Option<SessionView>, AppError> {
    let principal = crate::ssr::current_principal().await?;
    Ok(principal.as_ref().map(SessionView::from))
}
