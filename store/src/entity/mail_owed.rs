use sea_orm::entity::prelude::*;

/// A message a load owes one new user, until it was sent or cannot be.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_owed")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub upload_id: i64,
    pub upload_row_id: i64,
    pub user_id: Option<i64>,
    pub kind: String,
    pub attempts: i32,
    pub claimed_until: DateTimeUtc,
    pub claimed_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
