//! A load keeps its job's lease while it runs, however long a batch takes: in
//! lanes side by side, and in one lane (SQLite; PostgreSQL when a load must run
//! in order) whose batch hashes passwords for longer than the lease. A test
//! binary of its own, outside `tests/store`: the lease is shortened for the
//! whole process (`MUSTER_JOB_LEASE_SECS`), before any thread reads it; beside
//! the other tests, setting it would race their threads and shorten their
//! leases too.
use muster_store::entity::{job, tenant, upload};
use muster_store::load::{self, Credentials, LoadReport, UploadOptions};
use muster_store::testdb::{self, Backend};
use muster_store::uploads::{self, NewUpload};
use muster_store::{jobs, tenants, DatabaseConnection};
use sea_orm::EntityTrait;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LEASE_SECS: u64 = 2;

/// Runs the upload's load under a claim while another worker tries to take the
/// job over all along; says how long it took, whether the thief got the job,
/// and when (if ever) the lease was seen run out.
async fn load_watched(
    db: &DatabaseConnection,
    upload: &upload::Model,
) -> (LoadReport, Duration, Option<i64>, Option<Option<chrono::DateTime<chrono::Utc>>>) {
    jobs::enqueue_load(db, upload).await.unwrap();
    let job = jobs::claim(db, "owner").await.unwrap().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let thief = tokio::spawn({
        let (db, stop, job_id) = (db.clone(), stop.clone(), job.id);
        async move {
            let mut ran_out = None;
            while !stop.load(Ordering::SeqCst) {
                if let Some(taken) = jobs::claim(&db, "thief").await.unwrap() {
                    return (Some(taken.id), ran_out);
                }
                let now = job::Entity::find_by_id(job_id).one(&db).await.unwrap().unwrap();
                if now.lease_until.is_some_and(|until| until < chrono::Utc::now()) {
                    ran_out.get_or_insert(now.lease_until);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (None, ran_out)
        }
    });
    let started = Instant::now();
    let report = load::run(db, upload.id, Some(&load::Claim::of(&job, "owner")), |_| true, |_| {}).await.unwrap();
    let took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (taken, ran_out) = thief.await.unwrap();
    let job = job::Entity::find_by_id(job.id).one(db).await.unwrap().unwrap();
    assert_eq!(job.locked_by.as_deref(), Some("owner"));
    (report, took, taken, ran_out)
}

async fn planned(db: &DatabaseConnection, t: &tenant::Model, file: String, options: UploadOptions) -> upload::Model {
    let new = NewUpload { uploaded_by: None, file_name: "lease.csv".into(), bytes: file.into_bytes(), options };
    uploads::create_and_plan(db, t, new, 50 << 20).await.unwrap()
}

async fn a_load_in_lanes_keeps_its_lease_while_it_outlasts_it() {
    let test_db = testdb::TestDb::new(Backend::Postgres).await;
    let db = test_db.connect().await;
    let t = tenants::create_tenant(&db, "lease", "Lease", None).await.unwrap();
    // Enough batches that the load takes several leases' time, with room for
    // a faster machine or a faster load (30 batches stopped being enough).
    let n = load::BATCH as usize * 80;
    let mut file = String::from("userId,email,firstName,roles\n");
    for i in 0..n {
        file.push_str(&format!("l{i},l{i}@x.io,L,Staff|Reader\n"));
    }
    let upload = planned(&db, &t, file, UploadOptions::default()).await;
    let (report, took, taken, ran_out) = load_watched(&db, &upload).await;
    assert_eq!(ran_out, None, "the lease ran out during a load of {took:?}");
    assert_eq!(taken, None, "the job was taken over during a load of {took:?}");
    assert!(report.finished);
    assert_eq!(report.counts.added, n as u64);
    assert!(took > Duration::from_secs(2 * LEASE_SECS), "the load outlasted the lease twice ({took:?})");
    db.close().await.ok();
    test_db.cleanup().await;
}

/// One batch whose passwords take longer to hash than the lease lasts, in one
/// lane: SQLite's, and PostgreSQL's for an all-or-nothing load.
async fn a_load_in_one_lane_keeps_its_lease_while_its_batch_hashes(backend: Backend) {
    let test_db = testdb::TestDb::new(backend).await;
    let db = test_db.connect().await;
    let t = tenants::create_tenant(&db, "hash", "Hash", None).await.unwrap();
    let mut file = String::from("userId,email,firstName\n");
    // ~30 ms a hash, one per core at once: several leases' worth (a fast
    // machine hashing twice as fast still outlasts two).
    let n = 300 * std::thread::available_parallelism().map_or(2, |n| n.get());
    for i in 0..n {
        file.push_str(&format!("h{i},h{i}@x.io,H\n"));
    }
    let mut options = UploadOptions::default();
    options.load.credentials = Credentials::GeneratePassword { email: false };
    options.load.stop_on_error = true;
    let upload = planned(&db, &t, file, options).await;
    let (report, took, taken, ran_out) = load_watched(&db, &upload).await;
    assert_eq!(ran_out, None, "{backend:?}: the lease ran out during a load of {took:?}");
    assert_eq!(taken, None, "{backend:?}: the job was taken over during a load of {took:?}");
    assert!(report.finished, "{backend:?}");
    assert_eq!(report.counts.added, n as u64, "{backend:?}");
    assert!(took > Duration::from_secs(2 * LEASE_SECS), "{backend:?}: the batch outlasted the lease twice ({took:?})");
    db.close().await.ok();
    test_db.cleanup().await;
}

#[test]
fn leases_are_kept_while_a_load_outlasts_them() {
    // SAFETY: the only test of this binary, before its runtime or any other
    // thread exists.
    unsafe { std::env::set_var("MUSTER_JOB_LEASE_SECS", LEASE_SECS.to_string()) };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        a_load_in_lanes_keeps_its_lease_while_it_outlasts_it().await;
        for backend in Backend::ALL {
            a_load_in_one_lane_keeps_its_lease_while_its_batch_hashes(backend).await;
        }
    });
}
