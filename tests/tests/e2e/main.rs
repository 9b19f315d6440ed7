//! End-to-end tests of troupe: real stores, real processes.

// The store conformance suite, on the in-memory store, SQLite and PostgreSQL.
mod conformance;
// The runtime on SQLite and PostgreSQL: complete, stop mid-run, resume.
mod durable;
// The real binary: SIGKILL mid-run, then `troupe resume`.
mod kill;
// The CLI's answers to good and bad pipelines.
mod cli;
// `troupe serve` over a real socket.
mod serve;
