//! The data dir and what troupe keeps in it: generated secrets (development only), the node id.
//!
//! A secret that is not given is generated once into the data dir, readable by its owner only
//! (created with mode 0600, so never readable by others, not even for a moment), and reused
//! afterwards. Production never gets here for a secret: [`super::Config::resolve`] refuses to
//! start without it.

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use troupe_memory::crypto::MemoryKeys;
use troupe_plugins::PseudonymKey;

use super::{Config, MIN_SECRET_LEN};

/// The secrets of a running troupe.
pub struct Secrets {
    /// Signs access tokens.
    pub jwt: String,
    /// Seal memory content.
    pub memory_keys: std::sync::Arc<MemoryKeys>,
    /// Pseudonymises the research bus's identifiers.
    pub research: PseudonymKey,
}

impl Secrets {
    /// Returns the given secrets, generating the missing ones into the data dir.
    pub fn load(config: &Config) -> anyhow::Result<Self> {
        let data_dir = &config.data_dir;
        let jwt = match &config.jwt_secret {
            Some(secret) => secret.clone(),
            None => development_jwt_secret(data_dir)?,
        };
        let memory_keys = std::sync::Arc::new(match &config.memory_keys {
            Some(spec) => MemoryKeys::parse(spec).context("TROUPE_MEMORY_KEYS")?,
            None => MemoryKeys::load_or_create(data_dir).context("the generated memory key")?,
        });
        let research = match &config.research_key {
            Some(text) => decode_research_key(text)?,
            None => development_research_key(data_dir)?,
        };
        Ok(Self { jwt, memory_keys, research })
    }
}

impl Secrets {
    /// Fingerprints of the secrets every node of a cluster must share, by the setting that
    /// gives each: they reveal nothing of the secrets, and differ when the secrets do.
    pub fn fingerprints(&self) -> std::collections::BTreeMap<String, String> {
        use sha2::Digest;
        let short = |bytes: &[u8]| bytes.iter().take(8).map(|byte| format!("{byte:02x}")).collect::<String>();
        let jwt = sha2::Sha256::digest(format!("troupe-cluster-fingerprint:{}", self.jwt));
        let research =
            self.research.pseudonym("troupe-cluster-fingerprint", troupe_runtime::ids::UserId(uuid::Uuid::nil()));
        std::collections::BTreeMap::from([
            ("TROUPE_JWT_SECRET".to_owned(), short(&jwt)),
            ("TROUPE_MEMORY_KEYS".to_owned(), self.memory_keys.fingerprint()),
            ("TROUPE_RESEARCH_KEY".to_owned(), research[..16].to_owned()),
        ])
    }
}

/// Creates the data dir (owner-only) if needed.
pub fn ensure_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("failed to create the data dir `{}`", data_dir.display()))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700));
    Ok(())
}

/// Writes a secret file readable by its owner only.
pub fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("failed to restrict `{}`", path.display()))?;
    file.write_all(content.as_bytes()).with_context(|| format!("failed to write `{}`", path.display()))
}

/// Returns this node's id: the configured one, else the one kept in the data dir (so a
/// restarted process holds the same leases), created on first use.
pub fn node_id(config: &Config) -> anyhow::Result<String> {
    if let Some(id) = &config.node_id {
        return Ok(id.clone());
    }
    let path = config.data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => {
            let id = format!("node-{}", uuid::Uuid::now_v7());
            std::fs::write(&path, &id).with_context(|| format!("failed to write `{}`", path.display()))?;
            Ok(id)
        }
    }
}

/// Reads the generated token secret from the data dir, creating it on first use.
fn development_jwt_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("jwt-secret");
    if let Ok(secret) = std::fs::read_to_string(&path)
        && secret.trim().len() >= MIN_SECRET_LEN
    {
        return Ok(secret.trim().to_owned());
    }
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    write_private(&path, &secret)?;
    Ok(secret)
}

/// Decodes a research key (base64 of 32 bytes).
pub fn decode_research_key(text: &str) -> anyhow::Result<PseudonymKey> {
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(text.trim()).context("TROUPE_RESEARCH_KEY is not base64")?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|bytes: Vec<u8>| anyhow::anyhow!("TROUPE_RESEARCH_KEY has {} bytes; it needs 32", bytes.len()))?;
    Ok(PseudonymKey::new(bytes))
}

/// Reads the generated research key from the data dir, creating it on first use.
fn development_research_key(data_dir: &Path) -> anyhow::Result<PseudonymKey> {
    let path = data_dir.join("research-key");
    match std::fs::read_to_string(&path) {
        Ok(text) => decode_research_key(&text).with_context(|| format!("`{}`", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).context("the OS random source")?;
            write_private(&path, &base64::engine::general_purpose::STANDARD.encode(bytes))?;
            Ok(PseudonymKey::new(bytes))
        }
        Err(error) => Err(error).with_context(|| format!("cannot read `{}`", path.display())),
    }
}
