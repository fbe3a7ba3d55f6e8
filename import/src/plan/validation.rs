//! Validation without a directory (the browser's check, and the server's before it plans): the file's own rules, how each heading is read, and the problems by line.
use crate::decode::Encoding;
use crate::diagnostic::Diagnostic;
use crate::dialect::Delimiter;
use crate::field::Field;
use crate::file_index::FileIndex;
use crate::layout::{Format, HeadingMapping, Layout};
use crate::parts;
use crate::row::check_row;
use crate::source::{Record, Source};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// The browser's first look at a file, before any upload: format, headings,
/// every field rule and the rules between rows, with no directory to plan against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    pub format: Format,
    pub encoding: Encoding,
    pub delimiter: Delimiter,
    pub file_diagnostics: Vec<Diagnostic>,
    pub rows: u64,
    pub rows_with_errors: u64,
    /// Only the lines that have something to say.
    pub problems: Vec<LineProblems>,
    /// Each heading as written, in the file's order, and how it is read.
    #[serde(default)]
    pub headings: Vec<HeadingUse>,
}

/// A heading of the file and what Muster makes of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadingUse {
    /// As written (trimmed).
    pub heading: String,
    /// The field its cells fill; none for a column that is ignored (or, in
    /// Legacy v1, read into several fields: `FullName`, `Leaver`).
    pub field: Option<Field>,
    /// How: `field`, `full-name`, `leaver`, `ignored` (by the admin's
    /// mapping) or `unknown` (no field of that name: the admin may map it);
    /// in other systems' files also `userid-and-email`, `disabled-when-yes`,
    /// `active-or-suspended`, `org-unit-path`, `deletes-when-1`, `one-name`
    /// and `password-hash`.
    pub read_as: String,
}

impl HeadingUse {
    /// What the column gives, as the upload page and `validate` say it.
    pub fn describe(&self) -> String {
        let field = self.field.map_or("", Field::name);
        match self.read_as.as_str() {
            "field" => field.to_owned(),
            "full-name" => "firstName and lastName".to_owned(),
            "leaver" => "status".to_owned(),
            "userid-and-email" => "userId and email".to_owned(),
            "disabled-when-yes" => "enabled (Yes or 1 disables)".to_owned(),
            "active-or-suspended" => "enabled (Active or Suspended)".to_owned(),
            "org-unit-path" => "organisation (the path's last part)".to_owned(),
            "deletes-when-1" => "transaction (1 deletes)".to_owned(),
            "one-name" => format!("{field} (one name)"),
            "password-hash" => "refused when given (a hashed password)".to_owned(),
            "ignored" => "ignored".to_owned(),
            _ => "unknown: ignored".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineProblems {
    pub line: u64,
    pub user_id: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
}

pub fn validate(bytes: &[u8], mapping: &HeadingMapping, tenant_slug: Option<&str>) -> Validation {
    validate_in_parts(bytes, mapping, tenant_slug, None)
}

pub(super) fn heading_uses(layout: &crate::layout::Layout, mapping: &HeadingMapping) -> Vec<HeadingUse> {
    use crate::layout::ColumnRole;
    layout
        .columns
        .iter()
        .map(|column| {
            let (field, read_as) = match column.role {
                ColumnRole::Field(field) => (Some(field), "field"),
                ColumnRole::FullName => (None, "full-name"),
                ColumnRole::LegacyLeaver => (None, "leaver"),
                ColumnRole::UserIdAndEmail => (Some(Field::UserId), "userid-and-email"),
                ColumnRole::Disabled => (Some(Field::Enabled), "disabled-when-yes"),
                ColumnRole::ActiveOrSuspended => (Some(Field::Enabled), "active-or-suspended"),
                ColumnRole::OrgUnitPath => (Some(Field::Organisation), "org-unit-path"),
                ColumnRole::Deletes => (Some(Field::Transaction), "deletes-when-1"),
                ColumnRole::OneOf(field) => (Some(field), "one-name"),
                ColumnRole::PasswordHashed => (None, "password-hash"),
                ColumnRole::Ignored if mapping.contains_key(column.heading.as_str()) => (None, "ignored"),
                ColumnRole::Ignored => (None, "unknown"),
            };
            HeadingUse { heading: column.heading.clone(), field, read_as: read_as.to_owned() }
        })
        .collect()
}

/// The rows a part of a file yields to [`validate`].
pub(super) struct Checked {
    index: FileIndex,
    rows: u64,
    problems: Vec<LineProblems>,
}

/// [`validate`], reading the rows in `parts` parts side by side (by default one
/// per core for a large file). Public for the tests that compare it with one part.
#[doc(hidden)]
pub fn validate_in_parts(
    bytes: &[u8],
    mapping: &HeadingMapping,
    tenant_slug: Option<&str>,
    parts: Option<usize>,
) -> Validation {
    let source = Source::open(bytes, mapping, None);
    let mut out = Validation {
        format: source.format,
        encoding: source.encoding,
        delimiter: source.delimiter,
        file_diagnostics: source.diagnostics.clone(),
        rows: 0,
        rows_with_errors: 0,
        problems: Vec::new(),
        headings: Vec::new(),
    };
    let Some(layout) = &source.layout else {
        return out;
    };
    out.headings = heading_uses(layout, mapping);
    // One pass: the rules between rows that need the whole file (reportsTo) are
    // added to their lines at the end.
    let (mut index, rows, problems) = check_rows(&source, layout, tenant_slug, parts);
    (out.rows, out.problems) = (rows, problems);
    let mut late = index.repeats(layout, &source);
    for (line, mut more) in index.finish(layout, None) {
        late.entry(line).or_default().append(&mut more);
    }
    if !late.is_empty() {
        add_late_problems(&mut out.problems, late);
        // Lines known only now (repeats, reportsTo) are named by their userId too:
        // one more read, for files with such errors only.
        let user_column = layout.column_of(Field::UserId);
        if let (Some(c), true) = (user_column, out.problems.iter().any(|p| p.user_id.is_none())) {
            name_users_of_late_problems(&source, c, &mut out.problems);
        }
    }
    out.rows_with_errors =
        out.problems.iter().filter(|p| p.diagnostics.iter().any(Diagnostic::is_error)).count() as u64;
    out
}

/// Every row's own checks, in `parts` parts side by side: the keys of the
/// whole file, how many rows it has, and the problems by line.
fn check_rows(
    source: &Source,
    layout: &Layout,
    tenant_slug: Option<&str>,
    parts: Option<usize>,
) -> (FileIndex, u64, Vec<LineProblems>) {
    let user_column = layout.column_of(Field::UserId);
    let file_rows = source.expected_rows();
    let mut checked = parts::each_row(
        source,
        parts.unwrap_or_else(|| parts::count(source)),
        |rows| Checked { index: FileIndex::part(layout, file_rows, rows), rows: 0, problems: Vec::new() },
        |part, record, line| {
            let mut diagnostics = Vec::new();
            let keys = check_row(layout, record, line, tenant_slug, &mut diagnostics);
            part.index.add_keys(&keys, line);
            part.rows += 1;
            if !diagnostics.is_empty() {
                let user_id = user_column.and_then(|c| record.get(c)).map(|u| u.trim().to_owned());
                part.problems.push(LineProblems { line, user_id, diagnostics });
            }
        },
    )
    .into_iter();
    let Checked { mut index, mut rows, mut problems } = checked.next().expect("one part at least");
    for later in checked {
        index.append(later.index);
        rows += later.rows;
        problems.extend(later.problems);
    }
    (index, rows, problems)
}

/// Adds the findings known only after the last row to their lines' problems.
fn add_late_problems(problems: &mut Vec<LineProblems>, late: HashMap<u64, Vec<Diagnostic>>) {
    for line_problems in problems.iter_mut() {
        if let Some(more) = late.get(&line_problems.line) {
            line_problems.diagnostics.extend(more.iter().cloned());
        }
    }
    let known: HashSet<u64> = problems.iter().map(|p| p.line).collect();
    for (line, diagnostics) in late {
        if !known.contains(&line) {
            problems.push(LineProblems { line, user_id: None, diagnostics });
        }
    }
    problems.sort_by_key(|p| p.line);
}

/// Reads the file again for the userIds (column `c`) of the lines whose
/// problems have none.
fn name_users_of_late_problems(source: &Source, c: usize, problems: &mut [LineProblems]) {
    let mut record = Record::new();
    let mut rows = source.data_rows();
    let mut problems = problems.iter_mut().filter(|p| p.user_id.is_none()).peekable();
    while let Some(line) = rows.next_filled(&mut record) {
        while problems.next_if(|p| p.line < line).is_some() {}
        match problems.next_if(|p| p.line == line) {
            Some(problem) => problem.user_id = record.get(c).map(|u| u.trim().to_owned()),
            None if problems.peek().is_none() => break,
            None => {}
        }
    }
}
