//! Sessions that end, a safe first start, and nothing unbounded: WebSockets closed when their
//! credentials end, logins listed and ended, registration that never makes an admin, fixed
//! metric labels, bounded password hashing, trusted proxies, privacy-budget caps.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use troupe::Config;
use troupe_gateway::http::HttpSettings;
use troupe_gateway::http::limits::RateLimit;
use troupe_runtime::accounts::Role;

use super::{Api, Backend, on_both_stores};

const CLOSE_UNAUTHORIZED: u16 = 4401;
const CLOSE_TOO_MANY: u16 = 4429;

/// A server that re-checks WebSockets every second and whose access tokens live `ttl`.
async fn strict(test: &str, ttl: Duration) -> Api {
    Api::start_configured(Backend::Sqlite, test, |config| {
        let mut config = Config { access_token_ttl: ttl, ..config };
        config.http.ws_recheck_interval = Duration::from_secs(1);
        config.http.ws_max_subscriptions = 2;
        config.http.ws_max_connections_per_user = 2;
        config
    })
    .await
    .unwrap()
}

fn token(login: &Value) -> String {
    login["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_is_closed_when_its_credentials_end() {
    let api = strict("ws_credentials_end", Duration::from_secs(900)).await;
    let admin = token(&api.admin("root@example.com").await);

    // Its API key is revoked.
    let owner = token(&api.user("keys@example.com").await);
    let (_, key) = api.post("/api/v1/api-keys", &owner, json!({"name": "ws"})).await;
    let mut ws = api.ws(key["key"].as_str().unwrap()).await;
    let (status, _) =
        api.call("DELETE", &format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap()), Some(&owner), None).await;
    assert_eq!(status, 204);
    assert_eq!(ws.closed().await, (Some("unauthorized".into()), Some(CLOSE_UNAUTHORIZED)));

    // Its user is disabled.
    let login = api.user("disabled@example.com").await;
    let mut ws = api.ws(&token(&login)).await;
    let user = login["user"]["id"].as_str().unwrap();
    let (status, body) =
        api.call("PATCH", &format!("/api/v1/users/{user}"), Some(&admin), Some(json!({"disabled": true}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ws.closed().await, (Some("unauthorized".into()), Some(CLOSE_UNAUTHORIZED)));

    // Its session logs out.
    let login = api.user("logout@example.com").await;
    let mut ws = api.ws(&token(&login)).await;
    let (status, _) = api.call("POST", "/api/v1/auth/logout", Some(&token(&login)), None).await;
    assert_eq!(status, 204);
    assert_eq!(ws.closed().await, (Some("unauthorized".into()), Some(CLOSE_UNAUTHORIZED)));
    api.stop().await;

    // Its token expires (access tokens of 2 s here).
    let api = strict("ws_token_expires", Duration::from_secs(2)).await;
    let login = api.user("expires@example.com").await;
    let started = Instant::now();
    let mut ws = api.ws(&token(&login)).await;
    assert_eq!(ws.closed().await, (Some("unauthorized".into()), Some(CLOSE_UNAUTHORIZED)));
    assert!(started.elapsed() >= Duration::from_secs(1), "closed at the token's expiry, not before");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_execution_is_one_subscription_and_the_caps_answer_with_their_errors() {
    let api = strict("ws_caps", Duration::from_secs(900)).await;
    let login = api.user("caps@example.com").await;
    let owner = token(&login);
    let first = api.execute(&owner, json!("hello"), json!({"name": "a"})).await;
    let second = api.execute(&owner, json!("hello"), json!({"name": "b"})).await;
    let third = api.execute(&owner, json!("hello"), json!({"name": "c"})).await;
    let mut ws = api.ws(&owner).await;
    let braced = format!("{{{}}}", first.to_uppercase());
    for spelling in [first.clone(), first.to_uppercase(), braced, format!("urn:uuid:{first}")] {
        ws.send(json!({"type": "subscribe", "execution_id": spelling})).await;
        let answer = loop {
            let message = ws.next_message().await.unwrap();
            if message["type"] != "event" {
                break message;
            }
        };
        assert_eq!(answer["type"], "subscribed", "{spelling}: {answer}");
        assert_eq!(answer["execution_id"], first.as_str(), "the id comes back in one spelling");
    }
    // Four spellings took one of the two subscriptions: one more fits, then the cap answers.
    for (id, expected) in [(&second, "subscribed"), (&third, "error")] {
        ws.send(json!({"type": "subscribe", "execution_id": id})).await;
        let answer = loop {
            let message = ws.next_message().await.unwrap();
            if message["type"] != "event" {
                break message;
            }
        };
        assert_eq!(answer["type"], expected, "{answer}");
        if expected == "error" {
            assert_eq!(answer["code"], "too_many_subscriptions");
        }
    }
    // Two sockets per user here: a third is refused.
    let _second_socket = api.ws(&owner).await;
    let mut third_socket = api.ws_unchecked(&owner).await;
    assert_eq!(third_socket.closed().await, (Some("too_many_connections".into()), Some(CLOSE_TOO_MANY)));
    api.stop().await;
}

async fn sessions_end_where_they_should(api: &Api) {
    // A logged-out access token is refused on the next request.
    let login = api.user("sessions@example.com").await;
    let first = token(&login);
    assert_eq!(api.get("/api/v1/auth/me", &first).await.0, 200);
    assert_eq!(api.call("POST", "/api/v1/auth/logout", Some(&first), None).await.0, 204);
    let (status, body) = api.get("/api/v1/auth/me", &first).await;
    assert_eq!(status, 401, "{body}");

    // Two devices: each sees both logins and can end the other.
    let laptop = token(&api.login("sessions@example.com", "password-1").await);
    let phone = token(&api.login("sessions@example.com", "password-1").await);
    let (status, logins) = api.get("/api/v1/auth/sessions", &laptop).await;
    assert_eq!(status, 200, "{logins}");
    let logins = logins.as_array().unwrap();
    assert_eq!(logins.len(), 2, "the logged-out login is gone: {logins:?}");
    assert_eq!(logins.iter().filter(|login| login["current"] == true).count(), 1);
    let other = logins.iter().find(|login| login["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(api.call("DELETE", &format!("/api/v1/auth/sessions/{other}"), Some(&laptop), None).await.0, 204);
    assert_eq!(api.get("/api/v1/auth/me", &phone).await.0, 401, "the ended login's token stops working");
    assert_eq!(api.get("/api/v1/auth/me", &laptop).await.0, 200);
    // Nobody ends someone else's login.
    let stranger = token(&api.user("stranger@example.com").await);
    let (_, mine) = api.get("/api/v1/auth/sessions", &laptop).await;
    let mine = mine[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(api.call("DELETE", &format!("/api/v1/auth/sessions/{mine}"), Some(&stranger), None).await.0, 404);

    // A password change revokes API keys, unless asked not to.
    let (_, key) = api.post("/api/v1/api-keys", &laptop, json!({"name": "ci"})).await;
    let key = key["key"].as_str().unwrap().to_owned();
    assert_eq!(api.get("/api/v1/auth/me", &key).await.0, 200);
    let change = json!({"current_password": "password-1", "new_password": "password-2", "revoke_api_keys": false});
    assert_eq!(api.post("/api/v1/auth/password", &laptop, change).await.0, 204);
    assert_eq!(api.get("/api/v1/auth/me", &key).await.0, 200, "kept when asked");
    let change = json!({"current_password": "password-2", "new_password": "password-3"});
    assert_eq!(api.post("/api/v1/auth/password", &laptop, change).await.0, 204);
    assert_eq!(api.get("/api/v1/auth/me", &key).await.0, 401, "revoked by default");
}
on_both_stores!(sessions_end, sessions_end_where_they_should);

async fn registration_never_makes_an_admin(api: &Api) {
    // Two concurrent first sign-ups: both plain users.
    let register = |email: &'static str| {
        api.call("POST", "/api/v1/auth/register", None, Some(json!({"email": email, "password": "password-1"})))
    };
    let (first, second) = tokio::join!(register("one@example.com"), register("two@example.com"));
    assert_eq!((first.0, second.0), (201, 201));
    assert_eq!((first.1["role"].as_str(), second.1["role"].as_str()), (Some("user"), Some("user")));
    // Only an admin creates users of other roles; an ordinary user cannot.
    let user = token(&api.login("one@example.com", "password-1").await);
    let invite = json!({"email": "new@example.com", "password": "password-1", "role": "researcher"});
    assert_eq!(api.post("/api/v1/users", &user, invite.clone()).await.0, 403);
    let admin = token(&api.admin("root@example.com").await);
    let (status, created) = api.post("/api/v1/users", &admin, invite).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["role"], "researcher");
    assert_eq!(api.login("new@example.com", "password-1").await["user"]["role"], "researcher");
}
on_both_stores!(registration_and_invitations, registration_never_makes_an_admin);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_registration_is_refused() {
    let closed = HttpSettings { rate_limit: None, allow_registration: false, ..HttpSettings::default() };
    let api = Api::start_with(Backend::Sqlite, "closed_registration", closed).await.unwrap();
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "eve@example.com", "password": "password-1"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "registration_closed");
    api.stop().await;
}

async fn the_setup_token_works_once(api: &Api) {
    let auth = &api.state().auth;
    // Somebody registered before any admin existed: the token is still made, and still works.
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "early@example.com", "password": "password-1"})),
        )
        .await;
    assert_eq!(status, 201);
    let secret = auth.ensure_setup_token().await.unwrap().expect("an installation without admin gets a token");
    assert!(auth.ensure_setup_token().await.unwrap().is_none(), "one token, whoever asks again");
    let setup = |email: &str, token: &str| json!({"setup_token": token, "email": email, "password": "password-1"});
    let (status, body) =
        api.call("POST", "/api/v1/auth/setup", None, Some(setup("eve@example.com", "trs_wrong"))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("setup_refused")));
    // A setup that fails (the email is taken) keeps the token.
    let (status, body) = api.call("POST", "/api/v1/auth/setup", None, Some(setup("early@example.com", &secret))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("email_taken")), "{body}");
    // Two at once with the right token: exactly one admin.
    let (first, second) = tokio::join!(
        api.call("POST", "/api/v1/auth/setup", None, Some(setup("ada@example.com", &secret))),
        api.call("POST", "/api/v1/auth/setup", None, Some(setup("eve@example.com", &secret))),
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [201, 403]);
    let winner = if first.0 == 201 { first.1 } else { second.1 };
    assert_eq!(winner["role"], "admin");
    let (status, _) = api.call("POST", "/api/v1/auth/setup", None, Some(setup("mallory@example.com", &secret))).await;
    assert_eq!(status, 403, "the token works once");
    // With the first admin there, `troupe admin create-user` makes no second one, and no new
    // token is ever made.
    let later = auth.create_user("later@example.com", "password-1", None, Role::User, true, true).await.unwrap();
    assert_eq!(later.role, Role::User);
    assert!(auth.ensure_setup_token().await.unwrap().is_none());
    let admin = token(&api.login(winner["email"].as_str().unwrap(), "password-1").await);
    let (_, users) = api.get("/api/v1/users", &admin).await;
    let admins = users.as_array().unwrap().iter().filter(|user| user["role"] == "admin").count();
    assert_eq!(admins, 1, "{users}");
}
on_both_stores!(setup_token, the_setup_token_works_once);

async fn concurrent_first_admins_make_one(api: &Api) {
    let auth = &api.state().auth;
    // Four `troupe admin create-user` at once on an empty installation (any number of nodes):
    // exactly one becomes the first admin; a setup token is then never made.
    let create = |email: &'static str| auth.create_user(email, "password-1", None, Role::User, true, true);
    let created = futures::future::join_all([
        create("a@example.com"),
        create("b@example.com"),
        create("c@example.com"),
        create("d@example.com"),
    ])
    .await;
    let admins = created.iter().filter(|user| user.as_ref().unwrap().role == Role::Admin).count();
    assert_eq!(admins, 1);
    assert!(auth.ensure_setup_token().await.unwrap().is_none());
}
on_both_stores!(first_admin_race, concurrent_first_admins_make_one);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_and_paths_add_no_metric_series_and_health_is_never_limited() {
    let limit = RateLimit { per_ip_per_second: 1, per_ip_burst: 2, per_user_per_second: 1, per_user_burst: 2 };
    let settings = HttpSettings { rate_limit: Some(limit), ..HttpSettings::default() };
    let api = Api::start_with(Backend::Sqlite, "metric_labels", settings).await.unwrap();
    let mut limited = 0;
    for index in 0..1000u32 {
        let method = format!("M{:X}", fastrand_like(index));
        let path = format!("/random/{index}/{}", fastrand_like(index + 7));
        let response = api.http.request(method.parse().unwrap(), &path).send().await.unwrap();
        limited += u32::from(response.status() == 429);
    }
    assert!(limited > 900, "every route is rate limited, unknown ones too: {limited} of 1000");
    for path in ["/healthz", "/readyz", "/metrics"] {
        for _ in 0..20 {
            assert_ne!(api.http.get(path).send().await.unwrap().status(), 429, "{path}");
        }
    }
    let metrics = api.http.get("/metrics").send().await.unwrap().text().await.unwrap();
    let methods: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("troupe_http_request_duration_seconds_count"))
        .filter_map(|line| line.split("method=\"").nth(1)?.split('"').next())
        .collect();
    let routes: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("troupe_http_request_duration_seconds_count"))
        .filter_map(|line| line.split("route=\"").nth(1)?.split('"').next())
        .collect();
    assert!(methods.iter().all(|method| ["GET", "other"].contains(method)), "{methods:?}");
    assert!(routes.iter().all(|route| !route.contains("random")), "{routes:?}");
    api.stop().await;
}

/// A deterministic scramble (no random crate needed for made-up names).
fn fastrand_like(seed: u32) -> u32 {
    seed.wrapping_mul(2_654_435_761).rotate_left(13) ^ 0x5bd1_e995
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_guesses_is_bounded_and_the_owner_still_gets_in() {
    // Real argon2 cost: the hashing bound is what keeps a burst from queueing gigabytes.
    let api = Api::start_configured(Backend::Sqlite, "login_burst", |config| Config {
        hash_cost: troupe_gateway::auth::HashCost::Standard,
        ..config
    })
    .await
    .unwrap();
    api.user("victim@example.com").await;
    let guesses = (0..200).map(|index| {
        let body = json!({"email": "victim@example.com", "password": format!("guess-{index}")});
        let client = api.http.clone();
        tokio::spawn(async move { client.post("/api/v1/auth/login").json(&body).send().await.unwrap() })
    });
    let guesses: Vec<_> = guesses.collect();
    // Other requests are answered during the burst.
    assert_eq!(api.http.get("/healthz").send().await.unwrap().status(), 200);
    let mut busy = 0;
    for guess in guesses {
        let response = guess.await.unwrap();
        match response.status().as_u16() {
            401 => {}
            503 => {
                busy += 1;
                assert!(response.headers().get("retry-after").is_some());
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "past the hashing bound, logins are refused at once with 503");
    // The owner, with the right password, gets in — after the account's delay.
    let login = api.login("victim@example.com", "password-1").await;
    assert_eq!(login["user"]["email"], "victim@example.com");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let limit = RateLimit { per_ip_per_second: 1, per_ip_burst: 2, per_user_per_second: 100, per_user_burst: 200 };
    for trusted in [false, true] {
        let api = Api::start_configured(Backend::Sqlite, "trusted_proxies", |config| {
            let mut config = config;
            config.http.rate_limit = Some(limit.clone());
            if trusted {
                config.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            }
            config
        })
        .await
        .unwrap();
        // Each request claims another client address.
        let mut limited = 0;
        for index in 0..6 {
            let response = api
                .http
                .get("/api/v1/auth/me")
                .header("x-forwarded-for", format!("198.51.100.7, 203.0.113.{index}"))
                .send()
                .await
                .unwrap();
            limited += u32::from(response.status() == 429);
        }
        if trusted {
            assert_eq!(limited, 0, "behind a trusted proxy, each client has its own bucket");
        } else {
            assert!(limited >= 3, "an untrusted peer cannot pick its bucket: {limited}");
        }
        api.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_budgets_are_capped_by_the_operator_and_experiments_are_created_once() {
    let api = Api::start(Backend::Sqlite, "epsilon_caps").await.unwrap();
    let admin = token(&api.admin("root@example.com").await);
    let experiment = |id: &str, total: f64, release: f64| json!({"id": id, "title": "t", "hypothesis": "h", "epsilon_total": total, "epsilon_per_release": release});
    let (status, body) = api.post("/api/v1/experiments", &admin, experiment("big", 50.0, 0.5)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "epsilon_total");
    let (status, body) = api.post("/api/v1/experiments", &admin, experiment("loud", 5.0, 3.0)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "epsilon_per_release");
    let (first, second) = tokio::join!(
        api.post("/api/v1/experiments", &admin, experiment("same", 2.0, 0.5)),
        api.post("/api/v1/experiments", &admin, experiment("same", 3.0, 0.5)),
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
    api.stop().await;
}
