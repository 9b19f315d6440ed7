//! `troupe bench …`: system benchmarks a user can run, and their load generators. Each prints
//! its figures and the parameters that produced them (docs/benchmarks.md records them).

pub mod cluster;
pub mod console;
pub mod http;
pub mod load;
pub mod memory;
pub mod pipeline;
pub mod plugins;
