//! Migrations applied to a database that already holds data, on both backends:
//! up from the first schema, down to it again and up once more.
use muster_migrations::{Migrator, MigratorTrait};
use muster_store::testdb::{Backend, TestDb};
use muster_store::uploads;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

async fn count(db: &DatabaseConnection, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get("", "n").unwrap()
}

async fn run(db: &DatabaseConnection, backend: Backend, sql: &str) {
    db.execute_unprepared(sql).await.unwrap_or_else(|e| panic!("{backend:?}: {sql}: {e}"));
}

async fn audit(db: &DatabaseConnection, backend: Backend, upload_id: i64) {
    let sql = format!(
        "INSERT INTO audit_events (tenant_id, actor, action, target_kind, target_id, target, upload_id, created_at) \
         VALUES (1, 'command line', 'user.create', 'user', 1, 'old', {upload_id}, CURRENT_TIMESTAMP)"
    );
    run(db, backend, &sql).await;
}

#[tokio::test]
async fn data_written_under_the_first_schema_survives_the_migrations_up_and_down() {
    for backend in Backend::ALL {
        let test_db = TestDb::new(backend).await;
        let db = muster_store::db::connect(&test_db.url).await.unwrap();
        Migrator::up(&db, Some(2)).await.unwrap();
        let hex = |text: &str| {
            let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
            if backend == Backend::Postgres {
                format!(r"'\x{hex}'::bytea")
            } else {
                format!("X'{hex}'")
            }
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
                 VALUES (1, 'old.csv', 'h', {}, '', '', ',', 'done', 1, 1, CURRENT_TIMESTAMP), \
                        (1, 'kept.csv', 'k', {}, '', '', ',', 'done', 1, 1, CURRENT_TIMESTAMP), \
                        (1, 'twice.csv', 't', {}, '', '', ',', 'ready', 1, 0, CURRENT_TIMESTAMP), \
                        (1, 'twice.csv', 't', {}, '', '', ',', 'queued', 1, 0, CURRENT_TIMESTAMP)",
                hex("userId\nold\n"),
                hex("userId\nkept\n"),
                hex("userId\ntwice\n"),
                hex("userId\ntwice\n")
            ),
            "INSERT INTO upload_rows (tenant_id, upload_id, row_index, line, status, selected) \
             VALUES (1, 1, 1, 2, 'New', true)"
                .to_owned(),
        ] {
            run(&db, backend, &sql).await;
        }
        audit(&db, backend, 1).await;
        // An event deleted before the migrations: its id is never given again.
        audit(&db, backend, 1).await;
        run(&db, backend, "DELETE FROM audit_events WHERE id = 2").await;

        Migrator::up(&db, None).await.unwrap();
        assert_eq!(uploads::file(&db, 1, 1).await.unwrap(), b"userId\nold\n", "{backend:?}");
        // One file in progress twice (before the index of migration 6): the one
        // further on (queued, though later) goes on, the other failed.
        assert_eq!(count(&db, "uploads WHERE id = 4 AND state = 'queued'").await, 1, "{backend:?}");
        let failed = "uploads WHERE id = 3 AND state = 'failed' AND error IS NOT NULL AND finished_at IS NOT NULL";
        assert_eq!(count(&db, failed).await, 1, "{backend:?}");
        for table in ["user_roles", "invitations", "upload_rows", "audit_events"] {
            assert_eq!(count(&db, table).await, 1, "{backend:?}: {table}");
        }
        audit(&db, backend, 2).await;
        assert_eq!(count(&db, "audit_events WHERE id = 3").await, 1, "{backend:?}: the id after the last one given");

        // An upload deleted: its rows and parts go, the audit trail keeps its id.
        run(&db, backend, "DELETE FROM uploads WHERE id = 1").await;
        assert_eq!(count(&db, "upload_rows").await + count(&db, "upload_parts WHERE upload_id = 1").await, 0);
        assert_eq!(count(&db, "audit_events WHERE upload_id = 1").await, 1, "{backend:?}");

        // Mail owed names its upload and its user without keys (migration 13):
        // either may be gone. One step down, the keys are back and the rows
        // are as the keys would have left them: the deleted upload's mail
        // went with it, the deleted user's mail is left without its user.
        run(
            &db,
            backend,
            "INSERT INTO mail_owed (tenant_id, upload_id, upload_row_id, user_id, kind, attempts, claimed_until, \
             created_at) VALUES (1, 1, 1, 1, 'invitation', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP), \
             (1, 2, 1, 99, 'invitation', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        )
        .await;
        Migrator::down(&db, Some(1)).await.unwrap_or_else(|e| panic!("{backend:?}: down one: {e}"));
        assert_eq!(count(&db, "mail_owed").await, 1, "{backend:?}");
        assert_eq!(count(&db, "mail_owed WHERE upload_id = 2 AND user_id IS NULL").await, 1, "{backend:?}");
        Migrator::up(&db, None).await.unwrap_or_else(|e| panic!("{backend:?}: up one: {e}"));

        // Down to the first two migrations: the kept file is back in its row, the
        // event of the deleted upload no longer names it; then up once more.
        let to_two = Migrator::migrations().len() as u32 - 2;
        Migrator::down(&db, Some(to_two)).await.unwrap_or_else(|e| panic!("{backend:?}: down: {e}"));
        let content = db
            .query_one_raw(Statement::from_string(backend_of(&db), "SELECT content FROM uploads WHERE id = 2"))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<Vec<u8>>(0)
            .unwrap();
        assert_eq!(content, b"userId\nkept\n", "{backend:?}");
        assert_eq!(count(&db, "audit_events WHERE upload_id IS NULL").await, 1, "{backend:?}");
        Migrator::up(&db, None).await.unwrap_or_else(|e| panic!("{backend:?}: up again: {e}"));
        assert_eq!(uploads::file(&db, 1, 2).await.unwrap(), b"userId\nkept\n", "{backend:?}");

        run(&db, backend, "DELETE FROM tenants WHERE id = 1").await;
        for table in ["users", "user_roles", "invitations", "uploads", "upload_rows", "upload_parts", "audit_events"] {
            assert_eq!(count(&db, table).await, 0, "{backend:?}: {table} outlived its tenant");
        }
        db.close().await.ok();
        test_db.cleanup().await;
    }
}

fn backend_of(db: &DatabaseConnection) -> sea_orm::DatabaseBackend {
    db.get_database_backend()
}
