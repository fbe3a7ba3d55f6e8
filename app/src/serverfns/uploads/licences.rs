use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The signed-in admin's tenant's licences, for the upload page's licence line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicencesView {
    /// `None`: unlimited.
    pub limit: Option<u64>,
    pub used: u64,
    /// The largest file the upload page may send, in bytes.
    pub max_upload_bytes: u64,
}

#[server(endpoint = "licences")]
pub async fn licences() -> Result<LicencesView, AppError> {
    let (tenant_id, _) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    match muster_store::tenants::licences(&state.db, tenant_id).await? {
        Some(l) => {
            Ok(LicencesView { limit: l.limit, used: l.used, max_upload_bytes: state.config.max_upload_bytes as u64 })
        }
        None => Err(AppError::Forbidden),
    }
}
