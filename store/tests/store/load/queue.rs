//! The job queue: one load per tenant, claims and leases, resumed and given-up loads, progress that only moves forward.
use super::*;
use muster_store::uploads::UploadState;

#[tokio::test]
async fn a_tenant_runs_one_load_at_a_time() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let a = plan_file(&db, &w.tenant, b"userId,email,firstName\na1,a1@x.io,A\n").await.unwrap();
        let b = plan_file(&db, &w.tenant, b"userId,email,firstName\nb1,b1@x.io,B\n").await.unwrap();
        jobs::enqueue_load(&db, &a).await.unwrap();
        assert!(matches!(jobs::enqueue_load(&db, &b).await.unwrap(), jobs::Enqueued::Waiting { ahead: 1, .. }));
        let first = jobs::claim(&db, "w1").await.unwrap().expect("a job");
        assert_eq!(first.upload_id, Some(a.id));
        assert!(jobs::claim(&db, "w2").await.unwrap().is_none(), "{backend:?}: b waits while a runs");
        load::run(&db, a.id, Some(&load::Claim::of(&first, "w1")), |_| true, |_| {}).await.unwrap();
        jobs::finish(&db, &first, None).await.unwrap();
        let second = jobs::claim(&db, "w2").await.unwrap().expect("b's turn");
        assert_eq!(second.upload_id, Some(b.id));
    })
    .await;
}

#[tokio::test]
async fn a_job_of_one_tenant_never_loads_another_tenant_s_upload() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let other = tenants::create_tenant(&db, "other", "Other", None).await.unwrap();
        let theirs = plan_file(&db, &other, b"userId,email,firstName\no1,o1@x.io,O\n").await.unwrap();
        let ours = plan_file(&db, &w.tenant, b"userId,email,firstName\na1,a1@x.io,A\n").await.unwrap();
        jobs::enqueue_load(&db, &ours).await.unwrap();
        let job = jobs::claim(&db, "w1").await.unwrap().expect("a job");
        let wrong = load::run(&db, theirs.id, Some(&load::Claim::of(&job, "w1")), |_| true, |_| {}).await;
        assert!(matches!(wrong, Err(sea_orm::DbErr::RecordNotFound(_))), "{backend:?}: {:?}", wrong.err());
        assert!(find(&db, &other, "o1").await.is_none(), "{backend:?}: nothing of the other tenant's file loaded");
        let theirs = upload::Entity::find_by_id(theirs.id).one(&db).await.unwrap().unwrap();
        assert_eq!(theirs.state, uploads::UploadState::Ready, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn an_interrupted_load_resumes_and_applies_every_row_once() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let mut file = String::from("userId,email,firstName\n");
        // More ranges than lanes side by side (PostgreSQL) take before they stop,
        // each its first and the one it reads ahead, so that some are left; and
        // those are all full, so that whichever a lane applies first, it applies
        // a whole batch (one run's last lane to start took the 200-row tail).
        let n = load::BATCH as usize * (2 * load::LANES + 2) + 200;
        for i in 0..n {
            file.push_str(&format!("r{i},r{i}@x.io,R\n"));
        }
        let upload = plan_file(&db, &w.tenant, file.as_bytes()).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        let job = jobs::claim(&db, "stalls").await.unwrap().unwrap();
        let stalled = load::Claim::of(&job, "stalls");
        // The worker applies one batch (each lane its own), then stalls.
        let report = load::run(&db, upload.id, Some(&stalled), |_| false, |_| {}).await.unwrap();
        assert!(!report.finished);
        let partial = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        let lanes = if backend == testdb::Backend::Postgres { load::LANES } else { 1 };
        assert_eq!(partial.rows_done, (load::BATCH as usize * lanes) as i32, "{backend:?}");
        // Its lease runs out and another worker takes the job over.
        expire_lease(&db, job.id).await;
        let taken = jobs::claim(&db, "takes-over").await.unwrap().expect("the expired job");
        assert_eq!(taken.id, job.id);
        // The stalled worker wakes up: its next batch is refused, nothing is applied.
        let report = load::run(&db, upload.id, Some(&stalled), |_| true, |_| {}).await.unwrap();
        assert!(!report.finished, "{backend:?}: a worker that lost its lease stops");
        let still = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        assert_eq!(still.rows_done, partial.rows_done);
        // The new owner finishes the rest.
        let report =
            load::run(&db, upload.id, Some(&load::Claim::of(&taken, "takes-over")), |_| true, |_| {}).await.unwrap();
        assert!(report.finished);
        assert!(!jobs::finish(&db, &job, None).await.unwrap(), "the stalled worker cannot finish the job");
        assert!(jobs::finish(&db, &taken, None).await.unwrap());
        assert_eq!(report.counts.added, n as u64);
        let users = user::Entity::find().filter(user::Column::TenantId.eq(w.tenant.id)).count(&db).await.unwrap();
        assert_eq!(users, 4 + n as u64, "{backend:?}: every row once");
        let without_result = upload_row::Entity::find()
            .filter(upload_row::Column::UploadId.eq(upload.id))
            .filter(upload_row::Column::Result.is_null())
            .count(&db)
            .await
            .unwrap();
        assert_eq!(without_result, 0);
    })
    .await;
}

#[tokio::test]
async fn a_load_given_up_fails_its_upload_and_frees_the_tenant_queue() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let a = plan_file(&db, &w.tenant, b"userId,email,firstName\na1,a1@x.io,A\n").await.unwrap();
        let b = plan_file(&db, &w.tenant, b"userId,email,firstName\nb1,b1@x.io,B\n").await.unwrap();
        jobs::enqueue_load(&db, &a).await.unwrap();
        jobs::enqueue_load(&db, &b).await.unwrap();
        let stuck = jobs::claim(&db, "w1").await.unwrap().unwrap();
        jobs::note_error(&db, &stuck, "disk full").await.unwrap();
        jobs::give_up(&db, &stuck, "gave up after 10 attempts; the last error was: disk full").await.unwrap();
        let failed = uploads::find(&db, w.tenant.id, a.id).await.unwrap().unwrap();
        assert_eq!(failed.state, UploadState::Failed, "{backend:?}");
        assert_eq!(
            failed.summary.as_deref(),
            Some("The load failed: gave up after 10 attempts; the last error was: disk full")
        );
        let next = jobs::claim(&db, "w1").await.unwrap().expect("the next upload of the tenant runs");
        assert_eq!(next.upload_id, Some(b.id));
    })
    .await;
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_after_the_last_row_links_no_managers() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let upload =
            plan_file(&db, &w.tenant, b"userId,email,firstName,reportsTo\nw1,w1@x.io,W,boss\nboss,boss@x.io,B,\n")
                .await
                .unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        let job = jobs::claim(&db, "stalls").await.unwrap().unwrap();
        let stalled = load::Claim::of(&job, "stalls");
        // Every row is applied, then the worker stalls before linking managers.
        let report = load::run(&db, upload.id, Some(&stalled), |_| false, |_| {}).await.unwrap();
        assert!(!report.finished);
        expire_lease(&db, job.id).await;
        let taken = jobs::claim(&db, "takes-over").await.unwrap().expect("the expired job");
        let report = load::run(&db, upload.id, Some(&stalled), |_| true, |_| {}).await.unwrap();
        assert!(!report.finished, "{backend:?}: the stalled worker stops");
        assert_eq!(find(&db, &w.tenant, "w1").await.unwrap().reports_to_id, None, "{backend:?}");
        let report =
            load::run(&db, upload.id, Some(&load::Claim::of(&taken, "takes-over")), |_| true, |_| {}).await.unwrap();
        assert!(report.finished);
        let boss = find(&db, &w.tenant, "boss").await.unwrap();
        assert_eq!(find(&db, &w.tenant, "w1").await.unwrap().reports_to_id, Some(boss.id), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn uploads_queued_and_claimed_all_at_once_never_fail_on_a_busy_database() {
    on_every_backend(|db, backend| async move {
        let mut uploads = Vec::new();
        for i in 0..6 {
            let t = tenants::create_tenant(&db, &format!("busy{i}"), "Busy", None).await.unwrap();
            uploads.push(plan_file(&db, &t, format!("userId,email\nu{i},u{i}@x.io\n").as_bytes()).await.unwrap());
        }
        // Each enqueue and each claim reads, then writes, on its own connection.
        let enqueues: Vec<_> = uploads
            .iter()
            .map(|u| {
                let (db, u) = (db.clone(), u.clone());
                tokio::spawn(async move { jobs::enqueue_load(&db, &u).await.map(|_| ()) })
            })
            .collect();
        for e in enqueues {
            e.await.unwrap().unwrap_or_else(|err| panic!("{backend:?}: enqueue failed: {err}"));
        }
        let mut claimed: Vec<i64> = claimed_at_once(&db, 8).await.iter().map(|j| j.id).collect();
        // Eight workers, six jobs of six tenants: each job once, and two workers
        // find nothing.
        claimed.sort();
        let mut once = claimed.clone();
        once.dedup();
        assert_eq!(once, claimed, "{backend:?}: a job claimed twice");
        assert_eq!(claimed.len(), 6, "{backend:?}: every job claimed");
    })
    .await;
}

#[tokio::test]
async fn workers_claiming_at_once_take_one_upload_per_tenant_its_first_and_leave_the_rest_queued() {
    on_every_backend(|db, backend| async move {
        let mut firsts = Vec::new();
        for t in 0..2 {
            let tenant = tenants::create_tenant(&db, &format!("race{t}"), "Race", None).await.unwrap();
            for i in 0..3 {
                let file = format!("userId,email\nr{t}x{i},r{t}x{i}@x.io\n");
                let upload = plan_file(&db, &tenant, file.as_bytes()).await.unwrap();
                jobs::enqueue_load(&db, &upload).await.unwrap();
                if i == 0 {
                    firsts.push(upload.id);
                }
            }
        }
        let mut claimed: Vec<i64> = claimed_at_once(&db, 8).await.iter().filter_map(|j| j.upload_id).collect();
        claimed.sort();
        assert_eq!(claimed, firsts, "{backend:?}: one load per tenant, the first it queued");
        let queued = job::Entity::find().filter(job::Column::State.eq(job::JobState::Queued)).count(&db).await.unwrap();
        assert_eq!(queued, 4, "{backend:?}: the others wait");
    })
    .await;
}

#[tokio::test]
async fn a_batch_holding_the_claim_lets_the_lease_be_renewed_but_not_taken_over() {
    use sea_orm::TransactionTrait;
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let upload = plan_file(&db, &w.tenant, FILE.as_bytes()).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        let job = jobs::claim(&db, "lane").await.unwrap().unwrap();
        let claim = load::Claim::of(&job, "lane");
        assert!(jobs::holds(&db, &claim).await.unwrap(), "{backend:?}");
        assert!(!jobs::holds(&db, &load::Claim::of(&job, "someone-else")).await.unwrap(), "{backend:?}");
        if backend != testdb::Backend::Postgres {
            // SQLite has one writer: there are no lanes side by side to hold it.
            return;
        }
        // A lane's batch is in progress and holds the claim.
        let batch = db.begin().await.unwrap();
        assert!(jobs::holds(&batch, &claim).await.unwrap());
        // Another lane renews the lease without waiting for that batch.
        let renewal = tokio::time::timeout(std::time::Duration::from_secs(5), jobs::renew(&db, &claim)).await;
        assert!(renewal.expect("the renewal waited for the batch").unwrap());
        // A worker that finds the lease run out cannot take the job over meanwhile.
        expire_lease(&db, job.id).await;
        assert!(jobs::claim(&db, "other").await.unwrap().is_none(), "taken over during a batch");
        batch.commit().await.unwrap();
        let taken = jobs::claim(&db, "other").await.unwrap().expect("taken over once the batch ended");
        assert_eq!(taken.id, job.id);
        assert!(!jobs::holds(&db, &claim).await.unwrap(), "the first worker no longer holds it");
    })
    .await;
}

#[tokio::test]
async fn a_run_that_commits_a_batch_counts_as_progress() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let n = load::BATCH as usize * (load::LANES + 2);
        let upload = plan_file(&db, &w.tenant, many_users("c", n).as_bytes()).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        let job = jobs::claim(&db, "w").await.unwrap().unwrap();
        // Claims that made no progress so far (crashes before any batch).
        job::Entity::update_many()
            .col_expr(job::Column::Attempts, Expr::value(5))
            .filter(job::Column::Id.eq(job.id))
            .exec(&db)
            .await
            .unwrap();
        // This run commits its first batches, then stops.
        let report = load::run(&db, upload.id, Some(&load::Claim::of(&job, "w")), |_| false, |_| {}).await.unwrap();
        assert!(!report.finished);
        let after = job::Entity::find_by_id(job.id).one(&db).await.unwrap().unwrap();
        assert_eq!(after.attempts, 1, "{backend:?}: a run that committed rows is not a failed attempt");
    })
    .await;
}

#[tokio::test]
async fn a_worker_that_lost_the_job_does_not_set_its_progress_back() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let n = load::BATCH as usize * (load::LANES + 2);
        let upload = plan_file(&db, &w.tenant, many_users("s", n).as_bytes()).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        let job = jobs::claim(&db, "stalls").await.unwrap().unwrap();
        let stalled = load::Claim::of(&job, "stalls");
        load::run(&db, upload.id, Some(&stalled), |_| false, |_| {}).await.unwrap();
        // The job is taken over, and its count of rows done says 7 (whatever the
        // new owner has counted by now).
        expire_lease(&db, job.id).await;
        let taken = jobs::claim(&db, "takes-over").await.unwrap().expect("the expired job");
        upload::Entity::update_many()
            .col_expr(upload::Column::RowsDone, Expr::value(7))
            .filter(upload::Column::Id.eq(upload.id))
            .exec(&db)
            .await
            .unwrap();
        let report = load::run(&db, upload.id, Some(&stalled), |_| true, |_| {}).await.unwrap();
        assert!(!report.finished);
        let now = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        assert_eq!(now.rows_done, 7, "{backend:?}: the stalled worker wrote nothing");
        // The new owner counts from the rows' results and finishes.
        let report =
            load::run(&db, upload.id, Some(&load::Claim::of(&taken, "takes-over")), |_| true, |_| {}).await.unwrap();
        assert!(report.finished);
        let done = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        assert_eq!(done.rows_done as usize, n, "{backend:?}");
        assert_eq!(done.state, UploadState::Done);
        // The stalled worker wakes up once more: the finished upload stays finished.
        let report = load::run(&db, upload.id, Some(&stalled), |_| true, |_| {}).await.unwrap();
        assert!(!report.finished);
        let still = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        assert_eq!((still.state.as_str(), still.rows_done as usize), ("done", n), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn a_second_load_of_the_tenant_says_which_upload_it_waits_behind() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let first = plan_file(&db, &w.tenant, FILE.as_bytes()).await.unwrap();
        let second =
            plan_file(&db, &w.tenant, b"userId,firstName,lastName,email\nzed,Zed,Z,zed@example.com\n").await.unwrap();
        jobs::enqueue_load(&db, &first).await.unwrap();
        assert!(matches!(jobs::enqueue_load(&db, &second).await.unwrap(), jobs::Enqueued::Waiting { ahead: 1, .. }));
        let second = uploads::find(&db, w.tenant.id, second.id).await.unwrap().unwrap();
        assert_eq!(jobs::waiting_behind(&db, &second).await.unwrap(), Some(first.id), "{backend:?}");
        let first = uploads::find(&db, w.tenant.id, first.id).await.unwrap().unwrap();
        assert_eq!(jobs::waiting_behind(&db, &first).await.unwrap(), None, "{backend:?}: the first waits for nothing");
    })
    .await;
}
