//! The confined mode: each command in a bubblewrap box (see the module docs of
//! [`super`] for what the box is made of).
//!
//! bubblewrap runs unprivileged: troupe (when root) first drops to the slot's uid, then bwrap
//! creates a user namespace owned by that uid and, inside it, the mount, PID, network, IPC and
//! UTS namespaces. It is given an empty environment (the reaper it leaves as PID 1 keeps
//! bwrap's own, and `/proc/1/environ` is readable in the box) and the project directory as an
//! open descriptor, so the box never needs to reach — or learn — the data dir's path.

use std::ffi::OsString;
use std::path::Path;

use tokio_util::sync::CancellationToken;

use super::process::{ExitConvention, run_to_end};
use super::sys::{self, ChildSetup};
use super::{BoxStatus, CommandResult, Probed, SandboxError, SandboxPolicy, cgroup};

/// Where the box keeps the project's files (read-only) and its workspace (writable).
const PROJECT: &str = "/project";
const WORKSPACE: &str = "/workspace";
/// The box's `PATH`: system directories only.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Copies the project into the workspace, then becomes the command.
const PRELUDE: &str = "mkdir -p .tmp && cp -R /project/. . \
    || echo 'troupe: some project files could not be copied into the box' >&2; exec \"$@\"";
/// Top-level paths that are links into `/usr` on merged-/usr systems, or directories otherwise.
const SYSTEM_ROOTS: [&str; 6] = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/// The few files of `/etc` programs read (dynamic linker, time zone, alternatives).
const ETC_FILES: [&str; 5] =
    ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives"];

/// The system paths of this machine, as bwrap arguments (read once).
#[derive(Default)]
pub(super) struct Layout {
    args: Vec<OsString>,
}

impl Layout {
    fn read() -> Self {
        let mut args: Vec<OsString> = ["--ro-bind", "/usr", "/usr"].map(OsString::from).to_vec();
        for root in SYSTEM_ROOTS {
            match std::fs::read_link(root) {
                Ok(target) => args.extend([OsString::from("--symlink"), target.into_os_string(), root.into()]),
                Err(_) if Path::new(root).is_dir() => args.extend(["--ro-bind", root, root].map(OsString::from)),
                Err(_) => {}
            }
        }
        for file in ETC_FILES {
            if Path::new(file).exists() {
                args.extend(["--ro-bind", file, file].map(OsString::from));
            }
        }
        Self { args }
    }
}

/// What one confined run needs.
pub(super) struct Setup<'a> {
    pub policy: &'a SandboxPolicy,
    pub layout: &'a Layout,
    /// The host uid to run as (`None`: troupe's own, when troupe is not root).
    pub uid: Option<u32>,
    /// The slot's `cgroup.procs` files.
    pub cgroup_procs: Option<Vec<std::ffi::CString>>,
}

/// Returns the uid of `slot` when boxes run as uids of their own.
pub(super) fn slot_uid(status: &BoxStatus, slot: usize) -> Option<u32> {
    match status {
        BoxStatus::Confined { uid_base: Some(base), .. } => Some(base.saturating_add(slot as u32)),
        _ => None,
    }
}

/// Builds the bwrap command line for `argv`.
pub(super) fn bwrap_args(setup: &Setup<'_>, argv: &[String]) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "box",
    ]
    .map(OsString::from)
    .to_vec();
    args.extend(setup.layout.args.iter().cloned());
    args.extend(["--proc", "/proc", "--dev", "/dev", "--size"].map(OsString::from));
    args.push(setup.policy.workspace_bytes.max(1 << 20).to_string().into());
    args.extend(["--tmpfs", WORKSPACE].map(OsString::from));
    // As root, troupe stages the project where the box's uid can resolve it (see `sys`); as
    // another user, bwrap runs as that user and can open the descriptor's path itself.
    match setup.uid {
        Some(_) => args.extend(["--ro-bind", sys::STAGED_PROJECT, PROJECT].map(OsString::from)),
        None => args.extend(["--ro-bind-fd", "3", PROJECT].map(OsString::from)),
    }
    args.extend(
        ["--symlink", "/workspace/.tmp", "/tmp", "--remount-ro", "/", "--chdir", WORKSPACE].map(OsString::from),
    );
    args.extend(["--clearenv", "--setenv", "PATH", PATH, "--setenv", "HOME", WORKSPACE].map(OsString::from));
    args.extend(["--setenv", "TMPDIR", "/workspace/.tmp", "--setenv", "LANG", "C.UTF-8"].map(OsString::from));
    args.extend(["--setenv", "PYTHONDONTWRITEBYTECODE", "1"].map(OsString::from));
    args.extend(["--setenv", "NODE_OPTIONS", "--max-old-space-size=512"].map(OsString::from));
    args.extend(["--", "/bin/sh", "-c", PRELUDE, "troupe-box"].map(OsString::from));
    args.extend(argv.iter().map(OsString::from));
    args
}

/// Runs `argv` in a fresh box holding a copy of `project`.
pub(super) async fn run(
    setup: &Setup<'_>,
    project: &Path,
    argv: &[String],
    cancel: &CancellationToken,
) -> Result<CommandResult, SandboxError> {
    use std::os::fd::AsRawFd;
    let policy = setup.policy;
    // Opened by troupe (it may be root and the data dir private): the box sees only this tree.
    let directory = std::fs::File::open(project)
        .map_err(|error| SandboxError::Workspace(format!("cannot open `{}`: {error}", project.display())))?;
    let stage = match setup.uid {
        Some(_) => {
            use std::os::unix::ffi::OsStrExt;
            let path = std::ffi::CString::new(project.as_os_str().as_bytes())
                .map_err(|_| SandboxError::Workspace("the workspace path holds a NUL byte".into()))?;
            Some(path)
        }
        None => None,
    };
    let mut command = tokio::process::Command::new(&policy.bwrap);
    command.args(bwrap_args(setup, argv)).env_clear().current_dir("/");
    let mut limits = vec![
        (libc::RLIMIT_CPU, policy.cpu_seconds),
        (libc::RLIMIT_DATA, policy.memory_bytes),
        (libc::RLIMIT_FSIZE, policy.file_bytes),
        (libc::RLIMIT_CORE, 0),
    ];
    // Counted per uid: only meaningful when the uid is the box's alone.
    if setup.uid.is_some() {
        limits.push((libc::RLIMIT_NPROC, policy.max_processes));
    }
    sys::install(
        &mut command,
        ChildSetup {
            limits,
            cgroup_procs: setup.cgroup_procs.clone().unwrap_or_default(),
            switch_to: setup.uid,
            fd_3: Some(directory.as_raw_fd()),
            stage,
            isolate_network: false,
        },
    );
    let (mut result, _) =
        run_to_end(command, argv, policy.timeout, policy.output_cap, cancel, ExitConvention::Shell).await?;
    drop(directory);
    result.network_isolated = true;
    result.confined = true;
    Ok(result)
}

/// Finds out whether the box can be built here: creates the slots' cgroups and runs one
/// trivial command in a box exactly as a real one is made.
pub(super) async fn probe(policy: &SandboxPolicy) -> Probed {
    let layout = Layout::read();
    let unavailable = |reason: String| {
        tracing::error!(%reason, "the code box is unavailable: code-running steps will refuse (sandbox_unavailable)");
        Probed { status: BoxStatus::Unavailable(reason), layout: Layout::default(), cgroups: None }
    };
    if !policy.bwrap.is_file() {
        return unavailable(format!(
            "bubblewrap is not installed at `{}` (Debian: apt-get install bubblewrap)",
            policy.bwrap.display()
        ));
    }
    let root = sys::is_root();
    let cgroups = if root {
        match cgroup::create(policy.slots.max(1), policy.memory_bytes, policy.max_processes) {
            Ok(cgroups) => Some(cgroups),
            Err(reason) => {
                tracing::warn!(%reason, "no writable cgroup: the box's memory is limited per process only");
                None
            }
        }
    } else {
        None
    };
    let status = BoxStatus::Confined {
        uid_base: root.then_some(policy.uid_base),
        cgroup: cgroups.as_ref().map(cgroup::Cgroups::version),
    };
    let empty = std::env::temp_dir().join(format!("troupe-box-probe-{}", uuid::Uuid::new_v4().simple()));
    if let Err(error) = std::fs::create_dir_all(&empty) {
        return unavailable(format!("cannot create a probe directory: {error}"));
    }
    let setup = Setup {
        policy,
        layout: &layout,
        uid: slot_uid(&status, 0),
        cgroup_procs: cgroups.as_ref().map(|cgroups| cgroups.procs(0)),
    };
    let argv = ["true".to_owned()];
    let outcome = run(&setup, &empty, &argv, &CancellationToken::new()).await;
    let _ = std::fs::remove_dir(&empty);
    match outcome {
        Ok(result) if result.succeeded() => Probed { status, layout, cgroups },
        Ok(result) => unavailable(format!("bubblewrap cannot build the box here: {}", result.stderr.trim())),
        Err(error) => unavailable(error.to_string()),
    }
}
