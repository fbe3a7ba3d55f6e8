//! Server functions, one per file, grouped by area.
pub mod auth;
pub mod invitations;
pub mod notifications;
pub mod uploads;
