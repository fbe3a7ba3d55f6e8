//! A new user's invitation link: open it, choose a password. The link's token is
//! the credential, so these need no session.
mod accept_invitation;
mod open_invitation;

pub use accept_invitation::{accept_invitation, AcceptInvitation};
pub use open_invitation::{open_invitation, InvitationView, OpenInvitation};

/// Why a plain form post (before the WebAssembly has loaded) failed, carried back
/// to the page in `?result=`; the hydrated page shows the server's own message.
pub fn result_message(code: &str) -> Option<&'static str> {
    match code {
        "set" => Some("Your password is set."),
        "mismatch" => Some("The two passwords differ. Type the same password twice."),
        "weak" => Some("The password needs at least 10 characters, with a letter and a digit."),
        "used" => Some("This invitation link has already been used."),
        "expired" => Some("This invitation link has expired. Ask your administrator for a new one."),
        "unknown" => Some("This invitation link is not valid. Ask your administrator for a new one."),
        "inactive" => Some("This account is not active, so its password cannot be set. Ask your administrator."),
        "error" => Some("Something went wrong on the server. Please try again."),
        _ => None,
    }
}
