//! What happened to a tenant's uploads, in order: the event stream's source.
//! Ids are the stream's cursor, so a browser that reconnects resumes where it
//! stopped; old events are purged, and a cursor older than those kept is told
//! to start again from the page.
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
                .table("events")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                .col(big_integer_null("upload_id"))
                .col(string_len("kind", 32))
                .col(json("data"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_events_tenant")
                        .from("events", "tenant_id")
                        .to("tenants", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_events_tenant_id").table("events").col("tenant_id").col("id").to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_events_created_at").table("events").col("created_at").to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("events").to_owned()).await
    }
}
