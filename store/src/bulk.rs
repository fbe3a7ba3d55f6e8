//! Many rows written at once.
//!
//! On PostgreSQL a multi-row `VALUES` list would bind one parameter per cell:
//! a 1 000-row batch of users is 21 000 parameters, a new statement text for
//! every batch size, and a plan built for each. There a batch's rows travel in
//! a few parameters whatever their number: one array per column, bound in
//! binary and unpacked by `unnest`, in one round trip, by a statement text
//! that never changes (prepared once per connection). Unpacking one JSON array
//! by `json_to_recordset` instead, parsing took a tenth of PostgreSQL's time
//! in a load of new users.
//!
//! SQLite runs in the process, with no round trip to save: there a multi-row
//! `VALUES` list binds one parameter per cell, in statements of
//! [`SQLITE_ROWS`] rows, then of powers of two for the rows left over: few
//! statement texts, each prepared once per connection and repeated from
//! batch to batch. One JSON array unpacked by `jsonb_each` had SQLite look
//! each cell up by its name: a sixth of a load's time in a profile.
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sqlx::PgPool;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, QueryResult, Statement};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write;

use crate::own_connection::WritesBehind;

/// The SQL type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    BigInt,
    Int,
    Text,
    Bool,
    Timestamp,
    Json,
}

impl Kind {
    fn postgres(self) -> &'static str {
        match self {
            Kind::BigInt => "bigint",
            Kind::Int => "integer",
            Kind::Text => "text",
            Kind::Bool => "boolean",
            Kind::Timestamp => "timestamptz",
            Kind::Json => "json",
        }
    }
}

/// A table's columns for [`insert`]: name and type, in the order rows give them.
pub type Columns<'a> = &'a [(&'static str, Kind)];

/// One row: its values in the order of the table's [`Columns`].
#[derive(Default)]
pub struct Row(Vec<Value>);

impl Row {
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }
    pub fn int(mut self, v: impl Into<Option<i64>>) -> Self {
        self.0.push(v.into().map_or(Value::Null, Value::from));
        self
    }
    pub fn text(mut self, v: Option<&str>) -> Self {
        self.0.push(v.map_or(Value::Null, Value::from));
        self
    }
    pub fn bool(mut self, v: bool) -> Self {
        self.0.push(Value::Bool(v));
        self
    }
    /// A timestamp written exactly as sqlx writes one to SQLite, so that text
    /// comparisons in SQL order it with the values sqlx binds.
    pub fn time(mut self, v: Option<DateTime<Utc>>) -> Self {
        self.0.push(v.map_or(Value::Null, |t| Value::from(t.to_rfc3339_opts(SecondsFormat::AutoSi, false))));
        self
    }
    pub fn json(mut self, v: Option<Value>) -> Self {
        self.0.push(v.unwrap_or(Value::Null));
        self
    }
}

/// The rows as PostgreSQL takes them: one array per column, bound in binary
/// and unpacked side by side by `unnest`, so that PostgreSQL parses no JSON
/// (in a load of new users, parsing the JSON payloads was a tenth of its
/// time). sea-query binds no NULL inside an array, so each column travels with
/// a second array saying which of its values are NULL.
struct Unpacked {
    /// `unnest(…) AS x(…)`, its arrays the statement's first parameters.
    from: String,
    /// Each column's value, by name, as an expression over `x`.
    values: Vec<String>,
    params: Vec<sea_orm::Value>,
}

/// Of rows that passed [`check`]: each value fits its column.
fn unpacked(columns: Columns<'_>, rows: Vec<Row>) -> Unpacked {
    use sea_orm::sea_query::ArrayType;
    use sea_orm::Value as V;
    let mut cells: Vec<Vec<V>> = columns.iter().map(|_| Vec::with_capacity(rows.len())).collect();
    let mut nulls: Vec<Vec<V>> = columns.iter().map(|_| Vec::with_capacity(rows.len())).collect();
    for row in rows {
        for (j, ((_, kind), value)) in columns.iter().zip(row.0).enumerate() {
            nulls[j].push(V::Bool(Some(value.is_null())));
            // A NULL's place in its column's array holds any value of the type.
            cells[j].push(match (kind, value) {
                (Kind::BigInt, v) => V::BigInt(Some(v.as_i64().unwrap_or_default())),
                (Kind::Int, v) => V::Int(Some(v.as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or_default())),
                (Kind::Bool, v) => V::Bool(Some(v.as_bool().unwrap_or_default())),
                (_, Value::Null) => V::String(Some(String::new())),
                (Kind::Text | Kind::Timestamp, Value::String(s)) => V::String(Some(s)),
                (_, v) => V::String(Some(v.to_string())),
            });
        }
    }
    let (mut arrays, mut names, mut values, mut params) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (j, ((name, kind), (cells, nulls))) in columns.iter().zip(cells.into_iter().zip(nulls)).enumerate() {
        // Timestamps and JSON travel as text, cast to their column's type.
        let (array, element, value) = match kind {
            Kind::BigInt => (kind.postgres(), ArrayType::BigInt, format!("x.{name}")),
            Kind::Int => (kind.postgres(), ArrayType::Int, format!("x.{name}")),
            Kind::Bool => (kind.postgres(), ArrayType::Bool, format!("x.{name}")),
            Kind::Text => ("text", ArrayType::String, format!("x.{name}")),
            Kind::Timestamp | Kind::Json => ("text", ArrayType::String, format!("x.{name}::{}", kind.postgres())),
        };
        arrays.push(format!("${}::{array}[], ${}::boolean[]", 2 * j + 1, 2 * j + 2));
        names.push(format!("{name}, {name}_null"));
        values.push(format!("CASE WHEN x.{name}_null THEN NULL ELSE {value} END"));
        params.push(V::Array(element, Some(Box::new(cells))));
        params.push(V::Array(ArrayType::Bool, Some(Box::new(nulls))));
    }
    Unpacked { from: format!("unnest({}) AS x({})", arrays.join(", "), names.join(", ")), values, params }
}

/// Refuses a value its column's kind cannot hold (a row built for other
/// columns), on both databases alike: PostgreSQL's arrays are typed, and
/// SQLite would store whatever it is given.
fn check(columns: Columns<'_>, rows: &[Row]) -> Result<(), DbErr> {
    for row in rows {
        if row.0.len() != columns.len() {
            return Err(DbErr::Custom(format!(
                "bulk write: a row of {} values for {} columns",
                row.0.len(),
                columns.len()
            )));
        }
        for ((name, kind), value) in columns.iter().zip(&row.0) {
            let fits = match (kind, value) {
                // A JSON column holds an object or an array: SQLite would
                // keep a string or a boolean as plain text or a number, not
                // as the JSON it was.
                (_, Value::Null) | (Kind::Json, Value::Array(_) | Value::Object(_)) | (Kind::Bool, Value::Bool(_)) => {
                    true
                }
                (Kind::BigInt, Value::Number(n)) => n.is_i64(),
                (Kind::Int, Value::Number(n)) => n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
                (Kind::Text | Kind::Timestamp, Value::String(_)) => true,
                _ => false,
            };
            if !fits {
                return Err(DbErr::Custom(format!("bulk write: column {name} ({kind:?}) given {value}")));
            }
        }
    }
    Ok(())
}

/// Rows per statement on SQLite, at most: few enough that the statements of
/// one batch repeat the same text, and prepared statements stay small.
const SQLITE_ROWS: usize = 500;

/// SQLite's limit of parameters in one statement (`SQLITE_MAX_VARIABLE_NUMBER`).
const SQLITE_PARAMETERS: usize = 32_766;

/// `(?, ?, …), (?, ?, …)`: `rows` rows of `columns` parameters.
fn sqlite_values(columns: usize, rows: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// A cell as SQLite stores it: text, a number, 1 or 0 for a boolean, JSON as
/// its text.
fn sqlite_cell(value: Value) -> sea_orm::Value {
    use sea_orm::Value as V;
    match value {
        Value::Null => V::String(None),
        Value::Bool(b) => V::Bool(Some(b)),
        // Of rows that passed `check`: a number is a whole one.
        Value::Number(n) => V::BigInt(n.as_i64()),
        Value::String(s) => V::String(Some(s)),
        json => V::String(Some(json.to_string())),
    }
}

/// SQLite's statements for `rows`, each of [`SQLITE_ROWS`] rows (fewer when
/// that many would pass [`SQLITE_PARAMETERS`]) or of a power of two fewer:
/// `sql(values)` makes one from its `VALUES` list; `after` are parameters
/// that follow the rows'.
fn sqlite_statements(
    columns: Columns<'_>,
    rows: Vec<Row>,
    sql: impl Fn(&str) -> String,
    after: &[sea_orm::Value],
) -> Vec<Statement> {
    let per_statement = SQLITE_ROWS.min((SQLITE_PARAMETERS - after.len()) / columns.len().max(1)).max(1);
    let mut statements = Vec::new();
    let mut left = rows.len();
    let mut rows = rows.into_iter();
    while left > 0 {
        // Fewer rows than a full statement go in statements of 256, 128, …
        // rows: a connection keeps each text it ran prepared (sqlx's cache),
        // and one text for every count of rows left over would fill it with
        // large statements.
        let take = if left >= per_statement { per_statement } else { 1 << left.ilog2() };
        left -= take;
        let chunk: Vec<Row> = rows.by_ref().take(take).collect();
        let text = sql(&sqlite_values(columns.len(), chunk.len()));
        let mut params = Vec::with_capacity(chunk.len() * columns.len() + after.len());
        params.extend(chunk.into_iter().flat_map(|row| row.0.into_iter().map(sqlite_cell)));
        params.extend_from_slice(after);
        statements.push(Statement::from_sql_and_values(DatabaseBackend::Sqlite, text, params));
    }
    statements
}

/// `column IN (values)` for a batch's many keys. On PostgreSQL one array
/// parameter (`= ANY($1)`): bound one by one, a thousand keys made a statement
/// of a thousand parameters, its text changing with their number, for
/// PostgreSQL to parse and plan at every batch.
pub fn one_of<T>(
    backend: DatabaseBackend,
    column: impl sea_orm::sea_query::IntoColumnRef,
    values: Vec<T>,
) -> sea_orm::sea_query::SimpleExpr
where
    T: Into<sea_orm::Value>,
    Vec<T>: Into<sea_orm::Value>,
{
    use sea_orm::sea_query::{extension::postgres::PgFunc, Expr, ExprTrait};
    match backend {
        DatabaseBackend::Postgres => Expr::col(column).eq(PgFunc::any(Expr::val(values))),
        _ => Expr::col(column).is_in(values),
    }
}

/// Inserts `rows` into `table`; with `returning`, the inserted rows' columns.
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    table: &str,
    columns: Columns<'_>,
    rows: Vec<Row>,
    returning: Option<&str>,
) -> Result<Vec<QueryResult>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let Some(returning) = returning else {
        execute_all(db, insert_statements(db, table, columns, rows, "")?).await?;
        return Ok(Vec::new());
    };
    let mut returned = Vec::new();
    for statement in insert_statements(db, table, columns, rows, &format!(" RETURNING {returning}"))? {
        returned.extend(db.query_all_raw(statement).await?);
    }
    Ok(returned)
}

/// A connection [`write`] may `COPY` over: the pool its `COPY` takes a
/// connection from, such that the rows land where the connection's other
/// statements do; `None` where they must be inserted instead (SQLite, or a
/// sea-orm transaction, whose connection no `COPY` can reach).
pub trait CopyTo: ConnectionTrait {
    fn copy_pool(&self) -> Option<&PgPool>;
    /// Where [`write`] may leave its rows to be written behind the caller
    /// (an [`OwnTransaction`](crate::own_connection::OwnTransaction)'s);
    /// `None` where each write ends before it returns.
    fn behind(&self) -> Option<&WritesBehind> {
        None
    }
}

/// Any of the pool's connections: each statement on it stands alone.
impl CopyTo for DatabaseConnection {
    fn copy_pool(&self) -> Option<&PgPool> {
        (self.get_database_backend() == DatabaseBackend::Postgres).then(|| self.get_postgres_connection_pool())
    }
}

/// Inserts `rows` into `table`: by `COPY … FROM STDIN` where `db` can (see
/// [`CopyTo`]), the rows as text, so that PostgreSQL receives no arrays to
/// unpack into a row store before inserting, and no sea-query value stands
/// between a row and its text (in a plan of 1M rows, those were a tenth of
/// PostgreSQL's time and most of the writers'); elsewhere as [`insert`].
///
/// Where `db` has [writes behind](CopyTo::behind) it, the rows are checked
/// and handed over, and written while the caller goes on; a write that then
/// fails fails the transaction's next statement or its commit.
pub async fn write<C: CopyTo>(db: &C, table: &str, columns: Columns<'_>, rows: Vec<Row>) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let Some(behind) = db.behind() else {
        return write_now(db, table, columns, rows).await;
    };
    check(columns, &rows)?;
    let (table, columns) = (table.to_owned(), columns.to_vec());
    behind.run(|own| async move { write_now(&own, &table, &columns, rows).await }).await
}

/// [`write`], ended before it returns.
async fn write_now<C: CopyTo>(db: &C, table: &str, columns: Columns<'_>, rows: Vec<Row>) -> Result<(), DbErr> {
    let Some(pool) = db.copy_pool() else {
        insert(db, table, columns, rows, None).await?;
        return Ok(());
    };
    use sea_orm::sqlx::postgres::PgPoolCopyExt;
    check(columns, &rows)?;
    let data = copy_text(columns, rows);
    let statement = format!("COPY {table} ({}) FROM STDIN", column_list(columns));
    let pool = pool.clone();
    // On a task of its own, so that it runs to its end even when the caller
    // is dropped (an upload's request cut off): a COPY cut off halfway would
    // go back to the pool with the server's replies out of step with sqlx's
    // count of them, and its next user would read another statement's.
    let copied = tokio::spawn(async move {
        let mut copy = pool.copy_in_raw(&statement).await?;
        if let Err(e) = copy.send(data.as_bytes()).await {
            // Ended either way: a connection left in COPY fails its next user.
            copy.abort("the rows could not be sent").await.ok();
            return Err(e);
        }
        copy.finish().await
    });
    match copied.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(DbErr::Exec(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e)))),
        Err(e) => Err(DbErr::Custom(format!("COPY {table}: {e}"))),
    }
}

/// Inserts `rows` into `table` as [`write`] does, each with a new `id`;
/// returns the ids in the rows' order. `key` names a column whose values
/// tell the rows apart (a number or a text). The ids are known before the
/// rows are written where `db` can `COPY` (taken from the table's sequence,
/// all in one statement) and in an own transaction on SQLite (the ones after
/// the last, under its write lock); the rows are then written with them, as
/// [`write`] does, behind the caller where it can. Elsewhere the rows are
/// inserted and their ids read back by `key`: SQLite returns inserted rows
/// in no promised order.
pub async fn write_with_ids<C: CopyTo>(
    db: &C,
    table: &str,
    columns: Columns<'_>,
    rows: Vec<Row>,
    key: &str,
) -> Result<Vec<i64>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let keys = keys_of(table, columns, &rows, key)?;
    let ids = match (db.copy_pool(), db.behind()) {
        (Some(_), _) => ids_from_sequence(db, table, rows.len()).await?,
        (None, Some(_)) => ids_after_last(db, table, rows.len()).await?,
        (None, None) => return insert_with_ids(db, table, columns, rows, key, keys).await,
    };
    // Zipped with the rows below, a short list would drop rows unwritten.
    if ids.len() != rows.len() {
        return Err(DbErr::Custom(format!("{table}: {} ids reserved for {} rows", ids.len(), rows.len())));
    }
    let with_id: Vec<(&str, Kind)> = std::iter::once(("id", Kind::BigInt)).chain(columns.iter().copied()).collect();
    let rows = rows.into_iter().zip(&ids).map(|(Row(mut values), &id)| {
        values.insert(0, Value::from(id));
        Row(values)
    });
    write(db, table, &with_id, rows.collect()).await?;
    Ok(ids)
}

/// `n` new ids of `table` from its sequence, in one statement.
async fn ids_from_sequence<C: ConnectionTrait>(db: &C, table: &str, n: usize) -> Result<Vec<i64>, DbErr> {
    // The sequence is looked up once, in a materialized CTE: as a subquery
    // PostgreSQL pulls it up and looks the name up again for every id, which
    // made a million ids take 5 s instead of 0.6 s.
    let reserve = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence($1, 'id')::regclass AS seq) \
         SELECT nextval(s.seq) AS id FROM s, generate_series(1, $2)",
        [table.into(), (n as i64).into()],
    );
    db.query_all_raw(reserve)
        .await?
        .iter()
        .map(|r| {
            r.try_get::<Option<i64>>("", "id")?.ok_or_else(|| DbErr::Custom(format!("{table} has no id sequence")))
        })
        .collect()
}

/// On SQLite, in a transaction that holds its write lock (an own
/// transaction's `BEGIN IMMEDIATE`): the `n` ids after the largest that
/// `table` holds or has given out (`AUTOINCREMENT`'s `sqlite_sequence`),
/// which no other writer can take before this one commits. Inserted with
/// their ids, the rows need not be read back to learn them, and may be
/// written behind the caller.
async fn ids_after_last<C: ConnectionTrait>(db: &C, table: &str, n: usize) -> Result<Vec<i64>, DbErr> {
    let last = Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        format!(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), \
             coalesce((SELECT max(id) FROM {table}), 0)) AS last"
        ),
        [table.into()],
    );
    let last: i64 = db
        .query_one_raw(last)
        .await?
        .ok_or_else(|| DbErr::Custom(format!("{table}: no last id")))?
        .try_get("", "last")?;
    Ok((1..=n as i64).map(|i| last + i).collect())
}

/// Each row's `key`, as text; refused unless `key` is a number or text column
/// whose values differ from row to row.
fn keys_of(table: &str, columns: Columns<'_>, rows: &[Row], key: &str) -> Result<Vec<String>, DbErr> {
    let refuse = |why: String| Err(DbErr::Custom(format!("bulk write into {table} by key {key}: {why}")));
    let Some(at) = columns.iter().position(|(name, _)| *name == key) else {
        return refuse("no such column".into());
    };
    if !matches!(columns[at].1, Kind::BigInt | Kind::Int | Kind::Text) {
        return refuse(format!("a key is a number or a text, not {:?}", columns[at].1));
    }
    let mut keys = Vec::with_capacity(rows.len());
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
    for row in rows {
        let text = match row.0.get(at) {
            Some(Value::String(text)) => text.clone(),
            Some(number @ Value::Number(_)) => number.to_string(),
            other => return refuse(format!("a row's key is {}", other.unwrap_or(&Value::Null))),
        };
        if !seen.insert(text.clone()) {
            return refuse(format!("two rows have the key {text}"));
        }
        keys.push(text);
    }
    Ok(keys)
}

/// [`write_with_ids`] by `INSERT … RETURNING`, of rows with these `keys`.
async fn insert_with_ids<C: ConnectionTrait>(
    db: &C,
    table: &str,
    columns: Columns<'_>,
    rows: Vec<Row>,
    key: &str,
    keys: Vec<String>,
) -> Result<Vec<i64>, DbErr> {
    let numeric = columns.iter().any(|(name, kind)| *name == key && matches!(kind, Kind::BigInt | Kind::Int));
    let inserted = insert(db, table, columns, rows, Some(&format!("id, {key}"))).await?;
    let mut ids = HashMap::with_capacity(inserted.len());
    for row in inserted {
        let key = if numeric { row.try_get::<i64>("", key)?.to_string() } else { row.try_get::<String>("", key)? };
        ids.insert(key, row.try_get::<i64>("", "id")?);
    }
    keys.iter()
        .map(|k| {
            ids.get(k)
                .copied()
                .ok_or_else(|| DbErr::Custom(format!("bulk write into {table}: no id came back for {key} {k}")))
        })
        .collect()
}

/// The most [`copy_text`] reserves ahead of the rows it has written.
const RESERVE_AT_MOST: usize = 16 << 20;

/// Rows in `COPY`'s text format: tab between values, `\N` for NULL,
/// booleans as `t` and `f`, JSON as its text. Backslashes, tabs and line
/// breaks in a text are escaped, so that each row is one line and none reads
/// as the end of the data (CSV cannot say that of a quoted line `\.`).
fn copy_text(columns: Columns<'_>, rows: Vec<Row>) -> String {
    /// Writes a text escaped for the text format.
    struct Escaped<'a>(&'a mut String);
    impl Write for Escaped<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            // Most texts hold nothing to escape, which one pass without an
            // early exit (so vectorized) tells. Pushed a character at a time,
            // texts were a tenth of a load's own CPU time on PostgreSQL.
            if !s.bytes().fold(false, |special, b| special | (b < 0x20) | (b == b'\\')) {
                self.0.push_str(s);
                return Ok(());
            }
            let mut rest = s;
            while let Some(at) = rest.bytes().position(|b| matches!(b, b'\\' | b'\n' | b'\r' | b'\t')) {
                self.0.push_str(&rest[..at]);
                self.0.push_str(match rest.as_bytes()[at] {
                    b'\\' => "\\\\",
                    b'\n' => "\\n",
                    b'\r' => "\\r",
                    _ => "\\t",
                });
                rest = &rest[at + 1..];
            }
            self.0.push_str(rest);
            Ok(())
        }
    }
    let count = rows.len();
    let mut out = String::new();
    for (i, row) in rows.into_iter().enumerate() {
        if i == 1 {
            // Sized by the first row, so that a batch's text is not copied as
            // it grows; within a bound, whatever the first row's size.
            out.reserve((out.len() * (count - 1) * 9 / 8).min(RESERVE_AT_MOST));
        }
        for (j, ((_, kind), value)) in columns.iter().zip(row.0).enumerate() {
            if j > 0 {
                out.push('\t');
            }
            // Of rows that passed `check`: each value fits its column.
            match (kind, value) {
                (_, Value::Null) => out.push_str("\\N"),
                // Rendered whole first: written straight through, each of
                // its tokens would be a call of its own.
                (Kind::Json, json) => Escaped(&mut out).write_str(&json.to_string()).expect("writing to a String"),
                (_, Value::Bool(b)) => out.push(if b { 't' } else { 'f' }),
                (_, Value::String(text)) => Escaped(&mut out).write_str(&text).expect("writing to a String"),
                (_, other) => write!(out, "{other}").expect("writing to a String"),
            }
        }
        out.push('\n');
    }
    out
}

/// Inserts those of `rows` that no unique key of `table` holds already (one
/// another transaction just inserted, say); returns how many it inserted.
pub async fn insert_missing<C: ConnectionTrait>(
    db: &C,
    table: &str,
    columns: Columns<'_>,
    rows: Vec<Row>,
) -> Result<u64, DbErr> {
    if rows.is_empty() {
        return Ok(0);
    }
    execute_all(db, insert_statements(db, table, columns, rows, " ON CONFLICT DO NOTHING")?).await
}

/// The columns' names, as a statement lists them.
fn column_list(columns: Columns<'_>) -> String {
    columns.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// One statement on PostgreSQL; on SQLite one per [`SQLITE_ROWS`] rows: one
/// write within the caller's transaction, each its own outside one.
fn insert_statements<C: ConnectionTrait>(
    db: &C,
    table: &str,
    columns: Columns<'_>,
    rows: Vec<Row>,
    tail: &str,
) -> Result<Vec<Statement>, DbErr> {
    check(columns, &rows)?;
    let backend = db.get_database_backend();
    let list = column_list(columns);
    match backend {
        DatabaseBackend::Postgres => {
            let Unpacked { from, values, params } = unpacked(columns, rows);
            let sql = format!("INSERT INTO {table} ({list}) SELECT {} FROM {from}{tail}", values.join(", "));
            Ok(vec![Statement::from_sql_and_values(backend, sql, params)])
        }
        _ => Ok(sqlite_statements(
            columns,
            rows,
            |values| format!("INSERT INTO {table} ({list}) VALUES {values}{tail}"),
            &[],
        )),
    }
}

/// Sets `columns` of the rows of `table` whose `id` each row gives (the first
/// column), within `tenant_id`, where `condition` holds; returns how many.
/// `condition` is SQL over the table as `t`, without parameters.
pub async fn update_by_id<C: ConnectionTrait>(
    db: &C,
    table: &str,
    columns: Columns<'_>,
    rows: Vec<Row>,
    tenant_id: i64,
    condition: &str,
) -> Result<u64, DbErr> {
    if rows.is_empty() {
        return Ok(0);
    }
    let backend = db.get_database_backend();
    check(columns, &rows)?;
    let (id, _) = columns[0];
    if backend == DatabaseBackend::Postgres {
        let Unpacked { from, values, mut params } = unpacked(columns, rows);
        let sets: Vec<String> = columns.iter().zip(&values).skip(1).map(|((n, _), v)| format!("{n} = {v}")).collect();
        let sql = format!(
            "UPDATE {table} AS t SET {} FROM {from} WHERE t.{id} = x.{id} AND t.tenant_id = ${} AND {condition}",
            sets.join(", "),
            params.len() + 1
        );
        params.push(tenant_id.into());
        return execute_all(db, vec![Statement::from_sql_and_values(backend, sql, params)]).await;
    }
    // `+t.tenant_id` keeps SQLite from walking the table by its tenant index:
    // the rows given lead, each finds its row by primary key.
    let list = column_list(columns);
    let sets: Vec<String> = columns[1..].iter().map(|(n, _)| format!("{n} = x.{n}")).collect();
    let sql = |values: &str| {
        format!(
            "WITH x({list}) AS (VALUES {values}) UPDATE {table} AS t SET {} FROM x \
             WHERE t.{id} = x.{id} AND +t.tenant_id = ? AND {condition}",
            sets.join(", ")
        )
    };
    execute_all(db, sqlite_statements(columns, rows, sql, &[tenant_id.into()])).await
}

/// Runs `statements` in turn; returns how many rows they changed in all.
async fn execute_all<C: ConnectionTrait>(db: &C, statements: Vec<Statement>) -> Result<u64, DbErr> {
    let mut changed = 0;
    for statement in statements {
        changed += db.execute_raw(statement).await?.rows_affected();
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_statements_stay_under_its_parameter_limit_and_take_every_row() {
        // 86 columns: 381 rows of them are exactly the limit, with no room for
        // the parameter after them.
        let wide: Vec<(&str, Kind)> = vec![("c", Kind::Text); 86];
        let rows: Vec<Row> = (0..1000).map(|_| (0..86).fold(Row::default(), |r, _| r.text(Some("x")))).collect();
        let statements = sqlite_statements(&wide, rows, |values| format!("INSERT INTO t VALUES {values}"), &[1.into()]);
        let sizes: Vec<usize> = statements.iter().map(|s| s.values.as_ref().map_or(0, |v| v.0.len())).collect();
        assert!(sizes.iter().all(|&n| n <= SQLITE_PARAMETERS), "{sizes:?}");
        assert_eq!(
            sizes.iter().map(|n| (n - 1) / 86).sum::<usize>(),
            1000,
            "{sizes:?}: each row once, then the one after"
        );
        let narrow: Columns = &[("id", Kind::BigInt)];
        let rows = (0..1300).map(|i| Row::default().int(i)).collect();
        let statements = sqlite_statements(narrow, rows, |values| values.to_owned(), &[]);
        let counts: Vec<usize> = statements.iter().map(|s| s.sql.matches("(?)").count()).collect();
        assert_eq!(counts, [SQLITE_ROWS, SQLITE_ROWS, 256, 32, 8, 4], "full statements, then powers of two");
        let values: Vec<i64> = statements
            .iter()
            .flat_map(|s| {
                s.values.as_ref().unwrap().0.iter().map(|v| match v {
                    sea_orm::Value::BigInt(Some(n)) => *n,
                    other => panic!("{other:?}"),
                })
            })
            .collect();
        assert_eq!(values, (0..1300).collect::<Vec<i64>>(), "each row once, in order");
    }

    #[test]
    fn copy_text_is_one_line_a_row_whatever_the_text_holds() {
        let columns: Columns = &[("id", Kind::BigInt), ("name", Kind::Text), ("ok", Kind::Bool), ("extra", Kind::Json)];
        let rows = vec![
            Row::default().int(1).text(Some("Zoë \"Z\",\n\\.\n\ttab\r")).bool(true).json(None),
            Row::default().int(None).text(Some("")).bool(false).json(Some(serde_json::json!({"a": "\\N\n"}))),
            Row::default().int(2).text(Some("plain, \"quoted\" Zoë")).bool(true).json(Some(serde_json::json!([]))),
        ];
        let text = copy_text(columns, rows);
        let lines: Vec<Vec<&str>> = text.lines().map(|line| line.split('\t').collect()).collect();
        assert_eq!(
            lines,
            [
                vec!["1", r#"Zoë "Z",\n\\.\n\ttab\r"#, "t", r"\N"],
                vec![r"\N", "", "f", r#"{"a":"\\\\N\\n"}"#],
                vec!["2", r#"plain, "quoted" Zoë"#, "t", "[]"],
            ]
        );
        assert!(text.ends_with('\n'), "the last row ends its line");
    }

    #[test]
    fn a_json_column_takes_an_object_or_an_array_only() {
        let columns: Columns = &[("extra", Kind::Json)];
        for fits in [serde_json::json!({"a": 1}), serde_json::json!([1])] {
            assert!(check(columns, &[Row::default().json(Some(fits))]).is_ok());
        }
        for scalar in [serde_json::json!("x"), serde_json::json!(true), serde_json::json!(1)] {
            assert!(check(columns, &[Row::default().json(Some(scalar.clone()))]).is_err(), "{scalar}");
        }
    }
}
