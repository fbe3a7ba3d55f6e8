//! The one error type of the server-function boundary: what the browser may learn.
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in.")]
    NotSignedIn,
    #[error("You are not allowed to do that.")]
    Forbidden,
    #[error("The tenant, user ID or password is not correct.")]
    BadCredentials,
    #[error("Too many failed sign-in attempts. Try again in {minutes} minute(s).")]
    Throttled { minutes: u64 },
    #[error("The server is busy. Please try again in a moment.")]
    Busy,
    #[error("{0}")]
    Invalid(String),
    /// Details are logged on the server, never sent to the browser.
    #[error("Something went wrong on the server. It has been logged; please try again.")]
    Internal,
    #[error("{0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// Logs an unexpected failure with its cause and hides it from the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "server function failed");
        AppError::Internal
    }
}

/// An upload the store did not take: too large is said; a duplicate is the
/// caller's to show (it names the upload), and reaches here only unlooked-for.
#[cfg(feature = "ssr")]
impl From<muster_store::uploads::UploadError> for AppError {
    fn from(err: muster_store::uploads::UploadError) -> Self {
        use muster_store::uploads::UploadError;
        match err {
            UploadError::Db(err) => AppError::internal(err),
            other => AppError::Invalid(other.to_string()),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        AppError::internal(err)
    }
}
