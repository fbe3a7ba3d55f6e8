//! reportsTo links, made once every row of the file is in.
use super::planned::{changes_of, record_text};
use super::{outcome, Claim, BATCH};
use crate::bulk::{self, Kind};
use crate::entity::{upload, upload_row, user};
use crate::jobs::Fence;
use muster_import::{normalize_key, Field, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{HashMap, HashSet};

pub(super) const MANAGER_COLUMNS: bulk::Columns = &[("id", Kind::BigInt), ("reports_to_id", Kind::BigInt)];
/// What linking managers reads of a planned row: its id, its result, the
/// userIds of its user and of its manager, its outcome and its planned changes.
pub(super) type LinkRow =
    (i64, Option<String>, Option<String>, Option<String>, Option<String>, Option<serde_json::Value>);

/// reportsTo may name a user created later in the same file, so managers are
/// linked once every row is in: for new users, and for existing users whose
/// planned changes include reportsTo. Not for other rows that name a manager:
/// theirs was already that one at the preview, and linking it again, minutes
/// after the row's batch, would overwrite a manager an admin set since.
/// Setting the same manager twice changes nothing,
/// which keeps this step safe to repeat after a resume. A manager who is not
/// there (their row failed or was skipped) is said in the row's result.
/// Returns false if the job's lease was lost: then nothing more is written.
pub(super) async fn link_managers(
    db: &DatabaseConnection,
    upload: &upload::Model,
    last_index: i32,
    claim: Option<&Claim>,
) -> Result<bool, DbErr> {
    // Closed ranges of row_index, as in the load: an open range with a LIMIT had
    // PostgreSQL read ever more of the upload per query (60 ms a page at 300k rows).
    let mut after = 0i32;
    while after < last_index {
        let rows = rows_naming_a_manager(db, upload, after).await?;
        after += BATCH as i32;
        let links = links_to_make(&rows);
        if links.is_empty() {
            continue;
        }
        let ids = user_ids(db, upload.tenant_id, &links).await?;
        let mut linked = Vec::new();
        let mut missing = Vec::new();
        for (row_id, result, who, manager, shown) in &links {
            match (ids.get(who), ids.get(manager)) {
                (Some(&id), Some(&manager_id)) => linked.push(bulk::Row::with_capacity(2).int(id).int(manager_id)),
                (Some(_), None) => missing.push((*row_id, *result, shown)),
                (None, _) => {}
            }
        }
        if !write_links(db, upload.tenant_id, claim, linked, missing).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A link to make: the row's id and result, the user's and the manager's
/// keys, and the manager's userId as the file gives it.
type Link<'r> = (i64, &'r Option<String>, String, String, String);

/// The rows in the range after `after` that were applied and name a manager.
async fn rows_naming_a_manager(
    db: &DatabaseConnection,
    upload: &upload::Model,
    after: i32,
) -> Result<Vec<LinkRow>, DbErr> {
    // Only the rows whose user has a manager, and of them only what linking
    // needs: reading whole rows (each record parsed as JSON) took a tenth of the
    // client's time in a load of 100k new users that had no manager at all.
    let (user_key, manager_key) = (record_text(db, "user_id"), record_text(db, "reports_to"));
    upload_row::Entity::find()
        .select_only()
        .column(upload_row::Column::Id)
        .column(upload_row::Column::Result)
        .column_as(Expr::cust(user_key.clone()), "user_key")
        .column_as(Expr::cust(manager_key.clone()), "manager_key")
        .column(upload_row::Column::Outcome)
        .column(upload_row::Column::Changes)
        .filter(upload_row::Column::UploadId.eq(upload.id))
        .filter(upload_row::Column::TenantId.eq(upload.tenant_id))
        .filter(upload_row::Column::RowIndex.gt(after))
        .filter(upload_row::Column::RowIndex.lte(after + BATCH as i32))
        .filter(upload_row::Column::Outcome.is_in([outcome::ADDED, outcome::UPDATED, outcome::JOINER, outcome::LEAVER]))
        .filter(Expr::cust(format!("{manager_key} IS NOT NULL")))
        .order_by_asc(upload_row::Column::RowIndex)
        .into_tuple()
        .all(db)
        .await
}

/// The links of new users, and of existing users whose planned changes
/// include reportsTo.
fn links_to_make(rows: &[LinkRow]) -> Vec<Link<'_>> {
    // The record holds the engine's checked values; parsed again all the same.
    rows.iter()
        .filter(|(_, _, _, _, outcome, changes)| {
            outcome.as_deref() == Some(outcome::ADDED)
                || changes_of(changes.as_ref()).iter().any(|c| c.field == Field::ReportsTo)
        })
        .filter_map(|(id, result, user, manager, _, _)| {
            let user = UserId::parse(user.as_deref()?).ok()?;
            let manager = UserId::parse(manager.as_deref()?).ok()?.into_inner();
            Some((*id, result, normalize_key(user.as_str()), normalize_key(&manager), manager))
        })
        .collect()
}

/// The ids of the users and managers the links name, by key.
async fn user_ids(db: &DatabaseConnection, tenant_id: i64, links: &[Link<'_>]) -> Result<HashMap<String, i64>, DbErr> {
    let keys: HashSet<&String> = links.iter().flat_map(|(_, _, a, b, _)| [a, b]).collect();
    Ok(user::Entity::find()
        .select_only()
        .columns([user::Column::UserIdNorm, user::Column::Id])
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(bulk::one_of(db.get_database_backend(), user::Column::UserIdNorm, keys.into_iter().cloned().collect()))
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

/// Sets the managers found, and says in the rows of the others that theirs
/// was not loaded, under the claim; false when it is no longer held.
async fn write_links(
    db: &DatabaseConnection,
    tenant_id: i64,
    claim: Option<&Claim>,
    linked: Vec<bulk::Row>,
    missing: Vec<(i64, &Option<String>, &String)>,
) -> Result<bool, DbErr> {
    let Some(txn) = crate::jobs::begin_fenced(db, claim, Fence::Renew).await? else {
        return Ok(false);
    };
    bulk::update_by_id(&txn, "users", MANAGER_COLUMNS, linked, tenant_id, "true").await?;
    // sea-query's placeholder for a custom expression: `$1` on PostgreSQL, `?` on SQLite.
    let append = match txn.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => "COALESCE(result, '') || $1",
        _ => "COALESCE(result, '') || ?",
    };
    for (row_id, result, manager) in missing {
        let note = format!("reportsTo {manager:?} not set: that user was not loaded");
        let result = result.clone().unwrap_or_default();
        if !result.contains(&note) {
            // Appended in SQL, not written over the value read: the row's
            // mail may be recorded as sent meanwhile ("queued" -> "sent").
            upload_row::Entity::update_many()
                .col_expr(upload_row::Column::Result, Expr::cust_with_values(append, [format!("; {note}")]))
                .filter(upload_row::Column::Id.eq(row_id))
                .filter(upload_row::Column::TenantId.eq(tenant_id))
                .exec(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(true)
}
