//! Uploads: storing a file, planning it against the tenant (the engine, on a
//! blocking thread, streaming its rows into `upload_rows` in batches), and the
//! admin's choices before a load.
mod create;
mod preview;
mod results;
use crate::entity::upload;
use crate::load::UploadOptions;
use chrono::Utc;
pub use create::{create_and_plan, file, VALIDATION_ABANDONED_AFTER};
use muster_import::PlanSummary;
pub use preview::*;
pub use results::*;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use sha2::{Digest, Sha256};

pub use crate::entity::upload::UploadState;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{}", muster_import::sizes::too_large(*.size as u64, *.limit as u64))]
    TooLarge { size: usize, limit: usize },
    #[error("This file is already upload {existing} ({state}); it was not submitted again. A planned upload that will not be loaded can be cancelled first")]
    Duplicate { existing: i64, state: UploadState },
    #[error(transparent)]
    Db(#[from] DbErr),
}

pub struct NewUpload {
    pub uploaded_by: Option<i64>,
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub options: UploadOptions,
}

pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl From<serde_json::Error> for UploadError {
    fn from(err: serde_json::Error) -> Self {
        UploadError::Db(DbErr::Custom(err.to_string()))
    }
}

/// The options an upload was submitted with (the defaults for a row written
/// before they were stored).
pub fn options_of(upload: &upload::Model) -> UploadOptions {
    upload.options.clone().and_then(|o| serde_json::from_value(o).ok()).unwrap_or_default()
}

/// The plan's summary of an upload (`None` before it is planned).
pub fn plan_summary_of(upload: &upload::Model) -> Option<PlanSummary> {
    upload.plan_summary.clone().and_then(|s| serde_json::from_value(s).ok())
}

pub async fn find<C: ConnectionTrait>(db: &C, tenant_id: i64, id: i64) -> Result<Option<upload::Model>, DbErr> {
    upload::Entity::find_by_id(id).filter(upload::Column::TenantId.eq(tenant_id)).one(db).await
}

/// Cancels an upload that was planned and not loaded (the admin turned it down,
/// or the command line stopped before loading): it stays in the history with its
/// preview, and the same file may be submitted again. False when it was not
/// ready (already queued, loaded, or not this tenant's).
pub async fn cancel<C: ConnectionTrait>(db: &C, tenant_id: i64, upload_id: i64) -> Result<bool, DbErr> {
    let result = upload::Entity::update_many()
        .col_expr(upload::Column::State, Expr::value(UploadState::Cancelled))
        .col_expr(upload::Column::FinishedAt, Expr::value(Utc::now()))
        .filter(upload::Column::Id.eq(upload_id))
        .filter(upload::Column::TenantId.eq(tenant_id))
        .filter(upload::Column::State.eq(UploadState::Ready))
        .exec(db)
        .await?;
    if result.rows_affected == 1 {
        crate::events::note_upload_changed(db, tenant_id, upload_id, crate::events::kind::CANCELLED, None).await;
    }
    Ok(result.rows_affected == 1)
}

/// Says on the upload that the server's check of the file's own rules counted
/// differently from the browser's.
pub async fn note_check_differs<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
    note: &str,
) -> Result<(), DbErr> {
    upload::Entity::update_many()
        .col_expr(upload::Column::CheckDiffers, Expr::value(note))
        .filter(upload::Column::Id.eq(upload_id))
        .filter(upload::Column::TenantId.eq(tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// A page of the tenant's uploads, newest first: those before upload `before`
/// (by id; `None`: the newest), at most `limit` (1 to 200).
pub async fn list<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<upload::Model>, DbErr> {
    use sea_orm::QuerySelect;
    let mut query = upload::Entity::find().filter(upload::Column::TenantId.eq(tenant_id));
    if let Some(before) = before {
        query = query.filter(upload::Column::Id.lt(before));
    }
    query.order_by_desc(upload::Column::Id).limit(limit.clamp(1, 200)).all(db).await
}

/// The tenant's upload loading now, if any (a tenant loads one at a time).
pub async fn running<C: ConnectionTrait>(db: &C, tenant_id: i64) -> Result<Option<upload::Model>, DbErr> {
    upload::Entity::find()
        .filter(upload::Column::TenantId.eq(tenant_id))
        .filter(upload::Column::State.eq(UploadState::Running))
        .order_by_desc(upload::Column::Id)
        .one(db)
        .await
}
