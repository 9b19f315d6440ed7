//! The whole flow, ownership, idempotency, projects, pipelines, agents and metrics.

use serde_json::{Value, json};

use super::{Api, on_both_stores};

on_both_stores!(register_run_watch_and_download, full_flow);
on_both_stores!(another_users_resources_answer_404, ownership);
on_both_stores!(idempotent_create_returns_the_first_execution, idempotency);
on_both_stores!(retry_reruns_failed_steps_and_keeps_completed_ones, retry);

async fn full_flow(api: &Api) {
    let admin = api.admin("ada@example.com").await;
    assert_eq!(admin["user"]["role"], "admin");
    let token = admin["access_token"].as_str().unwrap();
    let (status, me) = api.get("/api/v1/auth/me", token).await;
    assert_eq!((status, me["email"].as_str()), (200, Some("ada@example.com")));

    let id = api.execute(token, json!("hello"), json!({"name": "Ada", "shout": true})).await;
    let mut ws = api.ws(token).await;
    ws.send(json!({"type": "subscribe", "execution_id": id, "after_seq": 0})).await;
    let events = ws.events_until_terminal().await;
    ws.close().await;
    let seqs: Vec<u64> = events.iter().map(|event| event["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "every event once, in order");
    assert_eq!(events.last().unwrap()["status"], "completed", "{events:?}");

    let (status, execution) = api.get(&format!("/api/v1/executions/{id}"), token).await;
    assert_eq!((status, execution["status"].as_str()), (200, Some("completed")));
    let (_, steps) = api.get(&format!("/api/v1/executions/{id}/steps"), token).await;
    let keys: Vec<&str> = steps.as_array().unwrap().iter().map(|step| step["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["plan", "polite", "loud", "summary"]);
    assert!(steps[0]["attempts"][0]["output"].is_object(), "{steps}");
    let (_, stored_events) = api.get(&format!("/api/v1/executions/{id}/events?after_seq=0"), token).await;
    assert_eq!(stored_events.as_array().unwrap(), &events, "the WebSocket saw exactly the stored events");

    let (status, artifacts) = api.get(&format!("/api/v1/executions/{id}/artifacts"), token).await;
    assert_eq!(status, 200);
    let summary = artifacts.as_array().unwrap().iter().find(|a| a["step"] == "summary").expect("summary artifact");
    let response = api.http.get(api.url(summary["url"].as_str().unwrap())).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let content: Value = response.json().await.unwrap();
    assert_eq!(content["step"], "summary");

    let (status, page) = api.get("/api/v1/executions?status=completed&pipeline=hello", token).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"][0]["id"], id.as_str());

    let (status, agents) = api.get("/api/v1/agents", token).await;
    assert_eq!(status, 200);
    let echo = agents.as_array().unwrap().iter().find(|agent| agent["kind"] == "echo").unwrap();
    assert_eq!(echo["status"], "healthy");

    let metrics = api.http.get(api.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for series in [
        "troupe_http_request_duration_seconds_bucket",
        // Every series names the node it comes from (the constant label comes first).
        "troupe_executions_finished_total{node=\"",
        ",status=\"completed\"} 1",
        "troupe_step_duration_seconds_bucket",
        "troupe_agent_restarts_total",
        "troupe_live_executions",
        "troupe_ws_connections",
    ] {
        assert!(metrics.contains(series), "missing `{series}` in\n{metrics}");
    }
}

async fn ownership(api: &Api) {
    let alice = api.user("alice@example.com").await;
    let bob = api.user("bob@example.com").await;
    let (alice, bob) = (alice["access_token"].as_str().unwrap(), bob["access_token"].as_str().unwrap());
    let (_, project) = api.post("/api/v1/projects", alice, json!({"name": "site"})).await;
    let project = project["id"].as_str().unwrap();
    let (status, created) =
        api.post("/api/v1/executions", alice, json!({"pipeline": "hello", "input": {}, "project_id": project})).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let mut ws = api.ws(alice).await;
    ws.send(json!({"type": "subscribe", "execution_id": id})).await;
    ws.events_until_terminal().await;

    let (_, artifacts) = api.get(&format!("/api/v1/executions/{id}/artifacts"), alice).await;
    let artifact_url = artifacts[0]["url"].as_str().unwrap().to_owned();
    for path in [
        format!("/api/v1/executions/{id}"),
        format!("/api/v1/executions/{id}/steps"),
        format!("/api/v1/executions/{id}/events"),
        format!("/api/v1/executions/{id}/logs"),
        format!("/api/v1/executions/{id}/artifacts"),
        artifact_url,
        format!("/api/v1/projects/{project}"),
    ] {
        let (status, body) = api.get(&path, bob).await;
        assert_eq!(status, 404, "bob reads {path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (status, _) = api.post(&format!("/api/v1/executions/{id}/cancel"), bob, json!({})).await;
    assert_eq!(status, 404);
    let (status, _) = api.call("DELETE", &format!("/api/v1/projects/{project}"), Some(bob), None).await;
    assert_eq!(status, 404);
    let (status, body) = api.post("/api/v1/executions", bob, json!({"pipeline": "hello", "project_id": project})).await;
    assert_eq!(status, 400, "bob cannot file into alice's project: {body}");
    let (_, page) = api.get("/api/v1/executions", bob).await;
    assert_eq!(page["items"], json!([]), "bob lists none of alice's executions");
    let (_, page) = api.get(&format!("/api/v1/executions?project_id={project}"), alice).await;
    assert_eq!(page["items"][0]["id"], id);

    let mut bob_ws = api.ws(bob).await;
    bob_ws.send(json!({"type": "subscribe", "execution_id": id})).await;
    let refused = bob_ws.next_message().await.unwrap();
    assert_eq!((refused["type"].as_str(), refused["code"].as_str()), (Some("error"), Some("not_found")));
    bob_ws.close().await;

    // Pipelines are private too.
    let definition = json!({"name": "mine", "steps": [{"key": "a", "agent": "echo"}]});
    let (status, _) = api.post("/api/v1/pipelines", alice, definition).await;
    assert_eq!(status, 201);
    let (status, _) = api.get("/api/v1/pipelines/mine", bob).await;
    assert_eq!(status, 404);
    let (status, _) = api.post("/api/v1/executions", bob, json!({"pipeline": "mine"})).await;
    assert_eq!(status, 404);
    let (_, listed) = api.get("/api/v1/pipelines", alice).await;
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"mine") && names.contains(&"hello"), "{names:?}");
}

async fn idempotency(api: &Api) {
    let login = api.user("ida@example.com").await;
    let token = login["access_token"].as_str().unwrap();
    let create = || {
        api.http
            .post(api.url("/api/v1/executions"))
            .bearer_auth(token)
            .header("Idempotency-Key", "order-42")
            .json(&json!({"pipeline": "hello", "input": {"n": 1}}))
            .send()
    };
    let (first, second, third) = tokio::join!(create(), create(), create());
    let mut statuses = Vec::new();
    let mut ids = Vec::new();
    for response in [first, second, third] {
        let response = response.unwrap();
        statuses.push(response.status().as_u16());
        ids.push(response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 201], "one create, two repeats");
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    let (_, page) = api.get("/api/v1/executions", token).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
}

async fn retry(api: &Api) {
    let login = api.user("rey@example.com").await;
    let token = login["access_token"].as_str().unwrap();
    let definition = json!({"name": "flaky", "steps": [
        {"key": "first", "agent": "echo"},
        {"key": "second", "agent": "echo", "depends_on": ["first"], "retry": {"max_attempts": 1},
         "params": {"fail_before_attempt": 2}},
    ]});
    let id = api.execute(token, definition, json!({})).await;
    let mut ws = api.ws(token).await;
    ws.send(json!({"type": "subscribe", "execution_id": id})).await;
    let first_run = ws.events_until_terminal().await;
    assert_eq!(first_run.last().unwrap()["status"], "failed");
    let (status, body) = api.post(&format!("/api/v1/executions/{id}/cancel"), token, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("already_finished")));

    let (status, retried) = api.post(&format!("/api/v1/executions/{id}/retry"), token, json!({})).await;
    assert_eq!(status, 200, "{retried}");
    assert!(matches!(retried["status"].as_str(), Some("running" | "completed")), "{retried}");
    let last = first_run.last().unwrap()["seq"].as_u64().unwrap();
    ws.send(json!({"type": "subscribe", "execution_id": id, "after_seq": last})).await;
    let second_run = ws.events_until_terminal().await;
    ws.close().await;
    assert_eq!(second_run.last().unwrap()["status"], "completed", "{second_run:?}");
    assert!(
        second_run.iter().all(|event| event["step"] != "first"),
        "the completed step is not run again: {second_run:?}"
    );
    let (_, steps) = api.get(&format!("/api/v1/executions/{id}/steps"), token).await;
    assert_eq!(steps[0]["attempts"].as_array().unwrap().len(), 1);
    let attempts = steps[1]["attempts"].as_array().unwrap();
    let statuses: Vec<&str> = attempts.iter().map(|a| a["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["failed", "succeeded"], "{steps}");
    let (status, body) = api.post(&format!("/api/v1/executions/{id}/retry"), token, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("not_retryable")));
}
