//! `muster import FILE --tenant SLUG`: the web upload's path from the command line,
//! with the same plan, queue (one load per tenant), guarantees and results.
use super::validate::{human_report, ModeArg, SyncActionArg, ValidateArgs};
use super::{no_tenant, EXIT_INVALID, EXIT_OK, EXIT_UNAVAILABLE};
use crate::config::Config;
use crate::mail::Mailer;
use crate::worker::Worker;
use muster_import::Plan;
use muster_store::load::{Credentials, LoadOptions, UploadOptions};
use muster_store::uploads::{self, NewUpload, UploadError};
use muster_store::{directory, jobs};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The users file (CSV).
    pub file: PathBuf,
    /// The tenant to load into.
    #[arg(long)]
    pub tenant: String,
    #[arg(long, value_enum, default_value = "add-and-update")]
    pub mode: ModeArg,
    #[arg(long, value_enum, default_value = "report")]
    pub sync_action: SyncActionArg,
    /// A sync that retires or deletes more than this share of the active users
    /// is loaded only with --confirm.
    #[arg(long, value_name = "PERCENT", default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub sync_threshold: u32,
    /// Load nothing if any row has an error, and stop at a row that fails.
    #[arg(long)]
    pub all_or_nothing: bool,
    /// New users without a password get a generated one instead of an invitation.
    #[arg(long)]
    pub generate_passwords: bool,
    /// Email generated passwords to the users.
    #[arg(long)]
    pub email_passwords: bool,
    /// Send new users no mail at all (no invitation, no password), whatever
    /// the file's notifyIfNewUser says; their invitations are still created.
    #[arg(long)]
    pub no_notify: bool,
    /// Confirm a sync that retires or deletes more than the safeguard allows.
    #[arg(long)]
    pub confirm: bool,
    /// Email the summary and the results file to this address when the load ends.
    #[arg(long, value_name = "EMAIL")]
    pub results_to: Option<String>,
    /// Write the results file (the file as it was, with a `result` column) here
    /// when the load ends, done or failed.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
}

pub async fn run(args: &ImportArgs, config: &Config) -> i32 {
    match import(args, config).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("import failed: {err:#}");
            EXIT_UNAVAILABLE
        }
    }
}

async fn import(args: &ImportArgs, config: &Config) -> anyhow::Result<i32> {
    let bytes = match read_inputs(args) {
        Ok(bytes) => bytes,
        Err(code) => return Ok(code),
    };
    let db = muster_store::db::connect_and_migrate(&config.database_url()).await?;
    let Some(tenant) = directory::find_tenant(&db, &args.tenant).await? else {
        return Ok(no_tenant(&args.tenant));
    };
    let file_name = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let new = NewUpload { uploaded_by: None, file_name, bytes, options: upload_options(args) };
    let upload = match uploads::create_and_plan(&db, &tenant, new, config.max_upload_bytes()).await {
        Ok(upload) => upload,
        Err(err @ (UploadError::TooLarge { .. } | UploadError::Duplicate { .. })) => {
            eprintln!("{err}");
            return Ok(EXIT_INVALID);
        }
        Err(UploadError::Db(err)) => return Err(err.into()),
    };
    let summary: muster_import::PlanSummary = serde_json::from_value(upload.plan_summary.clone().unwrap_or_default())?;
    print!("{}", human_report(&Plan { summary: summary.clone(), rows: vec![] }));
    // An upload that stops here is cancelled, not left ready: the same file may
    // then be run again (fixed, or with --confirm) instead of being refused as a
    // duplicate of an upload nobody will load.
    let (db_ref, tenant_id, upload_id) = (&db, tenant.id, upload.id);
    let stop = |why: String| async move {
        let state = if uploads::cancel(db_ref, tenant_id, upload_id).await? { ", cancelled" } else { "" };
        eprintln!("{why}; nothing was loaded (upload {upload_id}{state}).");
        anyhow::Ok(EXIT_INVALID)
    };
    if !summary.file_ok() {
        return stop("The file has errors".into()).await;
    }
    if summary.needs_confirmation && !args.confirm {
        return stop("This sync needs --confirm".into()).await;
    }
    let job = match queue(&db, args, &upload).await? {
        Ok(job) => job,
        Err(why) => return stop(why).await,
    };
    let worker = Worker {
        db: db.clone(),
        id: format!("cli-{}-{}", std::process::id(), &muster_store::tokens::generate()[..8]),
        mailer: Mailer::new(config.smtp_url.as_deref(), config.outbox_dir())?,
        base_url: config.public_url.clone().unwrap_or_else(|| format!("http://{}", config.addr)),
        // Its own import only: the queue's other uploads are other admins' (or
        // other tenants'), with their own mail settings, for a server to run.
        only_job: Some(job.id),
    };
    run_to_the_end(&worker, args, tenant.id, upload.id).await
}

/// The file's bytes, once the other arguments that name files or addresses
/// are found usable; else the exit code, said why.
fn read_inputs(args: &ImportArgs) -> Result<Vec<u8>, i32> {
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(err) => {
            eprintln!("cannot read {}: {err}", args.file.display());
            return Err(EXIT_UNAVAILABLE);
        }
    };
    // An unwritable results path is found now, before anything is planned or loaded.
    if let Some(path) = &args.results {
        if let Err(err) = std::fs::File::create(path) {
            eprintln!("cannot write the results to {}: {err}; nothing was loaded", path.display());
            return Err(EXIT_UNAVAILABLE);
        }
    }
    if let Some(address) = &args.results_to {
        if let Err(err) = muster_import::Email::parse(address) {
            eprintln!("--results-to: {address:?} {err}");
            return Err(EXIT_INVALID);
        }
    }
    Ok(bytes)
}

/// The upload's options, as the web page's would be set.
fn upload_options(args: &ImportArgs) -> UploadOptions {
    let plan_args = ValidateArgs {
        file: args.file.clone(),
        json: false,
        tenant: Some(args.tenant.clone()),
        mode: args.mode,
        sync_action: args.sync_action,
        sync_threshold: args.sync_threshold,
    };
    UploadOptions {
        plan: plan_args.options(),
        load: LoadOptions {
            stop_on_error: args.all_or_nothing,
            credentials: if args.generate_passwords {
                Credentials::GeneratePassword { email: args.email_passwords }
            } else {
                Credentials::Invite
            },
            notify_new_users: !args.no_notify,
            results_email: args.results_to.is_some(),
            results_to: args.results_to.clone(),
        },
    }
}

/// Queues the load; its job, or why it was refused.
async fn queue(
    db: &muster_store::DatabaseConnection,
    args: &ImportArgs,
    upload: &muster_store::entity::upload::Model,
) -> anyhow::Result<Result<muster_store::entity::job::Model, String>> {
    let enqueued = if args.confirm {
        jobs::enqueue_confirmed_load(db, upload).await?
    } else {
        jobs::enqueue_load(db, upload).await?
    };
    Ok(match enqueued {
        jobs::Enqueued::Waiting { ahead, job } => {
            println!("Queued behind {ahead} other load(s) of this tenant.");
            Ok(job)
        }
        jobs::Enqueued::Refused(why) => Err(format!("Not loaded: {why}")),
        jobs::Enqueued::Queued(job) | jobs::Enqueued::AlreadyLoading(job) => {
            println!("Loading upload {}…", upload.id);
            Ok(job)
        }
    })
}

/// Runs the load (or waits for the process that holds it) until it is done
/// or failed, then writes its results; returns the exit code.
async fn run_to_the_end(worker: &Worker, args: &ImportArgs, tenant_id: i64, upload_id: i64) -> anyhow::Result<i32> {
    let db = &worker.db;
    loop {
        // A lost database connection is waited out: the load resumes once it is back.
        if let Err(err) = worker.run_pending().await {
            eprintln!("waiting for the database: {err}");
        }
        match uploads::find(db, tenant_id, upload_id).await {
            Ok(Some(current)) if current.state == uploads::UploadState::Failed => {
                eprintln!("{}", current.summary.unwrap_or_default());
                write_results(db, args, tenant_id, upload_id).await?;
                return Ok(EXIT_UNAVAILABLE);
            }
            Ok(Some(current)) if current.state == uploads::UploadState::Done => {
                println!("{}", current.summary.unwrap_or_default());
                if !write_results(db, args, tenant_id, upload_id).await? {
                    return Ok(EXIT_UNAVAILABLE);
                }
                let failed = uploads::count_outcome(db, tenant_id, upload_id, "error").await?;
                return Ok(if failed > 0 { EXIT_INVALID } else { EXIT_OK });
            }
            Ok(_) => {}
            Err(err) => eprintln!("waiting for the database: {err}"),
        }
        // Another process holds this tenant's load (or ours, after a failure): wait.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// The results file to `--results`, if asked for; false if it cannot be written.
async fn write_results(
    db: &muster_store::DatabaseConnection,
    args: &ImportArgs,
    tenant_id: i64,
    upload_id: i64,
) -> anyhow::Result<bool> {
    let Some(path) = &args.results else {
        return Ok(true);
    };
    let Some(upload) = uploads::find(db, tenant_id, upload_id).await? else {
        return Ok(true);
    };
    let file = uploads::ResultsFile::read(db, &upload).await?;
    let target = path.clone();
    // Written as it is made: a million lines' results are never held at once.
    let written = tokio::task::spawn_blocking(move || {
        let out = std::io::BufWriter::new(std::fs::File::create(&target)?);
        file.write_to(out)?.into_inner().map_err(|e| e.into_error())?.sync_all()
    })
    .await?;
    if let Err(err) = written {
        eprintln!("cannot write the results to {}: {err}", path.display());
        return Ok(false);
    }
    Ok(true)
}
