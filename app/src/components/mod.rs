pub mod bell;
pub mod layout;
pub mod new_password;
