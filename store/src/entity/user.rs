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
    pub state: UserState,
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

/// A user is active, or a leaver (kept, without a licence, until re-admitted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum UserState {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "leaver")]
    Leaver,
}

impl UserState {
    /// The text the database holds, for statements that write it as text.
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Leaver => "leaver",
        }
    }
}

impl std::fmt::Display for UserState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Model {
    pub fn display_name(&self) -> String {
        match (self.first_name.as_deref(), self.last_name.as_deref()) {
            (Some(f), Some(l)) => format!("{f} {l}"),
            (Some(n), None) | (None, Some(n)) => n.to_owned(),
            (None, None) => self.user_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{job::JobState, upload::UploadState};
    use super::UserState;
    use sea_orm::{ActiveEnum, Iterable};

    /// The text each state writes by hand is the text sea-orm writes.
    #[test]
    fn each_state_s_text_is_the_database_s() {
        for s in UserState::iter() {
            assert_eq!(s.as_str(), s.to_value());
        }
        for s in UploadState::iter() {
            assert_eq!(s.as_str(), s.to_value());
        }
        for s in JobState::iter() {
            assert_eq!(s.as_str(), s.to_value());
        }
    }
}
