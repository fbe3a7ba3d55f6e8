//! Uploads: storing a file, planning it against the tenant (the engine, on a
//! blocking thread, streaming its rows into `upload_rows` in batches), and the
//! admin's choices before a load.
use crate::bulk::{self, Kind};
use crate::directory;
use crate::entity::{tenant, upload, upload_part, upload_row};
use crate::load::UploadOptions;
use chrono::Utc;
use muster_import::{DirectoryIndex, FirstPass, Mode, PlanOptions, PlanSummary, RowPlan, RowStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, Set, SqlErr,
};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::entity::upload::UploadState;

/// Planned rows per INSERT: few statements, and a bounded buffer between the
/// planner's thread and the inserts.
const ROW_BATCH: usize = 1000;

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

/// Validation of the largest file allowed takes well under a minute; one still
/// "validating" after this long was cut off by a stopped server.
pub const VALIDATION_ABANDONED_AFTER: chrono::Duration = chrono::Duration::minutes(15);
const ABANDONED: &str = "Validation did not finish (the server stopped); the file was submitted again";

const ABANDONED_MEANWHILE: &str =
    "validation took so long that the upload was failed as abandoned; submit the file again";

fn abandoned(existing: &upload::Model) -> bool {
    existing.state == UploadState::Validating && existing.created_at < Utc::now() - VALIDATION_ABANDONED_AFTER
}

pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

const ROW_COLUMNS: bulk::Columns = &[
    ("tenant_id", Kind::BigInt),
    ("upload_id", Kind::BigInt),
    ("row_index", Kind::Int),
    ("line", Kind::Int),
    ("status", Kind::Text),
    ("selected", Kind::Bool),
    ("record", Kind::Json),
    ("existing_user_id", Kind::BigInt),
    ("diagnostics", Kind::Json),
    ("changes", Kind::Json),
    ("message", Kind::Text),
    ("user_id", Kind::Text),
    ("full_name", Kind::Text),
];

fn row_model(tenant_id: i64, upload_id: i64, index: usize, plan: RowPlan) -> bulk::Row {
    let full_name = match (plan.first_name.as_deref(), plan.last_name.as_deref()) {
        (Some(first), Some(last)) => Some(format!("{first} {last}")),
        (one, other) => one.or(other).map(str::to_owned),
    };
    let json = |v: serde_json::Value| Some(v).filter(|v| !v.as_array().is_some_and(Vec::is_empty));
    bulk::Row::with_capacity(ROW_COLUMNS.len())
        .int(tenant_id)
        .int(upload_id)
        .int(index as i64)
        .int(plan.line.unwrap_or(0) as i64)
        .text(Some(plan.status.as_str()))
        .bool(true)
        .json(plan.row.as_ref().map(|r| serde_json::to_value(r).expect("plain data")))
        .int(plan.existing_id)
        .json(json(serde_json::to_value(&plan.diagnostics).expect("plain data")))
        .json(json(serde_json::to_value(&plan.changes).expect("plain data")))
        .text(Some(&plan.message))
        .text(plan.user_id.as_deref())
        .text(full_name.as_deref())
}

async fn in_progress_with_hash(
    db: &DatabaseConnection,
    tenant_id: i64,
    hash: &str,
) -> Result<Option<upload::Model>, DbErr> {
    upload::Entity::find()
        .filter(upload::Column::TenantId.eq(tenant_id))
        .filter(upload::Column::ContentHash.eq(hash))
        .filter(upload::Column::State.is_in(UploadState::IN_PROGRESS))
        .one(db)
        .await
}

/// Stores a file and plans it against the tenant as it is now. The same file,
/// while an upload of it is still in progress, is refused as a duplicate.
pub async fn create_and_plan(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    new: NewUpload,
    max_bytes: usize,
) -> Result<upload::Model, UploadError> {
    if new.bytes.len() > max_bytes {
        return Err(UploadError::TooLarge { size: new.bytes.len(), limit: max_bytes });
    }
    let hash = content_hash(&new.bytes);
    if let Some(existing) = in_progress_with_hash(db, tenant.id, &hash).await? {
        if !abandoned(&existing) {
            return Err(UploadError::Duplicate { existing: existing.id, state: existing.state });
        }
        // A server stopped mid-validation left it so: it fails, and this file goes on.
        upload::Entity::update_many()
            .col_expr(upload::Column::State, Expr::value(UploadState::Failed))
            .col_expr(upload::Column::Error, Expr::value(ABANDONED))
            .filter(upload::Column::Id.eq(existing.id))
            .filter(upload::Column::TenantId.eq(tenant.id))
            .filter(upload::Column::State.eq(UploadState::Validating))
            .exec(db)
            .await?;
    }
    // The row is written without the file, and the file is planned from this very
    // buffer, then stored: a 50 MB upload is held once, not once per step.
    let bytes = new.bytes;
    let inserted = upload::Entity::insert(upload::ActiveModel {
        tenant_id: Set(tenant.id),
        uploaded_by: Set(new.uploaded_by),
        file_name: Set(new.file_name.chars().take(255).collect()),
        content_hash: Set(hash.clone()),
        format: Set(String::new()),
        encoding: Set(String::new()),
        delimiter: Set(String::new()),
        options: Set(Some(serde_json::to_value(&new.options).expect("plain data"))),
        state: Set(UploadState::Validating),
        plan_summary: Set(None),
        rows_total: Set(0),
        rows_done: Set(0),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec(db)
    .await;
    let id = match inserted {
        Ok(inserted) => inserted.last_insert_id,
        // The same file at the same moment (two tabs): the index of uploads in
        // progress (tenant, hash) let the other request's row in, not this one.
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            let existing = in_progress_with_hash(db, tenant.id, &hash).await?.ok_or(err)?;
            return Err(UploadError::Duplicate { existing: existing.id, state: existing.state });
        }
        Err(err) => return Err(err.into()),
    };
    let (bytes, mut planned) = plan_upload(db, tenant, id, bytes, &new.options.plan).await;
    if let (Some(bytes), Ok(_)) = (bytes, &planned) {
        if let Err(err) = store_file(db, tenant.id, id, bytes).await {
            planned = Err(err);
        }
    }
    // Only while still validating: one failed meanwhile as abandoned stays failed.
    let mut update = upload::Entity::update_many()
        .filter(upload::Column::Id.eq(id))
        .filter(upload::Column::TenantId.eq(tenant.id))
        .filter(upload::Column::State.eq(UploadState::Validating));
    let summary = match planned {
        Ok(summary) => summary,
        Err(err) => {
            // A failed validation must not keep the file locked as "in progress".
            let txn = crate::db::begin_write(db).await?;
            let failed = update
                .col_expr(upload::Column::State, Expr::value(UploadState::Failed))
                .col_expr(upload::Column::Error, Expr::value(err.to_string()))
                .exec(&txn)
                .await?;
            if let (1, Some(upload)) = (failed.rows_affected, find(&txn, tenant.id, id).await?) {
                let said = format!("Upload {id} ({}) could not be checked: {err}", upload.file_name);
                crate::notifications::tell(&txn, &upload, crate::notifications::kind::NOT_VALIDATED, &said).await?;
            }
            txn.commit().await?;
            crate::events::note_upload_changed(db, tenant.id, id, crate::events::kind::FAILED, None).await;
            return Err(err.into());
        }
    };
    update = update
        .col_expr(
            upload::Column::Format,
            Expr::value(serde_json::to_value(summary.format)?.as_str().unwrap_or_default().to_owned()),
        )
        .col_expr(upload::Column::Encoding, Expr::value(summary.encoding.name()))
        .col_expr(upload::Column::Delimiter, Expr::value(summary.delimiter.as_str()))
        .col_expr(upload::Column::RowsTotal, Expr::value(summary.counts.total() as i32))
        .col_expr(upload::Column::PlanSummary, Expr::value(serde_json::to_value(&summary).expect("plain data")))
        .col_expr(upload::Column::State, Expr::value(UploadState::Ready));
    // The admin is told in the same transaction: never planned without being told, nor told twice.
    let txn = crate::db::begin_write(db).await?;
    if update.exec(&txn).await?.rows_affected == 0 {
        txn.rollback().await?;
        return Err(UploadError::Db(DbErr::Custom(format!("upload {id}: {ABANDONED_MEANWHILE}"))));
    }
    if let Some(upload) = find(&txn, tenant.id, id).await? {
        let said = format!(
            "Upload {id} ({}) is checked and planned: {}. Review it and load it.",
            upload.file_name,
            crate::notifications::rows(summary.counts.total())
        );
        crate::notifications::tell(&txn, &upload, crate::notifications::kind::VALIDATED, &said).await?;
    }
    txn.commit().await?;
    crate::events::note_upload_changed(db, tenant.id, id, crate::events::kind::VALIDATED, None).await;
    find(db, tenant.id, id).await?.ok_or_else(|| UploadError::Db(DbErr::RecordNotFound(format!("upload {id}"))))
}

impl From<serde_json::Error> for UploadError {
    fn from(err: serde_json::Error) -> Self {
        UploadError::Db(DbErr::Custom(err.to_string()))
    }
}

/// A file is stored in parts of this size: each is copied a few times on its way
/// into the database, which for the whole file at once meant ~4x its size in memory.
const PART: usize = 1 << 20;

async fn store_file(db: &DatabaseConnection, tenant_id: i64, upload_id: i64, bytes: Vec<u8>) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    for (part, bytes) in bytes.chunks(PART).enumerate() {
        upload_part::Entity::insert(upload_part::ActiveModel {
            upload_id: Set(upload_id),
            part: Set(part as i32),
            tenant_id: Set(tenant_id),
            bytes: Set(bytes.to_vec()),
        })
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await
}

/// The uploaded file as it was received.
pub async fn file<C: ConnectionTrait>(db: &C, tenant_id: i64, upload_id: i64) -> Result<Vec<u8>, DbErr> {
    let mut bytes = Vec::new();
    // A part at a time: the file is held once, not once more as a list of parts.
    let mut part = 0;
    while let Some(piece) = upload_part::Entity::find()
        .filter(upload_part::Column::TenantId.eq(tenant_id))
        .filter(upload_part::Column::UploadId.eq(upload_id))
        .filter(upload_part::Column::Part.eq(part))
        .one(db)
        .await?
    {
        bytes.extend_from_slice(&piece.bytes);
        part += 1;
    }
    Ok(bytes)
}

/// Plans on a blocking thread and inserts the rows as they come, in batches:
/// memory stays bounded whatever the file's size. The file comes back with the
/// outcome, to be stored (not if the planner panicked holding it).
async fn plan_upload(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    upload_id: i64,
    bytes: Vec<u8>,
    options: &PlanOptions,
) -> (Option<Vec<u8>>, Result<PlanSummary, DbErr>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<RowPlan>>(4);
    let options = options.clone();
    let (db_for_planner, tenant_for_planner) = (db.clone(), tenant.clone());
    let runtime = tokio::runtime::Handle::current();
    let planner = tokio::task::spawn_blocking(move || {
        // The first pass learns which users the file names; only they (and their
        // managers) are read, except in a sync, which must see everyone.
        let pass = FirstPass::read(&bytes, &options);
        let directory = runtime.block_on(async {
            match pass.keys() {
                Some(keys) if options.mode != Mode::Sync => {
                    directory::load_named(&db_for_planner, &tenant_for_planner, &keys).await
                }
                _ => directory::load(&db_for_planner, &tenant_for_planner).await,
            }
        });
        let directory = match directory {
            Ok(directory) => directory,
            Err(err) => {
                drop(pass);
                return (bytes, Err(err));
            }
        };
        let mut batch = Vec::with_capacity(ROW_BATCH);
        let summary = pass.plan(&DirectoryIndex::new(&directory), &options, |row| {
            batch.push(row);
            if batch.len() == ROW_BATCH {
                // A closed channel means the inserter failed; its error is reported.
                let _ = tx.blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(ROW_BATCH)));
            }
        });
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
        (bytes, Ok(summary))
    });
    // PostgreSQL takes a few batches side by side, each INSERT on its own pooled
    // connection: one at a time kept one of its cores busy and the planner
    // waiting. SQLite has one writer. Each row carries its index, taken as its
    // batch is received, so the order in which batches commit does not matter.
    // The writers are polled on this task (`load::side_by_side`), not spawned:
    // spawned on other threads, they left memory in those threads' heaps (1M rows:
    // the process peaked at 306 MB instead of 245 MB).
    let writers = match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => crate::load::LANES,
        _ => 1,
    };
    let received = tokio::sync::Mutex::new((rx, 0usize));
    let halted = AtomicBool::new(false);
    let writer = || async {
        loop {
            let (batch, first) = {
                let mut received = received.lock().await;
                if halted.load(Ordering::SeqCst) {
                    return Ok(());
                }
                let Some(batch) = received.0.recv().await else { return Ok(()) };
                let first = received.1;
                received.1 += batch.len();
                (batch, first)
            };
            let models: Vec<_> = batch
                .into_iter()
                .enumerate()
                .map(|(i, plan)| row_model(tenant.id, upload_id, first + i + 1, plan))
                .collect();
            bulk::insert(db, "upload_rows", ROW_COLUMNS, models, None).await?;
        }
    };
    let inserted = crate::load::side_by_side((0..writers).map(|_| writer()).collect(), &halted).await;
    let index = received.into_inner().1;
    // A closed channel ends the planner early when the writers failed.
    let (bytes, summary) = match planner.await {
        Ok((bytes, Err(err))) => return (Some(bytes), Err(err)),
        Ok((bytes, Ok(summary))) => (bytes, summary),
        // The planner panicked with the file: the upload fails without it.
        Err(e) => return (None, Err(DbErr::Custom(format!("planning failed: {e}")))),
    };
    if let Err(err) = inserted {
        return (Some(bytes), Err(err));
    }
    // The load walks these rows by index; statistics from before a large plan was
    // written would have PostgreSQL scan them instead (autovacuum comes later).
    if index > 10_000 && db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        if let Err(err) = db.execute_unprepared("ANALYZE upload_rows").await {
            return (Some(bytes), Err(err));
        }
    }
    (Some(bytes), Ok(summary))
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

/// Rows of an upload that is still ready, checked in the UPDATE itself: a
/// tick that arrives as the load is queued changes nothing.
fn while_ready(tenant_id: i64, upload_id: i64) -> sea_orm::sea_query::SimpleExpr {
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

/// The admin's Add/Update tick boxes (lines of the file; Old rows have none):
/// unticked rows are skipped by the load. Only while the upload is ready.
pub async fn set_selected<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
    lines: &[i32],
    selected: bool,
) -> Result<u64, DbErr> {
    let result = upload_row::Entity::update_many()
        .col_expr(upload_row::Column::Selected, Expr::value(selected))
        .filter(upload_row::Column::TenantId.eq(tenant_id))
        .filter(upload_row::Column::UploadId.eq(upload_id))
        .filter(while_ready(tenant_id, upload_id))
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

/// How many planned rows an upload has of each status (the preview's counts).
pub async fn status_counts<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
) -> Result<std::collections::BTreeMap<String, u64>, DbErr> {
    Ok(named(count_by(db, tenant_id, upload_id, upload_row::Column::Status).await?))
}

/// Counts by value, without the rows that have none.
fn named(counts: Vec<(Option<String>, u64)>) -> std::collections::BTreeMap<String, u64> {
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
async fn count_where<C: ConnectionTrait>(
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

fn delimiter_of(upload: &upload::Model) -> Option<muster_import::Delimiter> {
    muster_import::Delimiter::ALL.into_iter().find(|d| d.as_str() == upload.delimiter)
}

/// Every line's result and outcome. A million lines share a handful of texts
/// ("Added; invitation sent"), so each text is kept once and a line costs 16
/// bytes; the rows are read a page of row positions at a time.
struct LineResults {
    /// (line, result, outcome), texts by their index in `texts`; sorted by line.
    lines: Vec<(u64, u32, u32)>,
    texts: Vec<String>,
}

const NO_TEXT: u32 = u32::MAX;

impl LineResults {
    async fn read<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<Self, DbErr> {
        use sea_orm::QuerySelect;
        const PAGE: i32 = 10_000;
        let last = last_row_index(db, upload.tenant_id, upload.id).await?;
        let mut interned: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
        let mut out = Self { lines: Vec::new(), texts: Vec::new() };
        let mut intern = |text: Option<String>, texts: &mut Vec<String>| match text {
            None => NO_TEXT,
            Some(text) => *interned.entry(text).or_insert_with_key(|text| {
                texts.push(text.clone());
                (texts.len() - 1) as u32
            }),
        };
        let mut after = -1;
        while after < last.unwrap_or(-1) {
            let page: Vec<(i32, Option<String>, Option<String>)> = upload_row::Entity::find()
                .select_only()
                .columns([upload_row::Column::Line, upload_row::Column::Result, upload_row::Column::Outcome])
                .filter(upload_row::Column::TenantId.eq(upload.tenant_id))
                .filter(upload_row::Column::UploadId.eq(upload.id))
                .filter(upload_row::Column::RowIndex.gt(after))
                .filter(upload_row::Column::RowIndex.lte(after.saturating_add(PAGE)))
                .filter(upload_row::Column::Line.gt(0))
                .into_tuple()
                .all(db)
                .await?;
            for (line, result, outcome) in page {
                let result = intern(result, &mut out.texts);
                let outcome = intern(outcome, &mut out.texts);
                out.lines.push((line as u64, result, outcome));
            }
            after = after.saturating_add(PAGE);
        }
        out.lines.sort_unstable_by_key(|(line, _, _)| *line);
        Ok(out)
    }

    fn text(&self, index: u32) -> Option<&str> {
        (index != NO_TEXT).then(|| self.texts[index as usize].as_str())
    }

    /// The result and the outcome of a line.
    fn get(&self, line: u64) -> (Option<&str>, Option<&str>) {
        match self.lines.binary_search_by_key(&line, |(line, _, _)| *line) {
            Ok(at) => (self.text(self.lines[at].1), self.text(self.lines[at].2)),
            Err(_) => (None, None),
        }
    }
}

/// The uploaded file, as it was, with a `result` column saying what happened to
/// each line ("Not loaded" for a line the load has not reached, or skipped).
pub async fn results_csv<C: ConnectionTrait>(db: &C, tenant_id: i64, upload_id: i64) -> Result<Option<Vec<u8>>, DbErr> {
    match find(db, tenant_id, upload_id).await? {
        Some(upload) => results_csv_of(db, &upload).await.map(Some),
        None => Ok(None),
    }
}

/// [`results_csv`] of an upload already read (of its own tenant).
pub async fn results_csv_of<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<Vec<u8>, DbErr> {
    let results = LineResults::read(db, upload).await?;
    let content = file(db, upload.tenant_id, upload.id).await?;
    Ok(muster_import::results::results_file(&content, delimiter_of(upload), &options_of(upload).plan.mapping, |line| {
        results.get(line).0.unwrap_or("Not loaded").to_owned()
    }))
}

/// The uploaded file of an upload already read (of its own tenant), to download
/// again: its passwords blanked and formulas neutralised
/// ([`muster_import::results::original_file`]).
pub async fn original_csv_of<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<Vec<u8>, DbErr> {
    let content = file(db, upload.tenant_id, upload.id).await?;
    Ok(muster_import::results::original_file(&content, delimiter_of(upload), &options_of(upload).plan.mapping))
}

/// The lines "Retry failed rows" takes, in order: rows that failed, rows an
/// all-or-nothing load held back, and rows a failed load never reached that
/// would have changed something; not rows the admin unticked, nor unchanged or
/// skipped ones.
fn to_retry(upload: &upload::Model) -> sea_orm::Select<upload_row::Entity> {
    use sea_orm::Condition;
    let not_reached = Condition::all()
        .add(upload_row::Column::Result.is_null())
        .add(upload_row::Column::Selected.eq(true))
        .add(upload_row::Column::Status.is_not_in([RowStatus::Unchanged.as_str(), RowStatus::Skipped.as_str()]));
    upload_row::Entity::find()
        .filter(upload_row::Column::TenantId.eq(upload.tenant_id))
        .filter(upload_row::Column::UploadId.eq(upload.id))
        .filter(upload_row::Column::Line.gt(0))
        .filter(
            Condition::any()
                .add(upload_row::Column::Outcome.eq(crate::load::outcome::ERROR))
                .add(upload_row::Column::Result.is_in(crate::load::HELD_BACK))
                .add(not_reached),
        )
}

/// How many lines "Retry failed rows" would take (see [`lines_to_retry`]).
pub async fn count_to_retry<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    to_retry(upload).count(db).await
}

async fn lines_to_retry<C: ConnectionTrait>(db: &C, upload: &upload::Model) -> Result<Vec<u64>, DbErr> {
    use sea_orm::QuerySelect;
    let lines: Vec<i32> = to_retry(upload)
        .select_only()
        .column(upload_row::Column::Line)
        .order_by_asc(upload_row::Column::Line)
        .into_tuple()
        .all(db)
        .await?;
    Ok(lines.into_iter().map(|l| l as u64).collect())
}

/// "Retry failed rows": a new upload of the heading line and the rows that were
/// not applied (see [`lines_to_retry`]), planned afresh against the tenant as it is now.
pub async fn retry_failed(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    upload_id: i64,
    uploaded_by: Option<i64>,
    max_bytes: usize,
) -> Result<Option<upload::Model>, UploadError> {
    let Some(upload) = find(db, tenant.id, upload_id).await? else {
        return Ok(None);
    };
    let lines = lines_to_retry(db, &upload).await?;
    let content = file(db, tenant.id, upload_id).await?;
    let bytes =
        muster_import::results::retry_file(&content, delimiter_of(&upload), |line| lines.binary_search(&line).is_ok());
    let options = options_of(&upload);
    let new =
        NewUpload { uploaded_by, file_name: format!("retry-of-{}-{}", upload.id, upload.file_name), bytes, options };
    create_and_plan(db, tenant, new, max_bytes).await.map(Some)
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
    let result = upload_row::Entity::update_many()
        .col_expr(upload_row::Column::Selected, Expr::value(selected))
        .filter(upload_row::Column::TenantId.eq(tenant_id))
        .filter(upload_row::Column::UploadId.eq(upload_id))
        .filter(while_ready(tenant_id, upload_id))
        .filter(upload_row::Column::Status.eq(status))
        .exec(db)
        .await?;
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

/// How many rows of an upload ended with each outcome (`added`, `error`, …).
pub async fn outcome_counts<C: ConnectionTrait>(
    db: &C,
    tenant_id: i64,
    upload_id: i64,
) -> Result<std::collections::BTreeMap<String, u64>, DbErr> {
    Ok(named(count_by(db, tenant_id, upload_id, upload_row::Column::Outcome).await?))
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
