//! Every row status of SPEC section 4, the modes, and the file-level rules.
mod formats;
use muster_import::fields::TaskNotification;
use muster_import::plan::{validate_in_parts, Change};
use muster_import::{
    plan, validate, Delimiter, Directory, DirectoryUser, Field, HeadingMapping, Mode, Organisation, Plan, PlanOptions,
    RowStatus, SyncAction,
};

fn user(id: i64, user_id: &str, org: &str) -> DirectoryUser {
    DirectoryUser {
        id,
        user_id: user_id.into(),
        external_id: None,
        title: None,
        first_name: Some(user_id.to_uppercase()),
        last_name: Some("Existing".into()),
        email: format!("{user_id}@example.com"),
        mobile: None,
        job_title: None,
        organisation: Some(org.into()),
        leaver: false,
        enabled: true,
        reports_to: None,
        roles: vec![],
        groups: vec![],
        task_notification: TaskNotification::Email,
        change_password_next_time: false,
        is_admin: false,
    }
}

fn directory() -> Directory {
    let mut pat = user(1, "pat", "RXX01");
    pat.external_id = Some("E1".into());
    pat.job_title = Some("Nurse".into());
    pat.roles = vec!["Staff".into()];
    let mut sam = user(2, "sam", "RXX01");
    sam.leaver = true;
    let kim = user(3, "kim", "RXX02");
    let mut admin = user(4, "admin", "DEFAULT");
    admin.is_admin = true;
    Directory {
        tenant_slug: "demo".into(),
        licence_limit: None,
        organisations: ["DEFAULT", "RXX01", "RXX02"]
            .into_iter()
            .map(|c| Organisation { code: c.into(), name: c.into(), is_default: c == "DEFAULT" })
            .collect(),
        roles: vec!["Staff".into()],
        groups: vec![],
        users: vec![pat, sam, kim, admin],
        active_users: None,
    }
}

fn run(csv: &str, options: &PlanOptions) -> Plan {
    plan(csv.as_bytes(), &directory(), options)
}

fn statuses(plan: &Plan) -> Vec<(Option<u64>, RowStatus)> {
    plan.rows.iter().map(|r| (r.line, r.status)).collect()
}

fn messages(plan: &Plan, line: u64) -> Vec<String> {
    plan.rows.iter().find(|r| r.line == Some(line)).unwrap().diagnostics.iter().map(|d| d.message.clone()).collect()
}

const HEAD: &str = "userId,externalId,firstName,lastName,email,jobTitle,organisation,status,roles,transaction\n";

#[test]
fn each_row_status_with_its_preview_message() {
    let csv = format!(
        "{HEAD}\
         new1,,New,One,new1@example.com,,,,,\n\
         pat,e1,,,pat@example.com,Sister,,,,\n\
         PAT2,,,,,,,,,\n\
         kim,,,,kim@example.com,,,leaver,,\n\
         sam,,,,sam@example.com,,RXX02,,,\n\
         kim,,,,kim@example.com,,,,,delete\n"
    );
    let plan = run(&csv, &PlanOptions::default());
    // Line 4 (PAT2) is unknown and has no email: an error; line 7 repeats kim.
    assert_eq!(
        statuses(&plan),
        [
            (Some(2), RowStatus::New),
            (Some(3), RowStatus::Update),
            (Some(4), RowStatus::Error),
            (Some(5), RowStatus::Leaver),
            (Some(6), RowStatus::Joiner),
            (Some(7), RowStatus::Error),
        ]
    );
    let msg = |i: usize| plan.rows[i].message.as_str();
    assert_eq!(msg(0), "New user");
    assert_eq!(msg(1), "Account already exists and will be updated (jobTitle)");
    assert_eq!(
        plan.rows[1].changes,
        [Change { field: Field::JobTitle, old: Some("Nurse".into()), new: Some("Sister".into()) }]
    );
    assert_eq!(plan.rows[1].existing_id, Some(1), "matched by externalId, ignoring case");
    assert_eq!(msg(3), "Will be marked as leaver");
    assert_eq!(msg(4), "User already exists in Leaver state and will be moved to given Organisation");
    assert!(messages(&plan, 7)
        .iter()
        .any(|m| m == r#"Line 7, userId: "kim" is also on line 5; each userId may appear once in a file"#));
    assert_eq!(plan.summary.counts.new, 1);
    assert_eq!(plan.summary.counts.error, 2);
}

#[test]
fn unchanged_and_delete_and_matching_ignores_case_and_spaces() {
    // Email is required on every row, even one to delete.
    let csv = format!("{HEAD}kim,,,,,,,,,DELETE\n");
    assert_eq!(statuses(&run(&csv, &PlanOptions::default())), [(Some(2), RowStatus::Error)]);
    let csv = format!("{HEAD} PAT ,,,,Pat@Example.COM,Nurse,rxx01,,staff,\nkim,,,,kim@example.com,,,,,DELETE\n");
    let plan = run(&csv, &PlanOptions::default());
    assert_eq!(statuses(&plan), [(Some(2), RowStatus::Unchanged), (Some(3), RowStatus::Delete)]);
    assert_eq!(plan.rows[0].message, "No change");
    assert_eq!(plan.rows[1].message, "Will be deleted");
}

#[test]
fn rule_breaking_rows_say_which_rule() {
    let csv = format!(
        "{HEAD}\
         pat,,,,pat@example.com,,RXX02,,,\n\
         ghost,,,,ghost@example.com,,,,,DELETE\n\
         ghost2,,,,ghost2@example.com,,,leaver,,\n\
         newbie,,,,kim@example.com,,,,,\n\
         nameless,,,,nameless@example.com,,,,,\n\
         orgless,,A,B,orgless@example.com,,NOPE,,,\n\
         admin,,,,admin@example.com,,,,,DELETE\n"
    );
    let plan = run(&csv, &PlanOptions::default());
    assert!(plan.rows.iter().all(|r| r.status == RowStatus::Error), "{:?}", statuses(&plan));
    assert_eq!(
        messages(&plan, 2),
        [
            r#"Line 2, organisation: "RXX02" differs from the user's organisation "RXX01": an upload cannot move users between organisations (use the Users screen's transfer)"#
        ]
    );
    assert_eq!(messages(&plan, 3), [r#"Line 3, transaction: "DELETE" but no user "ghost" exists"#]);
    assert!(messages(&plan, 4)[0].contains(r#"status: "leaver" but no user "ghost2" exists"#));
    assert!(messages(&plan, 5)[0].contains(r#"email: "kim@example.com" belongs to another user ("kim")"#));
    assert_eq!(messages(&plan, 6), ["Line 6: a new user needs a firstName or a lastName"]);
    assert_eq!(messages(&plan, 7), [r#"Line 7, organisation: "NOPE" is not an organisation of this tenant"#]);
    assert_eq!(
        messages(&plan, 8),
        [r#"Line 8, transaction: "DELETE" but "admin" is a tenant admin; an upload does not delete admins"#]
    );
}

#[test]
fn modes() {
    let csv = format!("{HEAD}new1,,N,O,new1@example.com,,,,,\npat,,,,pat@example.com,Sister,,,,\n");
    let add_only = run(&csv, &PlanOptions { mode: Mode::AddNewOnly, ..PlanOptions::default() });
    assert_eq!(statuses(&add_only), [(Some(2), RowStatus::New), (Some(3), RowStatus::Skipped)]);
    let update_only = run(&csv, &PlanOptions { mode: Mode::UpdateOnly, ..PlanOptions::default() });
    assert_eq!(statuses(&update_only), [(Some(2), RowStatus::Error), (Some(3), RowStatus::Update)]);
    assert!(messages(&update_only, 2)[0].contains("Update only mode adds no one"));
}

#[test]
fn sync_lists_old_users_and_guards_against_mass_retirement() {
    let csv = format!("{HEAD}pat,,,,pat@example.com,,,,,\n");
    let report = run(&csv, &PlanOptions { mode: Mode::Sync, ..PlanOptions::default() });
    let old: Vec<(&str, &str)> = report
        .rows
        .iter()
        .filter(|r| r.status == RowStatus::Old)
        .map(|r| (r.user_id.as_deref().unwrap(), r.message.as_str()))
        .collect();
    // sam is already a leaver; the admin is listed but always kept.
    assert_eq!(old, [("kim", "Not in file (kept)"), ("admin", "Not in file (a tenant admin: kept)")]);
    assert!(!report.summary.needs_confirmation);

    let delete =
        run(&csv, &PlanOptions { mode: Mode::Sync, sync_action: SyncAction::Delete, ..PlanOptions::default() });
    assert_eq!(delete.summary.counts.old, 2);
    assert!(delete.summary.needs_confirmation, "1 of 3 active users is over 20%");
    assert!(delete.summary.file_diagnostics[0].message.starts_with("This sync would delete 1 of 3 active users (33%)"));
    let relaxed = run(
        &csv,
        &PlanOptions {
            mode: Mode::Sync,
            sync_action: SyncAction::Delete,
            sync_threshold_percent: 50,
            ..PlanOptions::default()
        },
    );
    assert!(!relaxed.summary.needs_confirmation);
}

#[test]
fn licences_are_checked_for_the_whole_file() {
    let mut dir = directory();
    dir.licence_limit = Some(4); // 3 active: 1 remains
    let csv = format!(
        "{HEAD}a1,,A,One,a1@example.com,,,,,\na2,,A,Two,a2@example.com,,,,,\nsam,,,,sam@example.com,,RXX01,,,\n"
    );
    let plan = plan(csv.as_bytes(), &dir, &PlanOptions::default());
    assert_eq!(
        plan.summary.file_diagnostics.iter().map(|d| d.message.as_str()).collect::<Vec<_>>(),
        ["This file needs 3 licences for new users and joiners, but only 1 of the tenant's 4 remain"]
    );
    assert!(!plan.summary.file_ok());
}

#[test]
fn unticked_rows_are_skipped_and_roles_added_are_listed_once() {
    let csv = format!(
        "{HEAD}a1,,A,One,a1@example.com,,,,Staff|Coordinator,\na2,,A,Two,a2@example.com,,,,coordinator|Porter,\na3,,A,Three,a3@example.com,,,,Ghost,\n"
    );
    let options = PlanOptions { deselected: [4].into(), ..PlanOptions::default() };
    let plan = run(&csv, &options);
    assert_eq!(plan.rows[2].status, RowStatus::Skipped);
    assert_eq!(plan.summary.roles_added, ["Coordinator", "Porter"]);
}

#[test]
fn reports_to_must_resolve_and_never_cycle() {
    let csv = "userId,email,firstName,reportsTo\n\
               a,a@x.io,A,b\n\
               b,b@x.io,B,a\n\
               c,c@x.io,C,nobody\n\
               d,d@x.io,D,pat\n\
               e,e@x.io,E,f\n\
               f,f@x.io,F,\n";
    let plan = run(csv, &PlanOptions::default());
    assert_eq!(
        statuses(&plan),
        [
            (Some(2), RowStatus::Error),
            (Some(3), RowStatus::Error),
            (Some(4), RowStatus::Error),
            (Some(5), RowStatus::New),
            (Some(6), RowStatus::New),
            (Some(7), RowStatus::New),
        ]
    );
    assert_eq!(messages(&plan, 2), [r#"Line 2, reportsTo: "b" closes a reporting cycle: a (line 2) → b (line 3) → a"#]);
    assert_eq!(messages(&plan, 3), [r#"Line 3, reportsTo: "a" closes a reporting cycle: a (line 2) → b (line 3) → a"#]);
    assert_eq!(
        messages(&plan, 4),
        [r#"Line 4, reportsTo: "nobody" is neither an existing user nor a user of this file"#]
    );
}

#[test]
fn passwords_of_existing_users_are_ignored_with_a_warning() {
    // Good or not, an existing user's password changes nothing; a new user's must
    // meet the policy, and is never repeated in the message.
    let csv = "userId,email,password,firstName\npat,pat@example.com,Secret12345,\n\
               pat2,pat2@example.com,short,\nnew1,new1@example.com,short,New\n";
    let mut dir = directory();
    dir.users.push(user(11, "pat2", "RXX01"));
    let plan = plan(csv.as_bytes(), &dir, &PlanOptions::default());
    assert_eq!(
        statuses(&plan),
        [(Some(2), RowStatus::Unchanged), (Some(3), RowStatus::Unchanged), (Some(4), RowStatus::Error)]
    );
    for line in [2, 3] {
        assert_eq!(
            messages(&plan, line),
            [format!("Line {line}, password: is ignored for an existing user: passwords are never changed by upload")]
        );
    }
    assert_eq!(messages(&plan, 4), ["Line 4, password: is shorter than 10 characters (password policy)"]);
    assert!(plan.rows[2].diagnostics[0].value.as_deref() == Some(""), "the value is not kept either");
}

#[test]
fn another_tenant_in_the_tenant_column_is_an_error() {
    let csv = "userId,email,firstName,tenant\nx,x@x.io,X,DEMO\ny,y@x.io,Y,acme\n";
    let plan = run(csv, &PlanOptions::default());
    assert_eq!(statuses(&plan), [(Some(2), RowStatus::New), (Some(3), RowStatus::Error)]);
    assert!(messages(&plan, 3)[0].contains(r#"tenant: "acme" is not this tenant ("demo")"#));
}

#[test]
fn the_seed_004_example() {
    // An existing user gets a new last name; three new users bring four new roles.
    let mut dir = directory();
    dir.users.push(user(10, "john", "DEFAULT"));
    let csv =
        "userId,tenant,firstName,lastName,email,enabled,reportsTo,roles,taskNotification,transaction,notifyIfNewUser\n\
               john,,JOHN,Smith,john@example.com,true,,,Email,,false\n\
               mary,,Mary,Major,mary@example.com,true,john,Coordinator|Nurse,Email,,true\n\
               pat2,demo,Pat,Minor,pat2@example.com,true,mary,Porter,OFF,,false\n\
               lee,,Lee,Long,lee@example.com,false,,Clerk|Staff,,,\n";
    let plan = plan(csv.as_bytes(), &dir, &PlanOptions::default());
    assert!(plan.rows.iter().all(|r| r.diagnostics.is_empty()), "{:?}", plan.rows);
    assert_eq!((plan.summary.counts.new, plan.summary.counts.update, plan.summary.counts.delete), (3, 1, 0));
    assert_eq!(plan.summary.roles_added, ["Coordinator", "Nurse", "Porter", "Clerk"]);
}

#[test]
fn empty_files_and_legacy_files() {
    let plan = run("userId,email\n", &PlanOptions::default());
    assert_eq!(plan.summary.file_diagnostics[0].message, "Users file is empty");
    assert!(plan.rows.is_empty());

    let legacy = "UserName,FullName,EmailAddress,Department,Leaver\r\nkim,\"Existing, KIM\",kim@example.com,,Y\r\nnew9,Ann Lee,ann@example.com,RXX01,N\r\n";
    let plan = run(legacy, &PlanOptions::default());
    assert_eq!(plan.summary.format, muster_import::Format::LegacyV1);
    assert_eq!(statuses(&plan), [(Some(2), RowStatus::Leaver), (Some(3), RowStatus::New)]);
}

#[test]
fn validation_says_how_each_heading_is_read_and_a_mapping_changes_it() {
    let csv = "User Name,email,Dept,Notes,first_name\npat,pat@x.io,RXX01,hi,Pat\n";
    let v = validate(csv.as_bytes(), &HeadingMapping::new(), None);
    let read: Vec<(&str, Option<Field>, &str)> =
        v.headings.iter().map(|h| (h.heading.as_str(), h.field, h.read_as.as_str())).collect();
    assert_eq!(
        read,
        [
            ("User Name", Some(Field::UserId), "field"),
            ("email", Some(Field::Email), "field"),
            ("Dept", None, "unknown"),
            ("Notes", None, "unknown"),
            ("first_name", Some(Field::FirstName), "field"),
        ]
    );
    let mapping = HeadingMapping::from([("Dept".to_owned(), Some(Field::Organisation)), ("Notes".to_owned(), None)]);
    let v = validate(csv.as_bytes(), &mapping, None);
    assert_eq!((v.headings[2].field, v.headings[2].read_as.as_str()), (Some(Field::Organisation), "field"));
    assert_eq!((v.headings[3].field, v.headings[3].read_as.as_str()), (None, "ignored"));
    let legacy = "UserName,FullName,EmailAddress,Department,Leaver\nkim,\"Lee, Kim\",kim@x.io,RXX01,N\n";
    let v = validate(legacy.as_bytes(), &HeadingMapping::new(), None);
    let read: Vec<&str> = v.headings.iter().map(|h| h.read_as.as_str()).collect();
    assert_eq!(read, ["field", "full-name", "field", "field", "leaver"]);
}

#[test]
fn validation_without_a_directory_reports_field_and_file_rules_only() {
    let csv = "userId,email,firstName,reportsTo\npat,pat@x.io,P,boss\npat,bob@,B,\n";
    let v = validate(csv.as_bytes(), &HeadingMapping::new(), Some("demo"));
    assert_eq!((v.rows, v.rows_with_errors), (2, 1));
    let messages: Vec<&str> = v.problems[0].diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            r#"Line 3, email: "bob@" is not a valid email address"#,
            r#"Line 3, userId: "pat" is also on line 2; each userId may appear once in a file"#
        ]
    );
}

#[test]
fn two_rows_about_one_user_are_an_error_on_the_second() {
    // Line 2 finds pat by externalId (and renames them); line 3 finds pat by userId.
    let csv = "userId,externalId,email\npat.new,E1,pat@example.com\npat,,pat2@example.com\n";
    let plan = run(csv, &PlanOptions::default());
    assert_eq!(statuses(&plan), [(Some(2), RowStatus::Update), (Some(3), RowStatus::Error)]);
    assert_eq!(messages(&plan, 3), [r#"Line 3: is about the same user as line 2 ("pat"); give each user one row"#]);
}

#[test]
fn reports_to_a_user_the_file_deletes_is_an_error() {
    let csv = "userId,email,firstName,reportsTo,transaction\n\
               kim,kim@example.com,,,DELETE\n\
               n1,n1@x.io,N,KIM,\n\
               pat,pat@example.com,,kim,DELETE\n";
    let plan = run(csv, &PlanOptions::default());
    // A user deleted with their manager (a whole team going) is no error.
    assert_eq!(
        statuses(&plan),
        [(Some(2), RowStatus::Delete), (Some(3), RowStatus::Error), (Some(4), RowStatus::Delete)]
    );
    assert_eq!(
        messages(&plan, 3),
        [r#"Line 3, reportsTo: "KIM" is deleted by line 2; give this user another manager"#]
    );
}

#[test]
fn repeated_keys_are_found_across_a_large_file_and_name_their_first_line() {
    // 40 000 rows spread the keys over 16 partitions of the index, looked at in
    // two halves side by side where there are cores; 10 000 over two, whose
    // userIds are looked at beside the other keys. Both files are read in parts.
    for rows in [40_000, 10_000] {
        repeated_keys_in(rows);
    }
}

fn repeated_keys_in(rows: usize) {
    let (a, b, c, d) = (rows * 7 / 40, rows * 15 / 40, rows / 2 - 1, rows * 9 / 40);
    let mut csv = String::from("userId,email,externalId,reportsTo\n");
    for i in 0..rows {
        let (user, email, ext) = match i {
            _ if i == a => ("U1".to_owned(), format!("u{c}@x.io"), "E5".to_owned()),
            _ if i == b => ("u1 ".to_owned(), format!("u{b}@x.io"), "e5".to_owned()),
            _ => (format!("u{i}"), format!("u{i}@x.io"), format!("E{i}")),
        };
        let manager = if i == d { "nobody".to_owned() } else { String::new() };
        csv.push_str(&format!("{user},{email},{ext},{manager}\n"));
    }
    let v = validate(csv.as_bytes(), &HeadingMapping::new(), None);
    assert_eq!((v.rows, v.rows_with_errors), (rows as u64, 3));
    let found: Vec<(u64, Option<&str>, Vec<String>)> = v
        .problems
        .iter()
        .map(|p| (p.line, p.user_id.as_deref(), p.diagnostics.iter().map(|d| d.message.clone()).collect()))
        .collect();
    let (la, lb, lc) = (a as u64 + 2, b as u64 + 2, c as u64 + 2);
    assert_eq!(
        found,
        [
            (
                la,
                Some("U1"),
                vec![
                    format!(r#"Line {la}, userId: "U1" is also on line 3; each userId may appear once in a file"#),
                    format!(
                        r#"Line {la}, externalId: "E5" is also on line 7; each externalId may appear once in a file"#
                    ),
                ]
            ),
            (
                lb,
                Some("u1"),
                vec![
                    format!(r#"Line {lb}, userId: "u1" is also on line 3; each userId may appear once in a file"#),
                    format!(
                        r#"Line {lb}, externalId: "e5" is also on line 7; each externalId may appear once in a file"#
                    ),
                ]
            ),
            (
                lc,
                Some(format!("u{c}").as_str()),
                vec![format!(
                    r#"Line {lc}, email: "u{c}@x.io" is also on line {la}; each email may appear once in a file"#
                )]
            ),
        ],
        "{rows} rows"
    );
    // reportsTo to nobody is only an error against a directory; validation alone accepts it.
    assert!(v.problems.iter().all(|p| p.line != d as u64 + 2));
}

#[test]
fn reporting_cycles_through_existing_users_are_found() {
    // Existing: pat reports to LEE, kim to ann. The file gives lee a manager (pat),
    // and ann one (kim) while leaving kim's row without one: kim keeps ann.
    let mut dir = directory();
    dir.users[0].reports_to = Some("LEE".into());
    dir.users[2].reports_to = Some("ann".into());
    let csv = "userId,email,lastName,reportsTo\n\
               lee,lee@x.io,Lee,pat\n\
               kim,kim@example.com,,\n\
               ann,ann@x.io,Ann,kim\n\
               bo,bo@x.io,Bo,lee\n";
    let plan = plan(csv.as_bytes(), &dir, &PlanOptions::default());
    assert_eq!(
        messages(&plan, 2),
        [r#"Line 2, reportsTo: "pat" closes a reporting cycle: lee (line 2) → pat (existing) → lee"#]
    );
    assert_eq!(
        messages(&plan, 4),
        [r#"Line 4, reportsTo: "kim" closes a reporting cycle: ann (line 4) → kim (existing) → ann"#]
    );
    // bo reports into the cycle but is not part of it.
    assert!(messages(&plan, 5).is_empty());
    assert!(messages(&plan, 3).is_empty());
}

/// The verdict on `csv` read in one part, after checking that reading it in 2
/// and in 3 parts gives the same.
fn one_part_as_in_two_and_three(csv: &str) -> muster_import::plan::Validation {
    let one_part = validate_in_parts(csv.as_bytes(), &HeadingMapping::new(), None, Some(1));
    for parts in [2, 3] {
        let in_parts = validate_in_parts(csv.as_bytes(), &HeadingMapping::new(), None, Some(parts));
        assert_eq!(in_parts, one_part, "{parts} parts");
    }
    one_part
}

#[test]
fn a_part_of_a_file_without_any_reports_to_joins_the_others() {
    // Managers only in the second half, then only in the first: parts with no
    // edge at all sit before or after those with edges. In each file a cycle
    // closes through the first edges of its half (in three parts, the first
    // edges of a part that follows one without any), and the verdict is that
    // of one part.
    let row = |i: usize, manager: &str| format!("u{i},u{i}@example.org,{manager}\n");
    let mut late = String::from("userId,email,reportsTo\n");
    (0..30_000).for_each(|i| late.push_str(&row(i, "")));
    late.push_str(&row(30_000, "u30001"));
    (30_001..60_000).for_each(|i| late.push_str(&row(i, &format!("u{}", i - 1))));
    let mut early = String::from("userId,email,reportsTo\n");
    early.push_str(&row(0, "u1"));
    (1..30_000).for_each(|i| early.push_str(&row(i, &format!("u{}", i - 1))));
    (30_000..60_000).for_each(|i| early.push_str(&row(i, "")));
    for (csv, first) in [(late, 30_000), (early, 0)] {
        let one_part = one_part_as_in_two_and_three(&csv);
        let (a, b) = (first as u64 + 2, first as u64 + 3);
        let lines: Vec<u64> = one_part.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [a, b]);
        let chain = format!("u{first} (line {a}) → u{} (line {b}) → u{first}", first + 1);
        assert!(
            one_part.problems.iter().all(|l| l.diagnostics.len() == 1 && l.diagnostics[0].message.ends_with(&chain)),
            "{:?}",
            one_part.problems
        );
    }
}

#[test]
fn an_existing_manager_is_led_back_only_to_the_first_row_of_a_user_id() {
    // Existing x reports to b. b's first row names no manager; its later row (an
    // error) names x, which would close b → x → b if that row counted.
    let mut dir = directory();
    let mut x = user(20, "x", "RXX01");
    x.reports_to = Some("b".into());
    dir.users.push(x);
    let csv = "userId,email,lastName,reportsTo\nb,b@x.io,B,\nb,b2@x.io,B,x\n";
    let plan = plan(csv.as_bytes(), &dir, &PlanOptions::default());
    assert_eq!(messages(&plan, 2), Vec::<String>::new());
    assert_eq!(messages(&plan, 3), [r#"Line 3, userId: "b" is also on line 2; each userId may appear once in a file"#]);
}

#[test]
fn each_user_in_a_cycle_is_named_as_its_own_row_writes_it() {
    // Keys match without regard to case; the message spells each userId as its row does.
    let csv = "userId,email,reportsTo\nAnn,a@x.io,BOB\nbob,b@x.io,ann\n";
    let v = validate(csv.as_bytes(), &HeadingMapping::new(), None);
    let chain = "Ann (line 2) → bob (line 3) → Ann";
    let found: Vec<&str> = v.problems.iter().flat_map(|p| &p.diagnostics).map(|d| d.message.as_str()).collect();
    assert_eq!(
        found,
        [
            format!(r#"Line 2, reportsTo: "BOB" closes a reporting cycle: {chain}"#),
            format!(r#"Line 3, reportsTo: "ann" closes a reporting cycle: {chain}"#),
        ]
    );
}

#[test]
fn a_cycle_is_named_from_its_earliest_line_whichever_row_leads_into_it() {
    // t reports into the cycle a → c → b → a, whose rows are out of file order.
    let csv = "userId,email,reportsTo\nt,t@x.io,b\na,a@x.io,c\nb,b@x.io,a\nc,c@x.io,b\nx,x@x.io,y\ny,y@x.io,\n";
    let v = validate(csv.as_bytes(), &HeadingMapping::new(), None);
    let chain = "a (line 3) → c (line 5) → b (line 4) → a";
    let found: Vec<(u64, Vec<&str>)> =
        v.problems.iter().map(|p| (p.line, p.diagnostics.iter().map(|d| d.message.as_str()).collect())).collect();
    assert_eq!(
        found,
        [
            (3, vec![format!(r#"Line 3, reportsTo: "c" closes a reporting cycle: {chain}"#).as_str()]),
            (4, vec![format!(r#"Line 4, reportsTo: "a" closes a reporting cycle: {chain}"#).as_str()]),
            (5, vec![format!(r#"Line 5, reportsTo: "b" closes a reporting cycle: {chain}"#).as_str()]),
        ]
    );
}

#[test]
fn managers_named_before_or_after_their_reports_are_both_followed_in_a_large_file() {
    // 100 000 rows (read in parts where there are cores), each
    // reporting to the next row's user; then a cycle of three at the end.
    let mut csv = String::from("userId,email,reportsTo\n");
    for i in 0..100_000 {
        let manager = if i == 99_999 { String::new() } else { format!("u{}", i + 1) };
        csv.push_str(&format!("u{i},u{i}@example.org,{manager}\n"));
    }
    csv.push_str("p,p@x.io,q\nq,q@x.io,r\nr,r@x.io,p\n");
    let v = validate(csv.as_bytes(), &HeadingMapping::new(), None);
    assert_eq!((v.rows, v.rows_with_errors), (100_003, 3));
    let chain = "p (line 100002) → q (line 100003) → r (line 100004) → p";
    let lines: Vec<u64> = v.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [100_002, 100_003, 100_004]);
    assert!(v.problems.iter().all(|p| p.diagnostics.len() == 1 && p.diagnostics[0].message.ends_with(chain)));
}

#[test]
fn a_later_row_of_a_user_id_gives_it_no_manager_in_whichever_part_it_is_read() {
    // b's first row has no manager, so a → b ends at b; a later row of b (an
    // error of its own) names a, and would close a → b → a if it counted. s's
    // first row names t, and its later row names nobody of the file: s keeps t,
    // and t → s → t is a cycle. In between, a chain of rows each reporting to
    // the one before, long enough to be read in parts.
    let mut csv = String::from("userId,email,reportsTo\nb,b@x.io,\na,a@x.io,b\ns,s@x.io,t\n");
    for i in 0..60_000 {
        let manager = if i == 0 { "a".to_owned() } else { format!("u{}", i - 1) };
        csv.push_str(&format!("u{i},u{i}@example.org,{manager}\n"));
    }
    csv.push_str("b,b2@x.io,a\ns,s2@x.io,u5\nt,t@x.io,s\n");
    let last = 60_005;
    let one_part = one_part_as_in_two_and_three(&csv);
    let found: Vec<(u64, Vec<&str>)> = one_part
        .problems
        .iter()
        .map(|p| (p.line, p.diagnostics.iter().map(|d| d.message.as_str()).collect()))
        .collect();
    let cycle = format!("s (line 4) → t (line {}) → s", last + 2);
    assert_eq!(
        found,
        [
            (4, vec![format!(r#"Line 4, reportsTo: "t" closes a reporting cycle: {cycle}"#).as_str()]),
            (
                last,
                vec![format!(r#"Line {last}, userId: "b" is also on line 2; each userId may appear once in a file"#)
                    .as_str()]
            ),
            (
                last + 1,
                vec![format!(
                    r#"Line {}, userId: "s" is also on line 4; each userId may appear once in a file"#,
                    last + 1
                )
                .as_str()]
            ),
            (
                last + 2,
                vec![format!(r#"Line {}, reportsTo: "s" closes a reporting cycle: {cycle}"#, last + 2).as_str()]
            ),
        ]
    );
}

#[test]
fn lines_whose_only_problems_are_found_at_the_end_are_named_by_their_user_id() {
    let csv = "userId,email,reportsTo\n a ,a@x.io,b\nb,b@x.io,A\nc,c@x.io,\n";
    let v = validate(csv.as_bytes(), &HeadingMapping::new(), None);
    let named: Vec<(u64, Option<&str>)> = v.problems.iter().map(|p| (p.line, p.user_id.as_deref())).collect();
    assert_eq!(named, [(2, Some("a")), (3, Some("b"))]);
    assert!(v.problems[0].diagnostics[0].message.contains("closes a reporting cycle"));
}

#[test]
fn external_ids_that_disagree_with_user_ids_name_both_users() {
    let csv = "userId,externalId,email\npat,E2,pat@example.com\nkim,e1,kim@example.com\n";
    let plan = run(csv, &PlanOptions::default());
    assert_eq!(statuses(&plan), [(Some(2), RowStatus::Error), (Some(3), RowStatus::Error)]);
    assert_eq!(messages(&plan, 2), [r#"Line 2, externalId: "E2" does not match user "pat", whose externalId is "E1""#]);
    assert_eq!(
        messages(&plan, 3),
        [
            r#"Line 3, userId: "kim" belongs to another user than externalId "e1" (that user's userId is "pat")"#,
            // Matched by externalId, the row is about pat, whose email this is not.
            r#"Line 3, email: "kim@example.com" belongs to another user ("kim")"#,
        ]
    );
}

#[test]
fn a_leaver_named_without_an_organisation_stays_a_leaver_with_a_warning() {
    let plan = run("userId,email,jobTitle\nsam,sam@example.com,Porter\n", &PlanOptions::default());
    assert_eq!(statuses(&plan), [(Some(2), RowStatus::Update)]);
    assert_eq!(messages(&plan, 2), [r#"Line 2: "sam" is a leaver; give their organisation to re-admit them"#]);
    assert!(plan.rows[0].diagnostics.iter().all(|d| !d.is_error()));
}

#[test]
fn a_file_read_with_the_wrong_delimiter_says_so() {
    for (text, forced, shown) in [
        ("userId,email,firstName\npat,p@x.io,Pat\n", Delimiter::Semicolon, "','"),
        ("userId;email;firstName\npat;p@x.io;Pat\n", Delimiter::Comma, "';'"),
        ("userId\temail\tfirstName\npat\tp@x.io\tPat\n", Delimiter::Semicolon, "'\\t'"),
    ] {
        let options = PlanOptions { delimiter: Some(forced), ..PlanOptions::default() };
        let plan = run(text, &options);
        let message = &plan.summary.file_diagnostics[0].message;
        assert!(message.contains("looks split on the wrong delimiter"), "{message}");
        assert!(message.contains(&format!("holds {shown}")), "{message}");
        assert!(plan.rows.is_empty() && !plan.summary.file_ok());
    }
}

#[test]
fn control_characters_are_refused_however_the_line_was_read() {
    // Plain lines and a quoted one (the reader's two ways), C0, DEL and C1, and
    // a clean line with accents (whose UTF-8 has bytes above 0x7f).
    let csv = "userId,email,jobTitle,organisation,roles\n\
               a,a@x.io,Nurse\u{1},RXX01,Staff\n\
               b,b@x.io,\"Ward\tSister, nights\",RXX01,Staff\n\
               c,c@x.io,Porter,RX\u{7f}X,Staff\n\
               d,d@x.io,Clerk,RXX01,Sta\u{80}ff\n\
               e,e@x.io,Zoë Brontë,RXX01,Staff\n";
    let v = validate(csv.as_bytes(), &HeadingMapping::new(), Some("demo"));
    let found: Vec<&str> = v.problems.iter().flat_map(|p| &p.diagnostics).map(|d| d.message.as_str()).collect();
    assert_eq!(
        found,
        [
            r#"Line 2, jobTitle: "Nurse\u{1}" contains the control character U+0001"#,
            r#"Line 3, jobTitle: "Ward\tSister, nights" contains the control character U+0009"#,
            r#"Line 4, organisation: "RX\u{7f}X" contains the control character U+007F"#,
            r#"Line 5, roles: "Sta\u{80}ff" has "Sta\u{80}ff", which contains the control character U+0080"#,
        ]
    );
    // In a tab-delimited file the tabs are delimiters, not control characters.
    let tabs = "userId\temail\tjobTitle\npat\tp@x.io\tNurse\nsam\ts@x.io\t\"Night\u{1}\"\n";
    let v = validate(tabs.as_bytes(), &HeadingMapping::new(), Some("demo"));
    let found: Vec<&str> = v.problems.iter().flat_map(|p| &p.diagnostics).map(|d| d.message.as_str()).collect();
    assert_eq!(found, [r#"Line 3, jobTitle: "Night\u{1}" contains the control character U+0001"#]);
}
