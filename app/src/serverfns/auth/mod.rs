mod change_password;
mod current_session;
mod sign_in;
mod sign_out;

pub use change_password::{change_password, ChangePassword};
pub use current_session::{current_session, CurrentSession};
pub use sign_in::{sign_in, SignIn};
pub use sign_out::{sign_out, SignOut};
