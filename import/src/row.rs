//! One data row of a file, parsed into typed values. A blank cell is `None`:
//! for an existing user it changes nothing (a blank cell never erases data).
use crate::diagnostic::{Diagnostic, Severity};
use crate::field::Field;
use crate::fields::{
    check_password, check_text_with, parse_delete, parse_flag, parse_leaver, printable_ascii, trim, Controls, Email,
    ExternalId, FieldError, Mobile, OrgCode, RoleName, TaskNotification, UserId, JOB_TITLE_MAX, NAME_MAX, TITLE_MAX,
};
use crate::layout::{Column, ColumnRole, Format, Layout};
use crate::source::Record;
use crate::vendor;
use serde::{Deserialize, Serialize};

/// Stored as JSON with every planned row: fields without a value are left
/// out rather than written as `null` or `false` (a row of six values takes
/// 135 bytes instead of 397), and read back as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<ExternalId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<Mobile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<OrgCode>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub leaver: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reports_to: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<RoleName>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<RoleName>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_notification: Option<TaskNotification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_password_next_time: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_if_new_user: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete: bool,
    /// The email came from the layout's fallback column (Entra's
    /// userPrincipalName where `mail` is blank): messages about it name that column.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub email_from_fallback: bool,
}

/// Splits `First Last` or `Last, First` (Legacy v1's FullName).
pub fn split_full_name(full: &str) -> (Option<&str>, Option<&str>) {
    let full = full.trim();
    fn some(s: &str) -> Option<&str> {
        Some(s.trim()).filter(|s| !s.is_empty())
    }
    if let Some((last, first)) = full.split_once(',') {
        (some(first), some(last))
    } else if let Some((first, last)) = full.rsplit_once(char::is_whitespace) {
        (some(first), some(last))
    } else {
        (None, some(full))
    }
}

/// `a|b|c` into names, blanks between bars ignored, duplicates (any case) once.
fn parse_names(raw: &str, build: bool, controls: Controls) -> Result<Option<Vec<RoleName>>, FieldError> {
    // Printable ASCII without spaces, no longer than one name may be: every name
    // between its bars is valid, so a cell that is only checked needs no cutting.
    if !build && raw.len() <= RoleName::MAX_LEN && printable_ascii(raw) {
        return Ok(None);
    }
    let mut names: Vec<RoleName> = Vec::new();
    for part in raw.split('|').filter(|p| !p.trim().is_empty()) {
        let name = RoleName::check_with(part, controls)
            .map_err(|e| FieldError(format!("has {:?}, which {e}", part.trim())))?;
        if build && !names.iter().any(|n| n.as_str().eq_ignore_ascii_case(name)) {
            names.push(RoleName::from_checked(name));
        }
    }
    Ok(build.then_some(names))
}

/// The keys of a row that passed their rules, as written (trimmed), for the
/// rules between rows.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowKeys<'r> {
    pub user: Option<&'r str>,
    pub email: Option<&'r str>,
    pub external: Option<&'r str>,
    pub manager: Option<&'r str>,
    /// The row deletes its user (`transaction` DELETE).
    pub deletes: bool,
}

/// Where a layout's keys are: a row's keys read without reading the row, as
/// [`check_row`] would find them (the file's index reads every row this way).
#[derive(Debug, Clone, Copy)]
pub struct KeyColumns {
    pub user: Option<usize>,
    pub email: Option<usize>,
    email_fallback: Option<usize>,
    pub external: Option<usize>,
    pub manager: Option<usize>,
    transaction: Option<usize>,
    /// The transaction column is Moodle's `deleted` (1 deletes), not `DELETE`.
    deletes_by_flag: bool,
}

impl KeyColumns {
    pub fn of(layout: &Layout) -> Self {
        let transaction = layout.column_of(Field::Transaction);
        Self {
            user: layout.column_of(Field::UserId),
            email: layout.column_of(Field::Email),
            email_fallback: layout.email_fallback,
            external: layout.column_of(Field::ExternalId),
            manager: layout.column_of(Field::ReportsTo),
            transaction,
            deletes_by_flag: transaction.is_some_and(|c| layout.columns[c].role == ColumnRole::Deletes),
        }
    }

    /// The keys of a record that pass their rules.
    pub fn keys<'r>(&self, record: &'r Record) -> RowKeys<'r> {
        let cell = |c: Option<usize>| crate::export::unneutralise(c.and_then(|i| record.get(i)).unwrap_or(""));
        let email = match cell(self.email) {
            blank if trim(blank).is_empty() && self.email_fallback.is_some() => cell(self.email_fallback),
            given => given,
        };
        let deletes = self.transaction.is_some_and(|_| {
            let raw = cell(self.transaction);
            if self.deletes_by_flag {
                parse_flag(raw) == Ok(true)
            } else {
                parse_delete(raw) == Ok(true)
            }
        });
        RowKeys {
            user: UserId::check(cell(self.user)).ok(),
            email: Email::check(email).ok(),
            external: ExternalId::check(cell(self.external)).ok(),
            manager: UserId::check(cell(self.manager)).ok(),
            deletes,
        }
    }
}

/// Reads one record. Every problem becomes a diagnostic; the row keeps the values
/// that were valid, so the admin sees all problems of the line at once. `tenant`
/// is the admin's tenant slug, which a `tenant` cell must name if it is not blank.
pub fn parse_row(
    layout: &Layout,
    cells: &Record,
    line: u64,
    tenant: Option<&str>,
    diagnostics: &mut Vec<Diagnostic>,
) -> UserRow {
    let mut row = UserRow { line, ..UserRow::default() };
    read_row(layout, cells, line, tenant, diagnostics, &mut RowKeys::default(), Some(&mut row));
    row
}

/// Applies the rules of one record without keeping its values (nothing is
/// allocated for a good row), and returns its keys.
pub fn check_row<'r>(
    layout: &Layout,
    cells: &'r Record,
    line: u64,
    tenant: Option<&str>,
    diagnostics: &mut Vec<Diagnostic>,
) -> RowKeys<'r> {
    let mut keys = RowKeys::default();
    read_row(layout, cells, line, tenant, diagnostics, &mut keys, None);
    keys
}

/// Sets a field of the row being built; nothing (not even the value's
/// allocation) when the row is only checked.
macro_rules! set {
    ($row:ident . $field:ident = $value:expr) => {
        if let Some(row) = $row.as_deref_mut() {
            row.$field = $value;
        }
    };
}

/// Applies the rules of one record, puts its valid keys in `keys` and, when
/// given a `row`, its valid values in it.
fn read_row<'r>(
    layout: &Layout,
    cells: &'r Record,
    line: u64,
    tenant: Option<&str>,
    diagnostics: &mut Vec<Diagnostic>,
    keys: &mut RowKeys<'r>,
    mut row: Option<&mut UserRow>,
) {
    let build = row.is_some();
    let controls = if cells.free_of_controls() { Controls::KnownAbsent } else { Controls::Search };
    shape_problems(layout, cells, line, diagnostics);
    for (index, column) in layout.columns.iter().enumerate() {
        let cell = Cell { column, raw: crate::export::unneutralise(cells.get(index).unwrap_or("")), line };
        read_cell(layout, cell, tenant, controls, build, diagnostics, keys, &mut row);
    }
    if let Some(fallback) = layout.email_fallback {
        email_from_fallback(layout, cells, fallback, line, diagnostics, keys, &mut row);
    }
    reports_to_self(layout, line, diagnostics, keys);
}

/// What is wrong with the record as a whole: Entra's row of examples, more or
/// fewer fields than the heading line has.
fn shape_problems(layout: &Layout, cells: &Record, line: u64, diagnostics: &mut Vec<Diagnostic>) {
    if layout.format == Format::EntraBulkCreate && cells.get(0).is_some_and(vendor::is_entra_example) {
        diagnostics.push(Diagnostic::line(
            Severity::Error,
            line,
            "is the row of examples of Entra's template, not a user; remove it (Entra asks for the same)",
        ));
    }
    let width = layout.columns.len();
    if cells.len() > width {
        if cells.iter().skip(width).any(|c| !trim(c).is_empty()) {
            diagnostics.push(Diagnostic::line(
                Severity::Error,
                line,
                format!(
                    "has {} fields where the heading line has {width} (is a value with a delimiter not in quotes?)",
                    cells.len()
                ),
            ));
        }
    } else if cells.len() < width {
        diagnostics.push(Diagnostic::line(
            Severity::Warning,
            line,
            format!(
                "has {} fields where the heading line has {width}; the missing ones are taken as blank",
                cells.len()
            ),
        ));
    }
}

/// One cell of a record, with its column.
struct Cell<'c, 'r> {
    column: &'c Column,
    raw: &'r str,
    line: u64,
}

/// Applies its column's rules to one cell.
#[allow(clippy::too_many_arguments)]
#[inline]
fn read_cell<'r>(
    layout: &Layout,
    cell: Cell<'_, 'r>,
    tenant: Option<&str>,
    controls: Controls,
    build: bool,
    diagnostics: &mut Vec<Diagnostic>,
    keys: &mut RowKeys<'r>,
    row: &mut Option<&mut UserRow>,
) {
    let Cell { column, raw, line } = cell;
    let trimmed = trim(raw);
    let required = match column.role {
        ColumnRole::Field(Field::UserId) | ColumnRole::UserIdAndEmail => true,
        ColumnRole::Field(Field::Email) => layout.email_fallback.is_none(),
        _ => false,
    };
    if trimmed.is_empty() && !required {
        return;
    }
    // A password is never repeated in a message: messages are stored apart
    // from the file, shown in the preview and written to the results file,
    // which blanks the passwords of the file itself.
    let shown = if column.role == ColumnRole::Field(Field::Password) { "" } else { trimmed };
    let mut fail = |e: FieldError| {
        diagnostics.push(Diagnostic::cell(Severity::Error, line, &column.heading, shown, &e.0));
    };
    match column.role {
        ColumnRole::Ignored => {}
        ColumnRole::FullName => {
            let (first, last) = split_full_name(raw);
            for name in [first, last].into_iter().flatten() {
                if let Err(e) = check_text_with(name, NAME_MAX, controls) {
                    fail(e);
                }
            }
            set!(row.first_name = first.map(str::to_owned));
            set!(row.last_name = last.map(str::to_owned));
        }
        ColumnRole::LegacyLeaver => match trimmed {
            v if v.eq_ignore_ascii_case("y") => set!(row.leaver = true),
            v if v.eq_ignore_ascii_case("n") => set!(row.leaver = false),
            _ => fail(FieldError("must be Y or N".into())),
        },
        ColumnRole::Field(field) => {
            if let Err(e) = read_field(field, raw, tenant, controls, build, keys, row) {
                fail(e);
            }
        }
        ColumnRole::UserIdAndEmail => {
            for field in [Field::UserId, Field::Email] {
                if let Err(e) = read_field(field, raw, tenant, controls, build, keys, row) {
                    fail(e);
                }
            }
        }
        ColumnRole::Disabled => match parse_flag(raw) {
            Ok(disabled) => set!(row.enabled = Some(!disabled)),
            Err(e) => fail(e),
        },
        ColumnRole::ActiveOrSuspended => match trimmed {
            v if v.eq_ignore_ascii_case("active") => set!(row.enabled = Some(true)),
            v if v.eq_ignore_ascii_case("suspended") => set!(row.enabled = Some(false)),
            _ => fail(FieldError("must be Active or Suspended".into())),
        },
        ColumnRole::OrgUnitPath => {
            let unit = vendor::org_unit(raw);
            if !unit.is_empty() {
                match OrgCode::check_with(unit, controls) {
                    Ok(v) => set!(row.organisation = Some(OrgCode::from_checked(v))),
                    Err(e) => fail(FieldError(format!("has the unit {unit:?}, which {}", e.0))),
                }
            }
        }
        ColumnRole::Deletes => match parse_flag(raw) {
            Ok(deletes) => {
                keys.deletes = deletes;
                set!(row.delete = deletes);
            }
            Err(e) => fail(e),
        },
        ColumnRole::OneOf(field) => match RoleName::check_with(raw, controls) {
            Ok(name) => {
                if let Some(row) = row.as_deref_mut() {
                    let names = if field == Field::Roles { &mut row.roles } else { &mut row.groups };
                    let names = names.get_or_insert_with(Vec::new);
                    if !names.iter().any(|n| n.as_str().eq_ignore_ascii_case(name)) {
                        names.push(RoleName::from_checked(name));
                    }
                }
            }
            Err(e) => fail(e),
        },
        ColumnRole::PasswordHashed => fail(FieldError(
            "says the password is a hash, which no one can sign in with at Muster; give the password itself, or leave both blank and Muster invites the user".into(),
        )),
    }
}

/// The email from another column (Entra's sign-in name) where the email's own is blank.
fn email_from_fallback<'r>(
    layout: &Layout,
    cells: &'r Record,
    fallback: usize,
    line: u64,
    diagnostics: &mut Vec<Diagnostic>,
    keys: &mut RowKeys<'r>,
    row: &mut Option<&mut UserRow>,
) {
    let own = layout.column_of(Field::Email).and_then(|c| cells.get(c)).unwrap_or("");
    let raw = crate::export::unneutralise(cells.get(fallback).unwrap_or(""));
    if trim(own).is_empty() && !trim(raw).is_empty() {
        match Email::check(raw) {
            Ok(v) => {
                keys.email = Some(v);
                set!(row.email = Some(Email::from_checked(v)));
                set!(row.email_from_fallback = true);
            }
            Err(e) => {
                let reason = match layout.column_of(Field::Email) {
                    Some(c) => format!("{} (it is the email, as {} is blank)", e.0, layout.columns[c].heading),
                    None => format!("{} (it is the email too)", e.0),
                };
                diagnostics.push(Diagnostic::cell(
                    Severity::Error,
                    line,
                    &layout.columns[fallback].heading,
                    trim(raw),
                    &reason,
                ));
            }
        }
    }
}

/// A user who names themselves as their manager.
fn reports_to_self(layout: &Layout, line: u64, diagnostics: &mut Vec<Diagnostic>, keys: &RowKeys<'_>) {
    if let (Some(me), Some(manager)) = (keys.user, keys.manager) {
        // UserIds are ASCII, so this is the matching of keys (case and spaces ignored).
        if me.eq_ignore_ascii_case(manager) {
            diagnostics.push(Diagnostic::cell(
                Severity::Error,
                line,
                layout.heading_of(Field::ReportsTo),
                manager,
                "is the user itself; a user cannot report to themselves",
            ));
        }
    }
}

/// Reads one standard field's cell into the keys and, when building, the row.
fn read_field<'r>(
    field: Field,
    raw: &'r str,
    tenant: Option<&str>,
    controls: Controls,
    build: bool,
    keys: &mut RowKeys<'r>,
    row: &mut Option<&mut UserRow>,
) -> Result<(), FieldError> {
    let trimmed = trim(raw);
    let own = |v: &str| Some(v.to_owned());
    match field {
        Field::UserId => UserId::check(raw).map(|v| {
            keys.user = Some(v);
            set!(row.user_id = Some(UserId::from_checked(v)));
        }),
        Field::ExternalId => ExternalId::check_with(raw, controls).map(|v| {
            keys.external = Some(v);
            set!(row.external_id = Some(ExternalId::from_checked(v)));
        }),
        Field::Tenant => match tenant {
            Some(slug) if !trimmed.eq_ignore_ascii_case(slug.trim()) => {
                Err(FieldError(format!("is not this tenant ({slug:?}); a file can change only your own tenant")))
            }
            _ => {
                set!(row.tenant = own(trimmed));
                Ok(())
            }
        },
        Field::Title => check_text_with(raw, TITLE_MAX, controls).map(|v| set!(row.title = own(v))),
        Field::FirstName => check_text_with(raw, NAME_MAX, controls).map(|v| set!(row.first_name = own(v))),
        Field::LastName => check_text_with(raw, NAME_MAX, controls).map(|v| set!(row.last_name = own(v))),
        Field::Email => Email::check(raw).map(|v| {
            keys.email = Some(v);
            set!(row.email = Some(Email::from_checked(v)));
        }),
        Field::Mobile => Mobile::check(raw).map(|v| set!(row.mobile = Some(Mobile::from_checked(v)))),
        Field::JobTitle => check_text_with(raw, JOB_TITLE_MAX, controls).map(|v| set!(row.job_title = own(v))),
        Field::Organisation => {
            OrgCode::check_with(raw, controls).map(|v| set!(row.organisation = Some(OrgCode::from_checked(v))))
        }
        Field::Status => parse_leaver(raw).map(|v| set!(row.leaver = v)),
        Field::Enabled => parse_flag(raw).map(|v| set!(row.enabled = Some(v))),
        Field::ReportsTo => UserId::check(raw).map(|v| {
            keys.manager = Some(v);
            set!(row.reports_to = Some(UserId::from_checked(v)));
        }),
        Field::Roles => parse_names(raw, build, controls).map(|v| set!(row.roles = v)),
        Field::Groups => parse_names(raw, build, controls).map(|v| set!(row.groups = v)),
        Field::TaskNotification => TaskNotification::parse(raw).map(|v| set!(row.task_notification = Some(v))),
        Field::ChangePasswordNextTime => parse_flag(raw).map(|v| set!(row.change_password_next_time = Some(v))),
        Field::NotifyIfNewUser => parse_flag(raw).map(|v| set!(row.notify_if_new_user = Some(v))),
        // Passwords are taken exactly as written: spaces may be part of them.
        Field::Password => check_password(raw).map(|v| set!(row.password = own(v))),
        Field::Transaction => parse_delete(raw).map(|v| {
            keys.deletes = v;
            set!(row.delete = v);
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{resolve, HeadingMapping};

    #[test]
    fn a_stored_row_leaves_out_what_has_no_value_and_reads_back_whole() {
        let (row, diags) = parse("userId,email,firstName,roles", "ana,ana@example.org,Ana,Staff");
        assert!(diags.is_empty(), "{diags:?}");
        let stored = serde_json::to_string(&row).unwrap();
        assert_eq!(
            stored,
            r#"{"line":2,"user_id":"ana","first_name":"Ana","email":"ana@example.org","roles":["Staff"]}"#
        );
        assert_eq!(serde_json::from_str::<UserRow>(&stored).unwrap(), row);
        // Rows stored before (every field, null or false when it had no value) read the same.
        let earlier = r#"{"line":2,"user_id":"ana","external_id":null,"tenant":null,"title":null,
            "first_name":"Ana","last_name":null,"email":"ana@example.org","mobile":null,"job_title":null,
            "organisation":null,"leaver":false,"enabled":null,"reports_to":null,"roles":["Staff"],
            "groups":null,"task_notification":null,"change_password_next_time":null,
            "notify_if_new_user":null,"password":null,"delete":false}"#;
        assert_eq!(serde_json::from_str::<UserRow>(earlier).unwrap(), row);
        // An empty list (the column given, no names in it) is kept: it clears them.
        let cleared = UserRow { groups: Some(Vec::new()), ..row.clone() };
        let stored = serde_json::to_string(&cleared).unwrap();
        assert!(stored.contains(r#""groups":[]"#), "{stored}");
        assert_eq!(serde_json::from_str::<UserRow>(&stored).unwrap(), cleared);
    }

    fn parse(headings: &str, data: &str) -> (UserRow, Vec<Diagnostic>) {
        let hs: Vec<&str> = headings.split(',').collect();
        let layout = resolve(&hs, 1, &HeadingMapping::new()).0.expect("headings resolve");
        let record = Record::from(data.split(',').collect::<Vec<_>>());
        let mut diags = Vec::new();
        let row = parse_row(&layout, &record, 2, None, &mut diags);
        (row, diags)
    }

    #[test]
    fn a_full_standard_row() {
        let (row, diags) = parse(
            "userId,externalId,title,firstName,lastName,email,mobile,jobTitle,organisation,status,enabled,reportsTo,roles,groups,taskNotification,changePasswordNextTime,notifyIfNewUser,transaction",
            " pat ,E1,Dr,Pat,Jones,Pat@Example.com,+44 7700,Nurse,RXX01,Leaver,no,boss,A|b||a,G1,off,1,true,",
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(row.user_id.unwrap().as_str(), "pat");
        assert_eq!(row.email.unwrap().as_str(), "Pat@Example.com");
        assert!(row.leaver);
        assert_eq!(row.enabled, Some(false));
        let roles: Vec<String> = row.roles.unwrap().into_iter().map(String::from).collect();
        assert_eq!(roles, ["A", "b"]);
        assert_eq!(row.task_notification, Some(TaskNotification::Off));
        assert_eq!(row.change_password_next_time, Some(true));
        assert!(!row.delete);
    }

    #[test]
    fn every_problem_of_a_line_is_reported_with_its_column_as_written() {
        let (_, diags) = parse("User Name,E-mail,Mobile Number,enabled,roles", "pat jones,bob@,07700x,maybe,Team Lead");
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                r#"Line 2, User Name: "pat jones" contains ' '; only letters A-Z, digits, '.', '_', '@' and '-' are allowed"#,
                r#"Line 2, E-mail: "bob@" is not a valid email address"#,
                r#"Line 2, Mobile Number: "07700x" contains 'x'; a mobile number has only digits, spaces and + ( ) -"#,
                r#"Line 2, enabled: "maybe" must be true or false (or yes/no, 1/0)"#,
                r#"Line 2, roles: "Team Lead" has "Team Lead", which contains a space; role and group names have none"#,
            ]
        );
        assert!(diags.iter().all(|d| d.line == Some(2)));
        assert_eq!(diags[1].column.as_deref(), Some("E-mail"));
    }

    #[test]
    fn required_cells_and_self_reports() {
        let (_, diags) = parse("userId,email,reportsTo", ",,x");
        assert_eq!(diags[0].message, "Line 2, userId: is required");
        assert_eq!(diags[1].message, "Line 2, email: is required");
        let (_, diags) = parse("userId,email,manager", "pat,p@x.io,PAT");
        assert_eq!(
            diags[0].message,
            r#"Line 2, manager: "PAT" is the user itself; a user cannot report to themselves"#
        );
    }

    #[test]
    fn field_counts_that_differ_from_the_headings() {
        let (_, diags) = parse("userId,email", "pat,p@x.io,extra");
        assert_eq!(diags[0].severity, Severity::Error);
        assert!(diags[0].message.starts_with("Line 2: has 3 fields where the heading line has 2"));
        let (row, diags) = parse("userId,email,firstName", "pat,p@x.io");
        assert_eq!(diags[0].severity, Severity::Warning);
        assert_eq!(row.first_name, None);
    }

    #[test]
    fn legacy_v1_rows_convert() {
        let hs = ["UserName", "FullName", "EmailAddress", "Department", "Leaver"];
        let layout = resolve(&hs, 1, &HeadingMapping::new()).0.unwrap();
        let record = Record::from(vec!["pj", "Jones, Pat", "p@x.io", "RXX01", "Y"]);
        let mut diags = Vec::new();
        let row = parse_row(&layout, &record, 5, None, &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!((row.first_name.as_deref(), row.last_name.as_deref()), (Some("Pat"), Some("Jones")));
        assert_eq!(row.organisation.unwrap().as_str(), "RXX01");
        assert!(row.leaver);
        let record = Record::from(vec!["pj", "Mary Ann Smith", "p@x.io", "", "maybe"]);
        let mut diags = Vec::new();
        let row = parse_row(&layout, &record, 6, None, &mut diags);
        assert_eq!((row.first_name.as_deref(), row.last_name.as_deref()), (Some("Mary Ann"), Some("Smith")));
        assert_eq!(diags[0].message, r#"Line 6, Leaver: "maybe" must be Y or N"#);
    }

    #[test]
    fn every_length_limit_names_its_column_and_its_limit() {
        let headings = "userId,externalId,title,firstName,lastName,email,mobile,jobTitle,organisation,roles";
        let at_limit = [
            "u".repeat(64),
            "x".repeat(128),
            "é".repeat(20),
            "é".repeat(100),
            "n".repeat(100),
            format!("{}@{}.{}.{}.org", "e".repeat(64), "a".repeat(63), "b".repeat(63), "c".repeat(57)),
            "7".repeat(40),
            "j".repeat(200),
            "O".repeat(32),
            "R".repeat(100),
        ];
        let (_, diags) = parse(headings, &at_limit.join(","));
        assert!(diags.is_empty(), "at the limit: {diags:?}");
        // One character more (counted as characters: "é" is two bytes).
        let over: Vec<String> = at_limit.iter().map(|v| format!("{v}{}", v.chars().last().unwrap())).collect();
        let (_, diags) = parse(headings, &over.join(","));
        let expected = [
            ("userId", "is longer than 64 characters"),
            ("externalId", "is longer than 128 characters"),
            ("title", "is longer than 20 characters"),
            ("firstName", "is longer than 100 characters"),
            ("lastName", "is longer than 100 characters"),
            ("email", "is longer than 254 characters"),
            ("mobile", "is longer than 40 characters"),
            ("jobTitle", "is longer than 200 characters"),
            ("organisation", "is longer than 32 characters"),
            ("roles", "is longer than 100 characters"),
        ];
        assert_eq!(diags.len(), expected.len(), "{diags:?}");
        for (d, (column, reason)) in diags.iter().zip(expected) {
            assert_eq!(d.column.as_deref(), Some(column));
            assert!(d.message.starts_with(&format!("Line 2, {column}: ")), "{}", d.message);
            assert!(d.message.ends_with(reason), "{}", d.message);
        }
        assert!(diags.iter().all(|d| d.line == Some(2) && d.message.starts_with("Line 2, ")));
    }

    /// Sixty letters: two of them make a name longer than a name may be.
    const LONG: &str = "RRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRRR";

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]

        /// Checking names without keeping them is the same verdict as parsing them.
        #[test]
        fn names_checked_are_judged_as_names_parsed(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec!["Staff", "|", "||", " ", "\t", "a", "é", "\u{85}", "\u{1}", LONG]),
                0..8),
        ) {
            let raw = pieces.concat();
            for controls in [Controls::Search, Controls::KnownAbsent] {
                let checked = parse_names(&raw, false, controls).map(|names| names.is_some());
                let parsed = parse_names(&raw, true, controls).map(|names| names.is_some());
                proptest::prop_assert_eq!(checked, parsed.map(|_| false), "{:?}", raw);
            }
        }
    }

    #[test]
    fn full_names() {
        assert_eq!(split_full_name("Smith"), (None, Some("Smith")));
        assert_eq!(split_full_name(" Smith ,  Jo "), (Some("Jo"), Some("Smith")));
        assert_eq!(split_full_name("Jo Smith"), (Some("Jo"), Some("Smith")));
    }
}
