//! Other systems' files (issue 24): each built from the vendor's published
//! template or export, with a row of each kind, read into the standard fields;
//! a wrong value names the line and the column as written in the file.
use super::{one_part_as_in_two_and_three, statuses, user};
use muster_import::plan::Change;
use muster_import::samples::sample;
use muster_import::{
    plan, validate, Directory, Field, Format, HeadingMapping, Organisation, Plan, PlanOptions, RowStatus,
};

/// A tenant whose users are keyed as each system keys them: by address
/// (Entra, Google) or by login (Okta, Moodle).
fn directory() -> Directory {
    let mut by_address = user(1, "pat.minor@example.org", "Ward-7");
    by_address.email = "pat.minor@example.org".into();
    by_address.job_title = Some("Nurse".into());
    let mut by_login = user(2, "pat.minor", "Ward-7");
    by_login.email = "pat.minor@example.net".into();
    by_login.job_title = Some("Nurse".into());
    let mut old = user(3, "old.account", "Ward-7");
    old.email = "old.account@example.org".into();
    Directory {
        tenant_slug: "demo".into(),
        licence_limit: None,
        organisations: ["DEFAULT", "Ward-7", "Theatres"]
            .into_iter()
            .map(|c| Organisation { code: c.into(), name: c.into(), is_default: c == "DEFAULT" })
            .collect(),
        roles: vec!["Staff".into()],
        groups: vec![],
        users: vec![by_address, by_login, old],
        active_users: None,
    }
}

fn run(csv: &str) -> Plan {
    plan(csv.as_bytes(), &directory(), &PlanOptions::default())
}

fn row(plan: &Plan, line: u64) -> &muster_import::RowPlan {
    plan.rows.iter().find(|r| r.line == Some(line)).expect("a row of that line")
}

fn errors(plan: &Plan, line: u64) -> Vec<String> {
    row(plan, line).diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect()
}

/// What a row sets a field to: an update's change, or a new user's value.
fn change(plan: &Plan, line: u64, field: Field) -> Option<String> {
    let row = row(plan, line);
    if row.status == RowStatus::New {
        let user = row.row.as_ref().expect("a new user's values");
        let names = |n: &Option<Vec<muster_import::RoleName>>| {
            n.as_ref().map(|n| n.iter().map(|n| n.as_str()).collect::<Vec<_>>().join("|"))
        };
        return match field {
            Field::Email => user.email.as_ref().map(|v| v.as_str().to_owned()),
            Field::ExternalId => user.external_id.as_ref().map(|v| v.as_str().to_owned()),
            Field::Title => user.title.clone(),
            Field::JobTitle => user.job_title.clone(),
            Field::Mobile => user.mobile.as_ref().map(|v| v.as_str().to_owned()),
            Field::Organisation => user.organisation.as_ref().map(|v| v.as_str().to_owned()),
            Field::Enabled => user.enabled.map(|v| v.to_string()),
            Field::Roles => names(&user.roles),
            Field::Groups => names(&user.groups),
            Field::ReportsTo => user.reports_to.as_ref().map(|v| v.as_str().to_owned()),
            Field::ChangePasswordNextTime => user.change_password_next_time.map(|v| v.to_string()),
            other => panic!("not read in these tests: {other:?}"),
        };
    }
    row.changes.iter().find(|c: &&Change| c.field == field).and_then(|c| c.new.clone())
}

const ENTRA_HEADINGS: &str = "Name [displayName] Required,User name [userPrincipalName] Required,Initial password [passwordProfile] Required,Block sign in (Yes/No) [accountEnabled] Required,First name [givenName],Last name [surname],Job title [jobTitle],Department [department],Usage location [usageLocation],Street address [streetAddress],State or province [state],Country or region [country],Office [physicalDeliveryOfficeName],City [city],ZIP or postal code [postalCode],Office phone [telephoneNumber],Mobile phone [mobile]";

#[test]
fn entra_s_bulk_create_template_with_its_version_line_and_example_row() {
    let csv = format!(
        "version:v1.0\r\n{ENTRA_HEADINGS}\r\n\
         Example: Chris Green,chris@contoso.com,myPassword1234,No,Chris,Green,IT Manager,Information Technology,US,,,,,,,,\r\n\
         Mary Major,mary.major@example.org,Harbour-Lights-42,No,Mary,Major,Consultant,Theatres,GB,,,,,,,,+44 7700 900001\r\n\
         Pat Minor,pat.minor@example.org,,No,Pat,Minor,Sister,,GB,,,,,,,,\r\n\
         Lee Long,lee.long@example.org,Amber-Valley-93,Yes,Lee,Long,Porter,,GB,,,,,,,,\r\n\
         Kim Bad,kim.bad@example.org,Amber-Valley-93,Maybe,Kim,Bad,,,GB,,,,,,,,\r\n"
    );
    let plan = run(&csv);
    assert_eq!(plan.summary.format, Format::EntraBulkCreate);
    // The heading line is line 2 and rows are numbered as in the file.
    assert_eq!(
        statuses(&plan),
        [
            (Some(3), RowStatus::Error),
            (Some(4), RowStatus::New),
            (Some(5), RowStatus::Update),
            (Some(6), RowStatus::New),
            (Some(7), RowStatus::Error),
        ]
    );
    assert_eq!(
        errors(&plan, 3)[0],
        "Line 3: is the row of examples of Entra's template, not a user; remove it (Entra asks for the same)"
    );
    let mary = row(&plan, 4);
    assert_eq!(mary.user_id.as_deref(), Some("mary.major@example.org"));
    assert_eq!(change(&plan, 4, Field::Email).as_deref(), Some("mary.major@example.org"));
    assert_eq!(change(&plan, 4, Field::Organisation).as_deref(), Some("Theatres"));
    assert_eq!(change(&plan, 4, Field::Mobile).as_deref(), Some("+44 7700 900001"));
    assert_eq!(change(&plan, 4, Field::Enabled).as_deref(), Some("true"));
    // The existing user is matched by the sign-in name, and only what changed is listed.
    assert_eq!(row(&plan, 5).existing_id, Some(1));
    assert_eq!(change(&plan, 5, Field::JobTitle).as_deref(), Some("Sister"));
    // "Block sign in" Yes: the new user is disabled.
    assert_eq!(change(&plan, 6, Field::Enabled).as_deref(), Some("false"));
    assert_eq!(
        errors(&plan, 7),
        [r#"Line 7, Block sign in (Yes/No) [accountEnabled] Required: "Maybe" must be true or false (or yes/no, 1/0)"#]
    );
    // Columns Muster has no field for are listed once; the display name is
    // ignored with its reason.
    let file: Vec<&str> = plan.summary.file_diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        file.iter().any(|m| m.starts_with(
            r#"Line 2: the column "Name [displayName] Required" is ignored: Muster keeps first and last names"#
        )),
        "{file:?}"
    );
    assert!(
        file.iter().any(|m| m.starts_with("Line 2: 8 columns of the Microsoft Entra bulk create file have no Muster field and are ignored: \"Usage location [usageLocation]\", ")),
        "{file:?}"
    );
    assert_eq!(file.len(), 2, "{file:?}");
}

#[test]
fn entra_s_user_download_takes_the_sign_in_name_where_mail_is_blank() {
    let csv = "userPrincipalName,displayName,surname,mail,givenName,id,userType,jobTitle,department,accountEnabled,usageLocation,mobilePhone,companyName,createdDateTime\n\
               mary.major@example.org,Mary Major,Major,mary@example.org,Mary,5b1f0e0a-0001,Member,Consultant,Theatres,True,GB,,,2026-01-05T09:00:00Z\n\
               pat.minor@example.org,Pat Minor,Minor,,Pat,5b1f0e0a-0002,Member,Sister,,True,GB,,,2026-01-05T09:00:00Z\n\
               lee.long@example.org,Lee Long,Long,lee@,Lee,5b1f0e0a-0003,Member,Porter,,False,GB,,,2026-01-05T09:00:00Z\n";
    let plan = run(csv);
    assert_eq!(plan.summary.format, Format::EntraExport);
    assert_eq!(statuses(&plan), [(Some(2), RowStatus::New), (Some(3), RowStatus::Update), (Some(4), RowStatus::Error)]);
    assert_eq!(change(&plan, 2, Field::Email).as_deref(), Some("mary@example.org"));
    assert_eq!(change(&plan, 2, Field::ExternalId), None, "Entra's object id is not an externalId");
    assert_eq!(row(&plan, 3).existing_id, Some(1), "blank mail: the address is the sign-in name, unchanged");
    assert_eq!(change(&plan, 3, Field::Email), None);
    assert_eq!(errors(&plan, 4), [r#"Line 4, mail: "lee@" is not a valid email address"#]);
    let file: Vec<&str> = plan.summary.file_diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(file.iter().any(|m| m.contains(r#"the column "displayName" is ignored"#)), "{file:?}");
    assert!(file.iter().any(|m| m.contains(r#"the column "companyName" is ignored"#)), "{file:?}");
    assert!(file.iter().any(|m| m.contains(r#"the column "id" is ignored"#)), "{file:?}");
}

const GOOGLE_HEADINGS: &str = "First Name [Required],Last Name [Required],Email Address [Required],Password [Required],Password Hash Function [UPLOAD ONLY],Org Unit Path [Required],New Primary Email [UPLOAD ONLY],Recovery Email,Home Secondary Email,Work Secondary Email,Recovery Phone [MUST BE IN THE E.164 FORMAT],Work Phone,Home Phone,Mobile Phone,Work Address,Home Address,Employee ID,Employee Type,Employee Title,Manager Email,Department,Cost Center,Building ID,Floor Name,Floor Section,Change Password at Next Sign-In,New Status [UPLOAD ONLY],Advanced Protection Program enrollment";

#[test]
fn google_workspace_s_upload_with_org_unit_paths_and_statuses() {
    let csv = format!(
        "{GOOGLE_HEADINGS}\n\
         Mary,Major,mary.major@example.org,Harbour-Lights-42,,/Staff/Theatres,,,,,,,,,,,E1001,,Consultant,,,,,,,FALSE,Active,\n\
         Pat,Minor,pat.minor@example.org,,,/Staff/Ward-7,,,,,,,,,,,,,Sister,mary.major@example.org,,,,,,TRUE,,\n\
         Lee,Long,lee.long@example.org,,,/,,,,,,,,,,,,,,,,,,,,,Suspended,\n\
         Kim,Hash,kim.hash@example.org,5f4dcc3b5aa765d61d8327deb882cf99,MD5,/,,,,,,,,,,,,,,,,,,,,,Archived,\n"
    );
    let plan = run(&csv);
    assert_eq!(plan.summary.format, Format::GoogleWorkspace);
    assert_eq!(
        statuses(&plan),
        [
            (Some(2), RowStatus::New),
            (Some(3), RowStatus::Update),
            (Some(4), RowStatus::New),
            (Some(5), RowStatus::Error)
        ]
    );
    assert_eq!(change(&plan, 2, Field::Organisation).as_deref(), Some("Theatres"));
    assert_eq!(change(&plan, 2, Field::ExternalId).as_deref(), Some("E1001"));
    assert_eq!(change(&plan, 3, Field::ReportsTo).as_deref(), Some("mary.major@example.org"));
    assert_eq!(change(&plan, 3, Field::ChangePasswordNextTime).as_deref(), Some("true"));
    assert_eq!(change(&plan, 4, Field::Enabled).as_deref(), Some("false"));
    let kim = errors(&plan, 5);
    assert!(
        kim.iter().any(
            |m| m.starts_with(r#"Line 5, Password Hash Function [UPLOAD ONLY]: "MD5" says the password is a hash"#)
        ),
        "{kim:?}"
    );
    assert!(
        kim.contains(&r#"Line 5, New Status [UPLOAD ONLY]: "Archived" must be Active or Suspended"#.to_owned()),
        "{kim:?}"
    );
    let file: Vec<&str> = plan.summary.file_diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(file.iter().any(|m| m.contains(r#"the column "New Primary Email [UPLOAD ONLY]" is ignored"#)), "{file:?}");
    assert!(file.iter().any(|m| m.contains(r#"the column "Department" is ignored"#)), "{file:?}");
}

#[test]
fn okta_s_import_reads_title_as_the_job_and_manager_id_as_the_manager() {
    let csv = "login,firstName,lastName,middleName,honorificPrefix,honorificSuffix,email,title,displayName,nickName,profileUrl,secondEmail,mobilePhone,primaryPhone,streetAddress,city,state,zipCode,countryCode,postalAddress,preferredLanguage,locale,timezone,userType,employeeNumber,costCenter,organization,division,department,managerId,manager\n\
               mary.major,Mary,Major,,Dr,,mary.major@example.org,Consultant,,,,,+44 7700 900001,,,,,,,,,,,,E1001,,,,Theatres,,\n\
               pat.minor,Pat,Minor,,,,pat.minor@example.net,Sister,,,,,,,,,,,,,,,,,,,,,,mary.major,Mary Major\n\
               lee.long,Lee,Long,,,,lee.long@example.org,Porter,,,,,0770x,,,,,,,,,,,,,,,,,,\n";
    let plan = run(csv);
    assert_eq!(plan.summary.format, Format::Okta);
    assert_eq!(statuses(&plan), [(Some(2), RowStatus::New), (Some(3), RowStatus::Update), (Some(4), RowStatus::Error)]);
    assert_eq!(change(&plan, 2, Field::Title).as_deref(), Some("Dr"));
    assert_eq!(change(&plan, 2, Field::JobTitle).as_deref(), Some("Consultant"));
    assert_eq!(change(&plan, 2, Field::Organisation).as_deref(), Some("Theatres"));
    assert_eq!(row(&plan, 3).existing_id, Some(2));
    assert_eq!(change(&plan, 3, Field::ReportsTo).as_deref(), Some("mary.major"));
    assert_eq!(
        errors(&plan, 4),
        [r#"Line 4, mobilePhone: "0770x" contains 'x'; a mobile number has only digits, spaces and + ( ) -"#]
    );
    let file: Vec<&str> = plan.summary.file_diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(file.iter().any(|m| m.contains(r#"the column "manager" is ignored"#)), "{file:?}");
}

#[test]
fn moodle_s_upload_users_with_cohorts_system_roles_suspended_and_deleted() {
    let csv = "username,password,firstname,lastname,email,idnumber,institution,department,phone1,phone2,city,country,auth,suspended,deleted,cohort1,cohort2,sysrole1,course1,profile_field_shoe\n\
               mary.major,Harbour-Lights-42,Mary,Major,mary.major@example.org,E1001,,Theatres,,+44 7700 900001,,GB,manual,0,0,Ward-7,Consultants,Coordinator,MATH101,\n\
               pat.minor,,Pat,Minor,pat.minor@example.net,E1002,,,,,,GB,manual,1,0,,,,,\n\
               old.account,,,,old.account@example.org,,,,,,,,manual,0,1,,,,,\n\
               lee.long,,Lee,Long,lee.long@example.org,,,,,,,GB,manual,2,0,,,,,\n";
    let plan = run(csv);
    assert_eq!(plan.summary.format, Format::Moodle);
    assert_eq!(
        statuses(&plan),
        [
            (Some(2), RowStatus::New),
            (Some(3), RowStatus::Update),
            (Some(4), RowStatus::Delete),
            (Some(5), RowStatus::Error)
        ]
    );
    assert_eq!(change(&plan, 2, Field::Groups).as_deref(), Some("Ward-7|Consultants"));
    assert_eq!(change(&plan, 2, Field::Roles).as_deref(), Some("Coordinator"));
    assert_eq!(change(&plan, 2, Field::Mobile).as_deref(), Some("+44 7700 900001"));
    assert_eq!(change(&plan, 3, Field::Enabled).as_deref(), Some("false"));
    assert_eq!(errors(&plan, 5), [r#"Line 5, suspended: "2" must be true or false (or yes/no, 1/0)"#]);
    let file: Vec<&str> = plan.summary.file_diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        file.iter().any(|m| m.starts_with("Line 1: 6 columns of the Moodle file have no Muster field and are ignored: \"phone1\", \"city\", \"country\", \"auth\", \"course1\", \"profile_field_shoe\"")),
        "{file:?}"
    );
    assert!(file.iter().any(|m| m.contains(r#"the column "institution" is ignored"#)), "{file:?}");
}

#[test]
fn an_admin_s_mapping_applies_on_top_of_a_format() {
    // Moodle's institution, mapped by the admin, is the organisation after all.
    let csv = "username,firstname,lastname,email,institution,cohort1\nmary.major,Mary,Major,mary.major@example.org,Theatres,\n";
    let mapping = HeadingMapping::from([("institution".to_owned(), Some(Field::Organisation))]);
    let v = validate(csv.as_bytes(), &mapping, None);
    assert_eq!(v.format, Format::Moodle);
    let institution = v.headings.iter().find(|h| h.heading == "institution").unwrap();
    assert_eq!((institution.field, institution.read_as.as_str()), (Some(Field::Organisation), "field"));
    assert!(v.file_diagnostics.iter().all(|d| !d.message.contains("institution")), "{:?}", v.file_diagnostics);
}

#[test]
fn each_vendor_sample_plans_without_an_error() {
    // Against a tenant with none of the samples' users yet.
    let mut empty = directory();
    empty.users.clear();
    for format in Format::ALL.into_iter().filter(|f| !matches!(f, Format::Standard | Format::LegacyV1)) {
        let plan = plan(sample(format).as_bytes(), &empty, &PlanOptions::default());
        assert_eq!(plan.summary.format, format);
        assert!(plan.rows.iter().all(|r| r.status != RowStatus::Error), "{format:?}: {:?}", plan.rows);
    }
}

#[test]
fn a_muster_export_uploaded_back_stays_in_the_standard_format() {
    let users = directory().users;
    let export = String::from_utf8(muster_import::export::write_users(&users)).unwrap();
    let v = validate(export.as_bytes(), &HeadingMapping::new(), None);
    assert_eq!(v.format, Format::Standard, "{export}");
    assert_eq!(v.rows_with_errors, 0, "{:?}", v.problems);
}

#[test]
fn other_systems_files_read_in_parts_give_the_one_part_verdict() {
    // Entra: the version line before the headings, the example row, repeated
    // sign-in names; Moodle: `deleted` 1 (a deleted user's manager link is not
    // followed) and repeated emails; Entra's download: repeats of the address
    // taken from the sign-in name where mail is blank.
    let mut entra = format!(
        "version:v1.0\n{ENTRA_HEADINGS}\nExample: Chris Green,chris@contoso.com,myPassword1234,No,,,,,,,,,,,,,\n"
    );
    let mut moodle = String::from("username,firstname,lastname,email,deleted,cohort1\n");
    let mut download = String::from("userPrincipalName,givenName,surname,mail,accountEnabled\n");
    for i in 0..3000 {
        let n = i % 2900;
        entra.push_str(&format!("U {i},u{n}@example.org,,No,U,{i},,,,,,,,,,,\n"));
        moodle.push_str(&format!("m{i},M,{i},m{n}@example.org,{},c{}\n", i % 7 == 0, i % 5));
        download.push_str(&format!(
            "d{n}@example.org,D,{i},{},True\n",
            if i % 3 == 0 { String::new() } else { format!("d{i}@example.net") }
        ));
    }
    for (csv, format) in [(entra, Format::EntraBulkCreate), (moodle, Format::Moodle), (download, Format::EntraExport)] {
        let v = one_part_as_in_two_and_three(&csv);
        assert_eq!(v.format, format);
        assert!(v.rows_with_errors > 0, "{format:?}: the repeats are found");
    }
}

/// The lines each reading of a file finds repeated keys on: the planner's
/// first pass (`KeyColumns`) and the validation's (`check_row`) must agree.
fn repeats_found(csv: &str) -> (Vec<u64>, Vec<u64>) {
    let mut empty = directory();
    empty.users.clear();
    let repeated = |d: &muster_import::Diagnostic| d.message.contains(" is also on line ");
    let planned = plan(csv.as_bytes(), &empty, &PlanOptions::default())
        .rows
        .iter()
        .filter(|r| r.diagnostics.iter().any(repeated))
        .filter_map(|r| r.line)
        .collect();
    let validated = validate(csv.as_bytes(), &HeadingMapping::new(), None)
        .problems
        .iter()
        .filter(|p| p.diagnostics.iter().any(repeated))
        .map(|p| p.line)
        .collect();
    (planned, validated)
}

#[test]
fn the_planner_and_the_validation_find_the_same_repeats_in_other_systems_files() {
    let entra = format!(
        "version:v1.0\n{ENTRA_HEADINGS}\nA,a@example.org,,No,A,A,,,,,,,,,,,\nB,A@example.org,,No,B,B,,,,,,,,,,,\n"
    );
    let download = "userPrincipalName,givenName,surname,mail,accountEnabled\n\
                    a@example.org,A,A,,True\nb@example.org,B,B,a@example.org,True\nc@example.org,C,C,c@example.net,True\n";
    let moodle = "username,firstname,lastname,email,deleted\nm1,M,One,m@example.org,0\nm2,M,Two,m@example.org,1\n";
    for csv in [entra.as_str(), download, moodle] {
        let (planned, validated) = repeats_found(csv);
        assert_eq!(planned, validated, "{csv}");
        assert_eq!(planned.len(), 1, "{csv}");
    }
    // The repeated address of Entra's download came from the sign-in name of
    // line 2 and from mail on line 3: the message names the column it is in.
    let plan = run(download);
    let message = &errors(&plan, 3)[0];
    assert!(message.starts_with(r#"Line 3, mail: "a@example.org" is also on line 2"#), "{message}");
}

#[test]
fn entra_s_template_with_semicolons_or_without_its_version_line() {
    let semicolons = format!(
        "version:v1.0\n{}\nMary Major;mary.major@example.org;;No;Mary;Major;;;;;;;;;;;\n",
        ENTRA_HEADINGS.replace(',', ";")
    );
    let v = validate(semicolons.as_bytes(), &HeadingMapping::new(), None);
    assert_eq!(
        (v.format, v.delimiter, v.rows, v.rows_with_errors),
        (Format::EntraBulkCreate, muster_import::Delimiter::Semicolon, 1, 0)
    );
    let without = format!("{ENTRA_HEADINGS}\nMary Major,mary.major@example.org,,No,Mary,Major,,,,,,,,,,,\n");
    let plan = run(&without);
    assert_eq!(plan.summary.format, Format::EntraBulkCreate);
    assert_eq!(statuses(&plan), [(Some(2), RowStatus::New)]);
}

#[test]
fn google_s_download_reads_status_unless_new_status_is_there() {
    let download = "First Name [Required],Last Name [Required],Email Address [Required],Org Unit Path [Required],Status [READ ONLY],Last Sign In [READ ONLY]\n\
                    Lee,Long,lee.long@example.org,/,Suspended,Never logged in\n";
    let plan = run(download);
    assert_eq!(plan.summary.format, Format::GoogleWorkspace);
    assert_eq!(change(&plan, 2, Field::Enabled).as_deref(), Some("false"));
    let both = "First Name [Required],Last Name [Required],Email Address [Required],Org Unit Path [Required],New Status [UPLOAD ONLY],Status [READ ONLY]\n\
                Lee,Long,lee.long@example.org,/,Active,Suspended\n";
    let plan = run(both);
    assert_eq!(change(&plan, 2, Field::Enabled).as_deref(), Some("true"));
    let file: Vec<&str> = plan.summary.file_diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        file.iter().any(|m| m.contains(r#"the column "Status [READ ONLY]" is ignored: the file has New Status"#)),
        "{file:?}"
    );
}

#[test]
fn a_standard_heading_in_another_system_s_file_keeps_its_meaning() {
    let csv = "username,email,firstName,lastName,organisation,roles,suspended\nkim,kim@example.org,Kim,Lee,Theatres,Staff,1\n";
    let plan = run(csv);
    assert_eq!(plan.summary.format, Format::Moodle);
    assert_eq!(change(&plan, 2, Field::Organisation).as_deref(), Some("Theatres"));
    assert_eq!(change(&plan, 2, Field::Roles).as_deref(), Some("Staff"));
    assert_eq!(change(&plan, 2, Field::Enabled).as_deref(), Some("false"));
}

#[test]
fn moodle_s_deleted_is_named_as_written_in_a_message() {
    let plan = run("username,email,deleted\nnobody,nobody@example.org,1\n");
    assert_eq!(errors(&plan, 2), [r#"Line 2, deleted: "1" but no user "nobody" exists"#]);
}

#[test]
fn results_and_retry_files_keep_entra_s_version_line_and_blank_its_passwords() {
    use muster_import::results::{original_file, results_file, retry_file};
    let csv = format!(
        "version:v1.0\n{ENTRA_HEADINGS}\nMary Major,mary.major@example.org,Harbour-Lights-42,No,Mary,Major,,,,,,,,,,,\nKim Bad,kim@example.org,Amber-Valley-93,Maybe,Kim,Bad,,,,,,,,,,,\n"
    );
    let results =
        String::from_utf8(results_file(csv.as_bytes(), None, &HeadingMapping::new(), |line| format!("r{line}")))
            .unwrap();
    let lines: Vec<&str> = results.lines().collect();
    assert_eq!(lines[0], "version:v1.0");
    assert!(lines[1].ends_with("Mobile phone [mobile],result"), "{}", lines[1]);
    assert!(
        lines[2].starts_with("Mary Major,mary.major@example.org,,No,") && lines[2].ends_with(",r3"),
        "{}",
        lines[2]
    );
    assert!(!results.contains("Harbour") && !results.contains("Amber"), "{results}");
    let original = String::from_utf8(original_file(csv.as_bytes(), None, &HeadingMapping::new())).unwrap();
    assert!(original.starts_with("version:v1.0\n") && !original.contains("Harbour"), "{original}");
    // The retry file is a new upload of Entra's template: version line, headings, failed rows.
    let retry = String::from_utf8(retry_file(csv.as_bytes(), None, |line| line == 4)).unwrap();
    assert_eq!(
        retry,
        format!("version:v1.0\n{ENTRA_HEADINGS}\nKim Bad,kim@example.org,Amber-Valley-93,Maybe,Kim,Bad,,,,,,,,,,,\n")
    );
    assert_eq!(validate(retry.as_bytes(), &HeadingMapping::new(), None).format, Format::EntraBulkCreate);
    // Google's password column, named with its tag.
    let google = "First Name [Required],Last Name [Required],Email Address [Required],Password [Required]\nA,B,a@example.org,Harbour-Lights-42\n";
    let results =
        String::from_utf8(results_file(google.as_bytes(), None, &HeadingMapping::new(), |_| "ok".into())).unwrap();
    assert_eq!(results, "First Name [Required],Last Name [Required],Email Address [Required],Password [Required],result\nA,B,a@example.org,,ok\n");
}
