//! troupe-runtime: the domain model, the ports, and the actor system.
//!
//! This crate owns the vocabulary — ids, [`model::ExecutionRecord`], steps, attempts, events,
//! [`pipeline::PipelineDef`] — and the traits other crates implement: [`agent::Agent`],
//! [`validator::Validator`], [`store::ExecutionStore`], [`accounts::AccountStore`],
//! [`events::EventSink`], the memory ports ([`memory`], [`embed`]) and the research track's
//! [`research::ResearchStore`]. It runs
//! executions on a supervised ractor tree ([`Runtime`]).
//!
//! It deliberately depends on no database, HTTP or LLM crate: SQL lives in `troupe-memory`,
//! LLM calls in `troupe-agents`, HTTP serving in `troupe-gateway`.

#![warn(missing_docs)]

pub mod accounts;
mod actors;
pub mod agent;
pub mod cluster;
mod config;
pub mod embed;
mod error;
pub mod events;
pub mod files;
pub mod ids;
pub mod memory;
pub mod model;
pub mod net;
pub mod pipeline;
pub mod research;
mod runtime;
pub mod status;
pub mod store;
pub mod supervision;
#[cfg(any(test, feature = "testsuite"))]
pub mod testing;
pub mod validator;

pub use config::{AgentConfig, RuntimeConfig};
pub use error::{ErrorCode, RuntimeError};
pub use runtime::{AgentHealth, AgentStatus, Cancelled, Runtime, RuntimeBuilder, SubmitRequest};
