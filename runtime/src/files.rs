//! Files users upload (`POST /api/v1/files`): the `FileStore` port, and what a file's content
//! says it is.
//!
//! Files live in the database by default, so every node of a cluster reads the same ones. A
//! file is its owner's only: every read names the owner, and another user's id is not found.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ids::UserId;
use crate::store::StoreError;

/// The content types an upload may have, decided by its bytes (never by its name).
pub const ACCEPTED_TYPES: &[&str] = &["application/pdf", "text/plain", "text/markdown", "text/csv", "application/json"];

/// An uploaded file, without its content.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FileRecord {
    /// Its id.
    pub id: Uuid,
    /// Its owner.
    pub owner: UserId,
    /// The name it was uploaded under (for people; never a path).
    pub name: String,
    /// What its content is (one of [`ACCEPTED_TYPES`]).
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its content, hex.
    pub sha256: String,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
}

/// Returned by [`FileStore`] operations.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Storing the file would take its owner past their quota.
    #[error("the file would take you to {would_use} bytes, over your quota of {quota} bytes")]
    QuotaExceeded {
        /// Bytes the owner's files would take with this one.
        would_use: u64,
        /// The owner's quota.
        quota: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where uploaded files are kept.
#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Stores a file unless its owner's files would then take more than `quota` bytes
    /// (checked and written atomically: concurrent uploads cannot overshoot it).
    async fn put_file(&self, record: &FileRecord, content: &[u8], quota: u64) -> Result<(), FileError>;

    /// Lists an owner's files, newest first.
    async fn list_files(&self, owner: UserId) -> Result<Vec<FileRecord>, StoreError>;

    /// Returns an owner's file (`None` for another user's).
    async fn get_file(&self, owner: UserId, id: Uuid) -> Result<Option<FileRecord>, StoreError>;

    /// Returns an owner's file with its content.
    async fn read_file(&self, owner: UserId, id: Uuid) -> Result<Option<(FileRecord, Vec<u8>)>, StoreError>;

    /// Deletes an owner's file; returns whether it existed.
    async fn delete_file(&self, owner: UserId, id: Uuid) -> Result<bool, StoreError>;
}

/// Decides what `content` is from its bytes; `name`'s extension only chooses among text types
/// (`.md` is Markdown, `.csv` CSV). `None`: not a type troupe accepts.
pub fn sniff(content: &[u8], name: &str) -> Option<&'static str> {
    if content.starts_with(b"%PDF-") {
        return Some("application/pdf");
    }
    let text = std::str::from_utf8(content).ok()?;
    if text.contains('\0') || text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}')) {
        return None;
    }
    let extension = name.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase());
    Some(match extension.as_deref() {
        Some("md" | "markdown") => "text/markdown",
        Some("csv") => "text/csv",
        Some("json") if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => "application/json",
        _ => "text/plain",
    })
}

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn content_decides_the_type_not_the_name() {
        assert_eq!(sniff(b"%PDF-1.4\n...", "notes.txt"), Some("application/pdf"));
        assert_eq!(sniff(b"# Title\n", "notes.md"), Some("text/markdown"));
        assert_eq!(sniff(b"plain words", "paper.pdf"), Some("text/plain"), "a name does not make a PDF");
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\0\0", "paper.pdf"), None, "a program is refused");
        assert_eq!(sniff(&[0xff, 0xd8, 0xff, 0xe0], "photo.txt"), None, "binary is refused");
        assert_eq!(sniff(b"{\"a\": 1}", "data.json"), Some("application/json"));
        assert_eq!(sniff(b"{not json", "data.json"), Some("text/plain"));
    }
}
