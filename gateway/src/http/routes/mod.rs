//! The REST handlers under `/api/v1`, one module per resource.

pub mod agents;
pub mod approvals;
pub mod auth;
pub mod executions;
pub mod files;
pub mod memories;
pub mod nodes;
pub mod pipelines;
pub mod plugins;
pub mod projects;
pub mod research;
pub mod users;
