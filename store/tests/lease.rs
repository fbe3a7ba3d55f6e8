//! The lease of a load in lanes side by side is kept while its batches run,
//! however long they take. A test binary of its own: the lease is shortened for
//! this process (`MUSTER_JOB_LEASE_SECS`), before any thread reads it.
use muster_store::entity::{job, tenant};
use muster_store::load::{self, UploadOptions};
use muster_store::testdb::{self, Backend};
use muster_store::uploads::{self, NewUpload};
use muster_store::{jobs, tenants};
use sea_orm::EntityTrait;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[test]
fn a_load_in_lanes_keeps_its_lease_while_it_outlasts_it() {
    // SAFETY: the only test of this binary, before its runtime or any other
    // thread exists.
    unsafe { std::env::set_var("MUSTER_JOB_LEASE_SECS", "2") };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let test_db = testdb::TestDb::new(Backend::Postgres).await;
        let db = test_db.connect().await;
        let t: tenant::Model = tenants::create_tenant(&db, "lease", "Lease", None).await.unwrap();
        // Enough batches that the load takes several leases' time, with room for
        // a faster machine or a faster load (30 batches stopped being enough).
        let n = load::BATCH as usize * 80;
        let mut file = String::from("userId,email,firstName,roles\n");
        for i in 0..n {
            file.push_str(&format!("l{i},l{i}@x.io,L,Staff|Reader\n"));
        }
        let new = NewUpload {
            uploaded_by: None,
            file_name: "lease.csv".into(),
            bytes: file.into_bytes(),
            options: UploadOptions::default(),
        };
        let upload = uploads::create_and_plan(&db, &t, new, 50 << 20).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        let job = jobs::claim(&db, "lanes").await.unwrap().unwrap();

        // Another worker tries to take the job over all along, and looks whether
        // the lease ever ran out.
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
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                (None, ran_out)
            }
        });
        let started = std::time::Instant::now();
        let report =
            load::run(&db, upload.id, Some(&load::Claim::of(&job, "lanes")), |_, _| true, |_| {}).await.unwrap();
        let took = started.elapsed();
        stop.store(true, Ordering::SeqCst);
        let (taken, ran_out) = thief.await.unwrap();
        assert_eq!(ran_out, None, "the lease ran out during a load of {took:?}");
        assert_eq!(taken, None, "the job was taken over during a load of {took:?}");
        assert!(report.finished);
        assert_eq!(report.counts.added, n as u64);
        assert!(took > std::time::Duration::from_secs(4), "the load outlasted the lease twice ({took:?})");
        let job = job::Entity::find_by_id(job.id).one(&db).await.unwrap().unwrap();
        assert_eq!(job.locked_by.as_deref(), Some("lanes"));
        db.close().await.ok();
        test_db.cleanup().await;
    });
}
