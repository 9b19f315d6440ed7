//! Encryption at rest of memory content: AES-256-GCM.
//!
//! Each record gets a random 96-bit nonce; the id of the key that sealed it is stored beside the
//! ciphertext, and the associated data binds the ciphertext to its user and record id, so a
//! ciphertext copied onto another user's (or another record's) row fails to decrypt instead of
//! yielding someone's text. Keys come from `TROUPE_MEMORY_KEYS` (`id:base64key,…`, the first is
//! the active one: it seals new records; the others still open old ones), or from a key file the
//! embedded default generates in the data dir (owner-only permissions).

use std::collections::HashMap;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use troupe_runtime::ids::UserId;
use uuid::Uuid;

/// Why keys could not be loaded or a record could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key configuration is wrong.
    #[error("memory keys: {0}")]
    Keys(String),
    /// The record names a key that is not configured.
    #[error("memory record sealed with unknown key `{0}`")]
    UnknownKey(String),
    /// The ciphertext, its nonce or its binding to the user and record was altered.
    #[error("memory record failed authentication (tampered, or not this user's record)")]
    Tampered,
}

/// A sealed record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// The key that sealed it.
    pub key_id: String,
    /// The 12-byte nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

/// The memory keys: one active, any number still readable.
pub struct MemoryKeys {
    active: String,
    keys: HashMap<String, Aes256Gcm>,
}

impl std::fmt::Debug for MemoryKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("MemoryKeys").field("active", &self.active).field("ids", &ids).finish()
    }
}

fn aad(user: UserId, id: Uuid) -> Vec<u8> {
    let mut aad = b"troupe-memory:v1:".to_vec();
    aad.extend_from_slice(user.0.as_bytes());
    aad.extend_from_slice(id.as_bytes());
    aad
}

impl MemoryKeys {
    /// Parses `id:base64key[,id:base64key…]`; the first key is the active one. Each key is 32
    /// bytes (base64), each id 1–32 characters of letters, digits, `-` or `_`.
    pub fn parse(spec: &str) -> Result<Self, CryptoError> {
        let mut active = None;
        let mut keys = HashMap::new();
        for entry in spec.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
            let (id, material) = entry.split_once(':').ok_or_else(|| {
                CryptoError::Keys(format!("`{}…` is not `id:base64key`", &entry[..entry.len().min(4)]))
            })?;
            let id = id.trim();
            if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(CryptoError::Keys(format!("key id `{id}` must be 1-32 letters, digits, - or _")));
            }
            let bytes =
                STANDARD.decode(material.trim()).map_err(|_| CryptoError::Keys(format!("key `{id}` is not base64")))?;
            if bytes.len() != 32 {
                return Err(CryptoError::Keys(format!("key `{id}` has {} bytes; AES-256 needs 32", bytes.len())));
            }
            let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| CryptoError::Keys(format!("key `{id}`")))?;
            if keys.insert(id.to_owned(), cipher).is_some() {
                return Err(CryptoError::Keys(format!("key id `{id}` appears twice")));
            }
            active.get_or_insert_with(|| id.to_owned());
        }
        let active = active.ok_or_else(|| CryptoError::Keys("no key given".into()))?;
        Ok(Self { active, keys })
    }

    /// Reads the key file in `dir`, creating it (one fresh random key, mode 0600) if missing.
    pub fn load_or_create(dir: &Path) -> Result<Self, CryptoError> {
        let path = dir.join("memory-keys");
        match std::fs::read_to_string(&path) {
            Ok(spec) => Self::parse(&spec),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let spec = format!("k1:{}", STANDARD.encode(random::<32>()));
                write_private(&path, &spec)
                    .map_err(|error| CryptoError::Keys(format!("cannot write `{}`: {error}", path.display())))?;
                Self::parse(&spec)
            }
            Err(error) => Err(CryptoError::Keys(format!("cannot read `{}`: {error}", path.display()))),
        }
    }

    /// The id of the key that seals new records.
    pub fn active(&self) -> &str {
        &self.active
    }

    /// A fingerprint of the keys (which ids, which is active, and what each key is) that
    /// reveals nothing of them: nodes of one cluster compare fingerprints to prove they share
    /// the keys. Each key seals a fixed text under a fixed nonce; the results are hashed.
    pub fn fingerprint(&self) -> String {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        let mut material = format!("active={};", self.active).into_bytes();
        for id in ids {
            let sealed = self.keys[id]
                .encrypt(Nonce::from_slice(&[0; 12]), b"troupe-cluster-fingerprint".as_slice())
                .expect("AES-GCM encryption of an in-memory buffer cannot fail");
            material.extend_from_slice(id.as_bytes());
            material.push(b'=');
            material.extend_from_slice(&sealed);
            material.push(b';');
        }
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&material);
        digest.iter().take(8).map(|byte| format!("{byte:02x}")).collect()
    }

    /// Seals `plaintext` for record `id` of `user` with the active key.
    pub fn seal(&self, user: UserId, id: Uuid, plaintext: &[u8]) -> Sealed {
        let nonce = random::<12>();
        let cipher = &self.keys[&self.active];
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad(user, id) })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        Sealed { key_id: self.active.clone(), nonce: nonce.to_vec(), ciphertext }
    }

    /// Opens a sealed record of `user` with id `id`.
    pub fn open(&self, user: UserId, id: Uuid, sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
        let cipher = self.keys.get(&sealed.key_id).ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.nonce.len() != 12 {
            return Err(CryptoError::Tampered);
        }
        cipher
            .decrypt(Nonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: &aad(user, id) })
            .map_err(|_| CryptoError::Tampered)
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        STANDARD.encode(random::<32>())
    }

    #[test]
    fn sealed_records_open_only_for_their_user_and_id() {
        let keys = MemoryKeys::parse(&format!("k1:{}", key())).unwrap();
        let (user, id) = (UserId::new(), Uuid::now_v7());
        let sealed = keys.seal(user, id, b"my secret note");
        assert!(!sealed.ciphertext.windows(6).any(|window| window == b"secret"));
        assert_eq!(keys.open(user, id, &sealed).unwrap(), b"my secret note");
        assert!(matches!(keys.open(UserId::new(), id, &sealed), Err(CryptoError::Tampered)));
        assert!(matches!(keys.open(user, Uuid::now_v7(), &sealed), Err(CryptoError::Tampered)));
        let mut flipped = sealed.clone();
        flipped.ciphertext[0] ^= 1;
        assert!(matches!(keys.open(user, id, &flipped), Err(CryptoError::Tampered)));
        assert_ne!(keys.seal(user, id, b"same").nonce, keys.seal(user, id, b"same").nonce, "fresh nonces");
    }

    #[test]
    fn rotation_keeps_old_records_readable() {
        let (old, new) = (key(), key());
        let before = MemoryKeys::parse(&format!("k1:{old}")).unwrap();
        let (user, id) = (UserId::new(), Uuid::now_v7());
        let sealed = before.seal(user, id, b"kept");
        let after = MemoryKeys::parse(&format!("k2:{new}, k1:{old}")).unwrap();
        assert_eq!(after.active(), "k2");
        assert_eq!(after.open(user, id, &sealed).unwrap(), b"kept");
        assert_eq!(after.seal(user, id, b"x").key_id, "k2");
        let forgotten = MemoryKeys::parse(&format!("k2:{new}")).unwrap();
        assert!(matches!(forgotten.open(user, id, &sealed), Err(CryptoError::UnknownKey(key)) if key == "k1"));
    }

    #[test]
    fn bad_key_specs_are_named() {
        for (spec, expected) in [
            ("", "no key"),
            ("k1", "id:base64key"),
            ("k1:not base64!", "not base64"),
            ("k1:AAAA", "needs 32"),
            ("bad id:AAAA", "key id"),
        ] {
            let error = MemoryKeys::parse(spec).unwrap_err().to_string();
            assert!(error.contains(expected), "{spec}: {error}");
        }
        let duplicate = format!("k1:{},k1:{}", key(), key());
        assert!(MemoryKeys::parse(&duplicate).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn the_generated_key_file_is_private_and_stable() {
        let dir = std::env::temp_dir().join(format!("troupe-keys-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = MemoryKeys::load_or_create(&dir).unwrap();
        let (user, id) = (UserId::new(), Uuid::now_v7());
        let sealed = first.seal(user, id, b"persisted");
        let second = MemoryKeys::load_or_create(&dir).unwrap();
        assert_eq!(second.open(user, id, &sealed).unwrap(), b"persisted");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("memory-keys")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{first:?}").contains(&std::fs::read_to_string(dir.join("memory-keys")).unwrap()[3..]));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
