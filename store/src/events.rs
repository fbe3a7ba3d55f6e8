//! What happens to a tenant's uploads, as events in the database: the live
//! parts of the pages follow them over server-sent events. Each event carries
//! the upload's whole state at that moment (not a change to apply), so a page
//! that missed some needs only the latest. Event ids are the stream's cursor.
use crate::entity::{event, upload};
use crate::load::LoadCounts;
use chrono::Utc;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;
use tokio::sync::broadcast;

/// Event kinds, as the stream names them.
pub mod kind {
    pub const VALIDATED: &str = "validated";
    pub const QUEUED: &str = "queued";
    pub const STARTED: &str = "started";
    pub const PROGRESS: &str = "progress";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
    pub const CANCELLED: &str = "cancelled";
    /// Its admins were told something without its state changing (the results mailed).
    pub const TOLD: &str = "told";
}

/// An upload as an event shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadSnapshot {
    pub upload_id: i64,
    pub state: String,
    pub rows_done: i64,
    pub rows_total: i64,
    /// The rows' outcomes so far, while loading (and at the end).
    pub counts: Option<LoadCounts>,
    pub summary: Option<String>,
    pub error: Option<String>,
}

impl UploadSnapshot {
    pub fn of(upload: &upload::Model, counts: Option<LoadCounts>) -> Self {
        Self {
            upload_id: upload.id,
            state: upload.state.as_str().to_owned(),
            rows_done: upload.rows_done.into(),
            rows_total: upload.rows_total.into(),
            counts,
            summary: upload.summary.clone(),
            error: upload.error.clone(),
        }
    }
}

/// Events are kept this long; a stream whose cursor is older starts again.
pub const KEPT_FOR: chrono::Duration = chrono::Duration::hours(24);

/// The tenant of each event this process records, to wake that tenant's
/// streams only; events of other processes are found by the streams' regular look.
static RECORDED: LazyLock<broadcast::Sender<i64>> = LazyLock::new(|| broadcast::channel(256).0);

/// Hears the tenants of the events this process records from now on.
pub fn listen() -> broadcast::Receiver<i64> {
    RECORDED.subscribe()
}

/// Sent in place of a tenant when any tenant's events may have been missed
/// (the PostgreSQL listener reconnected): every stream reads again.
const EVERY_TENANT: i64 = 0;

/// The PostgreSQL channel events are announced on; a payload is only
/// `tenant:kind:id`, never a row or anyone's data.
const CHANNEL: &str = "muster_events";

/// Waits until an event of `tenant_id` is recorded by this process or, on
/// PostgreSQL, announced by another (or the caller's timeout). Having missed
/// some (a slow listener, a reconnected one) counts as hearing one.
pub async fn recorded(heard: &mut broadcast::Receiver<i64>, tenant_id: i64) {
    loop {
        match heard.recv().await {
            Ok(tenant) if tenant == tenant_id || tenant == EVERY_TENANT => return,
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}

/// Records that upload `upload_id` of the tenant changed, with its state as it
/// is in the database now. Called after the change committed, so that events'
/// ids follow the order in which their changes became visible. Nothing is
/// recorded for an upload that is not the tenant's.
pub async fn upload_changed<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
    kind: &str,
    counts: Option<LoadCounts>,
) -> Result<(), DbErr> {
    let Some(upload) = crate::uploads::find(db, tenant_id, upload_id).await? else {
        return Ok(());
    };
    let data = serde_json::to_value(UploadSnapshot::of(&upload, counts)).expect("plain data");
    event::Entity::insert(event::ActiveModel {
        tenant_id: Set(tenant_id),
        upload_id: Set(Some(upload_id)),
        kind: Set(kind.to_owned()),
        data: Set(data),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    // No listener is no error: no stream is open.
    let _ = RECORDED.send(tenant_id);
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        // Other processes' streams hear of it through their listener (and find
        // it by their regular look if this is lost: NOTIFY is not stored).
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), format!("{tenant_id}:{kind}:{upload_id}").into()],
        ))
        .await?;
    }
    Ok(())
}

/// Hears on PostgreSQL what other processes record, and wakes this process's
/// streams of its tenant; runs until the pool closes. After a lost connection
/// (sqlx reconnects) every stream reads again: announcements made meanwhile
/// are gone.
pub async fn listen_to_postgres(db: sea_orm::DatabaseConnection) {
    use sea_orm::sqlx::postgres::PgListener;
    let pool = db.get_postgres_connection_pool();
    let mut listener = loop {
        match PgListener::connect_with(pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => break listener,
                Err(err) => tracing::warn!(error = %err, "events: LISTEN failed; trying again"),
            },
            Err(err) => tracing::warn!(error = %err, "events: no listener connection; trying again"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    loop {
        match listener.try_recv().await {
            Ok(Some(announced)) => {
                let tenant = announced.payload().split(':').next().and_then(|t| t.parse::<i64>().ok());
                if let Some(tenant) = tenant {
                    let _ = RECORDED.send(tenant);
                }
            }
            // The connection was lost; it is made again at the next call.
            Ok(None) => {
                let _ = RECORDED.send(EVERY_TENANT);
            }
            Err(sea_orm::sqlx::Error::PoolClosed) => return,
            Err(err) => {
                tracing::warn!(error = %err, "events: the listener failed; trying again");
                let _ = RECORDED.send(EVERY_TENANT);
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

/// [`upload_changed`] where a failure to record must not undo the change it
/// reports: the change stands, pages see it on their next load, and the
/// failure is logged.
pub async fn note_upload_changed<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
    kind: &str,
    counts: Option<LoadCounts>,
) {
    if let Err(err) = upload_changed(db, tenant_id, upload_id, kind, counts).await {
        tracing::warn!(upload = upload_id, kind, error = %err, "an upload's event was not recorded");
    }
}

/// The tenant's events after `after` (by id), oldest first, at most `limit`;
/// and also those recorded in the last `late_by` whatever their id (their
/// caller skips the ids it has sent): with several writers an event with a
/// smaller id can become visible after a larger one.
pub async fn after<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    after: i64,
    late_by: chrono::Duration,
    limit: u64,
) -> Result<Vec<event::Model>, DbErr> {
    event::Entity::find()
        .filter(event::Column::TenantId.eq(tenant_id))
        .filter(
            Condition::any().add(event::Column::Id.gt(after)).add(event::Column::CreatedAt.gt(Utc::now() - late_by)),
        )
        .order_by_asc(event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The id of the tenant's latest event (0 when it has none): where a stream
/// opened by a freshly rendered page starts.
pub async fn latest_id<C: ConnectionTrait>(db: &C, tenant_id: i64) -> Result<i64, DbErr> {
    let latest: Option<Option<i64>> = event::Entity::find()
        .select_only()
        .column_as(event::Column::Id.max(), "latest")
        .filter(event::Column::TenantId.eq(tenant_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(latest.flatten().unwrap_or(0))
}

/// Whether a cursor points before events that were purged: a stream resuming
/// from it would miss some, so it starts again from the page instead.
pub async fn is_too_old<C: ConnectionTrait>(db: &C, tenant_id: i64, cursor: i64) -> Result<bool, DbErr> {
    if cursor <= 0 {
        return Ok(false);
    }
    // The event at the cursor itself is gone only if purged (or never the tenant's).
    let at_cursor = event::Entity::find()
        .filter(event::Column::TenantId.eq(tenant_id))
        .filter(event::Column::Id.eq(cursor))
        .one(db)
        .await?;
    Ok(at_cursor.is_none())
}

/// Deletes events older than [`KEPT_FOR`]; the worker calls it now and then.
pub async fn purge<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    let result =
        event::Entity::delete_many().filter(event::Column::CreatedAt.lt(Utc::now() - KEPT_FOR)).exec(db).await?;
    Ok(result.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_stream_wakes_for_its_own_tenant_s_events_only() {
        let mut heard = listen();
        let _ = RECORDED.send(-2);
        let woken = tokio::time::timeout(Duration::from_millis(100), recorded(&mut heard, -1)).await;
        assert!(woken.is_err(), "another tenant's event does not wake it");
        let _ = RECORDED.send(-1);
        let woken = tokio::time::timeout(Duration::from_millis(100), recorded(&mut heard, -1)).await;
        assert!(woken.is_ok(), "its own does");
    }
}
