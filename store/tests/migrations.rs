//! Migrations applied to a database that already holds data, on both backends.
use muster_migrations::{Migrator, MigratorTrait};
use muster_store::testdb::{Backend, TestDb};
use muster_store::uploads;
use sea_orm::{ConnectionTrait, Statement};

#[tokio::test]
async fn files_stored_whole_before_parts_existed_are_read_back_as_they_were() {
    for backend in Backend::ALL {
        let test_db = TestDb::new(backend).await;
        let db = muster_store::db::connect(&test_db.url).await.unwrap();
        Migrator::up(&db, Some(2)).await.unwrap();
        let sql = |s: &str| Statement::from_string(db.get_database_backend(), s.to_owned());
        db.execute_raw(sql(
            "INSERT INTO tenants (slug, slug_norm, name, created_at) VALUES ('t', 't', 'T', CURRENT_TIMESTAMP)",
        ))
        .await
        .unwrap();
        let content = if backend == Backend::Postgres {
            "'\\x7573657249640a6f6c640a'::bytea"
        } else {
            "X'7573657249640a6f6c640a'"
        };
        db.execute_raw(sql(&format!(
            "INSERT INTO uploads (tenant_id, file_name, content_hash, content, format, encoding, delimiter, state, \
             rows_total, rows_done, created_at) \
             VALUES (1, 'old.csv', 'h', {content}, '', '', ',', 'done', 1, 1, CURRENT_TIMESTAMP)"
        )))
        .await
        .unwrap();
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(uploads::file(&db, 1, 1).await.unwrap(), b"userId\nold\n", "{backend:?}");
        db.close().await.ok();
        test_db.cleanup().await;
    }
}
