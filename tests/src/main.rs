//! The `troupe` CLI, built inside the tests package so end-to-end tests can run it.

fn main() -> std::process::ExitCode {
    troupe_gateway::cli_main()
}
