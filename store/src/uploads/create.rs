//! Planning an upload: the file stored in parts, checked once for its keys, planned against the users it names, its rows written a thousand at a time.
use super::*;
use crate::bulk::{self, Kind};
use crate::directory;
use crate::entity::{tenant, upload, upload_part};
use chrono::Utc;
use muster_import::{DirectoryIndex, FirstPass, Mode, PlanOptions, PlanSummary, RowPlan};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, SqlErr};
use std::sync::atomic::{AtomicBool, Ordering};

/// Planned rows per INSERT: few statements, and a bounded buffer between the
/// planner's thread and the inserts.
pub(super) const ROW_BATCH: usize = 1000;

/// Validation of the largest file allowed takes well under a minute; one still
/// "validating" after this long was cut off by a stopped server.
pub const VALIDATION_ABANDONED_AFTER: chrono::Duration = chrono::Duration::minutes(15);

pub(super) const ABANDONED: &str = "Validation did not finish (the server stopped); the file was submitted again";

pub(super) const ABANDONED_MEANWHILE: &str =
    "validation took so long that the upload was failed as abandoned; submit the file again";

pub(super) fn abandoned(existing: &upload::Model) -> bool {
    existing.state == UploadState::Validating && existing.created_at < Utc::now() - VALIDATION_ABANDONED_AFTER
}

pub(super) const ROW_COLUMNS: bulk::Columns = &[
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

pub(super) fn row_model(tenant_id: i64, upload_id: i64, index: usize, plan: RowPlan) -> bulk::Row {
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

pub(super) async fn in_progress_with_hash(
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
    refuse_duplicate(db, tenant, &hash).await?;
    // The row is written without the file, and the file is planned from this very
    // buffer, then stored: a 50 MB upload is held once, not once per step.
    let NewUpload { uploaded_by, file_name, bytes, options } = new;
    let id = insert_validating(db, tenant, uploaded_by, &file_name, &options, hash).await?;
    let (bytes, mut planned) = plan_upload(db, tenant, id, bytes, &options.plan).await;
    if let (Some(bytes), Ok(_)) = (bytes, &planned) {
        if let Err(err) = store_file(db, tenant.id, id, bytes).await {
            planned = Err(err);
        }
    }
    match planned {
        Ok(summary) => mark_planned(db, tenant, id, summary).await?,
        Err(err) => {
            mark_not_validated(db, tenant, id, &err).await?;
            return Err(err.into());
        }
    }
    find(db, tenant.id, id).await?.ok_or_else(|| UploadError::Db(DbErr::RecordNotFound(format!("upload {id}"))))
}

/// Refuses a file of which an upload is still in progress; one left
/// validating by a stopped server is failed, and this file goes on.
async fn refuse_duplicate(db: &DatabaseConnection, tenant: &tenant::Model, hash: &str) -> Result<(), UploadError> {
    if let Some(existing) = in_progress_with_hash(db, tenant.id, hash).await? {
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
    Ok(())
}

/// The upload's row, validating, without its file; returns its id.
async fn insert_validating(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    uploaded_by: Option<i64>,
    file_name: &str,
    options: &UploadOptions,
    hash: String,
) -> Result<i64, UploadError> {
    let inserted = upload::Entity::insert(upload::ActiveModel {
        tenant_id: Set(tenant.id),
        uploaded_by: Set(uploaded_by),
        file_name: Set(file_name.chars().take(255).collect()),
        content_hash: Set(hash.clone()),
        format: Set(String::new()),
        encoding: Set(String::new()),
        delimiter: Set(String::new()),
        options: Set(Some(serde_json::to_value(options).expect("plain data"))),
        state: Set(UploadState::Validating),
        plan_summary: Set(None),
        rows_total: Set(0),
        rows_done: Set(0),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec(db)
    .await;
    match inserted {
        Ok(inserted) => Ok(inserted.last_insert_id),
        // The same file at the same moment (two tabs): the index of uploads in
        // progress (tenant, hash) let the other request's row in, not this one.
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            let existing = in_progress_with_hash(db, tenant.id, &hash).await?.ok_or(err)?;
            Err(UploadError::Duplicate { existing: existing.id, state: existing.state })
        }
        Err(err) => Err(err.into()),
    }
}

/// The upload `id` while it is still validating: one failed meanwhile as
/// abandoned stays failed.
fn still_validating(tenant: &tenant::Model, id: i64) -> sea_orm::UpdateMany<upload::Entity> {
    upload::Entity::update_many()
        .filter(upload::Column::Id.eq(id))
        .filter(upload::Column::TenantId.eq(tenant.id))
        .filter(upload::Column::State.eq(UploadState::Validating))
}

/// Fails the upload with `err`, telling its admins: a failed validation must
/// not keep the file locked as "in progress".
async fn mark_not_validated(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    id: i64,
    err: &DbErr,
) -> Result<(), DbErr> {
    let txn = crate::db::begin_write(db).await?;
    let failed = still_validating(tenant, id)
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
    Ok(())
}

/// Marks the upload ready with its plan's summary, telling its admins.
async fn mark_planned(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    id: i64,
    summary: PlanSummary,
) -> Result<(), UploadError> {
    let update = still_validating(tenant, id)
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
    Ok(())
}

/// A file is stored in parts of this size: each is copied a few times on its way
/// into the database, which for the whole file at once meant ~4x its size in memory.
pub(super) const PART: usize = 1 << 20;

pub(super) async fn store_file(
    db: &DatabaseConnection,
    tenant_id: i64,
    upload_id: i64,
    bytes: Vec<u8>,
) -> Result<(), DbErr> {
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
    use sea_orm::PaginatorTrait;
    let parts = upload_part::Entity::find()
        .filter(upload_part::Column::TenantId.eq(tenant_id))
        .filter(upload_part::Column::UploadId.eq(upload_id))
        .count(db)
        .await?;
    // Room for every part at once: grown by doubling, a 64 MB file would
    // briefly need 96 MB.
    let mut bytes = Vec::with_capacity(parts as usize * PART);
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
pub(super) async fn plan_upload(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    upload_id: i64,
    bytes: Vec<u8>,
    options: &PlanOptions,
) -> (Option<Vec<u8>>, Result<PlanSummary, DbErr>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<RowPlan>>(4);
    let planner = spawn_planner(db, tenant, bytes, options, tx);
    let (inserted, index) = write_planned_rows(db, tenant.id, upload_id, rx).await;
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

type Planner = tokio::task::JoinHandle<(Vec<u8>, Result<PlanSummary, DbErr>)>;

/// Plans the file on a blocking thread, sending its rows to `tx` a batch at a
/// time; the file comes back with the plan's summary.
fn spawn_planner(
    db: &DatabaseConnection,
    tenant: &tenant::Model,
    bytes: Vec<u8>,
    options: &PlanOptions,
    tx: tokio::sync::mpsc::Sender<Vec<RowPlan>>,
) -> Planner {
    let options = options.clone();
    let (db_for_planner, tenant_for_planner) = (db.clone(), tenant.clone());
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        // The first pass learns which users the file names; only they (and their
        // managers) are read, except in a sync, which must see everyone.
        let pass = FirstPass::read(&bytes, &options);
        let directory = runtime.block_on(async {
            // A tenant without users has no one for the file to name: its keys
            // (68 MB for a million rows) are not gathered, and the whole
            // directory, its catalogue, is read.
            if !directory::has_users(&db_for_planner, tenant_for_planner.id).await? {
                return directory::load(&db_for_planner, &tenant_for_planner).await;
            }
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
    })
}

/// Inserts the planned rows as they come from `rx`; returns the outcome and
/// how many rows were received.
async fn write_planned_rows(
    db: &DatabaseConnection,
    tenant_id: i64,
    upload_id: i64,
    rx: tokio::sync::mpsc::Receiver<Vec<RowPlan>>,
) -> (Result<(), DbErr>, usize) {
    // PostgreSQL takes a few batches side by side, each COPY on its own pooled
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
                .map(|(i, plan)| row_model(tenant_id, upload_id, first + i + 1, plan))
                .collect();
            bulk::write(db, "upload_rows", ROW_COLUMNS, models).await?;
        }
    };
    let inserted = crate::load::side_by_side((0..writers).map(|_| writer()).collect(), &halted).await;
    (inserted, received.into_inner().1)
}
