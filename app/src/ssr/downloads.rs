//! Files an admin downloads from an upload: its results CSV (the file as it was,
//! with a `result` column) and the original file. Plain GET routes, so that a
//! link or a script can fetch them; a tenant admin's session, and only uploads of
//! that admin's tenant (another tenant's upload is "not found", never "forbidden").
use super::guard::CurrentPrincipal;
use super::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use muster_store::auth::Principal;
use muster_store::entity::upload;
use muster_store::uploads;

pub fn routes() -> Router<AppState> {
    Router::new().route("/uploads/{id}/results.csv", get(results)).route("/uploads/{id}/file", get(original))
}

/// Why a download is refused.
enum Refused {
    NotSignedIn,
    NotAnAdmin,
    NotFound,
    Unavailable,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::NotSignedIn => (StatusCode::UNAUTHORIZED, "Please sign in.").into_response(),
            Refused::NotAnAdmin => {
                (StatusCode::FORBIDDEN, "Only a tenant's admins may download its uploads.").into_response()
            }
            Refused::NotFound => (StatusCode::NOT_FOUND, "No such upload.").into_response(),
            Refused::Unavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "The database is unavailable; try again shortly.").into_response()
            }
        }
    }
}

fn unavailable(err: impl std::fmt::Display) -> Refused {
    tracing::error!(%err, "download failed");
    Refused::Unavailable
}

/// The upload `id`, if the principal is an admin of its tenant.
async fn admin_upload(state: &AppState, principal: Option<Principal>, id: i64) -> Result<upload::Model, Refused> {
    let tenant_id = match principal {
        Some(Principal::TenantUser { tenant_id, is_admin: true, .. }) => tenant_id,
        Some(_) => return Err(Refused::NotAnAdmin),
        None => return Err(Refused::NotSignedIn),
    };
    uploads::find(&state.db, tenant_id, id).await.map_err(unavailable)?.ok_or(Refused::NotFound)
}

async fn results(
    State(state): State<AppState>,
    Extension(CurrentPrincipal(principal)): Extension<CurrentPrincipal>,
    Path(id): Path<i64>,
) -> Result<Response, Refused> {
    let upload = admin_upload(&state, principal, id).await?;
    let csv = uploads::results_csv_of(&state.db, &upload).await.map_err(unavailable)?;
    Ok(attachment(csv, &format!("{}-results.csv", stem(&upload.file_name))))
}

async fn original(
    State(state): State<AppState>,
    Extension(CurrentPrincipal(principal)): Extension<CurrentPrincipal>,
    Path(id): Path<i64>,
) -> Result<Response, Refused> {
    let upload = admin_upload(&state, principal, id).await?;
    let bytes = uploads::original_csv_of(&state.db, &upload).await.map_err(unavailable)?;
    Ok(attachment(bytes, &upload.file_name))
}

fn stem(file_name: &str) -> &str {
    file_name.rsplit_once('.').map_or(file_name, |(stem, _)| stem)
}

/// The file's name as the admin uploaded it, made safe for a header: characters
/// that could end the quoted value or split the header become `_`.
fn safe_file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' })
        .collect();
    if !safe.chars().any(|c| c.is_ascii_alphanumeric()) {
        "upload.csv".into()
    } else {
        safe
    }
}

fn attachment(bytes: Vec<u8>, file_name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", safe_file_name(file_name));
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_in_a_header() {
        assert_eq!(safe_file_name("staff 2026.csv"), "staff 2026.csv");
        assert_eq!(safe_file_name("a\"b\r\nSet-Cookie: x.csv"), "a_b__Set-Cookie: x.csv");
        assert_eq!(safe_file_name("Zoë.csv"), "Zo_.csv");
        assert_eq!(safe_file_name("\n"), "upload.csv");
        assert_eq!(stem("users.csv"), "users");
        assert_eq!(stem("users"), "users");
    }
}
