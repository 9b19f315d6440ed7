//! The plugin track over the API: register a WASM research plugin, switch on its flag,
//! consent, run a pipeline that uses it, revoke and see it skipped, and the experiment's owner
//! reads differentially private aggregates until the budget is spent — with every permission
//! checked (users change only their own consent; admins alone manage flags and plugins).

use base64::Engine;
use serde_json::{Value, json};

use super::{Api, on_both_stores};

on_both_stores!(the_research_track_end_to_end, research_track);
on_both_stores!(a_custom_plugin_is_an_agent_registered_at_run_time, custom_plugin);

fn tone() -> Value {
    let manifest: toml::Value = toml::from_str(include_str!("../../../../plugins/examples/tone/plugin.toml")).unwrap();
    let module =
        base64::engine::general_purpose::STANDARD.encode(include_bytes!("../../../../plugins/examples/tone/tone.wat"));
    json!({"manifest": serde_json::to_value(manifest).unwrap(), "module_base64": module})
}

fn fields(body: &Value) -> Vec<String> {
    body["error"]["details"]["fields"]
        .as_array()
        .map(|fields| fields.iter().filter_map(|field| field["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Runs `[tone (optional), after]` for `token`'s user; returns the tone step.
async fn run_tone(api: &Api, token: &str) -> Value {
    let pipeline = json!({"name": "with-tone", "steps": [
        {"key": "tone", "agent": "tone", "optional": true},
        {"key": "after", "agent": "echo", "depends_on": ["tone"]}
    ]});
    let id = api.execute(token, pipeline, json!({"message": "Great news!!!"})).await;
    let mut ws = api.ws(token).await;
    ws.send(json!({"type": "subscribe", "execution_id": id, "after_seq": 0})).await;
    let events = ws.events_until_terminal().await;
    ws.close().await;
    assert_eq!(events.last().unwrap()["status"], "completed", "{events:#?}");
    let (_, steps) = api.get(&format!("/api/v1/executions/{id}/steps"), token).await;
    steps[0].clone()
}

async fn research_track(api: &Api) {
    let admin = api.admin("admin@example.com").await;
    let admin = admin["access_token"].as_str().unwrap().to_owned();
    let researcher = api.user("rhea@example.com").await;
    let researcher_id = researcher["user"]["id"].as_str().unwrap().to_owned();
    let user = api.user("uma@example.com").await;
    let user = user["access_token"].as_str().unwrap().to_owned();
    let (status, _) = api
        .call("PATCH", &format!("/api/v1/users/{researcher_id}"), Some(&admin), Some(json!({"role": "researcher"})))
        .await;
    assert_eq!(status, 200);
    let researcher = api.login("rhea@example.com", "password-1").await["access_token"].as_str().unwrap().to_owned();

    // A research plugin needs its experiment; only researchers create experiments.
    let (status, body) = api.post("/api/v1/plugins", &admin, tone()).await;
    assert_eq!((status, fields(&body)), (400, vec!["research.experiment".to_owned()]), "{body}");
    let experiment = json!({"id": "tone-study", "title": "Tone of inputs", "hypothesis": "Longer inputs shout more."});
    let (status, _) = api.post("/api/v1/experiments", &user, experiment.clone()).await;
    assert_eq!(status, 403);
    let (status, body) =
        api.post("/api/v1/experiments", &researcher, json!({"id": "x", "title": "t", "hypothesis": " "})).await;
    assert_eq!((status, fields(&body)), (400, vec!["hypothesis".to_owned()]));
    let (status, created) = api.post("/api/v1/experiments", &researcher, experiment).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!((created["epsilon_total"].as_f64(), created["epsilon_per_release"].as_f64()), (Some(2.0), Some(0.5)));

    // Only admins register plugins; a manifest without consent is refused by field.
    let (status, _) = api.post("/api/v1/plugins", &researcher, tone()).await;
    assert_eq!(status, 403);
    let mut no_consent = tone();
    no_consent["manifest"]["research"]["consent_required"] = json!(false);
    let (status, body) = api.post("/api/v1/plugins", &admin, no_consent).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_manifest")));
    assert_eq!(fields(&body), ["research.consent_required"]);
    let (status, plugin) = api.post("/api/v1/plugins", &admin, tone()).await;
    assert_eq!(status, 201, "{plugin}");
    assert_eq!((plugin["status"].as_str(), plugin["agent"].as_str()), (Some("running"), Some("tone")));

    // Flag off: skipped with the reason. Only admins manage flags.
    let step = run_tone(api, &user).await;
    assert_eq!(step["status"], "skipped");
    assert!(step["error"]["message"].as_str().unwrap().contains("feature flag"), "{step}");
    let flag = json!({"enabled": true, "rollout_percent": 100});
    let (status, _) = api.call("PUT", "/api/v1/flags/plugin.tone", Some(&user), Some(flag.clone())).await;
    assert_eq!(status, 403);
    let (status, body) = api
        .call("PUT", "/api/v1/flags/plugin.tone", Some(&admin), Some(json!({"enabled": true, "rollout_percent": 101})))
        .await;
    assert_eq!((status, fields(&body)), (400, vec!["rollout_percent".to_owned()]));
    let (status, _) = api.call("PUT", "/api/v1/flags/plugin.tone", Some(&admin), Some(flag)).await;
    assert_eq!(status, 200);

    // Flag on, no consent: skipped. Consent: it runs.
    let step = run_tone(api, &user).await;
    assert_eq!(step["status"], "skipped");
    assert!(step["error"]["message"].as_str().unwrap().contains("not consented"), "{step}");
    let (status, view) = api.post("/api/v1/experiments/tone-study/consent", &user, json!({"granted": true})).await;
    assert_eq!((status, view["consented"].as_bool()), (200, Some(true)));
    let step = run_tone(api, &user).await;
    assert_eq!(step["status"], "completed", "{step}");
    assert!(step["attempts"][0]["output"]["bytes"].as_u64().unwrap() > 0, "{step}");
    assert!(step["attempts"][0]["output"].get("metrics").is_none());

    // Revoked: skipped again; the history keeps both changes.
    let (_, view) = api.post("/api/v1/experiments/tone-study/consent", &user, json!({"granted": false})).await;
    assert_eq!(view["consented"], false);
    let step = run_tone(api, &user).await;
    assert_eq!(step["status"], "skipped");
    let (_, history) = api.get("/api/v1/consent", &user).await;
    let granted: Vec<bool> =
        history.as_array().unwrap().iter().map(|change| change["granted"].as_bool().unwrap()).collect();
    assert_eq!(granted, [true, false]);

    // Another consenting user contributes; their data stays theirs until released in aggregate.
    let other = api.user("otto@example.com").await;
    let other = other["access_token"].as_str().unwrap().to_owned();
    api.post("/api/v1/experiments/tone-study/consent", &other, json!({"granted": true})).await;
    assert_eq!(run_tone(api, &other).await["status"], "completed");

    // The owner releases DP aggregates, spending 0.5 of 2.0 each; nobody else can.
    let release = json!({"metric": "exclamations"});
    let (status, _) = api.post("/api/v1/experiments/tone-study/releases", &user, release.clone()).await;
    assert_eq!(status, 404, "someone else's aggregates do not exist for the caller");
    let (status, _) = api.post("/api/v1/experiments/tone-study/releases", &admin, release.clone()).await;
    assert_eq!(status, 404, "not even for an admin");
    let (status, body) =
        api.post("/api/v1/experiments/tone-study/releases", &researcher, json!({"metric": "colour"})).await;
    assert_eq!((status, fields(&body)), (400, vec!["metric".to_owned()]));
    for _ in 0..4 {
        let (status, released) =
            api.post("/api/v1/experiments/tone-study/releases", &researcher, release.clone()).await;
        assert_eq!(status, 201, "{released}");
        assert_eq!((released["epsilon"].as_f64(), released["sum_scale"].as_f64()), (Some(0.5), Some(200.0)));
        assert!(released["noisy_sum"].as_f64().unwrap().is_finite());
    }
    let (status, body) = api.post("/api/v1/experiments/tone-study/releases", &researcher, release).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("privacy_budget_exhausted")), "{body}");
    let (status, releases) = api.get("/api/v1/experiments/tone-study/releases", &researcher).await;
    assert_eq!((status, releases.as_array().unwrap().len()), (200, 4));
    let (status, _) = api.get("/api/v1/experiments/tone-study/releases", &user).await;
    assert_eq!(status, 404);
    let (_, experiment) = api.get("/api/v1/experiments/tone-study", &user).await;
    assert_eq!(experiment["epsilon_spent"], 2.0);
    // What the owner can read are aggregates: no pseudonym, no user id, no input text.
    let text = releases.to_string();
    assert!(!text.contains("Great news") && !text.contains("pseudonym"), "{text}");
}

async fn custom_plugin(api: &Api) {
    let admin = api.admin("admin@example.com").await;
    let admin = admin["access_token"].as_str().unwrap().to_owned();
    let manifest: toml::Value = toml::from_str(include_str!("../../../../plugins/examples/shout/plugin.toml")).unwrap();
    let module = base64::engine::general_purpose::STANDARD
        .encode(include_bytes!("../../../../plugins/examples/shout/shout.wat"));
    let body = json!({"manifest": serde_json::to_value(manifest).unwrap(), "module_base64": module});
    let (status, plugin) = api.post("/api/v1/plugins", &admin, body).await;
    assert_eq!(status, 201, "{plugin}");
    let id = api
        .execute(&admin, json!({"name": "p", "steps": [{"key": "loud", "agent": "shout"}]}), json!({"who": "ada"}))
        .await;
    let mut ws = api.ws(&admin).await;
    ws.send(json!({"type": "subscribe", "execution_id": id, "after_seq": 0})).await;
    let events = ws.events_until_terminal().await;
    ws.close().await;
    assert_eq!(events.last().unwrap()["status"], "completed", "{events:#?}");
    let (_, steps) = api.get(&format!("/api/v1/executions/{id}/steps"), &admin).await;
    assert_eq!(steps[0]["attempts"][0]["output"]["INPUT"]["WHO"], "ADA", "{steps}");
    let (status, disabled) = api.post("/api/v1/plugins/shout/disable", &admin, json!({})).await;
    assert_eq!((status, disabled["status"].as_str()), (200, Some("disabled")));
    let (status, enabled) = api.post("/api/v1/plugins/shout/enable", &admin, json!({})).await;
    assert_eq!((status, enabled["status"].as_str()), (200, Some("running")));
    let (status, _) = api.call("DELETE", "/api/v1/plugins/shout", Some(&admin), None).await;
    assert_eq!(status, 204);
    let (status, body) = api
        .post(
            "/api/v1/executions",
            &admin,
            json!({"pipeline": {"name": "p", "steps": [{"key": "loud", "agent": "shout"}]}}),
        )
        .await;
    assert_eq!(status, 422, "its agent kind is gone: {body}");
    let (status, _) = api.get("/api/v1/plugins/shout", &admin).await;
    assert_eq!(status, 404);
}
