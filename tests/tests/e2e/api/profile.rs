//! The caller's own account: name, preferences, an email change that takes effect once the
//! new address is verified, and their own model provider key — used for their executions, never
//! shown again.

use serde_json::{Value, json};
use troupe::Config;
use troupe_agents::llm::config::{LlmSettings, ProviderKind};

use super::mail::{SmtpServer, on_both_stores_with_mail, start};
use super::{Api, Backend};

fn token(login: &Value) -> String {
    login["access_token"].as_str().unwrap().to_owned()
}

async fn profile(backend: Backend, test: &str) {
    let smtp = SmtpServer::start().await;
    let Some(api) = start(backend, test, &smtp, false).await else { return };
    let owner = token(&api.user("ada@example.com").await);
    api.user("grace@example.com").await;

    let (status, me) = api.get("/api/v1/users/me", &owner).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["email"].as_str(), &me["preferences"], &me["llm"]),
        (Some("ada@example.com"), &json!({}), &Value::Null)
    );

    let patch = json!({"name": "Ada Lovelace", "preferences": {"theme": "dark", "page_size": 50}});
    let (status, me) = api.call("PATCH", "/api/v1/users/me", Some(&owner), Some(patch)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!((me["name"].as_str(), &me["preferences"]["theme"]), (Some("Ada Lovelace"), &json!("dark")));
    let (status, body) =
        api.call("PATCH", "/api/v1/users/me", Some(&owner), Some(json!({"preferences": [1], "name": 7}))).await;
    assert_eq!(status, 400, "{body}");
    let fields: Vec<&str> =
        body["error"]["details"]["fields"].as_array().unwrap().iter().filter_map(|d| d["field"].as_str()).collect();
    assert!(fields.contains(&"preferences") && fields.contains(&"name"), "{body}");

    // Another account's address is refused; a new one waits for its code.
    let (status, body) =
        api.call("PATCH", "/api/v1/users/me", Some(&owner), Some(json!({"email": "grace@example.com"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("email_taken")), "{body}");
    let (status, me) =
        api.call("PATCH", "/api/v1/users/me", Some(&owner), Some(json!({"email": "Ada@New.example"}))).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["email"].as_str(), me["pending_email"].as_str()),
        (Some("ada@example.com"), Some("ada@new.example"))
    );
    let code = smtp.codes("ada@new.example", 1, "tv_").await.remove(0);
    crate::poll(std::time::Duration::from_secs(30), "the old address is told", || async {
        smtp.mails_to("ada@example.com").iter().any(|mail| mail.contains("being changed")).then_some(())
    })
    .await;
    let (status, user) = api.call("POST", "/api/v1/auth/verify", None, Some(json!({"token": code}))).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!((user["email"].as_str(), user["email_verified"].as_bool()), (Some("ada@new.example"), Some(true)));
    let (_, me) = api.get("/api/v1/users/me", &owner).await;
    assert_eq!(me["pending_email"], Value::Null, "{me}");
    api.login("ada@new.example", "password-1").await;
    api.stop().await;
    smtp.stop().await;
}

on_both_stores_with_mail!(profile);

/// A user's own key reaches the model for their executions (another user's go with the
/// server's key), and no answer shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_own_model_key_is_used_for_their_executions_and_never_shown() {
    const SERVER_KEY: &str = "server-key-0000-aaaa";
    const OWN_KEY: &str = "sk-own-key-of-ada-4321";
    let (base_url, seen) = crate::fake_model::model_server_seeing_keys(None).await;
    let api = Api::start_configured(Backend::Sqlite, "own_model_key", move |config: Config| Config {
        llm: LlmSettings {
            provider: ProviderKind::OpenAi,
            base_url: Some(base_url),
            api_key: Some(SERVER_KEY.into()),
            model: Some("server-model".into()),
            ..LlmSettings::default()
        },
        ..config
    })
    .await
    .unwrap();
    let ada = token(&api.user("ada@example.com").await);
    let grace = token(&api.user("grace@example.com").await);

    let own = json!({"llm": {"api_key": OWN_KEY, "model": "ada-model"}});
    let (status, me) = api.call("PATCH", "/api/v1/users/me", Some(&ada), Some(own)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["llm"], json!({"key_last4": "4321", "model": "ada-model"}));
    let (status, body) =
        api.call("PATCH", "/api/v1/users/me", Some(&ada), Some(json!({"llm": {"api_key": "short"}}))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "llm.api_key", "{body}");

    let ada_answers = run(&api, &ada).await;
    assert_eq!(seen.lock().unwrap().as_slice(), [format!("Bearer {OWN_KEY}")], "ada's execution used her key");
    let grace_answers = run(&api, &grace).await;
    assert_eq!(seen.lock().unwrap().last().unwrap(), &format!("Bearer {SERVER_KEY}"), "grace's used the server's");

    let (_, me) = api.get("/api/v1/users/me", &ada).await;
    let (_, audit) = api.get("/api/v1/audit", &token(&api.admin("root@example.com").await)).await;
    for answer in ada_answers.iter().chain(&grace_answers).chain([&me, &audit]) {
        assert!(!answer.to_string().contains(OWN_KEY), "the key leaked: {answer}");
    }

    // Removing it goes back to the server's key.
    let (status, me) = api.call("PATCH", "/api/v1/users/me", Some(&ada), Some(json!({"llm": null}))).await;
    assert_eq!((status, &me["llm"]), (200, &Value::Null));
    run(&api, &ada).await;
    assert_eq!(seen.lock().unwrap().last().unwrap(), &format!("Bearer {SERVER_KEY}"));
    api.stop().await;
}

/// Runs a one-step pipeline that asks the model; returns what the API shows of the execution.
async fn run(api: &Api, token: &str) -> Vec<Value> {
    let pipeline = json!({"name": "own-key", "steps": [{"key": "requirements", "agent": "requirements"}]});
    let (status, body) = api
        .post("/api/v1/executions", token, json!({"pipeline": pipeline, "input": {"idea": "a book club planner"}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let execution = crate::poll(std::time::Duration::from_secs(60), "the execution finishes", || async {
        let (_, execution) = api.get(&format!("/api/v1/executions/{id}"), token).await;
        (execution["status"] == "completed" || execution["status"] == "failed").then_some(execution)
    })
    .await;
    assert_eq!(execution["status"], "completed", "{execution}");
    let mut answers = vec![execution];
    for path in ["steps", "logs", "events", "artifacts"] {
        answers.push(api.get(&format!("/api/v1/executions/{id}/{path}"), token).await.1);
    }
    answers
}
