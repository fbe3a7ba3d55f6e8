//! Problems found in a file, each saying where (line, column as the admin wrote
//! it, value) and why, in words an admin understands.
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Line as a text editor numbers it (a quoted line break moves later lines down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The heading as written in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The whole sentence, e.g. `Line 7, email: "bob@" is not a valid email address`.
    pub message: String,
}

/// Values are quoted in messages; a very long one is shortened so that the
/// message stays readable.
fn quote(value: &str) -> String {
    const MAX: usize = 60;
    if value.chars().count() > MAX {
        let cut: String = value.chars().take(MAX).collect();
        format!("{cut:?}…")
    } else {
        format!("{value:?}")
    }
}

impl Diagnostic {
    /// A problem with one cell: `Line 7, email: "bob@" is not a valid email address`.
    pub fn cell(severity: Severity, line: u64, column: &str, value: &str, reason: &str) -> Self {
        let message = if value.is_empty() {
            format!("Line {line}, {column}: {reason}")
        } else {
            format!("Line {line}, {column}: {} {reason}", quote(value))
        };
        Self { severity, line: Some(line), column: Some(column.to_owned()), value: Some(value.to_owned()), message }
    }

    /// A problem with a whole line: `Line 9: the same userId "pat" is on line 4`.
    pub fn line(severity: Severity, line: u64, reason: impl fmt::Display) -> Self {
        Self { severity, line: Some(line), column: None, value: None, message: format!("Line {line}: {reason}") }
    }

    /// A problem with the file as a whole: `Users file is empty`.
    pub fn file(severity: Severity, message: impl Into<String>) -> Self {
        Self { severity, line: None, column: None, value: None, message: message.into() }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_line_column_and_value() {
        let d = Diagnostic::cell(Severity::Error, 7, "email", "bob@", "is not a valid email address");
        assert_eq!(d.to_string(), r#"Line 7, email: "bob@" is not a valid email address"#);
        assert_eq!(d.value.as_deref(), Some("bob@"));
        let blank = Diagnostic::cell(Severity::Error, 3, "E-mail", "", "is required");
        assert_eq!(blank.to_string(), "Line 3, E-mail: is required");
        assert_eq!(Diagnostic::line(Severity::Warning, 2, "x").to_string(), "Line 2: x");
    }

    #[test]
    fn long_values_are_shortened_in_the_message_not_in_the_value() {
        let long = "x".repeat(200);
        let d = Diagnostic::cell(Severity::Error, 1, "title", &long, "is too long");
        assert!(d.message.len() < 120, "{}", d.message);
        assert_eq!(d.value.unwrap().len(), 200);
    }

    #[test]
    fn serialises_with_the_contract_words() {
        let d = Diagnostic::file(Severity::Error, "Users file is empty");
        assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"severity":"error","message":"Users file is empty"}"#);
    }
}
