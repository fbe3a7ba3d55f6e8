//! Mail owed keeps whom it is for (`user_id`) and what upload it came from
//! (`upload_id`) as plain ids, without foreign keys or the indexes that served
//! them. Nothing reads owed mail by either: its sender finds it by when it is
//! due, and looks its user up before sending again, so a user deleted since
//! ends it "not sent: the user was deleted" as the key's `SET NULL` did.
//! Muster deletes no upload; mail owed for one deleted by hand is still sent
//! to its user if the user exists (with new credentials, as after any lost
//! send), and ends as above if not.
//! The keys cost every new user of a load two checks and two index entries,
//! about 7% of a load's time on PostgreSQL (`docs/performance.md`).
use crate::foreign_keys::{self, Key, OnDelete};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const KEYS: [Key; 2] = [
    Key { table: "mail_owed", column: "upload_id", to: "uploads", on_delete: OnDelete::Cascade },
    Key { table: "mail_owed", column: "user_id", to: "users", on_delete: OnDelete::SetNull },
];

/// The index each key had for its action, by the key's column.
fn index_of(column: &str) -> &'static str {
    match column {
        "upload_id" => "ix_mail_owed_upload",
        _ => "ix_mail_owed_user",
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // SQLite rebuilds the table: all of it or none of it.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for key in &KEYS {
            // The index first: SQLite's rebuild makes the table's indexes again.
            m.drop_index(Index::drop().name(index_of(key.column)).table(key.table).to_owned()).await?;
            foreign_keys::drop(m, key).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // What the keys would have done meanwhile: mail of a deleted upload
        // goes with it, a deleted user's is left without its user.
        let db = m.get_connection();
        db.execute_unprepared(
            "DELETE FROM mail_owed WHERE NOT EXISTS (SELECT 1 FROM uploads WHERE uploads.id = mail_owed.upload_id)",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE mail_owed SET user_id = NULL WHERE user_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM users WHERE users.id = mail_owed.user_id)",
        )
        .await?;
        for key in &KEYS {
            foreign_keys::restore(m, key).await?;
            let index = Index::create().name(index_of(key.column)).table(key.table).col(key.column).to_owned();
            m.create_index(index).await?;
        }
        Ok(())
    }
}
