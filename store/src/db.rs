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
        if plain_on_loopback(&url, std::env::var_os("PGSSLMODE").is_some()) {
            options.map_sqlx_postgres_opts(|pg| pg.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable));
        }
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

/// Whether a PostgreSQL connection goes without TLS: to a loopback address,
/// unless `PGSSLMODE` is set or the URL says anything of TLS (`sslmode=`,
/// a certificate; a key it percent-encodes is taken to). There the bytes
/// never leave the machine, so encrypting them protects nothing, and it cost
/// both processes CPU on every row: 1M new users on PostgreSQL took 80.9 and
/// 81.7 s end to end without it, 88.7 and 91.4 s with it (sqlx's default,
/// `prefer`, takes TLS whenever the server offers it). A loopback port that
/// forwards elsewhere without encrypting, or a server that takes loopback
/// connections only over TLS (`hostssl`), should say `sslmode=require`.
fn plain_on_loopback(url: &str, pgsslmode_set: bool) -> bool {
    let says_tls = url.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|pair| {
            let key = pair.split('=').next().unwrap_or_default().to_ascii_lowercase();
            key.starts_with("ssl") || key.contains('%')
        })
    });
    if pgsslmode_set || says_tls {
        return false;
    }
    let Ok(options) = url.parse::<sea_orm::sqlx::postgres::PgConnectOptions>() else {
        return false;
    };
    let host = options.get_host().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
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

#[cfg(test)]
mod tests {
    use super::plain_on_loopback;

    #[test]
    fn only_a_loopback_connection_that_says_nothing_of_tls_goes_without_it() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/muster",
            "postgres://muster@localhost/muster",
            "postgres://muster@[::1]:5432/muster",
            "postgres://muster@127.0.0.2/muster?application_name=muster",
        ] {
            assert!(plain_on_loopback(url, false), "{url}");
            assert!(!plain_on_loopback(url, true), "{url}: PGSSLMODE set");
        }
        for url in [
            "postgres://muster@db.example.org/muster",
            "postgres://muster@10.0.0.5:5432/muster",
            "postgres://muster@127.0.0.1/muster?sslmode=require",
            "postgres://muster@localhost/muster?application_name=m&sslmode=prefer",
            "postgres://muster@127.0.0.1/muster?ssl-mode=verify-full",
            "postgres://muster@127.0.0.1/muster?ssl%2Dmode=require",
            "postgres://muster@localhost/muster?sslrootcert=/etc/ca.pem",
            "postgres://muster@127.0.0.1/muster?SSLCert=/c.pem&sslkey=/k.pem",
            "not a url",
        ] {
            assert!(!plain_on_loopback(url, false), "{url}");
        }
    }
}
