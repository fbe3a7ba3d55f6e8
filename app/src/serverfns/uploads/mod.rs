//! The upload screens' server functions.
mod licences;

pub use licences::{licences, Licences, LicencesView};
