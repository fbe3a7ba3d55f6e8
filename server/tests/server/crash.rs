//! A load survives its process being killed with SIGKILL and its database
//! dropping every connection: it resumes and applies every row exactly once.
//! Two servers on one PostgreSQL share the queue.
use crate::common::{temp_dir, wait_for};
use muster_store::entity::{upload, user};
use muster_store::testdb::{Backend, TestDb};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ROWS: usize = 6000;

fn spawn(dir: &Path, url: &str, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(args)
        .env("MUSTER_DATA_DIR", dir)
        .env("DATABASE_URL", url)
        .env("MUSTER_ADDR", "127.0.0.1:0")
        .env("MUSTER_JOB_LEASE_SECS", "2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("{}.log", args[0]))).map(Stdio::from).unwrap_or(Stdio::null()))
        .spawn()
        .expect("start muster")
}

/// The demo tenant's 1000 licences would refuse the file: lift the limit.
async fn demo_tenant(db: &DatabaseConnection) -> muster_store::entity::tenant::Model {
    use sea_orm::{ActiveModelTrait, Set};
    muster_store::bootstrap::ensure_first_run(db).await.unwrap();
    let tenant = muster_store::directory::find_tenant(db, "demo").await.unwrap().unwrap();
    let mut unlimited: muster_store::entity::tenant::ActiveModel = tenant.into();
    unlimited.licence_limit = Set(None);
    unlimited.update(db).await.unwrap()
}

async fn latest_upload(db: &DatabaseConnection) -> Option<upload::Model> {
    use sea_orm::QueryOrder;
    upload::Entity::find().order_by_desc(upload::Column::Id).one(db).await.ok().flatten()
}

fn users_file(dir: &Path) -> PathBuf {
    let mut text = String::from("userId,email,firstName,lastName\n");
    for i in 0..ROWS {
        text.push_str(&format!("crash{i},crash{i}@example.org,Crash,Test{i}\n"));
    }
    let path = dir.join("users.csv");
    std::fs::write(&path, text).unwrap();
    path
}

async fn assert_every_row_once(db: &DatabaseConnection, tenant_id: i64) {
    let users = user::Entity::find().filter(user::Column::TenantId.eq(tenant_id)).count(db).await.unwrap();
    assert_eq!(users as usize, ROWS + 1, "the admin and every row, once");
    let upload = latest_upload(db).await.unwrap();
    assert_eq!(upload.state, muster_store::uploads::UploadState::Done);
    assert_eq!(upload.rows_done as usize, ROWS);
    assert!(upload.summary.unwrap().starts_with(&format!("Users loaded successfully. {ROWS} added")));
}

async fn killed_and_restarted(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = test_db.connect().await;
    let tenant = demo_tenant(&db).await;
    let dir = temp_dir(&format!("kill-{backend:?}"));
    let file = users_file(&dir);

    let mut import = spawn(&dir, &test_db.url, &["import", file.to_str().unwrap(), "--tenant", "demo"]);
    wait_for("the first batches", Duration::from_secs(120), async || {
        latest_upload(&db).await.is_some_and(|u| u.rows_done >= 1000)
    })
    .await;
    import.kill().expect("SIGKILL");
    import.wait().unwrap();
    let at_kill = latest_upload(&db).await.unwrap();
    assert!(at_kill.rows_done < ROWS as i32, "{backend:?}: killed mid-load ({} rows done)", at_kill.rows_done);

    // A server started afterwards takes over the dead worker's job once its lease runs out.
    let mut server = spawn(&dir, &test_db.url, &["serve"]);
    wait_for("the resumed load", Duration::from_secs(180), async || {
        latest_upload(&db).await.is_some_and(|u| u.state == muster_store::uploads::UploadState::Done)
    })
    .await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_every_row_once(&db, tenant.id).await;
    db.close().await.ok();
    test_db.cleanup().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_load_killed_with_sigkill_resumes_on_sqlite() {
    killed_and_restarted(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_load_killed_with_sigkill_resumes_on_postgres() {
    killed_and_restarted(Backend::Postgres).await;
}

/// PostgreSQL only: SQLite has no connections to drop.
#[tokio::test]
async fn a_load_survives_the_database_dropping_its_connections() {
    let test_db = TestDb::new(Backend::Postgres).await;
    let db = test_db.connect().await;
    let tenant = demo_tenant(&db).await;
    let dir = temp_dir("drop");
    let file = users_file(&dir);
    let name = test_db.url.rsplit('/').next().unwrap().to_owned();
    let admin =
        sea_orm::Database::connect(format!("{}/postgres", test_db.url.rsplit_once('/').unwrap().0)).await.unwrap();

    let mut import = spawn(&dir, &test_db.url, &["import", file.to_str().unwrap(), "--tenant", "demo"]);
    wait_for("the first batches", Duration::from_secs(120), async || {
        latest_upload(&db).await.is_some_and(|u| u.rows_done >= 1000)
    })
    .await;
    // Every connection to the database but the admin's is cut, twice.
    for _ in 0..2 {
        admin
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            ))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let db = test_db.connect().await;
    wait_for("the load to finish", Duration::from_secs(180), async || {
        latest_upload(&db).await.is_some_and(|u| u.state == muster_store::uploads::UploadState::Done)
    })
    .await;
    let status = import.wait().unwrap();
    assert_eq!(status.code(), Some(0), "the import command finished its load");
    assert_every_row_once(&db, tenant.id).await;
    admin.close().await.ok();
    db.close().await.ok();
    test_db.cleanup().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Server processes on one PostgreSQL share its queue: each upload is loaded by
/// one of them, once, and both take some.
#[tokio::test]
async fn two_servers_on_one_postgres_share_the_queue_and_load_each_upload_once() {
    use muster_store::entity::job;
    use muster_store::uploads::{self, NewUpload};
    const TENANTS: usize = 6;
    const EACH: usize = 2000;
    let test_db = TestDb::new(Backend::Postgres).await;
    let db = test_db.connect().await;
    // The first-run accounts made now, not by both servers at once.
    muster_store::bootstrap::ensure_first_run(&db).await.unwrap();
    let mut queued = Vec::new();
    for t in 0..TENANTS {
        let tenant = muster_store::tenants::create_tenant(&db, &format!("share{t}"), "Share", None).await.unwrap();
        let mut text = String::from("userId,email,firstName\n");
        for i in 0..EACH {
            text.push_str(&format!("s{t}u{i},s{t}u{i}@example.org,S\n"));
        }
        let new = NewUpload {
            uploaded_by: None,
            file_name: "users.csv".into(),
            bytes: text.into_bytes(),
            options: Default::default(),
        };
        let upload = uploads::create_and_plan(&db, &tenant, new, 1 << 24).await.unwrap();
        muster_store::jobs::enqueue_load(&db, &upload).await.unwrap();
        queued.push((tenant, upload));
    }
    let dirs = [temp_dir("share-a"), temp_dir("share-b")];
    let mut servers: Vec<Child> = dirs.iter().map(|dir| spawn(dir, &test_db.url, &["serve"])).collect();
    wait_for("every upload loaded", Duration::from_secs(300), async || {
        upload::Entity::find()
            .filter(upload::Column::State.eq(muster_store::uploads::UploadState::Done))
            .count(&db)
            .await
            .is_ok_and(|n| n as usize == TENANTS)
    })
    .await;
    for server in &mut servers {
        server.kill().unwrap();
        server.wait().unwrap();
    }
    for (tenant, upload) in &queued {
        let users = user::Entity::find().filter(user::Column::TenantId.eq(tenant.id)).count(&db).await.unwrap();
        assert_eq!(users as usize, EACH, "{}: every row once", tenant.slug);
        let done = uploads::find(&db, tenant.id, upload.id).await.unwrap().unwrap();
        assert_eq!(done.rows_done as usize, EACH);
        let summary = done.summary.unwrap_or_default();
        assert!(summary.starts_with(&format!("Users loaded successfully. {EACH} added")), "{summary}");
    }
    let workers: std::collections::HashSet<String> =
        job::Entity::find().all(&db).await.unwrap().into_iter().filter_map(|j| j.locked_by).collect();
    assert_eq!(workers.len(), 2, "both servers loaded uploads: {workers:?}");
    db.close().await.ok();
    test_db.cleanup().await;
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A free port on loopback (another process may take it first: rare, and the
/// server's start then fails loudly).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Two real server processes on one PostgreSQL: one only serves pages, the
/// other runs the load. The first's event stream hears the load live through
/// LISTEN/NOTIFY: its own look in the database is set to ten minutes, so
/// nothing else could bring the events within the test's time.
#[tokio::test]
async fn a_load_run_by_one_server_is_followed_live_through_another() {
    use muster_store::uploads::{self, NewUpload};
    let test_db = TestDb::new(Backend::Postgres).await;
    let db = test_db.connect().await;
    let first = muster_store::bootstrap::ensure_first_run(&db).await.unwrap().expect("first run");
    let demo = muster_store::directory::find_tenant(&db, "demo").await.unwrap().unwrap();
    let (web_dir, loader_dir) = (temp_dir("listen-web"), temp_dir("listen-loader"));
    let port = free_port();
    let start = |dir: &Path, port: u16, run_loads: &str| {
        Command::new(env!("CARGO_BIN_EXE_muster"))
            .arg("serve")
            .env("MUSTER_DATA_DIR", dir)
            .env("DATABASE_URL", &test_db.url)
            .env("MUSTER_ADDR", format!("127.0.0.1:{port}"))
            .env("MUSTER_RUN_LOADS", run_loads)
            .env("MUSTER_EVENTS_LOOK_MS", "600000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("serve.log")).map(Stdio::from).unwrap_or(Stdio::null()))
            .spawn()
            .expect("start muster")
    };
    let mut web = start(&web_dir, port, "false");
    let mut loader = start(&loader_dir, free_port(), "true");
    let url = format!("http://127.0.0.1:{port}");
    let client = crate::common::http_client();
    wait_for("the web process", Duration::from_secs(60), async || {
        client.get(format!("{url}/healthz")).send().await.is_ok()
    })
    .await;
    let signed_in = client
        .post(format!("{url}/api/sign_in"))
        .form(&[("tenant", "demo"), ("login", "admin"), ("password", first.demo().password.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = signed_in
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("muster_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .expect("a session");
    let mut stream =
        client.get(format!("{url}/events?since=0")).header(reqwest::header::COOKIE, &cookie).send().await.unwrap();
    assert_eq!(stream.status(), reqwest::StatusCode::OK);
    // The stream has read the database once by now; from here it hears only what it is told.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let new = NewUpload {
        uploaded_by: None,
        file_name: "users.csv".into(),
        bytes: b"userId,email,firstName\nlia,lia@example.org,Lia\n".to_vec(),
        options: Default::default(),
    };
    let upload = uploads::create_and_plan(&db, &demo, new, 1 << 20).await.unwrap();
    muster_store::jobs::enqueue_load(&db, &upload).await.unwrap();
    let mut heard = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !heard.contains("\"kind\":\"done\"") {
        match tokio::time::timeout_at(deadline, stream.chunk()).await {
            Ok(Ok(Some(bytes))) => heard.push_str(&String::from_utf8_lossy(&bytes)),
            _ => panic!("the web process did not hear the load; it heard:\n{heard}"),
        }
    }
    let at = |kind: &str| heard.find(&format!("\"kind\":\"{kind}\"")).unwrap_or_else(|| panic!("{kind} in {heard}"));
    assert!(at("validated") < at("queued") && at("queued") < at("started") && at("started") < at("done"), "{heard}");
    let done = uploads::find(&db, demo.id, upload.id).await.unwrap().unwrap();
    assert_eq!(done.state, muster_store::uploads::UploadState::Done);
    let job = muster_store::jobs::claim(&db, "nobody").await.unwrap();
    assert!(job.is_none());
    let locked_by: Vec<Option<String>> =
        muster_store::entity::job::Entity::find().all(&db).await.unwrap().into_iter().map(|j| j.locked_by).collect();
    assert_eq!(locked_by.len(), 1, "one job");
    for server in [&mut web, &mut loader] {
        server.kill().unwrap();
        server.wait().unwrap();
    }
    db.close().await.ok();
    test_db.cleanup().await;
    for dir in [web_dir, loader_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
