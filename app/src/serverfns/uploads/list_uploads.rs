use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// An upload as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadListed {
    pub id: i64,
    pub file_name: String,
    pub state: String,
    pub uploaded_by: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Seconds from the start of its load to its end.
    pub duration: Option<f64>,
    pub rows_total: i64,
    pub rows_done: i64,
    pub summary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadList {
    pub uploads: Vec<UploadListed>,
    /// Where the next (older) page starts; `None` on the last.
    pub older: Option<i64>,
    /// The event stream's cursor when this was read.
    pub cursor: i64,
}

pub const LIST_PAGE: u64 = 25;

/// The tenant's uploads, newest first, those before `before` (an upload id).
#[server(endpoint = "list_uploads")]
pub async fn list_uploads(before: Option<i64>) -> Result<UploadList, AppError> {
    let (tenant_id, _) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    let db = &state.db;
    let cursor = muster_store::events::latest_id(db, tenant_id).await?;
    let mut found = muster_store::uploads::list(db, tenant_id, before, LIST_PAGE + 1).await?;
    let older = if found.len() as u64 > LIST_PAGE {
        found.truncate(LIST_PAGE as usize);
        found.last().map(|u| u.id)
    } else {
        None
    };
    let mut uploads = Vec::with_capacity(found.len());
    let mut names = std::collections::HashMap::new();
    for u in found {
        // A page of uploads is mostly a few admins': each is read once.
        let uploaded_by = match names.get(&u.uploaded_by) {
            Some(name) => String::clone(name),
            None => {
                let name = muster_store::tenants::uploader_label(db, tenant_id, u.uploaded_by).await?;
                names.insert(u.uploaded_by, name.clone());
                name
            }
        };
        uploads.push(UploadListed {
            id: u.id,
            file_name: u.file_name,
            state: u.state.as_str().to_owned(),
            uploaded_by,
            created_at: u.created_at.to_rfc3339(),
            duration: u.started_at.zip(u.finished_at).map(|(s, f)| (f - s).num_milliseconds() as f64 / 1000.0),
            rows_total: u.rows_total.into(),
            rows_done: u.rows_done.into(),
            summary: u.summary,
        });
    }
    Ok(UploadList { uploads, older, cursor })
}
