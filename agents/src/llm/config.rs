//! Choosing a provider from configuration (`TROUPE_LLM_PROVIDER`, `TROUPE_LLM_BASE_URL`,
//! `TROUPE_LLM_API_KEY`, `TROUPE_LLM_MODEL`): mistakes are clear errors at start.

use std::str::FromStr;
use std::sync::Arc;

use super::policy::HttpPolicy;
use super::{GEMINI_BASE_URL, Gemini, LlmError, LlmProvider, Offline, OpenAiCompatible};

/// OpenAI's public API, the default base URL of the `openai` provider.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// The provider kinds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProviderKind {
    /// Deterministic answers, no network (the default).
    #[default]
    Offline,
    /// Any OpenAI-compatible chat completions API (OpenAI, vLLM, Ollama, llama.cpp).
    OpenAi,
    /// Google Gemini.
    Gemini,
}

impl FromStr for ProviderKind {
    type Err = LlmError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "offline" | "" => Ok(Self::Offline),
            "openai" | "openai-compatible" | "vllm" | "ollama" | "llamacpp" | "llama.cpp" => Ok(Self::OpenAi),
            "gemini" => Ok(Self::Gemini),
            other => Err(LlmError::Config(format!(
                "unknown LLM provider `{other}` (expected offline, openai — also vllm, ollama, llamacpp — or gemini)"
            ))),
        }
    }
}

/// The LLM settings of a deployment.
#[derive(Clone, Default)]
pub struct LlmSettings {
    /// Which provider.
    pub provider: ProviderKind,
    /// The API's base URL (OpenAI's or Gemini's public endpoint when `None`).
    pub base_url: Option<String>,
    /// The key (never logged).
    pub api_key: Option<String>,
    /// The default model.
    pub model: Option<String>,
    /// Timeouts, retries, breaker and concurrency.
    pub policy: HttpPolicy,
}

impl std::fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSettings")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .finish()
    }
}

impl LlmSettings {
    /// Builds the provider, or says which setting is missing or wrong.
    pub fn build(&self) -> Result<Arc<dyn LlmProvider>, LlmError> {
        let model = || {
            self.model.clone().filter(|model| !model.trim().is_empty()).ok_or_else(|| {
                LlmError::Config("TROUPE_LLM_MODEL is required for this provider (e.g. gpt-4o-mini, llama3.1)".into())
            })
        };
        match self.provider {
            ProviderKind::Offline => Ok(Arc::new(Offline)),
            ProviderKind::OpenAi => {
                let base_url = self.base_url.as_deref().unwrap_or(OPENAI_BASE_URL);
                let provider =
                    OpenAiCompatible::new("openai", base_url, self.api_key.clone(), model()?, self.policy.clone())?;
                Ok(Arc::new(provider))
            }
            ProviderKind::Gemini => {
                let key =
                    self.api_key.clone().filter(|key| !key.is_empty()).ok_or_else(|| {
                        LlmError::Config("TROUPE_LLM_API_KEY is required for the gemini provider".into())
                    })?;
                let base_url = self.base_url.as_deref().unwrap_or(GEMINI_BASE_URL);
                Ok(Arc::new(Gemini::new(base_url, key, model()?, self.policy.clone())?))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_are_chosen_by_name_and_mistakes_are_named() {
        assert_eq!("Ollama".parse::<ProviderKind>().unwrap(), ProviderKind::OpenAi);
        let error = "gpt".parse::<ProviderKind>().unwrap_err().to_string();
        assert!(error.contains("unknown LLM provider `gpt`"), "{error}");
        assert_eq!(LlmSettings::default().build().unwrap().name(), "offline");

        let openai = LlmSettings { provider: ProviderKind::OpenAi, ..LlmSettings::default() };
        let error = openai.build().err().unwrap().to_string();
        assert!(error.contains("TROUPE_LLM_MODEL"), "{error}");
        let bad_url = LlmSettings { base_url: Some("ftp://x".into()), model: Some("m".into()), ..openai.clone() };
        assert!(bad_url.build().err().unwrap().to_string().contains("http://"));
        let gemini = LlmSettings { provider: ProviderKind::Gemini, model: Some("m".into()), ..LlmSettings::default() };
        assert!(gemini.build().err().unwrap().to_string().contains("TROUPE_LLM_API_KEY"));

        let keyed = LlmSettings { api_key: Some("sk-hidden".into()), ..openai };
        assert!(!format!("{keyed:?}").contains("sk-hidden"));
    }
}
