//! What admins are told about their uploads (SPEC 5 step 3): stored per admin,
//! read or unread, and written in the transaction of the change they tell of,
//! so that a crash neither loses one nor writes it twice.
use crate::entity::{notification, upload, user};
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// Notification kinds.
pub mod kind {
    pub const VALIDATED: &str = "validated";
    pub const NOT_VALIDATED: &str = "not-validated";
    pub const QUEUED: &str = "queued";
    pub const WAITING: &str = "waiting";
    pub const STARTED: &str = "started";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
    pub const RESULTS_SENT: &str = "results-sent";
    pub const RESULTS_NOT_SENT: &str = "results-not-sent";
}

/// "1 row", "2500 rows" (digits ungrouped, as in the summary line).
pub(crate) fn rows(n: impl Into<u64>) -> String {
    match n.into() {
        1 => "1 row".to_owned(),
        n => format!("{n} rows"),
    }
}

/// Who is told about an upload: the admin who sent it, or, for one sent from
/// the command line, every admin of its tenant.
async fn recipients<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<Vec<i64>, DbErr> {
    if let Some(admin) = upload.uploaded_by {
        return Ok(vec![admin]);
    }
    user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::TenantId.eq(upload.tenant_id))
        .filter(user::Column::IsTenantAdmin.eq(true))
        .into_tuple()
        .all(db)
        .await
}

/// Tells the upload's admins `message` (in the caller's transaction).
pub async fn tell<C: ConnectionTrait>(db: &C, upload: &upload::Model, kind: &str, message: &str) -> Result<(), DbErr> {
    let now = Utc::now();
    let rows: Vec<_> = recipients(db, upload)
        .await?
        .into_iter()
        .map(|user_id| notification::ActiveModel {
            tenant_id: Set(upload.tenant_id),
            user_id: Set(user_id),
            upload_id: Set(Some(upload.id)),
            kind: Set(kind.to_owned()),
            message: Set(message.to_owned()),
            created_at: Set(now),
            read: Set(false),
            ..Default::default()
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    notification::Entity::insert_many(rows).exec_without_returning(db).await?;
    Ok(())
}

/// An admin's notifications, newest first: those before `before` (an id), at
/// most `limit` (1 to 100).
pub async fn latest<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    user_id: i64,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<notification::Model>, DbErr> {
    let mut query = notification::Entity::find()
        .filter(notification::Column::TenantId.eq(tenant_id))
        .filter(notification::Column::UserId.eq(user_id));
    if let Some(before) = before {
        query = query.filter(notification::Column::Id.lt(before));
    }
    query.order_by_desc(notification::Column::Id).limit(limit.clamp(1, 100)).all(db).await
}

pub async fn unread<C: ConnectionTrait>(db: &C, tenant_id: i64, user_id: i64) -> Result<u64, DbErr> {
    notification::Entity::find()
        .filter(notification::Column::TenantId.eq(tenant_id))
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::Read.eq(false))
        .count(db)
        .await
}

/// Marks one of the admin's notifications read, or all of them (`None`);
/// returns how many were unread.
pub async fn mark_read<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    user_id: i64,
    id: Option<i64>,
) -> Result<u64, DbErr> {
    let mut update = notification::Entity::update_many()
        .col_expr(notification::Column::Read, Expr::value(true))
        .filter(notification::Column::TenantId.eq(tenant_id))
        .filter(notification::Column::UserId.eq(user_id))
        .filter(notification::Column::Read.eq(false));
    if let Some(id) = id {
        update = update.filter(notification::Column::Id.eq(id));
    }
    Ok(update.exec(db).await?.rows_affected)
}
