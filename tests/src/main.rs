//! The `troupe` CLI, built inside the tests package so end-to-end tests can run it.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    troupe_gateway::cli_main()
}
