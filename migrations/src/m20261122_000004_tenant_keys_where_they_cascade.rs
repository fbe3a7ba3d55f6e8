//! Rows that belong to a tenant through a parent (a membership through its user,
//! an invitation through its user, a planned row through its upload) keep their
//! `tenant_id` for filtering, without a foreign key to `tenants`: the parent's
//! key already removes them with the tenant. On PostgreSQL each such check locks
//! the one tenant row again for every inserted row; it was the largest single
//! cost of loading memberships (2000 rows: 31 ms with it, 15 ms without).
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 4] = ["user_roles", "user_groups", "invitations", "upload_rows"];
const SQLITE_TENANT_KEY: &str = r#", FOREIGN KEY ("tenant_id") REFERENCES "tenants" ("id") ON DELETE CASCADE"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // SQLite rebuilds each table: all of it or none of it.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for table in TABLES {
            match db.get_database_backend() {
                DatabaseBackend::Sqlite => {
                    crate::sqlite::rebuild(db, table, |sql| sql.replacen(SQLITE_TENANT_KEY, "", 1)).await?
                }
                _ => {
                    m.drop_foreign_key(ForeignKey::drop().name(format!("fk_{table}_tenant")).table(table).to_owned())
                        .await?
                }
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for table in TABLES {
            match db.get_database_backend() {
                DatabaseBackend::Sqlite => {
                    crate::sqlite::rebuild(db, table, |sql| crate::sqlite::add_constraint(sql, SQLITE_TENANT_KEY))
                        .await?
                }
                _ => {
                    m.create_foreign_key(
                        ForeignKey::create()
                            .name(format!("fk_{table}_tenant"))
                            .from(table, "tenant_id")
                            .to("tenants", "id")
                            .on_delete(ForeignKeyAction::Cascade)
                            .to_owned(),
                    )
                    .await?
                }
            }
        }
        Ok(())
    }
}
