//! SQLite's way to change a table's constraints: build it again.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

/// A table definition with one more constraint at its end.
pub fn add_constraint(sql: &str, constraint: &str) -> String {
    let end = sql.rfind(')').unwrap_or(sql.len());
    format!("{}{constraint} {}", sql[..end].trim_end(), &sql[end..])
}

/// SQLite cannot drop a constraint: the table is created again from its own
/// definition, changed by `change`, its rows copied and its indexes re-made.
pub async fn rebuild<C: ConnectionTrait>(db: &C, table: &str, change: impl Fn(&str) -> String) -> Result<(), DbErr> {
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
