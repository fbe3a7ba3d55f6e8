//! Rows that belong to a tenant through a parent (a membership through its user,
//! an invitation through its user, a planned row through its upload) keep their
//! `tenant_id` for filtering, without a foreign key to `tenants`: the parent's
//! key already removes them with the tenant. On PostgreSQL each such check locks
//! the one tenant row again for every inserted row; it was the largest single
//! cost of loading memberships (2000 rows: 31 ms with it, 15 ms without).
use crate::foreign_keys::{self, Key, OnDelete};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 4] = ["user_roles", "user_groups", "invitations", "upload_rows"];

fn tenant_key(table: &'static str) -> Key {
    Key { table, column: "tenant_id", to: "tenants", on_delete: OnDelete::Cascade }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // SQLite rebuilds each table: all of it or none of it.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            foreign_keys::drop(m, &tenant_key(table)).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            foreign_keys::restore(m, &tenant_key(table)).await?;
        }
        Ok(())
    }
}
