//! Schemas of request fields the handlers keep as JSON values (to report their problems in
//! their own terms) but that the document must type: budgets, pipeline definitions, plugin
//! manifests.
//!
//! `PipelineDefinition` and `PluginManifest` are placeholders here (any JSON object): the
//! document replaces them with the published JSON Schemas (`troupe pipeline schema`,
//! docs/plugin.schema.json), bundled into its components; the server checks them with the
//! pipeline checker (422 `invalid_pipeline`, naming step and field) and the manifest checker
//! (400 `invalid_manifest`).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// Caps on an execution's LLM use; both optional.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Prompt and completion tokens, in all (at least 1).
    #[schema(minimum = 1)]
    pub max_tokens: Option<u64>,
    /// US dollars (more than 0).
    #[schema(exclusive_minimum = 0.0)]
    pub max_cost_usd: Option<f64>,
}

/// Declares a type whose schema is "a JSON object" under a component name: the document
/// replaces that component with a schema bundled from another crate.
macro_rules! bundled_object {
    ($(#[$meta:meta])* $type:ident as $name:literal) => {
        $(#[$meta])*
        pub struct $type(pub Value);

        impl utoipa::PartialSchema for $type {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new().schema_type(Type::Object).into()
            }
        }

        impl ToSchema for $type {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

bundled_object!(
    /// A pipeline definition: the format of docs/pipeline.schema.json.
    #[derive(Deserialize)]
    #[serde(transparent)]
    PipelineDefinition as "PipelineDefinition"
);
bundled_object!(
    /// A plugin manifest: the JSON form of `plugin.toml` (docs/plugin.schema.json).
    #[derive(Deserialize)]
    #[serde(transparent)]
    PluginManifest as "PluginManifest"
);
bundled_object!(
    /// An execution's event (the runtime's `Event`).
    EventSchema as "Event"
);
bundled_object!(
    /// A log line (the runtime's `LogRecord`).
    LogEntrySchema as "LogEntry"
);
bundled_object!(
    /// An error of an execution, step or attempt (the runtime's `ErrorInfo`).
    ErrorInfoSchema as "ErrorInfo"
);

/// A pipeline given by name (the caller's own, else a built-in one) or defined inline.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum PipelineRef {
    /// A pipeline's name.
    Name(String),
    /// An inline definition.
    Definition(PipelineDefinition),
}

/// An execution's status.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[expect(missing_docs, reason = "the values are the runtime's, documented there")]
pub enum ExecutionStatusName {
    Planned,
    Running,
    Waiting,
    Validating,
    Correcting,
    Completed,
    Failed,
    Cancelled,
}

/// A step's status.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[expect(missing_docs, reason = "the values are the runtime's, documented there")]
pub enum StepStatusName {
    Pending,
    Running,
    Waiting,
    Validating,
    Correcting,
    Completed,
    Failed,
    Skipped,
    Cancelled,
}

/// How an attempt ended.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[expect(missing_docs, reason = "the values are the runtime's, documented there")]
pub enum AttemptStatusName {
    Running,
    Succeeded,
    Rejected,
    Failed,
    Crashed,
    TimedOut,
    Cancelled,
    Interrupted,
}

/// Why an attempt ran.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[expect(missing_docs, reason = "the values are the runtime's, documented there")]
pub enum AttemptKindName {
    Initial,
    Retry,
    Correction,
    Recovery,
}

/// A user's role.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[expect(missing_docs, reason = "the values are the runtime's, documented there")]
pub enum RoleName {
    Admin,
    Researcher,
    User,
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;

    fn names<T: PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        schema["enum"].as_array().unwrap().iter().map(|name| name.as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn the_documented_statuses_and_roles_are_the_runtimes() {
        use troupe_runtime::status::{ExecutionStatus, StepStatus};
        let executions: Vec<String> = ExecutionStatus::ALL.iter().map(|status| status.as_str().to_owned()).collect();
        assert_eq!(names::<ExecutionStatusName>(), executions);
        let steps: Vec<String> = StepStatus::ALL.iter().map(|status| status.as_str().to_owned()).collect();
        assert_eq!(names::<StepStatusName>(), steps);
        let attempts: Vec<String> =
            troupe_runtime::status::AttemptStatus::ALL.iter().map(|status| status.as_str().to_owned()).collect();
        assert_eq!(names::<AttemptStatusName>(), attempts);
        let roles: Vec<&str> = [
            troupe_runtime::accounts::Role::Admin,
            troupe_runtime::accounts::Role::Researcher,
            troupe_runtime::accounts::Role::User,
        ]
        .iter()
        .map(|role| role.as_str())
        .collect();
        assert_eq!(names::<RoleName>(), roles);
    }
}
