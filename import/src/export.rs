//! Writing CSV that spreadsheets open safely: every cell that a spreadsheet would
//! run as a formula is neutralised with a leading `'`, and the reader removes that
//! mark again, so a user export is itself a valid upload.
use crate::directory::DirectoryUser;
use crate::field::Field;
use std::borrow::Cow;

/// The characters that make a spreadsheet treat a cell as a formula.
fn is_formula_start(c: char) -> bool {
    matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r')
}

/// Whether a cell needs the mark: it starts a formula, possibly behind marks
/// (`'`) that are part of the value and must survive a round trip too.
fn needs_mark(cell: &str) -> bool {
    cell.trim_start_matches('\'').chars().next().is_some_and(is_formula_start)
}

pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if needs_mark(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The inverse of [`neutralise`], applied to every cell read.
#[inline]
pub fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_mark(rest) => rest,
        _ => cell,
    }
}

/// The columns of a user export: the standard format's, without the ones that
/// only make sense in an upload (password, notifyIfNewUser, transaction, tenant).
pub const EXPORT_FIELDS: [Field; 16] = [
    Field::UserId,
    Field::ExternalId,
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
];

fn cells(user: &DirectoryUser) -> [String; 16] {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        user.user_id.clone(),
        o(&user.external_id),
        o(&user.title),
        o(&user.first_name),
        o(&user.last_name),
        user.email.clone(),
        o(&user.mobile),
        o(&user.job_title),
        o(&user.organisation),
        if user.leaver { "leaver".into() } else { String::new() },
        user.enabled.to_string(),
        o(&user.reports_to),
        user.roles.join("|"),
        user.groups.join("|"),
        user.task_notification.as_str().into(),
        user.change_password_next_time.to_string(),
    ]
}

/// Writes users in the standard format (comma, UTF-8, CRLF as spreadsheets write).
pub fn write_users<'u>(users: impl IntoIterator<Item = &'u DirectoryUser>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, record: &[&str]| {
        w.write_record(record.iter().map(|c| neutralise(c).into_owned())).expect("writing to memory cannot fail");
    };
    write(&mut writer, &EXPORT_FIELDS.map(Field::name));
    for user in users {
        let row = cells(user);
        write(&mut writer, &row.each_ref().map(String::as_str));
    }
    writer.into_inner().expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_restored() {
        for cell in ["=SUM(A1)", "+44 7700", "-1", "@cmd", "\tx"] {
            let safe = neutralise(cell);
            assert!(safe.starts_with('\''), "{cell}");
            assert_eq!(unneutralise(&safe), cell);
        }
        assert_eq!(neutralise("Pat"), "Pat");
        // An apostrophe that is part of a value stays.
        assert_eq!(unneutralise("'Tis"), "'Tis");
        assert_eq!(unneutralise("O'Neil"), "O'Neil");
        for cell in ["'=x", "''+y", "'"] {
            assert_eq!(unneutralise(&neutralise(cell)), cell);
        }
    }
}
