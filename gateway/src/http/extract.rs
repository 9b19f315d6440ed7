//! Extractors whose rejections speak the API's error format: JSON bodies that name the bad
//! field, query strings, ids in paths, and the authenticated caller.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use troupe_runtime::ErrorCode;
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, AppState};
use crate::auth::{Caller, ClientInfo};

/// The header programs may use for an API key instead of `Authorization: Bearer`.
pub const API_KEY_HEADER: &str = "x-api-key";

/// A JSON body; a malformed or mistyped body answers 400 naming the field (`steps[0].agent`).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + ToSchema + 'static, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json") || mime.to_ascii_lowercase().ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge, "the body is larger than allowed")
            } else {
                ApiError::new(ErrorCode::BadBody, rejection.body_text())
            }
        })?;
        parse_body(&bytes).map(ApiJson)
    }
}

/// Parses a request body: JSON, valid against the schema the document publishes for `T`
/// (objects only, every problem named by its field), then deserialised.
pub fn parse_body<T: DeserializeOwned + ToSchema + 'static>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = parse_json(bytes)?;
    super::strict::check_body::<T>(&value)?;
    parse_value(value)
}

/// Deserialises a JSON value, naming the path of a field of the wrong type or a missing one.
pub fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::invalid_field(field, strip_position(&error.inner().to_string()))
    })
}

/// Parses a JSON document, naming the path of a field of the wrong type or a missing one.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::new(ErrorCode::MalformedJson, format!("malformed JSON: {inner}"));
        }
        let path = error.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::invalid_field(field, strip_position(&inner.to_string()))
    })?;
    deserializer.end().map_err(|error| ApiError::new(ErrorCode::MalformedJson, format!("malformed JSON: {error}")))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 42" to data errors; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string; a bad parameter answers 400 naming it.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Serialize + IntoParams + 'static,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Query(query) =
            Query::<T>::try_from_uri(&parts.uri).map_err(|rejection| query_error(&rejection.body_text()))?;
        super::strict::check_query(&query)?;
        Ok(ApiQuery(query))
    }
}

/// Names the parameter of a query that does not parse (serde_urlencoded says
/// "Failed to deserialize query string: limit: invalid digit found in string").
fn query_error(text: &str) -> ApiError {
    let detail = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(text);
    match detail.split_once(": ") {
        Some((field, message)) if !field.contains(' ') => ApiError::invalid_field(field, message),
        _ => {
            let field =
                detail.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next()).unwrap_or("query");
            ApiError::invalid_field(field, detail)
        }
    }
}

/// Parses an id from a path segment; a malformed one answers 400 naming the parameter.
pub fn parse_id<T: std::str::FromStr>(text: &str, field: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| ApiError::invalid_field(field, format!("`{text}` is not a valid id")))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let credential = credential(parts).ok_or_else(|| {
            ApiError::unauthorized("authentication required: send `Authorization: Bearer <token or API key>`")
        })?;
        let caller = state.auth.authenticate(credential).await?;
        if caller.read_only && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Err(ApiError::new(ErrorCode::ReadOnlyKey, "this API key may only read"));
        }
        Ok(caller)
    }
}

/// The bearer token or API key a request carries.
pub fn credential(parts: &Parts) -> Option<&str> {
    if let Some(value) = parts.headers.get(AUTHORIZATION).and_then(|value| value.to_str().ok()) {
        let (scheme, token) = value.split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|token| !token.is_empty());
    }
    parts.headers.get(API_KEY_HEADER).and_then(|value| value.to_str().ok()).map(str::trim)
}

/// Returns the client's address: the connection's peer, unless the peer is a trusted proxy —
/// then the address the proxies recorded in `X-Forwarded-For`: the nearest one that is not a
/// trusted proxy itself (anything further left could have been written by the client).
pub fn client_ip(
    extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> Option<std::net::IpAddr> {
    let peer = peer_addr(extensions)?.ip();
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    Some(forwarded.into_iter().rev().find(|ip| !is_trusted(ip)).unwrap_or(peer))
}

/// Returns the address of the connection's peer: the socket's, or the one a test router set
/// with `MockConnectInfo`.
pub fn peer_addr(extensions: &axum::http::Extensions) -> Option<std::net::SocketAddr> {
    use axum::extract::ConnectInfo;
    use axum::extract::connect_info::MockConnectInfo;
    extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
        .or_else(|| extensions.get::<MockConnectInfo<std::net::SocketAddr>>().map(|MockConnectInfo(addr)| *addr))
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = client_ip(&parts.extensions, &parts.headers, &state.settings.trusted_proxies).map(|ip| ip.to_string());
        let user_agent =
            parts.headers.get(axum::http::header::USER_AGENT).and_then(|value| value.to_str().ok()).map(str::to_owned);
        Ok(ClientInfo { ip, user_agent })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "only deserialised, to see which field is named in errors")]
    struct Body {
        name: String,
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "only deserialised, to see which field is named in errors")]
    struct Item {
        count: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let error = parse_json::<Body>(br#"{"name": "x", "items": [{"count": "three"}]}"#).unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.details["fields"][0]["field"], "items[0].count");
        let error = parse_json::<Body>(br#"{"items": []}"#).unwrap_err();
        assert_eq!(error.details["fields"][0]["field"], "body");
        assert!(error.message.contains("missing field `name`"), "{}", error.message);
        let error = parse_json::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(error.code, ErrorCode::MalformedJson);
        let error = parse_json::<Body>(br#"{"name": "x", "items": []} trailing"#).unwrap_err();
        assert_eq!(error.code, ErrorCode::MalformedJson);
    }
}
