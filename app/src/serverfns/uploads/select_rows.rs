use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Which rows a tick box stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RowsToTick {
    /// These lines of the file.
    Lines(Vec<i32>),
    /// Every row of this status (`New`, `Update`, …): kept as a rule on the
    /// server, one statement, not a list of the rows in the page.
    Status(String),
}

/// Ticks (or unticks) rows of a planned upload for the load: unticked rows
/// are skipped. Only while the upload is ready.
#[server(endpoint = "select_rows")]
pub async fn select_rows(upload_id: i64, rows: RowsToTick, ticked: bool) -> Result<u64, AppError> {
    let (tenant_id, _) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    let db = &state.db;
    let upload = muster_store::uploads::find(db, tenant_id, upload_id)
        .await?
        .ok_or_else(|| AppError::Invalid("No such upload.".into()))?;
    if upload.state != muster_store::uploads::UploadState::Ready {
        return Err(AppError::Invalid(format!("The upload is {}: its rows can no longer be ticked.", upload.state)));
    }
    Ok(match rows {
        RowsToTick::Lines(lines) if lines.len() <= 1000 => {
            muster_store::uploads::set_selected(db, tenant_id, upload_id, &lines, ticked).await?
        }
        RowsToTick::Lines(_) => return Err(AppError::Invalid("Tick at most 1,000 rows at once.".into())),
        RowsToTick::Status(status) => {
            // Only rows a load applies may be ticked or unticked.
            if !["New", "Update", "Leaver", "Joiner", "Delete"].contains(&status.as_str()) {
                return Err(AppError::Invalid(format!("Rows of status {status:?} cannot be ticked.")));
            }
            muster_store::uploads::set_selected_of_status(db, tenant_id, upload_id, &status, ticked).await?
        }
    })
}
