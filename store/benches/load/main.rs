//! `cargo bench -p muster-store --bench load [-- ROWS]` (default 100000);
//! `BENCH_BACKEND=sqlite` or `postgres` runs one database only.
//! To try a schema change before writing its migration:
//! `BENCH_SCHEMA='DROP INDEX …; CREATE INDEX …'` runs those statements (split
//! at each `;`) on each fresh database before Muster's phases. The ceiling
//! keeps the schema as it is, so with it set the load's share of the ceiling
//! compares two schemas; `BENCH_NEW_USERS_ONLY=1` stops after the new users'
//! load, printing its plan, load and end-to-end times alone.
//!
//! Loads ROWS new users (invitations, no password hashing), then updates of
//! min(ROWS, 100 000) of them,
//! through Muster's real path (plan into `upload_rows`, then the batched load),
//! on SQLite and on PostgreSQL; and in the same run, baselines:
//! - on PostgreSQL, the ceiling (`ceiling.rs`): `COPY` of exactly the rows the
//!   load writes for the same files, into the same tables of a fresh database,
//!   in as many connections side by side as the load has lanes;
//! - one sea-orm INSERT per row in autocommit (what peers do; measured on a
//!   sample), twice: on a connection opened as sea-orm opens one by default
//!   (`Database::connect`, as a peer would), and on Muster's own pool
//!   (TCP_NODELAY set on PostgreSQL, WAL on SQLite), the stricter of the two;
//! - on PostgreSQL, `COPY` of the users' rows alone.
//!
//! Peak memory is Muster's: the process's peak is reset before its phases
//! and read after them, before any baseline builds its data (with
//! `BENCH_BACKEND` set, that database's alone).
// The server's allocator (server/src/main.rs), so that the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use chrono::Utc;
use muster_store::load::{self, UploadOptions};
use muster_store::testdb::{self, Backend, TestDb};
use muster_store::uploads::{self, NewUpload};
use muster_store::{jobs, tenants};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set};
use std::time::Instant;

mod ceiling;
#[path = "../../../import/benches/shared/process_memory.rs"]
mod process_memory;
use process_memory::{peak_rss_mb, reset_peak_rss, rss_mb};

fn users_file(rows: usize, job: &str) -> Vec<u8> {
    let mut text = String::with_capacity(rows * 80);
    text.push_str("userId,email,firstName,lastName,jobTitle,roles\n");
    for i in 0..rows {
        text.push_str(&format!("u{i},u{i}@example.org,Zoë,Brontë{i},{job},Staff|Reader\n"));
    }
    text.into_bytes()
}

async fn plan_only(
    db: &DatabaseConnection,
    tenant: &muster_store::entity::tenant::Model,
    bytes: Vec<u8>,
) -> muster_store::entity::upload::Model {
    let new = NewUpload { uploaded_by: None, file_name: "bench.csv".into(), bytes, options: UploadOptions::default() };
    uploads::create_and_plan(db, tenant, new, usize::MAX).await.expect("plan")
}

async fn muster_load(
    db: &DatabaseConnection,
    tenant: &muster_store::entity::tenant::Model,
    bytes: Vec<u8>,
) -> (f64, f64) {
    let t = Instant::now();
    eprintln!("# {:?}: memory before the plan: {:.0} MB", db.get_database_backend(), rss_mb());
    let upload = plan_only(db, tenant, bytes).await;
    let plan = t.elapsed().as_secs_f64();
    eprintln!("# {:?}: peak memory after the plan: {:.0} MB", db.get_database_backend(), peak_rss_mb());
    jobs::enqueue_load(db, &upload).await.unwrap();
    let job = jobs::claim(db, "bench").await.unwrap().expect("a job");
    let t = Instant::now();
    let claim = load::Claim::of(&job, "bench");
    let report = load::run(db, upload.id, Some(&claim), |_| true, |_| {}).await.expect("load");
    let loaded = t.elapsed().as_secs_f64();
    eprintln!("# {:?}: memory after the load: {:.0} MB", db.get_database_backend(), rss_mb());
    jobs::finish(db, &job, None).await.unwrap();
    assert!(report.finished && report.counts.errors == 0, "{:?}", report.counts);
    // The results file, written as a download or the command line's
    // `--results` writes it: a part at a time (here to a file).
    let t = Instant::now();
    let upload = uploads::find(db, tenant.id, upload.id).await.unwrap().expect("the upload");
    let file = uploads::ResultsFile::read(db, &upload).await.unwrap();
    let path = std::env::temp_dir().join(format!("muster-bench-results-{}.csv", std::process::id()));
    let out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    file.write_to(out).unwrap().into_inner().unwrap().sync_all().unwrap();
    drop(file);
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    let _ = std::fs::remove_file(&path);
    eprintln!(
        "# {:?}: results file of {:.0} MB in {:.1} s; peak memory after it: {:.0} MB",
        db.get_database_backend(),
        size as f64 / 1e6,
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

fn main() {
    // As the server does, before its runtime starts: as for SQLite when it
    // runs alone, else as for PostgreSQL.
    let sqlite = std::env::var("BENCH_BACKEND").is_ok_and(|b| b.eq_ignore_ascii_case("sqlite"));
    muster_store::memory::give_back_freed_memory(if sqlite { "sqlite:" } else { "postgres:" });
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime").block_on(bench());
}

async fn bench() {
    let rows: usize = std::env::args().skip(1).filter_map(|a| a.parse().ok()).next().unwrap_or(100_000);
    // Updates are measured on the first 100 000 users at most: the figure the issue asks for.
    let updates = rows.min(100_000);
    println!("# {rows} new users, {updates} updates; naive baselines on a sample of 2000 rows each");
    println!(
        "{:>10} | {:>9} | {:>9} | {:>20} | {:>14} | {:>9} | {:>20} | {:>13} | {:>13} | {:>11} | {:>8}",
        "database",
        "plan r/s",
        "load new",
        "ceiling new (load %)",
        "new end-to-end",
        "updates",
        "ceiling upd (load %)",
        "naive stock",
        "naive pool",
        "COPY users",
        "peak MB"
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

        if let Ok(statements) = std::env::var("BENCH_SCHEMA") {
            for statement in statements.split(';').filter(|s| !s.trim().is_empty()) {
                db.execute_unprepared(statement).await.unwrap_or_else(|e| panic!("BENCH_SCHEMA: {statement}: {e}"));
            }
        }
        // To what the process holds now: in a run of both databases, what the first left.
        reset_peak_rss();
        let (plan, loaded) = muster_load(&db, &tenant, users_file(rows, "Nurse")).await;
        eprintln!("# {backend:?}: peak memory after the new users: {:.0} MB", peak_rss_mb());
        if std::env::var("BENCH_NEW_USERS_ONLY").is_ok_and(|v| v == "1") {
            println!(
                "{backend:?}: {rows} new users: plan {plan:.1} s, load {loaded:.1} s, end to end {:.1} s",
                plan + loaded
            );
            db.close().await.ok();
            test_db.cleanup().await;
            continue;
        }
        let (_, loaded_u) = muster_load(&db, &tenant, users_file(updates, "Sister")).await;
        let peak = peak_rss_mb();
        eprintln!("# {backend:?}: peak memory after the updates: {peak:.0} MB");
        let new_rate = rows as f64 / loaded;
        let update_rate = updates as f64 / loaded_u;

        let share = |ceiling: Option<f64>, rate: f64| {
            ceiling.map_or("n/a".into(), |c| format!("{c:.0} ({:.0}%)", 100.0 * rate / c))
        };
        let (ceiling_new, ceiling_updates) = if backend == Backend::Postgres {
            // A database of its own, as empty as the load's was when it began.
            let ceiling_db = TestDb::new(backend).await;
            let cdb = ceiling_db.connect().await;
            let ceiling = tenants::create_tenant(&cdb, "ceiling", "Ceiling", None).await.unwrap();
            let upload = plan_only(&cdb, &ceiling, users_file(rows, "Nurse")).await;
            let new = ceiling::new_users(&cdb, &ceiling, &upload, rows).await;
            let upload = plan_only(&cdb, &ceiling, users_file(updates, "Sister")).await;
            let updated = ceiling::updates(&cdb, &ceiling, &upload, updates).await;
            cdb.close().await.ok();
            ceiling_db.cleanup().await;
            (Some(new), Some(updated))
        } else {
            (None, None)
        };
        let naive_rate = naive(&db, baseline.id, 2000, "n").await;
        let stock = sea_orm::Database::connect(&test_db.url).await.expect("a default sea-orm connection");
        let stock_rate = naive(&stock, baseline.id, 2000, "s").await;
        stock.close().await.ok();
        let copy_rate = if backend == Backend::Postgres { Some(copy(&db, baseline.id, rows).await) } else { None };
        println!(
            "{:>10} | {:>9.0} | {:>9.0} | {:>20} | {:>12.1} s | {:>9.0} | {:>20} | {:>13} | {:>13} | {:>11} | {:>8.0}",
            format!("{backend:?}"),
            rows as f64 / plan,
            new_rate,
            share(ceiling_new, new_rate),
            plan + loaded,
            update_rate,
            share(ceiling_updates, update_rate),
            format!("{stock_rate:.0} ({:.0}x)", new_rate / stock_rate),
            format!("{naive_rate:.0} ({:.0}x)", new_rate / naive_rate),
            copy_rate.map_or("n/a".into(), |c| format!("{c:.0}")),
            peak,
        );
        db.close().await.ok();
        test_db.cleanup().await;
    }
    println!(
        "# r/s throughout. load new, updates: the background load alone; new end-to-end: plan + load of the new users"
    );
    println!(
        "# ceiling: COPY of exactly the rows the load writes (PostgreSQL); (load %): the load's rate as a share of it"
    );
    println!("# naive stock: one INSERT a row on sea-orm's default connection; naive pool: on Muster's pool; (x): the load's rate as a multiple");
    println!("# COPY users: COPY of the users' rows alone. peak MB: Muster's plan, load and results file (VmHWM), before the baselines");
}
