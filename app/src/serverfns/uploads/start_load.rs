use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What became of a request to load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadStarted {
    /// Queued: a worker starts it within a moment.
    Queued,
    /// Waiting for the tenant's other load(s) first.
    Waiting { behind: Option<i64> },
    /// It was already queued or loading (another tab, a second click).
    AlreadyLoading,
}

/// Step 3 (SPEC 5): queues the load of a ready upload and returns at once; the
/// page follows it over the event stream. A sync beyond its safeguard needs
/// `confirmed` (the admin's second confirmation).
#[server(endpoint = "start_load")]
pub async fn start_load(upload_id: i64, confirmed: bool) -> Result<LoadStarted, AppError> {
    use muster_store::jobs::{self, Enqueued};
    let (tenant_id, _) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    let db = &state.db;
    let upload = muster_store::uploads::find(db, tenant_id, upload_id)
        .await?
        .ok_or_else(|| AppError::Invalid("No such upload.".into()))?;
    // All or nothing with rows in error loads nothing: it is not queued.
    if muster_store::uploads::options_of(&upload).load.stop_on_error
        && upload.state == muster_store::uploads::UploadState::Ready
        && muster_store::uploads::plan_summary_of(&upload).is_some_and(|s| s.counts.error > 0)
    {
        return Err(AppError::Invalid(
            "Not loaded: all or nothing, and rows have errors. Fix them and send the file again.".into(),
        ));
    }
    let enqueued = if confirmed {
        jobs::enqueue_confirmed_load(db, &upload).await?
    } else {
        jobs::enqueue_load(db, &upload).await?
    };
    Ok(match enqueued {
        Enqueued::Queued(_) => LoadStarted::Queued,
        Enqueued::Waiting { .. } => {
            let upload = muster_store::uploads::find(db, tenant_id, upload_id).await?.unwrap_or(upload);
            LoadStarted::Waiting { behind: jobs::waiting_behind(db, &upload).await? }
        }
        Enqueued::AlreadyLoading(_) => LoadStarted::AlreadyLoading,
        Enqueued::Refused(why) => return Err(AppError::Invalid(format!("Not loaded: {why}."))),
    })
}
