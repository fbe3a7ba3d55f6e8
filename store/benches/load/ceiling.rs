//! The ceiling of a load's writes on PostgreSQL: `COPY` of exactly the rows
//! Muster's load writes for the same file, into the same tables with their
//! indexes, constraints and foreign keys.
//!
//! For each new user: its row in `users`, two in `user_roles`, one each in
//! `invitations`, `audit_events` and `mail_owed`, and its row's result in
//! `upload_rows`. For each update: the user's new job title, an audit event
//! with the change, and the row's result. Rows that exist already (the user
//! updated, the upload row given its result) cannot be copied in: those are
//! copied into a temporary table and written with one `UPDATE … FROM` it.
//!
//! On the same footing as the load: in a database of its own, as empty as the
//! load's was when it began, on an upload Muster planned there (untimed), so
//! that the result rows exist as they do for the load; in [`LANES`]
//! connections side by side, as the load's lanes run, each copying its share
//! in one transaction. Everything that does not need the database is made
//! before the clock starts: the users' ids are reserved from their sequence
//! beforehand, so no id is read back.
use chrono::Utc;
use muster_import::plan::Change;
use muster_import::Field;
use muster_store::entity::{tenant, upload};
use muster_store::load::LANES;
use muster_store::memberships::{self, Kind};
use muster_store::tokens;
use sea_orm::sqlx::{self, postgres::PgConnection, PgPool, Row};
use sea_orm::DatabaseConnection;
use std::fmt::Write;
use std::time::Instant;

const AUDIT: &str =
    "audit_events (tenant_id, actor_user_id, actor, action, target_kind, target_id, target, upload_id, details, created_at)";

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
async fn row_ids(pool: &PgPool, upload: &upload::Model) -> Vec<i64> {
    sqlx::query("SELECT id FROM upload_rows WHERE upload_id = $1 ORDER BY row_index")
        .bind(upload.id)
        .fetch_all(pool)
        .await
        .expect("the upload's rows")
        .iter()
        .map(|r| r.get::<i64, _>(0))
        .collect()
}

/// The results of `rows` (`id,result,outcome` lines) into `upload_rows`, as the
/// load writes them: on rows without one.
async fn results(conn: &mut PgConnection, rows: &str) {
    sqlx::query("CREATE TEMPORARY TABLE ceiling_results (id bigint, result text, outcome text) ON COMMIT DROP")
        .execute(&mut *conn)
        .await
        .expect("a temporary table");
    copy_in(conn, "ceiling_results (id, result, outcome)", rows).await;
    sqlx::query("ANALYZE ceiling_results").execute(&mut *conn).await.unwrap();
    sqlx::query(
        "UPDATE upload_rows u SET result = r.result, outcome = r.outcome FROM ceiling_results r \
         WHERE u.id = r.id AND u.result IS NULL",
    )
    .execute(conn)
    .await
    .expect("the results");
}

/// `0..rows` in LANES contiguous shares.
fn shares(rows: usize) -> Vec<std::ops::Range<usize>> {
    let each = rows.div_ceil(LANES).max(1);
    (0..rows).step_by(each).map(|from| from..(from + each).min(rows)).collect()
}

/// What one connection copies of a load of new users.
#[derive(Default)]
struct NewShare {
    users: String,
    members: String,
    invitations: String,
    audits: String,
    owed: String,
    results: String,
}

/// The rate, in users a second, of writing what a load of `upload` (the
/// bench's file of `rows` new users, planned in `tenant` of an empty database)
/// writes.
pub async fn new_users(db: &DatabaseConnection, tenant: &tenant::Model, upload: &upload::Model, rows: usize) -> f64 {
    let pool = db.get_postgres_connection_pool().clone();
    let rows_of_file = row_ids(&pool, upload).await;
    assert_eq!(rows_of_file.len(), rows);
    let mut roles = Vec::new();
    for name in ["Staff", "Reader"] {
        roles.push(memberships::create(db, tenant.id, Kind::Roles, name, &name.to_lowercase()).await.unwrap());
    }
    let ids: Vec<i64> =
        sqlx::query("SELECT nextval(pg_get_serial_sequence('users', 'id')) FROM generate_series(1, $1)")
            .bind(rows as i64)
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<i64, _>(0))
            .collect();
    let now = Utc::now();
    let (t, expires) = (now.to_rfc3339(), (now + chrono::Duration::days(7)).to_rfc3339());
    let claimed_until = (now + chrono::Duration::minutes(5)).to_rfc3339();
    let tid = tenant.id;
    let work: Vec<NewShare> = shares(rows)
        .into_iter()
        .map(|range| {
            let mut s = NewShare::default();
            for i in range {
                let id = ids[i];
                writeln!(
                    s.users,
                    "{id},{tid},u{i},u{i},,,,Zoë,Brontë{i},u{i}@example.org,u{i}@example.org,,Nurse,,active,true,Email,false,,false,{t},{t}"
                )
                .unwrap();
                for role in &roles {
                    writeln!(s.members, "{tid},{id},{role}").unwrap();
                }
                let digest = tokens::link_key(&tokens::generate_link());
                writeln!(s.invitations, "{tid},{id},{digest},{expires},{t}").unwrap();
                writeln!(s.audits, "{tid},,bench,user.create,user,{id},u{i},{},,{t}", upload.id).unwrap();
                let row = rows_of_file[i];
                writeln!(s.owed, "{tid},{},{row},{id},invitation,1,{claimed_until},claim,{t}", upload.id).unwrap();
                writeln!(s.results, "{row},Added; invitation queued,added").unwrap();
            }
            s
        })
        .collect();

    let clock = Instant::now();
    let lanes = work.into_iter().map(|s| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            copy_in(
                &mut tx,
                "users (id, tenant_id, user_id, user_id_norm, external_id, external_id_norm, title, first_name, \
                 last_name, email, email_norm, mobile, job_title, organisation_id, state, enabled, task_notification, \
                 change_password_next_time, password_hash, is_tenant_admin, created_at, updated_at)",
                &s.users,
            )
            .await;
            copy_in(&mut tx, "user_roles (tenant_id, user_id, role_id)", &s.members).await;
            copy_in(&mut tx, "invitations (tenant_id, user_id, token_hash, expires_at, created_at)", &s.invitations)
                .await;
            copy_in(&mut tx, AUDIT, &s.audits).await;
            copy_in(
                &mut tx,
                "mail_owed (tenant_id, upload_id, upload_row_id, user_id, kind, attempts, claimed_until, claimed_by, created_at)",
                &s.owed,
            )
            .await;
            results(&mut tx, &s.results).await;
            tx.commit().await.unwrap();
        })
    });
    for lane in lanes.collect::<Vec<_>>() {
        lane.await.expect("a lane of the ceiling");
    }
    rows as f64 / clock.elapsed().as_secs_f64()
}

/// The rate, in users a second, of writing what a load of `upload` (the
/// bench's file of `rows` updates: a new job title for the first `rows` users
/// [`new_users`] added) writes.
pub async fn updates(db: &DatabaseConnection, tenant: &tenant::Model, upload: &upload::Model, rows: usize) -> f64 {
    let pool = db.get_postgres_connection_pool().clone();
    let rows_of_file = row_ids(&pool, upload).await;
    assert_eq!(rows_of_file.len(), rows);
    let mut ids = vec![0i64; rows];
    for r in sqlx::query("SELECT id, user_id_norm FROM users WHERE tenant_id = $1")
        .bind(tenant.id)
        .fetch_all(&pool)
        .await
        .unwrap()
    {
        let key: String = r.get(1);
        if let Some(slot) = ids.get_mut(key[1..].parse::<usize>().unwrap()) {
            *slot = r.get(0);
        }
    }
    let t = Utc::now().to_rfc3339();
    let change = [Change { field: Field::JobTitle, old: Some("Nurse".into()), new: Some("Sister".into()) }];
    let details = quoted(&serde_json::to_string(&change).unwrap());
    let tid = tenant.id;
    let work: Vec<(String, String, String)> = shares(rows)
        .into_iter()
        .map(|range| {
            let (mut users, mut audits, mut results) = (String::new(), String::new(), String::new());
            for i in range {
                let id = ids[i];
                writeln!(users, "{id},Sister,{t}").unwrap();
                writeln!(audits, "{tid},,bench,user.update,user,{id},u{i},{},{details},{t}", upload.id).unwrap();
                writeln!(results, "{},Updated (jobTitle),updated", rows_of_file[i]).unwrap();
            }
            (users, audits, results)
        })
        .collect();

    let clock = Instant::now();
    let lanes = work.into_iter().map(|(users, audits, results_of_share)| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query(
                "CREATE TEMPORARY TABLE ceiling_users (id bigint, job_title text, updated_at timestamptz) ON COMMIT DROP",
            )
            .execute(&mut *tx)
            .await
            .unwrap();
            copy_in(&mut tx, "ceiling_users (id, job_title, updated_at)", &users).await;
            sqlx::query("ANALYZE ceiling_users").execute(&mut *tx).await.unwrap();
            sqlx::query(
                "UPDATE users u SET job_title = c.job_title, updated_at = c.updated_at FROM ceiling_users c \
                 WHERE u.id = c.id AND u.tenant_id = $1",
            )
            .bind(tid)
            .execute(&mut *tx)
            .await
            .unwrap();
            copy_in(&mut tx, AUDIT, &audits).await;
            results(&mut tx, &results_of_share).await;
            tx.commit().await.unwrap();
        })
    });
    for lane in lanes.collect::<Vec<_>>() {
        lane.await.expect("a lane of the ceiling");
    }
    rows as f64 / clock.elapsed().as_secs_f64()
}
