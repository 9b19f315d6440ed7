//! troupe-plugins: the plugin track — custom and research agents that run as plugins, isolated
//! from the production track.
//!
//! It owns plugin [`manifest`]s, the WebAssembly [`sandbox`] (wasmtime, no ambient authority,
//! fuel, epoch deadlines, memory limits, a worker pool of its own), HTTP plugins, the plugin
//! supervision tree and the agent that fronts each plugin ([`host`]), registrations
//! ([`registry`]), the consent gate ([`host::permitted`]) and the [`bus`] through which research
//! metrics leave the track (pseudonymised, minimised, released with differential privacy).
//!
//! It does not serve HTTP, speak SQL (registrations, consent and the ledger persist through the
//! runtime's `ResearchStore` port) or call LLMs. A plugin is an `Agent` like any other, so a
//! pipeline step names it by its agent kind.

#![warn(missing_docs)]

pub mod bus;
pub mod host;
pub mod manifest;
pub mod registry;
pub mod sandbox;

pub use bus::{PseudonymKey, ResearchBus};
pub use host::{HostConfig, PluginHost};
pub use registry::PluginRegistry;
