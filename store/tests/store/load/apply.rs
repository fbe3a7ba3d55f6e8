//! Rows applied: every status, modes, passwords, rows changed since the preview, managers, roles and groups, licences, lanes side by side, and what a batch writes.
use super::*;
use muster_store::entity::user::UserState;
use muster_store::uploads::UploadState;

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
        assert_eq!(done.state, UploadState::Done);
        assert_eq!(
            done.summary.as_deref(),
            Some("Users loaded with errors. 2 added, 1 updated, 1 leaver, 1 joiner, 1 deleted, 2 roles added. 1 row not loaded: see the results file.")
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
        assert_eq!(find(&db, &w.tenant, "kim").await.unwrap().state, UserState::Leaver);
        let sam = find(&db, &w.tenant, "sam").await.unwrap();
        assert_eq!((sam.state.as_str(), sam.organisation_id), ("active", Some(w.rxx02.id)));
        assert!(find(&db, &w.tenant, "lee").await.is_none());
        assert_eq!(mail.len(), 2);
        assert!(matches!(&mail[0], Outgoing::Invitation { user_id, .. } if user_id == "new1"));
        let _ = w.rxx01;
        // The invitation and the audit trail read back as written (timestamps, JSON).
        let Outgoing::Invitation { token, .. } = &mail[0] else { unreachable!() };
        let invitation = invitation::Entity::find()
            .filter(invitation::Column::TokenHash.eq(muster_store::tokens::link_key(token)))
            .one(&db)
            .await
            .unwrap()
            .expect("the invitation is stored by its link's key");
        assert_eq!(invitation.token_hash[..16], token[..16], "{backend:?}: the key begins with the link's time");
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
        assert_eq!(find(&db, &w.tenant, "kim").await.unwrap().state, UserState::Active);

        assert!(matches!(jobs::enqueue_confirmed_load(&db, &upload).await.unwrap(), jobs::Enqueued::Queued(_)));
        load_all(&db).await;
        for (who, state) in [
            ("pat", UserState::Active),
            ("kim", UserState::Leaver),
            ("lee", UserState::Leaver),
            ("sam", UserState::Leaver),
        ] {
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
        assert_eq!(done.state, UploadState::Done, "{backend:?}: {:?}", done.error);
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
        add_user(&db, &t, "gone", org.id, |u| u.state = Set(UserState::Leaver)).await;

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
        assert_eq!(find(&db, &t, "gone").await.unwrap().state, UserState::Leaver);
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
