//! The actor tree (DESIGN.md section 3):
//!
//! ```text
//! RootSupervisor
//! └── CoreSupervisor
//!     ├── OrchestratorShard × N     executions as data, hashed by id
//!     └── AgentSupervisor × kind    routing, restart intensity, quarantine
//!         └── AgentActor × pool     hosts an `Agent`; runs each step as an owned task
//! ```
//!
//! Every parent overrides `handle_supervisor_evt` (ractor's default stops the parent when any
//! child exits). No actor is registered by name, so several runtimes can share a process.

pub(crate) mod agent;
pub(crate) mod core;
pub(crate) mod protocol;
pub(crate) mod shard;
pub(crate) mod shared;

pub(crate) use shared::Shared;
