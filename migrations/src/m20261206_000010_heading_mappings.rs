//! The mapping an admin gave a file's unknown headings, remembered for the
//! tenant and offered again for the next file with the same headings (HR
//! exports repeat theirs every night). Keyed by a digest of the heading line.
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
                .table("heading_mappings")
                .col(big_pk_auto("id"))
                .col(big_integer("tenant_id"))
                // Hex SHA-256 of the headings, in order, as written (trimmed).
                .col(string_len("headings_key", 64))
                // {"heading": "field" or null}
                .col(json("mapping"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_heading_mappings_tenant")
                        .from("heading_mappings", "tenant_id")
                        .to("tenants", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_heading_mappings_key")
                .table("heading_mappings")
                .col("tenant_id")
                .col("headings_key")
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("heading_mappings").to_owned()).await
    }
}
