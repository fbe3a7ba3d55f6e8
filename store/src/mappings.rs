//! Heading mappings remembered per tenant: the mapping an admin gave a file's
//! unknown headings is offered again for the next file with the same headings.
use crate::entity::heading_mapping;
use chrono::Utc;
use muster_import::HeadingMapping;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

/// The key of a heading line: its headings in order, trimmed, as written.
fn key(headings: &[String]) -> String {
    crate::tokens::digest_of_parts(headings.iter().map(|h| h.trim()))
}

/// The mapping last given to files with these headings in this tenant.
pub async fn remembered<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    headings: &[String],
) -> Result<Option<HeadingMapping>, DbErr> {
    let found = heading_mapping::Entity::find()
        .filter(heading_mapping::Column::TenantId.eq(tenant_id))
        .filter(heading_mapping::Column::HeadingsKey.eq(key(headings)))
        .one(db)
        .await?;
    // A stored mapping that no longer reads (a field renamed since) is none:
    // the admin maps the file again, and that mapping replaces it.
    Ok(found.and_then(|m| match serde_json::from_value(m.mapping) {
        Ok(mapping) => Some(mapping),
        Err(err) => {
            tracing::warn!(tenant = tenant_id, error = %err, "a remembered heading mapping no longer reads");
            None
        }
    }))
}

/// Remembers `mapping` for files with these headings in this tenant (the
/// latest one given wins).
pub async fn remember<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    headings: &[String],
    mapping: &HeadingMapping,
) -> Result<(), DbErr> {
    let model = heading_mapping::ActiveModel {
        tenant_id: Set(tenant_id),
        headings_key: Set(key(headings)),
        mapping: Set(serde_json::to_value(mapping).map_err(|e| DbErr::Custom(e.to_string()))?),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    heading_mapping::Entity::insert(model)
        .on_conflict(
            OnConflict::columns([heading_mapping::Column::TenantId, heading_mapping::Column::HeadingsKey])
                .update_columns([heading_mapping::Column::Mapping, heading_mapping::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}
