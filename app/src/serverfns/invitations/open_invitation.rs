use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Whose invitation a link is, for the page to greet them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationView {
    pub user_id: String,
    pub first_name: Option<String>,
    pub tenant_slug: String,
    pub tenant_name: String,
    /// The day the link stops working, as people write it ("7 December 2026").
    pub expires: String,
}

/// The invitation a link's token opens, or why it cannot be used.
#[server(endpoint = "open_invitation")]
pub async fn open_invitation(token: String) -> Result<InvitationView, AppError> {
    use muster_store::invitations::{self, InvitationError};
    let state = expect_context::<crate::ssr::AppState>();
    match invitations::open(&state.db, &token).await {
        Ok(open) => Ok(InvitationView {
            user_id: open.user_id,
            first_name: open.first_name,
            tenant_slug: open.tenant_slug,
            tenant_name: open.tenant_name,
            expires: open.expires_at.format("%-d %B %Y").to_string(),
        }),
        Err(InvitationError::Db(err)) => Err(AppError::internal(err)),
        Err(refused) => Err(AppError::Invalid(refused.to_string())),
    }
}
