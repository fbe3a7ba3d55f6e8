//! Files an admin downloads from an upload: its results CSV (the file as it was,
//! with a `result` column) and the original file. Plain GET routes, so that a
//! link or a script can fetch them; a tenant admin's session, and only uploads of
//! that admin's tenant (another tenant's upload is "not found", never "forbidden").
use super::guard::CurrentPrincipal;
use super::state::AppState;
use axum::body::Body;
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
    let file = uploads::ResultsFile::read(&state.db, &upload).await.map_err(unavailable)?;
    let body = written_in_parts(move |sink| file.write_to(sink).map(drop));
    Ok(attachment(body, &format!("{}-results.csv", stem(&upload.file_name))))
}

async fn original(
    State(state): State<AppState>,
    Extension(CurrentPrincipal(principal)): Extension<CurrentPrincipal>,
    Path(id): Path<i64>,
) -> Result<Response, Refused> {
    let upload = admin_upload(&state, principal, id).await?;
    let file = uploads::SentFile::read(&state.db, &upload).await.map_err(unavailable)?;
    let body = written_in_parts(move |sink| file.write_to(sink).map(drop));
    Ok(attachment(body, &upload.file_name))
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

/// A body that `write` makes on a blocking thread and that goes out a part at
/// a time as it is made: a million lines' results file (100 MB) is never held
/// whole, and the first bytes leave at once. A download cancelled halfway stops
/// the writing (its next part has nowhere to go).
fn written_in_parts(write: impl FnOnce(PartSender) -> std::io::Result<()> + Send + 'static) -> Body {
    let (parts, received) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let failed = parts.clone();
    tokio::task::spawn_blocking(move || {
        // A panic too must fail the body: ending it would look like a whole file.
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(PartSender(parts))))
            .unwrap_or_else(|_| Err(std::io::Error::other("writing the file failed")));
        match written {
            Ok(()) => {}
            // The client went away: nobody to tell.
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(err) => {
                tracing::warn!(%err, "a download ended before its end");
                // The client sees the body fail rather than a file that looks whole.
                let _ = failed.blocking_send(Err(err));
            }
        }
    });
    Body::from_stream(futures_util::stream::unfold(received, |mut received| async move {
        received.recv().await.map(|part| (part, received))
    }))
}

/// The writing end of [`written_in_parts`].
struct PartSender(tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>);

impl std::io::Write for PartSender {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(bytes.to_vec()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the download was cancelled"))?;
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn attachment(body: Body, file_name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{}\"", safe_file_name(file_name));
    let mut response = body.into_response();
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

    #[tokio::test]
    async fn a_body_written_in_parts_arrives_whole_or_fails() {
        use std::io::Write;
        let whole: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sent = whole.clone();
        let body = written_in_parts(move |mut sink| {
            for part in sent.chunks(64 * 1024) {
                sink.write_all(part)?;
            }
            Ok(())
        });
        assert_eq!(axum::body::to_bytes(body, usize::MAX).await.unwrap(), whole);
        // A writer that fails halfway: the body fails, it does not end as if whole.
        let body = written_in_parts(|mut sink| {
            sink.write_all(b"first part")?;
            Err(std::io::Error::other("the database went away"))
        });
        assert!(axum::body::to_bytes(body, usize::MAX).await.is_err());
        let body = written_in_parts(|mut sink| {
            sink.write_all(b"first part")?;
            panic!("a bug halfway");
        });
        assert!(axum::body::to_bytes(body, usize::MAX).await.is_err(), "a panic fails the body too");
    }

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
