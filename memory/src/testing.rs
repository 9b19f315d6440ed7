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
