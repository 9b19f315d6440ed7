//! The `software` pipeline: from an idea to a built and tested project.
//!
//! requirements → architect → api_design ∥ db_design → backend ∥ frontend → infra → build → qa →
//! deploy, with `recovery` as the pipeline's failure handler. Design agents ([`DesignAgent`]) ask
//! the LLM for a JSON answer of their schema (with the offline provider they produce a
//! deterministic project of their own, see [`offline`]); [`workspace`] holds `build` and `qa`,
//! which run the project's own commands in the sandbox. Every step's output is checked by
//! validators: `json_schema` and `completeness` always, `openapi`, `sql_ddl` or `syntax` where
//! the output is an API, a schema or files.

pub mod offline;
pub mod recovery;
pub mod workspace;

use std::sync::Arc;

use serde_json::{Value, json};
use troupe_runtime::agent::{Agent, AgentError, StepContext, StepOutput};
use troupe_runtime::model::LogLevel;
use troupe_runtime::pipeline::{PipelineDef, StepDef};

use crate::ask::{AgentsConfig, ask_json, context_text};
use crate::llm::OFFLINE_LABEL;
use crate::validators::syntax::SOURCE_LANGUAGES;

/// The design agents: each asks for one JSON document of its own schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DesignKind {
    /// User stories, functional and non-functional requirements, acceptance criteria.
    Requirements,
    /// Components, data flow and decisions.
    Architect,
    /// An OpenAPI 3.0 document.
    ApiDesign,
    /// SQL DDL.
    DbDesign,
    /// The server's source files and tests.
    Backend,
    /// The client's source files and tests.
    Frontend,
    /// CI configuration and the project's build and test commands.
    Infra,
    /// A Dockerfile, a compose file and Kubernetes manifests.
    Deploy,
}

impl DesignKind {
    /// Every design kind.
    pub const ALL: [DesignKind; 8] = [
        DesignKind::Requirements,
        DesignKind::Architect,
        DesignKind::ApiDesign,
        DesignKind::DbDesign,
        DesignKind::Backend,
        DesignKind::Frontend,
        DesignKind::Infra,
        DesignKind::Deploy,
    ];

    /// The kind of this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The agent kind (and step key) name.
    pub fn name(self) -> &'static str {
        match self {
            DesignKind::Requirements => "requirements",
            DesignKind::Architect => "architect",
            DesignKind::ApiDesign => "api_design",
            DesignKind::DbDesign => "db_design",
            DesignKind::Backend => "backend",
            DesignKind::Frontend => "frontend",
            DesignKind::Infra => "infra",
            DesignKind::Deploy => "deploy",
        }
    }

    /// The role the LLM is given.
    fn system_prompt(self) -> String {
        let languages = SOURCE_LANGUAGES.join(", ");
        match self {
            DesignKind::Requirements => "You are a requirements engineer. Turn the idea into a concise, testable \
                specification: user stories, functional and non-functional requirements and acceptance criteria. \
                No placeholders."
                .into(),
            DesignKind::Architect => "You are a software architect. From the requirements, design a small \
                system: its components with their responsibility and technology, the data flow, and the key \
                decisions with reasons."
                .into(),
            DesignKind::ApiDesign => "You are an API designer. Write an OpenAPI 3.0.3 document (JSON) for the \
                system's HTTP API: every path with its operations, request bodies, responses and component \
                schemas; every $ref must resolve inside the document."
                .into(),
            DesignKind::DbDesign => "You are a database designer. Write SQL DDL (CREATE TABLE statements, \
                indexes) for the system's data in the SQLite dialect unless the architecture says otherwise. \
                Every foreign key must reference a declared table and column."
                .into(),
            DesignKind::Backend => format!(
                "You are a backend engineer. Implement the API of the OpenAPI document on the database schema \
                 of the DDL, with unit tests. Write complete files (no placeholders). Source languages: \
                 {languages}; prefer the standard library so the project builds with no network."
            ),
            DesignKind::Frontend => format!(
                "You are a frontend engineer. Write a small web client for the API with unit tests that run \
                 under `node --test` (or the tests of your language). Source languages: {languages}."
            ),
            DesignKind::Infra => "You are a DevOps engineer. Write CI configuration for the project and list \
                the commands that build it and run its tests, as argument vectors run from the project root \
                (allowed programs: python3, node). The build commands check that every source compiles; the \
                test commands run every test suite."
                .into(),
            DesignKind::Deploy => "You are a release engineer. Write the deployment files: a Dockerfile for \
                each service, a docker-compose.yml wiring them, and Kubernetes manifests (Deployment and \
                Service)."
                .into(),
        }
    }

    /// The JSON Schema of the output.
    pub fn schema(self) -> Value {
        let text = json!({"type": "string", "minLength": 1});
        let texts = json!({"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}});
        let files = json!({"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["path", "content"], "additionalProperties": false,
            "properties": {"path": {"type": "string", "minLength": 1}, "content": {"type": "string"}}
        }});
        let argvs = json!({"type": "array", "minItems": 1, "items": {"type": "array", "minItems": 1, "items": {"type": "string"}}});
        let (required, properties) = match self {
            DesignKind::Requirements => (
                vec!["title", "summary", "user_stories", "functional", "non_functional", "acceptance_criteria"],
                json!({
                    "title": text, "summary": text,
                    "user_stories": {"type": "array", "minItems": 1, "items": {"type": "object",
                        "required": ["role", "goal", "benefit"],
                        "properties": {"role": text, "goal": text, "benefit": text}}},
                    "functional": texts, "non_functional": texts, "acceptance_criteria": texts
                }),
            ),
            DesignKind::Architect => (
                vec!["style", "components", "data_flow", "decisions"],
                json!({
                    "style": text,
                    "components": {"type": "array", "minItems": 1, "items": {"type": "object",
                        "required": ["name", "responsibility", "technology"],
                        "properties": {"name": text, "responsibility": text, "technology": text}}},
                    "data_flow": texts,
                    "decisions": {"type": "array", "minItems": 1, "items": {"type": "object",
                        "required": ["decision", "reason"], "properties": {"decision": text, "reason": text}}}
                }),
            ),
            DesignKind::ApiDesign => {
                (vec!["openapi", "summary"], json!({"openapi": {"type": "object"}, "summary": text}))
            }
            DesignKind::DbDesign => (
                vec!["dialect", "ddl", "tables"],
                json!({
                    "dialect": {"enum": ["sqlite", "postgres", "mysql"]},
                    "ddl": text,
                    "tables": {"type": "array", "minItems": 1, "items": {"type": "object",
                        "required": ["name", "purpose"], "properties": {"name": text, "purpose": text}}}
                }),
            ),
            DesignKind::Backend | DesignKind::Frontend => {
                (vec!["language", "files", "summary"], json!({"language": text, "files": files, "summary": text}))
            }
            DesignKind::Infra => (
                vec!["files", "commands"],
                json!({"files": files, "commands": {"type": "object", "required": ["build", "test"],
                    "properties": {"build": argvs, "test": argvs}}}),
            ),
            DesignKind::Deploy => (vec!["files", "notes"], json!({"files": files, "notes": text})),
        };
        json!({"type": "object", "required": required, "properties": properties})
    }

    /// The validators run on its output.
    pub fn validators(self) -> Vec<String> {
        let extra: &[&str] = match self {
            DesignKind::ApiDesign => &["openapi"],
            DesignKind::DbDesign => &["sql_ddl"],
            DesignKind::Backend | DesignKind::Frontend | DesignKind::Infra | DesignKind::Deploy => &["syntax"],
            DesignKind::Requirements | DesignKind::Architect => &[],
        };
        ["json_schema"].iter().chain(extra).chain(&["completeness"]).map(|name| name.to_string()).collect()
    }

    fn depends_on(self) -> &'static [&'static str] {
        match self {
            DesignKind::Requirements => &[],
            DesignKind::Architect => &["requirements"],
            DesignKind::ApiDesign | DesignKind::DbDesign => &["requirements", "architect"],
            DesignKind::Backend => &["api_design", "db_design"],
            DesignKind::Frontend => &["api_design"],
            DesignKind::Infra => &["architect", "backend", "frontend"],
            DesignKind::Deploy => &["architect", "infra", "qa"],
        }
    }
}

/// A design step's agent.
#[derive(Clone)]
pub struct DesignAgent {
    kind: DesignKind,
    config: Arc<AgentsConfig>,
}

impl DesignAgent {
    /// An agent of `kind`.
    pub fn new(kind: DesignKind, config: Arc<AgentsConfig>) -> Self {
        Self { kind, config }
    }
}

#[async_trait::async_trait]
impl Agent for DesignAgent {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        let offline = self.config.llm.is_offline();
        let (mut output, correction_note) = if offline {
            (offline::generate(self.kind, &ctx), None)
        } else {
            let schema = self.kind.schema();
            let answer =
                ask_json(&self.config, &ctx, self.kind.name(), &self.kind.system_prompt(), context_text(&ctx), &schema)
                    .await?;
            (answer.value, answer.correction_note)
        };
        if offline && let Some(files) = output["files"].as_array_mut() {
            for file in files {
                let labelled =
                    label(file["path"].as_str().unwrap_or_default(), file["content"].as_str().unwrap_or_default());
                file["content"] = Value::String(labelled);
            }
        }
        if let Some(object) = output.as_object_mut() {
            object.insert("generated_by".into(), json!({ "provider": self.config.llm.name(), "offline": offline }));
        }
        let mut step = with_artifacts(self.kind, output, offline);
        step.correction_note = correction_note;
        Ok(step)
    }
}

/// The artifacts of a design output: each generated file, plus a readable document per kind.
fn with_artifacts(kind: DesignKind, output: Value, offline: bool) -> StepOutput {
    let mut documents: Vec<(String, &str, String)> = Vec::new();
    match kind {
        DesignKind::Requirements => {
            documents.push(("requirements.md".into(), "text/markdown", requirements_md(&output)))
        }
        DesignKind::Architect => documents.push(("architecture.md".into(), "text/markdown", architecture_md(&output))),
        DesignKind::ApiDesign => {
            let document = serde_json::to_string_pretty(&output["openapi"]).unwrap_or_default();
            documents.push(("openapi.json".into(), "application/json", document));
        }
        DesignKind::DbDesign => {
            documents.push(("schema.sql".into(), "application/sql", output["ddl"].as_str().unwrap_or_default().into()))
        }
        _ => {}
    }
    let files: Vec<(String, &str, String)> = crate::validators::files(&output)
        .into_iter()
        .map(|file| (file.path.to_owned(), content_type(file.path), file.content.to_owned()))
        .collect();
    let count = documents.len() + files.len();
    let mut step = StepOutput::new(output);
    for (name, content_type, content) in documents {
        let content = if offline { label(&name, &content) } else { content };
        step = step.artifact(name, content_type, content);
    }
    for (name, content_type, content) in files {
        step = step.artifact(name, content_type, content);
    }
    let source = if offline { OFFLINE_LABEL } else { "the LLM" };
    step.log(LogLevel::Info, format!("{} produced {count} artifacts from {source}", kind.name()))
}

/// Marks an offline artifact as such where its format has comments (JSON carries the label in
/// the document itself).
pub fn label(name: &str, content: &str) -> String {
    let marker = format!("generated by troupe's offline provider ({OFFLINE_LABEL})");
    let extension = name.rsplit_once('.').map_or("", |(_, extension)| extension);
    let file = name.rsplit('/').next().unwrap_or(name);
    match (extension, file) {
        (_, "Dockerfile") | ("py" | "yml" | "yaml" | "toml", _) => {
            // Keep a shebang or an encoding line first.
            format!("# {marker}\n{content}")
        }
        ("js" | "mjs" | "cjs" | "rs", _) => {
            if let Some(rest) = content.strip_prefix("'use strict';\n") {
                format!("'use strict';\n// {marker}\n{rest}")
            } else {
                format!("// {marker}\n{content}")
            }
        }
        ("sql", _) => format!("-- {marker}\n{content}"),
        ("md" | "html", _) => format!("<!-- {marker} -->\n{content}"),
        _ => content.to_owned(),
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map_or("", |(_, extension)| extension) {
        "py" => "text/x-python",
        "js" | "mjs" | "cjs" => "text/javascript",
        "json" => "application/json",
        "html" => "text/html",
        "css" => "text/css",
        "md" => "text/markdown",
        "sql" => "application/sql",
        "yml" | "yaml" => "application/yaml",
        _ => "text/plain",
    }
}

fn bullets(value: &Value) -> String {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).map(|line| format!("- {line}\n")).collect()
}

fn requirements_md(output: &Value) -> String {
    let stories: String = output["user_stories"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|story| {
            format!(
                "- As a {}, I want {}, so that {}.\n",
                story["role"].as_str().unwrap_or_default(),
                story["goal"].as_str().unwrap_or_default(),
                story["benefit"].as_str().unwrap_or_default()
            )
        })
        .collect();
    format!(
        "# {}\n\n{}\n\n## User stories\n\n{stories}\n## Functional requirements\n\n{}\n## Non-functional requirements\n\n{}\n## Acceptance criteria\n\n{}",
        output["title"].as_str().unwrap_or_default(),
        output["summary"].as_str().unwrap_or_default(),
        bullets(&output["functional"]),
        bullets(&output["non_functional"]),
        bullets(&output["acceptance_criteria"]),
    )
}

fn architecture_md(output: &Value) -> String {
    let components: String = output["components"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|component| {
            format!(
                "| {} | {} | {} |\n",
                component["name"].as_str().unwrap_or_default(),
                component["responsibility"].as_str().unwrap_or_default(),
                component["technology"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let decisions: String = output["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|decision| {
            format!(
                "- **{}** — {}\n",
                decision["decision"].as_str().unwrap_or_default(),
                decision["reason"].as_str().unwrap_or_default()
            )
        })
        .collect();
    format!(
        "# Architecture\n\nStyle: {}\n\n| Component | Responsibility | Technology |\n|---|---|---|\n{components}\n## Data flow\n\n{}\n## Decisions\n\n{decisions}",
        output["style"].as_str().unwrap_or_default(),
        bullets(&output["data_flow"]),
    )
}

/// The built-in `software` pipeline.
pub fn pipeline() -> PipelineDef {
    let mut steps: Vec<StepDef> = DesignKind::ALL
        .iter()
        .map(|&kind| {
            let mut step = step(kind.name(), kind.name(), kind.depends_on());
            step.validate = kind.validators();
            step.output_schema = Some(kind.schema());
            step
        })
        .collect();
    let mut build = step("build", "build", &["db_design", "backend", "frontend", "infra"]);
    build.timeout = Some("10m".into());
    build.retry = Some(troupe_runtime::pipeline::RetryDef { max_attempts: Some(1), backoff: None });
    let mut qa = step("qa", "qa", &["build", "db_design", "backend", "frontend", "infra"]);
    qa.timeout = Some("10m".into());
    qa.retry = build.retry.clone();
    steps.insert(7, build);
    steps.insert(8, qa);
    steps.push(step("recovery", "recovery", &[]));
    // A person may review the architecture before anything is built on it (off unless the
    // input asks: `{"approve_architecture": true}`); its comment reaches the designers.
    let mut review = step(APPROVE_ARCHITECTURE, troupe_runtime::pipeline::approval::APPROVAL_AGENT, &["architect"]);
    review.when = Some("input.approve_architecture".into());
    review.params = Some(serde_json::json!({
        "prompt": "Approve this architecture before the API and the database are designed on it?\n\n\
                   Components: {{ steps.architect.output.components[].name }}\n\
                   Decisions: {{ steps.architect.output.decisions[].decision }}",
        "timeout": "7d"
    }));
    for design in steps.iter_mut().filter(|step| step.key == "api_design" || step.key == "db_design") {
        design.depends_on.push(APPROVE_ARCHITECTURE.into());
    }
    steps.insert(2, review);
    PipelineDef {
        name: "software".into(),
        description: Some(
            "From an idea ({\"idea\": \"…\"}) to a project that builds and passes its tests: requirements, \
             architecture, OpenAPI, SQL DDL, backend, frontend, CI, build, qa and deployment files. With \
             {\"approve_architecture\": true} a person approves the architecture before it is built on."
                .into(),
        ),
        on_failure: Some("recovery".into()),
        max_dynamic_steps: None,
        max_recoveries: Some(1),
        budget: None,
        input_schema: Some(serde_json::json!({
            "type": "object",
            "required": ["idea"],
            "properties": {
                "idea": {"type": "string", "title": "Idea", "description": "What to build, in a sentence or two",
                         "minLength": 1, "maxLength": 4000, "x-troupe-multiline": true},
                "approve_architecture": {"type": "boolean", "title": "Approve the architecture before it is built on",
                                         "default": false}
            }
        })),
        steps,
    }
}

/// The optional approval step after `architect` in the `software` pipeline.
pub const APPROVE_ARCHITECTURE: &str = "approve_architecture";

fn step(key: &str, agent: &str, depends_on: &[&str]) -> StepDef {
    StepDef { depends_on: depends_on.iter().map(|dep| dep.to_string()).collect(), ..StepDef::new(key, agent) }
}
