//! The WebSocket protocol's messages, as types: the socket reads [`ClientMessage`] and writes
//! only [`ServerMessage`], and the AsyncAPI document (`/api/docs/asyncapi.json`) is generated
//! from their schemas, so the two cannot disagree.

use axum::extract::ws::{Message, Utf8Bytes};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// What a client sends.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// The first message: an access token or API key. Nothing else is accepted before.
    Auth {
        /// An access token (JWT) or an API key (`trk_…`).
        #[schema(min_length = 1)]
        token: String,
    },
    /// Replays the execution's stored events after `after_seq`, then streams the live ones
    /// until its terminal event (re-checks the credentials first).
    Subscribe {
        /// The execution (any spelling of its UUID).
        execution_id: String,
        /// Only events with a greater `seq` (default 0: all).
        after_seq: Option<u64>,
    },
    /// Streams the live events of every execution the caller owns.
    SubscribeAll,
    /// Stops a subscription (`*`: the `subscribe_all` one).
    Unsubscribe {
        /// The execution, or `*`.
        execution_id: String,
    },
    /// Answered with `pong`.
    Ping,
}

/// What the server sends.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    /// The credentials were accepted.
    Authenticated {
        /// The caller.
        user_id: Uuid,
    },
    /// A subscription started.
    Subscribed {
        /// The execution's canonical id, or `*` for `subscribe_all`.
        execution_id: String,
        /// Where the replay starts (absent for `subscribe_all`).
        #[serde(skip_serializing_if = "Option::is_none")]
        after_seq: Option<u64>,
    },
    /// A subscription stopped.
    Unsubscribed {
        /// As the client spelled it.
        execution_id: String,
    },
    /// An event of a subscribed execution (the shape of `GET /executions/{id}/events`).
    Event {
        /// The event.
        #[schema(value_type = crate::http::schemas::EventSchema)]
        event: &'a troupe_runtime::model::Event,
    },
    /// A piece of an LLM answer while it streams: ephemeral (not stored, not replayed, dropped
    /// for a client that is behind).
    Token {
        /// The execution.
        execution_id: Uuid,
        /// The step.
        step: &'a str,
        /// The attempt.
        attempt: u32,
        /// The text.
        text: &'a str,
    },
    /// The client fell behind: subscribe again with `after_seq` = `resume_after_seq`.
    Lagged {
        /// The execution, or `*` when the `subscribe_all` stream dropped events it cannot name.
        execution_id: String,
        /// The last event delivered.
        #[serde(skip_serializing_if = "Option::is_none")]
        resume_after_seq: Option<u64>,
        /// How many events the `subscribe_all` stream dropped.
        #[serde(skip_serializing_if = "Option::is_none")]
        missed: Option<u64>,
    },
    /// Something the client sent was refused; `unauthorized` is followed by close code 4401,
    /// `too_many_connections` by 4429.
    Error {
        /// `unauthorized`, `not_found`, `bad_message`, `too_many_subscriptions`,
        /// `too_many_connections`, …
        code: &'a str,
        /// What went wrong, for people.
        message: String,
    },
    /// The answer to `ping`.
    Pong,
    /// Something about the caller's account: `export_ready` (`id`: the export, now
    /// downloadable). Sent to the caller's sockets on the node that did it.
    Notice {
        /// What happened.
        kind: &'a str,
        /// What it is about.
        id: Uuid,
    },
}

/// An account notice for one user's sockets.
#[derive(Clone, Copy, Debug)]
pub struct Notice {
    /// Whose.
    pub user: troupe_runtime::ids::UserId,
    /// What happened (`export_ready`).
    pub kind: &'static str,
    /// What it is about.
    pub id: Uuid,
}

impl ServerMessage<'_> {
    /// The message as a text frame.
    pub fn frame(&self) -> Message {
        Message::Text(Utf8Bytes::from(serde_json::to_string(self).expect("a message serialises")))
    }
}
