//! Field values that cannot hold an invalid value ("parse, don't validate").
//! Each rule of SPEC 3.1 lives in exactly one `check`; `parse` is `check` plus
//! ownership, so the validating pass (which allocates nothing for good values)
//! and the planning pass apply the same rule.
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused, phrased to follow the value in a message:
/// `"bob@" is not a valid email address`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldError(pub String);

fn refuse(message: impl Into<String>) -> FieldError {
    FieldError(message.into())
}

fn check_len(value: &str, max: usize) -> Result<(), FieldError> {
    // Byte length bounds the character count from above: most values skip the count.
    if value.len() > max && value.chars().count() > max {
        Err(refuse(format!("is longer than {max} characters")))
    } else {
        Ok(())
    }
}

/// A key of free text (an externalId, an organisation's code): trimmed, not
/// empty, no control characters, at most `max` characters.
fn key_text(raw: &str, controls: Controls, max: usize) -> Result<&str, FieldError> {
    let value = trim(raw);
    if value.is_empty() {
        return Err(refuse("is empty"));
    }
    check_no_control(value, controls)?;
    check_len(value, max)?;
    Ok(value)
}

/// `str::trim`, with a quick way out for the usual cell that has nothing to trim.
#[inline(always)]
pub fn trim(value: &str) -> &str {
    let solid = |c: Option<char>| c.is_some_and(|c| !c.is_whitespace());
    if value.is_empty() || (solid(value.chars().next()) && solid(value.chars().next_back())) {
        value
    } else {
        value.trim()
    }
}

/// Whether every character of `value` passes: by bytes when the text is ASCII
/// (most cells), by characters otherwise.
fn all_chars(value: &str, ascii: impl Fn(u8) -> bool, other: impl Fn(char) -> bool) -> bool {
    if value.is_ascii() {
        value.bytes().all(ascii)
    } else {
        value.chars().all(other)
    }
}

/// Whether every byte is printable ASCII other than the space (`!` to `~`): no
/// white space, no control character, one byte a character.
#[inline]
pub(crate) fn printable_ascii(value: &str) -> bool {
    value.bytes().all(|b| matches!(b, b'!'..=b'~'))
}

/// Whether a value still has to be searched for control characters: the
/// values of a record read whole may be known to have none
/// ([`crate::source::Record::free_of_controls`]), which spares each cell its search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Controls {
    Search,
    KnownAbsent,
}

fn check_no_control(value: &str, controls: Controls) -> Result<(), FieldError> {
    if controls == Controls::KnownAbsent {
        return Ok(());
    }
    // Control characters are C0 and DEL (single bytes) and C1 (U+0080–U+009F,
    // whose UTF-8 starts with 0xC2): a text without those bytes has none. The
    // same test as a record's reading makes, so that skipping it is safe.
    if !crate::scan::may_hold_control(value.as_bytes()) {
        return Ok(());
    }
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(refuse(format!("contains the control character U+{:04X}", c as u32))),
        None => Ok(()),
    }
}

macro_rules! text_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                Self::check(raw).map(Self::from_checked)
            }
            /// For a value that `check` returned.
            pub(crate) fn from_checked(value: &str) -> Self {
                Self(value.to_owned())
            }
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
        impl TryFrom<String> for $name {
            type Error = FieldError;
            fn try_from(value: String) -> Result<Self, FieldError> {
                Self::parse(&value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

text_newtype!(
    /// A login: 1–64 of `A-Z a-z 0-9 . _ @ -`, surrounding spaces removed.
    UserId
);
impl UserId {
    pub const MAX_LEN: usize = 64;
    pub fn check(raw: &str) -> Result<&str, FieldError> {
        let value = trim(raw);
        if value.is_empty() {
            return Err(refuse("is required"));
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-');
        if !value.bytes().all(allowed) {
            let bad = value.chars().find(|&c| !(c.is_ascii() && allowed(c as u8))).unwrap_or_default();
            return Err(refuse(format!(
                "contains {bad:?}; only letters A-Z, digits, '.', '_', '@' and '-' are allowed"
            )));
        }
        check_len(value, Self::MAX_LEN)?;
        Ok(value)
    }
}

text_newtype!(
    /// An email address, syntactically valid, at most 254 characters.
    Email
);
impl Email {
    pub const MAX_LEN: usize = 254;
    pub fn check(raw: &str) -> Result<&str, FieldError> {
        let value = trim(raw);
        if value.is_empty() {
            return Err(refuse("is required"));
        }
        check_len(value, Self::MAX_LEN)?;
        // Nearly every address is ASCII: one look at its bytes, without the
        // searches and character decoding of the general rule (a property test
        // checks that both agree on ASCII).
        let valid = if value.is_ascii() { ascii_address_ok(value.as_bytes()) } else { address_ok(value) };
        if valid {
            Ok(value)
        } else {
            Err(refuse("is not a valid email address"))
        }
    }
}

/// The syntax of an address: a local part of atext and dots (no dot first,
/// last or twice in a row), `@`, and two or more labels of letters, digits and
/// hyphens (none first or last), the last all letters and two or more long.
fn address_ok(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else { return false };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && all_chars(
            local,
            |b| LOCAL_PART[usize::from(b)],
            |c| c.is_alphanumeric() || (c.is_ascii() && LOCAL_PART[c as usize]),
        );
    let mut labels = 0;
    let mut labels_ok = true;
    let mut last = "";
    for label in domain.split('.') {
        labels += 1;
        last = label;
        labels_ok &= !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && all_chars(label, |b| b.is_ascii_alphanumeric() || b == b'-', |c| c.is_alphanumeric() || c == '-');
    }
    let tld_ok = last.chars().count() >= 2 && all_chars(last, |b| b.is_ascii_alphabetic(), char::is_alphabetic);
    local_ok && labels >= 2 && labels_ok && tld_ok
}

/// [`address_ok`] for an ASCII address, in one pass over its bytes (no search
/// for the `@` first: neither part may hold one, so the first is the last).
fn ascii_address_ok(value: &[u8]) -> bool {
    let Some(at) = local_part_end(value) else { return false };
    // The domain: labels of letters, digits and hyphens between dots.
    let (mut labels, mut label_len, mut last, mut all_letters) = (0, 0, b'.', true);
    for &b in &value[at + 1..] {
        if b == b'.' {
            if label_len == 0 || label_len > 63 || last == b'-' {
                return false;
            }
            (labels, label_len, all_letters) = (labels + 1, 0, true);
        } else if b.is_ascii_alphanumeric() || (b == b'-' && label_len > 0) {
            label_len += 1;
            all_letters &= b.is_ascii_alphabetic();
        } else {
            return false;
        }
        last = b;
    }
    // The last label, the top-level domain: two letters or more.
    labels >= 1 && (2..=63).contains(&label_len) && last != b'-' && all_letters
}

/// Where the `@` after a valid local part is: atext and dots, at most 64, no
/// dot first, last or twice in a row.
fn local_part_end(value: &[u8]) -> Option<usize> {
    let mut after_dot = true;
    for (at, &b) in value.iter().enumerate() {
        if b == b'@' {
            return (at > 0 && at <= 64 && !after_dot).then_some(at);
        }
        let dot = b == b'.';
        if !LOCAL_PART.get(usize::from(b)).is_some_and(|&ok| ok) || (dot && after_dot) {
            return None;
        }
        after_dot = dot;
    }
    None
}

/// The ASCII characters an email address's local part may hold: letters, digits,
/// RFC 5322's other atext characters, and the dot.
const LOCAL_PART: [bool; 128] = {
    let mut table = [false; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let specials = b"!#$%&'*+/=?^_`{|}~.-";
    let mut i = 0;
    while i < specials.len() {
        table[specials[i] as usize] = true;
        i += 1;
    }
    table
};

text_newtype!(
    /// A role or group name: 1–100 characters, no spaces.
    RoleName
);
impl RoleName {
    pub const MAX_LEN: usize = 100;
    pub fn check(raw: &str) -> Result<&str, FieldError> {
        Self::check_with(raw, Controls::Search)
    }
    pub(crate) fn check_with(raw: &str, controls: Controls) -> Result<&str, FieldError> {
        let value = trim(raw);
        if value.is_empty() {
            return Err(refuse("is empty"));
        }
        if value.len() <= Self::MAX_LEN && printable_ascii(value) {
            return Ok(value);
        }
        if !all_chars(value, |b| !matches!(b, b'\t'..=b'\r' | b' '), |c| !c.is_whitespace()) {
            return Err(refuse("contains a space; role and group names have none"));
        }
        check_no_control(value, controls)?;
        check_len(value, Self::MAX_LEN)?;
        Ok(value)
    }
}

text_newtype!(
    /// The key of the admin's own HR system: at most 128 characters.
    ExternalId
);
impl ExternalId {
    pub const MAX_LEN: usize = 128;
    pub fn check(raw: &str) -> Result<&str, FieldError> {
        Self::check_with(raw, Controls::Search)
    }
    pub(crate) fn check_with(raw: &str, controls: Controls) -> Result<&str, FieldError> {
        key_text(raw, controls, Self::MAX_LEN)
    }
}

text_newtype!(
    /// Digits, spaces and `+ ( ) -`, with at least one digit; at most 40 characters.
    Mobile
);
impl Mobile {
    pub const MAX_LEN: usize = 40;
    pub fn check(raw: &str) -> Result<&str, FieldError> {
        let value = trim(raw);
        let allowed = |b: u8| b.is_ascii_digit() || matches!(b, b' ' | b'+' | b'(' | b')' | b'-');
        if !value.bytes().all(allowed) {
            let bad = value.chars().find(|&c| !(c.is_ascii() && allowed(c as u8))).unwrap_or_default();
            return Err(refuse(format!("contains {bad:?}; a mobile number has only digits, spaces and + ( ) -")));
        }
        if !value.bytes().any(|b| b.is_ascii_digit()) {
            return Err(refuse("has no digits"));
        }
        check_len(value, Self::MAX_LEN)?;
        Ok(value)
    }
}

text_newtype!(
    /// The short code of an organisation unit (like an ODS code): at most 32 characters.
    OrgCode
);
impl OrgCode {
    pub const MAX_LEN: usize = 32;
    pub fn check(raw: &str) -> Result<&str, FieldError> {
        Self::check_with(raw, Controls::Search)
    }
    pub(crate) fn check_with(raw: &str, controls: Controls) -> Result<&str, FieldError> {
        key_text(raw, controls, Self::MAX_LEN)
    }
}

/// Free text with a length limit: title (20), names (100), job title (200).
pub fn check_text(raw: &str, max: usize) -> Result<&str, FieldError> {
    check_text_with(raw, max, Controls::Search)
}
pub(crate) fn check_text_with(raw: &str, max: usize, controls: Controls) -> Result<&str, FieldError> {
    let value = trim(raw);
    check_no_control(value, controls)?;
    check_len(value, max)?;
    Ok(value)
}

pub const TITLE_MAX: usize = 20;
pub const NAME_MAX: usize = 100;
pub const JOB_TITLE_MAX: usize = 200;

/// `true/false/yes/no/1/0`, any case. The same words for every yes-or-no column.
pub fn parse_flag(raw: &str) -> Result<bool, FieldError> {
    let value = trim(raw);
    let (word, flag) = match value.len() {
        1 if value == "1" => return Ok(true),
        1 if value == "0" => return Ok(false),
        2 => ("no", false),
        3 => ("yes", true),
        4 => ("true", true),
        5 => ("false", false),
        _ => ("", false),
    };
    if !word.is_empty() && value.eq_ignore_ascii_case(word) {
        Ok(flag)
    } else {
        Err(refuse("must be true or false (or yes/no, 1/0)"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskNotification {
    Email,
    #[serde(rename = "OFF")]
    Off,
}

impl TaskNotification {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = trim(raw);
        if value.eq_ignore_ascii_case("email") {
            Ok(Self::Email)
        } else if value.eq_ignore_ascii_case("off") {
            Ok(Self::Off)
        } else {
            Err(refuse("must be Email or OFF"))
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "Email",
            Self::Off => "OFF",
        }
    }
}

/// `status`: blank (no change) or `leaver`.
pub fn parse_leaver(raw: &str) -> Result<bool, FieldError> {
    let value = trim(raw);
    if value.is_empty() {
        Ok(false)
    } else if value.eq_ignore_ascii_case("leaver") {
        Ok(true)
    } else {
        Err(refuse("must be blank or leaver"))
    }
}

/// `transaction`: blank or `DELETE`, any case.
pub fn parse_delete(raw: &str) -> Result<bool, FieldError> {
    let value = trim(raw);
    if value.is_empty() {
        Ok(false)
    } else if value.eq_ignore_ascii_case("delete") {
        Ok(true)
    } else {
        Err(refuse("must be blank or DELETE"))
    }
}

/// The password policy for passwords given in a file: at least 10 characters,
/// with a letter and a digit, at most 128.
pub fn check_password(raw: &str) -> Result<&str, FieldError> {
    let value = raw;
    let chars = value.chars().count();
    if chars < 10 {
        return Err(refuse("is shorter than 10 characters (password policy)"));
    }
    if chars > 128 {
        return Err(refuse("is longer than 128 characters"));
    }
    if !value.chars().any(char::is_alphabetic) || !value.chars().any(|c| c.is_ascii_digit()) {
        return Err(refuse("needs at least one letter and one digit (password policy)"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        /// Pieces of addresses, some sixteen letters long, so that labels and
        /// local parts reach their limits (63 and 64) and pass them.
        #[test]
        fn an_ascii_address_is_judged_as_the_general_rule_judges_it(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", "Z", "7", ".", "-", "@", "_", "+", " ", "(", "\"", "example", "org", "aaaaaaaaaaaaaaaa",
                    "pat@example.org", "x.y@a-b.co",
                ]),
                0..30),
        ) {
            let address = pieces.concat();
            prop_assert_eq!(ascii_address_ok(address.as_bytes()), address_ok(&address), "{:?}", address);
        }
    }

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
        for ok in ["bob@example.com", "o'neil+tag@nhs.uk", "zoë@exämple.de", "a.b@c.d.io", " x@y.org "] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn email_refuses_malformed_addresses() {
        for bad in [
            "bob@",
            "@x.com",
            "bob",
            "bob@x",
            "bob@@x.com",
            "b ob@x.com",
            "bob@x..com",
            ".bob@x.com",
            "bob@-x.com",
            "bob@x.c0m",
        ] {
            assert_eq!(Email::parse(bad).unwrap_err().0, "is not a valid email address", "{bad}");
        }
        assert_eq!(Email::parse("").unwrap_err().0, "is required");
        assert!(Email::parse(&format!("{}@x.com", "a".repeat(250))).unwrap_err().0.contains("254"));
    }

    #[test]
    fn role_names_have_no_spaces_and_at_most_100_characters() {
        assert!(RoleName::parse("Coordinator").is_ok());
        assert!(RoleName::parse("Team Lead").is_err());
        assert!(RoleName::parse(&"r".repeat(101)).is_err());
        assert!(RoleName::parse(&"r".repeat(100)).is_ok());
    }

    #[test]
    fn mobile_numbers() {
        assert!(Mobile::parse("+44 (0)7700 900-123").is_ok());
        assert!(Mobile::parse("07700x900").unwrap_err().0.contains("'x'"));
        assert_eq!(Mobile::parse("+ ()").unwrap_err().0, "has no digits");
    }

    #[test]
    fn flags_words_and_enums() {
        for (raw, want) in [("TRUE", true), ("no", false), ("1", true), (" 0 ", false), ("Yes", true)] {
            assert_eq!(parse_flag(raw), Ok(want), "{raw}");
        }
        assert!(parse_flag("y").is_err());
        assert_eq!(TaskNotification::parse("off"), Ok(TaskNotification::Off));
        assert_eq!(TaskNotification::parse("EMAIL"), Ok(TaskNotification::Email));
        assert!(TaskNotification::parse("sms").is_err());
        assert_eq!(parse_leaver("Leaver"), Ok(true));
        assert_eq!(parse_leaver(""), Ok(false));
        assert!(parse_leaver("left").is_err());
        assert_eq!(parse_delete("delete"), Ok(true));
        assert!(parse_delete("remove").is_err());
    }

    #[test]
    fn text_limits_and_control_characters() {
        assert!(check_text(&"t".repeat(20), TITLE_MAX).is_ok());
        assert_eq!(check_text(&"t".repeat(21), TITLE_MAX).unwrap_err().0, "is longer than 20 characters");
        // Characters, not bytes.
        assert!(check_text(&"é".repeat(20), TITLE_MAX).is_ok());
        assert!(check_text("a\u{7}b", NAME_MAX).unwrap_err().0.contains("U+0007"));
    }

    #[test]
    fn password_policy() {
        assert!(check_password("Correct1horse").is_ok());
        assert!(check_password("short1").is_err());
        assert!(check_password("allletterslong").is_err());
        assert!(check_password("12345678901").is_err());
    }

    #[test]
    fn newtypes_refuse_bad_values_when_deserialised() {
        assert!(serde_json::from_str::<Email>("\"bob@\"").is_err());
        assert_eq!(serde_json::from_str::<UserId>("\"pat\"").unwrap().as_str(), "pat");
    }
}
