//! The typed Python client generated from the OpenAPI document (clients/python) works against
//! a live server: the script clients/tests/flow.py signs in, runs `hello`, pages through
//! executions, reads steps, logs and artifacts, and handles a 404 and a 422.

use std::path::Path;

use crate::api::{Api, Backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_python_client_drives_the_api() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    // A virtual environment under target/ with the client installed (.ci/run prepared it).
    let prepared = tokio::process::Command::new(workspace.join("clients/python-venv.sh")).output().await.unwrap();
    assert!(prepared.status.success(), "{}", String::from_utf8_lossy(&prepared.stderr));
    let api = Api::start(Backend::Sqlite, "python_client").await.unwrap();
    let output = tokio::process::Command::new(workspace.join("target/python-client/bin/python"))
        .arg(workspace.join("clients/tests/flow.py"))
        .env("TROUPE_URL", api.url(""))
        .output()
        .await
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the script failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("python client: ok"), "{stdout}");
    api.stop().await;
}
