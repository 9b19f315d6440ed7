//! Approval steps through the API: who may decide, approve, reject, time out, deciding twice
//! or at once, and a thousand parked executions that hold nothing.

use std::time::Duration;

use serde_json::{Value, json};
use troupe_runtime::SubmitRequest;
use troupe_runtime::pipeline::PipelineDef;
use troupe_runtime::status::ExecutionStatus;
use troupe_runtime::store::ExecutionQuery;

use super::{Api, on_both_stores};
use crate::poll;

on_both_stores!(approval_steps_wait_for_the_people_they_name, approvals);
on_both_stores!(a_rejected_or_timed_out_approval_runs_its_failure_handler, rejection_and_timeout);
on_both_stores!(a_decision_sent_twice_or_at_once_has_one_effect, one_effect);
on_both_stores!(parked_executions_hold_no_task_slot_or_lease, parked);

const DEADLINE: Duration = Duration::from_secs(60);

/// `draft` → `review` (approval) → `ship`, with `fix` as the failure handler.
fn reviewed(approval: Value) -> Value {
    json!({
        "name": "reviewed",
        "on_failure": "fix",
        "steps": [
            {"key": "draft", "agent": "echo"},
            {"key": "review", "agent": "approval", "depends_on": ["draft"], "params": approval},
            {"key": "ship", "agent": "echo", "depends_on": ["review"]},
            {"key": "fix", "agent": "echo"}
        ]
    })
}

/// Waits until execution `id` is in `status`; returns it.
async fn wait_status(api: &Api, token: &str, id: &str, status: &str) -> Value {
    poll(DEADLINE, &format!("execution {id} is {status}"), || async move {
        let (code, body) = api.get(&format!("/api/v1/executions/{id}"), token).await;
        assert_eq!(code, 200, "{body}");
        (body["status"] == status).then_some(body)
    })
    .await
}

async fn step(api: &Api, token: &str, id: &str, key: &str) -> Value {
    let (status, steps) = api.get(&format!("/api/v1/executions/{id}/steps"), token).await;
    assert_eq!(status, 200, "{steps}");
    steps.as_array().unwrap().iter().find(|step| step["key"] == key).cloned().unwrap()
}

async fn events_of(api: &Api, token: &str, id: &str, kind: &str) -> Vec<Value> {
    let (status, events) = api.get(&format!("/api/v1/executions/{id}/events?after_seq=0&limit=1000"), token).await;
    assert_eq!(status, 200, "{events}");
    events.as_array().unwrap().iter().filter(|event| event["type"] == kind).cloned().collect()
}

async fn approvals(api: &Api) {
    let owner = api.user("olga@example.com").await;
    let token = owner["access_token"].as_str().unwrap();
    let carol = api.user("carol@example.com").await;
    let carol_token = carol["access_token"].as_str().unwrap();
    let dave = api.user("dave@example.com").await;
    let dave_token = dave["access_token"].as_str().unwrap();
    let admin = api.admin("ada@example.com").await;
    let admin_token = admin["access_token"].as_str().unwrap();

    let approval = json!({
        "prompt": "Ship {{ input.what }}? The draft said {{ steps.draft.output.input.what }}.",
        "approvers": {"owner": false, "users": [carol["user"]["id"]]}
    });
    let id = api.execute(token, reviewed(approval), json!({"what": "v1"})).await;
    wait_status(api, token, &id, "waiting").await;
    assert_eq!(step(api, token, &id, "review").await["status"], "waiting");
    assert_eq!(step(api, token, &id, "ship").await["status"], "pending");
    assert_eq!(api.state().runtime.live_executions(), 0, "a parked execution holds no admission slot");

    let (status, listed) = api.get(&format!("/api/v1/executions/{id}/approvals"), token).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed[0]["prompt"], "Ship v1? The draft said v1.");
    assert!(listed[0]["decision"].is_null(), "{listed}");

    let approve = format!("/api/v1/executions/{id}/steps/review/approve");
    // Dave cannot see the execution; the admin sees it but is not named; nor is the owner.
    let (status, body) = api.post(&approve, dave_token, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, body) = api.post(&approve, admin_token, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
    let (status, body) = api.post(&approve, token, json!({})).await;
    assert_eq!(status, 403, "{body}");
    // A step that asked for nothing, and one that does not exist.
    let (status, body) =
        api.post(&format!("/api/v1/executions/{id}/steps/draft/approve"), carol_token, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("not_waiting")), "{body}");
    let (status, _) = api.post(&format!("/api/v1/executions/{id}/steps/nope/approve"), carol_token, json!({})).await;
    assert_eq!(status, 404);
    let (status, body) = api.post(&approve, carol_token, json!({"comment": "x".repeat(5000)})).await;
    assert_eq!((status, body["error"]["details"]["fields"][0]["field"].as_str()), (400, Some("comment")), "{body}");

    // Carol, named by the step, sees the execution's approvals and decides.
    let (status, decided) = api.post(&approve, carol_token, json!({"comment": "looks right"})).await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["decision"], "approved");
    assert_eq!(decided["decided_by"], carol["user"]["id"]);
    let done = wait_status(api, token, &id, "completed").await;
    assert!(done["error"].is_null(), "{done}");
    let review = step(api, token, &id, "review").await;
    assert_eq!(review["status"], "completed");
    let output = &review["attempts"][0]["output"];
    assert_eq!((output["decision"].as_str(), output["comment"].as_str()), (Some("approved"), Some("looks right")));
    assert_eq!(output["decided_by"], carol["user"]["id"]);
    assert_eq!(step(api, token, &id, "ship").await["status"], "completed");
    assert_eq!(step(api, token, &id, "fix").await["status"], "skipped");

    let statuses: Vec<Value> =
        events_of(api, token, &id, "execution_status").await.into_iter().map(|event| event["status"].clone()).collect();
    assert_eq!(statuses, ["planned", "running", "waiting", "running", "completed"]);
    let requested = events_of(api, token, &id, "approval_requested").await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["prompt"], "Ship v1? The draft said v1.");
    let decided = events_of(api, token, &id, "approval_decided").await;
    assert_eq!(decided.len(), 1);
    assert_eq!(
        (decided[0]["decision"].as_str(), decided[0]["by"].clone()),
        (Some("approved"), carol["user"]["id"].clone())
    );

    // Once decided, the same decision answers again; the other one is refused.
    let (status, again) = api.post(&approve, carol_token, json!({})).await;
    assert_eq!((status, again["decision"].as_str()), (200, Some("approved")), "{again}");
    let reject = format!("/api/v1/executions/{id}/steps/review/reject");
    let (status, body) = api.post(&reject, carol_token, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("already_decided")), "{body}");
}

async fn rejection_and_timeout(api: &Api) {
    let owner = api.user("rita@example.com").await;
    let token = owner["access_token"].as_str().unwrap();

    let id = api.execute(token, reviewed(json!({"prompt": "Ship it?"})), json!({})).await;
    wait_status(api, token, &id, "waiting").await;
    let (status, body) =
        api.post(&format!("/api/v1/executions/{id}/steps/review/reject"), token, json!({"comment": "not yet"})).await;
    assert_eq!((status, body["decision"].as_str()), (200, Some("rejected")), "{body}");
    let failed = wait_status(api, token, &id, "failed").await;
    assert_eq!(failed["error"]["details"]["error"]["code"], "approval_rejected", "{failed}");
    let review = step(api, token, &id, "review").await;
    assert_eq!(
        (review["status"].as_str(), review["error"]["code"].as_str()),
        (Some("failed"), Some("approval_rejected"))
    );
    assert_eq!(review["attempts"][0]["output"]["comment"], "not yet");
    assert_eq!(step(api, token, &id, "fix").await["status"], "completed", "the failure handler ran");
    assert_eq!(step(api, token, &id, "ship").await["status"], "skipped");

    let id = api.execute(token, reviewed(json!({"timeout": "300ms"})), json!({})).await;
    let failed = wait_status(api, token, &id, "failed").await;
    assert_eq!(failed["error"]["details"]["error"]["code"], "approval_timed_out", "{failed}");
    let review = step(api, token, &id, "review").await;
    assert_eq!(review["attempts"][0]["status"], "timed_out");
    assert_eq!(step(api, token, &id, "fix").await["status"], "completed", "the failure handler ran");
    let (status, late) = api.post(&format!("/api/v1/executions/{id}/steps/review/approve"), token, json!({})).await;
    assert_eq!((status, late["error"]["code"].as_str()), (409, Some("already_decided")), "{late}");
    let decided = events_of(api, token, &id, "approval_decided").await;
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0]["decision"], "timed_out");
    assert!(decided[0]["by"].is_null());

    // A bad approval step is refused before it runs, naming the field.
    let bad = reviewed(json!({"timeout": "soon"}));
    let (status, body) = api.post("/api/v1/executions", token, json!({"pipeline": bad})).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("params.timeout"), "{body}");
}

async fn one_effect(api: &Api) {
    let owner = api.user("oscar@example.com").await;
    let token = owner["access_token"].as_str().unwrap();
    let colleague = api.user("cleo@example.com").await;
    let colleague_token = colleague["access_token"].as_str().unwrap();
    let approval = json!({"approvers": {"owner": true, "users": [colleague["user"]["id"]]}});

    // The same decision from two people at once: both are told it is approved, once.
    let id = api.execute(token, reviewed(approval.clone()), json!({})).await;
    wait_status(api, token, &id, "waiting").await;
    let path = format!("/api/v1/executions/{id}/steps/review/approve");
    let (one, two) = tokio::join!(api.post(&path, token, json!({})), api.post(&path, colleague_token, json!({})));
    assert_eq!((one.0, two.0), (200, 200), "{one:?} {two:?}");
    assert_eq!(one.1["decided_by"], two.1["decided_by"], "one decider");
    wait_status(api, token, &id, "completed").await;
    assert_eq!(events_of(api, token, &id, "approval_decided").await.len(), 1);

    // Opposite decisions at once: one wins, the other is refused.
    let id = api.execute(token, reviewed(approval), json!({})).await;
    wait_status(api, token, &id, "waiting").await;
    let approve = format!("/api/v1/executions/{id}/steps/review/approve");
    let reject = format!("/api/v1/executions/{id}/steps/review/reject");
    let (one, two) = tokio::join!(api.post(&approve, token, json!({})), api.post(&reject, colleague_token, json!({})));
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{one:?} {two:?}");
    let winner = if one.0 == 200 { "completed" } else { "failed" };
    wait_status(api, token, &id, winner).await;
    assert_eq!(events_of(api, token, &id, "approval_decided").await.len(), 1);
}

async fn parked(api: &Api) {
    let owner = api.user("pia@example.com").await;
    let token = owner["access_token"].as_str().unwrap();
    let owner_id = troupe_runtime::ids::UserId(owner["user"]["id"].as_str().unwrap().parse().unwrap());
    let runtime = &api.state().runtime;
    let tasks = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
    let before = tasks();

    let def = PipelineDef::from_value(json!({
        "name": "parked",
        "steps": [{"key": "ok", "agent": "approval", "params": {"timeout": "1h"}}]
    }))
    .unwrap();
    let pipeline = runtime.validate(def).unwrap();
    let mut ids = Vec::new();
    for chunk in 0..10 {
        let submissions = (0..100).map(|index| {
            let mut request = SubmitRequest::new(pipeline.clone(), json!({"n": chunk * 100 + index}));
            request.owner = owner_id;
            runtime.submit(request)
        });
        for id in futures::future::join_all(submissions).await {
            ids.push(id.unwrap());
        }
    }
    let store = runtime.store();
    poll(DEADLINE, "1,000 executions parked", || async move {
        let query =
            ExecutionQuery { status: Some(ExecutionStatus::Waiting), limit: Some(2000), ..ExecutionQuery::default() };
        (store.list_executions(&query).await.unwrap().len() == 1000).then_some(())
    })
    .await;
    assert_eq!(runtime.live_executions(), 0, "no admission slot is held");
    assert!(store.leased_by(runtime.node_id()).await.unwrap().is_empty(), "no lease is held");
    let after = tasks();
    assert!(after < before + 50, "1,000 parked executions hold no task each: {before} tasks before, {after} after");

    // A parked execution is cancelled at once, and one approved runs to its end.
    let (status, body) = api.post(&format!("/api/v1/executions/{}/cancel", ids[0]), token, json!({})).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("cancelled")), "{body}");
    let (status, _) = api.post(&format!("/api/v1/executions/{}/steps/ok/approve", ids[1]), token, json!({})).await;
    assert_eq!(status, 200);
    wait_status(api, token, &ids[1].to_string(), "completed").await;
}
