//! The schema of SPEC section 2. One migration set, run unchanged on SQLite and PostgreSQL.
//!
//! Case-insensitive uniqueness (userId, email, externalId, role and group names,
//! organisation codes, tenant slugs) is enforced with a `*_norm` column that holds
//! the trimmed, lower-cased value under a unique index. Both databases support that
//! identically, unlike `citext` or `COLLATE NOCASE`, and the import engine matches on
//! the same normalised form.
pub use sea_orm_migration::prelude::*;

mod foreign_keys;
mod m20261122_000001_schema;
mod m20261122_000002_users_by_tenant_and_id;
mod m20261122_000003_upload_files_in_parts;
mod m20261122_000004_tenant_keys_where_they_cascade;
mod m20261122_000005_cheaper_load_writes;
mod m20261130_000006_one_upload_per_file_in_progress;
mod m20261201_000007_pending_mail;
mod m20261206_000008_mail_owed_per_recipient;
mod m20261206_000009_sign_in_and_sessions;
mod m20261206_000010_heading_mappings;
mod m20261206_000011_events;
mod m20261206_000012_preview_details;
mod m20261207_000013_mail_owed_without_keys;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_schema::Migration),
            Box::new(m20261122_000002_users_by_tenant_and_id::Migration),
            Box::new(m20261122_000003_upload_files_in_parts::Migration),
            Box::new(m20261122_000004_tenant_keys_where_they_cascade::Migration),
            Box::new(m20261122_000005_cheaper_load_writes::Migration),
            Box::new(m20261130_000006_one_upload_per_file_in_progress::Migration),
            Box::new(m20261201_000007_pending_mail::Migration),
            Box::new(m20261206_000008_mail_owed_per_recipient::Migration),
            Box::new(m20261206_000009_sign_in_and_sessions::Migration),
            Box::new(m20261206_000010_heading_mappings::Migration),
            Box::new(m20261206_000011_events::Migration),
            Box::new(m20261206_000012_preview_details::Migration),
            Box::new(m20261207_000013_mail_owed_without_keys::Migration),
        ]
    }
}
