//! Mail a load owes, one row per recipient in place of one mark per batch.
//! With a mark per batch, one undeliverable address kept the whole batch owed:
//! every user of it was sent new credentials again and again, including those
//! who had their first message and had used it. Now each message is owed on
//! its own, cleared as it is sent, made final when it cannot be delivered, and
//! tried a bounded number of times. The batch claims its rows from the start
//! (`claimed_until`), so nobody else sends them while its sender is at work.
//!
//! Marks of the old kind still owed at the upgrade are dropped: they named a
//! range of rows, not recipients, and re-sending a whole range is the defect
//! this replaces. Their rows keep the result the load gave them.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("pending_mail").to_owned()).await?;
        m.create_table(
            Table::create()
                .table("mail_owed")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                .col(big_integer("upload_id"))
                // The row whose result says what became of the message.
                .col(big_integer("upload_row_id"))
                // Null once the user is deleted: the row then says the message
                // was not sent, instead of "queued" for ever.
                .col(big_integer_null("user_id"))
                // 'invitation' or 'password'.
                .col(string_len("kind", 16))
                // Attempts begun: the batch's own is the first, each claim
                // after it one more.
                .col(integer("attempts").default(1))
                // Nobody else sends it before then: its sender is at work, or
                // it waits out the back-off after a failed attempt.
                .col(timestamp_with_time_zone("claimed_until"))
                // Who holds the claim: a token of the sender's. Only its holder
                // may record the message sent or failed; one whose claim lapsed
                // and was taken by another sends nothing more.
                .col(string_len_null("claimed_by", 32))
                .col(timestamp_with_time_zone("created_at"))
                .col(text_null("last_error"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_mail_owed_upload_id")
                        .from("mail_owed", "upload_id")
                        .to("uploads", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_mail_owed_user_id")
                        .from("mail_owed", "user_id")
                        .to("users", "id")
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_mail_owed_due").table("mail_owed").col("claimed_until").to_owned())
            .await?;
        m.create_index(Index::create().name("ix_mail_owed_user").table("mail_owed").col("user_id").to_owned()).await?;
        m.create_index(Index::create().name("ix_mail_owed_upload").table("mail_owed").col("upload_id").to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("mail_owed").to_owned()).await?;
        crate::m20261201_000007_pending_mail::Migration.up(m).await
    }
}
