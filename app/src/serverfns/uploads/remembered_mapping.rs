use crate::error::AppError;
use leptos::prelude::*;
use std::collections::BTreeMap;

/// The mapping last given in this tenant to a file with these headings (in
/// order, as written): heading → field name, or `None` to ignore it.
#[server(endpoint = "remembered_mapping")]
pub async fn remembered_mapping(headings: Vec<String>) -> Result<BTreeMap<String, Option<String>>, AppError> {
    let (tenant_id, _) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    let found = muster_store::mappings::remembered(&state.db, tenant_id, &headings).await?;
    Ok(found
        .unwrap_or_default()
        .into_iter()
        .map(|(heading, field)| (heading, field.map(|f| f.name().to_owned())))
        .collect())
}
