//! What authenticating a request reads, kept for a moment: users, API keys by digest, and
//! whether a login (session family) is still active.
//!
//! Every request and every WebSocket re-check needs these; reading them from the store each
//! time costs two or three queries per request. Entries live [`TTL`] at most and are dropped at
//! once on this node when they change here (logout, revocation, a user disabled or edited), so
//! a change made on this node applies to its next request, and a change made on another node
//! (sharing the database) within [`TTL`].

use std::time::{Duration, Instant};

use dashmap::DashMap;
use troupe_runtime::accounts::{ApiKeyRecord, UserRecord};
use troupe_runtime::ids::UserId;
use uuid::Uuid;

/// How long an entry is trusted.
pub const TTL: Duration = Duration::from_secs(1);
/// Entries per map before it is emptied (a flood of made-up keys cannot grow it without bound).
const MAX_ENTRIES: usize = 100_000;

/// The cache.
#[derive(Default)]
pub struct CredentialCache {
    users: DashMap<UserId, (Instant, Option<UserRecord>)>,
    keys: DashMap<String, (Instant, Option<ApiKeyRecord>)>,
    families: DashMap<Uuid, (Instant, bool)>,
}

fn fresh<V: Clone>(entry: Option<dashmap::mapref::one::Ref<'_, impl std::hash::Hash + Eq, (Instant, V)>>) -> Option<V> {
    entry.filter(|entry| entry.0.elapsed() < TTL).map(|entry| entry.1.clone())
}

fn put<K: std::hash::Hash + Eq, V>(map: &DashMap<K, (Instant, V)>, key: K, value: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, (Instant::now(), value));
}

impl CredentialCache {
    /// A user, if known within the TTL (`Some(None)`: known not to exist).
    pub fn user(&self, id: UserId) -> Option<Option<UserRecord>> {
        fresh(self.users.get(&id))
    }

    /// Remembers a user.
    pub fn put_user(&self, id: UserId, user: Option<UserRecord>) {
        put(&self.users, id, user);
    }

    /// An API key by digest, if known within the TTL.
    pub fn key(&self, digest: &str) -> Option<Option<ApiKeyRecord>> {
        fresh(self.keys.get(digest))
    }

    /// Remembers an API key.
    pub fn put_key(&self, digest: String, key: Option<ApiKeyRecord>) {
        put(&self.keys, digest, key);
    }

    /// Whether a login is active, if known within the TTL.
    pub fn family(&self, family: Uuid) -> Option<bool> {
        fresh(self.families.get(&family))
    }

    /// Remembers whether a login is active.
    pub fn put_family(&self, family: Uuid, active: bool) {
        put(&self.families, family, active);
    }

    /// Forgets a user and their API keys (they changed).
    pub fn forget_user(&self, id: UserId) {
        self.users.remove(&id);
        self.keys.retain(|_, (_, key)| key.as_ref().is_none_or(|key| key.user_id != id));
    }

    /// Forgets a login (it was revoked).
    pub fn forget_family(&self, family: Uuid) {
        self.families.remove(&family);
    }

    /// Forgets every login (many were revoked at once).
    pub fn forget_families(&self) {
        self.families.clear();
    }
}
