//! troupe-gateway: the front door.
//!
//! This crate serves troupe over HTTP and WebSocket ([`http`]: `router(state)` is the whole
//! API, testable with `tower::ServiceExt::oneshot`), authenticates callers ([`auth`]: argon2id
//! passwords, short JWTs, rotated refresh tokens, API keys) and holds the application services
//! the HTTP API and the command line share ([`services`]: pipeline resolution, budget
//! defaults, idempotent creation, credential checks).
//!
//! It deliberately does not read configuration files or environment variables, parse command
//! lines, assemble the system or run benchmarks: the `troupe` package does, and hands this
//! crate what it needs. It never speaks SQL (stores come in as the runtime's ports).

#![warn(missing_docs)]

pub mod auth;
pub mod http;
pub mod mail;
pub mod services;
