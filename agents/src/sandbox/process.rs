//! Running one prepared command to its end: captured, capped output, a wall-clock limit,
//! cancellation, and the whole process group killed afterwards.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use super::{CommandResult, SandboxError, sys};

/// How long output is still read after the command ended: a process that escaped the group
/// (possible only unconfined) may hold the pipes open, and must not hold the step.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How the program's exit is read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ExitConvention {
    /// The program's own status.
    Direct,
    /// A wrapper (bubblewrap) that reports a child killed by signal `n` as exit code `128 + n`.
    Shell,
}

/// Spawns `command` (stdio and process group set here) and waits for it under `timeout` and
/// `cancel`; kills its process group whatever happens.
pub(super) async fn run_to_end(
    mut command: tokio::process::Command,
    argv: &[String],
    timeout: Duration,
    output_cap: usize,
    cancel: &CancellationToken,
    convention: ExitConvention,
) -> Result<(CommandResult, bool), SandboxError> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|error| SandboxError::Spawn { program: argv[0].clone(), message: error.to_string() })?;
    let group = child.id();
    let stdout = child.stdout.take().map(|pipe| tokio::spawn(read_capped(pipe, output_cap)));
    let stderr = child.stderr.take().map(|pipe| tokio::spawn(read_capped(pipe, output_cap)));
    let mut timed_out = false;
    let mut cancelled = false;
    let status = tokio::select! {
        status = child.wait() => status.ok(),
        _ = tokio::time::sleep(timeout) => { timed_out = true; None }
        _ = cancel.cancelled() => { cancelled = true; None }
    };
    if let Some(group) = group {
        sys::kill_group(group);
    }
    let status = match status {
        Some(status) => Some(status),
        None => child.wait().await.ok(),
    };
    let collect = |task: Option<tokio::task::JoinHandle<(String, bool)>>| async move {
        let Some(task) = task else { return (String::new(), false) };
        let abort = task.abort_handle();
        match tokio::time::timeout(DRAIN_GRACE, task).await {
            Ok(read) => read.unwrap_or_default(),
            Err(_) => {
                abort.abort();
                (String::from("(output not collected: a process kept it open)"), true)
            }
        }
    };
    let (stdout, stdout_cut) = collect(stdout).await;
    let (stderr, stderr_cut) = collect(stderr).await;
    use std::os::unix::process::ExitStatusExt;
    let (mut exit_code, mut signal) = (status.and_then(|status| status.code()), status.and_then(|s| s.signal()));
    if convention == ExitConvention::Shell
        && let Some(code) = exit_code
        && (129..=128 + 64).contains(&code)
    {
        (exit_code, signal) = (None, Some(code - 128));
    }
    let result = CommandResult {
        argv: argv.to_vec(),
        exit_code,
        signal,
        timed_out,
        stdout,
        stderr,
        truncated: stdout_cut || stderr_cut,
        duration_ms: started.elapsed().as_millis() as u64,
        network_isolated: false,
        confined: false,
    };
    Ok((result, cancelled))
}

/// Reads a stream to its end, keeping the first `cap` bytes.
async fn read_capped(mut stream: impl AsyncRead + Unpin, cap: usize) -> (String, bool) {
    let mut kept = Vec::new();
    let mut buffer = vec![0u8; 16 << 10];
    let mut truncated = false;
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..read.min(room)]);
                truncated |= read > room;
            }
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), truncated)
}
