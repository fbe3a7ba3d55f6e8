//! Builds the whole application from a [`Config`]: database, first-run accounts,
//! routes and listener. Used by `main` and by the tests alike.
use crate::config::Config;
use crate::mail::Mailer;
use crate::worker::Worker;
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use muster_app::ssr::{guard::session_layer, AppState, WebConfig};
use muster_app::{shell, App};
use muster_store::bootstrap::{self, FirstRun};
use muster_store::DatabaseConnection;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

pub struct Application {
    listener: TcpListener,
    router: Router,
    /// `None`: this process serves pages only (`MUSTER_RUN_LOADS=false`).
    worker: Option<Worker>,
    pub addr: SocketAddr,
    pub db: DatabaseConnection,
    /// Set on the first start of an empty database: the accounts to sign in with.
    pub first_run: Option<FirstRun>,
}

impl Application {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)?;
        std::fs::create_dir_all(config.outbox_dir())?;
        let db = muster_store::db::connect_and_migrate(&config.database_url()).await?;
        let first_run = bootstrap::ensure_first_run_with(&db, &config.first_run()).await?;
        let listener = TcpListener::bind(config.addr).await?;
        let addr = listener.local_addr()?;

        let leptos_options = LeptosOptions::builder()
            .output_name("muster")
            .site_root(config.site_root.to_string_lossy().as_ref())
            .site_pkg_dir(crate::assets::pkg_dir(&config.site_root))
            .site_addr(addr)
            .build();
        let state = AppState::new(
            db.clone(),
            leptos_options.clone(),
            WebConfig {
                secure_cookies: config.secure_cookies(),
                trusted_proxies: config.trusted_proxies.clone(),
                max_upload_bytes: config.max_upload_bytes(),
                events_look_every: std::time::Duration::from_millis(config.events_look_ms.max(50)),
            },
        );
        let routes = generate_route_list(App);
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .merge(crate::assets::routes(&config.site_root))
            .merge(muster_app::ssr::downloads::routes())
            .merge(muster_app::ssr::events::routes())
            .leptos_routes_with_context(&state, routes, || (), {
                let options = leptos_options.clone();
                move || shell(options.clone())
            })
            .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
            .layer(axum::middleware::from_fn_with_state(state.clone(), session_layer))
            .with_state(state);
        let mailer = Mailer::new(config.smtp_url.as_deref(), config.outbox_dir())?;
        let worker = config.run_loads.then(|| Worker {
            db: db.clone(),
            // Unique per process even where every container is pid 1 on port 8080:
            // the job lease is fenced on this name.
            id: format!("{}-{}-{}", std::process::id(), addr.port(), &muster_store::tokens::generate()[..8]),
            mailer: mailer.clone(),
            base_url: config.public_url.clone().unwrap_or_else(|| format!("http://{addr}")),
            only_job: None,
        });
        Ok(Self { listener, router, worker, addr, db, first_run })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves until `shutdown` completes.
    /// Serves, and runs queued loads in the background, until `shutdown` completes.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let (stop_worker, worker_stopped) = tokio::sync::watch::channel(false);
        let worker = self.worker.map(|w| tokio::spawn(w.run_forever(worker_stopped)));
        // Events recorded by other processes on the same PostgreSQL reach this
        // one's streams at once (on SQLite one process serves; others are found
        // by the streams' regular look).
        let listener = (self.db.get_database_backend() == muster_store::DatabaseBackend::Postgres)
            .then(|| tokio::spawn(muster_store::events::listen_to_postgres(self.db.clone())));
        let served = axum::serve(self.listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = stop_worker.send(true);
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        if let Some(listener) = listener {
            listener.abort();
        }
        served
    }
}

/// The message a newcomer needs on the first start, printed once.
pub fn first_run_message(url: &str, first: &FirstRun) -> String {
    let mut message = String::from("First start: accounts created. These passwords are shown only now; keep them.\n");
    if let Some(demo) = &first.demo {
        message.push_str(&format!(
            "  Tenant admin:   open {url}/signin, tenant \"{}\", user \"{}\", password {}\n",
            demo.tenant_slug, demo.user_id, demo.password
        ));
    }
    message.push_str(&format!(
        "  Platform admin: open {url}/signin, tenant blank, user \"{}\", password {}\n",
        first.platform_username, first.platform_password
    ));
    // Machine-readable lines, for scripts and the browser tests.
    if let Some(demo) = &first.demo {
        message.push_str(&format!(
            "sign-in: tenant={} user={} password={}\n",
            demo.tenant_slug, demo.user_id, demo.password
        ));
    }
    message
        .push_str(&format!("sign-in: tenant= user={} password={}", first.platform_username, first.platform_password));
    message
}
