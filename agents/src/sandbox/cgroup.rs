//! Memory and process limits for each box slot, in a cgroup of troupe's own cgroup where the
//! machine lets troupe create one.
//!
//! cgroup v1 (separate `memory` and `pids` hierarchies) and v2 (one unified hierarchy, where
//! troupe's cgroup must be able to delegate the controllers) are both handled. A slot's cgroups
//! are named `troupe-<pid>-box-<slot>` and created at the first probe; cgroups that a troupe
//! process which is gone left behind are removed then. The child joins its slot's cgroups
//! between fork and exec, while it is still privileged, so nothing it runs escapes them.
//! Memory written to the workspace (a tmpfs) is charged to the box's cgroup too.

use std::ffi::CString;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// The `cgroup.procs` files of each slot.
pub(super) struct Cgroups {
    version: &'static str,
    procs: Vec<Vec<CString>>,
}

impl Cgroups {
    /// Returns the cgroup version in use (`v1` or `v2`).
    pub(super) fn version(&self) -> &'static str {
        self.version
    }

    /// Returns the `cgroup.procs` files a box in `slot` joins.
    pub(super) fn procs(&self, slot: usize) -> Vec<CString> {
        self.procs.get(slot).cloned().unwrap_or_default()
    }
}

/// Creates the slots' cgroups with their limits; `Err` says why none can be used.
pub(super) fn create(slots: usize, memory_bytes: u64, max_processes: u64) -> Result<Cgroups, String> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").map_err(|error| error.to_string())?;
    if Path::new(ROOT).join("cgroup.controllers").exists() {
        let own = membership
            .lines()
            .find_map(|line| line.strip_prefix("0::"))
            .ok_or("no cgroup v2 membership in /proc/self/cgroup")?;
        let parent = Path::new(ROOT).join(own.trim_start_matches('/'));
        // Delegating controllers fails when troupe's own cgroup holds processes (the "no
        // internal processes" rule) unless it is the root: then limits come from rlimits only.
        std::fs::write(parent.join("cgroup.subtree_control"), "+memory +pids")
            .map_err(|error| format!("cannot delegate memory and pids in {}: {error}", parent.display()))?;
        sweep(&parent);
        let mut procs = Vec::with_capacity(slots);
        for slot in 0..slots {
            let dir = slot_dir(&parent, slot)?;
            write(&dir, "memory.max", memory_bytes)?;
            let _ = std::fs::write(dir.join("memory.swap.max"), "0");
            write(&dir, "pids.max", max_processes)?;
            procs.push(vec![procs_file(&dir)?]);
        }
        return Ok(Cgroups { version: "v2", procs });
    }
    let v1 = |controller: &str| -> Option<PathBuf> {
        let path = membership.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            controllers.split(',').any(|name| name == controller).then(|| path.to_owned())
        })?;
        Some(Path::new(ROOT).join(controller).join(path.trim_start_matches('/')))
    };
    let memory = v1("memory").ok_or("no memory cgroup")?;
    let pids = v1("pids").ok_or("no pids cgroup")?;
    sweep(&memory);
    sweep(&pids);
    let mut procs = Vec::with_capacity(slots);
    for slot in 0..slots {
        let memory_dir = slot_dir(&memory, slot)?;
        write(&memory_dir, "memory.limit_in_bytes", memory_bytes)?;
        let _ = std::fs::write(memory_dir.join("memory.memsw.limit_in_bytes"), memory_bytes.to_string());
        let pids_dir = slot_dir(&pids, slot)?;
        write(&pids_dir, "pids.max", max_processes)?;
        procs.push(vec![procs_file(&memory_dir)?, procs_file(&pids_dir)?]);
    }
    Ok(Cgroups { version: "v1", procs })
}

fn slot_dir(parent: &Path, slot: usize) -> Result<PathBuf, String> {
    let dir = parent.join(format!("troupe-{}-box-{slot}", std::process::id()));
    match std::fs::create_dir(&dir) {
        Ok(()) => Ok(dir),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(dir),
        Err(error) => Err(format!("cannot create {}: {error}", dir.display())),
    }
}

fn write(dir: &Path, file: &str, value: u64) -> Result<(), String> {
    std::fs::write(dir.join(file), value.to_string())
        .map_err(|error| format!("cannot set {}: {error}", dir.join(file).display()))
}

fn procs_file(dir: &Path) -> Result<CString, String> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(dir.join("cgroup.procs").as_os_str().as_bytes()).map_err(|error| error.to_string())
}

/// Removes the (empty) slot cgroups of troupe processes that no longer run.
fn sweep(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|name| name.strip_prefix("troupe-")?.split_once("-box-")) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.0).exists();
        if !alive {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}
