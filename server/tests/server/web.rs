//! The real server on a random port, over HTTP, against a fresh SQLite file and a
//! fresh PostgreSQL database: the same story on both.
use crate::common::{http_client, temp_dir, wait_for};
use muster_server::config::Config;
use muster_server::startup::Application;
use muster_store::bootstrap::FirstRun;
use muster_store::testdb::{Backend, TestDb};
use muster_store::uploads::{self, NewUpload};
use reqwest::{header, Client, Response, StatusCode};

/// What the server logged, in this test process (every test's server at once).
fn logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Capture {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_writer(move || Capture(writer.clone()))
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .try_init();
        buffer
    })
    .clone()
}

struct Running {
    url: String,
    first: FirstRun,
    client: Client,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(db: &TestDb, data_dir: &std::path::Path) -> Running {
    start_with(db, data_dir, |_| {}).await
}

/// The server, with the test's own settings on top of the defaults.
async fn start_with(db: &TestDb, data_dir: &std::path::Path, settings: impl FnOnce(&mut Config)) -> Running {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        database_url: Some(db.url.clone()),
        addr: "127.0.0.1:0".parse().unwrap(),
        site_root: data_dir.join("site"),
        public_url: None,
        trusted_proxies: vec![],
        smtp_url: None,
        platform_admin: None,
        demo_tenant: true,
        max_upload_mb: 50,
        events_look_ms: 500,
        run_loads: true,
    };
    settings(&mut config);
    let app = Application::build(&config).await.expect("the app builds");
    let url = app.url();
    let first = app.first_run.clone().expect("a fresh database gets first-run accounts");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = http_client();
    Running { url, first, client, stop, task }
}

fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("muster_session="))
        .map(str::to_owned)
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

impl Running {
    async fn sign_in(&self, tenant: &str, login: &str, password: &str) -> Response {
        self.client
            .post(format!("{}/api/sign_in", self.url))
            .form(&[("tenant", tenant), ("login", login), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// Calls a server function with a signed-in admin's cookie.
    async fn call(&self, function: &str, cookie: &str, args: &[(&str, String)]) -> Response {
        let request = self.client.post(format!("{}/api/{function}", self.url));
        request.header(header::COOKIE, cookie).form(args).send().await.unwrap()
    }

    /// Posts a multipart form to `send_upload`, with a cookie if given.
    async fn send_form(&self, cookie: Option<&str>, form: reqwest::multipart::Form) -> Response {
        let mut request =
            self.client.post(format!("{}/api/send_upload", self.url)).header(header::ACCEPT, "application/json");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.multipart(form).send().await.unwrap()
    }

    /// The event stream, as a browser reconnecting after event `last` opens it.
    async fn events_after(&self, cookie: &str, last: i64) -> Response {
        let request = self.client.get(format!("{}/events", self.url)).header(header::COOKIE, cookie);
        request.header("last-event-id", last.to_string()).send().await.unwrap()
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut request = self.client.get(format!("{}{path}", self.url));
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.send().await.unwrap()
    }
}

async fn story(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = temp_dir(&format!("web-{backend:?}"));
    let app = start(&db, &dir).await;
    let first = app.first.clone();

    assert_eq!(app.get("/healthz", None).await.text().await.unwrap(), "ok");

    let anonymous = app.get("/users", None).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "{backend:?}");
    assert_eq!(anonymous.headers()[header::LOCATION], "/signin");

    let page = app.get("/signin", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<form action="/api/sign_in" method="post""#), "{html}");
    assert!(html.contains("/pkg/muster.js"), "the page loads the WebAssembly front end");

    let refused = app.sign_in("demo", "admin", "wrong password").await;
    assert!(session_cookie(&refused).is_none());
    assert!(refused.text().await.unwrap().contains("BadCredentials"));

    // What was typed is never logged: a login may be a password in the wrong field.
    let logs = logs();
    let typed = format!("Typed.In.Login.{backend:?}");
    let refused = app.sign_in("demo", &typed, "Typed-Password-42").await;
    assert!(refused.text().await.unwrap().contains("BadCredentials"));
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logged.contains("sign-in refused"), "{backend:?}: the refusal is logged: {logged}");
    assert!(!logged.contains(&typed) && !logged.contains("Typed-Password-42"), "{backend:?}: {logged}");

    // A plain form post (no WebAssembly yet) is sent back with the reason.
    let plain = app
        .client
        .post(format!("{}/api/sign_in", app.url))
        .header(header::ACCEPT, "text/html")
        .header(header::REFERER, format!("{}/signin", app.url))
        .form(&[("tenant", "demo"), ("login", "admin"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(plain.headers()[header::LOCATION], "/signin?failed=credentials");

    let signed_in = app.sign_in("demo", "admin", &first.demo().password).await;
    let set_cookie = session_cookie(&signed_in).expect("a session cookie");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "plain HTTP in tests");
    assert_eq!(signed_in.headers()[header::LOCATION], "/");
    let cookie = cookie_pair(&set_cookie);

    let home = app.get("/", Some(&cookie)).await;
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.unwrap();
    assert!(html.contains("Demo Admin") && html.contains("Demo Organisation"), "{html}");

    assert_eq!(app.get("/no-such-page", Some(&cookie)).await.status(), StatusCode::NOT_FOUND);

    // Signing in again from the same browser ends the session it had.
    let again = app
        .client
        .post(format!("{}/api/sign_in", app.url))
        .header(header::COOKIE, &cookie)
        .form(&[("tenant", "demo"), ("login", "admin"), ("password", first.demo().password.as_str())])
        .send()
        .await
        .unwrap();
    let renewed = cookie_pair(&session_cookie(&again).expect("a new session cookie"));
    assert_ne!(renewed, cookie);
    assert_eq!(app.get("/", Some(&cookie)).await.status(), StatusCode::SEE_OTHER, "{backend:?}: the old one ended");
    let cookie = renewed;
    assert_eq!(app.get("/", Some(&cookie)).await.status(), StatusCode::OK);

    let upload_id = downloads(&app, &db, &cookie, backend).await;
    invitation(&app, &db, backend).await;
    a_password_to_change_first(&app, &db, backend).await;

    // A cross-site form post is refused even with the cookie; the session survives.
    let forged = app
        .client
        .post(format!("{}/api/sign_out", app.url))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // So is one from another subdomain of the same site, which a browser sends
    // with a Lax cookie.
    let sibling = app
        .client
        .post(format!("{}/api/sign_out", app.url))
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "same-site")
        .send()
        .await
        .unwrap();
    assert_eq!(sibling.status(), StatusCode::FORBIDDEN);
    let page = app.get("/", Some(&cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY", "no page may be framed");
    // A page's policy: Muster's own scripts (the inline hydration script by
    // this response's nonce), its WebAssembly, its worker; no framing.
    let policy = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-"), "{policy}");
    assert!(policy.contains("worker-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
    let nonce = policy.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the nonce: {html}");
    let again = app.get("/", Some(&cookie)).await;
    assert!(!again.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains(&nonce), "a nonce per page");
    // Pages are not kept in caches, and send no address onwards (an
    // invitation's carries its token).
    for path in ["/", "/signin", "/invitation/not-a-token"] {
        let page = app.get(path, Some(&cookie)).await;
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store", "{backend:?}: {path}");
        assert_eq!(page.headers()[header::REFERRER_POLICY], "no-referrer", "{backend:?}: {path}");
    }

    let signed_out =
        app.client.post(format!("{}/api/sign_out", app.url)).header(header::COOKIE, &cookie).send().await.unwrap();
    assert!(session_cookie(&signed_out).unwrap().contains("Max-Age=0"));
    assert_eq!(app.get("/", Some(&cookie)).await.status(), StatusCode::SEE_OTHER, "{backend:?}: signed out");

    let platform = app.sign_in("", &first.platform_username, &first.platform_password).await;
    assert_eq!(platform.headers()[header::LOCATION], "/tenants");
    let platform_cookie = cookie_pair(&session_cookie(&platform).unwrap());
    let refused = app.get(&format!("/uploads/{upload_id}/results.csv"), Some(&platform_cookie)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "a platform admin does not read a tenant's files");

    // A burst of guesses sent side by side: each is counted before its hash
    // runs, so no more than the five of the budget are checked at all.
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (client, url) = (app.client.clone(), app.url.clone());
        burst.spawn(async move {
            let form = [("tenant", "demo"), ("login", "ghost"), ("password", "guess")];
            client.post(format!("{url}/api/sign_in")).form(&form).send().await.unwrap().text().await.unwrap()
        });
    }
    let answers = burst.join_all().await;
    let checked = answers.iter().filter(|a| a.contains("BadCredentials")).count();
    let throttled = answers.iter().filter(|a| a.contains("Throttled")).count();
    assert_eq!((checked, throttled), (5, 7), "{backend:?}: {answers:?}");

    // Five failures from one client make it wait, even with the right password:
    // for a second, from the fifth. On a machine so busy that the fifth's hash
    // outlasted that second, the sign-in goes through (which clears the
    // account's failures) and the five are made again; three times over fails.
    let mut throttled = false;
    for _ in 0..3 {
        // When the last failure began: the wait is counted from it.
        let mut fifth = std::time::Instant::now();
        for _ in 0..5 {
            fifth = std::time::Instant::now();
            assert!(app.sign_in("demo", "admin", "guess").await.text().await.unwrap().contains("BadCredentials"));
        }
        let locked = app.sign_in("demo", "admin", &first.demo().password).await;
        if session_cookie(&locked).is_some() && fifth.elapsed() > std::time::Duration::from_secs(1) {
            continue;
        }
        assert!(session_cookie(&locked).is_none(), "{backend:?}");
        assert!(locked.text().await.unwrap().contains("Throttled"), "{backend:?}");
        throttled = true;
        break;
    }
    assert!(throttled, "{backend:?}: each fifth failure's hash outlasted its wait");

    let _ = app.stop.send(());
    app.task.await.unwrap().unwrap();
    db.cleanup().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// An upload's results CSV and original file: the admin of its tenant gets them,
/// nobody else does.
async fn downloads(app: &Running, db: &TestDb, cookie: &str, backend: Backend) -> i64 {
    let conn = db.connect().await;
    let demo = muster_store::directory::find_tenant(&conn, "demo").await.unwrap().unwrap();
    let bytes = b"userId;email;firstName;password\r\nnew1;new1@x.io;=cmd();\r\nbad;bad@;B;Hunter2hunter2\r\n".to_vec();
    let new = NewUpload {
        uploaded_by: None,
        file_name: "staff \"2026\".csv".into(),
        bytes: bytes.clone(),
        options: Default::default(),
    };
    let upload = uploads::create_and_plan(&conn, &demo, new, 1 << 20).await.unwrap();
    // The server's own worker loads it.
    muster_store::jobs::enqueue_load(&conn, &upload).await.unwrap();
    // The job, not the upload: the upload is done as its last batch commits,
    // the job once the worker has seen that batch's mail sent.
    wait_for(&format!("{backend:?}: the load to finish"), std::time::Duration::from_secs(60), async || {
        use muster_store::entity::job;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let job = job::Entity::find().filter(job::Column::UploadId.eq(upload.id)).one(&conn).await.unwrap();
        if let Some(failed) = job.as_ref().filter(|job| job.state == job::JobState::Failed) {
            panic!("{backend:?}: the load failed: {:?}", failed.last_error);
        }
        job.is_some_and(|job| job.state == job::JobState::Done)
    })
    .await;

    let results = app.get(&format!("/uploads/{}/results.csv", upload.id), Some(cookie)).await;
    assert_eq!(results.status(), StatusCode::OK, "{backend:?}");
    assert_eq!(results.headers()[header::CONTENT_TYPE], "text/csv");
    assert_eq!(results.headers()[header::CONTENT_DISPOSITION], r#"attachment; filename="staff _2026_-results.csv""#);
    // Each line says what happened; the formula stays text.
    assert_eq!(
        results.text().await.unwrap(),
        "userId;email;firstName;password;result\r\nnew1;new1@x.io;'=cmd();;\"Added; invitation sent\"\r\nbad;bad@;B;;\"Line 3, email: \"\"bad@\"\" is not a valid email address\"\r\n"
    );
    // The file as it came, but no password or formula in it: other admins may read it.
    let original = app.get(&format!("/uploads/{}/file", upload.id), Some(cookie)).await;
    assert_eq!(original.status(), StatusCode::OK);
    assert_eq!(
        original.text().await.unwrap(),
        "userId;email;firstName;password\r\nnew1;new1@x.io;'=cmd();\r\nbad;bad@;B;\r\n"
    );

    // Signed out: sent to sign in. Another tenant's admin: not found.
    let anonymous = app.get(&format!("/uploads/{}/results.csv", upload.id), None).await;
    assert_eq!(anonymous.headers()[header::LOCATION], "/signin");
    let other = muster_store::tenants::create_tenant(&conn, "other", "Other", None).await.unwrap();
    let other_upload = uploads::create_and_plan(
        &conn,
        &other,
        NewUpload { uploaded_by: None, file_name: "o.csv".into(), bytes, options: Default::default() },
        1 << 20,
    )
    .await
    .unwrap();
    for path in [format!("/uploads/{}/results.csv", other_upload.id), format!("/uploads/{}/file", other_upload.id)] {
        assert_eq!(app.get(&path, Some(cookie)).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    conn.close().await.ok();
    upload.id
}

/// An invitation link opens its page without a session, sets a password once,
/// and a plain form post (no WebAssembly yet) is sent back with the outcome.
async fn invitation(app: &Running, db: &TestDb, backend: Backend) {
    let conn = db.connect().await;
    let demo = muster_store::directory::find_tenant(&conn, "demo").await.unwrap().unwrap();
    let mut user = muster_store::testdb::user(demo.id, "ivy", "ivy@example.com");
    user.first_name = sea_orm::Set(Some("Ivy".into()));
    let user = sea_orm::ActiveModelTrait::insert(user, &conn).await.unwrap();
    let token = muster_store::tokens::generate_link();
    muster_store::invitations::create(&conn, demo.id, user.id, &muster_store::tokens::link_key(&token), 7)
        .await
        .unwrap();

    let page = app.get(&format!("/invitation/{token}"), None).await;
    assert_eq!(page.status(), StatusCode::OK, "{backend:?}: public, not sent to sign in");
    let html = page.text().await.unwrap();
    assert!(html.contains("Welcome, ") && html.contains("Ivy") && html.contains("Demo"), "{html}");
    assert!(html.contains(r#"<form action="/api/accept_invitation" method="post""#), "{html}");

    let accept = |password: &'static str, plain: bool| {
        let mut request = app.client.post(format!("{}/api/accept_invitation", app.url));
        if plain {
            request = request.header(header::ACCEPT, "text/html");
        }
        request.form(&[("token", token.as_str()), ("password", password), ("repeat", password)]).send()
    };
    let weak = accept("password", true).await.unwrap();
    assert_eq!(weak.headers()[header::LOCATION], format!("/invitation/{token}?result=weak"));
    let set = accept("a good password 1", false).await.unwrap();
    assert_eq!(set.status(), StatusCode::OK, "{backend:?}");
    assert_eq!(set.text().await.unwrap(), r#"["demo","ivy"]"#);
    let again = accept("another password 2", false).await.unwrap();
    assert!(again.text().await.unwrap().contains("already been used"), "{backend:?}");
    let plain = accept("another password 2", true).await.unwrap();
    assert_eq!(plain.headers()[header::LOCATION], format!("/invitation/{token}?result=used"));
    let signed_in = app.sign_in("demo", "ivy", "a good password 1").await;
    assert!(session_cookie(&signed_in).is_some(), "{backend:?}: the chosen password signs in");
    conn.close().await.ok();
}

/// "Change password next time": until the password is changed, the account
/// reaches only the page that changes it; the change ends its other sessions.
async fn a_password_to_change_first(app: &Running, db: &TestDb, backend: Backend) {
    let conn = db.connect().await;
    let demo = muster_store::directory::find_tenant(&conn, "demo").await.unwrap().unwrap();
    let mut user = muster_store::testdb::user(demo.id, "flo", "flo@example.com");
    user.password_hash = sea_orm::Set(Some(muster_store::passwords::hash_blocking("typed by admin 1")));
    user.change_password_next_time = sea_orm::Set(true);
    sea_orm::ActiveModelTrait::insert(user, &conn).await.unwrap();

    let first = cookie_pair(&session_cookie(&app.sign_in("demo", "flo", "typed by admin 1").await).unwrap());
    let second = cookie_pair(&session_cookie(&app.sign_in("demo", "flo", "typed by admin 1").await).unwrap());
    let home = app.get("/", Some(&first)).await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER, "{backend:?}");
    assert_eq!(home.headers()[header::LOCATION], "/change-password");
    let page = app.get("/change-password", Some(&first)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("At least 10 characters"), "the page shows the policy");
    assert_eq!(app.get("/users", Some(&first)).await.headers()[header::LOCATION], "/change-password");
    let other_fn = app.client.post(format!("{}/api/accept_invitation", app.url)).header(header::COOKIE, &first);
    assert_eq!(other_fn.send().await.unwrap().status(), StatusCode::FORBIDDEN, "{backend:?}: nothing else");

    let change = |cookie: &str, current: &str, new: &str| {
        app.client
            .post(format!("{}/api/change_password", app.url))
            .header(header::COOKIE, cookie)
            .form(&[("current", current), ("password", new), ("repeat", new)])
            .send()
    };
    let wrong = change(&first, "not it at all 1", "my own secret 22").await.unwrap();
    assert!(wrong.text().await.unwrap().contains("current password is not correct"), "{backend:?}");
    let weak = change(&first, "typed by admin 1", "short").await.unwrap();
    assert!(weak.text().await.unwrap().contains("shorter than 10 characters"), "{backend:?}");
    let done = change(&first, "typed by admin 1", "my own secret 22").await.unwrap();
    assert_eq!(done.status(), StatusCode::OK, "{backend:?}: {}", done.text().await.unwrap());
    assert_eq!(app.get("/", Some(&first)).await.status(), StatusCode::OK, "{backend:?}: free to go on");
    assert_eq!(
        app.get("/", Some(&second)).await.status(),
        StatusCode::SEE_OTHER,
        "{backend:?}: the other session ended"
    );
    assert!(session_cookie(&app.sign_in("demo", "flo", "my own secret 22").await).is_some());
    assert!(session_cookie(&app.sign_in("demo", "flo", "typed by admin 1").await).is_none(), "the old one is gone");
    conn.close().await.ok();
}

#[tokio::test]
async fn sign_in_pages_and_sessions_on_sqlite() {
    story(Backend::Sqlite).await;
}

#[tokio::test]
async fn sign_in_pages_and_sessions_on_postgres() {
    story(Backend::Postgres).await;
}

/// Behind a reverse proxy every request comes from the proxy's address: trusted,
/// its `X-Forwarded-For` names the client, and each client has its own budget
/// of failed sign-ins (one guesser does not lock out the office).
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_sign_in_budget() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = temp_dir("proxy");
    let app = start_with(&db, &dir, |c| c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    let from = |client: &'static str, login: String| {
        let (http, url) = (app.client.clone(), app.url.clone());
        async move {
            let form = [("tenant", "demo"), ("login", login.as_str()), ("password", "guess")];
            let request = http.post(format!("{url}/api/sign_in")).header("x-forwarded-for", client).form(&form);
            request.send().await.unwrap().text().await.unwrap()
        }
    };
    // A different login each time: the budget spent is the address's (50), not an account's.
    for i in 0..50 {
        let answer = from("1.2.3.4, 203.0.113.7", format!("guess{i}")).await;
        assert!(answer.contains("BadCredentials"), "attempt {i}: {answer}");
    }
    let spent = from("9.9.9.9, 203.0.113.7", "another".into()).await;
    assert!(spent.contains("Throttled"), "the address is the proxy's last entry, not the forged first: {spent}");
    let other = from("203.0.113.8", "another".into()).await;
    assert!(other.contains("BadCredentials"), "another client behind the same proxy is not throttled: {other}");
    let _ = app.stop.send(());
    app.task.await.unwrap().unwrap();
    db.cleanup().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Behind an HTTPS proxy (tests speak plain HTTP to the server itself).
#[tokio::test]
async fn over_https_the_session_cookie_is_host_only_secure_and_the_only_one_read() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = temp_dir("https");
    let app = start_with(&db, &dir, |c| c.public_url = Some("https://muster.example.org".into())).await;
    let host_cookie = |response: &Response| {
        let all: Vec<String> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        assert!(all.iter().all(|c| !c.starts_with("muster_session=")), "no cookie under the plain name: {all:?}");
        all.into_iter().find(|c| c.starts_with("__Host-muster_session=")).expect("the __Host- cookie")
    };
    let signed_in = app.sign_in("demo", "admin", &app.first.demo().password).await;
    let set_cookie = host_cookie(&signed_in);
    for flag in ["; Path=/;", "; HttpOnly;", "; SameSite=Lax;", "; Secure"] {
        assert!(set_cookie.contains(flag), "{flag} in {set_cookie}");
    }
    assert!(!set_cookie.contains("Domain"), "a __Host- cookie names no domain: {set_cookie}");
    let cookie = cookie_pair(&set_cookie);
    assert_eq!(app.get("/", Some(&cookie)).await.status(), StatusCode::OK);
    // The same token under the plain name, as a plain-HTTP page or a sibling
    // subdomain could plant it, is not a session.
    let token = cookie.trim_start_matches("__Host-muster_session=");
    let planted = app.get("/", Some(&format!("muster_session={token}"))).await;
    assert_eq!(planted.status(), StatusCode::SEE_OTHER);
    assert_eq!(planted.headers()[header::LOCATION], "/signin");

    let signed_out =
        app.client.post(format!("{}/api/sign_out", app.url)).header(header::COOKIE, &cookie).send().await.unwrap();
    let cleared = host_cookie(&signed_out);
    assert!(cleared.contains("Max-Age=0") && cleared.contains("; Secure"), "{cleared}");
    assert_eq!(app.get("/", Some(&cookie)).await.status(), StatusCode::SEE_OTHER, "the session ended");
    let _ = app.stop.send(());
    app.task.await.unwrap().unwrap();
    db.cleanup().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Reads a server-sent event stream until `until` is in what arrived (or 30 s).
async fn read_stream_until(response: &mut Response, until: &str) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !text.contains(until) {
        let chunk = tokio::time::timeout_at(deadline, response.chunk()).await;
        match chunk {
            Ok(Ok(Some(bytes))) => text.push_str(&String::from_utf8_lossy(&bytes)),
            _ => panic!("the stream said no {until:?}; it said:\n{text}"),
        }
    }
    text
}

fn choices() -> String {
    serde_json::json!({
        "mode": "add-and-update", "sync_action": "report", "passwords": "invite", "notify_new_users": false,
        "results_email": false, "all_or_nothing": false, "mapping": {},
        "browser_rows": 1, "browser_rows_with_errors": 0,
    })
    .to_string()
}

async fn send_file(app: &Running, cookie: &str, bytes: Vec<u8>) -> Response {
    let form = reqwest::multipart::Form::new()
        .text("choices", choices())
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name("people.csv"));
    app.send_form(Some(cookie), form).await
}

/// The upload's server functions and its event stream, over HTTP: a file
/// over the limit is refused whole and leaves nothing; a sent one is planned
/// and its events reach the tenant's admins only, with ids a reconnecting
/// browser resumes from.
async fn send_and_follow(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = temp_dir(&format!("web-events-{backend:?}"));
    let app = start_with(&db, &dir, |c| c.max_upload_mb = 1).await;
    let signed_in = app.sign_in("demo", "admin", &app.first.demo().password).await;
    let cookie = cookie_pair(&session_cookie(&signed_in).expect("a session"));
    let conn = db.connect().await;

    assert_eq!(app.get("/events", None).await.status(), StatusCode::UNAUTHORIZED, "{backend:?}");
    // Not a multipart form: refused with the reason, not a dropped connection.
    let plain = app.client.post(format!("{}/api/send_upload", app.url)).body("userId\n").send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{backend:?}");
    let form = reqwest::multipart::Form::new().text("choices", choices());
    let anonymous = app.send_form(None, form).await;
    assert!(anonymous.text().await.unwrap().contains("NotSignedIn"), "{backend:?}");

    // Every part of the form is bounded: one not asked for is refused, unread.
    let form = reqwest::multipart::Form::new().text("choices", choices()).text("extra", "x".repeat(100_000));
    let extra = app.send_form(Some(&cookie), form).await;
    assert!(extra.text().await.unwrap().contains("unexpected or repeated part"), "{backend:?}");
    let long_choices = reqwest::multipart::Form::new().text("choices", " ".repeat(100_000));
    let refused = app.send_form(Some(&cookie), long_choices).await;
    assert!(refused.text().await.unwrap().contains("choices are too long"), "{backend:?}");

    let mut large = b"userId,firstName,lastName,email\n".to_vec();
    while large.len() <= 1024 * 1024 {
        large.extend_from_slice(format!("u{0},U,Person,u{0}@example.org\n", large.len()).as_bytes());
    }
    let refused = send_file(&app, &cookie, large).await;
    assert_ne!(refused.status(), StatusCode::OK, "{backend:?}");
    let said = refused.text().await.unwrap();
    assert!(said.contains("files up to 1 MB are accepted"), "{backend:?}: {said}");
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(muster_store::entity::upload::Entity::find().count(&conn).await.unwrap(), 0, "nothing stored");

    let mut stream = app.get("/events?since=0", Some(&cookie)).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()[header::CONTENT_TYPE], "text/event-stream");
    let sent = send_file(&app, &cookie, b"userId,firstName,lastName,email\nzoe,Zoe,Z,zoe@example.org\n".to_vec()).await;
    assert_eq!(sent.status(), StatusCode::OK, "{backend:?}");
    let sent: serde_json::Value = serde_json::from_str(&sent.text().await.unwrap()).unwrap();
    let upload_id = sent["Planned"]["upload_id"].as_i64().expect("planned");
    let heard = read_stream_until(&mut stream, "\"kind\":\"validated\"").await;
    assert!(heard.contains("event: upload"), "{heard}");
    assert!(heard.contains(&format!("\"upload_id\":{upload_id}")), "{heard}");
    let validated_id: i64 = heard
        .lines()
        .find_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")))
        .and_then(|id| id.trim().parse().ok())
        .expect("an event id");

    // Another tenant's admin hears nothing of it.
    let demo = muster_store::directory::find_tenant(&conn, "demo").await.unwrap().unwrap();
    let other = muster_store::tenants::create_tenant(&conn, "other", "Other", None).await.unwrap();
    let password = "other admin pass 7";
    let boss = muster_store::tenants::NewAdmin {
        user_id: "boss",
        email: "boss@other.example",
        first_name: "",
        last_name: "",
        password,
        must_change_password: false,
    };
    muster_store::tenants::create_tenant_admin(&conn, other.id, boss).await.unwrap();
    let theirs = cookie_pair(&session_cookie(&app.sign_in("other", "boss", password).await).expect("a session"));
    let mut their_stream = app.get("/events?since=0", Some(&theirs)).await;
    let peek = tokio::time::timeout(std::time::Duration::from_millis(1500), their_stream.chunk()).await;
    assert!(peek.is_err() || !format!("{peek:?}").contains("upload_id"), "{backend:?}: {peek:?}");
    let their_view = app.call("upload_overview", &theirs, &[("upload_id", upload_id.to_string())]).await;
    assert!(their_view.text().await.unwrap().contains("No such upload"), "{backend:?}");

    // A browser reconnecting from the validated event hears what came after it.
    // Only a finished load's rows are retried.
    let early = app.call("retry_failed", &cookie, &[("upload_id", upload_id.to_string())]).await;
    assert!(early.text().await.unwrap().contains("only a finished load"), "{backend:?}");

    let mut resumed = app.events_after(&cookie, validated_id).await;
    let queued =
        app.call("start_load", &cookie, &[("upload_id", upload_id.to_string()), ("confirmed", "false".into())]).await;
    assert_eq!(queued.status(), StatusCode::OK, "{backend:?}");
    let heard = read_stream_until(&mut resumed, "\"kind\":\"done\"").await;
    // A recent event at or before the cursor may come again (it could have become
    // visible late); its id says it is old news, and the page skips it.
    let repeated = heard.contains("\"kind\":\"validated\"");
    assert!(!repeated || heard.contains(&format!("\"event_id\":{validated_id},")), "{backend:?}: {heard}");
    for kind in ["queued", "started", "done"] {
        assert!(heard.contains(&format!("\"kind\":\"{kind}\"")), "{backend:?}: {kind} in {heard}");
    }
    assert!(uploads::find(&conn, demo.id, upload_id).await.unwrap().unwrap().state == uploads::UploadState::Done);

    // The server counts the file's rows as the browser did; where it does not, the upload says so.
    let overview = app.call("upload_overview", &cookie, &[("upload_id", upload_id.to_string())]).await;
    assert!(overview.text().await.unwrap().contains("\"check_differs\":null"), "{backend:?}");
    let counted_otherwise = choices().replace("\"browser_rows\":1", "\"browser_rows\":7");
    let form = reqwest::multipart::Form::new().text("choices", counted_otherwise).part(
        "file",
        reqwest::multipart::Part::bytes(b"userId,firstName,lastName,email\numa,Uma,U,uma@example.org\n".to_vec())
            .file_name("other.csv"),
    );
    let sent: serde_json::Value =
        serde_json::from_str(&app.send_form(Some(&cookie), form).await.text().await.unwrap()).unwrap();
    let other_id = sent["Planned"]["upload_id"].as_i64().expect("planned");
    let overview = app.call("upload_overview", &cookie, &[("upload_id", other_id.to_string())]).await;
    let overview = overview.text().await.unwrap();
    assert!(
        overview.contains("Your browser counted 7 rows, 0 with errors; the server counted 1 rows, 0 with errors."),
        "{backend:?}: {overview}"
    );

    // A cursor whose event was purged starts again from the page.
    use sea_orm::sea_query::Expr;
    use sea_orm::QueryFilter;
    muster_store::entity::event::Entity::update_many()
        .col_expr(
            muster_store::entity::event::Column::CreatedAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::days(2)),
        )
        .filter(sea_orm::ColumnTrait::lte(&muster_store::entity::event::Column::Id, validated_id))
        .exec(&conn)
        .await
        .unwrap();
    assert!(muster_store::events::purge(&conn).await.unwrap() > 0);
    let mut stale = app.events_after(&cookie, validated_id).await;
    let heard = read_stream_until(&mut stale, "event: reset").await;
    assert!(!heard.contains("\"kind\""), "{backend:?}: a reset, not events: {heard}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn uploads_are_sent_and_followed_live_on_sqlite() {
    send_and_follow(Backend::Sqlite).await;
}

#[tokio::test]
async fn uploads_are_sent_and_followed_live_on_postgres() {
    send_and_follow(Backend::Postgres).await;
}

/// Browsers allow six connections per host over HTTP/1.1: one stream per tab
/// is the page's; an admin past the cap is told so, not left hanging.
#[tokio::test]
async fn an_admin_s_event_streams_are_capped() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = temp_dir("web-cap");
    let app = start(&db, &dir).await;
    let signed_in = app.sign_in("demo", "admin", &app.first.demo().password).await;
    let cookie = cookie_pair(&session_cookie(&signed_in).expect("a session"));
    let mut open = Vec::new();
    for _ in 0..muster_app::ssr::events::STREAMS_PER_ADMIN {
        let stream = app.get("/events", Some(&cookie)).await;
        assert_eq!(stream.status(), StatusCode::OK);
        open.push(stream);
    }
    let refused = app.get("/events", Some(&cookie)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "30");
    assert!(refused.text().await.unwrap().contains("close a tab"));
    // The tabs vanish without a word (their connections close mid-stream): the
    // server notices at once, not at the next keep-alive, and their places are
    // free again.
    drop(open);
    let vanished = std::time::Instant::now();
    loop {
        let again = app.get("/events", Some(&cookie)).await;
        if again.status() == StatusCode::OK {
            break;
        }
        assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(
            vanished.elapsed() < std::time::Duration::from_secs(5),
            "vanished streams still counted after {:?}",
            vanished.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The front end's files as a build lays them out: a versioned folder named in
/// `pkg/current`, each file beside its brotli and gzip forms. The pages load
/// that folder; its files go out precompressed and are kept a year; other
/// files under `/pkg` are revalidated.
#[tokio::test]
async fn the_front_end_is_sent_precompressed_under_a_name_that_changes_with_it() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = temp_dir("web-assets");
    let versioned = dir.join("site/pkg/v-0123abcd");
    std::fs::create_dir_all(&versioned).unwrap();
    std::fs::write(dir.join("site/pkg/current"), "v-0123abcd\n").unwrap();
    std::fs::write(dir.join("site/pkg/muster.js"), "plain").unwrap();
    std::fs::write(versioned.join("muster_bg.wasm"), b"\0asm as it is").unwrap();
    std::fs::write(versioned.join("muster_bg.wasm.br"), b"brotli bytes").unwrap();
    std::fs::write(versioned.join("muster_bg.wasm.gz"), b"gzip bytes").unwrap();
    let app = start(&db, &dir).await;

    let html = app.get("/signin", None).await.text().await.unwrap();
    assert!(html.contains(r#"href="/pkg/v-0123abcd/muster.css""#), "{html}");
    assert!(html.contains("/pkg/v-0123abcd/muster.js"), "{html}");
    assert!(html.contains(r#"<meta name="muster-pkg" content="/pkg/v-0123abcd""#), "{html}");

    let fetch = |encoding: &'static str| {
        app.client
            .get(format!("{}/pkg/v-0123abcd/muster_bg.wasm", app.url))
            .header(header::ACCEPT_ENCODING, encoding)
            .send()
    };
    let br = fetch("gzip, deflate, br").await.unwrap();
    assert_eq!(br.status(), StatusCode::OK);
    assert_eq!(br.headers()[header::CONTENT_ENCODING], "br");
    assert_eq!(br.headers()[header::CONTENT_TYPE], "application/wasm");
    assert_eq!(br.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert_eq!(br.bytes().await.unwrap().as_ref(), b"brotli bytes");
    let gzip = fetch("gzip").await.unwrap();
    assert_eq!(gzip.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(gzip.bytes().await.unwrap().as_ref(), b"gzip bytes");
    let plain = fetch("identity").await.unwrap();
    assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(plain.bytes().await.unwrap().as_ref(), b"\0asm as it is");

    let unversioned = app.get("/pkg/muster.js", None).await;
    assert_eq!(unversioned.status(), StatusCode::OK);
    assert_eq!(unversioned.headers()[header::CACHE_CONTROL], "no-cache");
    assert_eq!(app.get("/pkg/v-0123abcd/nothing.js", None).await.status(), StatusCode::NOT_FOUND);
    let _ = std::fs::remove_dir_all(&dir);
}
