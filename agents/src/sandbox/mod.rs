//! The code box: the one way troupe runs a program on a user's or a model's behalf.
//!
//! `build`, `qa` and any future agent that executes generated code call [`CodeBox::run`]; nothing
//! else in troupe starts such a program. In the default, **confined** mode each command runs
//! under bubblewrap (`bwrap`, [`confined`]) with:
//!
//! - its own mount namespace: a read-only root holding only the system paths programs need
//!   (`/usr` and its links, a few files of `/etc`), a fresh `/proc` and `/dev`, the project's
//!   files read-only at `/project`, and one writable place, the workspace `/workspace` — a
//!   size-capped tmpfs the project is copied into (`/tmp` points inside it). The data dir, the
//!   repository, home directories and host sockets (PostgreSQL's) are simply not there;
//! - its own PID namespace (no troupe process is visible, and when the command's box ends —
//!   normally, on its timeout, on cancellation, or because troupe itself died — every process
//!   in it dies, `setsid` or double fork notwithstanding), its own network namespace (loopback
//!   only), IPC and UTS namespaces, and no further user namespaces;
//! - a **dedicated unprivileged host uid** per concurrent box (`uid_base + slot`) when troupe
//!   runs as root, so even root's files are out of reach; no capabilities; `no_new_privs`;
//! - limits: processes (`RLIMIT_NPROC` for the box's uid, and a pids cgroup where one is
//!   writable), memory (a memory cgroup where writable, `RLIMIT_DATA` per process, and an OOM
//!   score that makes the kernel pick the box before troupe), CPU time, file size, the
//!   workspace's size and wall-clock time; an environment of its own with a fixed `PATH`.
//!
//! The box **fails closed**: when it cannot be built here (no bwrap, user namespaces refused),
//! [`CodeBox::run`] answers [`SandboxError::Unavailable`] and code-running steps fail with
//! `sandbox_unavailable`. Only [`SandboxMode::UnconfinedDevelopment`] — a development setting,
//! named as such — runs commands without it, as troupe's own user ([`unconfined`]).
//!
//! Concurrency is bounded twice: at most [`SandboxPolicy::slots`] boxes at once (each slot owns
//! a uid and cgroups) and at most [`SandboxPolicy::per_user`] per execution owner; a step waits
//! for a free slot (cancellable).
//!
//! Each command starts from the project's files: state a command leaves in its workspace does
//! not reach the next command (commands that depend on each other belong in one script).

mod cgroup;
mod confined;
mod process;
mod slots;
mod sys;
mod unconfined;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use troupe_runtime::ids::UserId;

use self::slots::Slots;

/// How programs are run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SandboxMode {
    /// In the box (bubblewrap); refuses to run anything where the box cannot be built.
    #[default]
    Confined,
    /// Development only: as troupe's own user, in the host's file system, with only a process
    /// group, rlimits, a cleared environment and (where allowed) a network namespace. Never
    /// with users or models you do not trust.
    UnconfinedDevelopment,
}

impl SandboxMode {
    /// Returns the setting's spelling (`bwrap` or `unconfined-development`).
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::Confined => "bwrap",
            SandboxMode::UnconfinedDevelopment => "unconfined-development",
        }
    }
}

impl FromStr for SandboxMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "bwrap" | "confined" => Ok(SandboxMode::Confined),
            "unconfined-development" => Ok(SandboxMode::UnconfinedDevelopment),
            other => Err(format!("unknown sandbox mode `{other}` (expected `bwrap` or `unconfined-development`)")),
        }
    }
}

/// The limits and settings of the box (`TROUPE_SANDBOX_*`).
#[derive(Clone, Debug)]
pub struct SandboxPolicy {
    /// Confined (default) or the unconfined development mode.
    pub mode: SandboxMode,
    /// The bubblewrap program.
    pub bwrap: PathBuf,
    /// Wall-clock limit per command.
    pub timeout: Duration,
    /// CPU-time limit per process (`RLIMIT_CPU`).
    pub cpu_seconds: u64,
    /// Memory of one box (its cgroup, where one is writable) and the data segment of each of
    /// its processes (`RLIMIT_DATA`).
    pub memory_bytes: u64,
    /// Largest file a command may write (`RLIMIT_FSIZE`).
    pub file_bytes: u64,
    /// Size of the workspace (a tmpfs): the project's files and everything the commands write.
    pub workspace_bytes: u64,
    /// Processes and threads one box may have at once.
    pub max_processes: u64,
    /// Bytes kept of stdout and of stderr each; the rest is counted and dropped.
    pub output_cap: usize,
    /// Programs a command may start (by file name, looked up in the box's fixed `PATH`).
    pub allowed_programs: Vec<String>,
    /// The first host uid of the boxes (slot `n` runs as `uid_base + n`) when troupe is root.
    pub uid_base: u32,
    /// Boxes at once, over all users.
    pub slots: usize,
    /// Boxes at once per execution owner.
    pub per_user: usize,
}

/// Where bubblewrap is looked for when no path is configured (never through `PATH`).
const BWRAP_LOCATIONS: [&str; 3] = ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"];

impl Default for SandboxPolicy {
    fn default() -> Self {
        let bwrap = BWRAP_LOCATIONS.iter().map(PathBuf::from).find(|path| path.exists());
        Self {
            mode: SandboxMode::Confined,
            bwrap: bwrap.unwrap_or_else(|| PathBuf::from(BWRAP_LOCATIONS[0])),
            timeout: Duration::from_secs(120),
            cpu_seconds: 60,
            memory_bytes: 1 << 30,
            file_bytes: 64 << 20,
            workspace_bytes: 256 << 20,
            max_processes: 256,
            output_cap: 256 << 10,
            allowed_programs: ["python3", "python", "node"].map(String::from).to_vec(),
            uid_base: 2_000_000_000,
            slots: std::thread::available_parallelism().map_or(2, |cores| cores.get()).max(2),
            per_user: 2,
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
    /// The box cannot be built on this machine; nothing was run.
    #[error("the code box is unavailable: {0}")]
    Unavailable(String),
    /// The project's files could not be handed to the box.
    #[error("cannot prepare the workspace: {0}")]
    Workspace(String),
    /// The process could not be started.
    #[error("cannot start `{program}`: {message}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        message: String,
    },
    /// The run was cancelled while waiting for a free box.
    #[error("cancelled while waiting for a free box")]
    Cancelled,
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
    /// Whether it ran in the box (`false` only in the unconfined development mode).
    pub confined: bool,
}

impl CommandResult {
    /// Returns whether the command exited with status 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// Returns a log excerpt: the command, how it ended and its output.
    pub fn transcript(&self) -> String {
        let end = match (self.exit_code, self.signal, self.timed_out) {
            (_, _, true) => "timed out (the box was killed)".to_owned(),
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

/// What the box looks like on this machine (probed once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoxStatus {
    /// Commands run confined.
    Confined {
        /// The host uid of slot 0, when boxes run as dedicated uids (troupe is root).
        uid_base: Option<u32>,
        /// The cgroup version whose memory and pids limits apply, when one is writable.
        cgroup: Option<&'static str>,
    },
    /// Commands run unconfined (the development mode).
    Unconfined,
    /// The box cannot be built: code-running steps refuse.
    Unavailable(String),
}

impl std::fmt::Display for BoxStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BoxStatus::Confined { uid_base, cgroup } => {
                write!(f, "confined (bubblewrap")?;
                match uid_base {
                    Some(uid) => write!(f, ", dedicated uids from {uid}")?,
                    None => write!(f, ", troupe's own uid")?,
                }
                match cgroup {
                    Some(version) => write!(f, ", cgroup {version} memory and pids limits)"),
                    None => write!(f, ", rlimits only: no writable cgroup)"),
                }
            }
            BoxStatus::Unconfined => write!(f, "UNCONFINED (development mode: programs run as troupe's own user)"),
            BoxStatus::Unavailable(reason) => write!(f, "unavailable ({reason}): code-running steps will refuse"),
        }
    }
}

/// One run in the box: whose, which project, which commands.
#[derive(Clone, Copy, Debug)]
pub struct BoxRun<'a> {
    /// The execution's owner (per-user concurrency).
    pub owner: UserId,
    /// The directory holding the project's files (copied into each command's workspace).
    pub project: &'a Path,
    /// The commands, run one after another.
    pub commands: &'a [Vec<String>],
    /// Stops the run (and kills the running box) when cancelled.
    pub cancel: &'a CancellationToken,
}

/// The code box. Share one per process.
pub struct CodeBox {
    policy: SandboxPolicy,
    status: tokio::sync::OnceCell<Probed>,
    slots: Slots,
}

/// The probe's findings.
struct Probed {
    status: BoxStatus,
    layout: confined::Layout,
    cgroups: Option<cgroup::Cgroups>,
}

impl std::fmt::Debug for CodeBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeBox").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl Default for CodeBox {
    fn default() -> Self {
        Self::new(SandboxPolicy::default())
    }
}

impl CodeBox {
    /// Returns a box with this policy; nothing is probed before the first use.
    pub fn new(policy: SandboxPolicy) -> Self {
        let slots = Slots::new(policy.slots.max(1), policy.per_user.max(1));
        Self { policy, status: tokio::sync::OnceCell::new(), slots }
    }

    /// Returns the policy.
    pub fn policy(&self) -> &SandboxPolicy {
        &self.policy
    }

    /// Returns what the box looks like here, probing it on first use.
    pub async fn status(&self) -> &BoxStatus {
        &self.probed().await.status
    }

    async fn probed(&self) -> &Probed {
        self.status
            .get_or_init(|| async {
                match self.policy.mode {
                    SandboxMode::UnconfinedDevelopment => {
                        Probed { status: BoxStatus::Unconfined, layout: confined::Layout::default(), cgroups: None }
                    }
                    SandboxMode::Confined => confined::probe(&self.policy).await,
                }
            })
            .await
    }

    /// Runs `run.commands` one after another, each in a fresh box holding a copy of
    /// `run.project`, stopping after the first that fails; returns what each did.
    pub async fn run(&self, run: BoxRun<'_>) -> Result<Vec<CommandResult>, SandboxError> {
        for argv in run.commands {
            self.check_program(argv)?;
        }
        let probed = self.probed().await;
        if let BoxStatus::Unavailable(reason) = &probed.status {
            return Err(SandboxError::Unavailable(reason.clone()));
        }
        let slot = tokio::select! {
            slot = self.slots.acquire(run.owner) => slot,
            _ = run.cancel.cancelled() => return Err(SandboxError::Cancelled),
        };
        let mut results = Vec::with_capacity(run.commands.len());
        for argv in run.commands {
            let result = match &probed.status {
                BoxStatus::Unconfined => unconfined::run(&self.policy, run.project, argv, run.cancel).await?,
                _ => {
                    let setup = confined::Setup {
                        policy: &self.policy,
                        layout: &probed.layout,
                        uid: confined::slot_uid(&probed.status, slot.index()),
                        cgroup_procs: probed.cgroups.as_ref().map(|cgroups| cgroups.procs(slot.index())),
                    };
                    confined::run(&setup, run.project, argv, run.cancel).await?
                }
            };
            let failed = !result.succeeded();
            results.push(result);
            if failed || run.cancel.is_cancelled() {
                break;
            }
        }
        Ok(results)
    }

    fn check_program(&self, argv: &[String]) -> Result<(), SandboxError> {
        let program = argv.first().ok_or(SandboxError::Empty)?;
        if program.contains('/') || !self.policy.allowed_programs.iter().any(|allowed| allowed == program) {
            return Err(SandboxError::NotAllowed {
                program: program.clone(),
                allowed: self.policy.allowed_programs.join(", "),
            });
        }
        Ok(())
    }
}

/// Writes `files` (relative paths) under `dir`, refusing paths that leave it and never
/// following a link: `dir` is emptied first, directories are created one by one, and files are
/// opened with `O_NOFOLLOW`. Directories get mode 0755 and files 0644 whatever the umask: the
/// box reads them as a user of its own.
pub fn write_files<'a>(dir: &Path, files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let readable = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|error| format!("cannot set the mode of `{}`: {error}", path.display()))
    };
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(format!("the workspace `{}` is a link", dir.display()));
        }
        Ok(_) => std::fs::remove_dir_all(dir).map_err(|error| format!("cannot empty `{}`: {error}", dir.display()))?,
        Err(_) => {}
    }
    std::fs::create_dir_all(dir).map_err(|error| format!("cannot create `{}`: {error}", dir.display()))?;
    readable(dir, 0o755)?;
    for (path, content) in files {
        let relative = safe_relative(path)?;
        let target = dir.join(&relative);
        if let Some(parent) = relative.parent() {
            let mut current = dir.to_path_buf();
            for part in parent.components() {
                current.push(part);
                match std::fs::symlink_metadata(&current) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => return Err(format!("cannot write `{path}`: `{}` is not a directory", current.display())),
                    Err(_) => {
                        std::fs::create_dir(&current)
                            .map_err(|error| format!("cannot create `{}`: {error}", current.display()))?;
                        readable(&current, 0o755)?;
                    }
                }
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o644)
            .open(&target)
            .map_err(|error| format!("cannot write `{path}`: {error}"))?;
        file.write_all(content.as_bytes()).map_err(|error| format!("cannot write `{path}`: {error}"))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|error| format!("cannot set the mode of `{path}`: {error}"))?;
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

/// Tests that need the box: skip loudly where it cannot be built, fail in CI.
#[cfg(any(test, feature = "testsuite"))]
pub mod testing {
    use super::{BoxStatus, CodeBox, SandboxPolicy};

    /// Returns a confined box with `policy`, or `None` (after saying so) where the box cannot
    /// be built outside CI.
    ///
    /// # Panics
    ///
    /// Panics in CI (`CI` set) when the box is unavailable: `.ci/run` installs bubblewrap.
    pub async fn confined_box(policy: SandboxPolicy, test_name: &str) -> Option<CodeBox> {
        let code_box = CodeBox::new(policy);
        if let BoxStatus::Unavailable(reason) = code_box.status().await {
            assert!(std::env::var_os("CI").is_none(), "the code box must be available in CI: {reason}");
            eprintln!("ignoring test `{test_name}`: the code box is unavailable here: {reason}");
            return None;
        }
        Some(code_box)
    }
}
