//! Each row's result, the results file, Retry failed rows, and all-or-nothing loads.
use super::*;

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
