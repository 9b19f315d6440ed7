//! The `troupe` binary: everything happens in [`troupe::cli_main`].

// glibc's allocator spends a third of the orchestration hot path in malloc/free bookkeeping
// under multi-threaded load (see docs/benchmarks.md); mimalloc's thread-local heaps do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    troupe::cli_main()
}
