//! The code box, confined: what a program inside can and cannot do. These tests need
//! bubblewrap (`.ci/run` installs it): locally they skip loudly without it, in CI they fail.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use troupe_agents::sandbox::testing::confined_box;
use troupe_agents::sandbox::{BoxRun, BoxStatus, CodeBox, CommandResult, SandboxError, SandboxPolicy};
use troupe_runtime::ids::UserId;

const ESCAPE: &str = include_str!("fixtures/escape.py");

fn argv(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|part| part.to_string()).collect()
}

/// A project directory with `files`, in a fresh directory standing for the data dir.
struct Project {
    data_dir: PathBuf,
    dir: PathBuf,
}

impl Project {
    fn new(files: &[(&str, &str)]) -> Self {
        let data_dir = std::env::temp_dir().join(format!("troupe-box-test-{}", uuid::Uuid::now_v7()));
        let dir = data_dir.join("workspaces").join("execution").join("project");
        troupe_agents::sandbox::write_files(&dir, files.iter().copied()).unwrap();
        Self { data_dir, dir }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn small_policy() -> SandboxPolicy {
    SandboxPolicy {
        memory_bytes: 256 << 20,
        workspace_bytes: 16 << 20,
        max_processes: 64,
        timeout: Duration::from_secs(60),
        ..SandboxPolicy::default()
    }
}

async fn run_one(code_box: &CodeBox, project: &Project, argv: Vec<String>) -> CommandResult {
    let commands = [argv];
    let run =
        BoxRun { owner: UserId::new(), project: &project.dir, commands: &commands, cancel: &CancellationToken::new() };
    code_box.run(run).await.unwrap().remove(0)
}

async fn python(code_box: &CodeBox, code: &str) -> CommandResult {
    let project = Project::new(&[("main.py", code)]);
    run_one(code_box, &project, argv(&["python3", "main.py"])).await
}

/// Host processes whose command line holds `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| stat.rsplit(')').next().map(|rest| rest.trim_start().starts_with(['Z', 'X'])))
            .unwrap_or(true);
        if cmdline.contains(marker) && !zombie {
            found.push(format!("{}: {cmdline}", name.to_string_lossy()));
        }
    }
    found
}

/// Polls until no host process carries `marker` (they die as their box is torn down).
async fn assert_none_left(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut every = tokio::time::interval(Duration::from_millis(50));
    loop {
        every.tick().await;
        let left = processes_with(marker);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes outlived their box: {left:?}");
    }
}

#[tokio::test]
async fn a_hostile_project_reaches_nothing_outside_its_box() {
    let Some(code_box) = confined_box(small_policy(), "a_hostile_project_reaches_nothing_outside_its_box").await else {
        return;
    };
    let marker = format!("marker-{}", uuid::Uuid::now_v7().simple());
    let project = Project::new(&[("escape.py", ESCAPE)]);
    // What the data dir holds next to the workspaces.
    for (name, content) in [("jwt-secret", "jwt-secret-value"), ("memory-keys", "k1:secret"), ("troupe.db", "SQLite")] {
        std::fs::write(project.data_dir.join(name), content).unwrap();
    }
    // A root-owned file no other user may read, among the project's files.
    let root_only = project.dir.join("root-only");
    std::fs::write(&root_only, "root's secret").unwrap();
    std::fs::set_permissions(&root_only, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let outside_file = project.data_dir.join("escaped");
    let params = json!({
        "secret_files": [
            project.data_dir.join("jwt-secret"), project.data_dir.join("memory-keys"),
            project.data_dir.join("troupe.db"), "/root/.bash_history", "/etc/shadow",
        ],
        "server_pid": std::process::id(),
        "tcp_ports": [5432, listener.local_addr().unwrap().port()],
        "unix_sockets": ["/var/run/postgresql/.s.PGSQL.5432", "/run/postgresql/.s.PGSQL.5432"],
        "host_paths": [outside_file],
        "marker": marker,
        "workspace_limit": small_policy().workspace_bytes,
        "memory_limit": small_policy().memory_bytes,
        "process_limit": small_policy().max_processes,
    });
    let result = run_one(&code_box, &project, argv(&["python3", "escape.py", &params.to_string()])).await;
    assert!(result.succeeded(), "{}", result.transcript());
    let attempts: Vec<Value> = result.stdout.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let escaped: Vec<&Value> = attempts.iter().filter(|attempt| attempt["escaped"] == true).collect();
    assert!(escaped.is_empty(), "the box leaked: {escaped:#?}\n{}", result.transcript());
    for expected in [
        "jwt-secret",
        "troupe.db",
        "read /proc/1/environ",
        "read the server's /proc/<pid>/environ",
        "list the server's processes",
        "connect to 127.0.0.1:5432",
        "connect to /var/run/postgresql/.s.PGSQL.5432",
        "write /usr/escape",
        "write through a symlink",
        "fork bomb",
        "allocate 4x the memory limit",
        "fill the workspace",
        "done",
    ] {
        assert!(
            attempts.iter().any(|attempt| attempt["attempt"].as_str().unwrap_or_default().contains(expected)),
            "no attempt `{expected}` in the transcript:\n{}",
            result.transcript()
        );
    }
    if matches!(code_box.status().await, BoxStatus::Confined { uid_base: Some(_), .. }) {
        assert!(
            attempts.iter().any(|attempt| attempt["attempt"] == "read a root-owned 0600 file"),
            "{}",
            result.transcript()
        );
    }
    assert!(!outside_file.exists(), "a file was written outside the box");
    assert_none_left(&marker).await;
}

#[tokio::test]
async fn the_box_has_its_own_user_environment_and_no_privileges() {
    let Some(code_box) = confined_box(small_policy(), "the_box_has_its_own_user_environment_and_no_privileges").await
    else {
        return;
    };
    let code = "import os, json\n\
status = dict(line.split(':', 1) for line in open('/proc/self/status'))\n\
print(json.dumps({'uid': os.getuid(), 'env': sorted(os.environ), 'cwd': os.getcwd(), \
'cap_eff': status['CapEff'].strip(), 'no_new_privs': status['NoNewPrivs'].strip(), \
'path': os.environ['PATH'], 'tmp': os.path.realpath('/tmp')}))";
    let result = python(&code_box, code).await;
    assert!(result.succeeded(), "{}", result.transcript());
    let seen: Value = serde_json::from_str(result.stdout.trim()).unwrap();
    assert_eq!(seen["cwd"], "/workspace");
    assert_eq!(seen["tmp"], "/workspace/.tmp");
    assert_eq!(seen["path"], "/usr/local/bin:/usr/bin:/bin");
    assert_eq!(seen["cap_eff"], "0000000000000000");
    assert_eq!(seen["no_new_privs"], "1");
    let env: Vec<&str> = seen["env"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(env.iter().all(|name| !name.contains("KEY") && !name.contains("SECRET") && !name.starts_with("TROUPE")));
    if let BoxStatus::Confined { uid_base: Some(base), .. } = code_box.status().await {
        let uid = seen["uid"].as_u64().unwrap();
        assert!(uid >= u64::from(*base), "the box ran as uid {uid}, not one of its own");
    }
}

#[tokio::test]
async fn a_timeout_or_a_cancel_kills_everything_in_the_box() {
    let policy = SandboxPolicy { timeout: Duration::from_secs(5), ..small_policy() };
    let Some(code_box) = confined_box(policy, "a_timeout_or_a_cancel_kills_everything_in_the_box").await else {
        return;
    };
    let marker = format!("marker-{}", uuid::Uuid::now_v7().simple());
    let code = format!(
        "import os, subprocess, time\n\
subprocess.Popen(['setsid', 'python3', '-c', 'import time; time.sleep(300) # {marker}'])\n\
print('started', flush=True)\n\
time.sleep(300)"
    );
    let result = python(&code_box, &code).await;
    assert!(result.timed_out, "{}", result.transcript());
    assert_none_left(&marker).await;

    let project = Project::new(&[("main.py", &code)]);
    let cancel = CancellationToken::new();
    let commands = [argv(&["python3", "main.py"])];
    let run = BoxRun { owner: UserId::new(), project: &project.dir, commands: &commands, cancel: &cancel };
    let watcher = {
        let (cancel, marker) = (cancel.clone(), marker.clone());
        tokio::spawn(async move {
            // Bounded by the run's own 30 s timeout below.
            let mut every = tokio::time::interval(Duration::from_millis(20));
            while processes_with(&marker).is_empty() {
                every.tick().await;
            }
            cancel.cancel();
        })
    };
    let results = tokio::time::timeout(Duration::from_secs(30), code_box.run(run)).await.unwrap().unwrap();
    watcher.await.unwrap();
    assert!(!results[0].succeeded() && !results[0].timed_out, "{}", results[0].transcript());
    assert_none_left(&marker).await;
}

#[tokio::test]
async fn cpu_time_memory_and_output_are_limited() {
    let policy = SandboxPolicy { cpu_seconds: 1, output_cap: 1000, ..small_policy() };
    let Some(code_box) = confined_box(policy, "cpu_time_memory_and_output_are_limited").await else { return };
    let spin = python(&code_box, "while True: pass").await;
    assert!(!spin.succeeded() && !spin.timed_out, "{}", spin.transcript());
    assert!(matches!(spin.signal, Some(libc::SIGXCPU | libc::SIGKILL)), "{}", spin.transcript());
    let hog = python(&code_box, "x = bytearray(1 << 30)").await;
    assert!(!hog.succeeded(), "{}", hog.transcript());
    let chatty = python(&code_box, "print('x' * 100000)").await;
    assert!(chatty.succeeded() && chatty.truncated && chatty.stdout.len() == 1000, "{}", chatty.transcript());
}

#[tokio::test]
async fn loopback_works_inside_the_box_and_the_project_is_a_copy() {
    let Some(code_box) = confined_box(small_policy(), "loopback_works_inside_the_box_and_the_project_is_a_copy").await
    else {
        return;
    };
    let code = "import socket, os\n\
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
c = socket.create_connection(s.getsockname()); print('loopback ok')\n\
open('main.py', 'a').write('# changed')\n\
print(open('data/input.txt').read())";
    let project = Project::new(&[("main.py", code), ("data/input.txt", "hello")]);
    let result = run_one(&code_box, &project, argv(&["python3", "main.py"])).await;
    assert!(result.succeeded(), "{}", result.transcript());
    assert_eq!(result.stdout, "loopback ok\nhello\n");
    assert!(result.network_isolated && result.confined);
    // The box wrote to its copy, never to troupe's files.
    assert_eq!(std::fs::read_to_string(project.dir.join("main.py")).unwrap(), code);
}

#[tokio::test]
async fn programs_off_the_allow_list_are_refused_and_a_missing_box_fails_closed() {
    let project = Project::new(&[("main.py", "print(1)")]);
    let code_box = CodeBox::new(small_policy());
    for command in [argv(&["curl", "x"]), argv(&["/usr/bin/python3", "main.py"]), Vec::new()] {
        let commands = [command];
        let run = BoxRun {
            owner: UserId::new(),
            project: &project.dir,
            commands: &commands,
            cancel: &CancellationToken::new(),
        };
        assert!(matches!(code_box.run(run).await, Err(SandboxError::NotAllowed { .. } | SandboxError::Empty)));
    }
    let missing = CodeBox::new(SandboxPolicy { bwrap: Path::new("/nonexistent/bwrap").into(), ..small_policy() });
    assert!(matches!(missing.status().await, BoxStatus::Unavailable(_)));
    let commands = [argv(&["python3", "main.py"])];
    let run =
        BoxRun { owner: UserId::new(), project: &project.dir, commands: &commands, cancel: &CancellationToken::new() };
    let error = missing.run(run).await.unwrap_err();
    assert!(matches!(error, SandboxError::Unavailable(_)), "{error}");
}

#[test]
fn the_project_is_written_without_following_links() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // A project directory that is a link is refused.
    let linked = dir.path().join("linked");
    std::os::unix::fs::symlink(&outside, &linked).unwrap();
    assert!(troupe_agents::sandbox::write_files(&linked, [("a.py", "x")]).is_err());
    // A link planted inside is removed with the old tree, never followed.
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::os::unix::fs::symlink(&outside, project.join("src").join("out")).unwrap();
    troupe_agents::sandbox::write_files(&project, [("src/out/escape.py", "x"), ("src/ok.py", "y")]).unwrap();
    assert!(!outside.join("escape.py").exists(), "a write followed a link");
    assert!(project.join("src").join("out").join("escape.py").is_file());
}
