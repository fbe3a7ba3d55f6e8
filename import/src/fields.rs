//! Field values that cannot hold an invalid value ("parse, don't validate").
//! Each `parse` states the rule of SPEC 3.1 in its error's message.
use std::fmt;

/// Why a value was refused, phrased for the admin who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldError(pub String);

fn refuse(message: impl Into<String>) -> FieldError {
    FieldError(message.into())
}

macro_rules! text_newtype {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A login: 1–64 of `A-Z a-z 0-9 . _ @ -`, surrounding spaces removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);
text_newtype!(UserId);

impl UserId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(refuse("is required"));
        }
        if value.chars().count() > Self::MAX_LEN {
            return Err(refuse(format!("is longer than {} characters", Self::MAX_LEN)));
        }
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-')))
        {
            return Err(refuse(format!(
                "contains {bad:?}; only letters A-Z, digits, '.', '_', '@' and '-' are allowed"
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

/// An email address, syntactically valid, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);
text_newtype!(Email);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        let invalid = || refuse("is not a valid email address");
        if value.is_empty() {
            return Err(refuse("is required"));
        }
        if value.len() > Self::MAX_LEN {
            return Err(refuse(format!("is longer than {} characters", Self::MAX_LEN)));
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic));
        if local_ok && domain_ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(invalid())
        }
    }
}

/// A role or group name: 1–100 characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleName(String);
text_newtype!(RoleName);

impl RoleName {
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(refuse("is empty"));
        }
        if value.chars().count() > Self::MAX_LEN {
            return Err(refuse(format!("is longer than {} characters", Self::MAX_LEN)));
        }
        if value.chars().any(char::is_whitespace) {
            return Err(refuse("contains a space; role names have none"));
        }
        Ok(Self(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_accepts_the_allowed_characters_and_trims() {
        assert_eq!(UserId::parse("  pat.jones_1@x-y ").unwrap().as_str(), "pat.jones_1@x-y");
    }

    #[test]
    fn user_id_refuses_empty_long_and_foreign_characters() {
        assert_eq!(UserId::parse("  ").unwrap_err().0, "is required");
        assert!(UserId::parse(&"a".repeat(65)).unwrap_err().0.contains("64"));
        assert!(UserId::parse(&"a".repeat(64)).is_ok());
        let err = UserId::parse("pat jones").unwrap_err().0;
        assert!(err.contains("' '"), "{err}");
        assert!(UserId::parse("zoë").is_err());
    }

    #[test]
    fn email_accepts_ordinary_addresses() {
        for ok in ["bob@example.com", "o'neil+tag@nhs.uk", "zoë@exämple.de", "a.b@c.d.io"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn email_refuses_malformed_addresses() {
        for bad in ["bob@", "@x.com", "bob", "bob@x", "bob@@x.com", "b ob@x.com", "bob@x..com", ".bob@x.com", "bob@-x.com", "bob@x.c0m"] {
            assert_eq!(Email::parse(bad).unwrap_err().0, "is not a valid email address", "{bad}");
        }
        assert_eq!(Email::parse("").unwrap_err().0, "is required");
    }

    #[test]
    fn role_names_have_no_spaces_and_at_most_100_characters() {
        assert!(RoleName::parse("Coordinator").is_ok());
        assert!(RoleName::parse("Team Lead").is_err());
        assert!(RoleName::parse(&"r".repeat(101)).is_err());
        assert!(RoleName::parse(&"r".repeat(100)).is_ok());
    }
}
