//! The same file submitted twice at once (a double click, two tabs) must be one
//! upload. Looking for an upload of the file before inserting one left a window in
//! which both requests found none; a unique index on the tenant and the file's
//! hash, over the uploads still in progress only, closes it in the database. A file
//! loaded (or cancelled) before may be submitted again: its upload has left the
//! index.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The states of `muster_store::uploads::UploadState::IN_PROGRESS`, as they were when
/// this migration was written.
const IN_PROGRESS: &str = "'validating', 'ready', 'queued', 'running'";
const WHY: &str = "The same file was already in progress as another upload";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        // Pairs that the old check let through: the one furthest on (running,
        // then queued, then ready; the earlier of two alike) goes on, the others
        // fail, and so do their jobs that have not started, so that the index can
        // be built and no load is left to trip over it.
        let rank = |table: &str| {
            format!("CASE {table}.state WHEN 'running' THEN 3 WHEN 'queued' THEN 2 WHEN 'ready' THEN 1 ELSE 0 END")
        };
        let behind = format!(
            "state IN ({IN_PROGRESS}) AND EXISTS (\
               SELECT 1 FROM uploads other WHERE other.tenant_id = uploads.tenant_id \
               AND other.content_hash = uploads.content_hash AND other.id <> uploads.id \
               AND other.state IN ({IN_PROGRESS}) \
               AND ({other} > {this} OR ({other} = {this} AND other.id < uploads.id)))",
            other = rank("other"),
            this = rank("uploads"),
        );
        db.execute_unprepared(&format!(
            "UPDATE jobs SET state = 'failed', last_error = '{WHY}' \
             WHERE state = 'queued' AND upload_id IN (SELECT id FROM uploads WHERE {behind})"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "UPDATE uploads SET state = 'failed', error = '{WHY}', finished_at = CURRENT_TIMESTAMP WHERE {behind}"
        ))
        .await?;
        // Partial indexes read the same on both databases.
        db.execute_unprepared(&format!(
            "CREATE UNIQUE INDEX uploads_in_progress_hash ON uploads (tenant_id, content_hash) \
             WHERE state IN ({IN_PROGRESS})"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection().execute_unprepared("DROP INDEX uploads_in_progress_hash").await?;
        Ok(())
    }
}
