use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: i64,
    pub user_id: String,
    pub user_id_norm: String,
    pub external_id: Option<String>,
    pub external_id_norm: Option<String>,
    pub title: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub email_norm: String,
    pub mobile: Option<String>,
    pub job_title: Option<String>,
    pub organisation_id: Option<i64>,
    pub state: String,
    pub enabled: bool,
    pub reports_to_id: Option<i64>,
    pub task_notification: String,
    pub change_password_next_time: bool,
    pub password_hash: Option<String>,
    pub is_tenant_admin: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_sign_in_at: Option<DateTimeUtc>,
    /// When the user last set their own password (never by an admin or a load).
    pub password_changed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn display_name(&self) -> String {
        match (self.first_name.as_deref(), self.last_name.as_deref()) {
            (Some(f), Some(l)) => format!("{f} {l}"),
            (Some(n), None) | (None, Some(n)) => n.to_owned(),
            (None, None) => self.user_id.clone(),
        }
    }
}
