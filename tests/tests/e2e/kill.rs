//! SIGKILL the real binary mid-run, start it again, and check that nothing was lost.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use troupe_memory::SqliteStore;
use troupe_runtime::status::{ExecutionStatus, StepStatus};
use troupe_runtime::store::{ExecutionQuery, ExecutionStore};

use crate::troupe;

const EXECUTIONS: usize = 12;

const STEPS: [&str; 6] = ["one", "two", "three", "four", "five", "six"];

/// Writes a linear pipeline of slow steps: after the first layer completes, over a second of
/// work is left, so the kill always lands mid-run even on a loaded machine.
fn slow_pipeline(dir: &Path) -> PathBuf {
    let steps: Vec<serde_json::Value> = STEPS
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let mut step = serde_json::json!({ "key": key, "agent": "sleep", "params": { "ms": 250 } });
            if index > 0 {
                step["depends_on"] = serde_json::json!([STEPS[index - 1]]);
            }
            step
        })
        .collect();
    let path = dir.join("slow.json");
    std::fs::write(&path, serde_json::json!({ "name": "slow", "steps": steps }).to_string()).unwrap();
    path
}

/// Waits for the child to exit, killing it and failing the test past `deadline`.
pub(crate) fn wait_with_deadline(mut child: Child, deadline: Duration) -> std::process::ExitStatus {
    let (sender, receiver) = mpsc::channel();
    let pid = child.id();
    let waiter = std::thread::spawn(move || {
        let status = child.wait();
        let _ = sender.send(());
        status
    });
    if receiver.recv_timeout(deadline).is_err() {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        panic!("the process did not finish within {deadline:?}");
    }
    waiter.join().unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_resumes_every_execution_without_duplicating_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut child = troupe(&data_dir)
        .args(["run", "--count", &EXECUTIONS.to_string(), "--json"])
        .arg(slow_pipeline(dir.path()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read the live event stream until some steps have completed, then kill -9.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut completed = 0;
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            let event: serde_json::Value = serde_json::from_str(&line).expect("--json prints one event per line");
            if event["type"] == "step_status" && event["status"] == "completed" {
                completed += 1;
                if completed == EXECUTIONS {
                    let _ = sender.send(());
                }
            }
        }
    });
    receiver.recv_timeout(Duration::from_secs(60)).expect("steps completed before the deadline");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let db = data_dir.join("troupe.db");
    let unfinished = {
        let store = SqliteStore::open(&db).await.unwrap();
        let all =
            store.list_executions(&ExecutionQuery { limit: Some(100), ..ExecutionQuery::default() }).await.unwrap();
        assert_eq!(all.len(), EXECUTIONS, "every execution was stored before it ran");
        let unfinished = all.iter().filter(|record| !record.status.is_terminal()).count();
        store.close().await;
        unfinished
    };
    assert!(unfinished > 0, "the kill came before the executions finished");

    let resume =
        troupe(&data_dir).args(["resume", "--json"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let status = wait_with_deadline(resume, Duration::from_secs(120));
    assert!(status.success(), "troupe resume finished every execution: {status}");

    let store = SqliteStore::open(&db).await.unwrap();
    let all = store.list_executions(&ExecutionQuery { limit: Some(100), ..ExecutionQuery::default() }).await.unwrap();
    assert_eq!(all.len(), EXECUTIONS);
    for record in &all {
        assert_eq!(record.status, ExecutionStatus::Completed, "execution {}", record.id);
        let steps = store.list_steps(record.id).await.unwrap();
        assert!(steps.iter().all(|step| step.status == StepStatus::Completed));
        let artifacts = store.list_artifacts(record.id).await.unwrap();
        let names: Vec<String> =
            artifacts.iter().map(|artifact| format!("{}/{}", artifact.step_key, artifact.name)).collect();
        let mut expected: Vec<String> = STEPS.iter().map(|key| format!("{key}/{key}.json")).collect();
        expected.sort();
        assert_eq!(names, expected, "each step's artifact exactly once");
        let events = store.list_events(record.id, 0, 10_000).await.unwrap();
        let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
        assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "no gap or duplicate in the event log");
    }
    store.close().await;
}
