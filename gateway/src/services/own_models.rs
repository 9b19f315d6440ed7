//! Users' own model provider keys: sealed at rest with the memory keys (AES-256-GCM, bound to
//! the user), opened only to call the model for that user's executions, never returned.

use std::sync::Arc;

use dashmap::DashMap;
use troupe_agents::ask::{OwnerModel, OwnerModels};
use troupe_agents::llm::config::{LlmSettings, ProviderKind};
use troupe_memory::crypto::{MemoryKeys, Sealed};
use troupe_runtime::accounts::{AccountStore, UserLlmKey};
use troupe_runtime::agent::AgentError;
use troupe_runtime::ids::UserId;

/// Seals users' keys and builds providers with them.
pub struct OwnModels {
    store: Arc<dyn AccountStore>,
    keys: Arc<MemoryKeys>,
    /// The server's provider settings: a user's key is used with the same provider and endpoint.
    server: LlmSettings,
    /// Providers built per user, with the nonce of the sealed key they were built from.
    built: DashMap<UserId, (Vec<u8>, OwnerModel)>,
}

impl OwnModels {
    /// Keys sealed with `keys`, used with the server's provider `server`.
    pub fn new(store: Arc<dyn AccountStore>, keys: Arc<MemoryKeys>, server: LlmSettings) -> Self {
        Self { store, keys, server, built: DashMap::new() }
    }

    /// The keys it seals with (the memory keys), for other sealed user data (exports).
    pub fn sealing_keys(&self) -> &Arc<MemoryKeys> {
        &self.keys
    }

    /// Whether a user's key has a provider to go with (not on an offline server).
    pub fn accepts_keys(&self) -> bool {
        self.server.provider != ProviderKind::Offline
    }

    /// Seals `api_key` for `user`.
    pub fn seal(&self, user: UserId, api_key: &str, model: Option<String>) -> UserLlmKey {
        let Sealed { key_id, nonce, ciphertext } = self.keys.seal(user, user.0, api_key.as_bytes());
        let chars: Vec<char> = api_key.chars().collect();
        let last4 = chars[chars.len().saturating_sub(4)..].iter().collect();
        UserLlmKey { key_id, nonce, ciphertext, last4, model }
    }

    fn build(&self, user: UserId, key: &UserLlmKey) -> Result<OwnerModel, AgentError> {
        let sealed =
            Sealed { key_id: key.key_id.clone(), nonce: key.nonce.clone(), ciphertext: key.ciphertext.clone() };
        let api_key = self
            .keys
            .open(user, user.0, &sealed)
            .map_err(|error| AgentError::fatal(format!("cannot open the owner's provider key: {error}")))?;
        let api_key = String::from_utf8(api_key)
            .map_err(|_| AgentError::fatal("the owner's provider key is not text".to_owned()))?;
        let settings = LlmSettings {
            api_key: Some(api_key),
            model: key.model.clone().or_else(|| self.server.model.clone()),
            ..self.server.clone()
        };
        let llm = settings.build().map_err(|error| AgentError::fatal(format!("the owner's provider: {error}")))?;
        Ok(OwnerModel { llm, model: key.model.clone() })
    }
}

#[async_trait::async_trait]
impl OwnerModels for OwnModels {
    async fn for_owner(&self, owner: UserId) -> Result<Option<OwnerModel>, AgentError> {
        let user = self
            .store
            .get_user(owner)
            .await
            .map_err(|error| AgentError::retryable(format!("cannot read the owner's account: {error}")))?;
        let Some(key) = user.and_then(|user| user.llm) else {
            self.built.remove(&owner);
            return Ok(None);
        };
        if let Some(built) = self.built.get(&owner)
            && built.0 == key.nonce
        {
            return Ok(Some(built.1.clone()));
        }
        let model = self.build(owner, &key)?;
        self.built.insert(owner, (key.nonce.clone(), model.clone()));
        Ok(Some(model))
    }
}
