//! Reading a tenant's users a page at a time (`id > last ORDER BY id`) needs an
//! index that holds both: without it SQLite walks every user of the tenant and
//! sorts them, for every page.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(Index::create().name("ix_users_tenant_id").table("users").col("tenant_id").col("id").to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_users_tenant_id").table("users").to_owned()).await
    }
}
