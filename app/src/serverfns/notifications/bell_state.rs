use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationView {
    pub id: i64,
    pub kind: String,
    pub message: String,
    pub upload_id: Option<i64>,
    pub read: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// The tenant's load running now, as far as it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadingNow {
    pub upload_id: i64,
    pub rows_done: i64,
    pub rows_total: i64,
}

/// What the bell shows, read from the database.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BellView {
    pub unread: u64,
    /// The latest few, newest first.
    pub latest: Vec<NotificationView>,
    pub loading: Option<LoadingNow>,
    /// The event stream's cursor when this was read.
    pub cursor: i64,
    /// Whether the bell follows the event stream: a tenant admin's does; a
    /// platform admin's has nothing to hear (the stream would refuse it).
    pub follows: bool,
}

/// How many notifications the bell lists.
pub const BELL_LATEST: u64 = 5;

/// The signed-in admin's bell: a tenant admin's unread count, latest
/// notifications and the tenant's running load; empty for anyone else.
#[server(endpoint = "bell_state")]
pub async fn bell_state() -> Result<BellView, AppError> {
    use muster_store::auth::Principal;
    let Some(Principal::TenantUser { tenant_id, user_pk, is_admin: true, .. }) =
        crate::ssr::current_principal().await?
    else {
        return Ok(BellView::default());
    };
    let state = expect_context::<crate::ssr::AppState>();
    let db = &state.db;
    let cursor = muster_store::events::latest_id(db, tenant_id).await?;
    let latest = muster_store::notifications::latest(db, tenant_id, user_pk, None, BELL_LATEST).await?;
    let loading = muster_store::uploads::running(db, tenant_id).await?.map(|u| LoadingNow {
        upload_id: u.id,
        rows_done: u.rows_done.into(),
        rows_total: u.rows_total.into(),
    });
    Ok(BellView {
        unread: muster_store::notifications::unread(db, tenant_id, user_pk).await?,
        latest: latest.into_iter().map(super::view_of).collect(),
        loading,
        cursor,
        follows: true,
    })
}
