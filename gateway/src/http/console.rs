//! The web console: a static shell (HTML, plain JavaScript modules, CSS) embedded in the
//! binary and served at `/`. It uses the public JSON API and the WebSocket only; no JavaScript
//! toolchain builds it. Its content security policy allows scripts, styles and connections
//! from this origin only — no inline script or style.

use axum::extract::Path;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::http::ApiError;

/// What the console's pages may load: scripts, styles and connections (HTTP and WebSocket)
/// of this origin, images of this origin or inline data; nothing inline runs.
pub const CONSOLE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The console's files: name, content type, content.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../console/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("../../console/api.js")),
    ("dom.js", "text/javascript; charset=utf-8", include_str!("../../console/dom.js")),
    ("markdown.js", "text/javascript; charset=utf-8", include_str!("../../console/markdown.js")),
    ("graph.js", "text/javascript; charset=utf-8", include_str!("../../console/graph.js")),
    ("form.js", "text/javascript; charset=utf-8", include_str!("../../console/form.js")),
    ("pages.js", "text/javascript; charset=utf-8", include_str!("../../console/pages.js")),
    ("execution.js", "text/javascript; charset=utf-8", include_str!("../../console/execution.js")),
    ("account.js", "text/javascript; charset=utf-8", include_str!("../../console/account.js")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../console/style.css")),
];

const INDEX: &str = include_str!("../../console/index.html");

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONSOLE_POLICY)),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// The console's page (every screen is this page; the part after `#` says which).
#[utoipa::path(get, path = "/", tag = "console",
    responses((status = 200, description = "The web console", content_type = "text/html", body = String)))]
pub async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

/// A file of the console (its scripts and style sheet).
#[utoipa::path(get, path = "/console/{file}", tag = "console", params(("file" = String, Path)),
    responses((status = 200, description = "A script or style sheet of the console", content_type = "text/javascript", body = String),
        (status = 404, body = crate::http::ErrorBody)))]
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => page(content_type, body),
        None => ApiError::not_found("console file").into_response(),
    }
}
