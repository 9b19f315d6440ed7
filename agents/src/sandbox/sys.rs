//! The system calls of the box: what a child does between `fork` and `exec`, and a few probes.
//!
//! Everything unsafe of the code box is here. Between fork and exec a child of a multi-threaded
//! process may only make async-signal-safe calls: the closure installed by [`install`] makes
//! plain system calls on memory prepared before the fork (no allocation, no lock).

#![expect(unsafe_code, reason = "pre_exec (setrlimit, setuid, prctl, unshare, dup2 between fork and exec)")]

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

/// What a child sets up for itself before it executes its program.
pub(super) struct ChildSetup {
    /// Resource limits (`RLIMIT_*`, value).
    pub limits: Vec<(libc::__rlimit_resource_t, u64)>,
    /// `cgroup.procs` files to join (opened and written by the child while still privileged).
    pub cgroup_procs: Vec<CString>,
    /// Host uid (and gid) to become, with no supplementary groups.
    pub switch_to: Option<u32>,
    /// A directory to hand to the program as fd 3.
    pub fd_3: Option<RawFd>,
    /// A directory to stage, read-only, at [`STAGED_PROJECT`] in a mount namespace of the
    /// child's own (needs root): bubblewrap resolves its sources by path as the box's uid,
    /// which cannot traverse a private data dir.
    pub stage: Option<CString>,
    /// Enter a network namespace of its own with loopback up (unconfined mode).
    pub isolate_network: bool,
}

/// Where [`ChildSetup::stage`] puts the directory, in the child's own mount namespace (over
/// `/tmp`, which bubblewrap does not use).
pub(super) const STAGED_PROJECT: &str = "/tmp";
const STAGE_TARGET: &CStr = c"/tmp";

/// The `/proc/self/oom_score_adj` path, prepared before any fork.
const OOM_SCORE_ADJ: &[u8] = b"/proc/self/oom_score_adj\0";

/// Installs `setup` to run in the child before it executes its program; the child also makes
/// itself the first the kernel kills when memory runs out, and dies with troupe
/// (`PR_SET_PDEATHSIG`, set after the uid switch, which would clear it).
pub(super) fn install(command: &mut tokio::process::Command, setup: ChildSetup) {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure only makes async-signal-safe system calls (open, write, close,
    // setrlimit, setgroups, setgid, setuid, prctl, getppid, dup2, unshare, socket, ioctl) on
    // memory owned by `setup`, which was prepared before the fork, and mount, mkdir and unshare
    // on constant paths; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            match setup.fd_3 {
                // dup2 onto itself would leave close-on-exec set.
                Some(3) if libc::fcntl(3, libc::F_SETFD, 0) != 0 => return Err(std::io::Error::last_os_error()),
                Some(fd) if fd != 3 && libc::dup2(fd, 3) < 0 => return Err(std::io::Error::last_os_error()),
                _ => {}
            }
            if let Some(directory) = &setup.stage {
                stage(directory)?;
            }
            write_file(OOM_SCORE_ADJ, b"1000");
            let mut digits = [0u8; 12];
            let pid = format_pid(libc::getpid(), &mut digits);
            for procs in &setup.cgroup_procs {
                if !write_file(procs.as_bytes_with_nul(), pid) {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for &(resource, value) in &setup.limits {
                let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
                if libc::setrlimit(resource, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if setup.isolate_network {
                isolate_network()?;
            }
            if let Some(uid) = setup.switch_to
                && (libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(uid) != 0 || libc::setuid(uid) != 0)
            {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // troupe may have died between the fork and the prctl: then nobody would kill us.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("troupe exited while the box was starting"));
            }
            Ok(())
        });
    }
}

/// Enters a private mount namespace and mounts `directory` read-only over [`STAGED_PROJECT`]
/// (only in this namespace). Async-signal-safe.
fn stage(directory: &CStr) -> std::io::Result<()> {
    let check = |result: libc::c_int| if result == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) };
    let none = std::ptr::null::<libc::c_char>();
    // SAFETY: every path is NUL-terminated and owned by the caller; the calls read nothing else.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        check(libc::mount(none, c"/".as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()))?;
        check(libc::mount(directory.as_ptr(), STAGE_TARGET.as_ptr(), none, libc::MS_BIND, std::ptr::null()))?;
        let read_only = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;
        check(libc::mount(none, STAGE_TARGET.as_ptr(), none, read_only, std::ptr::null()))?;
    }
    Ok(())
}

/// Writes `content` to the file at `path` (NUL-terminated); returns whether it worked.
/// Async-signal-safe.
fn write_file(path: &[u8], content: &[u8]) -> bool {
    // SAFETY: `path` is NUL-terminated; open/write/close on a descriptor we own.
    unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let written = libc::write(fd, content.as_ptr().cast(), content.len());
        libc::close(fd);
        written == content.len() as isize
    }
}

/// Formats `pid` in decimal into `buffer`, without allocating.
fn format_pid(pid: libc::pid_t, buffer: &mut [u8; 12]) -> &[u8] {
    let mut value = pid.unsigned_abs();
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 || start == 0 {
            break;
        }
    }
    &buffer[start..]
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

/// Returns whether a process may enter a network namespace of its own here (probed once).
pub(super) fn network_namespaces_allowed() -> bool {
    static ALLOWED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ALLOWED.get_or_init(|| {
        use std::os::unix::process::CommandExt;
        let mut probe = std::process::Command::new("/bin/sh");
        probe.args(["-c", "exit 0"]).stdin(std::process::Stdio::null());
        probe.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        // SAFETY: the closure only makes async-signal-safe system calls (see `isolate_network`).
        unsafe {
            probe.pre_exec(isolate_network);
        }
        probe.status().is_ok_and(|status| status.success())
    })
}

/// Sends SIGKILL to a process group.
pub(super) fn kill_group(group: u32) {
    // SAFETY: sends a signal; no memory involved.
    unsafe {
        libc::kill(-(group as libc::pid_t), libc::SIGKILL);
    }
}

/// Returns whether troupe runs as root (and so can give boxes uids of their own).
pub(super) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pids_are_formatted_without_allocating() {
        let mut buffer = [0u8; 12];
        assert_eq!(super::format_pid(0, &mut buffer), b"0");
        assert_eq!(super::format_pid(4_194_304, &mut buffer), b"4194304");
    }
}
