use sea_orm::entity::prelude::*;

/// Mail a batch of a load owes to its rows `(after_index, last_index]`, until sent.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pending_mail")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub upload_id: i64,
    pub after_index: i32,
    pub last_index: i32,
    pub created_at: DateTimeUtc,
    pub claimed_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
