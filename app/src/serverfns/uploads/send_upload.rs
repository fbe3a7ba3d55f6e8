use crate::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::codec::{MultipartData, MultipartFormData};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the admin chose for the load (SPEC 4), kept with the picked file for
/// the server to plan and load it with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadChoices {
    /// `add-and-update`, `add-new-only`, `update-only` or `sync`.
    pub mode: String,
    /// `report`, `mark-leaver` or `delete` (a sync only).
    pub sync_action: String,
    /// `invite`, `generate` or `generate-email`.
    pub passwords: String,
    pub notify_new_users: bool,
    pub results_email: bool,
    pub all_or_nothing: bool,
}

impl Default for LoadChoices {
    fn default() -> Self {
        Self {
            mode: "add-and-update".into(),
            sync_action: "report".into(),
            passwords: "invite".into(),
            notify_new_users: true,
            results_email: true,
            all_or_nothing: false,
        }
    }
}

/// What the upload page sends beside the file (the form's `choices` field,
/// JSON, one object), before the file's field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendChoices {
    #[serde(flatten)]
    pub load: LoadChoices,
    /// Heading as written → field name, or `None` to ignore the column.
    pub mapping: BTreeMap<String, Option<String>>,
    /// What the browser's check counted, to compare with the server's.
    pub browser_rows: Option<u64>,
    pub browser_rows_with_errors: Option<u64>,
}

/// The outcome of sending a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sent {
    /// Stored and planned: its preview is at `/uploads/{upload_id}`.
    Planned { upload_id: i64 },
    /// The same file is already an upload in progress: that one is shown.
    AlreadyInProgress { upload_id: i64, state: String },
}

/// Step 2 of an upload (SPEC 5): the file and the admin's choices, posted as
/// `multipart/form-data` (the page uses XMLHttpRequest, whose upload reports
/// progress). The file is read as it arrives, into one buffer, and refused
/// as soon as it passes the limit; the server checks it again with the same
/// engine, and plans it against the tenant.
#[server(endpoint = "send_upload", input = MultipartFormData)]
pub async fn send_upload(data: MultipartData) -> Result<Sent, AppError> {
    let (tenant_id, user_pk) = crate::ssr::require_tenant_admin().await?;
    let state = expect_context::<crate::ssr::AppState>();
    let limit = state.config.max_upload_bytes;
    let headers: axum::http::HeaderMap = leptos_axum::extract().await.map_err(AppError::internal)?;
    // The declared length of the whole form: refused before a byte is read
    // when it is over the limit with room for the form's other fields.
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(declared) = declared.filter(|d| *d > limit.saturating_add(FORM_ALLOWANCE)) {
        return Err(too_large(declared.saturating_sub(FORM_ALLOWANCE), limit));
    }
    let mut form = data.into_inner().ok_or_else(|| AppError::internal("multipart data without a body"))?;
    let mut choices: Option<SendChoices> = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(mut field) = form.next_field().await.map_err(bad_form)? {
        match field.name() {
            Some("choices") if choices.is_none() => {
                let text = read_part(&mut field, Vec::new(), FORM_ALLOWANCE)
                    .await?
                    .map_err(|_| AppError::Invalid("The upload's choices are too long.".into()))?;
                let text = String::from_utf8(text)
                    .map_err(|_| AppError::Invalid("The upload's choices are not UTF-8 text.".into()))?;
                choices = Some(
                    serde_json::from_str(&text)
                        .map_err(|e| AppError::Invalid(format!("The upload's choices could not be read: {e}")))?,
                );
            }
            Some("file") if file.is_none() => {
                let name = field.file_name().unwrap_or("upload.csv").to_owned();
                let into = Vec::with_capacity(declared.unwrap_or(0).min(limit));
                let bytes = read_part(&mut field, into, limit).await?.map_err(|size| too_large(size, limit))?;
                file = Some((name, bytes));
            }
            // Nothing else is read: the form's size is the file's and the choices'.
            Some(other) => {
                return Err(AppError::Invalid(format!("The upload has an unexpected or repeated part {other:?}.")))
            }
            None => return Err(AppError::Invalid("The upload has a part without a name.".into())),
        }
    }
    let choices = choices.ok_or_else(|| AppError::Invalid("The upload's choices are missing.".into()))?;
    let (file_name, bytes) = file.ok_or_else(|| AppError::Invalid("No file was sent.".into()))?;
    let options = upload_options(&choices)?;
    let tenant = muster_store::tenants::by_id(&state.db, tenant_id).await?.ok_or(AppError::Forbidden)?;
    // The file's own rules, checked again by the same engine: a different count
    // than the browser's is said on the upload's page.
    let (mapping, slug) = (options.plan.mapping.clone(), tenant.slug.clone());
    let (bytes, checked) = tokio::task::spawn_blocking(move || {
        let checked = muster_import::validate(&bytes, &mapping, Some(&slug));
        (bytes, (checked.rows, checked.rows_with_errors))
    })
    .await
    .map_err(AppError::internal)?;
    let new = muster_store::uploads::NewUpload { uploaded_by: Some(user_pk), file_name, bytes, options };
    match muster_store::uploads::create_and_plan(&state.db, &tenant, new, limit).await {
        Ok(upload) => {
            if let (Some(rows), Some(with_errors)) = (choices.browser_rows, choices.browser_rows_with_errors) {
                if (rows, with_errors) != checked {
                    let note = format!(
                        "Your browser counted {rows} rows, {with_errors} with errors; the server counted {} rows, {} with errors. The server's check is the one that counts.",
                        checked.0, checked.1
                    );
                    muster_store::uploads::note_check_differs(&state.db, tenant_id, upload.id, &note).await?;
                }
            }
            Ok(Sent::Planned { upload_id: upload.id })
        }
        Err(muster_store::uploads::UploadError::Duplicate { existing, state }) => {
            Ok(Sent::AlreadyInProgress { upload_id: existing, state: state.as_str().to_owned() })
        }
        Err(err) => Err(err.into()),
    }
}

/// Reads one part of the form into `into`, a chunk at a time, as far as `limit`
/// bytes: a part read whole first could be as large as the sender likes. Over
/// the limit, the size reached (the rest is not read).
#[cfg(feature = "ssr")]
async fn read_part(
    part: &mut multer::Field<'static>,
    mut into: Vec<u8>,
    limit: usize,
) -> Result<Result<Vec<u8>, usize>, AppError> {
    while let Some(chunk) = part.chunk().await.map_err(bad_form)? {
        if into.len() + chunk.len() > limit {
            return Ok(Err(into.len() + chunk.len()));
        }
        into.extend_from_slice(&chunk);
    }
    Ok(Ok(into))
}

/// Room for the form's boundaries and its choices beside the file.
#[cfg(feature = "ssr")]
const FORM_ALLOWANCE: usize = 64 * 1024;

#[cfg(feature = "ssr")]
fn too_large(size: usize, limit: usize) -> AppError {
    AppError::Invalid(muster_import::sizes::too_large(size as u64, limit as u64))
}

#[cfg(feature = "ssr")]
fn bad_form(err: impl std::fmt::Display) -> AppError {
    AppError::Invalid(format!("The upload did not arrive whole ({err}); send it again."))
}

/// The store's options from the page's choices; an unknown word is refused.
#[cfg(feature = "ssr")]
fn upload_options(choices: &SendChoices) -> Result<muster_store::load::UploadOptions, AppError> {
    use muster_store::load::{Credentials, LoadOptions, UploadOptions};
    // The words are the engine's own names of its modes and actions.
    let word = |value: &str| serde_json::Value::String(value.to_owned());
    let mode = serde_json::from_value(word(&choices.load.mode))
        .map_err(|_| AppError::Invalid(format!("{:?} is not a mode of upload.", choices.load.mode)))?;
    let sync_action = serde_json::from_value(word(&choices.load.sync_action))
        .map_err(|_| AppError::Invalid(format!("{:?} is not a sync action.", choices.load.sync_action)))?;
    let credentials = match choices.load.passwords.as_str() {
        "invite" => Credentials::Invite,
        "generate" => Credentials::GeneratePassword { email: false },
        "generate-email" => Credentials::GeneratePassword { email: true },
        other => return Err(AppError::Invalid(format!("{other:?} is not a way to give passwords."))),
    };
    let mapping = super::heading_mapping(choices.mapping.clone())?;
    Ok(UploadOptions {
        plan: muster_import::PlanOptions { mode, sync_action, mapping, ..Default::default() },
        load: LoadOptions {
            stop_on_error: choices.load.all_or_nothing,
            credentials,
            notify_new_users: choices.load.notify_new_users,
            results_email: choices.load.results_email,
            results_to: None,
        },
    })
}
