//! The load queue: one row per load in `jobs`, claimed by any server process.
//!
//! On PostgreSQL a claim is `FOR UPDATE SKIP LOCKED`, so processes never wait on
//! each other's claims; on SQLite the database's single writer serialises claims.
//! A claim is a lease: a worker that dies stops renewing it, and once it runs out
//! another worker takes the job over and resumes it where it stopped. A tenant
//! runs one load at a time; the others wait as `queued`.
use crate::entity::job::JobState;
use crate::entity::upload::UploadState;
use crate::entity::{job, upload};
use crate::load::Claim;
use chrono::{Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, Set, Statement,
};

pub const KIND_LOAD: &str = "load";
/// How long a claim lasts without renewal: 30 s, or `MUSTER_JOB_LEASE_SECS`
/// (tests shorten it to see a dead worker's job taken over quickly).
pub fn lease() -> Duration {
    std::env::var("MUSTER_JOB_LEASE_SECS")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| *s > 0)
        .map_or(Duration::seconds(30), Duration::seconds)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// The load will start as soon as a worker is free.
    Queued(job::Model),
    /// Another load of the tenant is running or waiting first.
    Waiting { job: job::Model, ahead: u64 },
    /// This upload already has a load (a second tab, a double click).
    AlreadyLoading(job::Model),
    /// The plan has an error for the whole file (too few licences, say): it
    /// cannot be loaded as it is.
    Refused(String),
}

/// Why a sync beyond the safeguard is not loaded without its confirmation.
pub const NEEDS_CONFIRMATION: &str =
    "This sync retires more users than the safeguard allows; it is loaded only with a second, explicit confirmation";

/// Queues the load of a ready upload, once: a second request for the same upload
/// returns the existing job. A sync that retires more users than the safeguard
/// allows is refused: see [`enqueue_confirmed_load`].
pub async fn enqueue_load(db: &DatabaseConnection, upload: &upload::Model) -> Result<Enqueued, DbErr> {
    enqueue(db, upload, false).await
}

/// [`enqueue_load`] with the admin's second, explicit confirmation of a sync that
/// retires more users than the safeguard allows (SPEC 4).
pub async fn enqueue_confirmed_load(db: &DatabaseConnection, upload: &upload::Model) -> Result<Enqueued, DbErr> {
    enqueue(db, upload, true).await
}

async fn enqueue(db: &DatabaseConnection, upload: &upload::Model, confirmed: bool) -> Result<Enqueued, DbErr> {
    if let Some(refused) = refusal(upload, confirmed) {
        return Ok(refused);
    }
    if upload.state != UploadState::Ready {
        return match job_of(db, upload).await? {
            Some(existing) => Ok(Enqueued::AlreadyLoading(existing)),
            None => Ok(Enqueued::Refused(format!("the upload is {}, not ready to load", upload.state))),
        };
    }
    let txn = crate::db::begin_write(db).await?;
    if let Some(existing) = job_of(&txn, upload).await? {
        txn.commit().await?;
        return Ok(Enqueued::AlreadyLoading(existing));
    }
    let now = Utc::now();
    let created = match insert_load_job(&txn, upload, now).await {
        Ok(created) => created,
        // Another tab queued the same upload at the same moment: the unique index
        // on jobs.upload_id kept one job; this request joins it.
        Err(err) => {
            txn.rollback().await?;
            return match job_of(db, upload).await? {
                Some(existing) => Ok(Enqueued::AlreadyLoading(existing)),
                None => Err(err),
            };
        }
    };
    // Still ready: the admin may have cancelled it since it was read.
    let queued = upload::Entity::update_many()
        .col_expr(upload::Column::State, Expr::value(UploadState::Queued))
        .col_expr(upload::Column::QueuedAt, Expr::value(now))
        .filter(upload::Column::Id.eq(upload.id))
        .filter(upload::Column::TenantId.eq(upload.tenant_id))
        .filter(upload::Column::State.eq(UploadState::Ready))
        .exec(&txn)
        .await?;
    if queued.rows_affected != 1 {
        txn.rollback().await?;
        let now_state = crate::uploads::find(db, upload.tenant_id, upload.id)
            .await?
            .map_or_else(|| "gone".to_owned(), |u| u.state.to_string());
        return Ok(Enqueued::Refused(format!("the upload is {now_state}, not ready to load")));
    }
    let ahead = tell_queued(&txn, upload, &created).await?;
    txn.commit().await?;
    crate::events::note_upload_changed(db, upload.tenant_id, upload.id, crate::events::kind::QUEUED, None).await;
    Ok(if ahead > 0 { Enqueued::Waiting { job: created, ahead } } else { Enqueued::Queued(created) })
}

/// Why the plan cannot be loaded as it is, if it cannot: an error for the
/// whole file, or a sync beyond the safeguard not yet confirmed.
fn refusal(upload: &upload::Model, confirmed: bool) -> Option<Enqueued> {
    let summary = crate::uploads::plan_summary_of(upload);
    let file_error = summary.as_ref().and_then(|s| s.file_diagnostics.iter().find(|d| d.is_error()));
    if let Some(error) = file_error {
        return Some(Enqueued::Refused(error.message.clone()));
    }
    if summary.as_ref().is_some_and(|s| s.needs_confirmation) && !confirmed && upload.state == UploadState::Ready {
        return Some(Enqueued::Refused(NEEDS_CONFIRMATION.into()));
    }
    None
}

/// The upload's load job, if it has one.
async fn job_of<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<Option<job::Model>, DbErr> {
    job::Entity::find()
        .filter(job::Column::TenantId.eq(upload.tenant_id))
        .filter(job::Column::UploadId.eq(upload.id))
        .one(db)
        .await
}

async fn insert_load_job<C: ConnectionTrait>(
    txn: &C,
    upload: &upload::Model,
    now: chrono::DateTime<Utc>,
) -> Result<job::Model, DbErr> {
    job::ActiveModel {
        tenant_id: Set(upload.tenant_id),
        kind: Set(KIND_LOAD.into()),
        upload_id: Set(Some(upload.id)),
        state: Set(JobState::Queued),
        attempts: Set(0),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await
}

/// Tells the tenant's admins the load is queued, or waits behind another;
/// returns how many of the tenant's loads are ahead of it.
async fn tell_queued<C: ConnectionTrait>(txn: &C, upload: &upload::Model, created: &job::Model) -> Result<u64, DbErr> {
    let ahead = job::Entity::find()
        .filter(job::Column::TenantId.eq(upload.tenant_id))
        .filter(job::Column::State.is_in([JobState::Queued, JobState::Running]))
        .filter(job::Column::Id.lt(created.id))
        .all(txn)
        .await?
        .len() as u64;
    let (kind, said) = match waiting_behind(txn, upload).await? {
        Some(other) if ahead > 0 => (
            crate::notifications::kind::WAITING,
            format!("Upload {} waits behind upload {other}: a tenant's loads run one at a time.", upload.id),
        ),
        _ => (crate::notifications::kind::QUEUED, format!("Upload {} is queued to load.", upload.id)),
    };
    crate::notifications::tell(txn, upload, kind, &said).await?;
    Ok(ahead)
}

#[derive(Debug, FromQueryResult)]
struct ClaimedId {
    id: i64,
}

/// Claims the oldest job whose tenant has no other load running (or whose lease
/// ran out), for `worker`, and returns it.
pub async fn claim(db: &DatabaseConnection, worker: &str) -> Result<Option<job::Model>, DbErr> {
    claim_where(db, worker, None).await
}

/// Claims job `job_id` only, when its turn has come (see [`claim`]): the
/// command line runs its own import, never another tenant's or another
/// admin's upload, which would go out with its mail settings.
pub async fn claim_job(db: &DatabaseConnection, worker: &str, job_id: i64) -> Result<Option<job::Model>, DbErr> {
    claim_where(db, worker, Some(job_id)).await
}

async fn claim_where(db: &DatabaseConnection, worker: &str, only: Option<i64>) -> Result<Option<job::Model>, DbErr> {
    let backend = db.get_database_backend();
    // The database's clock, as every process that compares leases reads it.
    let now = crate::db::now(db).await?;
    let lease_until = now + lease();
    let lock = if backend == DatabaseBackend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
    // A job is claimable when queued, or running with an expired lease (its worker
    // died), no other job of its tenant holds a live lease, and no earlier job of
    // its tenant is still waiting or unfinished (an expired one is taken first).
    let sql = format!(
        "SELECT j.id FROM jobs j \
         WHERE (j.state = '{queued}' OR (j.state = '{running}' AND j.lease_until < $1)) \
           AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.tenant_id = j.tenant_id AND o.id <> j.id \
                           AND o.state = '{running}' AND o.lease_until >= $1) \
           AND NOT EXISTS (SELECT 1 FROM jobs e WHERE e.tenant_id = j.tenant_id AND e.id < j.id \
                           AND e.state IN ('{queued}', '{running}')) \
           {only_job} \
         ORDER BY j.id LIMIT 1 {lock}",
        queued = JobState::Queued.as_str(),
        running = JobState::Running.as_str(),
        only_job = if only.is_some() { "AND j.id = $2" } else { "" },
    );
    let mut values: Vec<sea_orm::Value> = vec![now.into()];
    values.extend(only.map(sea_orm::Value::from));
    let txn = crate::db::begin_write(db).await?;
    let found = ClaimedId::find_by_statement(Statement::from_sql_and_values(backend, sql, values)).one(&txn).await?;
    let Some(ClaimedId { id }) = found else {
        txn.commit().await?;
        return Ok(None);
    };
    let updated = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(JobState::Running))
        .col_expr(job::Column::LockedBy, Expr::value(worker))
        .col_expr(job::Column::LeaseUntil, Expr::value(lease_until))
        .col_expr(job::Column::Attempts, Expr::col(job::Column::Attempts).add(1))
        .filter(job::Column::Id.eq(id))
        // Still claimable: another process may have claimed it since the SELECT.
        .filter(
            sea_orm::Condition::any().add(job::Column::State.eq(JobState::Queued)).add(job::Column::LeaseUntil.lt(now)),
        )
        .exec(&txn)
        .await?;
    let claimed = if updated.rows_affected == 1 { job::Entity::find_by_id(id).one(&txn).await? } else { None };
    txn.commit().await?;
    Ok(claimed)
}

/// Extends the lease while the worker is alive; `false` if another worker has
/// taken the job over (the lease had run out), in which case this one must stop.
pub async fn renew<C: ConnectionTrait>(db: &C, claim: &Claim) -> Result<bool, DbErr> {
    // A renewal comes with progress: only claims that made none count towards
    // giving up (restarts and takeovers of a long load do not).
    lengthen(db, claim, true).await
}

/// Extends the lease without counting it as progress (see [`renew`]): lanes side
/// by side keep their claim alive this way while their batches run; `false` if
/// another worker has taken the job over.
pub async fn extend<C: ConnectionTrait>(db: &C, claim: &Claim) -> Result<bool, DbErr> {
    lengthen(db, claim, false).await
}

async fn lengthen<C: ConnectionTrait>(db: &C, claim: &Claim, progress: bool) -> Result<bool, DbErr> {
    let until = crate::db::now(db).await? + lease();
    let mut update = job::Entity::update_many().col_expr(job::Column::LeaseUntil, Expr::value(until));
    if progress {
        update = update.col_expr(job::Column::Attempts, Expr::value(1));
    }
    let result = update
        .filter(job::Column::Id.eq(claim.job_id))
        .filter(job::Column::TenantId.eq(claim.tenant_id))
        .filter(job::Column::LockedBy.eq(claim.worker.as_str()))
        .filter(job::Column::State.eq(JobState::Running))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// How a write under a job's claim makes sure the claim is still held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fence {
    /// [`renew`]: the lease is extended, which counts as progress.
    Renew,
    /// [`holds`]: checked only (lanes side by side, or before any progress).
    Check,
}

/// A write transaction, fenced by `claim` when there is one: `None`, rolled
/// back, when the claim is no longer held, so that a worker that lost its job
/// writes nothing more.
pub(crate) async fn begin_fenced(
    db: &DatabaseConnection,
    claim: Option<&Claim>,
    fence: Fence,
) -> Result<Option<sea_orm::DatabaseTransaction>, DbErr> {
    let txn = crate::db::begin_write(db).await?;
    if !fenced(&txn, claim, fence).await? {
        txn.rollback().await?;
        return Ok(None);
    }
    Ok(Some(txn))
}

/// Whether write transaction `txn` may go on: without a claim it may; with
/// one, only while the claim holds its job, renewed or checked as `fence`
/// says. Roll it back when not.
pub(crate) async fn fenced<C: ConnectionTrait>(txn: &C, claim: Option<&Claim>, fence: Fence) -> Result<bool, DbErr> {
    let Some(claim) = claim else { return Ok(true) };
    match fence {
        Fence::Renew => renew(txn, claim).await,
        Fence::Check => holds(txn, claim).await,
    }
}

/// Whether `claim` still holds its job, checked inside a batch's transaction and
/// kept true until it ends: on PostgreSQL the job's row is locked `FOR KEY
/// SHARE`, so a takeover (`FOR UPDATE SKIP LOCKED`) passes it by until the batch
/// is over. Lanes of one load check side by side this way, where renewing in
/// every batch would queue each lane behind the other's commit; the lease is
/// extended beside them (`extend`). Key share, not share: a renewal sets no key column, so its
/// lock (`FOR NO KEY UPDATE`) does not wait for the lanes' batches. Under `FOR
/// SHARE` it would, and lanes that keep taking the lock could starve it until
/// the lease ran out.
pub async fn holds<C: ConnectionTrait>(db: &C, claim: &Claim) -> Result<bool, DbErr> {
    use sea_orm::sea_query::LockType;
    use sea_orm::QuerySelect;
    let mut query = job::Entity::find()
        .filter(job::Column::Id.eq(claim.job_id))
        .filter(job::Column::TenantId.eq(claim.tenant_id))
        .filter(job::Column::LockedBy.eq(claim.worker.as_str()))
        .filter(job::Column::State.eq(JobState::Running));
    if db.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock(LockType::KeyShare);
    }
    Ok(query.one(db).await?.is_some())
}

/// Ends the job claimed as `job`; `false` if another worker holds it now (it
/// took the job over), in which case that worker finishes it.
pub async fn finish<C: ConnectionTrait>(db: &C, job: &job::Model, failed: Option<&str>) -> Result<bool, DbErr> {
    let result = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(if failed.is_some() { JobState::Failed } else { JobState::Done }))
        .col_expr(job::Column::LastError, Expr::value(failed.map(str::to_owned)))
        .col_expr(job::Column::LeaseUntil, Expr::value(Option::<chrono::DateTime<Utc>>::None))
        .filter(job::Column::Id.eq(job.id))
        .filter(job::Column::TenantId.eq(job.tenant_id))
        .filter(match &job.locked_by {
            Some(worker) => job::Column::LockedBy.eq(worker.as_str()),
            None => job::Column::LockedBy.is_null(),
        })
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Claims after which a load that keeps failing is given up: each claim follows
/// a crash or an error, and a cause that survives ten of them needs a person.
pub const MAX_ATTEMPTS: i32 = 10;

/// Records why a run of the job stopped; the job stays claimed until its lease
/// runs out, then a worker tries again.
pub async fn note_error<C: ConnectionTrait>(db: &C, job: &job::Model, error: &str) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(job::Column::LastError, Expr::value(error.chars().take(2000).collect::<String>()))
        .filter(job::Column::Id.eq(job.id))
        .filter(job::Column::TenantId.eq(job.tenant_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives a load up for good: the job and its upload are marked failed, with why.
pub async fn give_up(db: &DatabaseConnection, job: &job::Model, why: &str) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    finish(&txn, job, Some(why)).await?;
    if let Some(upload) = match job.upload_id {
        Some(id) => crate::uploads::find(&txn, job.tenant_id, id).await?,
        None => None,
    } {
        let said = format!("Upload {} ({}) failed: {why}", upload.id, upload.file_name);
        crate::notifications::tell(&txn, &upload, crate::notifications::kind::FAILED, &said).await?;
    }
    if let Some(upload_id) = job.upload_id {
        upload::Entity::update_many()
            .col_expr(upload::Column::State, Expr::value(UploadState::Failed))
            .col_expr(upload::Column::Summary, Expr::value(format!("The load failed: {why}")))
            .col_expr(upload::Column::FinishedAt, Expr::value(Utc::now()))
            .filter(upload::Column::Id.eq(upload_id))
            .filter(upload::Column::TenantId.eq(job.tenant_id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    if let Some(upload_id) = job.upload_id {
        crate::events::note_upload_changed(db, job.tenant_id, upload_id, crate::events::kind::FAILED, None).await;
    }
    Ok(())
}

/// The upload a queued load of the tenant waits behind: the one loading now,
/// or else the oldest queued before it. `None` when it waits for nothing.
pub async fn waiting_behind<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<Option<i64>, DbErr> {
    let Some(own) = job::Entity::find()
        .filter(job::Column::TenantId.eq(upload.tenant_id))
        .filter(job::Column::UploadId.eq(upload.id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if own.state != JobState::Queued {
        return Ok(None);
    }
    let ahead = job::Entity::find()
        .filter(job::Column::TenantId.eq(upload.tenant_id))
        .filter(job::Column::State.is_in([JobState::Queued, JobState::Running]))
        .filter(job::Column::Id.lt(own.id))
        .order_by_asc(job::Column::Id)
        .all(db)
        .await?;
    let running = ahead.iter().find(|j| j.state == JobState::Running);
    Ok(running.or(ahead.first()).and_then(|j| j.upload_id))
}
