//! The import engine: the single source of truth for SPEC sections 3 and 4.
//!
//! The browser (through WebAssembly) and the server call these same functions on
//! the same bytes, so both give the same verdict. Nothing here touches a database,
//! a file system or a clock: callers hand in bytes and a directory snapshot.
pub mod decode;
pub mod diagnostic;
pub mod dialect;
pub mod directory;
pub mod export;
pub mod field;
pub mod fields;
mod file_index;
pub mod fingerprint;
pub mod layout;
mod parts;
pub mod plan;
pub mod results;
pub mod row;
pub mod samples;
mod scan;
pub mod sizes;
pub mod source;
pub mod synth;
mod threads;
mod vendor;

pub use decode::Encoding;
pub use diagnostic::{Diagnostic, Severity};
pub use dialect::Delimiter;
pub use directory::{Directory, DirectoryIndex, DirectoryUser, Organisation};
pub use field::Field;
pub use fields::{Email, FieldError, RoleName, UserId};
pub use file_index::FileKeys;
pub use layout::{Format, HeadingMapping};
pub use plan::{
    plan, plan_with, plan_with_index, validate, Counts, FirstPass, Mode, Plan, PlanOptions, PlanSummary, RowPlan,
    RowStatus, SyncAction,
};
pub use row::UserRow;

/// The form under which keys are compared: matching ignores case and surrounding spaces.
/// Character by character, so that it agrees with [`fingerprint::fingerprint`].
pub fn normalize_key(value: &str) -> String {
    let value = value.trim();
    if value.is_ascii() {
        value.to_ascii_lowercase()
    } else {
        value.chars().flat_map(char::to_lowercase).collect()
    }
}
