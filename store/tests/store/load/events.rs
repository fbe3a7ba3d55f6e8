//! An upload's events and its admins' notifications.
use super::*;

#[tokio::test]
async fn an_upload_s_events_say_each_state_it_reaches_for_its_own_tenant_only() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let other = tenants::create_tenant(&db, "other", "Other", None).await.unwrap();
        let start = muster_store::events::latest_id(&db, w.tenant.id).await.unwrap();
        let upload = plan_file(&db, &w.tenant, FILE.as_bytes()).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        let job = jobs::claim(&db, "test").await.unwrap().unwrap();
        let mut heard = Vec::new();
        let claim = load::Claim::of(&job, "test");
        let report = load::run(
            &db,
            upload.id,
            Some(&claim),
            |p| {
                heard.push(p.clone());
                true
            },
            |_| {},
        )
        .await
        .unwrap();
        let kinds = event_kinds(&db, w.tenant.id, start).await;
        let expected = [("validated", "ready"), ("queued", "queued"), ("started", "running"), ("done", "done")];
        assert_eq!(kinds.iter().map(|(_, k, s)| (k.as_str(), s.as_str())).collect::<Vec<_>>(), expected, "{backend:?}");
        assert!(kinds.iter().all(|(id, _, _)| *id == upload.id));
        assert!(event_kinds(&db, other.id, 0).await.is_empty(), "{backend:?}: another tenant hears nothing");
        // The load's progress counts each row's outcome as it goes, ending as the summary does.
        let last = heard.last().expect("progress after the batch");
        assert_eq!((last.done, last.total), (i64::from(upload.rows_total), i64::from(upload.rows_total)));
        assert_eq!((last.counts.added, last.counts.errors), (report.counts.added, report.counts.errors), "{backend:?}");
        // A cursor still kept is not too old; one whose event was purged is.
        let newest = muster_store::events::latest_id(&db, w.tenant.id).await.unwrap();
        assert!(!muster_store::events::is_too_old(&db, w.tenant.id, newest).await.unwrap());
        assert!(!muster_store::events::is_too_old(&db, w.tenant.id, 0).await.unwrap(), "0: from the start");
        muster_store::entity::event::Entity::update_many()
            .col_expr(
                muster_store::entity::event::Column::CreatedAt,
                Expr::value(Utc::now() - chrono::Duration::days(2)),
            )
            .exec(&db)
            .await
            .unwrap();
        assert_eq!(muster_store::events::purge(&db).await.unwrap(), kinds.len() as u64);
        assert!(muster_store::events::is_too_old(&db, w.tenant.id, newest).await.unwrap(), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn an_upload_s_admins_are_told_each_step_once_in_the_step_s_own_transaction() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let admin = admin_of(&db, &w.tenant, "boss").await;
        let other = tenants::create_tenant(&db, "other", "Other", None).await.unwrap();
        let their_admin = admin_of(&db, &other, "them").await;
        let mut file = String::from("userId,email\n");
        // Two batches: the load stops after the first and resumes.
        for i in 0..1100 {
            file.push_str(&format!("n{i},n{i}@example.com\n"));
        }
        // From the command line (no uploader): the tenant's admins are told.
        let upload = plan_file(&db, &w.tenant, file.as_bytes()).await.unwrap();
        let second = plan_file(&db, &w.tenant, b"userId,email\nzed,zed@example.com\n").await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        jobs::enqueue_load(&db, &second).await.unwrap();
        let job = jobs::claim(&db, "w1").await.unwrap().unwrap();
        // A worker that does not hold the job changes nothing and tells nothing.
        let stranger = load::Claim::of(&job, "not-the-holder");
        let report = load::run(&db, upload.id, Some(&stranger), |_| true, |_| {}).await.unwrap();
        assert!(!report.finished);
        assert!(!told(&db, w.tenant.id, admin).await.iter().any(|(k, _)| k == "started"), "{backend:?}");
        // Stopped after its first batch, then resumed: one "started".
        let claim = load::Claim::of(&job, "w1");
        assert!(!load::run(&db, upload.id, Some(&claim), |_| false, |_| {}).await.unwrap().finished);
        assert!(load::run(&db, upload.id, Some(&claim), |_| true, |_| {}).await.unwrap().finished);
        let said = told(&db, w.tenant.id, admin).await;
        let kinds: Vec<&str> = said.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["validated", "validated", "queued", "waiting", "started", "done"], "{backend:?}: {said:?}");
        assert_eq!(
            said[1].1,
            format!("Upload {} (users.csv) is checked and planned: 1 row. Review it and load it.", second.id)
        );
        assert_eq!(
            said[0].1,
            format!("Upload {} (users.csv) is checked and planned: 1100 rows. Review it and load it.", upload.id)
        );
        assert_eq!(
            said[3].1,
            format!("Upload {} waits behind upload {}: a tenant's loads run one at a time.", second.id, upload.id)
        );
        let summary = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap().summary.unwrap();
        assert_eq!(said[5].1, format!("Upload {} (users.csv) is loaded. {summary}", upload.id), "{backend:?}");
        // Read one, then all; another tenant's admin was told nothing and reads nothing of these.
        use muster_store::notifications::{mark_read, unread};
        assert_eq!(unread(&db, w.tenant.id, admin).await.unwrap(), 6);
        let newest = muster_store::notifications::latest(&db, w.tenant.id, admin, None, 1).await.unwrap()[0].id;
        assert_eq!(mark_read(&db, other.id, their_admin, Some(newest)).await.unwrap(), 0, "{backend:?}");
        assert_eq!(mark_read(&db, w.tenant.id, admin, Some(newest)).await.unwrap(), 1);
        assert_eq!(unread(&db, w.tenant.id, admin).await.unwrap(), 5);
        assert_eq!(mark_read(&db, w.tenant.id, admin, None).await.unwrap(), 5);
        assert_eq!(unread(&db, w.tenant.id, admin).await.unwrap(), 0);
        assert!(told(&db, other.id, their_admin).await.is_empty(), "{backend:?}");
        assert!(told(&db, other.id, admin).await.is_empty(), "{backend:?}");
    })
    .await;
}
