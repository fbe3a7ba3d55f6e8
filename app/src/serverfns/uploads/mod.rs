//! The upload screens' server functions.
mod cancel_upload;
mod licences;
mod list_uploads;
mod preview_rows;
mod remember_mapping;
mod remembered_mapping;
mod retry_failed;
mod select_rows;
mod send_upload;
mod start_load;
mod upload_overview;

pub use cancel_upload::{cancel_upload, CancelUpload};
pub use licences::{licences, Licences, LicencesView};
pub use list_uploads::{list_uploads, ListUploads, UploadList, UploadListed, LIST_PAGE};
pub use preview_rows::{preview_rows, FieldChange, PreviewPage, PreviewRow, PreviewRows, PREVIEW_PAGE};
pub use remember_mapping::{remember_mapping, RememberMapping};
pub use remembered_mapping::{remembered_mapping, RememberedMapping};
pub use retry_failed::{retry_failed, RetryFailed};
pub use select_rows::{select_rows, RowsToTick, SelectRows};
pub use send_upload::{send_upload, LoadChoices, SendChoices, SendUpload, Sent};
pub use start_load::{start_load, LoadStarted, StartLoad};
pub use upload_overview::{upload_overview, Outcomes, UploadOverview, UploadView};

/// A heading mapping as the page sends it (field names), checked: an
/// unknown field name is refused.
#[cfg(feature = "ssr")]
fn heading_mapping(
    mapping: std::collections::BTreeMap<String, Option<String>>,
) -> Result<muster_import::HeadingMapping, crate::error::AppError> {
    let mut fields = muster_import::HeadingMapping::new();
    for (heading, field) in mapping {
        let field = match field {
            Some(name) => Some(
                muster_import::Field::ALL
                    .into_iter()
                    .find(|f| f.name() == name)
                    .ok_or_else(|| crate::error::AppError::Invalid(format!("{name:?} is not a field")))?,
            ),
            None => None,
        };
        fields.insert(heading, field);
    }
    Ok(fields)
}
