//! What each column of a file means: the format (standard, Legacy v1 or
//! another system's, see `vendor`), the field behind each heading, and the
//! problems with the heading line itself.
use crate::diagnostic::{Diagnostic, Severity};
use crate::field::{heading_key, Field};
use crate::fields::Email;
use crate::vendor::{self, Meaning};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    #[serde(rename = "standard")]
    Standard,
    #[serde(rename = "legacy-v1")]
    LegacyV1,
    /// Microsoft Entra's bulk-create template (`version:v1.0`, then headings
    /// such as `User name [userPrincipalName] Required`).
    #[serde(rename = "entra-create")]
    EntraBulkCreate,
    /// Microsoft Entra's "Download users" file (attribute names as headings).
    #[serde(rename = "entra-export")]
    EntraExport,
    /// Google Workspace's bulk upload template and user download.
    #[serde(rename = "google-workspace")]
    GoogleWorkspace,
    /// Okta's user import CSV.
    #[serde(rename = "okta")]
    Okta,
    /// Moodle's upload users file.
    #[serde(rename = "moodle")]
    Moodle,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Standard,
        Format::LegacyV1,
        Format::EntraBulkCreate,
        Format::EntraExport,
        Format::GoogleWorkspace,
        Format::Okta,
        Format::Moodle,
    ];

    /// The format's name as an admin knows it.
    pub fn label(self) -> &'static str {
        match self {
            Format::Standard => "Standard",
            Format::LegacyV1 => "Legacy v1",
            Format::EntraBulkCreate => "Microsoft Entra bulk create",
            Format::EntraExport => "Microsoft Entra user download",
            Format::GoogleWorkspace => "Google Workspace",
            Format::Okta => "Okta",
            Format::Moodle => "Moodle",
        }
    }

    /// The text of the format in `validate --json` and in the database
    /// (`uploads.format`, 16 characters at most).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Standard => "standard",
            Format::LegacyV1 => "legacy-v1",
            Format::EntraBulkCreate => "entra-create",
            Format::EntraExport => "entra-export",
            Format::GoogleWorkspace => "google-workspace",
            Format::Okta => "okta",
            Format::Moodle => "moodle",
        }
    }

    /// The format whose [`Format::as_str`] is `text`.
    pub fn from_text(text: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == text)
    }
}

/// The caller's choice for headings Muster does not know: a field, or `None` to
/// ignore the column without a warning. Keyed by the heading as written (trimmed).
pub type HeadingMapping = BTreeMap<String, Option<Field>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRole {
    Field(Field),
    /// Legacy v1 `FullName`: `Last, First` or `First Last`.
    FullName,
    /// Legacy v1 `Leaver`: `Y` or `N`.
    LegacyLeaver,
    /// Both the userId and the email (Entra's template's userPrincipalName,
    /// Google's Email Address).
    UserIdAndEmail,
    /// Enabled, inverted: yes (or 1) disables (Entra's "Block sign in",
    /// Moodle's `suspended`).
    Disabled,
    /// Google's status: `Active` or `Suspended`.
    ActiveOrSuspended,
    /// Google's `Org Unit Path`: its last part is the organisation.
    OrgUnitPath,
    /// Moodle's `deleted`: 1 deletes the user.
    Deletes,
    /// One role or group name; several such columns make the set (Moodle's
    /// `cohort1`…, `sysrole1`…).
    OneOf(Field),
    /// Google's `Password Hash Function`: a value means the password is a hash.
    PasswordHashed,
    Ignored,
}

impl ColumnRole {
    /// The field the column gives (the first of two, for [`ColumnRole::UserIdAndEmail`]).
    fn gives(self) -> Option<Field> {
        match self {
            ColumnRole::Field(field) | ColumnRole::OneOf(field) => Some(field),
            ColumnRole::UserIdAndEmail => Some(Field::UserId),
            ColumnRole::Disabled | ColumnRole::ActiveOrSuspended => Some(Field::Enabled),
            ColumnRole::OrgUnitPath => Some(Field::Organisation),
            ColumnRole::Deletes => Some(Field::Transaction),
            ColumnRole::FullName | ColumnRole::LegacyLeaver | ColumnRole::PasswordHashed | ColumnRole::Ignored => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// As written in the file (trimmed), used in every message about the column.
    pub heading: String,
    pub role: ColumnRole,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub format: Format,
    pub columns: Vec<Column>,
    fields: [Option<usize>; Field::COUNT],
    pub full_name: Option<usize>,
    pub legacy_leaver: Option<usize>,
    /// The column whose value is the email where the email column is blank or
    /// absent (Entra's download: the userPrincipalName where `mail` is blank).
    pub email_fallback: Option<usize>,
}

impl Layout {
    /// The column holding a field, if the file has one.
    pub fn column_of(&self, field: Field) -> Option<usize> {
        self.fields[field.index()]
    }

    /// The heading as written for a field, or the field's name when it is derived
    /// (Legacy v1's names come from `FullName`, the status from `Leaver`).
    pub fn heading_of(&self, field: Field) -> &str {
        match self.column_of(field) {
            Some(i) => &self.columns[i].heading,
            None => match (field, self.full_name, self.legacy_leaver, self.email_fallback) {
                (Field::FirstName | Field::LastName, Some(i), _, _) => &self.columns[i].heading,
                (Field::Status, _, Some(i), _) => &self.columns[i].heading,
                (Field::Email, _, _, Some(i)) => &self.columns[i].heading,
                _ => field.name(),
            },
        }
    }

    pub fn has(&self, field: Field) -> bool {
        self.column_of(field).is_some()
            || (matches!(field, Field::FirstName | Field::LastName) && self.full_name.is_some())
            || (field == Field::Status && self.legacy_leaver.is_some())
            || (field == Field::Email && self.email_fallback.is_some())
    }

    /// The heading of the column a field's value in `record` came from: the
    /// email's fallback column where the email column is blank.
    pub fn heading_in(&self, field: Field, record: &crate::source::Record) -> &str {
        let own = self.column_of(field).and_then(|c| record.get(c)).unwrap_or("");
        match self.email_fallback {
            Some(fallback) if field == Field::Email && crate::fields::trim(own).is_empty() => {
                &self.columns[fallback].heading
            }
            _ => self.heading_of(field),
        }
    }

    /// The word a row uses to delete its user, as the file writes it
    /// (`DELETE`, or Moodle's `deleted` 1).
    pub fn delete_word(&self) -> &'static str {
        match self.column_of(Field::Transaction).map(|c| self.columns[c].role) {
            Some(ColumnRole::Deletes) => "1",
            _ => "DELETE",
        }
    }

    /// A field's cell as written in `record` (blank when the file has no such
    /// column), with the email's fallback.
    pub fn value_of<'r>(&self, field: Field, record: &'r crate::source::Record) -> &'r str {
        let cell = |column: Option<usize>| column.and_then(|c| record.get(c)).unwrap_or("");
        let value = cell(self.column_of(field));
        match self.email_fallback {
            Some(fallback) if field == Field::Email && crate::fields::trim(value).is_empty() => cell(Some(fallback)),
            _ => value,
        }
    }
}

/// Headings of Legacy v1 files. `FullName` and `Leaver` make a file Legacy v1;
/// `Department` (an organisation code) does only beside no heading of the
/// standard format's own (see [`resolve`]).
fn legacy_role(key: &str) -> Option<ColumnRole> {
    match key {
        "fullname" => Some(ColumnRole::FullName),
        "leaver" => Some(ColumnRole::LegacyLeaver),
        "department" => Some(ColumnRole::Field(Field::Organisation)),
        _ => None,
    }
}

/// The heading line gives `what` in two columns, `(index, heading)` each.
fn given_twice(
    line: u64,
    what: &str,
    (first, first_heading): (usize, &str),
    (second, heading): (usize, &str),
) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        line: Some(line),
        column: Some(heading.to_owned()),
        value: None,
        message: format!(
            "Line {line}: the heading {heading:?} (column {}) gives {what} a second time; column {} ({first_heading:?}) already does",
            second + 1,
            first + 1
        ),
    }
}

fn looks_like_data(heading: &str) -> Option<&'static str> {
    let h = heading.trim();
    if Email::check(h).is_ok() {
        Some("an email address")
    } else if !h.is_empty() && h.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')')) {
        Some("a number")
    } else if ["true", "false", "yes", "no"].iter().any(|w| h.eq_ignore_ascii_case(w)) {
        Some("a yes/no value")
    } else {
        None
    }
}

fn accepted_headings(field: Field) -> String {
    std::iter::once(field.name()).chain(field.aliases().iter().copied()).collect::<Vec<_>>().join(", ")
}

/// Reads the heading line (`line` as an editor numbers it). File-level problems
/// come back as diagnostics; the layout is `None` when no row can be read with it.
pub fn resolve(headings: &[&str], line: u64, mapping: &HeadingMapping) -> (Option<Layout>, Vec<Diagnostic>) {
    let mut diagnostics = Vec::new();
    let keys: Vec<String> = headings.iter().map(|h| heading_key(h)).collect();
    let (format, vendor) = format_of(headings, &keys);
    let mut layout = Layout {
        format,
        columns: Vec::with_capacity(headings.len()),
        fields: [None; Field::COUNT],
        full_name: None,
        legacy_leaver: None,
        email_fallback: None,
    };
    let mut known = 0;
    // Another system's columns Muster has no field for: one warning for all.
    let mut unused: Vec<String> = Vec::new();
    for (index, (raw, key)) in headings.iter().zip(&keys).enumerate() {
        let heading = raw.trim().to_owned();
        let read = Reading { line, index, raw, key, keys: &keys, format, vendor };
        let role = match mapping.get(&heading) {
            Some(Some(field)) => ColumnRole::Field(*field),
            Some(None) => ColumnRole::Ignored,
            None => read.role(&heading, &mut diagnostics, &mut unused),
        };
        let previous = layout.place(role, index);
        if role != ColumnRole::Ignored {
            known += 1;
        }
        if let Some(first) = previous {
            let first_heading: &str = &layout.columns[first].heading;
            let what = role.gives().map_or(first_heading, |field| field.name());
            diagnostics.push(given_twice(line, what, (first, first_heading), (index, &heading)));
        }
        layout.columns.push(Column { heading, role });
    }
    legacy_given_twice(&layout, line, &mut diagnostics);
    diagnostics.extend(unused_columns(&unused, format, line));
    // Entra's download: accounts without a mailbox have a blank `mail`, and
    // their sign-in name is their address.
    if format == Format::EntraExport {
        layout.email_fallback = layout.column_of(Field::UserId).filter(|&c| Some(c) != layout.column_of(Field::Email));
    }

    if known == 0 {
        // One clear message instead of a warning per heading.
        diagnostics.clear();
        diagnostics.push(Diagnostic::file(Severity::Error, no_field_known(headings, line)));
        return (None, diagnostics);
    }
    heading_line_problems(headings, &layout, line, &mut diagnostics);
    let usable = !diagnostics.iter().any(Diagnostic::is_error);
    (usable.then_some(layout), diagnostics)
}

/// The file's format by its headings (`keys` as `heading_key` gives them), and
/// whether it is another system's.
fn format_of(headings: &[&str], keys: &[String]) -> (Format, Option<Format>) {
    let has = |key: &str| keys.iter().any(|k| k == key);
    // UserName and EmailAddress are standard aliases too; any other standard
    // heading beside Department makes a standard file with a department column.
    let standard_only = keys.iter().any(|k| {
        legacy_role(k).is_none() && Field::from_heading(k).is_some_and(|f| !matches!(f, Field::UserId | Field::Email))
    });
    let legacy = has("fullname") || has("leaver") || (has("department") && !standard_only);
    let vendor = vendor::recognise(headings);
    (vendor.unwrap_or(if legacy { Format::LegacyV1 } else { Format::Standard }), vendor)
}

/// One heading being read, with what its reading depends on.
struct Reading<'h> {
    line: u64,
    index: usize,
    raw: &'h str,
    key: &'h str,
    keys: &'h [String],
    format: Format,
    vendor: Option<Format>,
}

impl Reading<'_> {
    /// The role of a heading the admin did not map: by the format's meaning
    /// (another system's), Legacy v1's, or the standard field's; a warning
    /// for one that has none.
    fn role(&self, heading: &str, diagnostics: &mut Vec<Diagnostic>, unused: &mut Vec<String>) -> ColumnRole {
        let (line, index) = (self.line, self.index);
        if self.vendor.is_some() {
            return match vendor::meaning(self.format, self.raw, self.keys) {
                Meaning::Role(role) => role,
                // A standard heading in another system's file (`roles` beside
                // Moodle's columns) keeps its standard meaning.
                Meaning::Unused => match Field::from_heading(self.key) {
                    Some(field) => ColumnRole::Field(field),
                    None => {
                        unused.push(if heading.is_empty() {
                            format!("column {}", index + 1)
                        } else {
                            heading.to_owned()
                        });
                        ColumnRole::Ignored
                    }
                },
                Meaning::UnusedBecause(why) => {
                    diagnostics.push(Diagnostic {
                        severity: Severity::Warning,
                        line: Some(line),
                        column: Some(heading.to_owned()),
                        value: None,
                        message: format!("Line {line}: the column {heading:?} is ignored: {why}"),
                    });
                    ColumnRole::Ignored
                }
            };
        }
        match legacy_role(self.key).or_else(|| Field::from_heading(self.key).map(ColumnRole::Field)) {
            Some(role) => role,
            None => {
                let shown = if heading.is_empty() { format!("column {}", index + 1) } else { heading.to_owned() };
                diagnostics.push(Diagnostic {
                    severity: Severity::Warning,
                    line: Some(line),
                    column: Some(shown.clone()),
                    value: None,
                    message: format!(
                        "Line {line}: the heading {shown:?} is not a Muster field; the column is ignored unless you map it to a field"
                    ),
                });
                ColumnRole::Ignored
            }
        }
    }
}

impl Layout {
    /// Puts column `index` where its role goes; the column that had it before, if any.
    fn place(&mut self, role: ColumnRole, index: usize) -> Option<usize> {
        match role {
            // Several columns make one set.
            ColumnRole::OneOf(field) => {
                self.fields[field.index()].get_or_insert(index);
                None
            }
            ColumnRole::UserIdAndEmail => {
                let user = self.fields[Field::UserId.index()].replace(index);
                self.fields[Field::Email.index()].replace(index).or(user)
            }
            ColumnRole::FullName => self.full_name.replace(index),
            ColumnRole::LegacyLeaver => self.legacy_leaver.replace(index),
            other => other.gives().and_then(|field| self.fields[field.index()].replace(index)),
        }
    }
}

/// Legacy columns that give standard fields: the same field twice.
fn legacy_given_twice(layout: &Layout, line: u64, diagnostics: &mut Vec<Diagnostic>) {
    let pairs = [
        (layout.full_name, Field::FirstName),
        (layout.full_name, Field::LastName),
        (layout.legacy_leaver, Field::Status),
    ];
    for (legacy_column, field) in pairs {
        if let (Some(a), Some(b)) = (legacy_column, layout.fields[field.index()]) {
            let (first, second) = (a.min(b), a.max(b));
            let heading = |at: usize| (at, layout.columns[at].heading.as_str());
            diagnostics.push(given_twice(line, field.name(), heading(first), heading(second)));
        }
    }
}

/// One warning for all of another system's columns Muster has no field for.
fn unused_columns(unused: &[String], format: Format, line: u64) -> Option<Diagnostic> {
    if unused.is_empty() {
        return None;
    }
    let count = unused.len();
    let list = unused.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ");
    Some(Diagnostic::file(
        Severity::Warning,
        format!(
            "Line {line}: {count} column{} of the {} file {} no Muster field and {} ignored: {list}",
            if count == 1 { "" } else { "s" },
            format.label(),
            if count == 1 { "has" } else { "have" },
            if count == 1 { "is" } else { "are" },
        ),
    ))
}

/// Why no heading is known: another delimiter, data in the heading line, or none.
fn no_field_known(headings: &[&str], line: u64) -> String {
    let data = headings.iter().find_map(|h| looks_like_data(h).map(|what| (h.trim(), what)));
    let other_delimiter =
        ['|', ',', ';', '\t', ':'].into_iter().find(|d| headings.len() == 1 && headings[0].contains(*d));
    match (data, other_delimiter) {
        (_, Some(d)) => format!(
            "Line {line}: the file looks split on the wrong delimiter: its only column {:?} holds {d:?}. Separate columns with commas, semicolons or tabs",
            headings[0].trim()
        ),
        (Some((value, what)), None) => format!(
            "Line {line}: the first line looks like data, not headings ({value:?} is {what}). Start the file with the heading line of the sample file"
        ),
        (None, None) => format!(
            "Line {line}: none of the headings is a Muster field. Start the file with the heading line of the sample file"
        ),
    }
}

/// Data in the heading line, and the required columns missing.
fn heading_line_problems(headings: &[&str], layout: &Layout, line: u64, diagnostics: &mut Vec<Diagnostic>) {
    if let Some((value, what)) = headings.iter().find_map(|h| looks_like_data(h).map(|w| (h.trim(), w))) {
        diagnostics.push(Diagnostic::file(
            Severity::Error,
            format!("Line {line}: the heading line holds {value:?}, which is {what}: it looks like data, not headings"),
        ));
    }
    for required in [Field::UserId, Field::Email] {
        if !layout.has(required) {
            diagnostics.push(Diagnostic::file(
                Severity::Error,
                format!(
                    "The file has no {} column. Accepted headings: {}",
                    required.name(),
                    accepted_headings(required)
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_line(line: &str) -> (Option<Layout>, Vec<Diagnostic>) {
        let headings: Vec<&str> = line.split(',').collect();
        resolve(&headings, 1, &HeadingMapping::new())
    }

    #[test]
    fn each_format_s_text_fits_the_uploads_column_and_reads_back() {
        for format in Format::ALL {
            // uploads.format is varchar(16) on PostgreSQL.
            assert!(format.as_str().len() <= 16, "{format:?}");
            assert_eq!(Format::from_text(format.as_str()), Some(format));
            assert_eq!(serde_json::to_value(format).unwrap(), format.as_str());
        }
    }

    #[test]
    fn standard_headings_in_any_order_and_spelling() {
        let (layout, diags) = resolve_line("E-Mail Address,USERNAME,Surname,first_name,Manager");
        let layout = layout.unwrap();
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(layout.format, Format::Standard);
        assert_eq!(layout.column_of(Field::Email), Some(0));
        assert_eq!(layout.column_of(Field::UserId), Some(1));
        assert_eq!(layout.heading_of(Field::LastName), "Surname");
        assert_eq!(layout.column_of(Field::ReportsTo), Some(4));
        assert!(!layout.has(Field::Roles));
    }

    #[test]
    fn the_seed_layouts_validate_through_the_aliases() {
        for line in [
            "username,firstname,surname,email,password,change password next time",
            "userId,tenant,firstName,lastName,email,enabled,reportsTo,roles,taskNotification,transaction,notifyIfNewUser",
        ] {
            let (layout, diags) = resolve_line(line);
            assert!(layout.is_some() && diags.is_empty(), "{line}: {diags:?}");
        }
    }

    #[test]
    fn legacy_v1_is_recognised_by_its_headings() {
        let (layout, diags) = resolve_line("UserName,FullName,EmailAddress,Department,Leaver");
        let layout = layout.unwrap();
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(layout.format, Format::LegacyV1);
        assert_eq!(layout.full_name, Some(1));
        assert_eq!(layout.legacy_leaver, Some(4));
        assert_eq!(layout.column_of(Field::Organisation), Some(3));
        assert_eq!(layout.heading_of(Field::FirstName), "FullName");
        assert_eq!(layout.heading_of(Field::Status), "Leaver");
    }

    #[test]
    fn legacy_columns_beside_the_standard_fields_they_give_are_errors() {
        let (layout, diags) = resolve_line("userId,email,firstName,FullName,status,Leaver");
        assert!(layout.is_none());
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                r#"Line 1: the heading "FullName" (column 4) gives firstName a second time; column 3 ("firstName") already does"#,
                r#"Line 1: the heading "Leaver" (column 6) gives status a second time; column 5 ("status") already does"#,
            ]
        );
        // Department is Legacy v1's organisation code; in a standard file it is
        // still the organisation, and the file stays standard.
        let (layout, diags) = resolve_line("userId,email,firstName,Department");
        let layout = layout.expect("usable");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!((layout.format, layout.column_of(Field::Organisation)), (Format::Standard, Some(3)));
        let (layout, _) = resolve_line("UserName,EmailAddress,Department");
        assert_eq!(layout.unwrap().format, Format::LegacyV1);
        let (_, diags) = resolve_line("userId,email,organisation,Department");
        assert!(diags[0].message.contains("gives organisation a second time"), "{diags:?}");
    }

    #[test]
    fn unknown_headings_warn_and_can_be_mapped_or_ignored() {
        let (layout, diags) = resolve_line("userId,email,Shoe Size,Dept");
        assert!(layout.is_some());
        assert_eq!(diags.len(), 2);
        assert_eq!(diags[0].severity, Severity::Warning);
        assert_eq!(
            diags[0].message,
            r#"Line 1: the heading "Shoe Size" is not a Muster field; the column is ignored unless you map it to a field"#
        );
        let mapping =
            HeadingMapping::from([("Dept".to_string(), Some(Field::Organisation)), ("Shoe Size".into(), None)]);
        let (layout, diags) = resolve(&["userId", "email", "Shoe Size", "Dept"], 1, &mapping);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(layout.unwrap().column_of(Field::Organisation), Some(3));
    }

    #[test]
    fn a_field_given_twice_is_an_error() {
        let (layout, diags) = resolve_line("userId,email,mail");
        assert!(layout.is_none());
        assert_eq!(
            diags[0].message,
            r#"Line 1: the heading "mail" (column 3) gives email a second time; column 2 ("email") already does"#
        );
    }

    #[test]
    fn missing_required_columns() {
        let (layout, diags) = resolve_line("firstName,lastName");
        assert!(layout.is_none());
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "The file has no userId column. Accepted headings: userId, username, user id, login",
                "The file has no email column. Accepted headings: email, email address, mail"
            ]
        );
    }

    #[test]
    fn data_in_the_heading_line_and_wrong_delimiters_are_caught() {
        let (layout, diags) = resolve_line("pat,pat@example.com,Pat,Jones");
        assert!(layout.is_none());
        assert!(
            diags[0].message.contains("looks like data, not headings (\"pat@example.com\" is an email address)"),
            "{diags:?}"
        );

        let (layout, diags) = resolve(&["userId|email|firstName"], 1, &HeadingMapping::new());
        assert!(layout.is_none());
        assert!(diags[0].message.contains("looks split on the wrong delimiter"), "{diags:?}");

        let (_, diags) = resolve_line("userId,email,pat@example.com");
        assert!(diags.iter().any(|d| d.is_error() && d.message.contains("looks like data")), "{diags:?}");
    }
}
