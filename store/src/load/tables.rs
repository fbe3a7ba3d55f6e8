//! The rows a load writes, column by column, and who it writes them as.
use crate::bulk::{self, Kind};
use crate::entity::user;
use chrono::Utc;

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

/// A new user's row for [`USER_COLUMNS`].
pub(super) fn user_row(u: &user::ActiveModel) -> bulk::Row {
    let text = |v: &sea_orm::ActiveValue<Option<String>>| v.clone().unwrap();
    bulk::Row::with_capacity(USER_COLUMNS.len())
        .int(u.tenant_id.clone().unwrap())
        .text(Some(&u.user_id.clone().unwrap()))
        .text(Some(&u.user_id_norm.clone().unwrap()))
        .text(text(&u.external_id).as_deref())
        .text(text(&u.external_id_norm).as_deref())
        .text(text(&u.title).as_deref())
        .text(text(&u.first_name).as_deref())
        .text(text(&u.last_name).as_deref())
        .text(Some(&u.email.clone().unwrap()))
        .text(Some(&u.email_norm.clone().unwrap()))
        .text(text(&u.mobile).as_deref())
        .text(text(&u.job_title).as_deref())
        .int(u.organisation_id.clone().unwrap())
        .text(Some(&u.state.clone().unwrap()))
        .bool(u.enabled.clone().unwrap())
        .text(Some(&u.task_notification.clone().unwrap()))
        .bool(u.change_password_next_time.clone().unwrap())
        .text(text(&u.password_hash).as_deref())
        .bool(u.is_tenant_admin.clone().unwrap())
        .time(Some(u.created_at.clone().unwrap()))
        .time(Some(u.updated_at.clone().unwrap()))
}

pub(super) const ROLE_MEMBER_COLUMNS: bulk::Columns =
    &[("tenant_id", Kind::BigInt), ("user_id", Kind::BigInt), ("role_id", Kind::BigInt)];
pub(super) const GROUP_MEMBER_COLUMNS: bulk::Columns =
    &[("tenant_id", Kind::BigInt), ("user_id", Kind::BigInt), ("group_id", Kind::BigInt)];
pub(super) const INVITATION_COLUMNS: bulk::Columns = &[
    ("tenant_id", Kind::BigInt),
    ("user_id", Kind::BigInt),
    ("token_hash", Kind::Text),
    ("expires_at", Kind::Timestamp),
    ("created_at", Kind::Timestamp),
];
