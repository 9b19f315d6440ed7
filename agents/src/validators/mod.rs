//! Validators of step outputs: pure checks that say where each problem is.
//!
//! | name | checks |
//! |---|---|
//! | `json_schema` | the output against the step's `output_schema` |
//! | `openapi` | `output.openapi` is an OpenAPI 3.0 document (parsed by `openapiv3`) whose `$ref`s resolve |
//! | `sql_ddl` | `output.ddl` parses (sqlparser) and every foreign key names a declared table and column |
//! | `syntax` | every file in `output.files` parses: Python, JavaScript and Rust with tree-sitter, JSON, YAML, TOML, Dockerfiles |
//! | `completeness` | required sections are present and non-empty; no placeholder text anywhere |
//!
//! Files are `output.files[i] = {"path", "content"}`; an issue about a file's content is
//! reported at `/files/<i>/content` with the file, line and column in its message.

mod completeness;
mod json_schema;
mod openapi;
mod sql;
pub(crate) mod syntax;

use serde_json::Value;
use troupe_runtime::validator::ValidationIssue;

pub use completeness::CompletenessValidator;
pub use json_schema::JsonSchemaValidator;
pub use openapi::{OpenApiValidator, check as check_openapi};
pub use sql::{SqlDdlValidator, check_ddl};
pub use syntax::{SyntaxValidator, check_file};

/// One generated file of an output.
pub struct FileRef<'a> {
    /// Its index in `files`.
    pub index: usize,
    /// Its relative path.
    pub path: &'a str,
    /// Its text.
    pub content: &'a str,
}

/// The files of an output (`output.files[i].path/content`).
pub fn files(output: &Value) -> Vec<FileRef<'_>> {
    output["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .enumerate()
                .filter_map(|(index, file)| {
                    Some(FileRef { index, path: file["path"].as_str()?, content: file["content"].as_str()? })
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn issue(validator: &str, path: impl Into<String>, message: impl Into<String>) -> ValidationIssue {
    ValidationIssue { validator: validator.to_owned(), path: path.into(), message: message.into() }
}
