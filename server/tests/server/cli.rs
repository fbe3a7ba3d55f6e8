//! The `muster` binary's command line, run as a real child process.
use crate::common::smtp::SmtpServer;
use crate::common::temp_dir;
use muster_store::testdb::{Backend, TestDb};
use std::path::Path;
use std::process::{Command, Output};

const SEED_004: &str =
    "userId,tenant,firstName,lastName,email,enabled,reportsTo,roles,taskNotification,transaction,notifyIfNewUser\n\
admin,,Demo,Administrator,admin@demo.muster.invalid,true,,,Email,,false\n\
mary,,Mary,Major,mary@example.com,true,admin,Coordinator|Nurse,Email,,true\n\
pat,demo,Pat,Minor,pat@example.com,true,mary,Porter,OFF,,false\n\
lee,,Lee,Long,lee@example.com,false,,Clerk,,,true\n";

fn muster(dir: &Path, database_url: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_muster"));
    command.args(args).env("MUSTER_DATA_DIR", dir).env_remove("DATABASE_URL").env("RUST_LOG", "warn");
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command.output().expect("run muster")
}

#[test]
fn validate_json_prints_the_plan_of_a_seed_file() {
    let dir = temp_dir("validate");
    let file = dir.join("seed.csv");
    std::fs::write(&file, SEED_004).unwrap();
    let out = muster(&dir, None, &["validate", file.to_str().unwrap(), "--json"]);
    // Exit 1: one row names tenant "demo", which is not the empty tenant "default".
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["format"], "standard");
    assert_eq!(json["encoding"], "utf-8");
    assert_eq!(json["delimiter"], ",");
    // Against an empty tenant "default": every user is new, and `tenant: demo` is not this tenant.
    assert_eq!(json["counts"]["New"], 3);
    assert_eq!(json["counts"]["Error"], 1);
    assert_eq!(json["rows"][2]["line"], 4);
    assert_eq!(json["rows"][2]["status"], "Error");
    assert_eq!(json["rows"][2]["diagnostics"][0]["column"], "tenant");
    assert_eq!(json["rows"][0]["user_id"], "admin");
    assert_eq!(json["roles_added"], serde_json::json!(["Coordinator", "Nurse", "Clerk"]));
    let keys: Vec<&str> = json["rows"][0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["changes", "diagnostics", "first_name", "last_name", "line", "status", "user_id"]);

    let clean = dir.join("clean.csv");
    std::fs::write(&clean, SEED_004.replace(",demo,", ",,")).unwrap();
    let out = muster(&dir, None, &["validate", clean.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["counts"]["New"], 4);
}

/// `validate` on each system's sample (the upload page offers the same files)
/// names the format and prints a plan of its users.
#[test]
fn validate_names_each_format_and_plans_its_sample() {
    use muster_import::samples::{sample, sample_name};
    use muster_import::Format;
    let dir = temp_dir("validate-formats");
    for format in Format::ALL {
        let file = dir.join(sample_name(format));
        std::fs::write(&file, sample(format)).unwrap();
        let out = muster(&dir, None, &["validate", file.to_str().unwrap(), "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["format"], format.as_str(), "{format:?}");
        // Against the empty default tenant: every user of another system's
        // sample is new (Muster's own samples also retire and delete users).
        if !matches!(format, Format::Standard | Format::LegacyV1) {
            assert_eq!(json["counts"]["Error"], 0, "{format:?}: {json}");
            assert_eq!(json["counts"]["New"], 3, "{format:?}: {json}");
        }
        assert_eq!(json["rows"][0]["user_id"].as_str().unwrap().split('@').next(), Some("mary.major"), "{format:?}");
        let human = muster(&dir, None, &["validate", file.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&human.stdout);
        assert!(text.starts_with(&format!("Format {} ({}), ", format.as_str(), format.label())), "{format:?}: {text}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn validate_reports_where_and_why_and_exits_1() {
    let dir = temp_dir("invalid");
    let file = dir.join("bad.csv");
    std::fs::write(&file, "userId;email;firstName\npat;pat@x.io;Pat\nbob;bob@;Bob\n").unwrap();
    let out = muster(&dir, None, &["validate", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["delimiter"], ";");
    let d = &json["rows"][1]["diagnostics"][0];
    assert_eq!((d["line"].as_u64(), d["column"].as_str(), d["value"].as_str()), (Some(3), Some("email"), Some("bob@")));
    let human = muster(&dir, None, &["validate", file.to_str().unwrap()]);
    assert_eq!(human.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&human.stdout).contains(r#"error: Line 3, email: "bob@" is not a valid email address"#)
    );
    let missing = muster(&dir, None, &["validate", dir.join("nope.csv").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(3));
}

async fn import_story(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = test_db.connect().await;
    muster_store::bootstrap::ensure_first_run(&db).await.unwrap().expect("demo tenant");
    db.close().await.ok();
    let dir = temp_dir(&format!("import-{backend:?}"));
    let file = dir.join("seed.csv");
    std::fs::write(&file, SEED_004).unwrap();

    let nowhere = dir.join("no-such-folder").join("results.csv");
    let refused = muster(
        &dir,
        Some(&test_db.url),
        &["import", file.to_str().unwrap(), "--tenant", "demo", "--results", nowhere.to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(3), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nothing was loaded"));

    let results = dir.join("results.csv");
    let out = muster(
        &dir,
        Some(&test_db.url),
        &["import", file.to_str().unwrap(), "--tenant", "demo", "--results", results.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let results = std::fs::read_to_string(&results).unwrap();
    let last_cells: Vec<&str> = results.lines().map(|l| l.rsplit(',').next().unwrap()).collect();
    assert_eq!(
        last_cells,
        [
            "result",
            "Updated (lastName)",
            "Added; invitation sent",
            "Added; invitation created (not sent: notifyIfNewUser is false)",
            "Added; invitation sent"
        ],
        "{backend:?}: {results}"
    );
    assert!(
        stdout
            .contains("Users loaded successfully. 3 added, 1 updated, 0 leavers, 0 joiners, 0 deleted, 4 roles added."),
        "{backend:?}: {stdout}"
    );
    // Invitations for mary and lee; pat's row says notifyIfNewUser=false.
    let mails: Vec<String> = std::fs::read_dir(dir.join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails.iter().any(|m| m.contains("To: mary@example.com") && m.contains("/invitation/")));

    // The same file again is a new upload that changes nothing.
    let again = muster(&dir, Some(&test_db.url), &["import", file.to_str().unwrap(), "--tenant", "demo"]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("0 added, 0 updated"), "{stdout}");

    // An export is a valid upload: planned against the tenant, nothing changes.
    let export = dir.join("export.csv");
    let out = muster(&dir, Some(&test_db.url), &["export", "--tenant", "demo", "--output", export.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&export).unwrap();
    assert!(text.starts_with("userId,externalId,title,firstName,lastName,email,"), "{text}");
    assert_eq!(text.lines().count(), 5, "the admin and four users from the file: {text}");
    // pat reports to mary, whom the same file created two lines before.
    let cells = |line: &str| line.split(',').map(str::to_owned).collect::<Vec<_>>();
    let reports_to = cells(text.lines().next().unwrap()).iter().position(|h| h == "reportsTo").unwrap();
    let pat = cells(text.lines().find(|l| l.starts_with("pat,")).unwrap());
    assert_eq!(pat[reports_to], "mary", "{backend:?}: {text}");
    let out = muster(&dir, Some(&test_db.url), &["validate", export.to_str().unwrap(), "--tenant", "demo", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["counts"]["Unchanged"], 4, "{json}");
    assert_eq!(out.status.code(), Some(0));

    let out = muster(
        &dir,
        Some(&test_db.url),
        &["create-admin", "--tenant", "demo", "--user-id", "second", "--email", "second@example.com"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Password (shown once): "));
    {
        // The printed password is for its owner to replace at first sign-in.
        use muster_store::entity::user;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let db = test_db.connect().await;
        let second =
            user::Entity::find().filter(user::Column::UserIdNorm.eq("second")).one(&db).await.unwrap().unwrap();
        assert!(second.change_password_next_time, "{backend:?}");
        db.close().await.ok();
    }
    let again = muster(
        &dir,
        Some(&test_db.url),
        &["create-admin", "--tenant", "demo", "--user-id", "second", "--email", "second@example.com"],
    );
    assert_eq!(again.status.code(), Some(1), "the user ID is taken: the input's fault, not the database's");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has a user with the user ID \"second\""));
    let bad = muster(
        &dir,
        Some(&test_db.url),
        &["create-admin", "--tenant", "demo", "--user-id", "a b", "--email", "x@example.com"],
    );
    assert_eq!(bad.status.code(), Some(1));

    // A sync that would retire pat and lee (2 of 5 active users) stops for a
    // confirmation; the upload it planned is cancelled, so the same file runs
    // again with --confirm (the README's nightly-sync example).
    let sync = dir.join("sync.csv");
    std::fs::write(&sync, "userId,email\nadmin,admin@demo.muster.invalid\nmary,mary@example.com\n").unwrap();
    let args = ["import", sync.to_str().unwrap(), "--tenant", "demo", "--mode", "sync", "--sync-action", "mark-leaver"];
    let stopped = muster(&dir, Some(&test_db.url), &args);
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert_eq!(stopped.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("This sync needs --confirm; nothing was loaded") && stderr.contains("cancelled"),
        "{stderr}"
    );
    // With the safeguard raised above 40%, the same sync needs no confirmation:
    // validate's plan has no warning then.
    let mut check: Vec<&str> = vec!["validate"];
    check.extend_from_slice(&args[1..]);
    let plain = muster(&dir, Some(&test_db.url), &[&check[..], &["--json"]].concat());
    let raised = muster(&dir, Some(&test_db.url), &[&check[..], &["--json", "--sync-threshold", "50"]].concat());
    let warnings = |out: &std::process::Output| {
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["file_diagnostics"].as_array().unwrap().len()
    };
    assert_eq!((warnings(&plain), warnings(&raised)), (1, 0), "{backend:?}");
    let confirmed = muster(&dir, Some(&test_db.url), &[&args[..], &["--confirm"]].concat());
    let stdout = String::from_utf8_lossy(&confirmed.stdout);
    assert_eq!(confirmed.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&confirmed.stderr));
    assert!(stdout.contains("0 added, 0 updated, 2 leavers"), "{backend:?}: {stdout}");

    // A planned upload left behind (a crash before its load was queued) holds its
    // file until it is cancelled.
    let db = test_db.connect().await;
    let demo = muster_store::directory::find_tenant(&db, "demo").await.unwrap().unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let new = muster_store::uploads::NewUpload {
        uploaded_by: None,
        file_name: "seed.csv".into(),
        bytes,
        options: Default::default(),
    };
    let left = muster_store::uploads::create_and_plan(&db, &demo, new, 1 << 20).await.unwrap();
    db.close().await.ok();
    let refused = muster(&dir, Some(&test_db.url), &["import", file.to_str().unwrap(), "--tenant", "demo"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains(&format!("This file is already upload {} (ready)", left.id)), "{stderr}");
    let id = left.id.to_string();
    let cancel = muster(&dir, Some(&test_db.url), &["cancel", &id, "--tenant", "demo"]);
    assert_eq!(cancel.status.code(), Some(0), "{}", String::from_utf8_lossy(&cancel.stderr));
    assert_eq!(muster(&dir, Some(&test_db.url), &["cancel", &id, "--tenant", "other"]).status.code(), Some(1));
    assert_eq!(muster(&dir, Some(&test_db.url), &["cancel", "99999", "--tenant", "demo"]).status.code(), Some(1));
    let again = muster(&dir, Some(&test_db.url), &["import", file.to_str().unwrap(), "--tenant", "demo"]);
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));

    // Every task given a tenant that does not exist says so and exits 1.
    let path = file.to_str().unwrap();
    for task in [
        &["validate", path, "--tenant", "nowhere"][..],
        &["import", path, "--tenant", "nowhere"],
        &["export", "--tenant", "nowhere"],
        &["cancel", &id, "--tenant", "nowhere"],
        &["create-admin", "--tenant", "nowhere", "--user-id", "third", "--email", "third@example.com"],
    ] {
        let out = muster(&dir, Some(&test_db.url), task);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{task:?}: {stderr}");
        assert!(stderr.contains("no tenant with the slug \"nowhere\""), "{task:?}: {stderr}");
    }
    test_db.cleanup().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn exit_codes_for_wrong_usage_and_an_unreachable_database() {
    let dir = temp_dir("exit-codes");
    let usage = muster(&dir, None, &["import", "users.csv"]);
    assert_eq!(usage.status.code(), Some(2), "--tenant is missing");
    assert!(String::from_utf8_lossy(&usage.stderr).contains("--tenant"));
    // A database that cannot be opened (an unreachable PostgreSQL is retried for
    // 30 s first, which would only slow the test down).
    let nowhere = Some("sqlite:///proc/no-such-folder/muster.db");
    for args in [&["migrate"][..], &["serve"], &["export", "--tenant", "demo"]] {
        let out = muster(&dir, nowhere, args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn import_loads_a_seed_file_on_sqlite() {
    import_story(Backend::Sqlite).await;
}

#[tokio::test]
async fn import_loads_a_seed_file_on_postgres() {
    import_story(Backend::Postgres).await;
}

/// `migrate` on an empty database, then the import flags that set the load's
/// options, each seen in what the load did.
#[tokio::test]
async fn migrate_readies_an_empty_database_and_import_flags_set_the_load_s_options() {
    use muster_migrations::{Migrator, MigratorTrait};
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let test_db = TestDb::new(backend).await;
        let dir = temp_dir(&format!("flags-{backend:?}"));
        let url = Some(test_db.url.as_str());
        let migrated = muster(&dir, url, &["migrate"]);
        assert_eq!(migrated.status.code(), Some(0), "{backend:?}: {}", String::from_utf8_lossy(&migrated.stderr));
        assert!(String::from_utf8_lossy(&migrated.stdout).contains("Database is up to date."));
        let db = sea_orm::Database::connect(&test_db.url).await.unwrap();
        assert!(Migrator::get_pending_migrations(&db).await.unwrap().is_empty(), "{backend:?}");
        assert_eq!(Migrator::get_applied_migrations(&db).await.unwrap().len(), Migrator::migrations().len());
        muster_store::bootstrap::ensure_first_run(&db).await.unwrap().expect("demo tenant");
        db.close().await.ok();

        let import = |name: &str, csv: &str, flags: &[&str]| {
            let file = dir.join(name);
            std::fs::write(&file, csv).unwrap();
            let results = dir.join(format!("{name}.results"));
            let mut args = vec!["import", file.to_str().unwrap(), "--tenant", "demo"];
            args.extend_from_slice(&["--results", results.to_str().unwrap()]);
            args.extend_from_slice(flags);
            let out = muster(&dir, url, &args);
            let results = std::fs::read_to_string(&results).unwrap_or_default();
            (out.status.code(), results, String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let outbox = || std::fs::read_dir(dir.join("outbox")).map_or(0, |d| d.count());

        // All or nothing: one bad row, and the good one is not loaded either.
        let (code, results, _) =
            import("aon.csv", "userId,email,firstName\ngood,good@x.io,G\nbad,bad@,B\n", &["--all-or-nothing"]);
        assert_eq!(code, Some(1), "{backend:?}: {results}");
        assert!(
            results.contains("good,good@x.io,G,Not loaded: the upload is all or nothing and has rows with errors"),
            "{backend:?}: {results}"
        );
        // Without it, the good row goes in.
        let (code, results, _) = import("per-row.csv", "userId,email,firstName\ngood,good@x.io,G\nbad,bad@,B\n", &[]);
        assert_eq!(code, Some(1), "{backend:?}: {results}");
        assert!(results.contains("good,good@x.io,G,Added; invitation sent"), "{backend:?}: {results}");
        assert_eq!(outbox(), 1, "{backend:?}: good's invitation");

        // Generated passwords, not mailed unless asked; then mailed.
        let (code, results, _) = import("gen.csv", "userId,email,firstName\ng1,g1@x.io,G\n", &["--generate-passwords"]);
        assert_eq!(code, Some(0), "{backend:?}: {results}");
        assert!(results.contains("g1,g1@x.io,G,Added; password generated (not sent)"), "{backend:?}: {results}");
        assert_eq!(outbox(), 1, "{backend:?}: no mail for g1");
        let (code, results, _) = import(
            "mail.csv",
            "userId,email,firstName\ng2,g2@x.io,G\n",
            &["--generate-passwords", "--email-passwords"],
        );
        assert_eq!(code, Some(0), "{backend:?}: {results}");
        assert!(results.contains("g2,g2@x.io,G,Added; password sent"), "{backend:?}: {results}");
        assert_eq!(outbox(), 2, "{backend:?}: g2's password");

        // --no-notify: no mail, whatever the row says.
        let csv = "userId,email,firstName,notifyIfNewUser\nq1,q1@x.io,Q,true\n";
        let (code, results, _) = import("quiet.csv", csv, &["--no-notify"]);
        assert_eq!(code, Some(0), "{backend:?}: {results}");
        assert!(
            results
                .contains("q1,q1@x.io,Q,true,Added; invitation created (not sent: this upload notifies no new users)"),
            "{backend:?}: {results}"
        );
        assert_eq!(outbox(), 2, "{backend:?}: nothing for q1");
        test_db.cleanup().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A real SMTP server for the test (`common::smtp`, in Rust), keeping every
/// message it receives.
#[tokio::test]
async fn import_emails_invitations_and_the_results_over_smtp() {
    let test_db = TestDb::new(Backend::Sqlite).await;
    let db = test_db.connect().await;
    muster_store::bootstrap::ensure_first_run(&db).await.unwrap().expect("demo tenant");
    db.close().await.ok();
    let dir = temp_dir("smtp");
    let file = dir.join("seed.csv");
    std::fs::write(&file, SEED_004.replace("lee,,Lee,Long,lee@example.com,false", "lee,,Lee,Long,lee@,false")).unwrap();
    let smtp = SmtpServer::start();
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["import", file.to_str().unwrap(), "--tenant", "demo", "--results-to", "ops@example.com"])
        .env("MUSTER_DATA_DIR", &dir)
        .env("DATABASE_URL", &test_db.url)
        .env("SMTP_URL", format!("smtp://127.0.0.1:{}", smtp.port))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let received: Vec<String> = smtp.messages().into_iter().map(|m| m.text).collect();
    // Exit 1: a row (lee's bad email) was not loaded.
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let messages: Vec<&str> = received.iter().map(String::as_str).collect();
    assert_eq!(messages.len(), 2, "mary's invitation and the results: {received:?}");
    assert!(messages.iter().any(|m| m.contains("To: mary@example.com") && m.contains("/invitation/")));
    let results = messages.iter().find(|m| m.contains("To: ops@example.com")).expect("the results email");
    // The body is quoted-printable: long lines are folded with a soft break.
    let results = results.replace("=\r\n", "").replace("=\n", "");
    assert!(results.contains("Subject: Muster: seed.csv loaded"), "{results}");
    assert!(
        results
            .contains("Users loaded with errors. 2 added, 1 updated, 0 leavers, 0 joiners, 0 deleted, 3 roles added."),
        "{results}"
    );
    assert!(results.contains("filename=\"seed-results.csv\""), "{results}");
    assert!(
        results.contains(
            r#"lee,,Lee,Long,lee@,false,,Clerk,,,true,"Line 5, email: ""lee@"" is not a valid email address""#
        ),
        "{results}"
    );
    assert!(dir.join("outbox").read_dir().map_or(true, |mut d| d.next().is_none()), "nothing left in the outbox");
    test_db.cleanup().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// A worker of the server that sends through the SMTP server on `smtp_port`.
fn worker_on(db: &sea_orm::DatabaseConnection, smtp_port: u16, dir: &Path) -> muster_server::worker::Worker {
    muster_server::worker::Worker {
        db: db.clone(),
        id: "w".into(),
        mailer: muster_server::mail::Mailer::new(Some(&format!("smtp://127.0.0.1:{smtp_port}")), dir.join("outbox"))
            .unwrap(),
        base_url: "http://muster.test".into(),
        only_job: None,
    }
}

/// Plans and queues `bytes` in the demo tenant of a fresh database.
async fn queued_in_demo(
    backend: Backend,
    bytes: &[u8],
) -> (TestDb, sea_orm::DatabaseConnection, muster_store::entity::tenant::Model, i64) {
    use muster_store::uploads::{self, NewUpload};
    let test_db = TestDb::new(backend).await;
    let db = test_db.connect().await;
    muster_store::bootstrap::ensure_first_run(&db).await.unwrap().expect("demo tenant");
    let demo = muster_store::directory::find_tenant(&db, "demo").await.unwrap().unwrap();
    let new = NewUpload {
        uploaded_by: None,
        file_name: "new.csv".into(),
        bytes: bytes.to_vec(),
        options: Default::default(),
    };
    let upload = uploads::create_and_plan(&db, &demo, new, 1 << 20).await.unwrap();
    muster_store::jobs::enqueue_load(&db, &upload).await.unwrap();
    (test_db, db, demo, upload.id)
}

fn results_of(rows: Vec<muster_store::entity::upload_row::Model>) -> Vec<String> {
    rows.into_iter().map(|r| r.result.unwrap_or_default()).collect()
}

#[tokio::test]
async fn invitations_the_mail_server_failed_go_out_again_once_it_is_back() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (test_db, db, demo, upload_id) =
            queued_in_demo(backend, b"userId,email,firstName\nmary,mary@example.com,Mary\n").await;
        let dir = temp_dir(&format!("resend-{backend:?}"));
        // Nothing listens there: the mail server is down while the load runs.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert_eq!(worker_on(&db, closed, &dir).run_pending().await.unwrap(), 1);
        let rows = muster_store::uploads::rows(&db, demo.id, upload_id).await.unwrap();
        assert_eq!(results_of(rows), ["Added; invitation queued"], "{backend:?}: not sent yet");

        let smtp = SmtpServer::start();
        let back = worker_on(&db, smtp.port, &dir);
        // Not before its back-off is over; then once.
        assert_eq!(back.resend_unsent(std::time::Duration::ZERO).await.unwrap(), 0, "{backend:?}: backing off");
        let later = std::time::Duration::from_secs(3600);
        assert_eq!(back.resend_unsent(later).await.unwrap(), 1, "{backend:?}: owed");
        assert_eq!(back.resend_unsent(later).await.unwrap(), 0, "{backend:?}: sent");
        let messages = smtp.messages();
        assert_eq!(messages.len(), 1, "{backend:?}: {messages:?}");
        assert!(messages[0].text.contains("To: mary@example.com") && messages[0].text.contains("/invitation/"));
        let rows = muster_store::uploads::rows(&db, demo.id, upload_id).await.unwrap();
        assert_eq!(results_of(rows), ["Added; invitation sent"], "{backend:?}");
        db.close().await.ok();
        test_db.cleanup().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn one_undeliverable_address_is_final_and_costs_the_others_nothing() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let file =
            b"userId,email,firstName\nann,ann@example.com,Ann\nbob,bob@nowhere.example,Bob\ncat,cat@example.com,Cat\n";
        let (test_db, db, demo, upload_id) = queued_in_demo(backend, file).await;
        let dir = temp_dir(&format!("refused-{backend:?}"));
        let smtp = SmtpServer::start();
        smtp.refuse("bob@nowhere.example", crate::common::smtp::PERMANENT);
        let worker = worker_on(&db, smtp.port, &dir);
        assert_eq!(worker.run_pending().await.unwrap(), 1);
        let rows = muster_store::uploads::rows(&db, demo.id, upload_id).await.unwrap();
        assert_eq!(
            results_of(rows),
            [
                "Added; invitation sent",
                "Added; invitation not delivered: permanent error (550): 5.1.1 No such user here",
                "Added; invitation sent"
            ],
            "{backend:?}"
        );
        // However long anyone waits, nobody is sent anything again.
        assert_eq!(worker.resend_unsent(std::time::Duration::from_secs(86_400)).await.unwrap(), 0, "{backend:?}");
        let to: Vec<Vec<String>> = smtp.messages().into_iter().map(|m| m.to).collect();
        assert_eq!(to, [vec!["ann@example.com".to_owned()], vec!["cat@example.com".to_owned()]], "{backend:?}");
        db.close().await.ok();
        test_db.cleanup().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn the_command_line_loads_only_its_own_import_not_another_tenant_s_upload() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        use muster_store::uploads::{self, NewUpload};
        let (test_db, db, demo, _) =
            queued_in_demo(backend, b"userId,email,firstName\nmine,mine@example.com,Mine\n").await;
        // Another tenant's upload waits for a server (its admin chose its mail).
        let other = muster_store::tenants::create_tenant(&db, "other", "Other", None).await.unwrap();
        let new = NewUpload {
            uploaded_by: None,
            file_name: "theirs.csv".into(),
            bytes: b"userId,email,firstName\ntheirs,theirs@example.com,T\n".to_vec(),
            options: Default::default(),
        };
        let theirs = uploads::create_and_plan(&db, &other, new, 1 << 20).await.unwrap();
        muster_store::jobs::enqueue_load(&db, &theirs).await.unwrap();
        // The demo tenant's queued upload came first; the import waits behind
        // it, so it is loaded here as a server would, by a worker of its own.
        worker_on(&db, 1, &temp_dir("unused")).run_pending().await.ok();
        let theirs_state = uploads::find(&db, other.id, theirs.id).await.unwrap().unwrap().state;
        assert_eq!(
            theirs_state,
            muster_store::uploads::UploadState::Done,
            "{backend:?}: the server's worker loaded it"
        );
        let theirs2 = NewUpload {
            uploaded_by: None,
            file_name: "theirs2.csv".into(),
            bytes: b"userId,email,firstName\ntheirs2,theirs2@example.com,T\n".to_vec(),
            options: Default::default(),
        };
        let theirs2 = uploads::create_and_plan(&db, &other, theirs2, 1 << 20).await.unwrap();
        muster_store::jobs::enqueue_load(&db, &theirs2).await.unwrap();

        let dir = temp_dir(&format!("own-job-{backend:?}"));
        let file = dir.join("mine.csv");
        std::fs::write(&file, "userId,email,firstName\nmine2,mine2@example.com,Mine\n").unwrap();
        let out = muster(&dir, Some(&test_db.url), &["import", file.to_str().unwrap(), "--tenant", "demo"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let theirs2 = uploads::find(&db, other.id, theirs2.id).await.unwrap().unwrap();
        assert_eq!(
            theirs2.state,
            muster_store::uploads::UploadState::Queued,
            "{backend:?}: another tenant's upload is left to a server"
        );
        use muster_store::entity::user;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let mine = user::Entity::find()
            .filter(user::Column::TenantId.eq(demo.id))
            .filter(user::Column::UserIdNorm.eq("mine2"))
            .one(&db)
            .await
            .unwrap();
        assert!(mine.is_some(), "{backend:?}: its own import was loaded");
        db.close().await.ok();
        test_db.cleanup().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[tokio::test]
async fn a_load_s_progress_is_recorded_at_most_twice_a_second_and_ends_at_its_last_row() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        // Five batches of rows; most are errors, which take no licence but still pass through the load.
        let mut file = String::from("userId,email,firstName\n");
        for i in 0..5000 {
            let email = if i < 20 { format!("p{i}@example.com") } else { format!("p{i}@") };
            file.push_str(&format!("p{i},{email},P\n"));
        }
        let (test_db, db, demo, upload_id) = queued_in_demo(backend, file.as_bytes()).await;
        let dir = temp_dir(&format!("progress-{backend:?}"));
        let smtp = SmtpServer::start();
        let started = std::time::Instant::now();
        assert_eq!(worker_on(&db, smtp.port, &dir).run_pending().await.unwrap(), 1);
        let took = started.elapsed();
        let events = muster_store::events::after(&db, demo.id, 0, chrono::Duration::zero(), 1000).await.unwrap();
        let progress: Vec<_> = events.iter().filter(|e| e.kind == "progress").collect();
        assert!(!progress.is_empty(), "{backend:?}: progress was recorded");
        for pair in progress.windows(2) {
            let gap = pair[1].created_at - pair[0].created_at;
            assert!(gap >= chrono::Duration::milliseconds(490), "{backend:?}: {gap} between progress events");
        }
        assert!(
            progress.len() as f64 <= 1.0 + took.as_secs_f64() / 0.49,
            "{backend:?}: {} in {took:?}",
            progress.len()
        );
        let last = &progress.last().unwrap().data;
        assert_eq!((last["rows_done"].as_i64(), last["rows_total"].as_i64()), (Some(5000), Some(5000)), "{backend:?}");
        assert_eq!(last["counts"]["errors"].as_u64(), Some(4980), "{backend:?}: {last}");
        assert!(progress.iter().all(|e| e.upload_id == Some(upload_id)));
        db.close().await.ok();
        test_db.cleanup().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
