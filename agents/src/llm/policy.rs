//! How an HTTP provider is called: timeout, retries with backoff honouring `Retry-After`, a
//! circuit breaker and a concurrency limit.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::LlmError;

/// The calling policy of one provider.
#[derive(Clone, Debug)]
pub struct HttpPolicy {
    /// Longest wait for one answer.
    pub timeout: Duration,
    /// Retries after the first attempt (429, 5xx, timeouts, connection errors).
    pub max_retries: u32,
    /// Delay before the first retry; doubles each time (with jitter).
    pub initial_backoff: Duration,
    /// Longest delay between attempts, `Retry-After` included.
    pub max_backoff: Duration,
    /// Consecutive failed attempts that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long an open breaker refuses calls before letting one probe through.
    pub breaker_cooldown: Duration,
    /// Requests in flight at most.
    pub concurrency: usize,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            concurrency: 16,
        }
    }
}

impl HttpPolicy {
    /// The delay before retry number `retry` (from 1), with ±25% jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let base = self.initial_backoff.saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        base.min(self.max_backoff).mul_f64(0.75 + fastrand::f64() * 0.5)
    }
}

/// A circuit breaker: closed → open after `threshold` consecutive failures → after the
/// cooldown, half-open: one probe goes through; its success closes the breaker, its failure
/// opens it again.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self { threshold: threshold.max(1), cooldown, state: Mutex::new(BreakerState::default()) }
    }

    /// Asks to make a call: `Err(wait)` while the breaker is open (or a probe is out).
    pub fn admit(&self) -> Result<(), Duration> {
        let mut state = self.state.lock().expect("breaker lock");
        match state.open_until {
            None => Ok(()),
            Some(until) => {
                let now = Instant::now();
                if now < until {
                    Err(until - now)
                } else if state.probing {
                    Err(self.cooldown)
                } else {
                    state.probing = true;
                    Ok(())
                }
            }
        }
    }

    /// Records a successful call: the breaker closes.
    pub fn success(&self) {
        *self.state.lock().expect("breaker lock") = BreakerState::default();
    }

    /// Records a failed call; opens the breaker at the threshold (or when a probe fails).
    pub fn failure(&self) {
        let mut state = self.state.lock().expect("breaker lock");
        state.failures += 1;
        if state.probing || state.failures >= self.threshold {
            state.open_until = Some(Instant::now() + self.cooldown);
            state.probing = false;
        }
    }

    /// Whether calls are currently refused.
    pub fn is_open(&self) -> bool {
        self.state.lock().expect("breaker lock").open_until.is_some_and(|until| Instant::now() < until)
    }
}

/// A failed attempt, and how long the provider asked to wait before the next one.
pub type AttemptError = (LlmError, Option<Duration>);

/// A provider's policy with its breaker and concurrency slots: runs attempts until one
/// succeeds, the error is not worth retrying, or the retries are spent.
#[derive(Debug)]
pub struct Guarded {
    policy: HttpPolicy,
    breaker: CircuitBreaker,
    slots: Semaphore,
}

impl Guarded {
    /// Wraps a policy.
    pub fn new(policy: HttpPolicy) -> Self {
        Self {
            breaker: CircuitBreaker::new(policy.breaker_threshold, policy.breaker_cooldown),
            slots: Semaphore::new(policy.concurrency.max(1)),
            policy,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &HttpPolicy {
        &self.policy
    }

    /// Runs `attempt` under the policy.
    pub async fn call<T, F, Fut>(&self, provider: &str, mut attempt: F) -> Result<T, LlmError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AttemptError>>,
    {
        let mut attempts = 0u32;
        loop {
            self.breaker.admit().map_err(|retry_in| LlmError::CircuitOpen { retry_in })?;
            let permit =
                self.slots.acquire().await.map_err(|_| LlmError::Unreachable("the client is closed".into()))?;
            attempts += 1;
            let outcome = attempt().await;
            drop(permit);
            let (error, wait) = match outcome {
                Ok(response) => {
                    self.breaker.success();
                    return Ok(response);
                }
                Err((error @ (LlmError::Refused { .. } | LlmError::Malformed(_)), _)) => {
                    // The provider is up; the request is at fault.
                    self.breaker.success();
                    return Err(error);
                }
                Err(failure) => failure,
            };
            self.breaker.failure();
            tracing::warn!(provider, attempt = attempts, %error, "LLM request failed");
            if attempts > self.policy.max_retries {
                return Err(match error {
                    LlmError::RateLimited { .. } => LlmError::RateLimited { attempts },
                    LlmError::Server { status, message, .. } => LlmError::Server { status, attempts, message },
                    other => other,
                });
            }
            let delay = wait.unwrap_or_else(|| self.policy.backoff(attempts)).min(self.policy.max_backoff);
            tokio::time::sleep(delay).await;
        }
    }
}

/// Sends a prepared request and reads the answer: the body of a 2xx, or the error the status
/// means, with the provider's message and `Retry-After`.
pub async fn exchange(request: reqwest::RequestBuilder, timeout: Duration) -> Result<String, AttemptError> {
    let response = request.send().await.map_err(|error| transport(error, timeout))?;
    if !response.status().is_success() {
        return Err(status_error(response).await);
    }
    response.text().await.map_err(|error| transport(error, timeout))
}

/// A failure to talk to the provider at all.
pub fn transport(error: reqwest::Error, timeout: Duration) -> AttemptError {
    let error = if error.is_timeout() {
        LlmError::Timeout(timeout)
    } else {
        // Without the URL: some providers take the key as a query parameter.
        LlmError::Unreachable(error.without_url().to_string())
    };
    (error, None)
}

/// The error a non-2xx answer means, with the provider's message and `Retry-After`.
pub async fn status_error(response: reqwest::Response) -> AttemptError {
    let status = response.status();
    let wait = response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(retry_after);
    let text = response.text().await.unwrap_or_default();
    let parsed: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    let message: String = parsed
        .as_ref()
        .and_then(|value| value["error"]["message"].as_str())
        .unwrap_or(&text)
        .chars()
        .take(500)
        .collect();
    let error = match status.as_u16() {
        429 => LlmError::RateLimited { attempts: 0 },
        code @ 500..=599 => LlmError::Server { status: code, attempts: 0, message },
        code => LlmError::Refused { status: code, message },
    };
    (error, wait)
}

/// Builds the HTTP client of a provider.
pub fn http_client(base_url: &str, policy: &HttpPolicy) -> Result<(String, reqwest::Client), LlmError> {
    let base_url = base_url.trim_end_matches('/').to_owned();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(LlmError::Unreachable(format!("the base URL must start with http:// or https://: `{base_url}`")));
    }
    let client = reqwest::Client::builder()
        .timeout(policy.timeout)
        .build()
        .map_err(|error| LlmError::Unreachable(error.to_string()))?;
    Ok((base_url, client))
}

/// Parses `Retry-After`: seconds, or an HTTP date.
pub fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_at_the_threshold_and_a_probe_closes_it() {
        let breaker = CircuitBreaker::new(2, Duration::ZERO);
        assert!(breaker.admit().is_ok());
        breaker.failure();
        assert!(breaker.admit().is_ok(), "one failure is below the threshold");
        breaker.failure();
        // Cooldown zero: the next call is the probe; a second one waits for its verdict.
        assert!(breaker.admit().is_ok());
        assert!(breaker.admit().is_err(), "only one probe at a time");
        breaker.failure();
        assert!(breaker.admit().is_ok(), "a failed probe opens again; after the cooldown another probe");
        breaker.success();
        assert!(breaker.admit().is_ok() && breaker.admit().is_ok(), "closed");
        let long = CircuitBreaker::new(1, Duration::from_secs(60));
        long.failure();
        assert!(long.is_open());
        assert!(long.admit().unwrap_err() > Duration::from_secs(59));
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        let parsed = retry_after(&later).unwrap();
        assert!(parsed > Duration::from_secs(100) && parsed <= Duration::from_secs(120), "{parsed:?}");
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = HttpPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..HttpPolicy::default()
        };
        let first = policy.backoff(1);
        assert!(first >= Duration::from_millis(75) && first <= Duration::from_millis(125));
        let third = policy.backoff(3);
        assert!(third >= Duration::from_millis(262) && third <= Duration::from_millis(438), "{third:?}");
    }
}
