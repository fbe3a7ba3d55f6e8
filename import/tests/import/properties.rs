//! Properties over generated input: any bytes give diagnostics, never a panic;
//! valid users written out and read back are the same users.
use muster_import::export::write_users;
use muster_import::fields::TaskNotification;
use muster_import::plan::validate_in_parts;
use muster_import::source::{both_readings, Record, Records};
use muster_import::{
    plan, validate, Delimiter, Directory, DirectoryUser, HeadingMapping, Organisation, PlanOptions, RowStatus,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_give_diagnostics_not_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let v = validate(&bytes, &HeadingMapping::new(), Some("demo"));
        let p = plan(&bytes, &Directory::empty("demo"), &PlanOptions::default());
        for d in v.file_diagnostics.iter().chain(p.summary.file_diagnostics.iter()) {
            prop_assert!(!d.message.is_empty());
        }
        prop_assert_eq!(p.summary.counts.total() as usize, p.rows.len());
        for row in &p.rows {
            prop_assert!(row.status != RowStatus::Error || row.diagnostics.iter().any(|d| d.is_error()));
        }
    }

    #[test]
    fn csv_shaped_text_never_panics(
        lines in proptest::collection::vec(
            proptest::collection::vec("[a-zA-Z0-9@.,;\"\t |=+'-]{0,12}", 1..8), 0..12),
        header in proptest::sample::select(vec![
            "userId,email,firstName,lastName,reportsTo,roles",
            "userId;email;status;transaction;externalId",
            "UserName,FullName,EmailAddress,Department,Leaver",
            "username\tfirstname\tsurname\temail\tpassword",
        ]),
    ) {
        let mut text = String::from(header);
        for cells in lines {
            text.push('\n');
            text.push_str(&cells.join(","));
        }
        let p = plan(text.as_bytes(), &Directory::empty("demo"), &PlanOptions::default());
        prop_assert_eq!(p.summary.counts.total() as usize, p.rows.len());
    }

    #[test]
    fn records_carry_the_line_an_editor_shows(
        rows in proptest::collection::vec(
            (proptest::collection::vec("[a-z\"\r\n, ]{0,5}", 1..4), 0..3usize, any::<bool>()), 1..12),
    ) {
        // Each row: its cells, the blank lines before it, and whether it ends in CRLF.
        let mut text = String::new();
        let mut expected = Vec::new();
        for (cells, blanks, crlf) in &rows {
            let end = if *crlf { "\r\n" } else { "\n" };
            text.push_str(&end.repeat(*blanks));
            expected.push((text.matches('\n').count() as u64 + 1, cells.clone()));
            let quoted: Vec<String> = cells.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
            text.push_str(&quoted.join(","));
            text.push_str(end);
        }
        let mut records = Records::new(&text, Delimiter::Comma);
        let mut record = Record::new();
        let mut seen = Vec::new();
        while let Some(line) = records.next_into(&mut record) {
            seen.push((line, record.iter().map(str::to_owned).collect::<Vec<_>>()));
        }
        prop_assert_eq!(seen, expected, "{:?}", text);
    }

    #[test]
    fn reading_in_parts_gives_the_verdict_of_one_pass(
        rows in proptest::collection::vec(
            (0..40u32, 0..40u32, "[a-z \"\r\n,]{0,6}", 0..4usize, any::<bool>(), 0..8u8), 1..300),
        parts in 2..5usize,
    ) {
        // Repeated keys and managers across the whole file (so across parts),
        // quoted line breaks, stray quotes, blank lines, CRLF and LF.
        let mut text = String::from("userId,email,reportsTo,transaction,jobTitle\n");
        for (user, manager, title, shape, crlf, deletes) in &rows {
            let transaction = if *deletes == 0 { "DELETE" } else { "" };
            let end = if *crlf { "\r\n" } else { "\n" };
            let title = match shape {
                0 => format!("\"{}\"", title.replace('"', "\"\"")),
                1 => title.replace(['\r', '\n'], " "),
                2 => format!("{}{end}{end}", title.replace(['\r', '\n', '"'], "")),
                _ => format!("\"{title}\""),
            };
            text.push_str(&format!("u{user},u{user}@x.io,u{manager},{transaction},{title}{end}"));
        }
        let one = validate_in_parts(text.as_bytes(), &HeadingMapping::new(), None, Some(1));
        let many = validate_in_parts(text.as_bytes(), &HeadingMapping::new(), None, Some(parts));
        prop_assert_eq!(many, one);
    }

    #[test]
    fn users_written_out_read_back_unchanged(users in proptest::collection::vec(user_strategy(), 1..20)) {
        // Keys must be unique within a file.
        let mut seen = std::collections::HashSet::new();
        let mut users: Vec<DirectoryUser> = users
            .into_iter()
            .filter(|u| {
                let ext = u.external_id.as_ref().map(|e| format!("ext:{}", e.to_lowercase()));
                seen.insert(u.user_id.to_lowercase())
                    && seen.insert(u.email.to_lowercase())
                    && ext.is_none_or(|e| seen.insert(e))
            })
            .collect();
        // Managers earlier in the file (so never a cycle); ids as a tenant's would be.
        for i in 0..users.len() {
            users[i].id = i as i64 + 1;
            if i % 3 != 0 {
                users[i].reports_to = Some(users[i / 2].user_id.clone());
            }
        }

        // Read as new users (a new user cannot be a leaver yet).
        let joining: Vec<DirectoryUser> = users.iter().cloned().map(|u| DirectoryUser { leaver: false, ..u }).collect();
        let tenant = directory_with(&[]);
        let p = plan(&write_users(&joining), &tenant, &PlanOptions::default());
        prop_assert!(p.summary.file_ok(), "{:?}", p.summary.file_diagnostics);
        prop_assert_eq!(p.rows.len(), users.len());
        for (user, planned) in joining.iter().zip(&p.rows) {
            prop_assert_eq!(planned.status, RowStatus::New, "{:?}", planned.diagnostics);
            let row = planned.row.as_ref().unwrap();
            prop_assert_eq!(row.user_id.as_ref().unwrap().as_str(), user.user_id.as_str());
            prop_assert_eq!(row.email.as_ref().unwrap().as_str(), user.email.as_str());
            prop_assert_eq!(&row.first_name, &user.first_name);
            prop_assert_eq!(&row.last_name, &user.last_name);
            prop_assert_eq!(&row.title, &user.title);
            prop_assert_eq!(&row.job_title, &user.job_title);
            prop_assert_eq!(row.organisation.as_ref().map(|o| o.to_string()), user.organisation.clone());
            prop_assert_eq!(row.mobile.as_ref().map(|m| m.to_string()), user.mobile.clone());
            prop_assert_eq!(row.external_id.as_ref().map(|m| m.to_string()), user.external_id.clone());
            prop_assert_eq!(row.reports_to.as_ref().map(|m| m.to_string()), user.reports_to.clone());
            prop_assert_eq!(row.enabled, Some(user.enabled));
            prop_assert!(!row.leaver);
            prop_assert_eq!(row.task_notification, Some(user.task_notification));
            prop_assert_eq!(row.change_password_next_time, Some(user.change_password_next_time));
            let roles: Vec<String> = row.roles.iter().flatten().map(|r| r.to_string()).collect();
            prop_assert_eq!(roles, user.roles.clone());
            let groups: Vec<String> = row.groups.iter().flatten().map(|g| g.to_string()).collect();
            prop_assert_eq!(groups, user.groups.clone());
        }

        // Read back against the tenant that holds them (leavers included): an
        // export of a tenant changes nothing in it.
        let p = plan(&write_users(&users), &directory_with(&users), &PlanOptions::default());
        prop_assert!(p.summary.file_ok(), "{:?}", p.summary.file_diagnostics);
        for (user, planned) in users.iter().zip(&p.rows) {
            prop_assert_eq!(
                planned.status, RowStatus::Unchanged, "{}: {:?} {:?}", user.user_id, planned.changes, planned.diagnostics
            );
        }
    }
}

const ORGANISATIONS: [&str; 3] = ["DEFAULT", "RXX01", "rxx-02"];

/// A tenant with the organisations users are given, and `users` with their
/// roles and groups.
fn directory_with(users: &[DirectoryUser]) -> Directory {
    let mut tenant = Directory::empty("demo");
    tenant.organisations = ORGANISATIONS
        .iter()
        .map(|code| Organisation { code: (*code).into(), name: format!("Org {code}"), is_default: *code == "DEFAULT" })
        .collect();
    tenant.users = users.to_vec();
    let names = |pick: fn(&DirectoryUser) -> &Vec<String>| {
        let mut all: Vec<String> = users.iter().flat_map(|u| pick(u).iter().cloned()).collect();
        all.sort_by_key(|n| n.to_lowercase());
        all.dedup_by_key(|n| n.to_lowercase());
        all
    };
    tenant.roles = names(|u| &u.roles);
    tenant.groups = names(|u| &u.groups);
    tenant
}

fn text(max: usize) -> impl Strategy<Value = Option<String>> {
    // Letters with accents, quotes, commas, formula starters: what real names hold.
    let pattern = format!("[A-Za-zéüøß'\",;=+@-][A-Za-z éüøß'\",;-]{{0,{}}}[A-Za-zé]", max - 2);
    proptest::option::of(proptest::string::string_regex(&pattern).expect("a valid pattern"))
}

fn user_strategy() -> impl Strategy<Value = DirectoryUser> {
    (
        "[a-z][a-z0-9._-]{0,20}",
        "[a-z][a-z0-9]{0,10}@[a-z]{1,8}\\.(org|com|uk)",
        text(20),
        text(40),
        text(40),
        proptest::option::of("\\+?[0-9]{3,12}"),
        proptest::option::of("[A-Z0-9-]{1,20}"),
        any::<bool>(),
        proptest::collection::vec("[A-Za-z][A-Za-z0-9_-]{0,10}", 0..3),
        any::<bool>(),
        (text(30), proptest::option::of(0..ORGANISATIONS.len()), any::<bool>(), any::<bool>()),
        proptest::collection::vec("[A-Za-z][A-Za-z0-9_-]{0,10}", 0..3),
    )
        .prop_map(|(user_id, email, title, first, last, mobile, ext, enabled, roles, off, more, groups)| {
            let (job_title, organisation, leaver, change_password_next_time) = more;
            let mut roles_seen = std::collections::HashSet::new();
            let mut groups_seen = std::collections::HashSet::new();
            DirectoryUser {
                id: 0,
                user_id,
                external_id: ext,
                title: title
                    .map(|t| t.chars().take(20).collect::<String>().trim().to_owned())
                    .filter(|t| !t.is_empty()),
                first_name: first.or(Some("X".into())),
                last_name: last,
                email,
                mobile,
                job_title: job_title.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
                organisation: organisation.map(|i| ORGANISATIONS[i].to_owned()),
                leaver,
                enabled,
                reports_to: None,
                roles: roles.into_iter().filter(|r| roles_seen.insert(r.to_lowercase())).collect(),
                groups: groups.into_iter().filter(|g| groups_seen.insert(g.to_lowercase())).collect(),
                task_notification: if off { TaskNotification::Off } else { TaskNotification::Email },
                change_password_next_time,
                is_admin: false,
            }
        })
}

proptest! {
    // Cheap cases, and the reader's two ways must agree on every mix: many of them.
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn records_are_read_as_the_csv_crate_reads_them(
        text in "[a\"\r\n,; \t\u{feff}é]{0,60}",
        delimiter in proptest::sample::select(vec![Delimiter::Comma, Delimiter::Semicolon, Delimiter::Tab]),
    ) {
        // Lines with and without quotes in any mix, stray quotes and CRs, blank
        // lines, BOMs, no line break at the end: each record goes one of the
        // reader's two ways, and each way must give the csv crate's records.
        let [ours, theirs] = both_readings(&text, delimiter);
        prop_assert_eq!(ours, theirs, "{:?}", text);
    }

    #[test]
    fn long_lines_without_quotes_are_cut_at_every_delimiter(
        text in "([a,;\té ]{0,70}(\r\n|\n|\r)){0,4}[a,;\té ]{0,70}",
        delimiter in proptest::sample::select(vec![Delimiter::Comma, Delimiter::Semicolon, Delimiter::Tab]),
    ) {
        let [ours, theirs] = both_readings(&text, delimiter);
        prop_assert_eq!(ours, theirs, "{:?}", text);
    }
}
