//! The upload screens' server functions.
mod licences;
mod remember_mapping;
mod remembered_mapping;

pub use licences::{licences, Licences, LicencesView};
pub use remember_mapping::{remember_mapping, RememberMapping};
pub use remembered_mapping::{remembered_mapping, RememberedMapping};
