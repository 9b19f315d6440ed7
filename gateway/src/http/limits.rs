//! Protective middleware: rate limits per client address and per user (token buckets), a
//! deadline per request, and CORS.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tower_http::cors::{AllowOrigin, CorsLayer};
use troupe_runtime::ErrorCode;

use super::{ApiError, AppState};
use crate::auth::Auth;

/// Token-bucket sizes: a sustained rate per second and a burst.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second per client address.
    pub per_ip_per_second: u32,
    /// Burst per client address.
    pub per_ip_burst: u32,
    /// Requests per second per user (or API key).
    pub per_user_per_second: u32,
    /// Burst per user.
    pub per_user_burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self { per_ip_per_second: 100, per_ip_burst: 200, per_user_per_second: 50, per_user_burst: 100 }
    }
}

/// The keyed token buckets.
pub struct RateLimiter {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_user: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl RateLimiter {
    /// Builds the buckets (a zero in the settings is taken as one).
    pub fn new(limit: RateLimit) -> Self {
        let quota = |rate: u32, burst: u32| {
            Quota::per_second(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
        };
        Self {
            per_ip: DefaultKeyedRateLimiter::dashmap(quota(limit.per_ip_per_second, limit.per_ip_burst)),
            per_user: DefaultKeyedRateLimiter::dashmap(quota(limit.per_user_per_second, limit.per_user_burst)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes a token for the address and, when the caller presents a credential, for its
    /// bucket (see `Auth::rate_key`); returns how many seconds to wait when a bucket is empty.
    fn check(&self, ip: Option<IpAddr>, user: Option<&String>) -> Result<(), u64> {
        let wait = |not_until: governor::NotUntil<_>| {
            not_until.wait_time_from(self.clock.now()).as_secs_f64().ceil().max(1.0) as u64
        };
        if let Some(ip) = ip {
            self.per_ip.check_key(&ip).map_err(wait)?;
        }
        if let Some(user) = user {
            self.per_user.check_key(user).map_err(wait)?;
        }
        Ok(())
    }
}

/// Paths never rate-limited: health checks and scrapes must answer whatever a client does.
pub const UNLIMITED: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// What the rate-limit middleware needs.
#[derive(Clone)]
pub struct Limiting {
    /// The buckets; `None` when limits are off.
    pub limiter: Option<Arc<RateLimiter>>,
    /// Maps a credential to its bucket.
    pub auth: Auth,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted: Arc<Vec<ipnet::IpNet>>,
}

/// Answers 429 with `Retry-After` when the client's or the user's bucket is empty. Every route
/// is limited (unknown ones included) but health, readiness and metrics.
pub async fn rate_limit(
    State(Limiting { limiter, auth, trusted }): State<Limiting>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(limiter) = limiter
        && !UNLIMITED.contains(&request.uri().path())
    {
        let ip = super::extract::client_ip(request.extensions(), request.headers(), &trusted);
        let (parts, body) = request.into_parts();
        let user = super::extract::credential(&parts).map(|credential| auth.rate_key(credential));
        let verdict = limiter.check(ip, user.as_ref());
        let request = Request::from_parts(parts, body);
        if let Err(seconds) = verdict {
            let mut error = ApiError::new(ErrorCode::RateLimited, format!("too many requests; retry in {seconds} s"));
            error.retry_after = Some(seconds);
            return error.into_response();
        }
        return next.run(request).await;
    }
    next.run(request).await
}

/// Answers 503 `timeout` when a request takes longer than the configured deadline. The
/// WebSocket upgrade answers at once, so live connections are not cut by it.
pub async fn timeout(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(state.settings.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(ErrorCode::Timeout, "the request took too long").into_response(),
    }
}

/// CORS for the configured origins (none configured: no cross-origin access).
pub fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, "idempotency-key".parse().expect("a header name")])
        .expose_headers(["x-request-id".parse().expect("a header name"), header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_empty_and_say_when_to_retry() {
        let limiter = RateLimiter::new(RateLimit {
            per_ip_per_second: 1,
            per_ip_burst: 2,
            per_user_per_second: 1,
            per_user_burst: 1,
        });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(limiter.check(Some(ip), None).is_ok());
        assert!(limiter.check(Some(ip), None).is_ok());
        assert_eq!(limiter.check(Some(ip), None), Err(1));
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let (a, b) = ("user:a".to_owned(), "user:b".to_owned());
        assert!(limiter.check(Some(other), Some(&a)).is_ok());
        assert!(limiter.check(None, Some(&a)).is_err(), "the user's own bucket is empty");
        assert!(limiter.check(None, Some(&b)).is_ok());
    }
}
