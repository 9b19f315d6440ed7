//! Typed identifiers.
//!
//! Every id is a UUIDv7 newtype: time-ordered (so indexes stay append-mostly and cursors sort
//! by creation) and impossible to mix up at compile time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Returns a new time-ordered (UUIDv7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Returns the underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

id_type!(
    /// Identifies one execution of a pipeline.
    ExecutionId
);
id_type!(
    /// Identifies a user: the owner of executions, pipelines, artifacts and memories.
    UserId
);
id_type!(
    /// Identifies a project, the grouping of executions a user may choose.
    ProjectId
);

impl UserId {
    /// The local user the CLI acts as when no account is involved.
    pub const LOCAL: UserId = UserId(Uuid::from_u128(1));
}

/// Hashes ids by their random bits instead of SipHash: the ids are UUIDv7, whose low 64 bits
/// are random, so they are already well distributed and need no further mixing. For maps
/// keyed by ids that no outside party chooses.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Uuid hashes as its 16 bytes; fold them.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

/// Builds [`IdHasher`]s, for `HashMap<ExecutionId, _, IdHashing>`.
pub type IdHashing = std::hash::BuildHasherDefault<IdHasher>;
