//! The `muster` binary's command line, run as a real child process.
use muster_store::testdb::{Backend, TestDb};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SEED_004: &str =
    "userId,tenant,firstName,lastName,email,enabled,reportsTo,roles,taskNotification,transaction,notifyIfNewUser\n\
admin,,Demo,Administrator,admin@demo.muster.invalid,true,,,Email,,false\n\
mary,,Mary,Major,mary@example.com,true,admin,Coordinator|Nurse,Email,,true\n\
pat,demo,Pat,Minor,pat@example.com,true,mary,Porter,OFF,,false\n\
lee,,Lee,Long,lee@example.com,false,,Clerk,,,true\n";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("muster-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

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

/// A real SMTP server for the test: Python's standard `smtpd` (3.11 has it),
/// printing every message it receives.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
}

/// A test that fails holding the server stops it too: left running, it kept the
/// test's output pipe open.
impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new("python3")
            .args(["-W", "ignore", "-u", "-m", "smtpd", "-n", "-c", "DebuggingServer", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the SMTP server");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { child, port };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the SMTP server did not start");
    }

    /// Stops the server and returns what it received, as the messages' text
    /// (the server prints each line as a Python bytes literal).
    fn received(mut self) -> String {
        let _ = self.child.kill();
        let out = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap()).wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| {
                line.strip_prefix("b'")
                    .and_then(|l| l.strip_suffix('\''))
                    .or_else(|| line.strip_prefix("b\"").and_then(|l| l.strip_suffix('"')))
                    .unwrap_or(line)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

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
    let received = smtp.received();
    // Exit 1: a row (lee's bad email) was not loaded.
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let messages: Vec<&str> = received.split("---------- MESSAGE FOLLOWS ----------").skip(1).collect();
    assert_eq!(messages.len(), 2, "mary's invitation and the results: {received}");
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

#[tokio::test]
async fn invitations_the_mail_server_refused_go_out_again_once_it_is_back() {
    use muster_server::mail::Mailer;
    use muster_server::worker::Worker;
    use muster_store::uploads::{self, NewUpload};
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let test_db = TestDb::new(backend).await;
        let db = test_db.connect().await;
        muster_store::bootstrap::ensure_first_run(&db).await.unwrap().expect("demo tenant");
        let demo = muster_store::directory::find_tenant(&db, "demo").await.unwrap().unwrap();
        let new = NewUpload {
            uploaded_by: None,
            file_name: "new.csv".into(),
            bytes: b"userId,email,firstName\nmary,mary@example.com,Mary\n".to_vec(),
            options: Default::default(),
        };
        let upload = uploads::create_and_plan(&db, &demo, new, 1 << 20).await.unwrap();
        muster_store::jobs::enqueue_load(&db, &upload).await.unwrap();
        let dir = temp_dir(&format!("resend-{backend:?}"));
        let worker = |smtp_port: u16| Worker {
            db: db.clone(),
            id: "w".into(),
            mailer: Mailer::new(Some(&format!("smtp://127.0.0.1:{smtp_port}")), dir.join("outbox")).unwrap(),
            base_url: "http://muster.test".into(),
        };
        // Nothing listens there: the mail server is down while the load runs.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert_eq!(worker(closed).run_pending().await.unwrap(), 1);
        let row = &uploads::rows(&db, demo.id, upload.id).await.unwrap()[0];
        assert_eq!(row.result.as_deref(), Some("Added; invitation sent"), "{backend:?}");

        let smtp = SmtpServer::start();
        let back = worker(smtp.port);
        assert_eq!(back.resend_unsent(std::time::Duration::ZERO).await.unwrap(), 1, "{backend:?}: owed");
        assert_eq!(back.resend_unsent(std::time::Duration::ZERO).await.unwrap(), 0, "{backend:?}: sent");
        let received = smtp.received();
        let messages: Vec<&str> = received.split("---------- MESSAGE FOLLOWS ----------").skip(1).collect();
        assert_eq!(messages.len(), 1, "{backend:?}: {received}");
        assert!(messages[0].contains("To: mary@example.com") && messages[0].contains("/invitation/"), "{received}");
        db.close().await.ok();
        test_db.cleanup().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
