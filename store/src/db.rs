//! Opening the database named by `DATABASE_URL` and bringing its schema up to date.
use muster_migrations::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// Connects and applies every pending migration. For SQLite the file and its folder
/// are created when missing (`mode=rwc`).
pub async fn connect_and_migrate(url: &str) -> Result<DatabaseConnection, DbErr> {
    let db = connect(url).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let url = sqlite_create_if_missing(url);
    let mut options = ConnectOptions::new(url.clone());
    options.connect_timeout(Duration::from_secs(10)).acquire_timeout(Duration::from_secs(30)).sqlx_logging(false);
    if is_sqlite(&url) {
        // One writer at a time is SQLite's rule; a small pool keeps readers from
        // queueing behind it without multiplying lock contention.
        options.max_connections(8).min_connections(1).map_sqlx_sqlite_opts(|sqlite| {
            // WAL: pages read while a load writes, without waiting for it. Every
            // commit is still synced (FULL): a confirmed change survives a power cut.
            sqlite.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
        });
    } else {
        options.max_connections(16).min_connections(1).map_sqlx_postgres_pool_opts(|pool| {
            pool.after_connect(|_, _| {
                Box::pin(async {
                    crate::nodelay::on_all_tcp_sockets();
                    Ok(())
                })
            })
        });
    }
    Database::connect(options).await
}

/// Whether `url` names a SQLite database (else PostgreSQL).
pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

fn sqlite_create_if_missing(url: &str) -> String {
    let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
        return url.to_owned();
    };
    let file = path.split('?').next().unwrap_or(path);
    if let Some(parent) = std::path::Path::new(file).parent() {
        if !parent.as_os_str().is_empty() {
            let _ = std::fs::create_dir_all(parent);
        }
    }
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// A `DATABASE_URL` for a SQLite file at `path`.
pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// A transaction that will write. On SQLite it takes the write lock at BEGIN
/// (`BEGIN IMMEDIATE`), waiting for it within the busy timeout: a transaction
/// that reads first and writes later would instead fail at once with
/// SQLITE_BUSY if another connection wrote in between. PostgreSQL: a plain BEGIN.
pub async fn begin_write<C: TransactionTrait>(db: &C) -> Result<C::Transaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// The database's clock: leases and claims that processes on several machines
/// compare are all set and read by it, never by one process's own clock (a
/// machine whose clock runs ahead would otherwise take over live work). On
/// SQLite, whose file every process reaches on one machine, that machine's clock.
/// `clock_timestamp()`, not `now()`: inside a transaction `now()` is the time
/// it began, and a lease reckoned from that may have passed already.
pub async fn now<C: sea_orm::ConnectionTrait>(db: &C) -> Result<chrono::DateTime<chrono::Utc>, DbErr> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Ok(chrono::Utc::now());
    }
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT clock_timestamp() AS now",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("SELECT now() returned no row".into()))?;
    row.try_get("", "now")
}
