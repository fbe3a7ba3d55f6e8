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
        // The other systems' files as they publish them (headings in their
        // order), with a new user, a disabled one and the other kinds each has.
        Format::EntraBulkCreate => lines(&[
            "version:v1.0",
            "Name [displayName] Required,User name [userPrincipalName] Required,Initial password [passwordProfile] Required,Block sign in (Yes/No) [accountEnabled] Required,First name [givenName],Last name [surname],Job title [jobTitle],Department [department],Usage location [usageLocation],Street address [streetAddress],State or province [state],Country or region [country],Office [physicalDeliveryOfficeName],City [city],ZIP or postal code [postalCode],Office phone [telephoneNumber],Mobile phone [mobile]",
            "Mary Major,mary.major@example.org,Harbour-Lights-42,No,Mary,Major,Consultant,,GB,,,,,,,,+44 7700 900001",
            "Pat Minor,pat.minor@example.org,Quiet-Meadow-17,No,Pat,Minor,\"Nurse, night shift\",,GB,,,,,,,,",
            "Lee Long,lee.long@example.org,Amber-Valley-93,Yes,Lee,Long,Porter,,GB,,,,,,,,",
        ]),
        Format::EntraExport => lines(&[
            "userPrincipalName,displayName,surname,mail,givenName,id,userType,jobTitle,department,accountEnabled,usageLocation,streetAddress,state,country,officeLocation,city,postalCode,telephoneNumber,mobilePhone,alternateEmailAddress,ageGroup,consentProvidedForMinor,legalAgeGroupClassification,companyName,creationType,directorySynced,invitationState,identityIssuer,createdDateTime",
            "mary.major@example.org,Mary Major,Major,mary.major@example.org,Mary,5b1f0e0a-6c1d-4a57-9a43-0d0f3b7d1a01,Member,Consultant,,True,GB,,,,,,,,+44 7700 900001,,,,,,,,,example.org,2026-01-05T09:00:00Z",
            "pat.minor@example.org,Pat Minor,Minor,,Pat,5b1f0e0a-6c1d-4a57-9a43-0d0f3b7d1a02,Member,Nurse,,True,GB,,,,,,,,,,,,,,,,,example.org,2026-01-05T09:00:00Z",
            "lee.long@example.org,Lee Long,Long,lee.long@example.org,Lee,5b1f0e0a-6c1d-4a57-9a43-0d0f3b7d1a03,Member,Porter,,False,GB,,,,,,,,,,,,,,,,,example.org,2026-01-05T09:00:00Z",
        ]),
        Format::GoogleWorkspace => lines(&[
            "First Name [Required],Last Name [Required],Email Address [Required],Password [Required],Password Hash Function [UPLOAD ONLY],Org Unit Path [Required],New Primary Email [UPLOAD ONLY],Recovery Email,Home Secondary Email,Work Secondary Email,Recovery Phone [MUST BE IN THE E.164 FORMAT],Work Phone,Home Phone,Mobile Phone,Work Address,Home Address,Employee ID,Employee Type,Employee Title,Manager Email,Department,Cost Center,Building ID,Floor Name,Floor Section,Change Password at Next Sign-In,New Status [UPLOAD ONLY],Advanced Protection Program enrollment",
            "Mary,Major,mary.major@example.org,Harbour-Lights-42,,/,,,,,,,,+44 7700 900001,,,E1001,,Consultant,,,,,,,FALSE,Active,",
            "Pat,Minor,pat.minor@example.org,,,/,,,,,,,,,,,E1002,,\"Nurse, night shift\",mary.major@example.org,,,,,,TRUE,Active,",
            "Lee,Long,lee.long@example.org,,,/,,,,,,,,,,,E0950,,Porter,,,,,,,,Suspended,",
        ]),
        Format::Okta => lines(&[
            "login,firstName,lastName,middleName,honorificPrefix,honorificSuffix,email,title,displayName,nickName,profileUrl,secondEmail,mobilePhone,primaryPhone,streetAddress,city,state,zipCode,countryCode,postalAddress,preferredLanguage,locale,timezone,userType,employeeNumber,costCenter,organization,division,department,managerId,manager",
            "mary.major,Mary,Major,,Dr,,mary.major@example.org,Consultant,,,,,+44 7700 900001,,,,,,,,,,,,E1001,,,,,,",
            "pat.minor,Pat,Minor,,,,pat.minor@example.org,\"Nurse, night shift\",,,,,,,,,,,,,,,,,E1002,,,,,mary.major,",
            "lee.long,Lee,Long,,,,lee.long@example.org,Porter,,,,,,,,,,,,,,,,,E0950,,,,,,",
        ]),
        Format::Moodle => lines(&[
            "username,password,firstname,lastname,email,idnumber,institution,department,phone1,phone2,city,country,auth,suspended,deleted,cohort1,cohort2,sysrole1",
            "mary.major,Harbour-Lights-42,Mary,Major,mary.major@example.org,E1001,,,,+44 7700 900001,,GB,manual,0,0,Ward-7,Consultants,Coordinator",
            "pat.minor,,Pat,Minor,pat.minor@example.org,E1002,,,,,,GB,manual,0,0,Ward-7,,",
            "lee.long,,Lee,Long,lee.long@example.org,E0950,,,,,,GB,manual,1,0,,,",
        ]),
    };
    let mut file = lines.join("\r\n");
    file.push_str("\r\n");
    file
}

fn lines(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| (*l).to_owned()).collect()
}

/// The name the sample downloads as.
pub fn sample_name(format: Format) -> &'static str {
    match format {
        Format::Standard => "muster-users-sample.csv",
        Format::LegacyV1 => "muster-users-sample-legacy-v1.csv",
        Format::EntraBulkCreate => "muster-users-sample-entra-bulk-create.csv",
        Format::EntraExport => "muster-users-sample-entra-download.csv",
        Format::GoogleWorkspace => "muster-users-sample-google-workspace.csv",
        Format::Okta => "muster-users-sample-okta.csv",
        Format::Moodle => "muster-users-sample-moodle.csv",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::HeadingMapping;

    #[test]
    fn each_sample_is_read_in_its_format_without_a_problem() {
        for format in Format::ALL {
            let v = crate::validate(sample(format).as_bytes(), &HeadingMapping::new(), None);
            assert_eq!(v.format, format);
            // Other systems' files have columns Muster does not use: said, not wrong.
            let expected = usize::from(!matches!(format, Format::Standard | Format::LegacyV1));
            let unused = v.file_diagnostics.iter().filter(|d| d.message.contains("ignored")).count();
            assert!(v.file_diagnostics.iter().all(|d| !d.is_error()), "{format:?}: {:?}", v.file_diagnostics);
            assert!(unused >= expected && unused == v.file_diagnostics.len(), "{format:?}: {:?}", v.file_diagnostics);
            assert_eq!(v.problems, [], "{format:?}");
            assert!(v.rows >= 3, "{format:?}");
        }
    }
}
