//! `muster export` and `muster create-admin`.
use super::{no_tenant, EXIT_INVALID, EXIT_OK, EXIT_UNAVAILABLE};
use crate::config::Config;
use muster_store::tenants::{self, AccountError, NewAdmin};
use muster_store::{directory, passwords};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[arg(long)]
    pub tenant: String,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Every user of the tenant in the standard format: a valid upload as it is.
pub async fn export(args: &ExportArgs, config: &Config) -> i32 {
    let result = async {
        let db = muster_store::db::connect_and_migrate(&config.database_url()).await?;
        let Some(tenant) = directory::find_tenant(&db, &args.tenant).await? else { return Ok(None) };
        let snapshot = directory::load(&db, &tenant).await?;
        Ok::<_, muster_store::DbErr>(Some(muster_import::export::write_users(&snapshot.users)))
    }
    .await;
    match result {
        Ok(Some(bytes)) => {
            let written = match &args.output {
                Some(path) => std::fs::write(path, &bytes),
                None => std::io::Write::write_all(&mut std::io::stdout(), &bytes),
            };
            match written {
                Ok(()) => EXIT_OK,
                Err(err) => {
                    eprintln!("cannot write the export: {err}");
                    EXIT_UNAVAILABLE
                }
            }
        }
        Ok(None) => no_tenant(&args.tenant),
        Err(err) => {
            eprintln!("cannot read the tenant: {err}");
            EXIT_UNAVAILABLE
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct CreateAdminArgs {
    /// The tenant the admin manages; omit it with --platform.
    #[arg(long, required_unless_present = "platform")]
    pub tenant: Option<String>,
    /// Create a platform admin (manages tenants) instead of a tenant admin.
    #[arg(long, conflicts_with = "tenant")]
    pub platform: bool,
    #[arg(long)]
    pub user_id: String,
    #[arg(long)]
    pub email: String,
    #[arg(long, default_value = "")]
    pub first_name: String,
    #[arg(long, default_value = "")]
    pub last_name: String,
}

/// Creates an admin with a generated password, printed once.
pub async fn create_admin(args: &CreateAdminArgs, config: &Config) -> i32 {
    let password = passwords::generate();
    let result = async {
        let db = muster_store::db::connect_and_migrate(&config.database_url()).await?;
        match &args.tenant {
            None => {
                tenants::create_platform_admin(&db, &args.user_id, &args.email, &password).await?;
                Ok(true)
            }
            Some(slug) => {
                let Some(tenant) = directory::find_tenant(&db, slug).await? else { return Ok(false) };
                let admin = NewAdmin {
                    user_id: &args.user_id,
                    email: &args.email,
                    first_name: &args.first_name,
                    last_name: &args.last_name,
                    password: &password,
                    must_change_password: true,
                };
                tenants::create_tenant_admin(&db, tenant.id, admin).await?;
                Ok(true)
            }
        }
    }
    .await;
    match result {
        Ok(true) => {
            println!("Admin {:?} created. Password (shown once): {password}", args.user_id);
            EXIT_OK
        }
        Ok(false) => no_tenant(args.tenant.as_deref().unwrap_or("")),
        Err(AccountError::Invalid(reason, field)) => {
            eprintln!("{field} {reason}");
            EXIT_INVALID
        }
        Err(AccountError::Db(err))
            if matches!(err.sql_err(), Some(muster_store::SqlErr::UniqueConstraintViolation(_))) =>
        {
            eprintln!(
                "the tenant already has a user with the user ID {:?} or the email {:?}",
                args.user_id, args.email
            );
            EXIT_INVALID
        }
        Err(AccountError::Db(err)) => {
            eprintln!("cannot create the admin: {err}");
            EXIT_UNAVAILABLE
        }
    }
}
