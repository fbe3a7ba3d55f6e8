//! What each row will do to the tenant (SPEC section 4), computed against a
//! directory snapshot, and the checks of a file without one (the browser's).
mod first_pass;
mod planner;
mod validation;
use crate::decode::Encoding;
use crate::diagnostic::Diagnostic;
use crate::dialect::Delimiter;
use crate::directory::{Directory, DirectoryIndex};
use crate::field::Field;
use crate::layout::{Format, HeadingMapping};
use crate::row::UserRow;
pub use first_pass::*;
pub use planner::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
pub use validation::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RowStatus {
    New,
    Update,
    Unchanged,
    Leaver,
    Joiner,
    Delete,
    Old,
    Error,
    Skipped,
}

impl RowStatus {
    pub const ALL: [RowStatus; 9] = [
        RowStatus::New,
        RowStatus::Update,
        RowStatus::Unchanged,
        RowStatus::Leaver,
        RowStatus::Joiner,
        RowStatus::Delete,
        RowStatus::Old,
        RowStatus::Error,
        RowStatus::Skipped,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::New => "New",
            RowStatus::Update => "Update",
            RowStatus::Unchanged => "Unchanged",
            RowStatus::Leaver => "Leaver",
            RowStatus::Joiner => "Joiner",
            RowStatus::Delete => "Delete",
            RowStatus::Old => "Old",
            RowStatus::Error => "Error",
            RowStatus::Skipped => "Skipped",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    AddAndUpdate,
    AddNewOnly,
    UpdateOnly,
    Sync,
}

/// What a sync does with active users the file does not name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncAction {
    #[default]
    Report,
    MarkLeaver,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOptions {
    pub mode: Mode,
    pub sync_action: SyncAction,
    /// A sync that would retire or delete more than this share of the active
    /// users needs a second confirmation.
    pub sync_threshold_percent: u32,
    pub mapping: HeadingMapping,
    /// Lines the admin unticked in the preview.
    pub deselected: BTreeSet<u64>,
    /// Forces a delimiter instead of detecting it.
    pub delimiter: Option<Delimiter>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            sync_action: SyncAction::default(),
            sync_threshold_percent: 20,
            mapping: HeadingMapping::new(),
            deselected: BTreeSet::new(),
            delimiter: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub field: Field,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowPlan {
    /// `None` for Old rows: users the file does not name.
    pub line: Option<u64>,
    pub user_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub status: RowStatus,
    /// The preview's sentence for the row.
    pub message: String,
    pub diagnostics: Vec<Diagnostic>,
    pub changes: Vec<Change>,
    /// The directory user the row matched.
    pub existing_id: Option<i64>,
    /// The parsed values to apply (`None` for Old rows).
    pub row: Option<UserRow>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    #[serde(rename = "New")]
    pub new: u64,
    #[serde(rename = "Update")]
    pub update: u64,
    #[serde(rename = "Unchanged")]
    pub unchanged: u64,
    #[serde(rename = "Leaver")]
    pub leaver: u64,
    #[serde(rename = "Joiner")]
    pub joiner: u64,
    #[serde(rename = "Delete")]
    pub delete: u64,
    #[serde(rename = "Old")]
    pub old: u64,
    #[serde(rename = "Error")]
    pub error: u64,
    #[serde(rename = "Skipped")]
    pub skipped: u64,
}

impl Counts {
    pub fn add(&mut self, status: RowStatus) {
        *self.get_mut(status) += 1;
    }
    pub fn get(&self, status: RowStatus) -> u64 {
        let mut copy = *self;
        *copy.get_mut(status)
    }
    fn get_mut(&mut self, status: RowStatus) -> &mut u64 {
        match status {
            RowStatus::New => &mut self.new,
            RowStatus::Update => &mut self.update,
            RowStatus::Unchanged => &mut self.unchanged,
            RowStatus::Leaver => &mut self.leaver,
            RowStatus::Joiner => &mut self.joiner,
            RowStatus::Delete => &mut self.delete,
            RowStatus::Old => &mut self.old,
            RowStatus::Error => &mut self.error,
            RowStatus::Skipped => &mut self.skipped,
        }
    }
    pub fn total(&self) -> u64 {
        RowStatus::ALL.iter().map(|s| self.get(*s)).sum()
    }
}

/// Everything about a plan except its rows, which stream to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub format: Format,
    pub encoding: Encoding,
    pub delimiter: Delimiter,
    pub file_diagnostics: Vec<Diagnostic>,
    pub counts: Counts,
    pub roles_added: Vec<String>,
    pub groups_added: Vec<String>,
    /// A sync above the safeguard threshold: loading needs a second confirmation.
    pub needs_confirmation: bool,
}

impl PlanSummary {
    /// Whether the file as a whole may be loaded (rows may still have errors).
    pub fn file_ok(&self) -> bool {
        !self.file_diagnostics.iter().any(Diagnostic::is_error)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    #[serde(flatten)]
    pub summary: PlanSummary,
    pub rows: Vec<RowPlan>,
}

/// Plans every row against `directory`, handing each [`RowPlan`] to `sink` as soon
/// as it is made: memory stays bounded by the file's keys, not its rows.
pub fn plan_with(bytes: &[u8], directory: &Directory, options: &PlanOptions, sink: impl FnMut(RowPlan)) -> PlanSummary {
    plan_with_index(bytes, &DirectoryIndex::new(directory), options, sink)
}

/// [`plan_with`] on a directory already indexed (one index serves many plans).
pub fn plan_with_index(
    bytes: &[u8],
    dir: &DirectoryIndex<'_>,
    options: &PlanOptions,
    sink: impl FnMut(RowPlan),
) -> PlanSummary {
    FirstPass::read(bytes, options).plan(dir, options, sink)
}

/// [`plan_with`], collecting the rows.
pub fn plan(bytes: &[u8], directory: &Directory, options: &PlanOptions) -> Plan {
    let mut rows = Vec::new();
    let summary = plan_with(bytes, directory, options, |row| rows.push(row));
    Plan { summary, rows }
}
