use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upload_rows")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub upload_id: i64,
    pub row_index: i32,
    pub line: i32,
    pub status: String,
    pub selected: bool,
    pub record: Option<Json>,
    pub existing_user_id: Option<i64>,
    pub diagnostics: Option<Json>,
    pub changes: Option<Json>,
    pub result: Option<String>,
    pub outcome: Option<String>,
    /// The engine's sentence for the row, as the preview shows it.
    pub message: Option<String>,
    pub user_id: Option<String>,
    pub full_name: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
