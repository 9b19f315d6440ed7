//! The `troupe` CLI (the troupe package's entry point), built inside the tests package so
//! end-to-end tests can start the real binary.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    troupe::cli_main()
}
