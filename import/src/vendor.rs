//! The files of other systems that admins already hold: Microsoft Entra's
//! bulk-create template and its user download, Google Workspace's upload and
//! download, Okta's user import and Moodle's upload users. Each is recognised
//! by its headings and each column given its Muster meaning, so that switching
//! to Muster is one upload. Values are read as the other system writes them
//! (Entra's "Block sign in" Yes, Moodle's `suspended` 1), and every message
//! names the column as written in the file.
use crate::field::{heading_key, Field};
use crate::layout::{ColumnRole, Format};

/// What a heading of another system's format gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Meaning {
    Role(ColumnRole),
    /// Nothing Muster keeps: listed once among the ignored columns.
    Unused,
    /// Nothing, though the admin might expect it used: a warning says why.
    UnusedBecause(&'static str),
}

use Meaning::{Role, Unused, UnusedBecause};

const DISPLAY_NAME: &str =
    "Muster keeps first and last names, not a display name; fill in the first and last name columns";

/// The format of a heading line, when it is another system's: `None` for the
/// standard format and Legacy v1 (see `layout::resolve`).
pub(crate) fn recognise(headings: &[&str]) -> Option<Format> {
    let keys: Vec<String> = headings.iter().map(|h| heading_key(name_of(h))).collect();
    let has = |key: &str| keys.iter().any(|k| k == key);
    if headings.iter().any(|h| bracketed(h).is_some_and(|a| a.eq_ignore_ascii_case("userPrincipalName"))) {
        return Some(Format::EntraBulkCreate);
    }
    if has("userprincipalname") {
        return Some(Format::EntraExport);
    }
    let google_tag = headings.iter().any(|h| {
        bracketed(h)
            .is_some_and(|tag| ["required", "upload only", "read only"].iter().any(|t| tag.eq_ignore_ascii_case(t)))
    });
    if has("emailaddress") && (has("orgunitpath") || google_tag) {
        return Some(Format::GoogleWorkspace);
    }
    const OKTA_ONLY: [&str; 12] = [
        "employeenumber",
        "mobilephone",
        "managerid",
        "honorificprefix",
        "honorificsuffix",
        "secondemail",
        "displayname",
        "primaryphone",
        "nickname",
        "costcenter",
        "middlename",
        "countrycode",
    ];
    if has("login") && keys.iter().any(|k| OKTA_ONLY.contains(&k.as_str())) {
        return Some(Format::Okta);
    }
    const MOODLE_ONLY: [&str; 10] = [
        "idnumber",
        "suspended",
        "deleted",
        "auth",
        "institution",
        "phone1",
        "phone2",
        "oldusername",
        "maildisplay",
        "lang",
    ];
    let moodle_numbered = keys.iter().any(|k| numbered(k, "cohort") || numbered(k, "sysrole") || numbered(k, "course"));
    if has("username") && (moodle_numbered || keys.iter().any(|k| MOODLE_ONLY.contains(&k.as_str()))) {
        return Some(Format::Moodle);
    }
    None
}

/// The meaning of one heading (as written) in `format`, one of the formats
/// [`recognise`] gives.
/// `keys` are the line's headings as `heading_key` gives them.
pub(crate) fn meaning(format: Format, heading: &str, keys: &[String]) -> Meaning {
    match format {
        Format::EntraBulkCreate => entra(bracketed(heading).unwrap_or(heading), true),
        Format::EntraExport => entra(heading, false),
        Format::GoogleWorkspace => {
            let key = heading_key(name_of(heading));
            if key == "status" && keys.iter().any(|k| k.starts_with("newstatus")) {
                return UnusedBecause(
                    "the file has New Status [UPLOAD ONLY], which sets the status; Status [READ ONLY] is what Google had at the download",
                );
            }
            google(&key)
        }
        Format::Okta => okta(&heading_key(heading)),
        Format::Moodle => moodle(&heading_key(heading)),
        Format::Standard | Format::LegacyV1 => Unused,
    }
}

/// Entra's attribute names, in the template's brackets or as the download's headings.
fn entra(attribute: &str, template: bool) -> Meaning {
    match heading_key(attribute).as_str() {
        // The template has no mail column: the sign-in name is the address.
        "userprincipalname" if template => Role(ColumnRole::UserIdAndEmail),
        "userprincipalname" => Role(ColumnRole::Field(Field::UserId)),
        "mail" => Role(ColumnRole::Field(Field::Email)),
        "passwordprofile" => Role(ColumnRole::Field(Field::Password)),
        // "Block sign in (Yes/No) [accountEnabled]": Yes blocks.
        "accountenabled" if template => Role(ColumnRole::Disabled),
        "accountenabled" => Role(ColumnRole::Field(Field::Enabled)),
        "givenname" => Role(ColumnRole::Field(Field::FirstName)),
        "surname" => Role(ColumnRole::Field(Field::LastName)),
        "jobtitle" => Role(ColumnRole::Field(Field::JobTitle)),
        "department" => Role(ColumnRole::Field(Field::Organisation)),
        "mobile" | "mobilephone" => Role(ColumnRole::Field(Field::Mobile)),
        // Not the externalId: users Muster already has keep their own, and a
        // different one would fail every row that names them.
        "objectid" | "id" => UnusedBecause(
            "Muster matches users by their userPrincipalName; Entra's object id is not loaded as the externalId, which users may already have",
        ),
        "displayname" => UnusedBecause(DISPLAY_NAME),
        "companyname" => {
            UnusedBecause("Muster finds a user's organisation by the department column, not the company name")
        }
        _ => Unused,
    }
}

fn google(key: &str) -> Meaning {
    match key {
        "emailaddress" => Role(ColumnRole::UserIdAndEmail),
        "firstname" => Role(ColumnRole::Field(Field::FirstName)),
        "lastname" => Role(ColumnRole::Field(Field::LastName)),
        "password" => Role(ColumnRole::Field(Field::Password)),
        "passwordhashfunction" => Role(ColumnRole::PasswordHashed),
        "orgunitpath" => Role(ColumnRole::OrgUnitPath),
        "mobilephone" => Role(ColumnRole::Field(Field::Mobile)),
        "employeeid" => Role(ColumnRole::Field(Field::ExternalId)),
        "employeetitle" => Role(ColumnRole::Field(Field::JobTitle)),
        "manageremail" => Role(ColumnRole::Field(Field::ReportsTo)),
        "changepasswordatnextsignin" => Role(ColumnRole::Field(Field::ChangePasswordNextTime)),
        "newstatus" | "status" => Role(ColumnRole::ActiveOrSuspended),
        "newprimaryemail" => UnusedBecause(
            "Muster keeps each user under their Email Address; to change an address, export from Muster and change the email column",
        ),
        "department" => UnusedBecause("Muster finds a user's organisation by the last part of the Org Unit Path, not the department"),
        _ => Unused,
    }
}

fn okta(key: &str) -> Meaning {
    match key {
        "login" => Role(ColumnRole::Field(Field::UserId)),
        "email" => Role(ColumnRole::Field(Field::Email)),
        "firstname" => Role(ColumnRole::Field(Field::FirstName)),
        "lastname" => Role(ColumnRole::Field(Field::LastName)),
        "honorificprefix" => Role(ColumnRole::Field(Field::Title)),
        // Okta's title is the job title; Muster's title is the honorific.
        "title" => Role(ColumnRole::Field(Field::JobTitle)),
        "employeenumber" => Role(ColumnRole::Field(Field::ExternalId)),
        "mobilephone" => Role(ColumnRole::Field(Field::Mobile)),
        "department" => Role(ColumnRole::Field(Field::Organisation)),
        "managerid" => Role(ColumnRole::Field(Field::ReportsTo)),
        "manager" => {
            UnusedBecause("Muster links a manager by managerId, the manager's login; the manager's name is not used")
        }
        "organization" => {
            UnusedBecause("Muster finds a user's organisation by the department column, not the organization")
        }
        "displayname" => UnusedBecause(DISPLAY_NAME),
        _ => Unused,
    }
}

fn moodle(key: &str) -> Meaning {
    match key {
        "username" => Role(ColumnRole::Field(Field::UserId)),
        "email" => Role(ColumnRole::Field(Field::Email)),
        "password" => Role(ColumnRole::Field(Field::Password)),
        "firstname" => Role(ColumnRole::Field(Field::FirstName)),
        "lastname" => Role(ColumnRole::Field(Field::LastName)),
        "idnumber" => Role(ColumnRole::Field(Field::ExternalId)),
        "department" => Role(ColumnRole::Field(Field::Organisation)),
        "phone2" => Role(ColumnRole::Field(Field::Mobile)),
        "suspended" => Role(ColumnRole::Disabled),
        "deleted" => Role(ColumnRole::Deletes),
        k if numbered(k, "cohort") => Role(ColumnRole::OneOf(Field::Groups)),
        k if numbered(k, "sysrole") => Role(ColumnRole::OneOf(Field::Roles)),
        "oldusername" => UnusedBecause(
            "Muster keeps each user under one username and does not rename; the row is read as the user in the username column",
        ),
        "institution" => UnusedBecause("Muster finds a user's organisation by the department column, not the institution"),
        _ => Unused,
    }
}

/// `cohort1`, `sysrole12`: the prefix and a number.
fn numbered(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What is between a heading's last `[` and the `]` after it: Entra's
/// attribute (`Name [displayName] Required`), Google's tag (`[Required]`).
fn bracketed(heading: &str) -> Option<&str> {
    let open = heading.rfind('[')?;
    let close = heading[open..].find(']')? + open;
    Some(heading[open + 1..close].trim())
}

/// A Google heading without its tags: `Email Address [Required]` is `Email Address`.
fn name_of(heading: &str) -> &str {
    heading.find('[').map_or(heading, |open| &heading[..open]).trim()
}

/// The first line of Entra's template, before its headings.
pub(crate) fn is_entra_version_line<'a>(cells: impl IntoIterator<Item = &'a str>) -> bool {
    let mut cells = cells.into_iter();
    let first = cells.next().unwrap_or("");
    let first: String = first.chars().filter(|c| !c.is_whitespace()).collect();
    first.to_ascii_lowercase().starts_with("version:v") && cells.all(|c| c.trim().is_empty())
}

/// Entra's template ships with a row of examples after its headings, which
/// Microsoft asks to remove: its first cell begins `Example:`.
pub(crate) fn is_entra_example(first_cell: &str) -> bool {
    first_cell.trim_start().get(..8).is_some_and(|start| start.eq_ignore_ascii_case("example:"))
}

/// The organisation of Google's `Org Unit Path`: its last part (`/Staff/Ward-7`
/// is `Ward-7`); the root `/` is none.
pub(crate) fn org_unit(path: &str) -> &str {
    path.trim().trim_end_matches('/').rsplit('/').next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recognised(line: &str) -> Option<Format> {
        recognise(&line.split(',').collect::<Vec<_>>())
    }

    #[test]
    fn each_format_is_told_by_its_headings() {
        assert_eq!(
            recognised("Name [displayName] Required,User name [userPrincipalName] Required,Block sign in (Yes/No) [accountEnabled] Required"),
            Some(Format::EntraBulkCreate)
        );
        assert_eq!(recognised("userPrincipalName,displayName,mail,accountEnabled"), Some(Format::EntraExport));
        assert_eq!(
            recognised("First Name [Required],Last Name [Required],Email Address [Required],Org Unit Path [Required]"),
            Some(Format::GoogleWorkspace)
        );
        assert_eq!(recognised("login,firstName,lastName,email,employeeNumber"), Some(Format::Okta));
        assert_eq!(recognised("username,firstname,lastname,email,cohort1"), Some(Format::Moodle));
        assert_eq!(recognised("username,password,firstname,lastname,email,idnumber"), Some(Format::Moodle));
        // The standard format's own aliases alone stay standard.
        for standard in [
            "login,firstName,lastName,email",
            "username,firstname,surname,email,password,change password next time",
            "userId,email address,firstName",
            "userId,externalId,tenant,title,firstName,lastName,email,mobile,jobTitle,organisation,status,enabled,reportsTo,roles,groups",
        ] {
            assert_eq!(recognised(standard), None, "{standard}");
        }
    }

    #[test]
    fn values_as_the_other_systems_write_them() {
        assert_eq!(org_unit("/Staff/Ward-7"), "Ward-7");
        assert_eq!(org_unit("/Staff/Ward 7/"), "Ward 7");
        assert_eq!(org_unit("/"), "");
        assert!(is_entra_version_line(["version:v1.0", "", " "]));
        assert!(is_entra_version_line(["Version: v1.0"]));
        assert!(!is_entra_version_line(["version:v1.0", "x"]));
        assert!(is_entra_example("Example: Chris Green"));
        assert!(!is_entra_example("Chris Green"));
        assert!(numbered("cohort12", "cohort") && !numbered("cohort", "cohort") && !numbered("cohortx", "cohort"));
    }
}
