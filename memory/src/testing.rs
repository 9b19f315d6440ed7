//! Per-test databases for tests that need a real PostgreSQL.
//!
//! Tests read `TEST_DATABASE_URL` only (never `DATABASE_URL`, so a developer's shell cannot
//! point them at a real database). In CI (`CI` set) a missing `TEST_DATABASE_URL` is a failure;
//! locally the test is skipped with a loud message.

use crate::scratch::ScratchDatabase;

/// Creates a fresh PostgreSQL database for one test, or returns `None` (after saying so) when
/// `TEST_DATABASE_URL` is not set outside CI.
///
/// # Panics
///
/// Panics in CI when `TEST_DATABASE_URL` is missing, and when the server cannot be reached.
pub async fn postgres_database(test_name: &str) -> Option<ScratchDatabase> {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "TEST_DATABASE_URL must be set in CI: PostgreSQL tests may not be skipped there"
        );
        eprintln!("ignoring PostgreSQL test `{test_name}`: TEST_DATABASE_URL is not set");
        return None;
    };
    Some(
        ScratchDatabase::create(&admin_url, "troupe_test")
            .await
            .unwrap_or_else(|error| panic!("cannot create a test database on TEST_DATABASE_URL: {error}")),
    )
}

/// Where the local embedding model's files are for a test: `TROUPE_EMBEDDINGS_MODEL_DIR`, else
/// `target/minilm-l6-v2` of the workspace (which `tests/model/minilm.sh` prepares, and `.ci/run`
/// calls); `None` (after saying so) when neither holds them outside CI.
///
/// # Panics
///
/// Panics in CI when the files are missing: the model's tests may not be skipped there.
pub fn model_dir(test_name: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("TROUPE_EMBEDDINGS_MODEL_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target").join("minilm-l6-v2")
    });
    if crate::local::model_present(&dir) {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the local embedding model is missing from `{}`: run tests/model/minilm.sh (the model's tests may not be skipped in CI)",
        dir.display()
    );
    eprintln!(
        "SKIPPING local-model test `{test_name}`: no model in `{}` (run tests/model/minilm.sh, or set TROUPE_EMBEDDINGS_MODEL_DIR)",
        dir.display()
    );
    None
}
