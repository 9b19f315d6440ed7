//! Outbound HTTP for agents (web pages, transcripts, remote documents), safe by default.
//!
//! SSRF protection: a URL must be `http` or `https`, and every address its host resolves to —
//! at the first request and at every redirect, through a DNS resolver of our own, so a name
//! cannot resolve to one address when checked and another when connected — must be public:
//! loopback, private (RFC 1918, unique-local), link-local (which holds the cloud metadata
//! address 169.254.169.254), shared (100.64/10), unspecified, multicast, broadcast and
//! documentation ranges are refused unless allow-listed ([`FetchPolicy::allow`]: host names or
//! CIDR networks; the tests allow loopback). Bodies are capped, requests time out, each host is
//! fetched at most once per [`FetchPolicy::per_host_interval`], and [`Fetcher::allowed_by_robots`]
//! reads (and caches) each origin's robots.txt.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::Mutex;
use troupe_runtime::net::AllowList;
use url::Url;

/// The product token sent as `User-Agent` and matched in robots.txt.
pub const USER_AGENT: &str = "troupe-research";

/// What outbound fetches may do.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    /// Hosts (exact names) and networks (CIDR) allowed even though they are not public.
    pub allow: Vec<String>,
    /// An explicit proxy (`http://host:port`). Environment proxy variables are never used: a
    /// proxy resolves names itself, past the address checks.
    pub proxy: Option<String>,
    /// Longest wait for one response.
    pub timeout: Duration,
    /// Largest body read.
    pub max_bytes: usize,
    /// Least time between two requests to the same host.
    pub per_host_interval: Duration,
    /// Redirects followed at most.
    pub max_redirects: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            proxy: None,
            timeout: Duration::from_secs(20),
            max_bytes: 10 << 20,
            per_host_interval: Duration::from_millis(500),
            max_redirects: 5,
        }
    }
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not an http(s) URL.
    #[error("`{0}` is not an http or https URL")]
    BadUrl(String),
    /// The host is (or resolves to) an address that is not public and not allow-listed.
    #[error("refused to fetch `{url}`: {reason} (allow-list it in TROUPE_FETCH_ALLOW if intended)")]
    Refused {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// robots.txt disallows the URL.
    #[error("robots.txt of the site disallows `{0}`")]
    Robots(String),
    /// The server answered an error status.
    #[error("`{url}` answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The body is larger than allowed.
    #[error("`{url}` is larger than {max} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        max: usize,
    },
    /// Network failure or timeout.
    #[error("cannot fetch `{url}`: {message}")]
    Network {
        /// The URL.
        url: String,
        /// What happened.
        message: String,
    },
}

impl FetchError {
    /// Whether trying again later may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, FetchError::Network { .. })
            || matches!(self, FetchError::Status { status, .. } if *status == 429 || *status >= 500)
    }
}

/// A fetched document.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The final URL (after redirects).
    pub url: Url,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

/// Why an address is not public, if it is not (the runtime's one outbound policy).
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    troupe_runtime::net::non_public(ip)
}

/// Resolves names and drops every address the policy refuses.
struct SafeResolver {
    allow: AllowList,
}

impl reqwest::dns::Resolve for SafeResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let allow = self.allow.clone();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if allow.allows_host(&host) {
                return Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs);
            }
            let mut refused = None;
            let public: Vec<SocketAddr> = addresses
                .into_iter()
                .filter(|address| match allow.refuses(address.ip()) {
                    Some(reason) => {
                        refused = Some(reason);
                        false
                    }
                    None => true,
                })
                .collect();
            if public.is_empty() {
                let reason = refused.unwrap_or("it does not resolve");
                return Err(format!("refused: `{host}` resolves to {reason}").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The outbound HTTP client of the research agents.
pub struct Fetcher {
    client: reqwest::Client,
    policy: FetchPolicy,
    allow: AllowList,
    last_request: Mutex<HashMap<String, Instant>>,
    robots: Mutex<HashMap<String, Option<Arc<texting_robots::Robot>>>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("policy", &self.policy).finish()
    }
}

impl Fetcher {
    /// A fetcher under `policy`.
    pub fn new(policy: FetchPolicy) -> Self {
        let allow = AllowList::parse(&policy.allow);
        let redirect_allow = allow.clone();
        let max_redirects = policy.max_redirects;
        let mut builder = reqwest::Client::builder().no_proxy();
        if let Some(proxy) = policy.proxy.as_deref().and_then(|proxy| reqwest::Proxy::all(proxy).ok()) {
            builder = builder.proxy(proxy);
        }
        let client = builder
            .user_agent(format!("{USER_AGENT}/{}", env!("CARGO_PKG_VERSION")))
            .timeout(policy.timeout)
            .dns_resolver(Arc::new(SafeResolver { allow: allow.clone() }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= max_redirects {
                    return attempt.error("too many redirects");
                }
                match check_literal(attempt.url(), &redirect_allow) {
                    Ok(()) => attempt.follow(),
                    Err(reason) => attempt.error(reason),
                }
            }))
            .build()
            .expect("the HTTP client builds");
        Self { client, policy, allow, last_request: Mutex::new(HashMap::new()), robots: Mutex::new(HashMap::new()) }
    }

    /// Parses and checks a URL (scheme, literal addresses).
    pub fn check(&self, url: &str) -> Result<Url, FetchError> {
        let parsed = Url::parse(url).map_err(|_| FetchError::BadUrl(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(FetchError::BadUrl(url.to_owned()));
        }
        check_literal(&parsed, &self.allow).map_err(|reason| FetchError::Refused { url: url.to_owned(), reason })?;
        Ok(parsed)
    }

    /// Fetches `url` (GET), waiting for the host's rate limit.
    pub async fn get(&self, url: &str) -> Result<Fetched, FetchError> {
        let parsed = self.check(url)?;
        self.pace(&parsed).await;
        let network = |error: reqwest::Error| {
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message = format!("{message}: {cause}");
                source = cause.source();
            }
            if message.contains("refused:") {
                let reason = message.split("refused: ").nth(1).unwrap_or(&message).to_owned();
                FetchError::Refused { url: url.to_owned(), reason }
            } else {
                FetchError::Network { url: url.to_owned(), message }
            }
        };
        let response = self.client.get(parsed).send().await.map_err(network)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status { url: url.to_owned(), status: status.as_u16() });
        }
        let final_url = response.url().clone();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let max = self.policy.max_bytes;
        if response.content_length().is_some_and(|length| length as usize > max) {
            return Err(FetchError::TooLarge { url: url.to_owned(), max });
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(network)?;
            if body.len() + chunk.len() > max {
                return Err(FetchError::TooLarge { url: url.to_owned(), max });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { url: final_url, content_type, body })
    }

    /// Whether the site's robots.txt lets us fetch `url` (no robots.txt, or an unreadable one:
    /// allowed). Each origin's file is read once.
    pub async fn allowed_by_robots(&self, url: &Url) -> bool {
        let origin = url.origin().ascii_serialization();
        let cached = self.robots.lock().await.get(&origin).cloned();
        let robot = match cached {
            Some(robot) => robot,
            None => {
                let robot = match self.get(&format!("{origin}/robots.txt")).await {
                    Ok(fetched) => texting_robots::Robot::new(USER_AGENT, &fetched.body).ok().map(Arc::new),
                    Err(_) => None,
                };
                self.robots.lock().await.insert(origin, robot.clone());
                robot
            }
        };
        robot.is_none_or(|robot| robot.allowed(url.as_str()))
    }

    /// Waits until the host may be asked again.
    async fn pace(&self, url: &Url) {
        let host = url.host_str().unwrap_or_default().to_owned();
        let wait = {
            let mut last = self.last_request.lock().await;
            let now = Instant::now();
            let next = last.get(&host).map_or(now, |at| (*at + self.policy.per_host_interval).max(now));
            last.insert(host, next);
            next - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Refuses URLs whose host is a literal address that is not public (names are checked when
/// resolved).
fn check_literal(url: &Url, allow: &AllowList) -> Result<(), String> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    match non_public(ip) {
        Some(reason) if !allow.allows_ip(ip) => Err(format!("{ip} is {reason}")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_named() {
        for (ip, expected) in [
            ("127.0.0.1", true),
            ("10.1.2.3", true),
            ("172.16.0.1", true),
            ("192.168.1.1", true),
            ("169.254.169.254", true),
            ("100.64.0.1", true),
            ("0.0.0.0", true),
            ("::1", true),
            ("fd00::1", true),
            ("fe80::1", true),
            ("::ffff:127.0.0.1", true),
            ("93.184.216.34", false),
            ("2606:4700::1111", false),
        ] {
            assert_eq!(non_public(ip.parse().unwrap()).is_some(), expected, "{ip}");
        }
    }

    #[tokio::test]
    async fn private_targets_are_refused_unless_allowed() {
        let fetcher = Fetcher::new(FetchPolicy::default());
        for url in [
            "http://127.0.0.1:9/x",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://localhost:9/",
            "http://198.18.0.1/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::1]/",
            "http://[::127.0.0.1]/",
            "http://[::ffff:10.0.0.1]/",
        ] {
            let error = fetcher.get(url).await.unwrap_err();
            assert!(matches!(error, FetchError::Refused { .. }), "{url}: {error}");
        }
        assert!(matches!(fetcher.get("file:///etc/passwd").await, Err(FetchError::BadUrl(_))));
        assert!(matches!(fetcher.get("gopher://example.com/").await, Err(FetchError::BadUrl(_))));

        // Allow-listed loopback gets through (to a closed port here: a network error, not a refusal).
        let allowed = Fetcher::new(FetchPolicy { allow: vec!["127.0.0.0/8".into()], ..FetchPolicy::default() });
        let error = allowed.get("http://127.0.0.1:9/x").await.unwrap_err();
        assert!(matches!(error, FetchError::Network { .. }), "{error}");
    }
}
