//! Fresh databases for tests: a SQLite file in a temporary folder, or a new
//! PostgreSQL database created for the test and dropped after it.
//!
//! PostgreSQL is reached at `MUSTER_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432`). A test that asks for PostgreSQL fails
//! when it is not there: it never quietly falls back to SQLite.
use crate::entity::user::UserState;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];
}

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    dir: Option<PathBuf>,
    pg_name: Option<String>,
}

fn pg_server() -> String {
    std::env::var("MUSTER_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Prefix of every database the tests create; `scripts/test.sh` sweeps leftovers.
pub const PG_TEST_PREFIX: &str = "muster_test_";

fn unique_suffix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos)
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("muster-test-{}", unique_suffix()));
                std::fs::create_dir_all(&dir).expect("create a temporary folder");
                let url = crate::db::sqlite_url(&dir.join("muster.db"));
                Self { backend, url, dir: Some(dir), pg_name: None }
            }
            Backend::Postgres => {
                let name = format!("{PG_TEST_PREFIX}{}", unique_suffix());
                let admin = Database::connect(format!("{}/postgres", pg_server()))
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL must run at {} for the tests: {e}", pg_server()));
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create the test database");
                admin.close().await.ok();
                Self { backend, url: format!("{}/{name}", pg_server()), dir: None, pg_name: Some(name) }
            }
        }
    }

    /// A connection with every migration applied.
    pub async fn connect(&self) -> DatabaseConnection {
        let db = crate::db::connect_and_migrate(&self.url).await.expect("connect and migrate");
        if self.backend == Backend::Postgres {
            // Proof that this really is PostgreSQL, not a fallback.
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), "SELECT version()"))
                .await
                .expect("select version()")
                .expect("a row");
            let version: String = row.try_get_by_index(0).expect("version text");
            assert!(version.starts_with("PostgreSQL"), "{version}");
        }
        db
    }

    /// Drops the PostgreSQL database or removes the SQLite folder.
    pub async fn cleanup(self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = &self.pg_name {
            if let Ok(admin) = Database::connect(format!("{}/postgres", pg_server())).await {
                let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                admin.close().await.ok();
            }
        }
    }
}

/// Runs `suite` once per backend, each time on a fresh, migrated database that is
/// dropped afterwards: one conformance suite for SQLite and PostgreSQL.
pub async fn on_every_backend<F, Fut>(suite: F)
where
    F: Fn(DatabaseConnection, Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in Backend::ALL {
        let test_db = TestDb::new(backend).await;
        let db = test_db.connect().await;
        suite(db.clone(), backend).await;
        db.close().await.ok();
        test_db.cleanup().await;
    }
}

/// An active user of a tenant, ready to insert: its keys and their normalised
/// forms, every other field at its default.
pub fn user(tenant_id: i64, user_id: &str, email: &str) -> crate::entity::user::ActiveModel {
    use sea_orm::Set;
    let now = chrono::Utc::now();
    crate::entity::user::ActiveModel {
        tenant_id: Set(tenant_id),
        user_id: Set(user_id.into()),
        user_id_norm: Set(muster_import::normalize_key(user_id)),
        email: Set(email.into()),
        email_norm: Set(muster_import::normalize_key(email)),
        state: Set(UserState::Active),
        enabled: Set(true),
        task_notification: Set("Email".into()),
        change_password_next_time: Set(false),
        is_tenant_admin: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}
