use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the rows of a load ended, so far or in all (the event stream's
/// `counts`, by the same names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    pub added: u64,
    pub updated: u64,
    pub leavers: u64,
    pub joiners: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub errors: u64,
}

/// One upload as its page shows it, read from the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadView {
    pub id: i64,
    pub file_name: String,
    /// `validating`, `ready`, `queued`, `running`, `done`, `failed` or `cancelled`.
    pub state: String,
    pub uploaded_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub rows_total: i64,
    pub rows_done: i64,
    /// Rows per second so far, while it loads or once it has.
    pub rate: Option<f64>,
    pub mode: String,
    pub all_or_nothing: bool,
    /// Planned rows by status (`New`, `Update`, …), and how many of each are ticked.
    pub planned: BTreeMap<String, u64>,
    pub ticked: BTreeMap<String, u64>,
    /// Problems of the file as a whole; `file_error` if any stops the load.
    pub file_problems: Vec<String>,
    pub file_error: bool,
    pub needs_confirmation: bool,
    pub roles_added: Vec<String>,
    pub groups_added: Vec<String>,
    pub outcomes: Option<Outcomes>,
    pub summary: Option<String>,
    pub error: Option<String>,
    pub check_differs: Option<String>,
    /// A queued load waits behind this upload.
    pub waiting_behind: Option<i64>,
    /// Rows "Retry failed rows" would take again.
    pub failed_rows: u64,
    /// The event stream's cursor when this was read: the page follows on from it.
    pub cursor: i64,
}

impl UploadView {
    pub fn is_live(&self) -> bool {
        matches!(self.state.as_str(), "validating" | "queued" | "running")
    }
}

#[server(endpoint = "upload_overview")]
pub async fn upload_overview(upload_id: i64) -> Result<UploadView, AppError> {
    let (tenant_id, _) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    overview(&state.db, tenant_id, upload_id).await?.ok_or_else(|| AppError::Invalid("No such upload.".into()))
}

#[cfg(feature = "ssr")]
pub(crate) async fn overview(
    db: &muster_store::DatabaseConnection,
    tenant_id: i64,
    upload_id: i64,
) -> Result<Option<UploadView>, AppError> {
    use muster_store::{events, jobs, uploads};
    // The cursor first: an event recorded while the rest is read is heard again, not lost.
    let cursor = events::latest_id(db, tenant_id).await?;
    let Some(upload) = uploads::find(db, tenant_id, upload_id).await? else { return Ok(None) };
    let options = uploads::options_of(&upload);
    let summary = uploads::plan_summary_of(&upload);
    // The plan's own counts: the rows' statuses never change after it.
    let planned = summary
        .as_ref()
        .map(|s| {
            muster_import::RowStatus::ALL
                .into_iter()
                .map(|status| (status.as_str().to_owned(), s.counts.get(status)))
                .filter(|(_, n)| *n > 0)
                .collect()
        })
        .unwrap_or_default();
    let ticked = if upload.state == uploads::UploadState::Ready {
        uploads::selected_counts(db, tenant_id, upload_id).await?
    } else {
        BTreeMap::new()
    };
    let loaded = upload.state == uploads::UploadState::Running || upload.state.is_finished();
    let outcomes = if loaded { Some(outcomes_of(db, tenant_id, upload_id).await?) } else { None };
    let finished = upload.state.is_finished();
    let failed_rows = if finished { uploads::count_to_retry(db, &upload).await? } else { 0 };
    let uploaded_by = muster_store::tenants::uploader_label(db, tenant_id, upload.uploaded_by).await?;
    let rate = upload.started_at.map(|started| {
        let until = upload.finished_at.unwrap_or_else(chrono::Utc::now);
        let seconds = (until - started).num_milliseconds().max(1) as f64 / 1000.0;
        upload.rows_done as f64 / seconds
    });
    let waiting_behind =
        if upload.state == uploads::UploadState::Queued { jobs::waiting_behind(db, &upload).await? } else { None };
    let mode = serde_json::to_value(options.plan.mode).ok().and_then(|v| v.as_str().map(str::to_owned));
    Ok(Some(UploadView {
        id: upload.id,
        file_name: upload.file_name.clone(),
        state: upload.state.as_str().to_owned(),
        uploaded_by,
        created_at: upload.created_at.to_rfc3339(),
        started_at: upload.started_at.map(|t| t.to_rfc3339()),
        finished_at: upload.finished_at.map(|t| t.to_rfc3339()),
        rows_total: upload.rows_total.into(),
        rows_done: upload.rows_done.into(),
        rate,
        mode: mode.unwrap_or_default(),
        all_or_nothing: options.load.stop_on_error,
        planned,
        ticked,
        file_problems: summary.iter().flat_map(|s| s.file_diagnostics.iter().map(|d| d.message.clone())).collect(),
        file_error: summary.as_ref().is_some_and(|s| !s.file_ok()),
        needs_confirmation: summary.as_ref().is_some_and(|s| s.needs_confirmation),
        roles_added: summary.as_ref().map(|s| s.roles_added.clone()).unwrap_or_default(),
        groups_added: summary.as_ref().map(|s| s.groups_added.clone()).unwrap_or_default(),
        outcomes,
        summary: upload.summary.clone(),
        error: upload.error.clone(),
        check_differs: upload.check_differs.clone(),
        waiting_behind,
        failed_rows,
        cursor,
    }))
}

/// The rows' outcomes so far, counted by the database.
#[cfg(feature = "ssr")]
async fn outcomes_of(
    db: &muster_store::DatabaseConnection,
    tenant_id: i64,
    upload_id: i64,
) -> Result<Outcomes, AppError> {
    let mut c = muster_store::load::LoadCounts::default();
    for (outcome, n) in muster_store::uploads::outcome_counts(db, tenant_id, upload_id).await? {
        c.add(&outcome, n);
    }
    Ok(Outcomes {
        added: c.added,
        updated: c.updated,
        leavers: c.leavers,
        joiners: c.joiners,
        deleted: c.deleted,
        unchanged: c.unchanged,
        skipped: c.skipped,
        errors: c.errors,
    })
}
