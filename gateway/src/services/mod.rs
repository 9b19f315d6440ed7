//! The application services: what the HTTP API and the command line both do, below HTTP.
//!
//! - [`pipelines`]: which pipeline a name means to a caller (their own, else a built-in one),
//!   and which agents a caller's own pipelines may name;
//! - [`executions`]: creating an execution — budget defaults, idempotency keys;
//! - [`accounts`]: the credential rules of registration, password changes and the CLI.
//!
//! Services answer [`ServiceError`]s; the HTTP layer maps them to statuses in one place
//! (`http::error`), the command line prints them.

pub mod accounts;
pub mod deletion;
pub mod executions;
pub mod own_models;
pub mod pipelines;

use troupe_runtime::RuntimeError;
use troupe_runtime::pipeline::PipelineError;
use troupe_runtime::store::StoreError;

/// Why a service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Fields of the request are wrong: (field, what is wrong) for each.
    #[error("{}", .0.iter().map(|(field, message)| format!("{field}: {message}")).collect::<Vec<_>>().join("; "))]
    InvalidFields(Vec<(String, String)>),
    /// A pipeline definition is not valid (or names what the caller may not use).
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The thing does not exist, or belongs to someone else (callers cannot tell).
    #[error("{0} not found")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The runtime refused.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The request conflicts with the state of things.
    #[error("{0}")]
    Conflict(String),
    /// Something it needs does not answer now; try again.
    #[error("{0}")]
    Unavailable(String),
}

impl ServiceError {
    /// One bad field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError::InvalidFields(vec![(field.into(), message.into())])
    }
}
