//! The planned rows as the preview reads them: pages by position, counts by status and outcome, and the ticks that say which rows load.
use super::*;
use crate::entity::{upload, upload_row};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

/// Rows of an upload that is still ready, checked in the UPDATE itself: a
/// tick that arrives as the load is queued changes nothing.
pub(super) fn while_ready(tenant_id: i64, upload_id: i64) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{ExprTrait, Query};
    Expr::col(upload_row::Column::UploadId).in_subquery(
        Query::select()
            .column(upload::Column::Id)
            .from(upload::Entity)
            .and_where(Expr::col(upload::Column::Id).eq(upload_id))
            .and_where(Expr::col(upload::Column::TenantId).eq(tenant_id))
            .and_where(Expr::col(upload::Column::State).eq(UploadState::Ready))
            .to_owned(),
    )
}

/// Sets the tick of an upload's rows (those the caller's filter keeps), only
/// while the upload is ready.
fn ticking(tenant_id: i64, upload_id: i64, selected: bool) -> sea_orm::UpdateMany<upload_row::Entity> {
    upload_row::Entity::update_many()
        .col_expr(upload_row::Column::Selected, Expr::value(selected))
        .filter(upload_row::Column::TenantId.eq(tenant_id))
        .filter(upload_row::Column::UploadId.eq(upload_id))
        .filter(while_ready(tenant_id, upload_id))
}

/// The admin's Add/Update tick boxes (lines of the file; Old rows have none):
/// unticked rows are skipped by the load. Only while the upload is ready.
pub async fn set_selected<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
    lines: &[i32],
    selected: bool,
) -> Result<u64, DbErr> {
    let result = ticking(tenant_id, upload_id, selected)
        .filter(upload_row::Column::Line.gt(0))
        .filter(upload_row::Column::Line.is_in(lines.iter().copied()))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

pub async fn rows<C: ConnectionTrait>(db: &C, tenant_id: i64, upload_id: i64) -> Result<Vec<upload_row::Model>, DbErr> {
    upload_row::Entity::find()
        .filter(upload_row::Column::TenantId.eq(tenant_id))
        .filter(upload_row::Column::UploadId.eq(upload_id))
        .order_by_asc(upload_row::Column::RowIndex)
        .all(db)
        .await
}

/// One page of an upload's planned rows for the preview, in file order.
#[derive(Debug, Clone)]
pub struct PreviewPage {
    pub rows: Vec<upload_row::Model>,
    /// The position to ask for the next page from; `None` on the last page.
    pub next: Option<i32>,
}

/// The most rows one preview page holds.
pub const PREVIEW_PAGE_MAX: u64 = 1000;

/// The planned rows after row position `after` (`None`: from the start), only
/// those of `status` if given (`New`, `Update`, … as in [`RowStatus`]), at most
/// `limit` (taken between 1 and [`PREVIEW_PAGE_MAX`]). Pages by position, not by
/// offset: the thousandth page of a million-row upload costs what the first does.
///
/// [`RowStatus`]: muster_import::RowStatus
pub async fn preview_page<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
    status: Option<&str>,
    after: Option<i32>,
    limit: u64,
) -> Result<PreviewPage, DbErr> {
    use sea_orm::QuerySelect;
    let limit = limit.clamp(1, PREVIEW_PAGE_MAX);
    let mut query = upload_row::Entity::find()
        .filter(upload_row::Column::TenantId.eq(tenant_id))
        .filter(upload_row::Column::UploadId.eq(upload_id))
        .filter(upload_row::Column::RowIndex.gt(after.unwrap_or(i32::MIN)));
    if let Some(status) = status {
        query = query.filter(upload_row::Column::Status.eq(status));
    }
    // One row more than asked says whether another page follows.
    let mut rows = query.order_by_asc(upload_row::Column::RowIndex).limit(limit + 1).all(db).await?;
    let next = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.row_index)
    } else {
        None
    };
    Ok(PreviewPage { rows, next })
}

/// How many planned rows an upload has of each status, ticked or not: the
/// tests' view of a plan (the preview counts ticked rows, [`selected_counts`]).
#[cfg(feature = "testing")]
pub async fn status_counts<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
) -> Result<std::collections::BTreeMap<String, u64>, DbErr> {
    Ok(named(count_by(db, tenant_id, upload_id, upload_row::Column::Status).await?))
}

/// Counts by value, without the rows that have none.
pub(super) fn named(counts: Vec<(Option<String>, u64)>) -> std::collections::BTreeMap<String, u64> {
    counts.into_iter().filter_map(|(value, n)| Some((value?, n))).collect()
}

/// An upload's rows counted by the values of one text column, by the database:
/// a million values never cross as strings.
pub(crate) async fn count_by<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
    column: upload_row::Column,
) -> Result<Vec<(Option<String>, u64)>, DbErr> {
    count_where(db, tenant_id, upload_id, column, sea_orm::Condition::all()).await
}

/// [`count_by`] of the rows that meet `only`.
pub(super) async fn count_where<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
    column: upload_row::Column,
    only: sea_orm::Condition,
) -> Result<Vec<(Option<String>, u64)>, DbErr> {
    use sea_orm::QuerySelect;
    let counts: Vec<(Option<String>, i64)> = upload_row::Entity::find()
        .select_only()
        .column(column)
        .column_as(upload_row::Column::Id.count(), "n")
        .filter(upload_row::Column::TenantId.eq(tenant_id))
        .filter(upload_row::Column::UploadId.eq(upload_id))
        .filter(only)
        .group_by(column)
        .into_tuple()
        .all(db)
        .await?;
    Ok(counts.into_iter().map(|(value, n)| (value, n as u64)).collect())
}

/// The position of an upload's last planned row (`None` when it has none).
pub(crate) async fn last_row_index<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
) -> Result<Option<i32>, DbErr> {
    use sea_orm::QuerySelect;
    Ok(upload_row::Entity::find()
        .select_only()
        .column_as(upload_row::Column::RowIndex.max(), "last")
        .filter(upload_row::Column::TenantId.eq(tenant_id))
        .filter(upload_row::Column::UploadId.eq(upload_id))
        .into_tuple::<Option<i32>>()
        .one(db)
        .await?
        .flatten())
}

/// How many rows of an upload ended with the given outcome (`error`, `added`, …).
pub async fn count_outcome<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
    outcome: &str,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    upload_row::Entity::find()
        .filter(upload_row::Column::TenantId.eq(tenant_id))
        .filter(upload_row::Column::UploadId.eq(upload_id))
        .filter(upload_row::Column::Outcome.eq(outcome))
        .count(db)
        .await
}

/// Ticks or unticks every row of one status (`New`, `Update`, …) of a planned
/// upload: one statement by rule, however many rows it has. Nothing changes
/// once the upload has left "ready" (a load reads the ticks).
pub async fn set_selected_of_status<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
    status: &str,
    selected: bool,
) -> Result<u64, DbErr> {
    let result = ticking(tenant_id, upload_id, selected).filter(upload_row::Column::Status.eq(status)).exec(db).await?;
    Ok(result.rows_affected)
}

/// How many rows of a planned upload of each status are ticked to load.
pub async fn selected_counts<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
) -> Result<std::collections::BTreeMap<String, u64>, DbErr> {
    let ticked = sea_orm::Condition::all().add(upload_row::Column::Selected.eq(true));
    Ok(named(count_where(db, tenant_id, upload_id, upload_row::Column::Status, ticked).await?))
}

/// How many rows of an upload ended with each outcome (`added`, `error`, …).
pub async fn outcome_counts<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
) -> Result<std::collections::BTreeMap<String, u64>, DbErr> {
    Ok(named(count_by(db, tenant_id, upload_id, upload_row::Column::Outcome).await?))
}
