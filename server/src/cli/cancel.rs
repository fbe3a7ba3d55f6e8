//! `muster cancel UPLOAD --tenant SLUG`: turns down a planned upload that nobody
//! will load (an import stopped by a crash before it queued its load leaves one),
//! so that the same file may be submitted again.
use super::{no_tenant, EXIT_INVALID, EXIT_OK, EXIT_UNAVAILABLE};
use crate::config::Config;
use muster_store::{directory, uploads};

#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// The upload's number, as `import` and the upload's page show it.
    pub upload: i64,
    #[arg(long)]
    pub tenant: String,
}

enum Outcome {
    Cancelled,
    AlreadyCancelled,
    /// Queued, running or finished: past the point of cancelling.
    NotPlanned,
    NoUpload,
    NoTenant,
}

pub async fn run(args: &CancelArgs, config: &Config) -> i32 {
    let result = async {
        let db = muster_store::db::connect_and_migrate(&config.database_url()).await?;
        let Some(tenant) = directory::find_tenant(&db, &args.tenant).await? else { return Ok(Outcome::NoTenant) };
        if uploads::cancel(&db, tenant.id, args.upload).await? {
            return Ok(Outcome::Cancelled);
        }
        Ok::<_, muster_store::DbErr>(match uploads::find(&db, tenant.id, args.upload).await? {
            Some(upload) if upload.state == uploads::UploadState::Cancelled => Outcome::AlreadyCancelled,
            Some(_) => Outcome::NotPlanned,
            None => Outcome::NoUpload,
        })
    }
    .await;
    match result {
        Ok(Outcome::Cancelled) => {
            println!("Upload {} cancelled.", args.upload);
            EXIT_OK
        }
        Ok(Outcome::AlreadyCancelled) => {
            println!("Upload {} was already cancelled.", args.upload);
            EXIT_OK
        }
        Ok(Outcome::NotPlanned) => {
            eprintln!("upload {} is queued, running or finished: only a planned upload can be cancelled", args.upload);
            EXIT_INVALID
        }
        Ok(Outcome::NoUpload) => {
            eprintln!("tenant {:?} has no upload {}", args.tenant, args.upload);
            EXIT_INVALID
        }
        Ok(Outcome::NoTenant) => no_tenant(&args.tenant),
        Err(err) => {
            eprintln!("cannot reach the database: {err}");
            EXIT_UNAVAILABLE
        }
    }
}
