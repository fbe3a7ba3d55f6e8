use crate::error::AppError;
use leptos::prelude::*;

/// "Retry failed rows": a new upload of the rows that were not applied,
/// planned afresh against the tenant as it is now; returns its id, to open
/// at its preview.
#[server(endpoint = "retry_failed")]
pub async fn retry_failed(upload_id: i64) -> Result<i64, AppError> {
    use muster_store::uploads::{self, UploadError};
    let (tenant_id, user_pk) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    let tenant = muster_store::tenants::by_id(&state.db, tenant_id).await?.ok_or(AppError::Forbidden)?;
    // Rows a load is still to reach are not failed: only a finished load's are retried.
    match uploads::find(&state.db, tenant_id, upload_id).await? {
        Some(upload) if upload.state.is_finished() => {}
        Some(upload) => {
            return Err(AppError::Invalid(format!(
                "The upload is {}: only a finished load's rows are retried.",
                upload.state
            )))
        }
        None => return Err(AppError::Invalid("No such upload.".into())),
    }
    match uploads::retry_failed(&state.db, &tenant, upload_id, Some(user_pk), state.config.max_upload_bytes).await {
        Ok(Some(retry)) => Ok(retry.id),
        Ok(None) => Err(AppError::Invalid("No such upload.".into())),
        Err(UploadError::Duplicate { existing, .. }) => Ok(existing),
        Err(err) => Err(err.into()),
    }
}
