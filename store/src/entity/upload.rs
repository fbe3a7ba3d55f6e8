use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "uploads")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub uploaded_by: Option<i64>,
    pub file_name: String,
    pub content_hash: String,
    pub format: String,
    pub encoding: String,
    pub delimiter: String,
    pub options: Option<Json>,
    pub state: UploadState,
    pub plan_summary: Option<Json>,
    pub rows_total: i32,
    pub rows_done: i32,
    pub summary: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub queued_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// The server's check of the file's own rules counted differently from the browser's.
    pub check_differs: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Where an upload is (SPEC 2): checked on the server, planned, queued,
/// loading, and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum UploadState {
    #[sea_orm(string_value = "validating")]
    Validating,
    #[sea_orm(string_value = "ready")]
    Ready,
    #[sea_orm(string_value = "queued")]
    Queued,
    #[sea_orm(string_value = "running")]
    Running,
    #[sea_orm(string_value = "done")]
    Done,
    #[sea_orm(string_value = "failed")]
    Failed,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl UploadState {
    /// States in which the same file again is the same upload, not a new one.
    pub const IN_PROGRESS: [UploadState; 4] =
        [UploadState::Validating, UploadState::Ready, UploadState::Queued, UploadState::Running];

    /// The text the database holds (and pages and events carry).
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Validating => "validating",
            UploadState::Ready => "ready",
            UploadState::Queued => "queued",
            UploadState::Running => "running",
            UploadState::Done => "done",
            UploadState::Failed => "failed",
            UploadState::Cancelled => "cancelled",
        }
    }

    /// Loaded, or given up: nothing more happens to it.
    pub fn is_finished(self) -> bool {
        matches!(self, UploadState::Done | UploadState::Failed)
    }
}

impl std::fmt::Display for UploadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
