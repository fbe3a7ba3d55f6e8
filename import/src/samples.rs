//! The sample files the upload page offers, one per format: what a file that
//! Muster reads looks like, with a row of each common kind.
use crate::field::Field;
use crate::layout::Format;

/// The sample of `format`, as a file (UTF-8, comma-separated, CRLF as a
/// spreadsheet writes it).
pub fn sample(format: Format) -> String {
    let lines: Vec<String> = match format {
        Format::Standard => {
            let headings: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
            vec![
                headings.join(","),
                // userId, externalId, tenant, title, firstName, lastName, email, mobile,
                // jobTitle, organisation, status, enabled, reportsTo, roles, groups,
                // taskNotification, changePasswordNextTime, notifyIfNewUser, password, transaction
                "mary.major,E1001,,Dr,Mary,Major,mary.major@example.org,+44 7700 900001,Consultant,,,true,,Coordinator|Staff,Ward-7,Email,,true,,".into(),
                "pat.minor,E1002,,,Pat,Minor,pat.minor@example.org,,\"Nurse, night shift\",,,true,mary.major,Staff,Ward-7,OFF,,true,,".into(),
                "lee.long,E0950,,,Lee,Long,lee.long@example.org,,Porter,,leaver,,,,,,,,,".into(),
                "old.account,,,,,,old.account@example.org,,,,,,,,,,,,,DELETE".into(),
            ]
        }
        Format::LegacyV1 => vec![
            "UserName,FullName,EmailAddress,Department,Leaver".into(),
            "mary.major,\"Major, Mary\",mary.major@example.org,,N".into(),
            "pat.minor,Pat Minor,pat.minor@example.org,,N".into(),
            "lee.long,\"Long, Lee\",lee.long@example.org,,Y".into(),
        ],
    };
    let mut file = lines.join("\r\n");
    file.push_str("\r\n");
    file
}

/// The name the sample downloads as.
pub fn sample_name(format: Format) -> &'static str {
    match format {
        Format::Standard => "muster-users-sample.csv",
        Format::LegacyV1 => "muster-users-sample-legacy-v1.csv",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::HeadingMapping;

    #[test]
    fn each_sample_is_read_in_its_format_without_a_problem() {
        for format in [Format::Standard, Format::LegacyV1] {
            let v = crate::validate(sample(format).as_bytes(), &HeadingMapping::new(), None);
            assert_eq!(v.format, format);
            assert!(v.file_diagnostics.is_empty(), "{format:?}: {:?}", v.file_diagnostics);
            assert_eq!(v.problems, [], "{format:?}");
            assert!(v.rows >= 3, "{format:?}");
        }
    }
}
