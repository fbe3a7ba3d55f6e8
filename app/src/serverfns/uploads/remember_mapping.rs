use crate::error::AppError;
use leptos::prelude::*;
use std::collections::BTreeMap;

/// Remembers the mapping given to a file with these headings, for the
/// tenant's next file with the same ones.
#[server(endpoint = "remember_mapping")]
pub async fn remember_mapping(
    headings: Vec<String>,
    mapping: BTreeMap<String, Option<String>>,
) -> Result<(), AppError> {
    let (tenant_id, _) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    if headings.len() > 1000 || mapping.len() > 1000 {
        return Err(AppError::Invalid("Too many headings to remember.".into()));
    }
    let fields = super::heading_mapping(mapping)?;
    muster_store::mappings::remember(&state.db, tenant_id, &headings, &fields).await?;
    Ok(())
}
