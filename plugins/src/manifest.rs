//! Plugin manifests (TOML or JSON, published as a JSON Schema): what a plugin is, what it may
//! use, and — for the research track — the experiment it serves, its consent requirement, its
//! feature flag and the metrics it emits. [`Manifest::parse`] reports every problem, each
//! naming its field (`limits.memory_mb`, `research.consent_required`, `research.metrics[0].sensitivity`).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The host ABI version this runtime speaks (see docs/plugins.md).
pub const ABI_VERSION: i32 = 1;

/// Ceilings an admin cannot raise past in a manifest.
pub const MAX_FUEL: u64 = 10_000_000_000;
/// The largest memory a plugin may ask for, in MiB.
pub const MAX_MEMORY_MB: u64 = 1024;
/// The longest wall clock a plugin may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);
/// The largest output a plugin may ask for, in bytes.
pub const MAX_OUTPUT_BYTES: u64 = 16 << 20;

/// How a plugin runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// A WebAssembly module run in the sandbox.
    Wasm,
    /// A remote agent called over HTTP.
    Http,
}

/// Which track a plugin belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Track {
    /// A user's own agent: same sandbox, no consent gate.
    Custom,
    /// A research plugin: runs only for consenting users with its flag on.
    Research,
}

/// A plugin manifest, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name, also the agent kind pipeline steps name: 1–64 of `a-z`, `0-9`, `_`, `-`.
    pub name: String,
    /// Its version (semantic versioning, e.g. `1.2.0`).
    pub version: String,
    /// `wasm` or `http`.
    pub kind: PluginKind,
    /// `custom` or `research`.
    pub track: Track,
    /// The module file (relative to the manifest) for `wasm`; the endpoint URL for `http`.
    pub entry: String,
    /// What it does.
    #[serde(default)]
    pub description: Option<String>,
    /// The agent kind it provides (its name by default).
    #[serde(default)]
    pub agent: Option<String>,
    /// A JSON Schema the step's input is checked against before the plugin runs.
    #[serde(default)]
    pub input_schema: Option<Value>,
    /// A JSON Schema the plugin's output must match; an output that does not is refused.
    #[serde(default)]
    pub output_schema: Option<Value>,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// What the plugin asks to use beyond computing (nothing by default).
    #[serde(default)]
    pub capabilities: Capabilities,
    /// What a research plugin must declare.
    #[serde(default)]
    pub research: Option<Research>,
}

/// Resource limits of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// WebAssembly fuel (about one unit per instruction); `wasm` only.
    pub fuel: u64,
    /// Linear memory, in MiB; `wasm` only.
    pub memory_mb: u64,
    /// Wall clock of one run (humantime, e.g. `2s`).
    pub timeout: String,
    /// The largest output accepted, in bytes.
    pub max_output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { fuel: 100_000_000, memory_mb: 16, timeout: "5s".into(), max_output_bytes: 256 << 10 }
    }
}

/// Capabilities a plugin requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Capabilities {
    /// Hosts a plugin may reach. ABI v1 gives WASM modules no network at all, so this is for
    /// `http` plugins: the entry's host must be listed.
    pub network: Vec<String>,
}

/// The research section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Research {
    /// The experiment it serves (created beforehand by a researcher).
    pub experiment: String,
    /// The hypothesis document (non-empty), shown with the consent request.
    pub hypothesis: String,
    /// Must be `true`: research plugins never run without consent.
    pub consent_required: bool,
    /// The feature flag that must be on for the user.
    pub flag: String,
    /// The metrics it emits.
    pub metrics: Vec<MetricDecl>,
}

/// A metric a research plugin emits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricDecl {
    /// Its name (1–64 of `a-z`, `0-9`, `_`).
    pub name: String,
    /// The most one user contributes to a release (values are clamped to ±this): the L1
    /// sensitivity the Laplace noise is calibrated to.
    pub sensitivity: f64,
    /// What it measures.
    #[serde(default)]
    pub description: Option<String>,
}

/// One problem of a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestIssue {
    /// The field (`research.flag`), or `(document)`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Why a manifest was refused: every problem found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", issues.iter().map(|issue| format!("{}: {}", issue.field, issue.message)).collect::<Vec<_>>().join("; "))]
pub struct ManifestError {
    /// The problems.
    pub issues: Vec<ManifestIssue>,
}

impl ManifestError {
    fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { issues: vec![ManifestIssue { field: field.into(), message: message.into() }] }
    }
}

/// A checked manifest with its limits resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedManifest {
    /// The manifest.
    pub manifest: Manifest,
    /// The wall clock of one run.
    pub timeout: Duration,
}

impl CheckedManifest {
    /// The agent kind it provides.
    pub fn agent_kind(&self) -> &str {
        self.manifest.agent.as_deref().unwrap_or(&self.manifest.name)
    }
}

/// The format of a manifest text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestFormat {
    /// TOML (`plugin.toml`).
    Toml,
    /// JSON (`plugin.json`).
    Json,
}

fn valid_name(name: &str, extra: &[char]) -> bool {
    !name.is_empty()
        && name.chars().count() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || extra.contains(&c))
}

impl Manifest {
    /// Parses and checks a manifest.
    pub fn parse(text: &str, format: ManifestFormat) -> Result<CheckedManifest, ManifestError> {
        let manifest: Manifest = match format {
            ManifestFormat::Json => {
                let mut deserializer = serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
                    ManifestError::single(field_of(&error.path().to_string()), error.inner().to_string())
                })?
            }
            ManifestFormat::Toml => {
                let deserializer = toml::Deserializer::parse(text)
                    .map_err(|error| ManifestError::single("(document)", error.message().to_owned()))?;
                serde_path_to_error::deserialize(deserializer).map_err(|error| {
                    ManifestError::single(field_of(&error.path().to_string()), error.inner().message().to_owned())
                })?
            }
        };
        manifest.check()
    }

    /// Parses a manifest given as a JSON value (the admin API).
    pub fn from_value(value: Value) -> Result<CheckedManifest, ManifestError> {
        let manifest: Manifest = serde_path_to_error::deserialize(value)
            .map_err(|error| ManifestError::single(field_of(&error.path().to_string()), error.inner().to_string()))?;
        manifest.check()
    }

    /// Checks every rule; reports all problems at once.
    pub fn check(self) -> Result<CheckedManifest, ManifestError> {
        let mut issues = Vec::new();
        let mut problem = |field: &str, message: String| issues.push(ManifestIssue { field: field.into(), message });
        if !valid_name(&self.name, &['-']) {
            problem("name", format!("must be 1 to 64 of a-z, 0-9, `_` or `-`, got `{}`", self.name));
        }
        if let Some(agent) = &self.agent
            && !valid_name(agent, &['-'])
        {
            problem("agent", format!("must be 1 to 64 of a-z, 0-9, `_` or `-`, got `{agent}`"));
        }
        let version_ok = {
            let parts: Vec<&str> = self.version.split(['-', '+']).next().unwrap_or("").split('.').collect();
            parts.len() == 3 && parts.iter().all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
        };
        if !version_ok {
            problem("version", format!("must be a semantic version like `1.0.0`, got `{}`", self.version));
        }
        if self.entry.trim().is_empty() {
            problem("entry", "must name the module file or the endpoint URL".into());
        }
        match self.kind {
            PluginKind::Http => match reqwest::Url::parse(&self.entry) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {
                    let host = url.host_str().unwrap_or_default();
                    if !self.capabilities.network.iter().any(|allowed| allowed == host) {
                        problem(
                            "capabilities.network",
                            format!("an http plugin must list its entry's host `{host}` here"),
                        );
                    }
                }
                _ => problem("entry", format!("an http plugin's entry must be an http(s) URL, got `{}`", self.entry)),
            },
            PluginKind::Wasm => {
                if !self.capabilities.network.is_empty() {
                    problem("capabilities.network", "WASM plugins get no network in ABI v1; remove it".into());
                }
                if self.entry.contains("://") || self.entry.split('/').any(|part| part == "..") {
                    problem("entry", "a wasm plugin's entry is a file beside its manifest".into());
                }
            }
        }
        for (field, schema) in [("input_schema", &self.input_schema), ("output_schema", &self.output_schema)] {
            if let Some(schema) = schema
                && let Err(error) = compile_schema(schema)
            {
                problem(field, format!("is not a valid JSON Schema: {error}"));
            }
        }
        let limits = &self.limits;
        if limits.fuel == 0 || limits.fuel > MAX_FUEL {
            problem("limits.fuel", format!("must be 1 to {MAX_FUEL}, got {}", limits.fuel));
        }
        if limits.memory_mb == 0 || limits.memory_mb > MAX_MEMORY_MB {
            problem("limits.memory_mb", format!("must be 1 to {MAX_MEMORY_MB}, got {}", limits.memory_mb));
        }
        if limits.max_output_bytes == 0 || limits.max_output_bytes > MAX_OUTPUT_BYTES {
            problem(
                "limits.max_output_bytes",
                format!("must be 1 to {MAX_OUTPUT_BYTES}, got {}", limits.max_output_bytes),
            );
        }
        let timeout = match humantime::parse_duration(&limits.timeout) {
            Ok(timeout) if !timeout.is_zero() && timeout <= MAX_TIMEOUT => Some(timeout),
            Ok(_) => {
                problem(
                    "limits.timeout",
                    format!("must be more than 0 and at most {}", humantime::format_duration(MAX_TIMEOUT)),
                );
                None
            }
            Err(error) => {
                problem("limits.timeout", format!("invalid duration `{}`: {error}", limits.timeout));
                None
            }
        };
        match (self.track, &self.research) {
            (Track::Research, None) => problem(
                "research",
                "a research plugin needs its experiment, hypothesis, consent, flag and metrics".into(),
            ),
            (Track::Custom, Some(_)) => {
                problem("research", "only research plugins have a research section (track = \"research\")".into())
            }
            (Track::Research, Some(research)) => {
                if !valid_name(&research.experiment, &['-']) {
                    problem(
                        "research.experiment",
                        format!("must be 1 to 64 of a-z, 0-9, `_` or `-`, got `{}`", research.experiment),
                    );
                }
                if research.hypothesis.trim().is_empty() {
                    problem("research.hypothesis", "must not be empty: users read it before they consent".into());
                }
                if !research.consent_required {
                    problem(
                        "research.consent_required",
                        "must be true: research plugins never run without consent".into(),
                    );
                }
                if !valid_name(&research.flag, &['-', '.']) {
                    problem(
                        "research.flag",
                        format!("must be 1 to 64 of a-z, 0-9, `_`, `-` or `.`, got `{}`", research.flag),
                    );
                }
                if research.metrics.is_empty() {
                    problem("research.metrics", "must declare at least one metric".into());
                }
                for (index, metric) in research.metrics.iter().enumerate() {
                    if !valid_name(&metric.name, &[]) {
                        problem(
                            &format!("research.metrics[{index}].name"),
                            format!("must be 1 to 64 of a-z, 0-9 or `_`, got `{}`", metric.name),
                        );
                    }
                    if !(metric.sensitivity.is_finite() && metric.sensitivity > 0.0) {
                        problem(
                            &format!("research.metrics[{index}].sensitivity"),
                            format!("must be a positive number, got {}", metric.sensitivity),
                        );
                    }
                    if research.metrics[..index].iter().any(|earlier| earlier.name == metric.name) {
                        problem(
                            &format!("research.metrics[{index}].name"),
                            format!("`{}` is declared twice", metric.name),
                        );
                    }
                }
            }
            (Track::Custom, None) => {}
        }
        match (issues.is_empty(), timeout) {
            (true, Some(timeout)) => Ok(CheckedManifest { manifest: self, timeout }),
            _ => Err(ManifestError { issues }),
        }
    }
}

/// serde_path_to_error says `.` for the document itself.
fn field_of(path: &str) -> String {
    if path.is_empty() || path == "." { "(document)".to_owned() } else { path.to_owned() }
}

/// Returns the published JSON Schema of the manifest format.
pub fn json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Manifest)).expect("the schema serialises")
}

/// Compiles a schema of a manifest: `pattern`s use the `regex` crate (linear-time matching,
/// size-limited), since input schemas run on every user's input.
pub(crate) fn compile_schema(schema: &Value) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    jsonschema::options().with_pattern_options(jsonschema::PatternOptions::regex().size_limit(1 << 20)).build(schema)
}

#[cfg(test)]
mod tests;
