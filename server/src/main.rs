// mimalloc, not glibc's allocator: a load allocates and frees many small values
// per row, and with glibc's malloc that was a tenth of its CPU on PostgreSQL
// (100k new users: 12.0-12.6k -> 13.4-14.3k rows/s; SQLite 1M end-to-end
// 115.6 -> 103.9 s, peak memory 271 -> 241 MB). See docs/performance.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use muster_server::cli::EXIT_UNAVAILABLE;
use muster_server::config::Config;
use muster_server::startup::{first_run_message, Application};

/// Muster: bulk user administration from CSV files.
#[derive(Debug, Parser)]
#[command(name = "muster", version)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the web app (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check a users file and print its plan (exit 0 valid, 1 errors, 3 unreadable).
    Validate(muster_server::cli::validate::ValidateArgs),
    /// Plan and load a users file into a tenant (exit 0 loaded, 1 errors, 3 unavailable).
    Import(muster_server::cli::import::ImportArgs),
    /// Cancel a planned upload that will not be loaded, so its file may be submitted again.
    Cancel(muster_server::cli::cancel::CancelArgs),
    /// Write every user of a tenant as CSV in the standard format (a valid upload).
    Export(muster_server::cli::accounts::ExportArgs),
    /// Create a tenant admin (or, with --platform, a platform admin); prints a generated password.
    CreateAdmin(muster_server::cli::accounts::CreateAdminArgs),
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            term.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Before another thread allocates: the allocators' options are not for changing under them.
    muster_store::memory::give_back_freed_memory(&cli.config.database_url());
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Validate(args) => {
            let code = muster_server::cli::validate::run(&args, &cli.config).await;
            std::process::exit(code);
        }
        Command::Import(args) => {
            let code = muster_server::cli::import::run(&args, &cli.config).await;
            std::process::exit(code);
        }
        Command::Cancel(args) => std::process::exit(muster_server::cli::cancel::run(&args, &cli.config).await),
        Command::Export(args) => std::process::exit(muster_server::cli::accounts::export(&args, &cli.config).await),
        Command::CreateAdmin(args) => {
            std::process::exit(muster_server::cli::accounts::create_admin(&args, &cli.config).await)
        }
        Command::Migrate => {
            if let Err(err) = muster_store::db::connect_and_migrate(&cli.config.database_url()).await {
                eprintln!("cannot migrate {}: {err}", redact(&cli.config.database_url()));
                std::process::exit(EXIT_UNAVAILABLE);
            }
            println!("Database is up to date.");
        }
        Command::Serve => {
            let app = match Application::build(&cli.config).await {
                Ok(app) => app,
                Err(err) => {
                    eprintln!("cannot start: {err:#}");
                    std::process::exit(EXIT_UNAVAILABLE);
                }
            };
            let url = app.url();
            println!("Muster is listening on {url}");
            println!("Database: {}", redact(&cli.config.database_url()));
            println!(
                "Outgoing mail: {}",
                match &cli.config.smtp_url {
                    Some(smtp) => redact(smtp),
                    None => format!("written to {}", cli.config.outbox_dir().display()),
                }
            );
            if let Some(first) = &app.first_run {
                println!("{}", first_run_message(&url, first));
            } else {
                println!("Sign in at {url}/signin with an existing account.");
            }
            app.run_until(shutdown_signal()).await?;
        }
    }
    Ok(())
}

/// Hides the password of a `scheme://user:password@host` URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
