use super::NotificationView;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationList {
    pub items: Vec<NotificationView>,
    /// Where the next (older) page starts; `None` on the last.
    pub older: Option<i64>,
    pub unread: u64,
    pub cursor: i64,
}

pub const NOTIFICATIONS_PAGE: u64 = 25;

/// The signed-in admin's notifications, newest first, before `before` (an id).
#[server(endpoint = "list_notifications")]
pub async fn list_notifications(before: Option<i64>) -> Result<NotificationList, AppError> {
    let (tenant_id, user_pk) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    let db = &state.db;
    let cursor = muster_store::events::latest_id(db, tenant_id).await?;
    let mut items = muster_store::notifications::latest(db, tenant_id, user_pk, before, NOTIFICATIONS_PAGE + 1).await?;
    let older = if items.len() as u64 > NOTIFICATIONS_PAGE {
        items.truncate(NOTIFICATIONS_PAGE as usize);
        items.last().map(|n| n.id)
    } else {
        None
    };
    Ok(NotificationList {
        items: items.into_iter().map(super::view_of).collect(),
        older,
        unread: muster_store::notifications::unread(db, tenant_id, user_pk).await?,
        cursor,
    })
}
