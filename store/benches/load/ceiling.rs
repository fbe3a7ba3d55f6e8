//! The ceiling of a load's writes on PostgreSQL: `COPY` of exactly the rows
//! Muster's load writes for the same file, into the same tables with their
//! indexes, constraints and foreign keys, in one transaction.
//!
//! For each new user: its row in `users`, two in `user_roles`, one each in
//! `invitations`, `audit_events` and `mail_owed`, and its row's result in
//! `upload_rows`. For each update: the user's new job title, an audit event
//! with the change, and the row's result. Rows that exist already (the user
//! updated, the upload row given its result) cannot be copied in: those are
//! copied into a temporary table and written with one `UPDATE … FROM` it.
//!
//! It runs in a tenant of its own, on an upload planned by Muster beforehand
//! (untimed), so that the result rows exist as they do for the load. What
//! does not depend on the database (tokens' digests, the rows' text) is made
//! before the clock starts, except what needs the users' new ids.
use chrono::Utc;
use muster_import::plan::Change;
use muster_import::Field;
use muster_store::entity::{tenant, upload};
use muster_store::memberships::{self, Kind};
use muster_store::tokens;
use sea_orm::sqlx::{self, postgres::PgConnection, Row};
use sea_orm::DatabaseConnection;
use std::fmt::Write;
use std::time::Instant;

/// One CSV field, quoted.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

async fn copy_in(conn: &mut PgConnection, table_and_columns: &str, data: &str) {
    let statement = format!("COPY {table_and_columns} FROM STDIN WITH (FORMAT csv)");
    let mut copy = conn.copy_in_raw(&statement).await.expect("COPY");
    copy.send(data.as_bytes()).await.expect("COPY data");
    copy.finish().await.expect("COPY finish");
}

/// The upload's rows' ids, in the file's order.
async fn row_ids(conn: &mut PgConnection, upload: &upload::Model) -> Vec<i64> {
    sqlx::query("SELECT id FROM upload_rows WHERE upload_id = $1 ORDER BY row_index")
        .bind(upload.id)
        .fetch_all(conn)
        .await
        .expect("the upload's rows")
        .iter()
        .map(|r| r.get::<i64, _>(0))
        .collect()
}

/// Writes the results into `upload_rows` as the load's results are written.
async fn results(conn: &mut PgConnection, row_ids: &[i64], result: &str, outcome: &str) {
    sqlx::query("CREATE TEMPORARY TABLE ceiling_results (id bigint, result text, outcome text) ON COMMIT DROP")
        .execute(&mut *conn)
        .await
        .expect("a temporary table");
    let mut data = String::with_capacity(row_ids.len() * 40);
    for id in row_ids {
        writeln!(data, "{id},{result},{outcome}").unwrap();
    }
    copy_in(conn, "ceiling_results (id, result, outcome)", &data).await;
    sqlx::query(
        "UPDATE upload_rows u SET result = r.result, outcome = r.outcome FROM ceiling_results r \
         WHERE u.id = r.id AND u.result IS NULL",
    )
    .execute(conn)
    .await
    .expect("the results");
}

/// The rate, in users a second, of writing what a load of `upload` (the
/// bench's file of `rows` new users, planned in `tenant`) writes.
pub async fn new_users(db: &DatabaseConnection, tenant: &tenant::Model, upload: &upload::Model, rows: usize) -> f64 {
    let pool = db.get_postgres_connection_pool();
    let mut conn = pool.acquire().await.unwrap();
    let rows_of_file = row_ids(&mut conn, upload).await;
    assert_eq!(rows_of_file.len(), rows);
    let mut roles = Vec::new();
    for name in ["Staff", "Reader"] {
        roles.push(memberships::create(db, tenant.id, Kind::Roles, name, &name.to_lowercase()).await.unwrap());
    }
    let now = Utc::now();
    let (t, expires) = (now.to_rfc3339(), (now + chrono::Duration::days(7)).to_rfc3339());
    let mut users = String::with_capacity(rows * 160);
    for i in 0..rows {
        writeln!(
            users,
            "{},u{i},u{i},,,,Zoë,Brontë{i},u{i}@example.org,u{i}@example.org,,Nurse,,active,true,Email,false,,false,{t},{t}",
            tenant.id
        )
        .unwrap();
    }
    let digests: Vec<String> = (0..rows).map(|_| tokens::digest(&tokens::generate())).collect();

    let clock = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    copy_in(
        &mut tx,
        "users (tenant_id, user_id, user_id_norm, external_id, external_id_norm, title, first_name, last_name, \
         email, email_norm, mobile, job_title, organisation_id, state, enabled, task_notification, \
         change_password_next_time, password_hash, is_tenant_admin, created_at, updated_at)",
        &users,
    )
    .await;
    // The new ids, as the load reads them back from its INSERT.
    let mut ids = vec![0i64; rows];
    for r in sqlx::query("SELECT id, user_id_norm FROM users WHERE tenant_id = $1")
        .bind(tenant.id)
        .fetch_all(&mut *tx)
        .await
        .unwrap()
    {
        let key: String = r.get(1);
        ids[key[1..].parse::<usize>().unwrap()] = r.get(0);
    }
    let (mut members, mut invitations, mut audits, mut owed) =
        (String::new(), String::new(), String::new(), String::new());
    let claimed_until = (now + chrono::Duration::minutes(5)).to_rfc3339();
    for (i, id) in ids.iter().enumerate() {
        for role in &roles {
            writeln!(members, "{},{id},{role}", tenant.id).unwrap();
        }
        writeln!(invitations, "{},{id},{},{expires},{t}", tenant.id, digests[i]).unwrap();
        writeln!(audits, "{},,bench,user.create,user,{id},u{i},{},,{t}", tenant.id, upload.id).unwrap();
        writeln!(owed, "{},{},{},{id},invitation,1,{claimed_until},claim,{t}", tenant.id, upload.id, rows_of_file[i])
            .unwrap();
    }
    copy_in(&mut tx, "user_roles (tenant_id, user_id, role_id)", &members).await;
    copy_in(&mut tx, "invitations (tenant_id, user_id, token_hash, expires_at, created_at)", &invitations).await;
    copy_in(
        &mut tx,
        "audit_events (tenant_id, actor_user_id, actor, action, target_kind, target_id, target, upload_id, details, created_at)",
        &audits,
    )
    .await;
    copy_in(
        &mut tx,
        "mail_owed (tenant_id, upload_id, upload_row_id, user_id, kind, attempts, claimed_until, claimed_by, created_at)",
        &owed,
    )
    .await;
    results(&mut tx, &rows_of_file, "Added; invitation queued", "added").await;
    tx.commit().await.unwrap();
    rows as f64 / clock.elapsed().as_secs_f64()
}

/// The rate, in users a second, of writing what a load of `upload` (the
/// bench's file of `rows` updates: a new job title for the first `rows` users
/// [`new_users`] added) writes.
pub async fn updates(db: &DatabaseConnection, tenant: &tenant::Model, upload: &upload::Model, rows: usize) -> f64 {
    let pool = db.get_postgres_connection_pool();
    let mut conn = pool.acquire().await.unwrap();
    let rows_of_file = row_ids(&mut conn, upload).await;
    assert_eq!(rows_of_file.len(), rows);
    let mut ids = vec![0i64; rows];
    for r in sqlx::query("SELECT id, user_id_norm FROM users WHERE tenant_id = $1")
        .bind(tenant.id)
        .fetch_all(&mut *conn)
        .await
        .unwrap()
    {
        let key: String = r.get(1);
        if let Some(slot) = ids.get_mut(key[1..].parse::<usize>().unwrap()) {
            *slot = r.get(0);
        }
    }
    drop(conn);
    let t = Utc::now().to_rfc3339();
    let change = [Change { field: Field::JobTitle, old: Some("Nurse".into()), new: Some("Sister".into()) }];
    let details = quoted(&serde_json::to_string(&change).unwrap());
    let (mut users, mut audits) = (String::new(), String::new());
    for (i, id) in ids.iter().enumerate() {
        writeln!(users, "{id},Sister,{t}").unwrap();
        writeln!(audits, "{},,bench,user.update,user,{id},u{i},{},{details},{t}", tenant.id, upload.id).unwrap();
    }

    let clock = Instant::now();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "CREATE TEMPORARY TABLE ceiling_users (id bigint, job_title text, updated_at timestamptz) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    copy_in(&mut tx, "ceiling_users (id, job_title, updated_at)", &users).await;
    sqlx::query(
        "UPDATE users u SET job_title = c.job_title, updated_at = c.updated_at FROM ceiling_users c \
         WHERE u.id = c.id AND u.tenant_id = $1",
    )
    .bind(tenant.id)
    .execute(&mut *tx)
    .await
    .unwrap();
    copy_in(
        &mut tx,
        "audit_events (tenant_id, actor_user_id, actor, action, target_kind, target_id, target, upload_id, details, created_at)",
        &audits,
    )
    .await;
    results(&mut tx, &rows_of_file, "Updated (jobTitle)", "updated").await;
    tx.commit().await.unwrap();
    rows as f64 / clock.elapsed().as_secs_f64()
}
