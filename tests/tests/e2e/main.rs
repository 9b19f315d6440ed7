//! End-to-end tests of troupe: real stores, real processes.

use std::path::Path;
use std::process::Command;

/// Returns a command running the real binary on `data_dir`; the child gets its configuration
/// explicitly, not from the test's environment. Its memories use the offline embedder (no
/// model to load, no hub to reach) unless a test chooses another.
fn troupe(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_troupe-tests-cli"));
    command
        .env_clear()
        .env("TROUPE_EMBEDDINGS_PROVIDER", "offline")
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(std::process::Stdio::null());
    command
}

/// How often [`poll`] looks again.
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(20);

/// Asks `check` every [`POLL_INTERVAL`] until it answers `Some`, and returns that; fails the
/// test with `what` when `deadline` passes first. The one way these tests wait for a state
/// they cannot be told about (a row in another process's database, a search index).
async fn poll<T, F, Fut>(deadline: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    let mut every = tokio::time::interval(POLL_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Some(answer) = check().await {
            return answer;
        }
        assert!(tokio::time::Instant::now() < until, "{what} (waited {deadline:?})");
    }
}

// The conformance gate: answers and WebSocket messages checked against the published documents.
mod contract;
// The store conformance suite, on the in-memory store, SQLite and PostgreSQL.
mod conformance;
// The runtime on SQLite and PostgreSQL: complete, stop mid-run, resume.
mod durable;
// The real binary: SIGKILL mid-run, then `troupe resume`.
mod kill;
// `serve`, `run` and `resume` assemble one system: a plugin step a killed server left.
mod composition;
// Many nodes, one system: `troupe serve` processes sharing one PostgreSQL database.
mod cluster;
// The CLI's answers to good and bad pipelines.
mod cli;
// `troupe serve` over a real socket.
mod serve;
// The HTTP + WebSocket API, in process, over real sockets, on SQLite and PostgreSQL.
mod api;
// The built-in `software` pipeline on the offline provider.
mod software;
// A fake OpenAI-compatible model whose answers a test can rewrite.
mod fake_model;
// The code box under `troupe serve`: a hostile generated project, a killed server, who may
// feed the box, and conditions that cannot hurt.
mod code_box;
// The built-in `research` pipeline on the offline provider.
mod research;
// Memory records: scoped per user, sealed at rest, re-encrypted on rotation.
mod memories;
// The memory service: tampering, rotation, re-indexing, retention, a killed server.
mod memory_service;
// The local embedding model against the reference model's vectors.
mod local_model;
// The research track's store on SQLite and PostgreSQL.
mod research_store;
// The web console in a headless Chromium.
mod browser;
// Approval steps under a killed and restarted server.
mod approvals;
// The generated Python client against a live server.
mod python_client;
