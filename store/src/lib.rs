//! Muster's data layer. Every function takes `&DatabaseConnection` (or a transaction)
//! and is tenant-scoped by its arguments, so the same code and tests run on SQLite
//! and PostgreSQL.
pub mod auth;
pub mod bootstrap;
pub mod bulk;
pub mod db;
pub mod directory;
pub mod entity;
pub mod events;
pub mod invitations;
pub mod jobs;
pub mod load;
pub mod mappings;
pub mod memberships;
pub mod memory;
mod nodelay;
pub mod notifications;
pub mod own_connection;
pub mod passwords;
pub mod sessions;
pub mod tenants;
#[cfg(feature = "testing")]
pub mod testdb;
pub mod throttle;
pub mod tokens;
pub mod uploads;

pub use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr, SqlErr};
