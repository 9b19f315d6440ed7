use super::*;

#[test]
fn modes_are_named_as_what_they_are() {
    assert_eq!("bwrap".parse(), Ok(SandboxMode::Confined));
    assert_eq!("".parse(), Ok(SandboxMode::Confined));
    assert_eq!("Unconfined-Development".parse(), Ok(SandboxMode::UnconfinedDevelopment));
    // Nothing that merely sounds like "off" turns the box off.
    for spelling in ["none", "off", "unconfined", "false"] {
        assert!(spelling.parse::<SandboxMode>().is_err(), "{spelling}");
    }
}

#[test]
fn escaping_paths_are_refused() {
    assert!(safe_relative("../etc/passwd").is_err());
    assert!(safe_relative("/etc/passwd").is_err());
    assert!(safe_relative("a/../../b").is_err());
    assert!(safe_relative("").is_err());
    assert!(safe_relative("backend/app.py").is_ok());
}

#[test]
fn the_box_command_line_unshares_everything_and_exposes_only_the_workspace() {
    let policy = SandboxPolicy::default();
    let layout = confined::Layout::default();
    let setup = confined::Setup { policy: &policy, layout: &layout, uid: None, cgroup_procs: None };
    let args: Vec<String> = confined::bwrap_args(&setup, &["python3".into(), "x.py".into()])
        .iter()
        .map(|a| a.to_string_lossy().into())
        .collect();
    let joined = args.join(" ");
    for expected in [
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--clearenv",
        "--remount-ro /",
        "--ro-bind-fd 3 /project",
        "--tmpfs /workspace",
        "--setenv PATH /usr/local/bin:/usr/bin:/bin",
    ] {
        assert!(joined.contains(expected), "`{expected}` missing from {joined}");
    }
    assert!(!joined.contains("--share-net") && !joined.contains("--bind /"), "{joined}");
    assert!(joined.ends_with("troupe-box python3 x.py"), "{joined}");
}
