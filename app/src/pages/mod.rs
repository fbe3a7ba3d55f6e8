//! One module per screen of SPEC section 6.
mod change_password;
mod home;
mod invitation;
mod not_found;
mod notifications;
mod placeholders;
mod sign_in;
mod upload;
mod upload_detail;
mod uploads;

pub use change_password::ChangePasswordPage;
pub use home::HomePage;
pub use invitation::InvitationPage;
pub use not_found::NotFoundPage;
pub use notifications::NotificationsPage;
pub use placeholders::*;
pub use sign_in::SignInPage;
pub use upload::UploadPage;
pub use upload_detail::UploadDetailPage;
pub use uploads::UploadsPage;
