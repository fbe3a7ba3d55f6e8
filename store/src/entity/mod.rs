//! One module per table. The schema itself is in `muster-migrations`.
pub mod audit_event;
pub mod group;
pub mod invitation;
pub mod job;
pub mod mail_owed;
pub mod organisation;
pub mod platform_admin;
pub mod role;
pub mod session;
pub mod sign_in_failure;
pub mod tenant;
pub mod upload;
pub mod upload_part;
pub mod upload_row;
pub mod user;
pub mod user_group;
pub mod user_role;
