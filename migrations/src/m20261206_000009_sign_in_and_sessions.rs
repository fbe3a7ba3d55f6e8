//! What sign-in security needs to remember:
//! - `users.last_sign_in_at` and `users.password_changed_at`: credentials a
//!   lost mail is re-sent with are renewed only for a user who has done
//!   neither since (a user who signed in has what they were sent);
//! - `sessions.last_seen_at`: a session unused for the idle timeout ends,
//!   beside the absolute one;
//! - `sign_in_failures`: the sign-in back-off's counts, in the database so
//!   that several server processes share one budget; keyed by a digest of the
//!   account or address, never the text typed.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in ["last_sign_in_at", "password_changed_at"] {
            m.alter_table(Table::alter().table("users").add_column(timestamp_with_time_zone_null(column)).to_owned())
                .await?;
        }
        m.alter_table(
            Table::alter().table("sessions").add_column(timestamp_with_time_zone_null("last_seen_at")).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("sign_in_failures")
                // Hex SHA-256 of the key ("account:…", "address:…").
                .col(string_len("key", 64).primary_key())
                .col(integer("failures"))
                .col(timestamp_with_time_zone("first_at"))
                // No attempt is checked before then.
                .col(timestamp_with_time_zone("blocked_until"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_sign_in_failures_first").table("sign_in_failures").col("first_at").to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("sign_in_failures").to_owned()).await?;
        m.alter_table(Table::alter().table("sessions").drop_column("last_seen_at").to_owned()).await?;
        for column in ["last_sign_in_at", "password_changed_at"] {
            m.alter_table(Table::alter().table("users").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
