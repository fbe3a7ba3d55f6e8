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
    pub state: String,
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
