//! `muster-migrate [up|down|status|fresh]` against `DATABASE_URL`. The server also
//! migrates at every start; this is for operators. (sea-orm-migration's own CLI is
//! not used: it brings in sea-orm-cli's code generator, minutes of build time.)
use muster_migrations::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::Database;

#[tokio::main]
async fn main() {
    let command = std::env::args().nth(1).unwrap_or_else(|| "up".into());
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("DATABASE_URL is not set");
        std::process::exit(2);
    };
    let db = match Database::connect(&url).await {
        Ok(db) => db,
        Err(err) => {
            eprintln!("cannot connect to the database: {err}");
            std::process::exit(1);
        }
    };
    let result = match command.as_str() {
        "up" => Migrator::up(&db, None).await,
        "down" => Migrator::down(&db, Some(1)).await,
        "status" => Migrator::status(&db).await,
        "fresh" => Migrator::fresh(&db).await,
        other => {
            eprintln!("unknown command {other:?}; use up, down, status or fresh");
            std::process::exit(2);
        }
    };
    if let Err(err) = result {
        eprintln!("{command} failed: {err}");
        std::process::exit(1);
    }
}
