//! The `troupe` binary: everything happens in [`troupe_gateway::cli_main`].

fn main() -> std::process::ExitCode {
    troupe_gateway::cli_main()
}
