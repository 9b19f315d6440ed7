//! Bad input gets the error format and the right status, never a 500; rate limits; the
//! OpenAPI document matches the router.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use troupe_gateway::http::HttpSettings;
use troupe_gateway::http::limits::RateLimit;

use super::{Api, Backend, on_both_stores};

on_both_stores!(bad_requests_get_clear_errors, bad_input);

fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string() && body["error"]["timestamp"].is_string(), "{body}");
}

async fn raw(api: &Api, method: &str, path: &str, token: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let response = api
        .http
        .request(method.parse().unwrap(), api.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn bad_input(api: &Api) {
    let login = api.user("bad@example.com").await;
    let token = login["access_token"].as_str().unwrap();
    let post = "/api/v1/executions";

    let (status, body) = raw(api, "POST", post, token, "application/json", b"{\"pipeline\": ".to_vec()).await;
    assert_error(status, &body, 400, "malformed_json");
    let (status, body) = raw(api, "POST", post, token, "text/plain", b"{}".to_vec()).await;
    assert_error(status, &body, 415, "unsupported_media_type");
    let (status, body) = api.post(post, token, json!({"input": {}})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "pipeline", "{body}");
    let (status, body) = api.post(post, token, json!({"pipeline": "hello", "project_id": 7})).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "project_id");
    let (status, body) = api.post(post, token, json!({"pipeline": "hello", "colour": "red"})).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = api.post(post, token, json!({"pipeline": "no-such-pipeline"})).await;
    assert_error(status, &body, 404, "not_found");
    // Just over the 1 MiB limit.
    let huge = format!("{{\"pipeline\": \"hello\", \"input\": \"{}\"}}", "x".repeat(1024 * 1024 + 64));
    let response = api
        .http
        .post(post)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_error(status, &response.json().await.unwrap(), 413, "payload_too_large");

    // An invalid definition: every problem, each naming its step and field.
    let definition = json!({"name": "broken", "steps": [
        {"key": "a", "agent": "no-such-agent"},
        {"key": "b", "agent": "echo", "depends_on": ["missing"]},
    ]});
    let (status, body) = api.post("/api/v1/pipelines", token, definition.clone()).await;
    assert_error(status, &body, 422, "invalid_pipeline");
    let fields = body["error"]["details"]["fields"].as_array().unwrap();
    assert!(fields.iter().any(|f| f["step"] == "a" && f["field"] == "agent"), "{body}");
    assert!(fields.iter().any(|f| f["step"] == "b" && f["field"] == "depends_on"), "{body}");
    let (status, body) = api.post(post, token, json!({"pipeline": definition})).await;
    assert_error(status, &body, 422, "invalid_pipeline");
    let (status, body) = api
        .post(
            "/api/v1/pipelines",
            token,
            json!({"name": "x", "steps": [{"key": "a", "agent": "echo", "retry": {"max_atempts": 2}}]}),
        )
        .await;
    assert_error(status, &body, 422, "invalid_pipeline");
    assert!(body["error"]["message"].as_str().unwrap().contains("steps[0].retry"), "{body}");

    // Ids, queries, routes and methods.
    let (status, body) = api.get("/api/v1/executions/not-a-uuid", token).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = api.get(&format!("/api/v1/executions/{}", uuid::Uuid::now_v7()), token).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = api.get("/api/v1/executions?status=sleeping", token).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = api.get("/api/v1/executions?limit=many", token).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = api.get("/api/v1/nothing-here", token).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = api.call("PUT", "/api/v1/executions", Some(token), None).await;
    assert_error(status, &body, 405, "method_not_allowed");

    // Registration checks every field at once.
    let (status, body) =
        api.call("POST", "/api/v1/auth/register", None, Some(json!({"email": "nope", "password": "short"}))).await;
    assert_error(status, &body, 400, "validation_failed");
    assert_eq!(body["error"]["details"]["fields"].as_array().unwrap().len(), 2, "{body}");
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "bad@example.com", "password": "password-9"})),
        )
        .await;
    assert_error(status, &body, 409, "email_taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_answer_429_with_retry_after() {
    let limit = RateLimit { per_ip_per_second: 1, per_ip_burst: 3, per_user_per_second: 1, per_user_burst: 100 };
    let settings = HttpSettings { rate_limit: Some(limit), ..HttpSettings::default() };
    let api = Api::start_with(Backend::Sqlite, "rate_limit", settings).await.unwrap();
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..5 {
        let response = api.http.get(api.url("/api/v1/auth/me")).send().await.unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry_after = response.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap();
            limited = Some((retry_after, response.json::<Value>().await.unwrap()));
        }
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429], "a burst of 3, then limited");
    let (retry_after, body) = limited.unwrap();
    assert!(retry_after >= 1);
    assert_eq!(body["error"]["code"], "rate_limited");
    let health = api.http.get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "health checks are not rate limited");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route_the_router_serves() {
    let api = Api::start(Backend::Sqlite, "openapi").await.unwrap();
    let document: Value = api.http.get(api.url("/api/docs/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let page = api.http.get(api.url("/api/docs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/api/docs/openapi.json"));

    let paths = document["paths"].as_object().unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            assert!(operation["responses"].is_object(), "{method} {path} documents its responses");
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    // Every documented operation is routed: it never answers the router's "no route" or
    // "method not allowed" fallbacks.
    let id = uuid::Uuid::now_v7().to_string();
    for operation in &documented {
        let (method, path) = operation.split_once(' ').unwrap();
        let concrete =
            path.replace("{id}", &id).replace("{name}", "x").replace("{step}", "s").replace("{kind}", "echo");
        let response = api.http.request(method.parse().unwrap(), api.url(&concrete)).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let fallback = status == 405 || body["error"]["message"].as_str().is_some_and(|m| m.starts_with("no route"));
        assert!(!fallback, "{operation} is documented but not routed: {status} {body}");
    }
    // And every route the router serves under /api/v1 is documented: the router is built from
    // the same registrations, so probe the API surface we promise (docs/api.md) against it.
    let expected: BTreeSet<String> = [
        "POST /api/v1/auth/register",
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/refresh",
        "POST /api/v1/auth/logout",
        "GET /api/v1/auth/me",
        "POST /api/v1/auth/password",
        "POST /api/v1/auth/setup",
        "GET /api/v1/auth/sessions",
        "DELETE /api/v1/auth/sessions/{id}",
        "POST /api/v1/auth/verify",
        "POST /api/v1/auth/verify/resend",
        "POST /api/v1/auth/password-reset",
        "POST /api/v1/auth/password-reset/confirm",
        "GET /api/v1/users/me",
        "PATCH /api/v1/users/me",
        "DELETE /api/v1/users/me",
        "POST /api/v1/users/me/export",
        "GET /api/v1/users/me/exports/{id}",
        "GET /api/v1/users/me/exports/{id}/archive",
        "GET /api/v1/users",
        "POST /api/v1/users",
        "GET /api/v1/users/{id}",
        "PATCH /api/v1/users/{id}",
        "DELETE /api/v1/users/{id}",
        "POST /api/v1/api-keys",
        "GET /api/v1/api-keys",
        "DELETE /api/v1/api-keys/{id}",
        "GET /api/v1/audit",
        "POST /api/v1/projects",
        "GET /api/v1/projects",
        "GET /api/v1/projects/{id}",
        "PATCH /api/v1/projects/{id}",
        "DELETE /api/v1/projects/{id}",
        "GET /api/v1/pipelines",
        "POST /api/v1/pipelines",
        "GET /api/v1/pipelines/{name}",
        "DELETE /api/v1/pipelines/{name}",
        "POST /api/v1/executions",
        "GET /api/v1/executions",
        "GET /api/v1/executions/{id}",
        "POST /api/v1/executions/{id}/cancel",
        "POST /api/v1/executions/{id}/retry",
        "GET /api/v1/executions/{id}/steps",
        "GET /api/v1/executions/{id}/logs",
        "GET /api/v1/executions/{id}/events",
        "GET /api/v1/executions/{id}/artifacts",
        "GET /api/v1/executions/{id}/artifacts/{step}/{name}",
        "GET /api/v1/executions/{id}/approvals",
        "POST /api/v1/executions/{id}/steps/{key}/approve",
        "POST /api/v1/executions/{id}/steps/{key}/reject",
        "POST /api/v1/files",
        "GET /api/v1/files",
        "GET /api/v1/files/{id}",
        "DELETE /api/v1/files/{id}",
        "GET /api/v1/usage",
        "GET /api/v1/agents",
        "GET /api/v1/agents/{kind}",
        "POST /api/v1/agents/{kind}/release",
        "GET /api/v1/nodes",
        "POST /api/v1/memories",
        "DELETE /api/v1/memories",
        "POST /api/v1/memories/search",
        "GET /api/v1/memories/export",
        "GET /api/v1/memories/{id}",
        "DELETE /api/v1/memories/{id}",
        "POST /api/v1/plugins",
        "GET /api/v1/plugins",
        "GET /api/v1/plugins/{name}",
        "DELETE /api/v1/plugins/{name}",
        "POST /api/v1/plugins/{name}/enable",
        "POST /api/v1/plugins/{name}/disable",
        "POST /api/v1/experiments",
        "GET /api/v1/experiments",
        "GET /api/v1/experiments/{id}",
        "PATCH /api/v1/experiments/{id}",
        "POST /api/v1/experiments/{id}/consent",
        "GET /api/v1/consent",
        "POST /api/v1/experiments/{id}/releases",
        "GET /api/v1/experiments/{id}/releases",
        "GET /api/v1/flags",
        "PUT /api/v1/flags/{name}",
        "GET /api/v1/ws",
        "GET /",
        "GET /console/{file}",
        "GET /api/docs",
        "GET /api/docs/openapi.json",
        "GET /api/docs/asyncapi.json",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(documented, expected);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_only_the_configured_origins() {
    let settings =
        HttpSettings { rate_limit: None, cors_origins: vec!["https://app.example".into()], ..HttpSettings::default() };
    let api = Api::start_with(Backend::Sqlite, "cors", settings).await.unwrap();
    let preflight = |origin: &'static str| {
        api.http
            .request(axum::http::Method::OPTIONS, "/api/v1/executions")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, content-type")
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert_eq!(allowed.headers().get("access-control-allow-origin").unwrap(), "https://app.example");
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    api.stop().await;
}
