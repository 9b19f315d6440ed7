//! Account deletion: after `DELETE /users/me` nothing of the user's content or personal data
//! remains — not in the API, the relational tables, the raw SQLite files, the vector store or
//! the data dir — their credentials are refused, and another user's data is untouched.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Api, on_both_stores};

on_both_stores!(a_deleted_account_leaves_nothing_behind, deletion);

const MARKER: &str = "ADA-PRIVATE-MARKER-93f1";

fn token(login: &Value) -> String {
    login["access_token"].as_str().unwrap().to_owned()
}

async fn run(api: &Api, token: &str, note: &str, steps: Value) -> String {
    let pipeline = json!({"name": "mine", "steps": steps});
    let (status, body) =
        api.post("/api/v1/executions", token, json!({"pipeline": pipeline, "input": {"note": note}})).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn deletion(api: &Api) {
    let admin = token(&api.admin("root@example.com").await);
    let experiment = json!({"id": "exp-del", "title": "Tone study", "hypothesis": "Polite prompts get better answers"});
    assert_eq!(api.post("/api/v1/experiments", &admin, experiment).await.0, 201);
    let login = api.user("ada@example.com").await;
    let ada = token(&login);
    let ada_id = login["user"]["id"].as_str().unwrap().to_owned();
    let grace = token(&api.user("grace@example.com").await);

    // Ada's things: a finished and a running execution, a memory, a file, a project, a
    // pipeline, an API key, a consent, a workspace on disk.
    let done = run(api, &ada, MARKER, json!([{"key": "hello", "agent": "echo"}])).await;
    let slow = run(api, &ada, MARKER, json!([{"key": "wait", "agent": "sleep", "params": {"ms": 600_000}}])).await;
    let memory = json!({"text": format!("{MARKER}: my daughter is allergic to peanuts"), "kind": "note"});
    assert_eq!(api.post("/api/v1/memories", &ada, memory).await.0, 201);
    let (status, file) = super::files::upload(api, &ada, "notes.txt", format!("{MARKER} in a file").as_bytes()).await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(api.post("/api/v1/projects", &ada, json!({"name": format!("project {MARKER}")})).await.0, 201);
    let pipeline = json!({"name": "ada-pipeline", "description": MARKER, "steps": [{"key": "a", "agent": "echo"}]});
    let (status, body) = api.post("/api/v1/pipelines", &ada, pipeline).await;
    assert_eq!(status, 201, "{body}");
    let (_, key) = api.post("/api/v1/api-keys", &ada, json!({"name": "laptop"})).await;
    let key = key["key"].as_str().unwrap().to_owned();
    assert_eq!(api.post("/api/v1/experiments/exp-del/consent", &ada, json!({"granted": true})).await.0, 200);
    let data_dir = api._dir.path().to_path_buf();
    let workspace = data_dir.join("workspaces").join(&done);
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::write(workspace.join("app.py"), MARKER).unwrap();
    crate::poll(Duration::from_secs(30), "ada's first execution completes", || async {
        let (_, execution) = api.get(&format!("/api/v1/executions/{done}"), &ada).await;
        (execution["status"] == "completed").then_some(())
    })
    .await;

    // Grace's, which must survive.
    let graces = run(api, &grace, "grace's own note", json!([{"key": "hello", "agent": "echo"}])).await;
    let memory = json!({"text": "Grace keeps her notes on the staging database", "kind": "note"});
    assert_eq!(api.post("/api/v1/memories", &grace, memory).await.0, 201);

    // A wrong password deletes nothing; the right one deletes everything.
    let (status, _) = api.call("DELETE", "/api/v1/users/me", Some(&ada), Some(json!({"password": "nope-nope"}))).await;
    assert_eq!(status, 401);
    let (status, report) =
        api.call("DELETE", "/api/v1/users/me", Some(&ada), Some(json!({"password": "password-1"}))).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!((report["executions"].as_u64(), report["cancelled"].as_u64()), (Some(2), Some(1)), "{report}");
    assert_eq!(report["memories"].as_u64(), Some(1), "{report}");
    assert!(report["research"].as_u64().unwrap() >= 1, "the consent: {report}");

    // The audit log keeps the deletion with her bare id, and nothing else of hers.
    let (_, audit) = api.get("/api/v1/audit?limit=200", &admin).await;
    let mentions: Vec<&Value> =
        audit.as_array().unwrap().iter().filter(|row| row.to_string().contains(&ada_id)).collect();
    assert_eq!(mentions.len(), 1, "only the deletion names her: {mentions:?}");
    assert_eq!(mentions[0]["action"], "user_deleted");
    assert!(!audit.to_string().contains("ada@example.com"), "{audit}");

    // Credentials are refused.
    assert_eq!(api.get("/api/v1/auth/me", &ada).await.0, 401);
    assert_eq!(api.get("/api/v1/auth/me", &key).await.0, 401);
    // The admin finds nothing of hers; the workspace is gone.
    assert_eq!(api.get(&format!("/api/v1/users/{ada_id}"), &admin).await.0, 404);
    for id in [&done, &slow] {
        assert_eq!(api.get(&format!("/api/v1/executions/{id}"), &admin).await.0, 404);
    }
    assert!(!workspace.exists());
    let state = &api.server.as_ref().unwrap().state;
    let ada_uuid = troupe_runtime::ids::UserId(ada_id.parse().unwrap());
    assert_eq!(state.memories.vectors().count(ada_uuid).await.unwrap(), 0, "her vectors");
    // Grace's are untouched.
    assert_eq!(api.get(&format!("/api/v1/executions/{graces}"), &grace).await.0, 200);
    let (_, found) = api.post("/api/v1/memories/search", &grace, json!({"query": "staging database notes"})).await;
    assert_eq!(found["results"].as_array().map(Vec::len), Some(1), "{found}");

    // Nothing of hers in the database itself.
    match &api.database {
        None => {
            for entry in walk(&data_dir) {
                let Ok(bytes) = std::fs::read(&entry) else { continue };
                for needle in [MARKER, "ada@example.com"] {
                    assert!(
                        !bytes.windows(needle.len()).any(|window| window == needle.as_bytes()),
                        "`{needle}` is still in {}",
                        entry.display()
                    );
                }
            }
        }
        Some(database) => {
            let pool = sqlx::PgPool::connect(&database.url).await.unwrap();
            let uuid: uuid::Uuid = ada_id.parse().unwrap();
            for (table, column) in [
                ("users", "id"),
                ("executions", "owner_id"),
                ("pipelines", "owner_id"),
                ("projects", "owner_id"),
                ("memories", "user_id"),
                ("files", "owner_id"),
                ("sessions", "user_id"),
                ("api_keys", "user_id"),
                ("account_tokens", "user_id"),
                ("llm_usage", "owner_id"),
                ("research.consent_changes", "user_id"),
            ] {
                let statement = format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1");
                let count: i64 =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(statement)).bind(uuid).fetch_one(&pool).await.unwrap();
                assert_eq!(count, 0, "{table} still holds her rows");
            }
            let steps: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM steps WHERE execution_id = ANY($1)")
                .bind(vec![done.parse::<uuid::Uuid>().unwrap(), slow.parse::<uuid::Uuid>().unwrap()])
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(steps, 0);
            pool.close().await;
        }
    }
    // Last, as it is audited anew (an attempt on an address nobody has).
    let (status, _) = api
        .call("POST", "/api/v1/auth/login", None, Some(json!({"email": "ada@example.com", "password": "password-1"})))
        .await;
    assert_eq!(status, 401);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}
