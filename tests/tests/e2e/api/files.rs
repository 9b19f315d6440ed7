//! Uploaded files: owner-only, typed by content, capped in size and per user, and a source
//! the research pipeline reads and cites.

use std::time::Duration;

use serde_json::{Value, json};
use troupe_gateway::http::HttpSettings;

use super::{Api, Backend};
use crate::poll;

/// A multipart body with one part `field` holding `content` under `name`.
fn multipart(field: &str, name: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "troupe-test-boundary-7f3a";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub(super) async fn upload(api: &Api, token: &str, name: &str, content: &[u8]) -> (u16, Value) {
    upload_part(api, token, "file", name, content).await
}

async fn upload_part(api: &Api, token: &str, field: &str, name: &str, content: &[u8]) -> (u16, Value) {
    let (content_type, body) = multipart(field, name, content);
    let response = api
        .http
        .post("/api/v1/files")
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn start(backend: Backend, test: &str) -> Option<Api> {
    let http = HttpSettings {
        rate_limit: None,
        upload_max_bytes: 64 * 1024,
        upload_quota_bytes: 100 * 1024,
        ..HttpSettings::default()
    };
    Api::start_with(backend, test, http).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_on_sqlite() {
    if let Some(api) = start(Backend::Sqlite, "uploads").await {
        uploads(&api).await;
        api.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_on_postgres() {
    if let Some(api) = start(Backend::Postgres, "uploads").await {
        uploads(&api).await;
        api.stop().await;
    }
}

async fn uploads(api: &Api) {
    let ada = api.user("ada@example.com").await;
    let token = ada["access_token"].as_str().unwrap();
    let bob = api.user("bob@example.com").await;
    let bob_token = bob["access_token"].as_str().unwrap();

    let paper = crate::research::pdf(&["Mycorrhizal fungi trade phosphorus for sugar.", "Forests share nutrients."]);
    let (status, file) = upload(api, token, "../../wood-wide-web.pdf", &paper).await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(file["content_type"], "application/pdf");
    assert_eq!(file["name"], "wood-wide-web.pdf", "a path in the name is dropped");
    assert_eq!(file["size"], paper.len());
    let id = file["id"].as_str().unwrap().to_owned();

    let (status, listed) = api.get("/api/v1/files", token).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"][0]["id"], id.as_str());
    assert_eq!(listed["used_bytes"], paper.len());
    let response = api.http.get(format!("/api/v1/files/{id}")).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert!(response.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));

    // Bob sees none of it, anywhere.
    let (status, listed) = api.get("/api/v1/files", bob_token).await;
    assert_eq!((status, listed["items"].as_array().map(Vec::len)), (200, Some(0)));
    let (status, body) = api.get(&format!("/api/v1/files/{id}"), bob_token).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, _) = api.call("DELETE", &format!("/api/v1/files/{id}"), Some(bob_token), None).await;
    assert_eq!(status, 404);
    let research = json!({"pipeline": "research", "input": {
        "question": "How do trees share nutrients?", "sources": [{"kind": "pdf", "file": id}]}});
    let (status, body) = api.post("/api/v1/executions", bob_token, research.clone()).await;
    assert_eq!((status, body["error"]["details"]["field"].as_str()), (404, Some("input.sources[0].file")), "{body}");

    // Too large, the wrong kind of content, over the quota, no `file` part: clear errors.
    let (status, body) = upload(api, token, "big.txt", &vec![b'a'; 64 * 1024 + 1]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("payload_too_large")), "{body}");
    let (status, body) = upload(api, token, "paper.pdf", b"\x7fELF\x02\x01\x01\0\0\0\0\0").await;
    assert_eq!((status, body["error"]["code"].as_str()), (415, Some("unsupported_file_type")), "{body}");
    let (status, body) = upload_part(api, token, "attachment", "a.txt", b"hello").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = upload(api, token, "notes-1.md", &vec![b'n'; 60 * 1024]).await;
    assert_eq!(status, 201, "within the quota");
    let (status, body) = upload(api, token, "notes-2.md", &vec![b'n'; 60 * 1024]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("quota_exceeded")), "{body}");
    let response = api.http.post("/api/v1/files").bearer_auth(token).json(&json!({"file": "x"})).send().await.unwrap();
    assert_eq!(response.status(), 415);

    // The research pipeline reads the upload and cites it in its report.
    let (status, body) = api.post("/api/v1/executions", token, research).await;
    assert_eq!(status, 201, "{body}");
    let execution = body["id"].as_str().unwrap().to_owned();
    let done = poll(Duration::from_secs(60), "the research execution finishes", || async {
        let (_, body) = api.get(&format!("/api/v1/executions/{execution}"), token).await;
        matches!(body["status"].as_str(), Some("completed" | "failed" | "cancelled")).then_some(body)
    })
    .await;
    assert_eq!(done["status"], "completed", "{}", done["error"]);
    let response = api
        .http
        .get(format!("/api/v1/executions/{execution}/artifacts/summarise/report.md"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let report = response.text().await.unwrap();
    assert!(report.contains("upload:wood-wide-web.pdf"), "the report cites the upload: {report}");

    // Deleted, it is gone for its owner too.
    let (status, _) = api.call("DELETE", &format!("/api/v1/files/{id}"), Some(token), None).await;
    assert_eq!(status, 204);
    let (status, _) = api.get(&format!("/api/v1/files/{id}"), token).await;
    assert_eq!(status, 404);
}
