//! Dropping and restoring a foreign key as its migration made it, on both backends:
//! PostgreSQL by the key's name, SQLite (which cannot alter a constraint) by
//! building the table again from its own definition without, or with, the key.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

/// A foreign key as its migration made it.
pub struct Key {
    pub table: &'static str,
    pub column: &'static str,
    pub to: &'static str,
    pub on_delete: OnDelete,
}

/// The actions the first schema's keys use.
#[derive(Clone, Copy)]
pub enum OnDelete {
    Cascade,
    SetNull,
}

impl Key {
    /// The migrations' names: `fk_{table}_tenant` for the tenant's key,
    /// `fk_{table}_{column}` for the others.
    fn name(&self) -> String {
        match self.column {
            "tenant_id" => format!("fk_{}_tenant", self.table),
            column => format!("fk_{}_{column}", self.table),
        }
    }

    /// The key as it stands in SQLite's copy of the table definition.
    fn sqlite_clause(&self) -> String {
        let action = match self.on_delete {
            OnDelete::Cascade => "CASCADE",
            OnDelete::SetNull => "SET NULL",
        };
        format!(r#", FOREIGN KEY ("{}") REFERENCES "{}" ("id") ON DELETE {action}"#, self.column, self.to)
    }
}

pub async fn drop(m: &SchemaManager<'_>, key: &Key) -> Result<(), DbErr> {
    let db = m.get_connection();
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let clause = key.sqlite_clause();
            rebuild(db, key.table, |sql| sql.replacen(&clause, "", 1)).await
        }
        _ => m.drop_foreign_key(ForeignKey::drop().name(key.name()).table(key.table).to_owned()).await,
    }
}

pub async fn restore(m: &SchemaManager<'_>, key: &Key) -> Result<(), DbErr> {
    let db = m.get_connection();
    match db.get_database_backend() {
        DatabaseBackend::Sqlite => {
            let clause = key.sqlite_clause();
            rebuild(db, key.table, |sql| {
                let end = sql.rfind(')').unwrap_or(sql.len());
                format!("{}{clause} {}", sql[..end].trim_end(), &sql[end..])
            })
            .await
        }
        _ => {
            m.create_foreign_key(
                ForeignKey::create()
                    .name(key.name())
                    .from(key.table, key.column)
                    .to(key.to, "id")
                    .on_delete(match key.on_delete {
                        OnDelete::Cascade => ForeignKeyAction::Cascade,
                        OnDelete::SetNull => ForeignKeyAction::SetNull,
                    })
                    .to_owned(),
            )
            .await
        }
    }
}

/// SQLite cannot drop a constraint: the table is created again from its own
/// definition, changed by `change`, its rows copied and its indexes re-made.
async fn rebuild<C: ConnectionTrait>(db: &C, table: &str, change: impl Fn(&str) -> String) -> Result<(), DbErr> {
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
    // The AUTOINCREMENT counter goes with the old table: ids of rows deleted
    // before the rebuild must not be handed out again (an audit trail's ids).
    let counter = db
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "SELECT seq FROM sqlite_sequence WHERE name = ?",
            [table.into()],
        ))
        .await?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?;
    db.execute_unprepared(&format!("DROP TABLE \"{table}\"")).await?;
    db.execute_unprepared(&format!("ALTER TABLE \"{staging}\" RENAME TO \"{table}\"")).await?;
    if let Some(counter) = counter {
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "DELETE FROM sqlite_sequence WHERE name = ?",
            [table.into()],
        ))
        .await?;
        db.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Sqlite,
            "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
            [table.into(), counter.into()],
        ))
        .await?;
    }
    for index in indexes {
        db.execute_unprepared(&index).await?;
    }
    Ok(())
}
