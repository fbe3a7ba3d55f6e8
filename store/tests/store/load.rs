//! Uploads from plan to load, on SQLite and PostgreSQL: every row status applied,
//! results per row, a second load of the same file changes nothing, duplicates
//! and concurrent loads are caught, and an interrupted load resumes exactly.
use chrono::Utc;
use muster_import::{Mode, SyncAction};
use muster_store::entity::{
    audit_event, invitation, job, mail_owed, organisation, role, tenant, upload, upload_row, user, user_role,
};
use muster_store::load::{self, Outgoing, UploadOptions};
use muster_store::testdb::{self, on_every_backend};
use muster_store::uploads::{self, NewUpload, UploadError};
use muster_store::{invitations, jobs, tenants};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};

async fn add_user(
    db: &DatabaseConnection,
    t: &tenant::Model,
    user_id: &str,
    org: i64,
    f: impl FnOnce(&mut user::ActiveModel),
) -> user::Model {
    let mut m = testdb::user(t.id, user_id, &format!("{user_id}@example.com"));
    m.first_name = Set(Some(user_id.to_uppercase()));
    m.last_name = Set(Some("Existing".into()));
    m.organisation_id = Set(Some(org));
    f(&mut m);
    m.insert(db).await.unwrap()
}

struct World {
    tenant: tenant::Model,
    rxx01: organisation::Model,
    rxx02: organisation::Model,
}

async fn world(db: &DatabaseConnection) -> World {
    let tenant = tenants::create_tenant(db, "acme", "Acme", None).await.unwrap();
    let rxx01 = tenants::create_organisation(db, tenant.id, "RXX01", "One").await.unwrap();
    let rxx02 = tenants::create_organisation(db, tenant.id, "RXX02", "Two").await.unwrap();
    add_user(db, &tenant, "pat", rxx01.id, |u| {
        u.external_id = Set(Some("E1".into()));
        u.external_id_norm = Set(Some("e1".into()));
        u.job_title = Set(Some("Nurse".into()));
    })
    .await;
    add_user(db, &tenant, "sam", rxx01.id, |u| u.state = Set("leaver".into())).await;
    add_user(db, &tenant, "kim", rxx02.id, |_| {}).await;
    add_user(db, &tenant, "lee", rxx02.id, |_| {}).await;
    World { tenant, rxx01, rxx02 }
}

const FILE: &str =
    "userId,externalId,firstName,lastName,email,jobTitle,organisation,status,roles,reportsTo,transaction\n\
new1,,Ann,New,new1@example.com,,,,Coordinator|Staff,new2,\n\
new2,,Bob,New,new2@example.com,,,,,,\n\
pat,e1,,,pat@example.com,Sister,,,,,\n\
kim,,,,kim@example.com,,,leaver,,,\n\
sam,,,,sam@example.com,,RXX02,,,,\n\
lee,,,,lee@example.com,,,,,,DELETE\n\
bad,,X,Y,bad@,,,,,,\n";

async fn plan_file(
    db: &DatabaseConnection,
    t: &tenant::Model,
    bytes: &[u8],
) -> Result<muster_store::entity::upload::Model, UploadError> {
    plan_with(db, t, UploadOptions::default(), bytes).await
}

/// A file planned with the options given.
async fn plan_with(
    db: &DatabaseConnection,
    t: &tenant::Model,
    options: UploadOptions,
    bytes: &[u8],
) -> Result<muster_store::entity::upload::Model, UploadError> {
    let new = NewUpload { uploaded_by: None, file_name: "users.csv".into(), bytes: bytes.to_vec(), options };
    uploads::create_and_plan(db, t, new, 50 * 1024 * 1024).await
}

/// A file planned with the all-or-nothing option.
async fn plan_all_or_nothing(
    db: &DatabaseConnection,
    t: &tenant::Model,
    bytes: &[u8],
) -> muster_store::entity::upload::Model {
    let mut options = UploadOptions::default();
    options.load.stop_on_error = true;
    plan_with(db, t, options, bytes).await.unwrap()
}

/// Runs every queued load as a worker would, whose mail all goes out.
async fn load_all(db: &DatabaseConnection) -> Vec<Outgoing> {
    let mut mail: Vec<load::Mailing> = Vec::new();
    while let Some(job) = jobs::claim(db, "test").await.unwrap() {
        let claim = load::Claim::of(&job, "test");
        let report = load::run(db, job.upload_id.unwrap(), Some(&claim), |_| true, |m| mail.push(m)).await.unwrap();
        assert!(report.finished);
        jobs::finish(db, &job, None).await.unwrap();
    }
    for mailing in &mail {
        let owed: Vec<i64> = mailing.messages.iter().map(|m| m.owed).collect();
        load::mail_sent(db, mailing, &owed).await.unwrap();
    }
    mail.into_iter().flat_map(|m| m.messages).map(|m| m.outgoing).collect()
}

/// New roles of the tenant, given to one user as the database has them.
async fn give_roles(db: &DatabaseConnection, t: &tenant::Model, user_id: i64, names: &[&str]) {
    for name in names {
        let role = role::ActiveModel {
            tenant_id: Set(t.id),
            name: Set((*name).into()),
            name_norm: Set(name.to_lowercase()),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(db)
        .await
        .unwrap();
        user_role::ActiveModel { tenant_id: Set(t.id), user_id: Set(user_id), role_id: Set(role.id) }
            .insert(db)
            .await
            .unwrap();
    }
}

/// The job's lease runs out, as when its worker stalled or died.
async fn expire_lease(db: &DatabaseConnection, job_id: i64) {
    job::Entity::update_many()
        .col_expr(job::Column::LeaseUntil, Expr::value(Utc::now() - chrono::Duration::seconds(1)))
        .filter(job::Column::Id.eq(job_id))
        .exec(db)
        .await
        .unwrap();
}

async fn find(db: &DatabaseConnection, t: &tenant::Model, user_id: &str) -> Option<user::Model> {
    user::Entity::find()
        .filter(user::Column::TenantId.eq(t.id))
        .filter(user::Column::UserIdNorm.eq(user_id))
        .one(db)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_status_is_applied_and_reported_and_a_second_load_changes_nothing() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let upload = plan_file(&db, &w.tenant, FILE.as_bytes()).await.unwrap();
        assert_eq!((upload.state.as_str(), upload.rows_total), ("ready", 7), "{backend:?}");
        let statuses: Vec<String> = uploads::rows(&db, w.tenant.id, upload.id).await.unwrap().into_iter().map(|r| r.status).collect();
        assert_eq!(statuses, ["New", "New", "Update", "Leaver", "Joiner", "Delete", "Error"]);

        // Nothing is written to users before the load.
        assert_eq!(user::Entity::find().filter(user::Column::TenantId.eq(w.tenant.id)).count(&db).await.unwrap(), 4);
        assert!(matches!(jobs::enqueue_load(&db, &upload).await.unwrap(), jobs::Enqueued::Queued(_)));
        assert!(matches!(jobs::enqueue_load(&db, &upload).await.unwrap(), jobs::Enqueued::AlreadyLoading(_)), "a second tab");
        let mail = load_all(&db).await;

        let done = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        assert_eq!(done.state, "done");
        assert_eq!(
            done.summary.as_deref(),
            Some("Users loaded with errors. 2 added, 1 updated, 1 leaver, 1 joiner, 1 deleted, 2 roles added. 1 rows not loaded: see the results file.")
        );
        let results: Vec<(String, String)> = uploads::rows(&db, w.tenant.id, upload.id)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.outcome.unwrap(), r.result.unwrap()))
            .collect();
        assert_eq!(
            results,
            [
                ("added".into(), "Added; invitation sent".into()),
                ("added".into(), "Added; invitation sent".into()),
                ("updated".into(), "Updated (jobTitle)".into()),
                ("leaver".into(), "Marked as leaver".into()),
                ("joiner".into(), "Re-admitted to the given organisation".into()),
                ("deleted".into(), "Deleted".into()),
                ("error".into(), r#"Line 8, email: "bad@" is not a valid email address"#.into()),
            ]
        );
        let default_org = organisation::Entity::find()
            .filter(organisation::Column::TenantId.eq(w.tenant.id))
            .filter(organisation::Column::IsDefault.eq(true))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let new1 = find(&db, &w.tenant, "new1").await.unwrap();
        let new2 = find(&db, &w.tenant, "new2").await.unwrap();
        assert_eq!(new1.organisation_id, Some(default_org.id));
        assert_eq!(new1.reports_to_id, Some(new2.id), "a manager defined later in the file");
        assert!(new1.password_hash.is_none(), "invited, not given a password");
        let roles: Vec<String> = role::Entity::find().filter(role::Column::TenantId.eq(w.tenant.id)).order_by_asc(role::Column::NameNorm).all(&db).await.unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(roles, ["Coordinator", "Staff"]);
        assert_eq!(user_role::Entity::find().filter(user_role::Column::UserId.eq(new1.id)).count(&db).await.unwrap(), 2);
        assert_eq!(find(&db, &w.tenant, "pat").await.unwrap().job_title.as_deref(), Some("Sister"));
        assert_eq!(find(&db, &w.tenant, "kim").await.unwrap().state, "leaver");
        let sam = find(&db, &w.tenant, "sam").await.unwrap();
        assert_eq!((sam.state.as_str(), sam.organisation_id), ("active", Some(w.rxx02.id)));
        assert!(find(&db, &w.tenant, "lee").await.is_none());
        assert_eq!(mail.len(), 2);
        assert!(matches!(&mail[0], Outgoing::Invitation { user_id, .. } if user_id == "new1"));
        let _ = w.rxx01;
        // The invitation and the audit trail read back as written (timestamps, JSON).
        let Outgoing::Invitation { token, .. } = &mail[0] else { unreachable!() };
        let invitation = invitation::Entity::find()
            .filter(invitation::Column::TokenHash.eq(muster_store::tokens::digest(token)))
            .one(&db)
            .await
            .unwrap()
            .expect("the invitation is stored by its digest");
        assert_eq!(invitation.user_id, new1.id);
        let days = (invitation.expires_at - invitation.created_at).num_days();
        assert_eq!(days, load::INVITATION_DAYS, "{backend:?}");
        let audits: Vec<(String, String)> = audit_event::Entity::find()
            .filter(audit_event::Column::UploadId.eq(upload.id))
            .order_by_asc(audit_event::Column::Id)
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.action, a.target))
            .collect();
        for expected in [("user.create", "new1"), ("role.create", "Coordinator"), ("user.update", "pat"), ("user.delete", "lee")] {
            assert!(audits.contains(&(expected.0.into(), expected.1.into())), "{backend:?}: {expected:?} in {audits:?}");
        }
        let update = audit_event::Entity::find()
            .filter(audit_event::Column::UploadId.eq(upload.id))
            .filter(audit_event::Column::Action.eq("user.update"))
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(update.details.unwrap()[0]["new"], "Sister", "the changes are kept as JSON");

        // The same file again: a new upload (the first is done), and nothing to do.
        let again = plan_file(&db, &w.tenant, FILE.as_bytes()).await.unwrap();
        let statuses: Vec<String> = uploads::rows(&db, w.tenant.id, again.id).await.unwrap().into_iter().map(|r| r.status).collect();
        assert_eq!(statuses, ["Unchanged", "Unchanged", "Unchanged", "Unchanged", "Unchanged", "Error", "Error"], "{backend:?}");
        jobs::enqueue_load(&db, &again).await.unwrap();
        load_all(&db).await;
        assert_eq!(user::Entity::find().filter(user::Column::TenantId.eq(w.tenant.id)).count(&db).await.unwrap(), 5, "no duplicates");
    })
    .await;
}

#[tokio::test]
async fn the_preview_pages_filters_and_counts_the_planned_rows() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let upload = plan_file(&db, &w.tenant, FILE.as_bytes()).await.unwrap();
        let counts = uploads::status_counts(&db, w.tenant.id, upload.id).await.unwrap();
        let expected: std::collections::BTreeMap<String, u64> =
            [("Delete", 1), ("Error", 1), ("Joiner", 1), ("Leaver", 1), ("New", 2), ("Update", 1)]
                .into_iter()
                .map(|(s, n)| (s.to_owned(), n))
                .collect();
        assert_eq!(counts, expected, "{backend:?}");

        // Pages of three, in file order, until the last says there is no next.
        let mut lines = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = uploads::preview_page(&db, w.tenant.id, upload.id, None, after, 3).await.unwrap();
            assert!(page.rows.len() <= 3);
            lines.extend(page.rows.iter().map(|r| r.line));
            pages += 1;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!((lines, pages), (vec![2, 3, 4, 5, 6, 7, 8], 3));

        let new = uploads::preview_page(&db, w.tenant.id, upload.id, Some("New"), None, 1).await.unwrap();
        assert_eq!(new.rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2]);
        let rest = uploads::preview_page(&db, w.tenant.id, upload.id, Some("New"), new.next, 1).await.unwrap();
        assert_eq!((rest.rows[0].line, rest.next), (3, None));

        // A page holds at least one row and at most PREVIEW_PAGE_MAX.
        let one = uploads::preview_page(&db, w.tenant.id, upload.id, None, None, 0).await.unwrap();
        assert_eq!((one.rows.len(), one.next), (1, Some(1)));
        let all = uploads::preview_page(&db, w.tenant.id, upload.id, None, None, u64::MAX).await.unwrap();
        assert_eq!((all.rows.len(), all.next), (7, None));

        // Another tenant sees nothing of it.
        let other = tenants::create_tenant(&db, "other", "Other", None).await.unwrap();
        assert!(uploads::status_counts(&db, other.id, upload.id).await.unwrap().is_empty());
        assert!(uploads::preview_page(&db, other.id, upload.id, None, None, 10).await.unwrap().rows.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_same_file_twice_in_a_row_is_one_upload() {
    on_every_backend(|db, _| async move {
        let w = world(&db).await;
        let first = plan_file(&db, &w.tenant, FILE.as_bytes()).await.unwrap();
        match plan_file(&db, &w.tenant, FILE.as_bytes()).await {
            Err(UploadError::Duplicate { existing, state }) => {
                assert_eq!((existing, state.as_str()), (first.id, "ready"))
            }
            other => panic!("expected a duplicate, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn the_same_file_submitted_at_once_is_one_upload_until_it_is_cancelled() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        // Each looks for an upload of the file before any has written one.
        let (a, b, c, d) = tokio::join!(
            plan_file(&db, &w.tenant, FILE.as_bytes()),
            plan_file(&db, &w.tenant, FILE.as_bytes()),
            plan_file(&db, &w.tenant, FILE.as_bytes()),
            plan_file(&db, &w.tenant, FILE.as_bytes()),
        );
        let (made, refused): (Vec<_>, Vec<_>) = [a, b, c, d].into_iter().partition(Result::is_ok);
        assert_eq!(made.len(), 1, "{backend:?}: one upload, got {made:?}");
        let first = made.into_iter().next().unwrap().unwrap();
        for other in refused {
            assert!(
                matches!(other, Err(UploadError::Duplicate { existing, .. }) if existing == first.id),
                "{backend:?}: {other:?}"
            );
        }
        assert_eq!(upload::Entity::find().count(&db).await.unwrap(), 1, "{backend:?}");

        // Turned down, it stays in the history, and the file may come again.
        assert!(uploads::cancel(&db, w.tenant.id, first.id).await.unwrap());
        assert!(!uploads::cancel(&db, w.tenant.id, first.id).await.unwrap(), "cancelled once");
        let cancelled = uploads::find(&db, w.tenant.id, first.id).await.unwrap().unwrap();
        assert_eq!(cancelled.state, "cancelled");
        assert!(matches!(
            jobs::enqueue_load(&db, &cancelled).await.unwrap(),
            jobs::Enqueued::Refused(why) if why.contains("cancelled")
        ));
        // A Load pressed on a page read before the cancel: refused, nothing queued.
        assert_eq!(first.state, "ready");
        assert_eq!(
            jobs::enqueue_load(&db, &first).await.unwrap(),
            jobs::Enqueued::Refused("the upload is cancelled, not ready to load".into())
        );
        assert_eq!(job::Entity::find().count(&db).await.unwrap(), 0, "{backend:?}");
        let again = plan_file(&db, &w.tenant, FILE.as_bytes()).await.unwrap();
        assert_ne!(again.id, first.id);
        // Another tenant's upload is not this tenant's to cancel.
        let other = tenants::create_tenant(&db, "other", "Other", None).await.unwrap();
        assert!(!uploads::cancel(&db, other.id, again.id).await.unwrap());
        assert_eq!(uploads::find(&db, w.tenant.id, again.id).await.unwrap().unwrap().state, "ready");
    })
    .await;
}

#[tokio::test]
async fn a_sync_retires_the_users_not_in_the_file_only_once_confirmed() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let mut options = UploadOptions::default();
        options.plan.mode = Mode::Sync;
        options.plan.sync_action = SyncAction::MarkLeaver;
        let bytes = b"userId,email,jobTitle\npat,pat@example.com,Nurse\n".to_vec();
        let new = NewUpload { uploaded_by: None, file_name: "sync.csv".into(), bytes, options };
        let upload = uploads::create_and_plan(&db, &w.tenant, new, 1 << 20).await.unwrap();
        // kim and lee are active and not in the file: 2 of 3 active users, over 20%.
        assert!(matches!(
            jobs::enqueue_load(&db, &upload).await.unwrap(),
            jobs::Enqueued::Refused(why) if why == jobs::NEEDS_CONFIRMATION
        ));
        assert!(jobs::claim(&db, "w").await.unwrap().is_none(), "{backend:?}: nothing was queued");
        assert_eq!(find(&db, &w.tenant, "kim").await.unwrap().state, "active");

        assert!(matches!(jobs::enqueue_confirmed_load(&db, &upload).await.unwrap(), jobs::Enqueued::Queued(_)));
        load_all(&db).await;
        for (who, state) in [("pat", "active"), ("kim", "leaver"), ("lee", "leaver"), ("sam", "leaver")] {
            assert_eq!(find(&db, &w.tenant, who).await.unwrap().state, state, "{backend:?}: {who}");
        }
        let done = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        let summary = done.summary.unwrap_or_default();
        assert!(summary.contains("0 added, 0 updated, 2 leavers, 0 joiners, 0 deleted"), "{backend:?}: {summary}");
        let results =
            String::from_utf8(uploads::results_csv(&db, w.tenant.id, upload.id).await.unwrap().unwrap()).unwrap();
        assert_eq!(results.lines().nth(1), Some("pat,pat@example.com,Nurse,No change"), "{results}");
        let events =
            audit_event::Entity::find().filter(audit_event::Column::Action.eq("user.leaver")).count(&db).await.unwrap();
        assert_eq!(events, 2, "{backend:?}: one audit event per user retired");
    })
    .await;
}

#[tokio::test]
async fn a_file_over_the_size_limit_is_refused_with_its_size_and_the_limit() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let mut bytes = b"userId,email,firstName\n".to_vec();
        while bytes.len() <= 1 << 20 {
            bytes.extend_from_slice(format!("u{0},u{0}@x.io,U\n", bytes.len()).as_bytes());
        }
        let size = bytes.len();
        let new = NewUpload { uploaded_by: None, file_name: "big.csv".into(), bytes, options: UploadOptions::default() };
        let refused = uploads::create_and_plan(&db, &w.tenant, new, 1 << 20).await;
        match refused {
            Err(err @ UploadError::TooLarge { .. }) => assert_eq!(
                err.to_string(),
                format!("The file is 1.1 MB ({size} bytes); files up to 1 MB are accepted. Split it into smaller files, or ask for a higher limit")
            ),
            other => panic!("{backend:?}: expected TooLarge, got {other:?}"),
        }
        assert_eq!(upload::Entity::find().count(&db).await.unwrap(), 0, "{backend:?}: nothing was stored");
    })
    .await;
}

#[tokio::test]
async fn a_sync_that_deletes_keeps_tenant_admins_and_the_users_in_the_file() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        add_user(&db, &w.tenant, "boss", w.rxx01.id, |u| u.is_tenant_admin = Set(true)).await;
        let mut options = UploadOptions::default();
        options.plan.mode = Mode::Sync;
        options.plan.sync_action = SyncAction::Delete;
        let bytes = b"userId,email\npat,pat@example.com\nkim,kim@example.com\n".to_vec();
        let new = NewUpload { uploaded_by: None, file_name: "sync.csv".into(), bytes, options };
        let upload = uploads::create_and_plan(&db, &w.tenant, new, 1 << 20).await.unwrap();
        // lee (active) goes: 1 of 4 active users, over 20%.
        assert!(matches!(jobs::enqueue_confirmed_load(&db, &upload).await.unwrap(), jobs::Enqueued::Queued(_)));
        load_all(&db).await;
        // A sync acts on active users: sam, a leaver already, stays.
        for (who, kept) in [("pat", true), ("kim", true), ("boss", true), ("sam", true), ("lee", false)] {
            assert_eq!(find(&db, &w.tenant, who).await.is_some(), kept, "{backend:?}: {who}");
        }
        let done = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        let summary = done.summary.unwrap_or_default();
        assert!(summary.contains("0 added, 0 updated, 0 leavers, 0 joiners, 1 deleted"), "{backend:?}: {summary}");
        let deleted =
            audit_event::Entity::find().filter(audit_event::Column::Action.eq("user.delete")).count(&db).await.unwrap();
        assert_eq!(deleted, 1, "{backend:?}");
    })
    .await;
}

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
        assert_eq!(theirs.state, uploads::state::READY, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn an_interrupted_load_resumes_and_applies_every_row_once() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let mut file = String::from("userId,email,firstName\n");
        // More ranges than lanes side by side (PostgreSQL), so that some are left.
        let n = load::BATCH as usize * (load::LANES + 2) + 200;
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
async fn a_user_changed_since_the_preview_is_reported_not_overwritten() {
    on_every_backend(|db, _| async move {
        let w = world(&db).await;
        let upload = plan_file(&db, &w.tenant, b"userId,email,jobTitle\npat,pat@example.com,Sister\n").await.unwrap();
        let pat = find(&db, &w.tenant, "pat").await.unwrap();
        let mut edited: user::ActiveModel = pat.into();
        edited.job_title = Set(Some("Matron".into()));
        edited.update(&db).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        let rows = uploads::rows(&db, w.tenant.id, upload.id).await.unwrap();
        assert_eq!(rows[0].outcome.as_deref(), Some("error"));
        assert_eq!(
            rows[0].result.as_deref(),
            Some(r#"Not loaded: jobTitle changed since the preview (now "Matron"); validate the file again"#)
        );
        assert_eq!(find(&db, &w.tenant, "pat").await.unwrap().job_title.as_deref(), Some("Matron"));
    })
    .await;
}

#[tokio::test]
async fn a_key_given_to_another_user_since_the_preview_fails_its_row_not_the_load() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,externalId,email,jobTitle\npat,,pat.new@example.com,\nkim,K9,kim@example.com,\nlee,,lee@example.com,Porter\n";
        let upload = plan_file(&db, &w.tenant, file).await.unwrap();
        // Meanwhile, on the Users screen: pat's new email and kim's new externalId
        // go to a new colleague.
        add_user(&db, &w.tenant, "zoe", w.rxx01.id, |u| {
            u.email = Set("Pat.New@example.com".into());
            u.email_norm = Set("pat.new@example.com".into());
            u.external_id = Set(Some("k9".into()));
            u.external_id_norm = Set(Some("k9".into()));
        })
        .await;
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        let done = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        assert_eq!(done.state, "done", "{backend:?}: {:?}", done.error);
        let results: Vec<_> = uploads::rows(&db, w.tenant.id, upload.id)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.outcome.unwrap_or_default(), r.result.unwrap_or_default()))
            .collect();
        assert_eq!(
            results,
            [
                ("error".into(), "Not loaded: this email was given to another user since the preview".into()),
                ("error".into(), "Not loaded: this externalId was given to another user since the preview".into()),
                ("updated".into(), "Updated (jobTitle)".into()),
            ],
            "{backend:?}"
        );
        assert_eq!(find(&db, &w.tenant, "pat").await.unwrap().email, "pat@example.com");
        assert_eq!(find(&db, &w.tenant, "kim").await.unwrap().external_id, None);
    })
    .await;
}

#[tokio::test]
async fn new_users_get_the_file_s_password_or_a_generated_one_never_stored_in_clear() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let mut options = UploadOptions::default();
        options.load.credentials = load::Credentials::GeneratePassword { email: true };
        let bytes = b"userId,email,firstName,password,notifyIfNewUser\ngen1,gen1@x.io,Gen,,\n\
                      own1,own1@x.io,Own,Chosen pass 123,\nquiet,quiet@x.io,Q,,false\n";
        let (upload, mail) = load_with(&db, &w.tenant, options, bytes).await;

        let generated = mail
            .iter()
            .find_map(|m| match m {
                Outgoing::Password { user_id, password, email, .. } if user_id == "gen1" => {
                    assert_eq!(email, "gen1@x.io");
                    Some(password.clone())
                }
                _ => None,
            })
            .expect("gen1's password is mailed to them");
        assert_eq!(generated.len(), 20);
        for (who, password) in [("gen1", generated.as_str()), ("own1", "Chosen pass 123")] {
            let user = find(&db, &w.tenant, who).await.unwrap();
            let hash = user.password_hash.expect("a password hash");
            assert!(hash.starts_with("$argon2id$"), "{backend:?}: {hash}");
            assert!(!hash.contains(password));
            assert!(muster_store::passwords::verify_blocking(password, &hash), "{backend:?}: {who}");
        }
        assert!(!mail.iter().any(|m| matches!(m, Outgoing::Invitation { .. })), "no invitations: {mail:?}");
        assert_eq!(invitation::Entity::find().count(&db).await.unwrap(), 0);
        // The results file (downloaded, mailed) holds neither password.
        let results =
            String::from_utf8(uploads::results_csv(&db, w.tenant.id, upload.id).await.unwrap().unwrap()).unwrap();
        assert_eq!(
            results,
            "userId,email,firstName,password,notifyIfNewUser,result\ngen1,gen1@x.io,Gen,,,Added; password sent\n\
             own1,own1@x.io,Own,,,Added; password sent\n\
             quiet,quiet@x.io,Q,,false,Added; password set (not sent: notifyIfNewUser is false)\n"
        );
        // notifyIfNewUser false: a password, and no mail.
        assert!(find(&db, &w.tenant, "quiet").await.unwrap().password_hash.is_some());
        let to: Vec<&str> = mail
            .iter()
            .map(|m| match m {
                Outgoing::Password { user_id, .. } | Outgoing::Invitation { user_id, .. } => user_id.as_str(),
            })
            .collect();
        assert_eq!(to, ["gen1", "own1"], "{backend:?}");
    })
    .await;
}

/// Plans `bytes` with `options` and loads it; the mail the load sends.
async fn load_with(
    db: &DatabaseConnection,
    t: &tenant::Model,
    options: UploadOptions,
    bytes: &[u8],
) -> (muster_store::entity::upload::Model, Vec<Outgoing>) {
    let upload = plan_with(db, t, options, bytes).await.unwrap();
    jobs::enqueue_load(db, &upload).await.unwrap();
    let mail = load_all(db).await;
    (upload, mail)
}

#[tokio::test]
async fn add_new_only_skips_the_users_that_exist_and_update_only_adds_no_one() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let mut options = UploadOptions::default();
        options.plan.mode = Mode::AddNewOnly;
        let file = b"userId,email,firstName,jobTitle\npat,pat@example.com,Pat,Matron\nnewbie,newbie@x.io,New,Porter\n";
        let (upload, _) = load_with(&db, &w.tenant, options.clone(), file).await;
        assert_eq!(
            outcomes(&db, &w.tenant, upload.id).await,
            [("skipped".into(), "Skipped".into()), ("added".into(), "Added; invitation sent".into())],
            "{backend:?}"
        );
        assert_eq!(find(&db, &w.tenant, "pat").await.unwrap().job_title.as_deref(), Some("Nurse"), "{backend:?}");
        assert_eq!(find(&db, &w.tenant, "newbie").await.unwrap().job_title.as_deref(), Some("Porter"));
        let summary = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap().summary.unwrap_or_default();
        assert!(summary.contains("1 added, 0 updated"), "{backend:?}: {summary}");

        options.plan.mode = Mode::UpdateOnly;
        let file = b"userId,email,jobTitle\npat,pat@example.com,Matron\nghost,ghost@x.io,Porter\n";
        let (upload, mail) = load_with(&db, &w.tenant, options, file).await;
        let results = outcomes(&db, &w.tenant, upload.id).await;
        assert_eq!(results[0], ("updated".into(), "Updated (jobTitle)".into()), "{backend:?}");
        assert_eq!(results[1].0, "error", "{backend:?}: {results:?}");
        assert!(results[1].1.contains("Update only mode adds no one"), "{backend:?}: {results:?}");
        assert_eq!(find(&db, &w.tenant, "pat").await.unwrap().job_title.as_deref(), Some("Matron"));
        assert!(find(&db, &w.tenant, "ghost").await.is_none(), "{backend:?}");
        assert!(mail.is_empty(), "{backend:?}: {mail:?}");
    })
    .await;
}

#[tokio::test]
async fn an_upload_that_notifies_no_new_users_mails_none_whatever_its_rows_say() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName,notifyIfNewUser\ninv1,inv1@x.io,I,true\ninv2,inv2@x.io,J,\n";
        let mut options = UploadOptions::default();
        options.load.notify_new_users = false;
        let (upload, mail) = load_with(&db, &w.tenant, options.clone(), file).await;
        assert!(mail.is_empty(), "{backend:?}: {mail:?}");
        let held = "Added; invitation created (not sent: this upload notifies no new users)";
        assert_eq!(
            outcomes(&db, &w.tenant, upload.id).await,
            [("added".into(), held.into()), ("added".into(), held.into())]
        );
        // The invitations exist: the admin may send them later.
        assert_eq!(invitation::Entity::find().count(&db).await.unwrap(), 2, "{backend:?}");

        options.load.credentials = load::Credentials::GeneratePassword { email: true };
        let file = b"userId,email,firstName,notifyIfNewUser\ngen1,gen1@x.io,G,true\n";
        let (upload, mail) = load_with(&db, &w.tenant, options, file).await;
        assert!(mail.is_empty(), "{backend:?}: {mail:?}");
        assert_eq!(
            outcomes(&db, &w.tenant, upload.id).await,
            [("added".into(), "Added; password set (not sent: this upload notifies no new users)".into())]
        );
        assert!(find(&db, &w.tenant, "gen1").await.unwrap().password_hash.is_some(), "{backend:?}");
    })
    .await;
}

/// SQLite has one writer: a batch that hashed its passwords (seconds of
/// Argon2) inside its transaction made every other write (a sign-in's
/// session, say) wait for all of it, or fail after the busy timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_a_batch_s_passwords_holds_no_write_lock_on_sqlite() {
    use std::time::{Duration, Instant};
    let test_db = testdb::TestDb::new(testdb::Backend::Sqlite).await;
    let db = test_db.connect().await;
    let w = world(&db).await;
    // A hundred hashes per core: ~3 s of hashing however many cores there are.
    let rows = 100 * std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut file = String::from("userId,email,firstName\n");
    for i in 0..rows {
        file.push_str(&format!("h{i},h{i}@x.io,H\n"));
    }
    let mut options = UploadOptions::default();
    options.load.credentials = load::Credentials::GeneratePassword { email: false };
    let upload = plan_with(&db, &w.tenant, options, file.as_bytes()).await.unwrap();
    jobs::enqueue_load(&db, &upload).await.unwrap();
    let started = Instant::now();
    let loading = tokio::spawn({
        let db = db.clone();
        async move { load_all(&db).await }
    });
    let (mut longest, mut writes) = (Duration::ZERO, 0);
    while !loading.is_finished() {
        let t = Instant::now();
        tenants::create_organisation(&db, w.tenant.id, &format!("W{writes}"), "Written meanwhile").await.unwrap();
        longest = longest.max(t.elapsed());
        writes += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    loading.await.unwrap();
    let took = started.elapsed();
    let added = user::Entity::find().filter(user::Column::UserIdNorm.starts_with("h")).count(&db).await.unwrap();
    assert_eq!(added, rows as u64);
    assert!(writes >= 5, "{writes} writes during a load of {took:?}");
    assert!(longest < took / 4, "a write waited {longest:?} during a load of {took:?}");
    db.close().await.ok();
    test_db.cleanup().await;
}

#[tokio::test]
async fn results_file_and_retry_of_failed_rows() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let upload = plan_file(&db, &w.tenant, b"userId,email,firstName\r\nok1,ok1@x.io,A\r\nbad,bad@,B\r\n").await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        let csv = String::from_utf8(uploads::results_csv(&db, w.tenant.id, upload.id).await.unwrap().unwrap()).unwrap();
        assert_eq!(
            csv,
            "userId,email,firstName,result\r\nok1,ok1@x.io,A,Added; invitation sent\r\nbad,bad@,B,\"Line 3, email: \"\"bad@\"\" is not a valid email address\"\r\n",
            "{backend:?}"
        );
        let retry = uploads::retry_failed(&db, &w.tenant, upload.id, None, 1 << 20).await.unwrap().unwrap();
        let retried = uploads::file(&db, w.tenant.id, retry.id).await.unwrap();
        assert_eq!(String::from_utf8(retried).unwrap(), "userId,email,firstName\r\nbad,bad@,B\r\n");
        assert_eq!(retry.rows_total, 1);
        // Another tenant cannot read this upload's results.
        let other = tenants::create_tenant(&db, "other", "Other", None).await.unwrap();
        assert!(uploads::results_csv(&db, other.id, upload.id).await.unwrap().is_none());
    })
    .await;
}

#[tokio::test]
async fn results_of_a_file_larger_than_a_page_stay_on_their_lines() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        // 21 000 rows (three pages of results), an error every 4999 rows, blank
        // lines that shift lines away from row positions.
        let mut text = String::from("userId,email,lastName\n");
        let mut bad_rows = Vec::new();
        let mut line = 1;
        for i in 0..21_000 {
            if i % 7_000 == 0 {
                text.push('\n');
                line += 1;
            }
            line += 1;
            if i % 4_999 == 0 {
                text.push_str(&format!("b{i},b{i}@,X\n"));
                bad_rows.push(format!(r#"b{i},b{i}@,X,"Line {line}, email: ""b{i}@"" is not a valid email address""#));
            } else {
                text.push_str(&format!("u{i},u{i}@x.io,X\n"));
            }
        }
        let upload = plan_file(&db, &w.tenant, text.as_bytes()).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        let csv = String::from_utf8(uploads::results_csv(&db, w.tenant.id, upload.id).await.unwrap().unwrap()).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("userId,email,lastName,result"));
        let mut errors = Vec::new();
        let mut added = 0;
        for (at, row) in lines.enumerate() {
            let at = at + 2;
            if row.is_empty() {
                // The file's blank lines stay, so each row keeps its line number.
                continue;
            }
            if row.starts_with('b') {
                assert!(row.contains(&format!("\"Line {at}, email:")), "{backend:?}: on line {at}: {row}");
                errors.push(row.to_owned());
            } else {
                assert!(row.ends_with(",X,Added; invitation sent"), "{backend:?}: {row}");
                added += 1;
            }
        }
        assert_eq!(errors, bad_rows, "{backend:?}: each error on its own line");
        assert_eq!(added + errors.len(), 21_000);
        let retry = uploads::retry_failed(&db, &w.tenant, upload.id, None, 1 << 22).await.unwrap().unwrap();
        assert_eq!(retry.rows_total as usize, bad_rows.len());
    })
    .await;
}

#[tokio::test]
async fn all_or_nothing_loads_nothing_and_keeps_the_errors_for_retry() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\ngood,good@x.io,G\nbad,bad@,B\npat,pat@example.com,\nnot,not@x.io,N\n";
        let upload = plan_all_or_nothing(&db, &w.tenant, file).await;
        uploads::set_selected(&db, w.tenant.id, upload.id, &[5], false).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        assert!(find(&db, &w.tenant, "good").await.is_none(), "{backend:?}: nothing loaded");
        assert_eq!(
            outcomes(&db, &w.tenant, upload.id).await,
            [
                ("skipped".into(), "Not loaded: the upload is all or nothing and has rows with errors".into()),
                ("error".into(), r#"Line 3, email: "bad@" is not a valid email address"#.into()),
                ("unchanged".into(), "No change".into()),
                ("skipped".into(), "Skipped".into()),
            ]
        );
        let done = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        assert!(done.summary.unwrap().starts_with("Users loaded with errors. 0 added"));
        // Nothing was loaded: the retry holds the good row with the bad one, not
        // the unchanged row nor the one the admin unticked.
        let retry = uploads::retry_failed(&db, &w.tenant, upload.id, None, 1 << 20).await.unwrap().unwrap();
        let retried = String::from_utf8(uploads::file(&db, w.tenant.id, retry.id).await.unwrap()).unwrap();
        assert_eq!(retried, "userId,email,firstName\ngood,good@x.io,G\nbad,bad@,B\n", "{backend:?}");
    })
    .await;
}

async fn outcomes(db: &DatabaseConnection, t: &tenant::Model, upload_id: i64) -> Vec<(String, String)> {
    uploads::rows(db, t.id, upload_id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.outcome.unwrap_or_default(), r.result.unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn a_row_failing_at_load_time_stops_an_all_or_nothing_load_there() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\nfirst,first@x.io,F\nlate,late@x.io,L\nafter,after@x.io,A\n\
                     pat,pat@example.com,\nnot,not@x.io,N\n";
        let upload = plan_all_or_nothing(&db, &w.tenant, file).await;
        uploads::set_selected(&db, w.tenant.id, upload.id, &[6], false).await.unwrap();
        // Between the preview and the load, someone creates "late" by hand.
        add_user(&db, &w.tenant, "late", w.rxx01.id, |_| {}).await;
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        assert_eq!(
            outcomes(&db, &w.tenant, upload.id).await,
            [
                ("added".into(), "Added; invitation sent".into()),
                ("error".into(), "Not loaded: a user with this userId was created since the preview".into()),
                ("skipped".into(), "Not loaded: the load stopped at the first failed row".into()),
                ("unchanged".into(), "No change".into()),
                ("skipped".into(), "Skipped".into()),
            ],
            "{backend:?}"
        );
        assert!(find(&db, &w.tenant, "after").await.is_none(), "the row after the failure is not applied");
        let retry = uploads::retry_failed(&db, &w.tenant, upload.id, None, 1 << 20).await.unwrap().unwrap();
        let retried = String::from_utf8(uploads::file(&db, w.tenant.id, retry.id).await.unwrap()).unwrap();
        assert_eq!(retried, "userId,email,firstName\nlate,late@x.io,L\nafter,after@x.io,A\n", "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn a_stop_gives_every_later_row_its_result_in_the_failed_rows_batch() {
    // Rows past the failed row's batch are read by no batch: they get their
    // result in that batch's transaction (a crash between the two let a resumed
    // load apply them), and are counted as done.
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let mut file = String::from("userId,email,firstName\nlate,late@x.io,L\n");
        (0..1500).for_each(|i| file.push_str(&format!("n{i},n{i}@x.io,N\n")));
        let upload = plan_all_or_nothing(&db, &w.tenant, file.as_bytes()).await;
        add_user(&db, &w.tenant, "late", w.rxx01.id, |_| {}).await;
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        let done = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        assert_eq!((done.rows_done, done.rows_total), (1501, 1501), "{backend:?}");
        let results = outcomes(&db, &w.tenant, upload.id).await;
        assert_eq!(results[0].0, "error", "{backend:?}");
        let odd: Vec<_> = results[1..].iter().filter(|(o, r)| o != "skipped" || !r.contains("stopped")).collect();
        assert!(odd.is_empty(), "{backend:?}: {:?}", &odd[..odd.len().min(3)]);
        assert!(find(&db, &w.tenant, "n1499").await.is_none(), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn an_edit_committed_while_the_batch_runs_is_reported_not_overwritten() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let upload = plan_file(&db, &w.tenant, b"userId,email,jobTitle\npat,pat@example.com,Sister\n").await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        // An admin's edit of pat, not yet committed when the load starts.
        let edit = db.begin().await.unwrap();
        user::Entity::update_many()
            .col_expr(user::Column::JobTitle, Expr::value("Matron"))
            .filter(user::Column::TenantId.eq(w.tenant.id))
            .filter(user::Column::UserIdNorm.eq("pat"))
            .exec(&edit)
            .await
            .unwrap();
        let load = tokio::spawn({
            let db = db.clone();
            async move { load_all(&db).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!load.is_finished(), "{backend:?}: the load waits for the edit");
        edit.commit().await.unwrap();
        load.await.unwrap();
        assert_eq!(
            outcomes(&db, &w.tenant, upload.id).await,
            [(
                "error".into(),
                r#"Not loaded: jobTitle changed since the preview (now "Matron"); validate the file again"#.to_owned()
            )],
            "{backend:?}"
        );
        assert_eq!(find(&db, &w.tenant, "pat").await.unwrap().job_title.as_deref(), Some("Matron"), "{backend:?}");
    })
    .await;
}

/// Loads `bytes` as a worker that dies (or whose mail server fails) once the
/// batches committed: the mail they owe, handed over and never sent.
async fn load_losing_mail(
    db: &DatabaseConnection,
    t: &tenant::Model,
    options: UploadOptions,
    bytes: &[u8],
) -> (i64, Vec<load::Mailing>) {
    let upload = plan_with(db, t, options, bytes).await.unwrap();
    jobs::enqueue_load(db, &upload).await.unwrap();
    let job = jobs::claim(db, "dies").await.unwrap().unwrap();
    let mut lost = Vec::new();
    let claim = load::Claim::of(&job, "dies");
    assert!(load::run(db, upload.id, Some(&claim), |_| true, |m| lost.push(m)).await.unwrap().finished);
    jobs::finish(db, &job, None).await.unwrap();
    (upload.id, lost)
}

/// Everything owed, whatever its claim: as a worker finds it once claims ran
/// out. A mailing a message.
async fn claim_everything(db: &DatabaseConnection) -> Vec<load::Mailing> {
    let mailings = load::claim_unsent_mail(db, chrono::Duration::days(1), 1000).await.unwrap();
    assert!(mailings.iter().all(|m| m.messages.len() == 1));
    mailings
}

fn token_of(m: &load::Message) -> (String, String) {
    match &m.outgoing {
        Outgoing::Invitation { user_id, token, .. } => (user_id.clone(), token.clone()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn owed_mail_is_renewed_only_for_the_recipients_not_sent_to() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\nann,ann@x.io,Ann\nbob,bob@x.io,Bob\ncat,cat@x.io,Cat\n";
        let (upload_id, lost) = load_losing_mail(&db, &w.tenant, UploadOptions::default(), file).await;
        let messages: Vec<&load::Message> = lost.iter().flat_map(|m| &m.messages).collect();
        assert_eq!(messages.len(), 3, "{backend:?}");
        // Queued, not sent, until the sender says so.
        let results = outcomes(&db, &w.tenant, upload_id).await;
        assert!(results.iter().all(|(_, r)| r == "Added; invitation queued"), "{backend:?}: {results:?}");
        // The batch's sender holds its claim from the start: nobody else sends it.
        assert!(load::claim_unsent_mail(&db, chrono::Duration::zero(), 20).await.unwrap().is_empty(), "{backend:?}");
        // ann's went out; then the sender died.
        load::mail_sent(&db, &lost[0], &[messages[0].owed]).await.unwrap();

        let again = claim_everything(&db).await;
        let renewed: Vec<(String, String)> = again.iter().map(|m| token_of(&m.messages[0])).collect();
        assert_eq!(renewed.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(), ["bob", "cat"], "{backend:?}");
        // ann's link still works: nothing was renewed for her.
        assert!(invitations::open(&db, &token_of(messages[0]).1).await.is_ok(), "{backend:?}");
        // bob's lost link no longer works; the new one does, once.
        assert!(invitations::open(&db, &token_of(messages[1]).1).await.is_err(), "{backend:?}");
        invitations::accept(&db, &renewed[0].1, "a good pass 12").await.unwrap();
        assert!(invitations::accept(&db, &renewed[0].1, "a good pass 12").await.is_err());
        // Claimed: another worker does not send it too.
        assert!(claim_everything(&db).await.is_empty(), "{backend:?}");
        for m in &again {
            load::mail_sent(&db, m, &[m.messages[0].owed]).await.unwrap();
        }
        assert_eq!(mail_owed::Entity::find().count(&db).await.unwrap(), 0, "{backend:?}");
        let results = outcomes(&db, &w.tenant, upload_id).await;
        assert!(results.iter().all(|(_, r)| r == "Added; invitation sent"), "{backend:?}: {results:?}");
    })
    .await;
}

#[tokio::test]
async fn a_sender_whose_claim_was_taken_over_records_nothing_and_sends_nothing() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\nann,ann@x.io,Ann\n";
        let (upload_id, lost) = load_losing_mail(&db, &w.tenant, UploadOptions::default(), file).await;
        let first = &lost[0];
        let owed = [first.messages[0].owed];
        // The first sender stalled past its claim; another worker took the message.
        let taken = claim_everything(&db).await;
        assert_eq!(taken.len(), 1, "{backend:?}");
        // The first one wakes: it holds nothing, so it sends nothing and
        // records nothing over the new claim.
        assert!(load::extend_mail_claim(&db, first, &owed).await.unwrap().is_empty(), "{backend:?}");
        load::mail_sent(&db, first, &owed).await.unwrap();
        load::mail_failed(&db, first, owed[0], &load::Delivery::Refused("550 no".into())).await.unwrap();
        assert_eq!(mail_owed::Entity::find().count(&db).await.unwrap(), 1, "{backend:?}: still owed");
        assert_eq!(outcomes(&db, &w.tenant, upload_id).await[0].1, "Added; invitation queued", "{backend:?}");
        // The holder of the claim records it.
        assert_eq!(load::extend_mail_claim(&db, &taken[0], &owed).await.unwrap(), owed, "{backend:?}");
        load::mail_sent(&db, &taken[0], &owed).await.unwrap();
        assert_eq!(outcomes(&db, &w.tenant, upload_id).await[0].1, "Added; invitation sent", "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn mail_whose_sender_dies_every_time_is_given_up_after_the_attempts() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\nann,ann@x.io,Ann\n";
        let (upload_id, _lost) = load_losing_mail(&db, &w.tenant, UploadOptions::default(), file).await;
        // Each claimant dies before it says anything; each later worker looks
        // once the claim before ran out (a day on, then two…).
        let mut claims = 0;
        while !load::claim_unsent_mail(&db, chrono::Duration::days(claims as i64 + 1), 10).await.unwrap().is_empty() {
            claims += 1;
            assert!(claims < load::MAIL_ATTEMPTS, "{backend:?}: claimed for ever");
        }
        assert_eq!(claims, load::MAIL_ATTEMPTS - 1, "{backend:?}: the batch's attempt was the first");
        assert_eq!(mail_owed::Entity::find().count(&db).await.unwrap(), 0, "{backend:?}");
        assert_eq!(
            outcomes(&db, &w.tenant, upload_id).await[0].1,
            format!(
                "Added; invitation not delivered: its sender stopped each time (after {} attempts)",
                load::MAIL_ATTEMPTS
            ),
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn mail_owed_to_a_user_deleted_since_ends_saying_so() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\nann,ann@x.io,Ann\n";
        let (upload_id, _lost) = load_losing_mail(&db, &w.tenant, UploadOptions::default(), file).await;
        let ann = find(&db, &w.tenant, "ann").await.unwrap();
        user::Entity::delete_by_id(ann.id).exec(&db).await.unwrap();
        assert!(claim_everything(&db).await.is_empty(), "{backend:?}: nothing to send");
        assert_eq!(mail_owed::Entity::find().count(&db).await.unwrap(), 0, "{backend:?}");
        assert_eq!(
            outcomes(&db, &w.tenant, upload_id).await[0].1,
            "Added; invitation not sent: the user was deleted",
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_resent_invitation_expires_a_full_term_after_it_is_sent() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let (_, _lost) =
            load_losing_mail(&db, &w.tenant, UploadOptions::default(), b"userId,email,firstName\nann,ann@x.io,Ann\n")
                .await;
        // The first invitation was made days ago.
        let old = Utc::now() - chrono::Duration::days(6);
        invitation::Entity::update_many()
            .col_expr(invitation::Column::ExpiresAt, Expr::value(old + chrono::Duration::days(load::INVITATION_DAYS)))
            .exec(&db)
            .await
            .unwrap();
        assert_eq!(claim_everything(&db).await.len(), 1);
        let renewed = invitation::Entity::find().one(&db).await.unwrap().unwrap();
        let left = renewed.expires_at - Utc::now();
        assert!(
            left > chrono::Duration::days(load::INVITATION_DAYS) - chrono::Duration::minutes(5),
            "{backend:?}: {left}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_refused_address_is_final_and_its_row_says_not_delivered() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let file = b"userId,email,firstName\nann,ann@x.io,Ann\nbob,bob@x.io,Bob\n";
        let (upload_id, lost) = load_losing_mail(&db, &w.tenant, UploadOptions::default(), file).await;
        let messages: Vec<&load::Message> = lost.iter().flat_map(|m| &m.messages).collect();
        load::mail_sent(&db, &lost[0], &[messages[0].owed]).await.unwrap();
        let refused = load::Delivery::Refused("550 5.1.1 No such user here".into());
        load::mail_failed(&db, &lost[0], messages[1].owed, &refused).await.unwrap();
        assert!(claim_everything(&db).await.is_empty(), "{backend:?}: nothing is owed, nothing renewed");
        assert_eq!(
            outcomes(&db, &w.tenant, upload_id).await,
            [
                ("added".to_owned(), "Added; invitation sent".to_owned()),
                ("added".to_owned(), "Added; invitation not delivered: 550 5.1.1 No such user here".to_owned()),
            ],
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn mail_that_keeps_failing_is_tried_a_bounded_number_of_times() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let (upload_id, lost) =
            load_losing_mail(&db, &w.tenant, UploadOptions::default(), b"userId,email,firstName\nann,ann@x.io,Ann\n")
                .await;
        let down = load::Delivery::Failed("connection refused".into());
        load::mail_failed(&db, &lost[0], lost[0].messages[0].owed, &down).await.unwrap();
        // Not again before its back-off is over.
        assert!(load::claim_unsent_mail(&db, chrono::Duration::zero(), 20).await.unwrap().is_empty(), "{backend:?}");
        let mut tries = 1;
        loop {
            let again = claim_everything(&db).await;
            if again.is_empty() {
                break;
            }
            assert_eq!(again.len(), 1);
            tries += 1;
            load::mail_failed(&db, &again[0], again[0].messages[0].owed, &down).await.unwrap();
            assert!(tries <= load::MAIL_ATTEMPTS, "{backend:?}: tried for ever");
        }
        assert_eq!(tries, load::MAIL_ATTEMPTS, "{backend:?}");
        let results = outcomes(&db, &w.tenant, upload_id).await;
        assert_eq!(
            results[0].1,
            format!("Added; invitation not delivered: connection refused (after {} attempts)", load::MAIL_ATTEMPTS),
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_lost_password_mail_gives_a_new_password_only_to_users_who_never_signed_in() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let mut options = UploadOptions::default();
        options.load.credentials = load::Credentials::GeneratePassword { email: true };
        let bytes = b"userId,email,firstName\ngen1,gen1@x.io,Gen\ngen2,gen2@x.io,Gen\ngen3,gen3@x.io,Gen\n";
        let (upload_id, lost) = load_losing_mail(&db, &w.tenant, options, bytes).await;
        let lost_password = match &lost[0].messages[0].outgoing {
            Outgoing::Password { user_id, password, .. } if user_id == "gen1" => password.clone(),
            other => panic!("{other:?}"),
        };
        // The mail reached gen2 after all, who signed in with it; gen3 set a
        // password of their own.
        let gen2 = find(&db, &w.tenant, "gen2").await.unwrap();
        let gen3 = find(&db, &w.tenant, "gen3").await.unwrap();
        for (id, column) in [(gen2.id, user::Column::LastSignInAt), (gen3.id, user::Column::PasswordChangedAt)] {
            user::Entity::update_many()
                .col_expr(column, Expr::value(Utc::now()))
                .filter(user::Column::Id.eq(id))
                .exec(&db)
                .await
                .unwrap();
        }
        let gen2_hash = gen2.password_hash.clone().unwrap();

        let again = claim_everything(&db).await;
        let renewed: Vec<(String, String)> = again
            .iter()
            .map(|m| match &m.messages[0].outgoing {
                Outgoing::Password { user_id, password, .. } => (user_id.clone(), password.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(renewed.len(), 1, "{backend:?}: only gen1, who never signed in: {renewed:?}");
        let gen1_hash = find(&db, &w.tenant, "gen1").await.unwrap().password_hash.unwrap();
        assert!(muster_store::passwords::verify_blocking(&renewed[0].1, &gen1_hash), "{backend:?}");
        assert!(!muster_store::passwords::verify_blocking(&lost_password, &gen1_hash), "the lost one no longer works");
        assert_eq!(find(&db, &w.tenant, "gen2").await.unwrap().password_hash.unwrap(), gen2_hash, "{backend:?}");
        // The two who had theirs are owed nothing more, and their rows say so.
        assert_eq!(mail_owed::Entity::find().count(&db).await.unwrap(), 1, "{backend:?}");
        let results = outcomes(&db, &w.tenant, upload_id).await;
        assert_eq!(results[1].1, "Added; password used", "{backend:?}");
        assert_eq!(results[2].1, "Added; password used", "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn passwords_from_a_file_or_generated_must_be_changed_at_first_sign_in() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let mut options = UploadOptions::default();
        options.load.credentials = load::Credentials::GeneratePassword { email: false };
        let bytes = b"userId,email,firstName,password\nown,own@x.io,Own,Hunter2hunter2\ngen,gen@x.io,Gen,\n";
        let upload = plan_with(&db, &w.tenant, options, bytes).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        for who in ["own", "gen"] {
            assert!(find(&db, &w.tenant, who).await.unwrap().change_password_next_time, "{backend:?}: {who}");
        }
        // An invited user sets their own password: no flag.
        let upload = plan_file(&db, &w.tenant, b"userId,email,firstName\ninv,inv@x.io,Inv\n").await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        assert!(!find(&db, &w.tenant, "inv").await.unwrap().change_password_next_time, "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn a_user_made_a_tenant_admin_since_the_preview_is_not_deleted() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let upload =
            plan_file(&db, &w.tenant, b"userId,email,transaction\nkim,kim@example.com,DELETE\n").await.unwrap();
        let kim = find(&db, &w.tenant, "kim").await.unwrap();
        user::Entity::update_many()
            .col_expr(user::Column::IsTenantAdmin, Expr::value(true))
            .filter(user::Column::Id.eq(kim.id))
            .exec(&db)
            .await
            .unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        assert_eq!(
            outcomes(&db, &w.tenant, upload.id).await,
            [("error".into(), "Not loaded: the user is a tenant admin now; an upload does not delete admins".into())],
            "{backend:?}"
        );
        assert!(find(&db, &w.tenant, "kim").await.is_some(), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn roles_changed_since_the_preview_are_reported_not_overwritten() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let upload = plan_file(&db, &w.tenant, b"userId,email,roles\npat,pat@example.com,Staff|Nurse\n").await.unwrap();
        let pat = find(&db, &w.tenant, "pat").await.unwrap();
        give_roles(&db, &w.tenant, pat.id, &["Auditor"]).await;
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        assert_eq!(
            outcomes(&db, &w.tenant, upload.id).await,
            [(
                "error".into(),
                r#"Not loaded: roles changed since the preview (now "auditor"); validate the file again"#.to_owned()
            )],
            "{backend:?}"
        );
        let roles = user_role::Entity::find().filter(user_role::Column::UserId.eq(pat.id)).count(&db).await.unwrap();
        assert_eq!(roles, 1, "pat keeps the role given since the preview");
    })
    .await;
}

#[tokio::test]
async fn a_manager_who_was_not_loaded_is_said_in_the_result() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let upload =
            plan_file(&db, &w.tenant, b"userId,email,firstName,reportsTo\nboss,boss@x.io,B,\nw1,w1@x.io,W,boss\n")
                .await
                .unwrap();
        // The admin unticks the manager's row in the preview.
        uploads::set_selected(&db, w.tenant.id, upload.id, &[2], false).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        assert_eq!(
            outcomes(&db, &w.tenant, upload.id).await,
            [
                ("skipped".into(), "Skipped".into()),
                (
                    "added".into(),
                    r#"Added; invitation sent; reportsTo "boss" not set: that user was not loaded"#.into()
                ),
            ],
            "{backend:?}"
        );
        assert_eq!(find(&db, &w.tenant, "w1").await.unwrap().reports_to_id, None);
    })
    .await;
}

#[tokio::test]
async fn licences_are_checked_at_the_preview_and_again_at_load_time() {
    on_every_backend(|db, backend| async move {
        let t = tenants::create_tenant(&db, "small", "Small", Some(3)).await.unwrap();
        let org = tenants::create_organisation(&db, t.id, "ORG1", "One").await.unwrap();
        add_user(&db, &t, "old1", org.id, |_| {}).await;
        add_user(&db, &t, "gone", org.id, |u| u.state = Set("leaver".into())).await;

        // Three new users for two licences left: the whole file is refused.
        let big = plan_file(&db, &t, b"userId,email,firstName\na,a@x.io,A\nb,b@x.io,B\nc,c@x.io,C\n").await.unwrap();
        match jobs::enqueue_load(&db, &big).await.unwrap() {
            jobs::Enqueued::Refused(why) => assert_eq!(
                why, "This file needs 3 licences for new users and joiners, but only 2 of the tenant's 3 remain",
                "{backend:?}"
            ),
            other => panic!("{backend:?}: a file over the licence limit was queued: {other:?}"),
        }

        // Two files that each fit alone, planned before either loads: the second
        // runs out at load time and says so on each row it could not load.
        let first = plan_file(
            &db,
            &t,
            b"userId,email,firstName
d,d@x.io,D
e,e@x.io,E
",
        )
        .await
        .unwrap();
        let second = plan_file(
            &db,
            &t,
            b"userId,email,firstName,organisation
f,f@x.io,F,
gone,gone@example.com,,ORG1
",
        )
        .await
        .unwrap();
        let statuses: Vec<String> =
            uploads::rows(&db, t.id, second.id).await.unwrap().into_iter().map(|r| r.status).collect();
        assert_eq!(statuses, ["New", "Joiner"]);
        jobs::enqueue_load(&db, &first).await.unwrap();
        jobs::enqueue_load(&db, &second).await.unwrap();
        load_all(&db).await;
        let added = ("added".to_owned(), "Added; invitation sent".to_owned());
        assert_eq!(outcomes(&db, &t, first.id).await, [added.clone(), added]);
        let none_left = "Not loaded: no licence left (all 3 of the tenant's licences are in use)".to_owned();
        assert_eq!(
            outcomes(&db, &t, second.id).await,
            [("error".into(), none_left.clone()), ("error".into(), none_left)],
            "{backend:?}"
        );
        assert!(find(&db, &t, "f").await.is_none());
        assert_eq!(find(&db, &t, "gone").await.unwrap().state, "leaver");
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
        assert_eq!(failed.state, "failed", "{backend:?}");
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
async fn an_update_sets_only_the_changed_columns_and_their_match_keys() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let before = find(&db, &w.tenant, "pat").await.unwrap();
        let file = b"externalId,userId,email,enabled,changePasswordNextTime,mobile\nE1,Pat.Renamed,Pat.New@Example.com,no,yes,+44 7700 900123\n";
        let upload = plan_file(&db, &w.tenant, file).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        assert_eq!(
            outcomes(&db, &w.tenant, upload.id).await,
            [("updated".into(), "Updated (userId, email, mobile, enabled, changePasswordNextTime)".into())],
            "{backend:?}"
        );
        let after = find(&db, &w.tenant, "pat.renamed").await.expect("found by the new normalised userId");
        assert_eq!(after.id, before.id);
        assert_eq!((after.user_id.as_str(), after.email.as_str(), after.email_norm.as_str()), ("Pat.Renamed", "Pat.New@Example.com", "pat.new@example.com"));
        assert_eq!((after.enabled, after.change_password_next_time), (false, true));
        assert_eq!(after.mobile.as_deref(), Some("+44 7700 900123"));
        assert_eq!((after.job_title, after.first_name), (before.job_title, before.first_name), "other columns kept");
        assert!(after.updated_at > before.updated_at);
    })
    .await;
}

#[tokio::test]
async fn a_plan_reads_the_users_a_file_names_and_their_managers_up_the_chain() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        // boss <- mid <- low, in the database; the file names only low and boss.
        let boss = add_user(&db, &w.tenant, "boss", w.rxx01.id, |_| {}).await;
        let mid = add_user(&db, &w.tenant, "mid", w.rxx01.id, |u| u.reports_to_id = Set(Some(boss.id))).await;
        add_user(&db, &w.tenant, "low", w.rxx01.id, |u| u.reports_to_id = Set(Some(mid.id))).await;

        // boss to report to low closes a cycle through mid, whom the file never names.
        let upload = plan_file(
            &db,
            &w.tenant,
            b"userId,email,jobTitle,reportsTo\nboss,boss@example.com,,low\nlow,low@example.com,Porter,\n",
        )
        .await
        .unwrap();
        let rows = uploads::rows(&db, w.tenant.id, upload.id).await.unwrap();
        let seen: Vec<(String, String)> = rows
            .iter()
            .map(|r| (r.status.clone(), r.diagnostics.as_ref().map_or(String::new(), |d| d[0]["message"].to_string())))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "Error".into(),
                    r#""Line 2, reportsTo: \"low\" closes a reporting cycle: boss (line 2) → low (existing) → mid (existing) → boss""#
                        .into()
                ),
                // low's manager (mid) is known though the file does not name mid:
                // a file without reportsTo changes nothing but the job title.
                ("Update".into(), String::new()),
            ],
            "{backend:?}"
        );
        let changes = rows[1].changes.as_ref().unwrap().as_array().unwrap();
        assert_eq!(changes.len(), 1, "{backend:?}: {changes:?}");
        assert_eq!(changes[0]["field"], "jobTitle");
        // What was read: the two users named, mid up the chain, no one else; and
        // the tenant's active users counted all the same.
        let file = b"userId,email,jobTitle,reportsTo\nboss,boss@example.com,,low\nlow,low@example.com,Porter,\n";
        let options = muster_import::PlanOptions::default();
        let pass = muster_import::FirstPass::read(file, &options);
        let read = muster_store::directory::load_named(&db, &w.tenant, &pass.keys().unwrap()).await.unwrap();
        let mut names: Vec<&str> = read.users.iter().map(|u| u.user_id.as_str()).collect();
        names.sort();
        assert_eq!(names, ["boss", "low", "mid"], "{backend:?}");
        assert_eq!(read.active_users, Some(6), "{backend:?}: pat, kim, lee, boss, mid, low (sam left)");
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
async fn linking_managers_leaves_alone_a_manager_the_file_does_not_change() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let (pat, kim, lee) = (
            find(&db, &w.tenant, "pat").await.unwrap(),
            find(&db, &w.tenant, "kim").await,
            find(&db, &w.tenant, "lee").await,
        );
        let set_manager = |manager: i64| {
            user::Entity::update_many()
                .col_expr(user::Column::ReportsToId, Expr::value(manager))
                .filter(user::Column::Id.eq(pat.id))
                .exec(&db)
        };
        set_manager(kim.unwrap().id).await.unwrap();
        // pat's row changes the job title and names the manager pat has.
        let file = b"userId,email,firstName,jobTitle,reportsTo\npat,pat@example.com,,Sister,kim\n\
                     w1,w1@x.io,W,,boss\nboss,boss@x.io,B,,\n";
        let upload = plan_file(&db, &w.tenant, file).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        let job = jobs::claim(&db, "stalls").await.unwrap().unwrap();
        // Every row is applied, then the worker stalls before linking managers.
        let report =
            load::run(&db, upload.id, Some(&load::Claim::of(&job, "stalls")), |_| false, |_| {}).await.unwrap();
        assert!(!report.finished);
        // Meanwhile an admin gives pat another manager.
        let lee = lee.unwrap();
        set_manager(lee.id).await.unwrap();
        expire_lease(&db, job.id).await;
        let taken = jobs::claim(&db, "takes-over").await.unwrap().expect("the expired job");
        let report =
            load::run(&db, upload.id, Some(&load::Claim::of(&taken, "takes-over")), |_| true, |_| {}).await.unwrap();
        assert!(report.finished);
        let pat = find(&db, &w.tenant, "pat").await.unwrap();
        assert_eq!((pat.job_title.as_deref(), pat.reports_to_id), (Some("Sister"), Some(lee.id)), "{backend:?}");
        let boss = find(&db, &w.tenant, "boss").await.unwrap();
        assert_eq!(find(&db, &w.tenant, "w1").await.unwrap().reports_to_id, Some(boss.id), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn a_manager_deleted_by_an_earlier_batch_of_the_file_is_no_change_since_the_preview() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let (pat, kim, lee) = (
            find(&db, &w.tenant, "pat").await.unwrap(),
            find(&db, &w.tenant, "kim").await.unwrap(),
            find(&db, &w.tenant, "lee").await.unwrap(),
        );
        user::Entity::update_many()
            .col_expr(user::Column::ReportsToId, Expr::value(kim.id))
            .filter(user::Column::Id.eq(pat.id))
            .exec(&db)
            .await
            .unwrap();
        // kim goes in the first batch; pat, who reported to kim, moves to lee in the second.
        let mut file = String::from("userId,email,firstName,reportsTo,transaction\nkim,kim@example.com,,,DELETE\n");
        (0..load::BATCH).for_each(|i| file.push_str(&format!("n{i},n{i}@x.io,N,,\n")));
        file.push_str("pat,pat@example.com,,lee,\n");
        let upload = plan_file(&db, &w.tenant, file.as_bytes()).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        let results = outcomes(&db, &w.tenant, upload.id).await;
        assert_eq!(results[0], ("deleted".into(), "Deleted".into()), "{backend:?}");
        assert_eq!(results.last().unwrap().0, "updated", "{backend:?}: {:?}", results.last());
        assert_eq!(find(&db, &w.tenant, "pat").await.unwrap().reports_to_id, Some(lee.id), "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn a_validation_cut_off_by_a_stopped_server_does_not_block_the_file_for_ever() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let first = plan_file(&db, &w.tenant, FILE.as_bytes()).await.unwrap();
        // As a server stopped mid-plan leaves it: still validating.
        let cut_off = |age: chrono::Duration| {
            upload::Entity::update_many()
                .col_expr(upload::Column::State, Expr::value(uploads::state::VALIDATING))
                .col_expr(upload::Column::CreatedAt, Expr::value(Utc::now() - age))
                .filter(upload::Column::Id.eq(first.id))
                .exec(&db)
        };
        // Recently: it may still be running, so the same file is a duplicate.
        cut_off(chrono::Duration::minutes(1)).await.unwrap();
        assert!(matches!(plan_file(&db, &w.tenant, FILE.as_bytes()).await, Err(UploadError::Duplicate { .. })));
        // Long ago: it failed, and the file is planned again.
        cut_off(uploads::VALIDATION_ABANDONED_AFTER + chrono::Duration::minutes(1)).await.unwrap();
        let again = plan_file(&db, &w.tenant, FILE.as_bytes()).await.unwrap();
        assert_eq!(again.state, "ready", "{backend:?}");
        let old = uploads::find(&db, w.tenant.id, first.id).await.unwrap().unwrap();
        assert_eq!(old.state, "failed", "{backend:?}");
        assert!(old.error.unwrap().starts_with("Validation did not finish"));
    })
    .await;
}

/// The jobs that `workers` workers claimed all at once, each on its own connection.
async fn claimed_at_once(db: &DatabaseConnection, workers: usize) -> Vec<job::Model> {
    let claims: Vec<_> = (0..workers)
        .map(|w| {
            let db = db.clone();
            tokio::spawn(async move { jobs::claim(&db, &format!("w{w}")).await })
        })
        .collect();
    let mut claimed = Vec::new();
    for c in claims {
        claimed.extend(c.await.unwrap().unwrap_or_else(|err| panic!("claim failed: {err}")));
    }
    claimed
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
        let queued = job::Entity::find().filter(job::Column::State.eq("queued")).count(&db).await.unwrap();
        assert_eq!(queued, 4, "{backend:?}: the others wait");
    })
    .await;
}

#[tokio::test]
async fn a_file_of_several_parts_is_stored_and_read_back_as_it_was() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let mut file = String::from("userId,email,jobTitle\n");
        for i in 0..30_000 {
            file.push_str(&format!("p{i},p{i}@x.io,Zoë's job title number {i} in a file of more than two parts\n"));
        }
        assert!(file.len() > 2 << 20);
        let upload = plan_file(&db, &w.tenant, file.as_bytes()).await.unwrap();
        assert_eq!(uploads::file(&db, w.tenant.id, upload.id).await.unwrap(), file.as_bytes(), "{backend:?}");
        // Another tenant reads nothing of it.
        let other = tenants::create_tenant(&db, "other", "Other", None).await.unwrap();
        assert!(uploads::file(&db, other.id, upload.id).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_update_replaces_roles_and_groups_creating_the_missing_ones() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let pat = find(&db, &w.tenant, "pat").await.unwrap();
        give_roles(&db, &w.tenant, pat.id, &["Staff", "Auditor"]).await;
        let upload =
            plan_file(&db, &w.tenant, b"userId,email,roles,groups\npat,pat@example.com,STAFF|Nurse,NightShift\n")
                .await
                .unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        load_all(&db).await;
        assert_eq!(outcomes(&db, &w.tenant, upload.id).await, [("updated".into(), "Updated (roles, groups)".into())]);
        let directory = muster_store::directory::load(&db, &w.tenant).await.unwrap();
        let pat = directory.users.iter().find(|u| u.user_id == "pat").unwrap();
        let mut roles = pat.roles.clone();
        roles.sort();
        assert_eq!(
            (roles, pat.groups.clone()),
            (vec!["Nurse".into(), "Staff".into()], vec!["NightShift".into()]),
            "{backend:?}"
        );
        let created: Vec<String> = audit_event::Entity::find()
            .filter(audit_event::Column::UploadId.eq(upload.id))
            .filter(audit_event::Column::Action.is_in(["role.create", "group.create"]))
            .order_by_asc(audit_event::Column::Id)
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {}", e.action, e.target))
            .collect();
        assert_eq!(created, ["role.create Nurse", "group.create NightShift"], "{backend:?}");
        let summary = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap().summary.unwrap();
        assert!(summary.ends_with("0 deleted, 1 role added. 1 group added."), "{summary}");
    })
    .await;
}

#[tokio::test]
async fn a_load_in_lanes_side_by_side_applies_every_row_once_and_makes_each_role_once() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        // More ranges than lanes; every range names the same three roles and a
        // role of its own, so on PostgreSQL the lanes race to make the shared ones.
        let batch = load::BATCH as usize;
        let n = batch * (load::LANES + 1) + 10;
        let ranges = n.div_ceil(batch);
        let mut file = String::from("userId,email,firstName,roles,groups\n");
        for i in 0..n {
            file.push_str(&format!("p{i},p{i}@x.io,P,Shared{}|Range{},Team{}\n", i % 3, i / batch, i % 2));
        }
        let upload = plan_file(&db, &w.tenant, file.as_bytes()).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        let mail = load_all(&db).await;
        assert_eq!(mail.len(), n, "{backend:?}: one invitation per new user");

        let done = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        assert_eq!(done.rows_done as usize, n, "{backend:?}");
        let summary = done.summary.unwrap();
        assert_eq!(
            summary,
            format!(
                "Users loaded successfully. {n} added, 0 updated, 0 leavers, 0 joiners, 0 deleted, {} roles added. 2 groups added.",
                3 + ranges
            ),
            "{backend:?}"
        );
        let users = user::Entity::find().filter(user::Column::TenantId.eq(w.tenant.id)).count(&db).await.unwrap();
        assert_eq!(users as usize, 4 + n, "{backend:?}: every row once");
        let mut roles: Vec<String> = role::Entity::find()
            .filter(role::Column::TenantId.eq(w.tenant.id))
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        roles.sort();
        let mut expected: Vec<String> =
            (0..3).map(|i| format!("Shared{i}")).chain((0..ranges).map(|r| format!("Range{r}"))).collect();
        expected.sort();
        assert_eq!(roles, expected, "{backend:?}: each role made once");
        let role_events = audit_event::Entity::find()
            .filter(audit_event::Column::UploadId.eq(upload.id))
            .filter(audit_event::Column::Action.eq("role.create"))
            .count(&db)
            .await
            .unwrap();
        assert_eq!(role_events as usize, 3 + ranges, "{backend:?}: one event per role made");
        let memberships =
            user_role::Entity::find().filter(user_role::Column::TenantId.eq(w.tenant.id)).count(&db).await.unwrap();
        assert_eq!(memberships as usize, 2 * n, "{backend:?}");
        let invitations =
            invitation::Entity::find().filter(invitation::Column::TenantId.eq(w.tenant.id)).count(&db).await.unwrap();
        assert_eq!(invitations as usize, n, "{backend:?}");
        // Each user has exactly the roles of their own line.
        let p1234 = find(&db, &w.tenant, &format!("p{}", batch + 7)).await.unwrap();
        let directory = muster_store::directory::load(&db, &w.tenant).await.unwrap();
        let mut theirs = directory.users.iter().find(|u| u.user_id == p1234.user_id).unwrap().roles.clone();
        theirs.sort();
        assert_eq!(theirs, ["Range1".to_owned(), format!("Shared{}", (batch + 7) % 3)], "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn licences_running_out_in_a_large_load_go_to_the_rows_in_file_order() {
    on_every_backend(|db, backend| async move {
        let batch = load::BATCH as usize;
        let (first_rows, second_rows) = (batch + 500, 2 * batch + 300);
        let left_for_second = batch + 100;
        let limit = (first_rows + left_for_second) as i32;
        let t = tenants::create_tenant(&db, "big", "Big", Some(limit)).await.unwrap();
        let file = |prefix: &str, n: usize| {
            let mut f = String::from("userId,email,firstName\n");
            for i in 0..n {
                f.push_str(&format!("{prefix}{i},{prefix}{i}@x.io,F\n"));
            }
            f
        };
        // Each fits alone; planned before either loads, the second runs out.
        let first = plan_file(&db, &t, file("a", first_rows).as_bytes()).await.unwrap();
        let second = plan_file(&db, &t, file("b", second_rows).as_bytes()).await.unwrap();
        jobs::enqueue_load(&db, &first).await.unwrap();
        jobs::enqueue_load(&db, &second).await.unwrap();
        load_all(&db).await;
        let outcomes: Vec<String> = outcomes(&db, &t, second.id).await.into_iter().map(|(o, _)| o).collect();
        let added = outcomes.iter().take_while(|o| *o == "added").count();
        assert_eq!(added, left_for_second, "{backend:?}: the first rows of the file get the licences left");
        assert!(outcomes[added..].iter().all(|o| o == "error"), "{backend:?}: every row after them is refused");
        let users = user::Entity::find().filter(user::Column::TenantId.eq(t.id)).count(&db).await.unwrap();
        assert_eq!(users as usize, first_rows + left_for_second, "{backend:?}");
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

/// A file of `n` new users, more than one batch.
fn many_users(prefix: &str, n: usize) -> String {
    let mut file = String::from("userId,email,firstName\n");
    for i in 0..n {
        file.push_str(&format!("{prefix}{i},{prefix}{i}@x.io,R\n"));
    }
    file
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
        assert_eq!(done.state, "done");
        // The stalled worker wakes up once more: the finished upload stays finished.
        let report = load::run(&db, upload.id, Some(&stalled), |_| true, |_| {}).await.unwrap();
        assert!(!report.finished);
        let still = uploads::find(&db, w.tenant.id, upload.id).await.unwrap().unwrap();
        assert_eq!((still.state.as_str(), still.rows_done as usize), ("done", n), "{backend:?}");
    })
    .await;
}

/// The statements one load of `bytes` sends, inside its transactions too
/// (BEGIN, COMMIT and ANALYZE aside), and its summary.
async fn statements_of_a_load(
    db: &DatabaseConnection,
    t: &tenant::Model,
    bytes: Vec<u8>,
    options: UploadOptions,
) -> (usize, String) {
    let new = NewUpload { uploaded_by: None, file_name: "count.csv".into(), bytes, options };
    let upload = uploads::create_and_plan(db, t, new, 50 << 20).await.unwrap();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut counted = db.clone();
    counted.set_metric_callback({
        let sent = sent.clone();
        move |_| {
            sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let report = load::run(&counted, upload.id, None, |_| true, |_| {}).await.unwrap();
    let results = String::from_utf8(uploads::results_csv(db, t.id, upload.id).await.unwrap().unwrap()).unwrap();
    assert!(report.finished && report.counts.errors == 0, "{}\n{results}", report.counts.summary());
    (sent.load(std::sync::atomic::Ordering::SeqCst), report.counts.summary())
}

#[tokio::test]
async fn a_batch_sends_as_many_statements_for_many_rows_as_for_few() {
    on_every_backend(|db, backend| async move {
        // Per kind of change, the statements of a load of 20 users and of 400
        // (one batch either way): the same number, as each kind is written in
        // multi-row statements, never one per row.
        let mut sent = Vec::new();
        for n in [20, 400] {
            let t = tenants::create_tenant(&db, &format!("t{n}"), "T", None).await.unwrap();
            tenants::create_organisation(&db, t.id, "RXX01", "One").await.unwrap();
            // A file of users u{from} to u{n - 1}.
            let file = |header: &str, from: usize, line: &dyn Fn(usize) -> String| {
                let mut file = format!("{header}\n");
                (from..n).for_each(|i| file.push_str(&format!("u{i},u{i}@x.io,{}\n", line(i))));
                file.into_bytes()
            };
            let added = |from| file("userId,email,firstName,roles,groups", from, &|_| "U,Staff|Reader,Day".into());
            let updated = file("userId,email,jobTitle,roles,groups", 0, &|_| "Nurse,Staff|Nurse,Night".into());
            let leavers = file("userId,email,status", 0, &|_| "leaver".into());
            let joiners = || file("userId,email,organisation", 0, &|_| "RXX01".into());
            let deleted = file("userId,email,transaction", 1, &|_| "DELETE".into());
            let default = UploadOptions::default;
            let mut sync = default();
            (sync.plan.mode, sync.plan.sync_action) = (Mode::Sync, SyncAction::MarkLeaver);
            let mut delete_sync = sync.clone();
            delete_sync.plan.sync_action = SyncAction::Delete;
            let keep_one = || b"userId,email\nu0,u0@x.io\n".to_vec();
            let m = n - 1;
            let steps = [
                (added(0), default(), format!("{n} added, 0 updated")),
                (updated, default(), format!("0 added, {n} updated")),
                (leavers, default(), format!("0 updated, {n} leavers")),
                (joiners(), default(), format!("leavers, {n} joiners")),
                (keep_one(), sync, format!("0 updated, {m} leavers")),
                (joiners(), default(), format!("leavers, {m} joiners")),
                (deleted, default(), format!("joiners, {m} deleted")),
                (added(1), default(), format!("{m} added, 0 updated")),
                (keep_one(), delete_sync, format!("joiners, {m} deleted")),
            ];
            let mut statements = Vec::new();
            for (bytes, options, expected) in steps {
                let (count, summary) = statements_of_a_load(&db, &t, bytes, options).await;
                assert!(summary.contains(&expected), "{backend:?}: {summary} lacks {expected:?}");
                statements.push(count);
            }
            sent.push(statements);
            let left: Vec<String> = user::Entity::find()
                .filter(user::Column::TenantId.eq(t.id))
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .map(|u| format!("{} {}", u.user_id, u.state))
                .collect();
            assert_eq!(left, ["u0 active"], "{backend:?}: all but u0 were deleted in the end");
        }
        assert_eq!(sent[0], sent[1], "{backend:?}: statements for 20 users and for 400, per kind of change");
    })
    .await;
}

/// The kinds of the tenant's events after `after`, oldest first.
async fn event_kinds(db: &DatabaseConnection, tenant_id: i64, after: i64) -> Vec<(i64, String, String)> {
    muster_store::events::after(db, tenant_id, after, chrono::Duration::zero(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.upload_id.unwrap(), e.kind, e.data["state"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

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
async fn rows_of_a_status_are_ticked_by_one_rule_and_only_while_the_upload_is_planned() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let upload = plan_file(&db, &w.tenant, FILE.as_bytes()).await.unwrap();
        let ticked = |db: DatabaseConnection| async move {
            uploads::selected_counts(&db, w.tenant.id, upload.id).await.unwrap().get("New").copied().unwrap_or(0)
        };
        assert_eq!(ticked(db.clone()).await, 2);
        assert_eq!(uploads::set_selected_of_status(&db, w.tenant.id, upload.id, "New", false).await.unwrap(), 2);
        assert_eq!(ticked(db.clone()).await, 0, "{backend:?}");
        // Another tenant's id names nothing.
        let other = tenants::create_tenant(&db, "other", "Other", None).await.unwrap();
        assert_eq!(uploads::set_selected_of_status(&db, other.id, upload.id, "New", true).await.unwrap(), 0);
        assert_eq!(ticked(db.clone()).await, 0, "{backend:?}");
        // The preview has each row's sentence and whose row it is.
        let page = uploads::preview_page(&db, w.tenant.id, upload.id, Some("New"), None, 10).await.unwrap();
        assert_eq!(page.rows[0].message.as_deref(), Some("New user"));
        assert_eq!(
            (page.rows[0].user_id.as_deref(), page.rows[0].full_name.as_deref()),
            (Some("new1"), Some("Ann New"))
        );
        uploads::set_selected_of_status(&db, w.tenant.id, upload.id, "New", true).await.unwrap();
        jobs::enqueue_load(&db, &upload).await.unwrap();
        assert_eq!(uploads::set_selected_of_status(&db, w.tenant.id, upload.id, "New", false).await.unwrap(), 0);
        assert_eq!(ticked(db.clone()).await, 2, "{backend:?}: the ticks stay as the load reads them");
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

/// A tenant admin of `t`, as tests make one.
async fn admin_of(db: &DatabaseConnection, t: &tenant::Model, user_id: &str) -> i64 {
    let mut admin = testdb::user(t.id, user_id, &format!("{user_id}@example.com"));
    admin.is_tenant_admin = Set(true);
    admin.insert(db).await.unwrap().id
}

async fn told(db: &DatabaseConnection, tenant_id: i64, admin: i64) -> Vec<(String, String)> {
    let mut found = muster_store::notifications::latest(db, tenant_id, admin, None, 100).await.unwrap();
    found.reverse();
    found.into_iter().map(|n| (n.kind, n.message)).collect()
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
