//! Export: one archive of everything a user owns — checked item by item — and nothing of
//! another user's; only its owner can fetch it.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest;

use super::{Api, on_both_stores};

on_both_stores!(an_export_holds_everything_of_its_user_and_nothing_else, export);

fn token(login: &Value) -> String {
    login["access_token"].as_str().unwrap().to_owned()
}

async fn finished_run(api: &Api, token: &str, note: &str) -> String {
    let pipeline = json!({"name": "mine", "steps": [{"key": "hello", "agent": "echo"}]});
    let (status, body) =
        api.post("/api/v1/executions", token, json!({"pipeline": pipeline, "input": {"note": note}})).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    crate::poll(Duration::from_secs(30), "the execution completes", || async {
        let (_, execution) = api.get(&format!("/api/v1/executions/{id}"), token).await;
        (execution["status"] == "completed").then_some(())
    })
    .await;
    id
}

/// The archive's entries by path.
fn unpack(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut entries = BTreeMap::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        entries.insert(path, content);
    }
    entries
}

fn json_of(entries: &BTreeMap<String, Vec<u8>>, path: &str) -> Value {
    serde_json::from_slice(entries.get(path).unwrap_or_else(|| panic!("{path} is in the archive"))).unwrap()
}

async fn export(api: &Api) {
    let admin = token(&api.admin("root@example.com").await);
    let experiment = json!({"id": "exp-export", "title": "Tone study", "hypothesis": "Polite prompts help"});
    assert_eq!(api.post("/api/v1/experiments", &admin, experiment).await.0, 201);
    let login = api.user("ada@example.com").await;
    let ada = token(&login);
    let grace = token(&api.user("grace@example.com").await);

    let execution = finished_run(api, &ada, "ada's note").await;
    let (status, file) = super::files::upload(api, &ada, "notes.txt", b"ada's uploaded notes").await;
    assert_eq!(status, 201, "{file}");
    let memory = json!({"text": "Ada's daughter is allergic to peanuts", "kind": "note"});
    assert_eq!(api.post("/api/v1/memories", &ada, memory).await.0, 201);
    assert_eq!(api.post("/api/v1/experiments/exp-export/consent", &ada, json!({"granted": true})).await.0, 200);
    assert_eq!(api.post("/api/v1/projects", &ada, json!({"name": "garden"})).await.0, 201);
    let graces = finished_run(api, &grace, "grace's note").await;
    let memory = json!({"text": "Grace keeps her notes on the staging database", "kind": "note"});
    assert_eq!(api.post("/api/v1/memories", &grace, memory).await.0, 201);

    // Ada's console listens on its WebSocket; Grace's too.
    let mut ada_socket = api.ws(&ada).await;
    let mut grace_socket = api.ws(&grace).await;
    let (status, started) = api.call("POST", "/api/v1/users/me/export", Some(&ada), None).await;
    assert_eq!((status, started["status"].as_str()), (202, Some("preparing")), "{started}");
    let id = started["id"].as_str().unwrap().to_owned();
    let ready = crate::poll(Duration::from_secs(60), "the export is ready", || async {
        let (_, export) = api.get(&format!("/api/v1/users/me/exports/{id}"), &ada).await;
        (export["status"] != "preparing").then_some(export)
    })
    .await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let notice = ada_socket.next_message().await.unwrap();
    assert_eq!((notice["type"].as_str(), notice["kind"].as_str()), (Some("notice"), Some("export_ready")), "{notice}");
    assert_eq!(notice["id"].as_str(), Some(id.as_str()));
    grace_socket.send(json!({"type": "ping"})).await;
    assert_eq!(grace_socket.next_message().await.unwrap()["type"], "pong", "no notice of Ada's reaches Grace");
    // Nobody else sees it.
    assert_eq!(api.get(&format!("/api/v1/users/me/exports/{id}"), &grace).await.0, 404);
    assert_eq!(api.get(&format!("/api/v1/users/me/exports/{id}/archive"), &grace).await.0, 404);

    let response =
        api.http.get(format!("/api/v1/users/me/exports/{id}/archive")).bearer_auth(&ada).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let archive = response.bytes();
    assert_eq!(archive.len() as u64, ready["size"].as_u64().unwrap());
    let entries = unpack(&archive);

    // The manifest lists every entry with its digest.
    let manifest = json_of(&entries, "manifest.json");
    let listed = manifest["files"].as_array().unwrap();
    assert_eq!(listed.len() + 1, entries.len(), "{manifest}");
    for item in listed {
        let path = item["path"].as_str().unwrap();
        let digest = hex::encode(sha2::Sha256::digest(&entries[path]));
        assert_eq!(item["sha256"].as_str(), Some(digest.as_str()), "{path}");
    }
    // Item by item.
    assert_eq!(json_of(&entries, "account.json")["email"], "ada@example.com");
    assert_eq!(json_of(&entries, "projects.json")[0]["name"], "garden");
    let dir = format!("executions/{execution}");
    assert_eq!(json_of(&entries, &format!("{dir}/execution.json"))["input"]["note"], "ada's note");
    assert_eq!(json_of(&entries, &format!("{dir}/steps.json"))[0]["key"], "hello");
    assert!(!json_of(&entries, &format!("{dir}/events.json")).as_array().unwrap().is_empty());
    assert!(json_of(&entries, &format!("{dir}/logs.json")).is_array());
    let artifact = json_of(&entries, &format!("{dir}/artifacts/hello/hello.json"));
    assert_eq!(artifact["input"]["note"], "ada's note", "{artifact}");
    let file_id = file["id"].as_str().unwrap();
    assert_eq!(entries[&format!("files/{file_id}-notes.txt")], b"ada's uploaded notes");
    let memories = json_of(&entries, "memories.json");
    assert_eq!(memories[0]["text"], "Ada's daughter is allergic to peanuts", "decrypted: {memories}");
    let consent = json_of(&entries, "consent.json");
    assert_eq!((&consent[0]["experiment"], &consent[0]["granted"]), (&json!("exp-export"), &json!(true)));
    // Nothing of Grace's.
    for (path, content) in &entries {
        let text = String::from_utf8_lossy(content);
        for needle in [graces.as_str(), "grace@example.com", "grace's note", "staging database"] {
            assert!(!text.contains(needle) && !path.contains(needle), "{path} holds `{needle}`");
        }
    }
}
