//! Mail a load owes: a batch that produced invitations or passwords to send
//! marks its rows as owed in its own transaction, and the mark is removed once
//! every message went out. A mark left behind (the process died after the
//! commit, or the mail server refused) is found by a worker, which sends those
//! users new credentials: only hashes are stored, so the old ones cannot be
//! sent again. A mark goes with its upload.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("pending_mail")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                .col(big_integer("upload_id"))
                // The batch's rows: row_index in (after_index, last_index].
                .col(integer("after_index"))
                .col(integer("last_index"))
                .col(timestamp_with_time_zone("created_at"))
                // A worker sending it again holds it until then.
                .col(timestamp_with_time_zone_null("claimed_until"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_pending_mail_upload_id")
                        .from("pending_mail", "upload_id")
                        .to("uploads", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("idx_pending_mail_created").table("pending_mail").col("created_at").to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("pending_mail").to_owned()).await
    }
}
