//! `cargo bench -p muster-store --bench load [-- ROWS]` (default 100000);
//! `BENCH_BACKEND=sqlite` or `postgres` runs one database only.
//!
//! Loads ROWS new users (invitations, no password hashing), then updates of
//! min(ROWS, 100 000) of them,
//! through Muster's real path (plan into `upload_rows`, then the batched load),
//! on SQLite and on PostgreSQL; and in the same run, on the same table, two
//! baselines: one sea-orm INSERT per row in autocommit (what peers do; measured
//! on a sample) and, on PostgreSQL, `COPY FROM STDIN` (the practical ceiling).
//! The naive loop runs twice: on a connection opened as sea-orm opens one by
//! default (`Database::connect`, as a peer would), and on Muster's own pool
//! (TCP_NODELAY set on PostgreSQL, WAL on SQLite), the stricter of the two.
// The server's allocator (server/src/main.rs), so that the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use chrono::Utc;
use muster_store::load::{self, UploadOptions};
use muster_store::testdb::{self, Backend, TestDb};
use muster_store::uploads::{self, NewUpload};
use muster_store::{jobs, tenants};
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn users_file(rows: usize, job: &str) -> Vec<u8> {
    let mut text = String::with_capacity(rows * 80);
    text.push_str("userId,email,firstName,lastName,jobTitle,roles\n");
    for i in 0..rows {
        text.push_str(&format!("u{i},u{i}@example.org,Zoë,Brontë{i},{job},Staff|Reader\n"));
    }
    text.into_bytes()
}

async fn muster_load(
    db: &DatabaseConnection,
    tenant: &muster_store::entity::tenant::Model,
    bytes: Vec<u8>,
) -> (f64, f64) {
    let t = Instant::now();
    let new = NewUpload { uploaded_by: None, file_name: "bench.csv".into(), bytes, options: UploadOptions::default() };
    let upload = uploads::create_and_plan(db, tenant, new, usize::MAX).await.expect("plan");
    let plan = t.elapsed().as_secs_f64();
    eprintln!("# {:?}: peak memory after the plan: {:.0} MB", db.get_database_backend(), peak_rss_mb());
    jobs::enqueue_load(db, &upload).await.unwrap();
    let job = jobs::claim(db, "bench").await.unwrap().expect("a job");
    let t = Instant::now();
    let claim = load::Claim::of(&job, "bench");
    let report = load::run(db, upload.id, Some(&claim), |_| true, |_| {}).await.expect("load");
    let loaded = t.elapsed().as_secs_f64();
    jobs::finish(db, &job, None).await.unwrap();
    assert!(report.finished && report.counts.errors == 0, "{:?}", report.counts);
    // The results file, as the worker builds it for the results email.
    let t = Instant::now();
    let results = uploads::results_csv(db, tenant.id, upload.id).await.unwrap().expect("the upload");
    eprintln!(
        "# {:?}: results file of {:.0} MB in {:.1} s; peak memory after it: {:.0} MB",
        db.get_database_backend(),
        results.len() as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    (plan, loaded)
}

/// `prefix` keeps each run's users apart.
async fn naive(db: &DatabaseConnection, tenant_id: i64, rows: usize, prefix: &str) -> f64 {
    let t = Instant::now();
    for i in 0..rows {
        let mut user = testdb::user(tenant_id, &format!("{prefix}{i}"), &format!("{prefix}{i}@example.org"));
        user.first_name = Set(Some("Zoë".into()));
        user.last_name = Set(Some(format!("Brontë{i}")));
        user.insert(db).await.unwrap();
    }
    rows as f64 / t.elapsed().as_secs_f64()
}

async fn copy(db: &DatabaseConnection, tenant_id: i64, rows: usize) -> f64 {
    let pool = db.get_postgres_connection_pool();
    let mut data = String::with_capacity(rows * 120);
    let now = Utc::now().to_rfc3339();
    for i in 0..rows {
        data.push_str(&format!(
            "{tenant_id},c{i},c{i},c{i}@example.org,c{i}@example.org,Zoë,Brontë{i},active,true,Email,false,false,{now},{now}\n"
        ));
    }
    let t = Instant::now();
    let mut conn = pool.acquire().await.unwrap();
    let mut copy = conn
        .copy_in_raw(
            "COPY users (tenant_id, user_id, user_id_norm, email, email_norm, first_name, last_name, state, enabled, \
             task_notification, change_password_next_time, is_tenant_admin, created_at, updated_at) FROM STDIN WITH (FORMAT csv)",
        )
        .await
        .unwrap();
    copy.send(data.as_bytes()).await.unwrap();
    copy.finish().await.unwrap();
    rows as f64 / t.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::args().skip(1).filter_map(|a| a.parse().ok()).next().unwrap_or(100_000);
    // Updates are measured on the first 100 000 users at most: the figure the issue asks for.
    let updates = rows.min(100_000);
    println!("# {rows} new users, {updates} updates; naive baselines on a sample of 2000 rows each");
    println!(
        "{:>10} | {:>14} | {:>14} | {:>16} | {:>14} | {:>17} | {:>16} | {:>12} | {:>13}",
        "database",
        "plan r/s",
        "load new r/s",
        "new end-to-end",
        "updates r/s",
        "naive stock (vs)",
        "naive pool (vs)",
        "COPY r/s",
        "COPY vs naive"
    );
    // One backend alone (`BENCH_BACKEND=sqlite|postgres`): its peak memory is its own.
    let only = std::env::var("BENCH_BACKEND").ok().map(|b| b.to_lowercase());
    for backend in
        Backend::ALL.into_iter().filter(|b| only.as_ref().is_none_or(|o| format!("{b:?}").to_lowercase() == *o))
    {
        let test_db = TestDb::new(backend).await;
        let db = test_db.connect().await;
        let tenant = tenants::create_tenant(&db, "bench", "Bench", None).await.unwrap();
        let baseline = tenants::create_tenant(&db, "baseline", "Baseline", None).await.unwrap();

        let (plan, loaded) = muster_load(&db, &tenant, users_file(rows, "Nurse")).await;
        eprintln!("# {backend:?}: peak memory after the new users: {:.0} MB", peak_rss_mb());
        let (plan_u, loaded_u) = muster_load(&db, &tenant, users_file(updates, "Sister")).await;
        eprintln!("# {backend:?}: peak memory after the updates: {:.0} MB", peak_rss_mb());
        let naive_rate = naive(&db, baseline.id, 2000, "n").await;
        let stock = sea_orm::Database::connect(&test_db.url).await.expect("a default sea-orm connection");
        let stock_rate = naive(&stock, baseline.id, 2000, "s").await;
        stock.close().await.ok();
        let copy_rate = if backend == Backend::Postgres { Some(copy(&db, baseline.id, rows).await) } else { None };
        let new_rate = rows as f64 / loaded;
        println!(
            "{:>10} | {:>14.0} | {:>14.0} | {:>14.1} s | {:>14.0} | {:>17} | {:>16} | {:>12} | {:>13}",
            format!("{backend:?}"),
            rows as f64 / plan,
            new_rate,
            plan + loaded,
            updates as f64 / loaded_u,
            format!("{stock_rate:.0} ({:.0}x)", new_rate / stock_rate),
            format!("{naive_rate:.0} ({:.0}x)", new_rate / naive_rate),
            copy_rate.map_or("n/a".into(), |c| format!("{c:.0} ({:.0}%)", 100.0 * new_rate / c)),
            copy_rate.map_or("n/a".into(), |c| format!(
                "{:.0}x-{:.0}x",
                c / stock_rate.max(naive_rate),
                c / stock_rate.min(naive_rate)
            )),
        );
        let _ = plan_u;
        db.close().await.ok();
        test_db.cleanup().await;
    }
    println!("# load new r/s: the background load alone; new end-to-end: plan + load. COPY (%): Muster's load rate as a share of COPY's");
    println!("# naive stock: sea-orm's default connection; naive pool: Muster's pool. (vs): Muster's load rate as a multiple of it");
    println!(
        "# COPY vs naive: the ceiling (COPY, one row per user) as a multiple of the naive loops, fastest to slowest"
    );
    println!("# peak memory (VmHWM): {:.0} MB", peak_rss_mb());
}
