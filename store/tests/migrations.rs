//! Migrations applied to a database that already holds data, on both backends.
use muster_migrations::{Migrator, MigratorTrait};
use muster_store::testdb::{Backend, TestDb};
use muster_store::uploads;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

async fn count(db: &DatabaseConnection, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get("", "n").unwrap()
}

#[tokio::test]
async fn data_written_under_the_first_schema_survives_every_migration_and_goes_with_its_tenant() {
    for backend in Backend::ALL {
        let test_db = TestDb::new(backend).await;
        let db = muster_store::db::connect(&test_db.url).await.unwrap();
        Migrator::up(&db, Some(2)).await.unwrap();
        let content = if backend == Backend::Postgres {
            r"'\x7573657249640a6f6c640a'::bytea"
        } else {
            "X'7573657249640a6f6c640a'"
        };
        for sql in [
            "INSERT INTO tenants (slug, slug_norm, name, created_at) VALUES ('t', 't', 'T', CURRENT_TIMESTAMP)".to_owned(),
            "INSERT INTO organisations (tenant_id, code, code_norm, name, is_default, created_at) \
             VALUES (1, 'O', 'o', 'O', true, CURRENT_TIMESTAMP)"
                .to_owned(),
            "INSERT INTO users (tenant_id, user_id, user_id_norm, email, email_norm, organisation_id, state, enabled, \
             task_notification, change_password_next_time, is_tenant_admin, created_at, updated_at) \
             VALUES (1, 'old', 'old', 'old@x.io', 'old@x.io', 1, 'active', true, 'Email', false, false, \
             CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                .to_owned(),
            "INSERT INTO roles (tenant_id, name, name_norm, created_at) VALUES (1, 'Staff', 'staff', CURRENT_TIMESTAMP)"
                .to_owned(),
            "INSERT INTO user_roles (tenant_id, user_id, role_id) VALUES (1, 1, 1)".to_owned(),
            "INSERT INTO invitations (tenant_id, user_id, token_hash, expires_at, created_at) \
             VALUES (1, 1, 'h', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                .to_owned(),
            format!(
                "INSERT INTO uploads (tenant_id, file_name, content_hash, content, format, encoding, delimiter, state, \
                 rows_total, rows_done, created_at) \
                 VALUES (1, 'old.csv', 'h', {content}, '', '', ',', 'done', 1, 1, CURRENT_TIMESTAMP)"
            ),
            "INSERT INTO upload_rows (tenant_id, upload_id, row_index, line, status, selected) \
             VALUES (1, 1, 1, 2, 'New', true)"
                .to_owned(),
            "INSERT INTO audit_events (tenant_id, actor, action, target_kind, target_id, target, upload_id, created_at) \
             VALUES (1, 'command line', 'user.create', 'user', 1, 'old', 1, CURRENT_TIMESTAMP)"
                .to_owned(),
        ] {
            db.execute_unprepared(&sql).await.unwrap_or_else(|e| panic!("{backend:?}: {sql}: {e}"));
        }
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(uploads::file(&db, 1, 1).await.unwrap(), b"userId\nold\n", "{backend:?}");
        for table in ["user_roles", "invitations", "upload_rows", "upload_parts", "audit_events"] {
            assert_eq!(count(&db, table).await, 1, "{backend:?}: {table}");
        }
        // An upload deleted: its rows go, the audit trail keeps its id.
        db.execute_unprepared("DELETE FROM uploads WHERE id = 1").await.unwrap();
        assert_eq!(count(&db, "upload_rows").await + count(&db, "upload_parts").await, 0, "{backend:?}");
        assert_eq!(count(&db, "audit_events WHERE upload_id = 1").await, 1, "{backend:?}");
        db.execute_unprepared("DELETE FROM tenants WHERE id = 1").await.unwrap();
        for table in ["users", "user_roles", "invitations", "upload_rows", "upload_parts", "audit_events"] {
            assert_eq!(count(&db, table).await, 0, "{backend:?}: {table} outlived its tenant");
        }
        // Down to the first two and up again (a file's parts do not go back down).
        Migrator::down(&db, Some(2)).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        assert_eq!(count(&db, "upload_parts").await, 0);
        db.close().await.ok();
        test_db.cleanup().await;
    }
}
