//! `muster-migrate up|down|status|fresh`, reading `DATABASE_URL`.
//! The server binary also migrates at start, so this is only for operators.
use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(muster_migrations::Migrator).await;
}
