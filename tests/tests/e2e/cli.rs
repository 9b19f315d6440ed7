//! The CLI's answers to good and bad pipelines.

use std::path::Path;

use crate::troupe;

#[test]
fn pipeline_check_names_the_step_and_field_of_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "name: bad\nsteps:\n  - key: a\n    agent: buildr\n  - key: b\n    agent: echo\n    depends_on: [a]\n    timeout: soon\n",
    )
    .unwrap();
    let output = troupe(dir.path()).args(["pipeline", "check"]).arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("step `a`: agent: unknown agent `buildr`"), "{stderr}");
    assert!(stderr.contains("step `b`: timeout: invalid duration `soon`"), "{stderr}");
}

#[test]
fn a_shipped_example_runs_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello.yaml");
    let output = troupe(dir.path())
        .arg("run")
        .arg(&example)
        .args(["--input", r#"{"name": "Ada", "shout": false}"#])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("step loud skipped: condition `input.shout` is false"), "{stdout}");
    assert!(stdout.contains("execution completed"), "{stdout}");
}

#[test]
fn the_published_schema_is_the_one_the_code_generates() {
    let dir = tempfile::tempdir().unwrap();
    let output = troupe(dir.path()).args(["pipeline", "schema"]).output().unwrap();
    assert!(output.status.success());
    let generated: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let published = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/pipeline.schema.json"))
        .expect("docs/pipeline.schema.json is published");
    let published: serde_json::Value = serde_json::from_str(&published).unwrap();
    assert_eq!(generated, published, "regenerate with `troupe pipeline schema > docs/pipeline.schema.json`");
}

#[test]
fn gc_purges_finished_executions_and_says_what_it_removed() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello.yaml");
    let run = troupe(dir.path()).arg("run").arg(&example).args(["--input", r#"{"name": "Ada"}"#]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let nothing = troupe(dir.path()).arg("gc").output().unwrap();
    assert!(String::from_utf8_lossy(&nothing.stdout).contains("nothing to do"));
    let kept = troupe(dir.path()).args(["gc", "--retention-executions", "1h"]).output().unwrap();
    assert!(String::from_utf8_lossy(&kept.stdout).contains("purged 0 finished executions"), "a fresh run is kept");
    let purged = troupe(dir.path()).args(["gc", "--retention-executions", "0s"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&purged.stdout);
    assert!(purged.status.success(), "{stdout}{}", String::from_utf8_lossy(&purged.stderr));
    assert!(stdout.starts_with("purged 1 finished executions ("), "{stdout}");
    assert!(!stdout.contains("(0 log lines, 0 events"), "its history went: {stdout}");
    let bad = troupe(dir.path()).args(["gc", "--retention-executions", "soon"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--retention-executions"));
}

#[test]
fn plugin_add_registers_an_example_and_names_every_problem_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/examples");
    let output = troupe(dir.path()).args(["plugin", "add"]).arg(examples.join("shout")).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("registered plugin `shout`") && stdout.contains("agent `shout`"), "{stdout}");
    let listed = troupe(dir.path()).args(["plugin", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("shout 1.0.0 (wasm, custom)"));
    // The research example needs its experiment first.
    let output = troupe(dir.path()).args(["plugin", "add"]).arg(examples.join("tone")).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("research.experiment: no experiment `tone-study`"));
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("plugin.toml"),
        "name = \"Bad Name\"\nversion = \"1\"\nkind = \"wasm\"\ntrack = \"research\"\nentry = \"m.wat\"\n\
         [research]\nexperiment = \"e\"\nhypothesis = \"\"\nconsent_required = false\nflag = \"f\"\nmetrics = []\n",
    )
    .unwrap();
    let output = troupe(dir.path()).args(["plugin", "add"]).arg(&bad).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for field in ["name:", "version:", "research.hypothesis:", "research.consent_required:", "research.metrics:"] {
        assert!(stderr.contains(field), "{field} missing from {stderr}");
    }
}

#[test]
fn the_published_plugin_schema_is_the_one_the_code_generates() {
    let dir = tempfile::tempdir().unwrap();
    let output = troupe(dir.path()).args(["plugin", "schema"]).output().unwrap();
    assert!(output.status.success());
    let generated: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let published = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/plugin.schema.json"))
        .expect("docs/plugin.schema.json is published");
    let published: serde_json::Value = serde_json::from_str(&published).unwrap();
    assert_eq!(generated, published, "regenerate with `troupe plugin schema > docs/plugin.schema.json`");
}

#[test]
fn admin_delete_user_removes_an_account_but_never_the_last_admin() {
    let dir = tempfile::tempdir().unwrap();
    let admin = |args: &[&str]| {
        let output = troupe(dir.path())
            .arg("admin")
            .args(args)
            .env("TROUPE_NEW_USER_PASSWORD", "cli-password-1")
            .env("TROUPE_INSECURE_FAST_HASHING", "true")
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    };
    for email in ["root@example.com", "bob@example.com"] {
        let (created, output) = admin(&["create-user", "--email", email]);
        assert!(created, "{output}");
    }
    let (deleted, output) = admin(&["delete-user", "--email", "Bob@Example.com"]);
    assert!(deleted && output.contains("deleted bob@example.com"), "{output}");
    let (again, output) = admin(&["delete-user", "--email", "bob@example.com"]);
    assert!(!again && output.contains("no account has the email bob@example.com"), "{output}");
    let (last, output) = admin(&["delete-user", "--email", "root@example.com"]);
    assert!(!last && output.contains("last admin"), "{output}");
}
