//! The same file submitted twice at once (a double click, two tabs) must be one
//! upload. Looking for an upload of the file before inserting one left a window in
//! which both requests found none; a unique index on the tenant and the file's
//! hash, over the uploads still in progress only, closes it in the database. A file
//! loaded (or cancelled) before may be submitted again: its upload has left the
//! index.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The states of `muster_store::uploads::state::IN_PROGRESS`, as they were when
/// this migration was written.
const IN_PROGRESS: &str = "'validating', 'ready', 'queued', 'running'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        // Pairs that the old check let through: the later one fails, so that the
        // index can be built and the earlier one goes on.
        db.execute_unprepared(&format!(
            "UPDATE uploads SET state = 'failed', \
             error = 'The same file was already in progress as an earlier upload' \
             WHERE state IN ({IN_PROGRESS}) AND EXISTS (\
               SELECT 1 FROM uploads earlier WHERE earlier.tenant_id = uploads.tenant_id \
               AND earlier.content_hash = uploads.content_hash AND earlier.id < uploads.id \
               AND earlier.state IN ({IN_PROGRESS}))"
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
