//! The fields of the standard format (SPEC 3.1): their headings, aliases and order.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Field {
    #[serde(rename = "userId")]
    UserId,
    #[serde(rename = "externalId")]
    ExternalId,
    #[serde(rename = "tenant")]
    Tenant,
    #[serde(rename = "title")]
    Title,
    #[serde(rename = "firstName")]
    FirstName,
    #[serde(rename = "lastName")]
    LastName,
    #[serde(rename = "email")]
    Email,
    #[serde(rename = "mobile")]
    Mobile,
    #[serde(rename = "jobTitle")]
    JobTitle,
    #[serde(rename = "organisation")]
    Organisation,
    #[serde(rename = "status")]
    Status,
    #[serde(rename = "enabled")]
    Enabled,
    #[serde(rename = "reportsTo")]
    ReportsTo,
    #[serde(rename = "roles")]
    Roles,
    #[serde(rename = "groups")]
    Groups,
    #[serde(rename = "taskNotification")]
    TaskNotification,
    #[serde(rename = "changePasswordNextTime")]
    ChangePasswordNextTime,
    #[serde(rename = "notifyIfNewUser")]
    NotifyIfNewUser,
    #[serde(rename = "password")]
    Password,
    #[serde(rename = "transaction")]
    Transaction,
}

impl Field {
    /// In the sample file's order.
    pub const ALL: [Field; 20] = [
        Field::UserId,
        Field::ExternalId,
        Field::Tenant,
        Field::Title,
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Mobile,
        Field::JobTitle,
        Field::Organisation,
        Field::Status,
        Field::Enabled,
        Field::ReportsTo,
        Field::Roles,
        Field::Groups,
        Field::TaskNotification,
        Field::ChangePasswordNextTime,
        Field::NotifyIfNewUser,
        Field::Password,
        Field::Transaction,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn index(self) -> usize {
        self as usize
    }

    /// The heading of the sample file.
    pub fn name(self) -> &'static str {
        match self {
            Field::UserId => "userId",
            Field::ExternalId => "externalId",
            Field::Tenant => "tenant",
            Field::Title => "title",
            Field::FirstName => "firstName",
            Field::LastName => "lastName",
            Field::Email => "email",
            Field::Mobile => "mobile",
            Field::JobTitle => "jobTitle",
            Field::Organisation => "organisation",
            Field::Status => "status",
            Field::Enabled => "enabled",
            Field::ReportsTo => "reportsTo",
            Field::Roles => "roles",
            Field::Groups => "groups",
            Field::TaskNotification => "taskNotification",
            Field::ChangePasswordNextTime => "changePasswordNextTime",
            Field::NotifyIfNewUser => "notifyIfNewUser",
            Field::Password => "password",
            Field::Transaction => "transaction",
        }
    }

    /// Other headings accepted for the field, besides its name.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::UserId => &["username", "user id", "login"],
            Field::ExternalId => &["local id", "external sync id", "externalsyncid", "employee id"],
            Field::FirstName => &["first name", "firstname", "forename", "given name"],
            Field::LastName => &["last name", "surname", "family name"],
            Field::Email => &["email address", "mail"],
            Field::Mobile => &["mobile number", "phone"],
            Field::JobTitle => &["job title"],
            Field::Organisation => &["organisation code", "organisation odscode", "ods code", "org code"],
            Field::ReportsTo => &["manager"],
            Field::TaskNotification => &["task notification"],
            Field::ChangePasswordNextTime => &["change password next time"],
            Field::NotifyIfNewUser => &["notify if new user"],
            Field::Transaction => &["action"],
            _ => &[],
        }
    }

    /// The field a heading names, compared without regard to case, spaces, `_` or `-`.
    pub fn from_heading(heading: &str) -> Option<Field> {
        let key = heading_key(heading);
        Field::ALL.into_iter().find(|field| {
            heading_key(field.name()) == key || field.aliases().iter().any(|alias| heading_key(alias) == key)
        })
    }
}

/// A heading as compared: lower case, without spaces, `_` or `-`.
pub fn heading_key(heading: &str) -> String {
    heading.chars().filter(|c| !c.is_whitespace() && *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_match_names_and_aliases_loosely() {
        assert_eq!(Field::from_heading("userId"), Some(Field::UserId));
        assert_eq!(Field::from_heading(" USER_ID "), Some(Field::UserId));
        assert_eq!(Field::from_heading("User-Name"), Some(Field::UserId));
        assert_eq!(Field::from_heading("Organisation ODSCode"), Some(Field::Organisation));
        assert_eq!(Field::from_heading("ExternalSyncID"), Some(Field::ExternalId));
        assert_eq!(Field::from_heading("surname"), Some(Field::LastName));
        assert_eq!(Field::from_heading("Change Password Next Time"), Some(Field::ChangePasswordNextTime));
        assert_eq!(Field::from_heading("EmailAddress"), Some(Field::Email));
        assert_eq!(Field::from_heading("shoe size"), None);
    }

    #[test]
    fn no_alias_names_two_fields() {
        let mut seen = std::collections::HashMap::new();
        for field in Field::ALL {
            for heading in std::iter::once(field.name()).chain(field.aliases().iter().copied()) {
                if let Some(other) = seen.insert(heading_key(heading), field) {
                    assert_eq!(other, field, "{heading}");
                }
            }
        }
        for (i, field) in Field::ALL.into_iter().enumerate() {
            assert_eq!(field.index(), i);
        }
    }
}
