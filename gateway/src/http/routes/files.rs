//! `/api/v1/files`: files a user uploads (research sources). Owner-only: another user's file
//! id answers 404 like one that does not exist. A file's type is decided by its content; its
//! size is capped, and so is what one user's files take in all.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use troupe_runtime::ErrorCode;
use troupe_runtime::files::{ACCEPTED_TYPES, FileError, FileRecord, sniff};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::http::extract::parse_id;
use crate::http::{ApiError, AppState, ErrorBody};

/// The longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 255;

/// An uploaded file.
#[derive(Serialize, ToSchema)]
pub struct FileView {
    /// Its id (a research source names it: `{"kind": "pdf", "file": "<id>"}`).
    pub id: Uuid,
    /// The name it was uploaded under.
    pub name: String,
    /// What its content is.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its content, hex.
    pub sha256: String,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
}

impl From<&FileRecord> for FileView {
    fn from(record: &FileRecord) -> Self {
        Self {
            id: record.id,
            name: record.name.clone(),
            content_type: record.content_type.clone(),
            size: record.size,
            sha256: record.sha256.clone(),
            created_at: record.created_at,
        }
    }
}

/// The caller's files and what they take.
#[derive(Serialize, ToSchema)]
pub struct FileList {
    /// Newest first.
    pub items: Vec<FileView>,
    /// Bytes the caller's files take.
    pub used_bytes: u64,
    /// Bytes they may take in all.
    pub quota_bytes: u64,
    /// The largest file accepted, in bytes.
    pub max_file_bytes: u64,
}

/// The upload form: one part named `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file (PDF, plain text, Markdown, CSV or JSON, decided by its content).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Uploads a file (`multipart/form-data`, one part named `file`). Its type is read from its
/// content: PDF, or UTF-8 text (plain, Markdown, CSV or JSON by its name's extension).
#[utoipa::path(post, path = "/api/v1/files", tag = "files",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = FileView), (status = 400, body = ErrorBody),
        (status = 413, body = ErrorBody, description = "Over the file size limit (`payload_too_large`) or the caller's quota (`quota_exceeded`)"),
        (status = 415, body = ErrorBody, description = "Not multipart, or content of a type not accepted (`unsupported_file_type`)")),
    security(("bearer" = [])))]
pub async fn upload_file(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let max = state.settings.upload_max_bytes as u64;
    let boundary = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| multer::parse_boundary(value).ok())
        .ok_or_else(|| {
            ApiError::new(ErrorCode::UnsupportedMediaType, "the body must be multipart/form-data with a `file` part")
        })?;
    let constraints = multer::Constraints::new()
        .allowed_fields(vec!["file"])
        .size_limit(multer::SizeLimit::new().per_field(max).whole_stream(max + 64 * 1024));
    let mut multipart = multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let field = multipart
        .next_field()
        .await
        .map_err(|error| multipart_error(error, max))?
        .ok_or_else(|| ApiError::invalid_field("file", "a part named `file` is required"))?;
    let name = clean_name(field.file_name().unwrap_or("upload"));
    let content = field.bytes().await.map_err(|error| multipart_error(error, max))?;
    if content.is_empty() {
        return Err(ApiError::invalid_field("file", "the file is empty"));
    }
    let content_type = sniff(&content, &name).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnsupportedFileType,
            format!("the content of `{name}` is not a type troupe accepts ({})", ACCEPTED_TYPES.join(", ")),
        )
        .with_details(serde_json::json!({ "accepted": ACCEPTED_TYPES }))
    })?;
    let record = FileRecord {
        id: Uuid::now_v7(),
        owner: caller.id(),
        name,
        content_type: content_type.to_owned(),
        size: content.len() as u64,
        sha256: hex::encode(Sha256::digest(&content)),
        created_at: troupe_runtime::model::now(),
    };
    state.files.put_file(&record, &content, state.settings.upload_quota_bytes).await.map_err(|error| match error {
        FileError::QuotaExceeded { would_use, quota } => ApiError::new(ErrorCode::QuotaExceeded, error.to_string())
            .with_details(serde_json::json!({ "would_use": would_use, "quota": quota })),
        FileError::Store(error) => error.into(),
    })?;
    let mut response = (StatusCode::CREATED, Json(FileView::from(&record))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/files/{}", record.id)) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

fn multipart_error(error: multer::Error, max: u64) -> ApiError {
    match error {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            ApiError::new(ErrorCode::PayloadTooLarge, format!("a file may be at most {max} bytes"))
                .with_details(serde_json::json!({ "max_bytes": max }))
        }
        multer::Error::UnknownField { field_name } => ApiError::invalid_field(
            field_name.unwrap_or_else(|| "(unnamed part)".into()),
            "only one part, named `file`, is accepted",
        ),
        other => ApiError::new(ErrorCode::BadBody, format!("the multipart body cannot be read: {other}")),
    }
}

/// The last path component of a client's file name, without control characters, at most
/// [`MAX_NAME_CHARS`] characters.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect();
    let cleaned = cleaned.trim().to_owned();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." { "upload".to_owned() } else { cleaned }
}

/// Lists the caller's files, newest first, with what they take of the quota.
#[utoipa::path(get, path = "/api/v1/files", tag = "files",
    responses((status = 200, body = FileList)), security(("bearer" = [])))]
pub async fn list_files(State(state): State<AppState>, caller: Caller) -> Result<Json<FileList>, ApiError> {
    let files = state.files.list_files(caller.id()).await?;
    Ok(Json(FileList {
        used_bytes: files.iter().map(|file| file.size).sum(),
        items: files.iter().map(FileView::from).collect(),
        quota_bytes: state.settings.upload_quota_bytes,
        max_file_bytes: state.settings.upload_max_bytes as u64,
    }))
}

/// Downloads one of the caller's files (as an attachment, with the type its content has).
#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The file's bytes, with its content type"), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn download_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: Uuid = parse_id(&id, "id")?;
    let (record, content) = state.files.read_file(caller.id(), id).await?.ok_or_else(|| ApiError::not_found("file"))?;
    let content_type =
        HeaderValue::from_str(&record.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let ascii: String =
        record.name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{ascii}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok(([(CONTENT_TYPE, content_type), (CONTENT_DISPOSITION, disposition)], content).into_response())
}

/// Deletes one of the caller's files.
#[utoipa::path(delete, path = "/api/v1/files/{id}", tag = "files", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: Uuid = parse_id(&id, "id")?;
    if !state.files.delete_file(caller.id(), id).await? {
        return Err(ApiError::not_found("file"));
    }
    Ok(StatusCode::NO_CONTENT)
}
