//! The rows a load writes, column by column, and who it writes them as.
use crate::bulk::{self, Kind};
use crate::entity::user::UserState;
use chrono::{DateTime, Utc};
use muster_import::{normalize_key, UserRow};

/// Who makes a load's changes, and in which tenant and upload: what every audit
/// event of the load shares.
pub(super) struct Actor {
    pub(super) user_id: Option<i64>,
    pub(super) label: String,
    pub(super) tenant_id: i64,
    pub(super) upload_id: i64,
}

pub(super) fn audit(
    actor: &Actor,
    action: &str,
    kind: &str,
    id: Option<i64>,
    target: &str,
    details: Option<serde_json::Value>,
) -> bulk::Row {
    let actor_label: String = actor.label.chars().take(128).collect();
    let target: String = target.chars().take(254).collect();
    bulk::Row::with_capacity(AUDIT_COLUMNS.len())
        .int(actor.tenant_id)
        .int(actor.user_id)
        .text(Some(&actor_label))
        .text(Some(action))
        .text(Some(kind))
        .int(id)
        .text(Some(&target))
        .int(actor.upload_id)
        .json(details)
        .time(Some(Utc::now()))
}

pub(super) const AUDIT_COLUMNS: bulk::Columns = &[
    ("tenant_id", Kind::BigInt),
    ("actor_user_id", Kind::BigInt),
    ("actor", Kind::Text),
    ("action", Kind::Text),
    ("target_kind", Kind::Text),
    ("target_id", Kind::BigInt),
    ("target", Kind::Text),
    ("upload_id", Kind::BigInt),
    ("details", Kind::Json),
    ("created_at", Kind::Timestamp),
];

pub(super) const USER_COLUMNS: bulk::Columns = &[
    ("tenant_id", Kind::BigInt),
    ("user_id", Kind::Text),
    ("user_id_norm", Kind::Text),
    ("external_id", Kind::Text),
    ("external_id_norm", Kind::Text),
    ("title", Kind::Text),
    ("first_name", Kind::Text),
    ("last_name", Kind::Text),
    ("email", Kind::Text),
    ("email_norm", Kind::Text),
    ("mobile", Kind::Text),
    ("job_title", Kind::Text),
    ("organisation_id", Kind::BigInt),
    ("state", Kind::Text),
    ("enabled", Kind::Bool),
    ("task_notification", Kind::Text),
    ("change_password_next_time", Kind::Bool),
    ("password_hash", Kind::Text),
    ("is_tenant_admin", Kind::Bool),
    ("created_at", Kind::Timestamp),
    ("updated_at", Kind::Timestamp),
];

/// A new user's row for [`USER_COLUMNS`]: active, not an admin, the manager
/// linked later (`managers`).
pub(super) fn new_user_row(
    tenant_id: i64,
    row: &UserRow,
    organisation_id: Option<i64>,
    password_hash: Option<&str>,
    now: DateTime<Utc>,
) -> bulk::Row {
    let user_id = row.user_id.as_ref().map_or("", |u| u.as_str());
    let email = row.email.as_ref().map_or("", |e| e.as_str());
    let external_id = row.external_id.as_ref().map(|x| x.as_str());
    bulk::Row::with_capacity(USER_COLUMNS.len())
        .int(tenant_id)
        .text(Some(user_id))
        .text(Some(&normalize_key(user_id)))
        .text(external_id)
        .text(external_id.map(normalize_key).as_deref())
        .text(row.title.as_deref())
        .text(row.first_name.as_deref())
        .text(row.last_name.as_deref())
        .text(Some(email))
        .text(Some(&normalize_key(email)))
        .text(row.mobile.as_ref().map(|m| m.as_str()))
        .text(row.job_title.as_deref())
        .int(organisation_id)
        .text(Some(UserState::Active.as_str()))
        .bool(row.enabled.unwrap_or(true))
        .text(Some(row.task_notification.map_or("Email", |t| t.as_str())))
        // A password from the file or generated has been seen by others (the
        // admin, the mail on its way): its user must replace it at first sign-in.
        .bool(row.change_password_next_time.unwrap_or(false) || password_hash.is_some())
        .text(password_hash)
        .bool(false)
        .time(Some(now))
        .time(Some(now))
}

pub(super) const INVITATION_COLUMNS: bulk::Columns = &[
    ("tenant_id", Kind::BigInt),
    ("user_id", Kind::BigInt),
    ("token_hash", Kind::Text),
    ("expires_at", Kind::Timestamp),
    ("created_at", Kind::Timestamp),
];
