//! The bell's and `/notifications`' server functions.
mod bell_state;
mod list_notifications;
mod mark_read;

pub use bell_state::{bell_state, BellState, BellView, LoadingNow, NotificationView, BELL_LATEST};
pub use list_notifications::{list_notifications, ListNotifications, NotificationList, NOTIFICATIONS_PAGE};
pub use mark_read::{mark_read, MarkRead};

/// A notification as the pages show it.
#[cfg(feature = "ssr")]
fn view_of(n: muster_store::entity::notification::Model) -> NotificationView {
    NotificationView {
        id: n.id,
        kind: n.kind,
        message: n.message,
        upload_id: n.upload_id,
        read: n.read,
        created_at: n.created_at.to_rfc3339(),
    }
}
