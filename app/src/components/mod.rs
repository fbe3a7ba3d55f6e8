pub mod bell;
pub mod layout;
pub mod live;
pub mod new_password;
