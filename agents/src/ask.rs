//! How built-in agents ask an LLM for a JSON answer of a given shape, and how they are
//! configured ([`AgentsConfig`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use troupe_runtime::agent::{AgentError, LlmCall, StepContext};
use troupe_runtime::memory::{CORRECTION_KIND, Memories, MemorySearch, correction_fixes};
use troupe_runtime::model::Usage;

use crate::fetch::{FetchPolicy, Fetcher};
use crate::llm::{ChatMessage, ChatRequest, LlmError, LlmProvider, Offline, ResponseFormat};
use crate::sandbox::CodeBox;

/// YouTube's public timedtext service.
pub const YOUTUBE_BASE_URL: &str = "https://www.youtube.com";

/// What the built-in agents share: the LLM, models per agent kind, the sandbox and where
/// workspaces live.
#[derive(Clone)]
pub struct AgentsConfig {
    /// The provider (the offline one by default).
    pub llm: Arc<dyn LlmProvider>,
    /// The model per agent kind (`architect` → `gpt-4o`…); the provider's default otherwise.
    /// A step's `params.model` wins over both.
    pub models: HashMap<String, String>,
    /// The code box build and test commands run in (one per process, shared).
    pub sandbox: Arc<CodeBox>,
    /// Where each execution gets its workspace directory.
    pub workspaces: PathBuf,
    /// US dollars per million prompt and completion tokens, for cost accounting (none: cost 0).
    pub price_per_million: Option<(f64, f64)>,
    /// The memory service: past corrections that passed are recalled from it by meaning
    /// (within the execution owner's memories); none: corrections start from scratch.
    pub memories: Option<Arc<dyn Memories>>,
    /// Outbound HTTP of the research agents (SSRF-safe).
    pub fetcher: Arc<Fetcher>,
    /// Directories local sources (PDFs, code) may be read from; none by default.
    pub ingest_roots: Vec<PathBuf>,
    /// The YouTube timedtext service's base URL.
    pub youtube_base_url: String,
    /// Files users uploaded (a PDF source may name one: `{"kind": "pdf", "file": "<id>"}`);
    /// none: such sources are refused.
    pub files: Option<Arc<dyn troupe_runtime::files::FileStore>>,
    /// Users' own provider keys: an execution whose owner set one asks the model with it
    /// (and their model) instead of the server's; none: always the server's.
    pub owner_models: Option<Arc<dyn OwnerModels>>,
}

/// The model an execution owner chose: their own provider key and model.
#[derive(Clone)]
pub struct OwnerModel {
    /// The provider, configured with the owner's key.
    pub llm: Arc<dyn LlmProvider>,
    /// The owner's model (the server's default when `None`).
    pub model: Option<String>,
}

/// Looks up the model an execution's owner chose, if any.
#[async_trait::async_trait]
pub trait OwnerModels: Send + Sync + 'static {
    /// `owner`'s own provider and model; `None`: the server's. A key that cannot be opened
    /// (a lost sealing key) fails the step rather than spend the server's key; a store that
    /// does not answer is retryable.
    async fn for_owner(&self, owner: troupe_runtime::ids::UserId) -> Result<Option<OwnerModel>, AgentError>;
}

impl Default for AgentsConfig {
    fn default() -> Self {
        Self {
            llm: Arc::new(Offline),
            models: HashMap::new(),
            sandbox: Arc::new(CodeBox::default()),
            workspaces: std::env::temp_dir().join("troupe-workspaces"),
            price_per_million: None,
            memories: None,
            fetcher: Arc::new(Fetcher::new(FetchPolicy::default())),
            ingest_roots: Vec::new(),
            youtube_base_url: YOUTUBE_BASE_URL.into(),
            files: None,
            owner_models: None,
        }
    }
}

impl std::fmt::Debug for AgentsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentsConfig")
            .field("llm", &self.llm.name())
            .field("models", &self.models)
            .field("workspaces", &self.workspaces)
            .finish()
    }
}

/// Turns a provider error into a step error: transient ones are retried by the step's policy.
pub fn agent_error(error: LlmError) -> AgentError {
    if error.is_transient() { AgentError::retryable(error.to_string()) } else { AgentError::fatal(error.to_string()) }
}

/// The longest text of one dependency put into a prompt.
const DEPENDENCY_BUDGET: usize = 24_000;

/// The longest text of one recalled memory put into a prompt.
const MEMORY_BUDGET: usize = 2_000;

/// Renders the step's input, its dependencies' outputs and the owner's memories recalled for
/// the step as prompt context.
pub fn context_text(ctx: &StepContext) -> String {
    let mut text = format!("Input of the run:\n{}\n", pretty(&ctx.input));
    for dependency in &ctx.dependencies {
        let rendered = truncate(pretty(&dependency.output), DEPENDENCY_BUDGET);
        text.push_str(&format!("\nOutput of step `{}`:\n{rendered}\n", dependency.key));
    }
    if !ctx.memories.is_empty() {
        text.push_str("\nWhat the user asked us to remember that may matter here:\n");
        for recalled in &ctx.memories {
            let memory = &recalled.memory;
            text.push_str(&format!("- ({}) {}\n", memory.kind, truncate(memory.text.clone(), MEMORY_BUDGET)));
        }
    }
    text
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// A JSON answer and, on a correction attempt, how the question was adjusted.
pub struct Answer {
    /// The answer (or `{"invalid_answer": …}`).
    pub value: Value,
    /// The correction strategy, recorded with the correction.
    pub correction_note: Option<Value>,
}

/// How many similar past corrections a correction prompt quotes.
const PAST_CORRECTIONS: u32 = 3;

/// Asks for one JSON object matching `schema`, streaming the answer's tokens to the step's live
/// subscribers and recording the call's tokens and cost.
///
/// On a correction attempt (the corrector): the rejected answer and the validators' issues are
/// part of the conversation, the accepted values of up to three similar past corrections that
/// passed (same agent, same issue signature) are quoted as examples, and the temperature is
/// lowered. An answer that is not JSON comes back as `{"invalid_answer": {"error", "text"}}` so
/// the step's validators reject it with a reason (and the corrector can fix it) rather than
/// failing the step.
pub async fn ask_json(
    config: &AgentsConfig,
    ctx: &StepContext,
    kind: &str,
    system: &str,
    user: String,
    schema: &Value,
) -> Result<Answer, AgentError> {
    let mut messages = vec![
        ChatMessage::system(format!(
            "{system}\n\nAnswer with exactly one JSON object that matches this JSON Schema, and nothing else:\n{}",
            pretty(schema)
        )),
        ChatMessage::user(user),
    ];
    let mut temperature = ctx.params["temperature"].as_f64().map(|value| value as f32).unwrap_or(0.2);
    let mut correction_note = None;
    if let Some(correction) = &ctx.correction {
        let examples = past_corrections(config, ctx, kind, &correction.issues).await;
        messages.push(ChatMessage::assistant(correction.previous_output.to_string()));
        let issues: Vec<String> = correction
            .issues
            .iter()
            .map(|issue| format!("- [{}] at `{}`: {}", issue.validator, issue.path, issue.message))
            .collect();
        let mut text = format!(
            "Your answer was rejected by the validators:\n{}\n\nReturn the whole corrected JSON object.",
            issues.join("\n")
        );
        if !examples.is_empty() {
            text.push_str("\n\nIn earlier runs these values fixed the same problems:\n");
            for example in &examples {
                text.push_str(&format!("- {example}\n"));
            }
        }
        messages.push(ChatMessage::user(text));
        temperature = (temperature / 2.0).min(0.1);
        correction_note = Some(json!({
            "temperature": temperature,
            "issues": correction.issues.len(),
            "past_examples": examples.len(),
        }));
    }
    let own = match &config.owner_models {
        Some(models) => models.for_owner(ctx.owner).await?,
        None => None,
    };
    let llm = own.as_ref().map_or(&config.llm, |own| &own.llm);
    let model = ctx.params["model"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| own.as_ref().and_then(|own| own.model.clone()))
        .or_else(|| config.models.get(kind).cloned());
    let request_model = model.clone();
    let request_messages = messages.clone();
    let request = ChatRequest {
        model,
        messages,
        response_format: ResponseFormat::JsonSchema { name: kind.to_owned(), schema: schema.clone() },
        temperature: Some(temperature),
        max_tokens: ctx.params["max_tokens"].as_u64().map(|value| value as u32),
    };
    let (sender, mut tokens) = tokio::sync::mpsc::channel::<String>(256);
    let telemetry = Arc::clone(&ctx.telemetry);
    let forward = tokio::spawn(async move {
        while let Some(token) = tokens.recv().await {
            telemetry.token(&token);
        }
    });
    let response = tokio::select! {
        response = llm.chat_stream(request, sender) => response,
        _ = ctx.cancelled() => return Err(AgentError::Cancelled),
    };
    let _ = forward.await;
    let transcript_request = json!({
        "model": request_model,
        "temperature": temperature,
        "messages": request_messages,
    });
    let response = response.map_err(agent_error)?;
    let (prompt_price, completion_price) = config.price_per_million.unwrap_or((0.0, 0.0));
    let usage = Usage {
        prompt_tokens: response.usage.prompt_tokens,
        completion_tokens: response.usage.completion_tokens,
        cost_usd: (response.usage.prompt_tokens as f64 * prompt_price
            + response.usage.completion_tokens as f64 * completion_price)
            / 1_000_000.0,
    };
    let transcript = json!({ "request": transcript_request, "response": response.content });
    let transcript = truncate(redact(&serde_json::to_string_pretty(&transcript).unwrap_or_default()), TRANSCRIPT_LIMIT);
    ctx.telemetry.record(LlmCall {
        provider: llm.name().to_owned(),
        model: response.model.clone(),
        usage,
        transcript: Some(transcript),
    });
    Ok(Answer { value: parse_answer(&response.content), correction_note })
}

/// The values that fixed the most similar past corrections of this agent kind that passed
/// (recalled by meaning from the execution owner's memories), as prompt lines.
async fn past_corrections(
    config: &AgentsConfig,
    ctx: &StepContext,
    kind: &str,
    issues: &[troupe_runtime::validator::ValidationIssue],
) -> Vec<String> {
    let Some(memories) = &config.memories else { return Vec::new() };
    let query: Vec<String> =
        issues.iter().map(|issue| format!("- [{}] at `{}`: {}", issue.validator, issue.path, issue.message)).collect();
    let mut search = MemorySearch::new(format!("agent {kind}\n{}", query.join("\n")), 10);
    search.kinds.push(CORRECTION_KIND.to_owned());
    let recalled = match memories.recall(ctx.owner, &search).await {
        Ok(recalled) => recalled,
        Err(error) => {
            tracing::warn!(%error, "cannot recall past corrections; correcting without them");
            return Vec::new();
        }
    };
    let mut examples: Vec<String> = Vec::new();
    for hit in recalled.iter().filter(|hit| hit.memory.metadata["agent"].as_str() == Some(kind)) {
        for fix in correction_fixes(&hit.memory.text) {
            if !examples.iter().any(|seen| seen == fix) {
                examples.push(fix.to_owned());
            }
        }
    }
    examples.truncate(PAST_CORRECTIONS as usize);
    examples
}

/// The longest transcript kept per LLM call.
const TRANSCRIPT_LIMIT: usize = 32 << 10;

fn truncate(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        text.truncate(text.floor_char_boundary(limit));
        text.push_str("\n… (truncated)");
    }
    text
}

/// Replaces what looks like a secret — API keys (`sk-…`, `AIza…`, troupe's `trk_`/`trr_`),
/// bearer tokens, JWTs, and the values of `password`, `secret`, `token` or `api_key` fields —
/// with `[redacted]`.
pub fn redact(text: &str) -> String {
    use std::sync::LazyLock;
    static PATTERNS: LazyLock<Vec<(regex::Regex, &'static str)>> = LazyLock::new(|| {
        [
            (r"\bsk-[A-Za-z0-9_\-]{8,}", "sk-[redacted]"),
            (r"\bAIza[0-9A-Za-z_\-]{20,}", "[redacted]"),
            (r"\btr[kr]_[A-Za-z0-9_\-]{8,}", "[redacted]"),
            (r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+", "[redacted]"),
            (r"(?i)(bearer\s+)[A-Za-z0-9._~+/\-]{8,}=*", "${1}[redacted]"),
            (
                r#"(?i)((?:\\?")?(?:api[_-]?key|password|passwd|secret|token|authorization)(?:\\?")?\s*[:=]\s*(?:\\?")?)[^"\\\s,}]+"#,
                "${1}[redacted]",
            ),
        ]
        .into_iter()
        .map(|(pattern, replacement)| (regex::Regex::new(pattern).expect("the redaction patterns compile"), replacement))
        .collect()
    });
    let mut text = text.to_owned();
    for (pattern, replacement) in PATTERNS.iter() {
        text = pattern.replace_all(&text, *replacement).into_owned();
    }
    text
}

/// Reads a JSON object from an answer, tolerating a Markdown code fence around it.
pub fn parse_answer(content: &str) -> Value {
    let trimmed = content.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    match serde_json::from_str::<Value>(unfenced) {
        Ok(value @ Value::Object(_)) => value,
        Ok(other) => {
            json!({ "invalid_answer": { "error": "the answer is JSON but not an object", "text": other.to_string() } })
        }
        Err(error) => {
            let text: String = content.chars().take(2000).collect();
            json!({ "invalid_answer": { "error": format!("the answer is not JSON: {error}"), "text": text } })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_from_transcripts() {
        let text = r#"{"messages":"use key sk-abc123def456ghi and Bearer eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl", "password": "hunter22", "api_key":"AIzaSyA1234567890abcdefghijk", "note": "trk_0123456789abcdef keep this"}"#;
        let redacted = redact(text);
        for secret in
            ["sk-abc123def456ghi", "eyJhbGciOi", "hunter22", "AIzaSyA1234567890abcdefghijk", "trk_0123456789abcdef"]
        {
            assert!(!redacted.contains(secret), "{secret} survived: {redacted}");
        }
        assert!(redacted.contains("keep this") && redacted.contains("use key"), "{redacted}");
    }
}
