pub mod bell;
pub mod layout;
