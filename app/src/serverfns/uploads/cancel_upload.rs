use crate::error::AppError;
use leptos::prelude::*;

/// Cancels a planned upload that will not be loaded: it stays in the history
/// with its preview, and the same file may be sent again.
#[server(endpoint = "cancel_upload")]
pub async fn cancel_upload(upload_id: i64) -> Result<(), AppError> {
    let (tenant_id, _) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    if muster_store::uploads::cancel(&state.db, tenant_id, upload_id).await? {
        Ok(())
    } else {
        Err(AppError::Invalid("Only a planned upload that is not loading can be cancelled.".into()))
    }
}
