//! The unconfined development mode: a command runs as troupe's own user, in the project
//! directory itself, with only a process group (killed whole afterwards), rlimits, a cleared
//! environment and — where the OS allows it — a network namespace of its own.
//!
//! It protects against accidents, not against a hostile program: such a program can read
//! whatever troupe's user can and leave processes behind (`setsid`). It exists only so that a
//! developer without bubblewrap can try the software pipeline; `troupe serve` warns at start.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use super::process::{ExitConvention, run_to_end};
use super::sys::{self, ChildSetup};
use super::{CommandResult, SandboxError, SandboxPolicy};

/// Runs `argv` in `dir`, unconfined.
pub(super) async fn run(
    policy: &SandboxPolicy,
    dir: &Path,
    argv: &[String],
    cancel: &CancellationToken,
) -> Result<CommandResult, SandboxError> {
    let isolated = sys::network_namespaces_allowed();
    let mut command = tokio::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir)
        .env("TMPDIR", dir)
        .env("LANG", "C.UTF-8")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NODE_OPTIONS", "--max-old-space-size=512");
    sys::install(
        &mut command,
        ChildSetup {
            limits: vec![
                (libc::RLIMIT_CPU, policy.cpu_seconds),
                (libc::RLIMIT_DATA, policy.memory_bytes),
                (libc::RLIMIT_FSIZE, policy.file_bytes),
                (libc::RLIMIT_CORE, 0),
            ],
            cgroup_procs: Vec::new(),
            switch_to: None,
            fd_3: None,
            stage: None,
            isolate_network: isolated,
        },
    );
    let (mut result, _) =
        run_to_end(command, argv, policy.timeout, policy.output_cap, cancel, ExitConvention::Direct).await?;
    result.network_isolated = isolated;
    Ok(result)
}
