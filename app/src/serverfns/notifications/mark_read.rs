use crate::error::AppError;
use leptos::prelude::*;

/// Marks one of the signed-in admin's notifications read, or all (`None`).
#[server(endpoint = "mark_read")]
pub async fn mark_read(id: Option<i64>) -> Result<u64, AppError> {
    let (tenant_id, user_pk) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    Ok(muster_store::notifications::mark_read(&state.db, tenant_id, user_pk, id).await?)
}
