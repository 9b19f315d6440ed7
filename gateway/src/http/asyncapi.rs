//! The AsyncAPI 3 document of the WebSocket protocol, served at `/api/docs/asyncapi.json`,
//! generated from the message types the socket reads and writes
//! ([`ClientMessage`](super::ws::ClientMessage), [`ServerMessage`](super::ws::ServerMessage)):
//! one message per variant, named by its `type`.

use serde_json::{Map, Value, json};
use utoipa::{PartialSchema, ToSchema};

use super::bundle::bundle;
use super::ws::{ClientMessage, ServerMessage};

/// The document.
pub fn document() -> Value {
    let mut schemas = Vec::new();
    ClientMessage::schemas(&mut schemas);
    ServerMessage::schemas(&mut schemas);
    let schemas: Map<String, Value> = schemas
        .into_iter()
        .map(|(name, schema)| (name, serde_json::to_value(schema).expect("a schema serialises")))
        .collect();
    let mut messages = Map::new();
    let client = variants(&serde_json::to_value(ClientMessage::schema()).expect("a schema serialises"));
    let server = variants(&serde_json::to_value(ServerMessage::schema()).expect("a schema serialises"));
    let mut add = |side: &str, (name, payload): (String, Value)| {
        let key = format!("{side}.{name}");
        messages.insert(key.clone(), json!({ "name": name, "title": name, "payload": payload }));
        json!({ "$ref": format!("#/channels/live/messages/{key}") })
    };
    let client_refs: Vec<Value> = client.into_iter().map(|variant| add("client", variant)).collect();
    let server_refs: Vec<Value> = server.into_iter().map(|variant| add("server", variant)).collect();
    let mut document = json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "troupe live events",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The WebSocket at `/api/v1/ws`: JSON text frames. The first client message must be \
                `auth` (within 10 s). Close codes: 4401 credentials missing, wrong or no longer valid (re-checked \
                on every subscribe, periodically and at the token's expiry); 4429 too many sockets for this user; \
                1008 silent for too long; 1001 the server is shutting down. Every message carries its kind in \
                `type`.",
        },
        "defaultContentType": "application/json",
        "channels": {
            "live": {
                "address": "/api/v1/ws",
                "title": "Live events",
                "messages": messages,
            },
        },
        "operations": {
            "receiveClientMessages": {
                "action": "receive",
                "channel": { "$ref": "#/channels/live" },
                "summary": "What clients send",
                "messages": client_refs,
            },
            "sendServerMessages": {
                "action": "send",
                "channel": { "$ref": "#/channels/live" },
                "summary": "What the server sends",
                "messages": server_refs,
            },
        },
        "components": { "schemas": schemas },
    });
    for (name, schema) in troupe_runtime::model::json_schemas() {
        if document["components"]["schemas"].get(name).is_some() {
            bundle(&mut document, name, schema);
        }
    }
    document
}

/// An internally tagged enum's schema is a `oneOf` of objects whose `type` property has one
/// value: each becomes a message named by it.
fn variants(schema: &Value) -> Vec<(String, Value)> {
    schema["oneOf"]
        .as_array()
        .expect("a tagged enum's schema is a oneOf")
        .iter()
        .map(|variant| {
            let name =
                variant["properties"]["type"]["enum"][0].as_str().expect("each variant names its type").to_owned();
            (name, variant.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_kind_is_described() {
        let document = document();
        let messages = document["channels"]["live"]["messages"].as_object().unwrap();
        let names: Vec<&str> = messages.values().map(|message| message["name"].as_str().unwrap()).collect();
        for name in [
            "auth",
            "subscribe",
            "subscribe_all",
            "unsubscribe",
            "ping",
            "authenticated",
            "subscribed",
            "unsubscribed",
            "event",
            "token",
            "lagged",
            "error",
            "pong",
        ] {
            assert!(names.contains(&name), "{name} is missing from {names:?}");
        }
        // The event payload points at the bundled runtime schema.
        assert!(document["components"]["schemas"]["Event"]["oneOf"][0]["properties"]["seq"].is_object(), "{document}");
    }
}
