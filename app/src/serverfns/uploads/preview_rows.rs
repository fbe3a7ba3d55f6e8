use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A field an Update changes, from the old value to the new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// A planned row as the preview lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewRow {
    /// The file's line; 0 for a user the file does not name (Old).
    pub line: i64,
    pub status: String,
    pub ticked: bool,
    pub user_id: Option<String>,
    pub full_name: Option<String>,
    /// The engine's sentence for the row (SPEC 4).
    pub message: String,
    /// Its other errors and warnings, each a whole sentence.
    pub problems: Vec<String>,
    pub changes: Vec<FieldChange>,
    /// What the load did with it, once it has.
    pub result: Option<String>,
}

/// One page of the preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewPage {
    pub rows: Vec<PreviewRow>,
    /// The position to ask for the next page from; `None` on the last page.
    pub next: Option<i32>,
}

/// Rows shown at once.
pub const PREVIEW_PAGE: u64 = 50;

/// The upload's planned rows after position `after`, of one `status` if given.
#[server(endpoint = "preview_rows")]
pub async fn preview_rows(upload_id: i64, status: Option<String>, after: Option<i32>) -> Result<PreviewPage, AppError> {
    let (tenant_id, _) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    let status = status.filter(|s| !s.is_empty());
    if let Some(status) = &status {
        if !muster_import::RowStatus::ALL.iter().any(|s| s.as_str() == status) {
            return Err(AppError::Invalid(format!("{status:?} is not a status of a planned row.")));
        }
    }
    let page =
        muster_store::uploads::preview_page(&state.db, tenant_id, upload_id, status.as_deref(), after, PREVIEW_PAGE)
            .await?;
    Ok(PreviewPage { rows: page.rows.into_iter().map(preview_row).collect(), next: page.next })
}

#[cfg(feature = "ssr")]
fn preview_row(row: muster_store::entity::upload_row::Model) -> PreviewRow {
    let diagnostics: Vec<muster_import::Diagnostic> =
        row.diagnostics.and_then(|d| serde_json::from_value(d).ok()).unwrap_or_default();
    let changes: Vec<muster_import::plan::Change> =
        row.changes.and_then(|c| serde_json::from_value(c).ok()).unwrap_or_default();
    let message = row.message.unwrap_or_else(|| row.status.clone());
    PreviewRow {
        line: row.line.into(),
        status: row.status,
        ticked: row.selected,
        user_id: row.user_id,
        full_name: row.full_name,
        problems: diagnostics.into_iter().map(|d| d.message).filter(|m| *m != message).collect(),
        message,
        changes: changes
            .into_iter()
            .map(|c| FieldChange { field: c.field.name().to_owned(), old: c.old, new: c.new })
            .collect(),
        result: row.result,
    }
}
