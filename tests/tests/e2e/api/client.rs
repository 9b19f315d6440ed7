//! An HTTP client that calls the gateway's router in process (`tower::ServiceExt::oneshot`),
//! without a socket: the same request builder shape as reqwest's, so tests read the same.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use serde::Serialize;
use tower::ServiceExt;

/// The client address every in-process request comes from.
pub const CLIENT_ADDR: ([u8; 4], u16) = ([127, 0, 0, 1], 40000);

/// Calls a router in process.
#[derive(Clone)]
pub struct Client {
    router: axum::Router,
}

impl Client {
    /// A client of `router` (the gateway's whole API).
    pub fn new(router: axum::Router) -> Self {
        Self { router: router.layer(MockConnectInfo(SocketAddr::from(CLIENT_ADDR))) }
    }

    /// Starts a request; `url` may be a full URL or a path (only the path and query are used).
    pub fn request(&self, method: Method, url: impl AsRef<str>) -> RequestBuilder {
        let url = url.as_ref();
        let path = match url.find("://") {
            Some(scheme) => url[scheme + 3..].find('/').map_or("/", |slash| &url[scheme + 3 + slash..]),
            None => url,
        };
        RequestBuilder {
            router: self.router.clone(),
            method,
            path: path.to_owned(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    /// Starts a GET.
    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// Starts a POST.
    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::POST, url)
    }
}

/// A request being built.
pub struct RequestBuilder {
    router: axum::Router,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl RequestBuilder {
    /// Adds a header.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.headers.append(
            HeaderName::try_from(name.as_ref()).expect("a header name"),
            HeaderValue::try_from(value.as_ref()).expect("a header value"),
        );
        self
    }

    /// Adds `Authorization: Bearer …`.
    pub fn bearer_auth(self, token: impl std::fmt::Display) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Sends `value` as the JSON body.
    pub fn json(self, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).expect("serialisable");
        self.header("content-type", "application/json").body(body)
    }

    /// Sends raw bytes as the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request through the router.
    pub async fn send(self) -> Result<Response, std::convert::Infallible> {
        let method = self.method.clone();
        let mut request = Request::builder().method(self.method).uri(&self.path);
        *request.headers_mut().expect("a request being built") = self.headers;
        let request = request.body(Body::from(self.body)).expect("a valid request");
        let response = self.router.oneshot(request).await?;
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("a readable body");
        // The conformance gate: every answer a test receives must be one the document lists.
        let content_type = parts.headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        crate::contract::check_response(method.as_str(), &self.path, parts.status.as_u16(), content_type, &bytes);
        Ok(Response { status: parts.status, headers: parts.headers, body: bytes.to_vec() })
    }
}

/// An answer.
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Response {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body as bytes.
    pub fn bytes(self) -> Vec<u8> {
        self.body
    }

    /// The body as text.
    pub async fn text(self) -> Result<String, std::string::FromUtf8Error> {
        String::from_utf8(self.body)
    }

    /// The body as JSON.
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}
