//! Rows that belong to a tenant through a parent (a membership through its user,
//! an invitation through its user, a planned row through its upload) keep their
//! `tenant_id` for filtering, without a foreign key to `tenants`: the parent's
//! key already removes them with the tenant. On PostgreSQL each such check locks
//! the one tenant row again for every inserted row; it was the largest single
//! cost of loading memberships (2000 rows: 31 ms with it, 15 ms without).
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

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
                    rebuild_sqlite(db, table, |sql| sql.replacen(SQLITE_TENANT_KEY, "", 1)).await?
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
                    rebuild_sqlite(db, table, |sql| {
                        let end = sql.rfind(')').unwrap_or(sql.len());
                        format!("{}{SQLITE_TENANT_KEY} {}", sql[..end].trim_end(), &sql[end..])
                    })
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

/// SQLite cannot drop a constraint: the table is created again from its own
/// definition, changed by `change`, its rows copied and its indexes re-made.
async fn rebuild_sqlite<C: ConnectionTrait>(db: &C, table: &str, change: impl Fn(&str) -> String) -> Result<(), DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL",
            [table.into()],
        ))
        .await?;
    let mut create = None;
    let mut indexes = Vec::new();
    for row in rows {
        let (kind, sql): (String, String) = (row.try_get("", "type")?, row.try_get("", "sql")?);
        if kind == "table" {
            create = Some(sql);
        } else {
            indexes.push(sql);
        }
    }
    let create = create.ok_or_else(|| DbErr::Migration(format!("table {table} not found")))?;
    let changed = change(&create);
    if changed == create {
        return Err(DbErr::Migration(format!("table {table}: its definition is not the expected one")));
    }
    let staging = format!("{table}_rebuilt");
    let changed = changed.replacen(&format!("CREATE TABLE \"{table}\""), &format!("CREATE TABLE \"{staging}\""), 1);
    db.execute_unprepared(&changed).await?;
    db.execute_unprepared(&format!("INSERT INTO \"{staging}\" SELECT * FROM \"{table}\"")).await?;
    db.execute_unprepared(&format!("DROP TABLE \"{table}\"")).await?;
    db.execute_unprepared(&format!("ALTER TABLE \"{staging}\" RENAME TO \"{table}\"")).await?;
    for index in indexes {
        db.execute_unprepared(&index).await?;
    }
    Ok(())
}
