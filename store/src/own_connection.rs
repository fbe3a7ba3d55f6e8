//! A connection of one's own, for transactions that write by `COPY`, and
//! on SQLite write behind their caller ([`WritesBehind`]).
//!
//! sea-orm's transaction keeps its connection to itself, so a `COPY` could only
//! go over another connection, outside the transaction, where the rows the
//! transaction wrote (the new users its memberships point at) are not yet
//! there. Here a pool of exactly one connection, seen by sea-orm as a
//! connection like any other, carries a transaction's statements and its
//! `COPY`s alike: each takes the one connection in turn, and the transaction
//! stays open on it between them.
//!
//! The pool must never swap that connection for another while a transaction
//! is open: closing it ends the transaction, rolled back, and the statements
//! after it would each commit on their own on the new one. So the connection
//! has no lifetime and no idle timeout, and while a transaction is open the
//! pool is refused a new connection: a transaction whose connection was lost
//! (the server gone a moment, a failed check as the pool takes it back) fails
//! at its next statement.
use crate::bulk::CopyTo;
use sea_orm::sqlx::pool::PoolOptions;
use sea_orm::sqlx::{Database, PgPool};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, ExecResult, QueryResult, RuntimeErr, Statement,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long a statement waits for the connection: the one before it hands it
/// back at once, so only a refused new connection (see above) waits this long.
const WAIT_FOR_CONNECTION: Duration = Duration::from_secs(5);

pub struct OwnConnection {
    db: DatabaseConnection,
    /// A transaction was begun and not seen to end (its caller dropped it,
    /// or its COMMIT failed): the connection may still be in it.
    in_transaction: Arc<AtomicBool>,
}

impl OwnConnection {
    /// A connection to `db`'s database (on SQLite, its file), with the
    /// options of `db`'s own.
    pub async fn open(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let in_transaction = Arc::new(AtomicBool::new(false));
        let own = match db.get_database_backend() {
            DatabaseBackend::Postgres => {
                let options = (*db.get_postgres_connection_pool().connect_options()).clone();
                let pool = pool_of_one(&in_transaction).connect_with(options).await.map_err(connection_error)?;
                sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pool)
            }
            _ => {
                let options = (*db.get_sqlite_connection_pool().connect_options()).clone();
                let pool = pool_of_one(&in_transaction).connect_with(options).await.map_err(connection_error)?;
                sea_orm::SqlxSqliteConnector::from_sqlx_sqlite_pool(pool)
            }
        };
        Ok(Self { db: own, in_transaction })
    }

    /// Begins a transaction that writes (on SQLite it takes the write lock at
    /// once, as [`crate::db::begin_write`] does). After one that did not end,
    /// the connection is first replaced: closing it ends that transaction
    /// on the server, rolled back, whatever state it was left in.
    pub async fn begin(&mut self) -> Result<OwnTransaction<'_>, DbErr> {
        if self.in_transaction.load(Ordering::SeqCst) {
            let fresh = Self::open(&self.db).await?;
            std::mem::replace(self, fresh).close().await?;
        }
        let sqlite = self.db.get_database_backend() == DatabaseBackend::Sqlite;
        self.in_transaction.store(true, Ordering::SeqCst);
        self.db.execute_unprepared(if sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" }).await?;
        // Writes run behind on SQLite only: see [`WritesBehind`].
        let behind = sqlite.then(|| WritesBehind::new(self.db.clone()));
        Ok(OwnTransaction { own: self, behind })
    }

    pub async fn close(self) -> Result<(), DbErr> {
        self.db.close().await
    }
}

fn pool_of_one<DB: Database>(in_transaction: &Arc<AtomicBool>) -> PoolOptions<DB> {
    let in_transaction = Arc::clone(in_transaction);
    PoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(WAIT_FOR_CONNECTION)
        // sqlx checks each connection as it comes back after a statement
        // already; checking it again as the next one takes it would add
        // another round trip to every statement.
        .test_before_acquire(false)
        .after_connect(move |_, _| {
            let refused = in_transaction.load(Ordering::SeqCst);
            Box::pin(async move {
                if refused {
                    return Err(sea_orm::sqlx::Error::Protocol(
                        "the transaction's connection was lost (and its transaction rolled back)".into(),
                    ));
                }
                crate::nodelay::on_all_tcp_sockets();
                Ok(())
            })
        })
}

fn connection_error(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e)))
}

/// A transaction on an [`OwnConnection`]: ended by [`commit`](Self::commit)
/// or [`rollback`](Self::rollback); one dropped before is rolled back when
/// its connection is next used or closed.
pub struct OwnTransaction<'c> {
    own: &'c OwnConnection,
    behind: Option<WritesBehind>,
}

impl OwnTransaction<'_> {
    /// Commits once the write running behind has ended; if it failed, returns
    /// its error and commits nothing (the transaction is left to roll back).
    pub async fn commit(self) -> Result<(), DbErr> {
        self.wait_behind().await?;
        self.end("COMMIT").await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        // Its error is the reason for the rollback, or lost in it.
        self.wait_behind().await.ok();
        self.end("ROLLBACK").await
    }

    /// Waits for the write running behind, if any; the error of the first
    /// that failed, if one did.
    async fn wait_behind(&self) -> Result<(), DbErr> {
        match &self.behind {
            Some(behind) => behind.wait().await,
            None => Ok(()),
        }
    }

    async fn end(self, how: &str) -> Result<(), DbErr> {
        self.own.db.execute_unprepared(how).await?;
        self.own.in_transaction.store(false, Ordering::SeqCst);
        Ok(())
    }
}

/// A transaction's bulk writes that run behind its caller ([`bulk::write`]
/// hands them here): one at a time, in the order given, each on a task of its
/// own, while the caller builds the next. A load's batch on SQLite was serial
/// before: SQLite's thread idled while the load built a statement's rows and
/// bound its values, and the load idled while SQLite wrote them. Every other
/// use of the transaction (a statement, the commit) first waits for the write
/// running behind; once one has failed, each of them fails with its error,
/// the commit included, so the transaction's statements keep their order
/// and a transaction with a failed write is never committed (a rollback
/// still runs).
///
/// Used on SQLite only. There, in runs of 1M new users alternating with
/// runs of the commit before (2026-12-07), loads took 48.7 and 55.7 s
/// against 61.4 and 65.4 s. On PostgreSQL the load's four lanes already
/// keep both cores busy: writing behind added the hand-over's work (1–2 s
/// more of the process's CPU) and no speed (loads of 63.1–73.6 s against
/// 62.5–72.9 s in four pairs).
///
/// [`bulk::write`]: crate::bulk::write
pub struct WritesBehind {
    /// The transaction's connection (the pool of one).
    db: DatabaseConnection,
    /// The write running behind, kept here while it is waited for: a second
    /// waiter waits its turn, and a wait cut off leaves it to the next.
    running: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    /// The first write behind that failed, recorded by the write itself, so
    /// that no wait cut off can lose it. Its transaction must not commit:
    /// most failed statements leave SQLite's transaction open, without them.
    failed: Arc<Mutex<Option<DbErr>>>,
}

impl WritesBehind {
    fn new(db: DatabaseConnection) -> Self {
        Self { db, running: tokio::sync::Mutex::new(None), failed: Arc::default() }
    }

    /// Starts `write` on the transaction's connection once the write before
    /// it has ended; that one's error, if it failed. A caller dropped
    /// meanwhile leaves the write to end on its own: the transaction it is in
    /// is rolled back when the connection is next begun on or closed.
    pub(crate) async fn run<W, F>(&self, write: W) -> Result<(), DbErr>
    where
        W: FnOnce(DatabaseConnection) -> F,
        F: std::future::Future<Output = Result<(), DbErr>> + Send + 'static,
    {
        let mut running = self.running.lock().await;
        self.join(&mut running).await?;
        let failed = Arc::clone(&self.failed);
        let write = write(self.db.clone());
        *running = Some(tokio::spawn(async move {
            if let Err(e) = write.await {
                failed.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
            }
        }));
        Ok(())
    }

    /// Waits for the write running behind, if any; the error of the first
    /// that failed, if one did.
    pub(crate) async fn wait(&self) -> Result<(), DbErr> {
        let mut running = self.running.lock().await;
        self.join(&mut running).await
    }

    async fn join(&self, running: &mut Option<JoinHandle<()>>) -> Result<(), DbErr> {
        if let Some(task) = running.as_mut() {
            let ended = task.await;
            *running = None;
            if let Err(e) = ended {
                let lost = DbErr::Custom(format!("a write behind its transaction did not end: {e}"));
                self.failed.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(lost);
            }
        }
        match self.failed.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

#[sea_orm::prelude::async_trait::async_trait]
impl ConnectionTrait for OwnTransaction<'_> {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.own.db.get_database_backend()
    }
    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.wait_behind().await?;
        self.own.db.execute_raw(stmt).await
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.wait_behind().await?;
        self.own.db.execute_unprepared(sql).await
    }
    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.wait_behind().await?;
        self.own.db.query_one_raw(stmt).await
    }
    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.wait_behind().await?;
        self.own.db.query_all_raw(stmt).await
    }
}

impl CopyTo for OwnTransaction<'_> {
    fn copy_pool(&self) -> Option<&PgPool> {
        self.own.db.copy_pool()
    }
    fn behind(&self) -> Option<&WritesBehind> {
        self.behind.as_ref()
    }
}
