//! Retention by status: each window removes what it should and nothing else — completed
//! executions, failed and cancelled ones, log lines, ended sessions, unverified accounts.

use std::time::Duration;

use serde_json::{Value, json};
use troupe::retention::{RetentionPolicy, Stores, run};
use troupe_runtime::accounts::UserUpdate;
use troupe_runtime::ids::{ExecutionId, UserId};

use super::{Api, on_both_stores};

on_both_stores!(each_retention_window_removes_what_it_should_and_nothing_else, windows);

fn token(login: &Value) -> String {
    login["access_token"].as_str().unwrap().to_owned()
}

/// Starts a pipeline of `steps` and waits until it stops running.
async fn finished(api: &Api, token: &str, steps: Value, cancel: bool) -> String {
    let (status, body) =
        api.post("/api/v1/executions", token, json!({"pipeline": {"name": "kept", "steps": steps}, "input": {}})).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    if cancel {
        let (status, body) = api.post(&format!("/api/v1/executions/{id}/cancel"), token, json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    crate::poll(Duration::from_secs(30), "the execution finishes", || async {
        let (_, execution) = api.get(&format!("/api/v1/executions/{id}"), token).await;
        ["completed", "failed", "cancelled"].contains(&execution["status"].as_str().unwrap_or("")).then_some(())
    })
    .await;
    id
}

async fn pass(api: &Api, policy: RetentionPolicy) -> troupe::retention::RetentionReport {
    let state = &api.server.as_ref().unwrap().state;
    let deletion = state.deletion();
    let stores = Stores {
        executions: state.runtime.store().as_ref(),
        accounts: state.auth.store().as_ref(),
        memories: Some(&state.memories),
        deletion: Some(&deletion),
        workspaces: None,
    };
    run(policy, stores).await.unwrap()
}

fn window(set: impl FnOnce(&mut RetentionPolicy)) -> RetentionPolicy {
    let mut policy = RetentionPolicy::default();
    set(&mut policy);
    policy
}

async fn windows(api: &Api) {
    let admin = token(&api.admin("root@example.com").await);
    let login = api.user("grace@example.com").await;
    let grace = token(&login);
    let grace_id = UserId(login["user"]["id"].as_str().unwrap().parse().unwrap());
    let state = &api.server.as_ref().unwrap().state;
    let accounts = state.auth.store();
    let verified = UserUpdate { email_verified_at: Some(chrono::Utc::now()), ..UserUpdate::default() };
    accounts.update_user(grace_id, &verified).await.unwrap();
    let echo = json!([{"key": "hello", "agent": "echo"}]);
    let slow = json!([{"key": "wait", "agent": "sleep", "params": {"ms": 600_000}}]);
    let completed = finished(api, &grace, echo.clone(), false).await;
    let cancelled = finished(api, &grace, slow, true).await;
    let store = state.runtime.store();
    let id = |text: &str| ExecutionId(text.parse().unwrap());
    let log_lines = store.list_logs(id(&completed)).await.unwrap().len();
    assert!(log_lines > 0, "the completed execution logged");
    let now = Duration::ZERO;

    // Logs: the lines go, the executions stay.
    let report = pass(api, window(|policy| policy.logs = Some(now))).await;
    assert!(report.logs as usize >= log_lines, "{report:?}");
    assert!(store.list_logs(id(&completed)).await.unwrap().is_empty());
    assert!(store.get_execution(id(&completed)).await.unwrap().is_some());
    // Completed: only the completed one goes.
    let report = pass(api, window(|policy| policy.completed = Some(now))).await;
    assert_eq!(report.deleted, 1, "{report:?}");
    assert!(store.get_execution(id(&completed)).await.unwrap().is_none());
    assert!(store.get_execution(id(&cancelled)).await.unwrap().is_some());
    // Failed (and cancelled): now that one.
    let report = pass(api, window(|policy| policy.failed = Some(now))).await;
    assert_eq!(report.deleted, 1, "{report:?}");
    assert!(store.get_execution(id(&cancelled)).await.unwrap().is_none());
    // A window of a day removes nothing that is minutes old.
    let day = Duration::from_secs(86_400);
    let later = finished(api, &grace, echo, false).await;
    let report = pass(
        api,
        window(|policy| {
            (policy.completed, policy.failed, policy.logs, policy.sessions, policy.unverified) =
                (Some(day), Some(day), Some(day), Some(day), Some(day))
        }),
    )
    .await;
    assert_eq!((report.deleted, report.logs, report.sessions, report.accounts), (0, 0, 0, 0), "{report:?}");
    assert!(store.get_execution(id(&later)).await.unwrap().is_some());

    // Sessions: an ended one goes, a live one stays.
    let ended = token(&api.login("grace@example.com", "password-1").await);
    assert_eq!(api.call("POST", "/api/v1/auth/logout", Some(&ended), None).await.0, 204);
    let before = accounts.list_user_sessions(grace_id).await.unwrap().len();
    let report = pass(api, window(|policy| policy.sessions = Some(now))).await;
    assert!(report.sessions >= 1, "{report:?}");
    assert_eq!(accounts.list_user_sessions(grace_id).await.unwrap().len(), before - report.sessions as usize);
    assert_eq!(api.get("/api/v1/auth/me", &grace).await.0, 200, "the live session still works");

    // Unverified: the account that never verified goes; the verified one and the admin stay.
    let unverified = api.user("ada@example.com").await;
    let ada = UserId(unverified["user"]["id"].as_str().unwrap().parse().unwrap());
    let report = pass(api, window(|policy| policy.unverified = Some(now))).await;
    assert_eq!(report.accounts, 1, "{report:?}");
    assert!(accounts.get_user(ada).await.unwrap().is_none());
    assert!(accounts.get_user(grace_id).await.unwrap().is_some());
    assert_eq!(api.get("/api/v1/auth/me", &admin).await.0, 200);
}
