//! Running untrusted commands (generated builds and tests) with limits.
//!
//! Generated code is untrusted, so every command runs:
//! - as the leader of its own process group, killed whole (`SIGKILL` to the group) on timeout,
//!   on cancellation and after it exits (no stray children survive it);
//! - under `RLIMIT_CPU` and `RLIMIT_DATA` (not `RLIMIT_AS`: V8 reserves far more address space
//!   than it uses, so an address-space cap breaks node), plus a file-size cap;
//! - with a cleared environment (only `PATH`, `HOME` = the workspace, `LANG`, `TMPDIR`), so no
//!   key of ours reaches it;
//! - with stdout and stderr each capped at [`SandboxPolicy::output_cap`] bytes;
//! - in a network namespace of its own (only a loopback interface) where the OS allows one:
//!   [`network_isolation`] probes once whether `unshare(CLONE_NEWNET)` works (it needs root or an
//!   unprivileged user namespace); if not, commands run with the host's network and every result
//!   says so (`network_isolated: false`);
//! - only if its program is on the allow list.

#![allow(unsafe_code)] // `pre_exec` (setrlimit, unshare, ioctl between fork and exec) is unsafe.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

/// The limits commands run under.
#[derive(Clone, Debug)]
pub struct SandboxPolicy {
    /// Wall-clock limit per command.
    pub timeout: Duration,
    /// CPU-time limit per command (`RLIMIT_CPU`).
    pub cpu_seconds: u64,
    /// Data-segment limit per process (`RLIMIT_DATA`).
    pub data_bytes: u64,
    /// Largest file a command may write (`RLIMIT_FSIZE`).
    pub file_bytes: u64,
    /// Bytes kept of stdout and of stderr each; the rest is counted and dropped.
    pub output_cap: usize,
    /// Programs a command may start (by file name).
    pub allowed_programs: Vec<String>,
}

impl Default for SandboxPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            cpu_seconds: 60,
            data_bytes: 2 << 30,
            file_bytes: 64 << 20,
            output_cap: 256 << 10,
            allowed_programs: ["python3", "python", "node"].map(String::from).to_vec(),
        }
    }
}

/// Why a command could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Empty argument list.
    #[error("the command is empty")]
    Empty,
    /// The program is not on the allow list.
    #[error("`{program}` is not an allowed program (allowed: {allowed})")]
    NotAllowed {
        /// The program asked for.
        program: String,
        /// The allow list.
        allowed: String,
    },
    /// The process could not be started.
    #[error("cannot start `{program}`: {message}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        message: String,
    },
}

/// How one command ended.
#[derive(Clone, Debug, Serialize)]
pub struct CommandResult {
    /// The command.
    pub argv: Vec<String>,
    /// The exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did (e.g. 9 after a timeout, 24 past its CPU time).
    pub signal: Option<i32>,
    /// Whether the wall-clock limit ended it.
    pub timed_out: bool,
    /// Standard output (up to the cap).
    pub stdout: String,
    /// Standard error (up to the cap).
    pub stderr: String,
    /// Whether output beyond the cap was dropped.
    pub truncated: bool,
    /// Wall-clock time taken.
    pub duration_ms: u64,
    /// Whether it ran without network access.
    pub network_isolated: bool,
}

impl CommandResult {
    /// Whether the command exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// A log excerpt: the command, how it ended and its output.
    pub fn transcript(&self) -> String {
        let end = match (self.exit_code, self.signal, self.timed_out) {
            (_, _, true) => "timed out (process group killed)".to_owned(),
            (Some(code), _, _) => format!("exit code {code}"),
            (None, Some(signal), _) => format!("killed by signal {signal}"),
            (None, None, _) => "ended".to_owned(),
        };
        let mut text = format!("$ {}\n# {end} after {} ms\n", self.argv.join(" "), self.duration_ms);
        for (name, stream) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !stream.is_empty() {
                text.push_str(&format!("--- {name}\n{stream}"));
                if !stream.ends_with('\n') {
                    text.push('\n');
                }
            }
        }
        if self.truncated {
            text.push_str("# output truncated at the cap\n");
        }
        text
    }
}

/// Whether commands get a network namespace of their own here (probed once).
pub fn network_isolation() -> bool {
    static ISOLATION: OnceLock<bool> = OnceLock::new();
    *ISOLATION.get_or_init(|| {
        let mut probe = std::process::Command::new("/bin/sh");
        probe.args(["-c", "exit 0"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure only makes async-signal-safe system calls (see `isolate_network`).
        unsafe {
            probe.pre_exec(isolate_network);
        }
        let isolated = probe.status().is_ok_and(|status| status.success());
        if !isolated {
            tracing::warn!(
                "this OS refuses network namespaces here: build and test commands run with the host's network"
            );
        }
        isolated
    })
}

/// Enters a new network namespace and brings its loopback interface up.
fn isolate_network() -> std::io::Result<()> {
    // SAFETY: plain system calls on memory owned by this frame.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let socket = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if socket < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        let mut result = libc::ioctl(socket, libc::SIOCGIFFLAGS, &mut request);
        if result == 0 {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            result = libc::ioctl(socket, libc::SIOCSIFFLAGS, &request);
        }
        let error = std::io::Error::last_os_error();
        libc::close(socket);
        if result != 0 {
            return Err(error);
        }
    }
    Ok(())
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `argv` in `dir` under `policy`; stops early (killing the group) when `cancel` fires.
pub async fn run(
    policy: &SandboxPolicy,
    dir: &Path,
    argv: &[String],
    cancel: &CancellationToken,
) -> Result<CommandResult, SandboxError> {
    let program = argv.first().ok_or(SandboxError::Empty)?;
    let name = Path::new(program).file_name().and_then(|name| name.to_str()).unwrap_or(program);
    if program.contains('/') || !policy.allowed_programs.iter().any(|allowed| allowed == name) {
        return Err(SandboxError::NotAllowed { program: program.clone(), allowed: policy.allowed_programs.join(", ") });
    }
    let isolated = network_isolation();
    let mut command = tokio::process::Command::new(program);
    command
        .args(&argv[1..])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()))
        .env("HOME", dir)
        .env("TMPDIR", dir)
        .env("LANG", "C.UTF-8")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NODE_OPTIONS", "--max-old-space-size=512")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let (cpu, data, file) = (policy.cpu_seconds, policy.data_bytes, policy.file_bytes);
    // SAFETY: between fork and exec the closure makes only async-signal-safe system calls
    // (setrlimit, unshare, socket, ioctl, close) and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            set_limit(libc::RLIMIT_CPU, cpu)?;
            set_limit(libc::RLIMIT_DATA, data)?;
            set_limit(libc::RLIMIT_FSIZE, file)?;
            set_limit(libc::RLIMIT_CORE, 0)?;
            if isolated {
                isolate_network()?;
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|error| SandboxError::Spawn { program: program.clone(), message: error.to_string() })?;
    let group = child.id().map(|pid| pid as libc::pid_t);
    let stdout = child.stdout.take().map(|pipe| tokio::spawn(read_capped(pipe, policy.output_cap)));
    let stderr = child.stderr.take().map(|pipe| tokio::spawn(read_capped(pipe, policy.output_cap)));
    let kill_group = || {
        if let Some(group) = group {
            // SAFETY: sends a signal to the process group we created; no memory involved.
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
    };
    let mut timed_out = false;
    let status = tokio::select! {
        status = child.wait() => status.ok(),
        _ = tokio::time::sleep(policy.timeout) => { timed_out = true; None }
        _ = cancel.cancelled() => None,
    };
    kill_group();
    let status = match status {
        Some(status) => Some(status),
        None => child.wait().await.ok(),
    };
    let collect = |task: Option<tokio::task::JoinHandle<(String, bool)>>| async move {
        match task {
            Some(task) => task.await.unwrap_or_default(),
            None => (String::new(), false),
        }
    };
    let (stdout, stdout_cut) = collect(stdout).await;
    let (stderr, stderr_cut) = collect(stderr).await;
    use std::os::unix::process::ExitStatusExt;
    Ok(CommandResult {
        argv: argv.to_vec(),
        exit_code: status.and_then(|status| status.code()),
        signal: status.and_then(|status| status.signal()),
        timed_out,
        stdout,
        stderr,
        truncated: stdout_cut || stderr_cut,
        duration_ms: started.elapsed().as_millis() as u64,
        network_isolated: isolated,
    })
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

/// Writes `files` (relative paths) under `dir`, refusing paths that leave it.
pub fn write_files<'a>(dir: &Path, files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), String> {
    for (path, content) in files {
        let relative = safe_relative(path)?;
        let target = dir.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| format!("cannot create `{}`: {error}", parent.display()))?;
        }
        std::fs::write(&target, content).map_err(|error| format!("cannot write `{path}`: {error}"))?;
    }
    Ok(())
}

/// Checks that `path` is relative and stays inside its root (no `..`, no absolute path).
pub fn safe_relative(path: &str) -> Result<PathBuf, String> {
    use std::path::Component;
    let candidate = Path::new(path);
    let ok = !path.is_empty() && candidate.components().all(|part| matches!(part, Component::Normal(_)));
    if ok { Ok(candidate.to_path_buf()) } else { Err(format!("`{path}` is not a relative path inside the project")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|part| part.to_string()).collect()
    }

    async fn python(policy: &SandboxPolicy, code: &str) -> CommandResult {
        let dir = std::env::temp_dir().join(format!("troupe-sandbox-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let result = run(policy, &dir, &argv(&["python3", "-c", code]), &CancellationToken::new()).await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    #[tokio::test]
    async fn the_environment_is_cleared_and_output_is_captured() {
        // SAFETY-free: the variable is read by the child only.
        let result =
            python(&SandboxPolicy::default(), "import os; print(sorted(k for k in os.environ if 'KEY' in k or 'SECRET' in k)); print(os.getcwd() == os.environ['HOME'])").await;
        assert!(result.succeeded(), "{}", result.transcript());
        assert_eq!(result.stdout, "[]\nTrue\n");
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        // Long enough for Python to start and print on a loaded 2-core machine (at 500 ms it
        // sometimes had not printed yet when the timeout struck).
        let policy = SandboxPolicy { timeout: Duration::from_secs(5), ..SandboxPolicy::default() };
        // The child forks a grandchild that would outlive it without the group kill.
        let result = python(
            &policy,
            "import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(60)\nelse:\n    print(pid, flush=True); time.sleep(60)",
        )
        .await;
        assert!(result.timed_out, "{}", result.transcript());
        let grandchild: i32 =
            result.stdout.trim().parse().unwrap_or_else(|_| panic!("no pid printed: {}", result.transcript()));
        // Killed processes may linger as zombies until reaped; none may still be running.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let state = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).ok();
            let running = state
                .as_deref()
                .and_then(|stat| stat.rsplit(')').next())
                .is_some_and(|rest| !matches!(rest.trim_start().chars().next(), Some('Z' | 'X')));
            if !running {
                break;
            }
            assert!(Instant::now() < deadline, "the grandchild survived the timeout: {state:?}");
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn cpu_time_is_limited() {
        let policy = SandboxPolicy { cpu_seconds: 1, ..SandboxPolicy::default() };
        let result = python(&policy, "while True: pass").await;
        assert!(!result.succeeded() && !result.timed_out, "{}", result.transcript());
        assert!(matches!(result.signal, Some(libc::SIGXCPU | libc::SIGKILL)), "{}", result.transcript());
    }

    #[tokio::test]
    async fn memory_is_limited() {
        let policy = SandboxPolicy { data_bytes: 256 << 20, ..SandboxPolicy::default() };
        let result = python(&policy, "x = bytearray(1 << 30)").await;
        assert!(!result.succeeded(), "{}", result.transcript());
        assert!(result.stderr.contains("MemoryError"), "{}", result.transcript());
    }

    #[tokio::test]
    async fn output_is_capped() {
        let policy = SandboxPolicy { output_cap: 1000, ..SandboxPolicy::default() };
        let result = python(&policy, "print('x' * 100000)").await;
        assert!(result.succeeded() && result.truncated && result.stdout.len() == 1000);
    }

    #[tokio::test]
    async fn the_network_is_out_of_reach_but_loopback_works() {
        let code = "import socket\n\
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print('loopback ok')\n\
try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2); print('reached')\n\
except OSError as e:\n    print('unreachable')";
        let result = python(&SandboxPolicy::default(), code).await;
        assert!(result.succeeded(), "{}", result.transcript());
        assert!(result.stdout.starts_with("loopback ok"));
        if result.network_isolated {
            assert!(result.stdout.contains("unreachable"), "{}", result.transcript());
        }
    }

    #[tokio::test]
    async fn programs_off_the_allow_list_and_escaping_paths_are_refused() {
        let dir = std::env::temp_dir();
        let error = run(&SandboxPolicy::default(), &dir, &argv(&["curl", "x"]), &CancellationToken::new()).await;
        assert!(matches!(error, Err(SandboxError::NotAllowed { .. })));
        let error = run(&SandboxPolicy::default(), &dir, &argv(&["/usr/bin/python3"]), &CancellationToken::new()).await;
        assert!(matches!(error, Err(SandboxError::NotAllowed { .. })));
        assert!(safe_relative("../etc/passwd").is_err());
        assert!(safe_relative("/etc/passwd").is_err());
        assert!(safe_relative("backend/app.py").is_ok());
    }
}
