//! Uploads before they load: the preview's pages and counts, one upload per file, the size limit, what a plan reads, files kept in parts, rows ticked by rule.
use super::*;
use muster_store::uploads::UploadState;

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
        assert_eq!(cancelled.state, UploadState::Cancelled);
        assert!(matches!(
            jobs::enqueue_load(&db, &cancelled).await.unwrap(),
            jobs::Enqueued::Refused(why) if why.contains("cancelled")
        ));
        // A Load pressed on a page read before the cancel: refused, nothing queued.
        assert_eq!(first.state, UploadState::Ready);
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
        assert_eq!(uploads::find(&db, w.tenant.id, again.id).await.unwrap().unwrap().state, UploadState::Ready);
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
async fn a_validation_cut_off_by_a_stopped_server_does_not_block_the_file_for_ever() {
    on_every_backend(|db, backend| async move {
        let w = world(&db).await;
        let first = plan_file(&db, &w.tenant, FILE.as_bytes()).await.unwrap();
        // As a server stopped mid-plan leaves it: still validating.
        let cut_off = |age: chrono::Duration| {
            upload::Entity::update_many()
                .col_expr(upload::Column::State, Expr::value(uploads::UploadState::Validating))
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
        assert_eq!(again.state, UploadState::Ready, "{backend:?}");
        let old = uploads::find(&db, w.tenant.id, first.id).await.unwrap().unwrap();
        assert_eq!(old.state, UploadState::Failed, "{backend:?}");
        assert!(old.error.unwrap().starts_with("Validation did not finish"));
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
