//! Two costs of the load on PostgreSQL, per row it writes:
//! - `audit_events.upload_id` had a foreign key to `uploads`: every event of a
//!   load checked (and share-locked) the one upload row again. An audit trail is
//!   history: it keeps the upload's id as it was, and a deleted upload no longer
//!   blanks it. The tenant key stays (events go with their tenant).
//! - Each planned row gets its result in place; with pages packed full, every
//!   such update was a new row version in all three of the table's indexes.
//!   Pages now keep room for it (fillfactor 45: a row and its updated copy), so
//!   the update stays on the page and touches no index (a HOT update).
//!   SQLite has no such setting and rewrites rows in place.
use crate::foreign_keys::{self, Key, OnDelete};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UPLOAD_KEY: Key = Key { table: "audit_events", column: "upload_id", to: "uploads", on_delete: OnDelete::SetNull };

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        foreign_keys::drop(m, &UPLOAD_KEY).await?;
        if m.get_database_backend() == DatabaseBackend::Postgres {
            m.get_connection().execute_unprepared("ALTER TABLE upload_rows SET (fillfactor = 45)").await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        // Events of uploads deleted since keep ids the key would refuse.
        db.execute_unprepared(
            "UPDATE audit_events SET upload_id = NULL \
             WHERE upload_id IS NOT NULL AND upload_id NOT IN (SELECT id FROM uploads)",
        )
        .await?;
        if m.get_database_backend() == DatabaseBackend::Postgres {
            db.execute_unprepared("ALTER TABLE upload_rows RESET (fillfactor)").await?;
        }
        foreign_keys::restore(m, &UPLOAD_KEY).await
    }
}
