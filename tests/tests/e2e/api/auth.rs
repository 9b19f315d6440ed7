//! Tokens: refresh rotation and reuse detection, logout, forged and expired JWTs, API keys,
//! roles, password change.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::{Api, SECRET, on_both_stores};

on_both_stores!(refresh_tokens_rotate_and_reuse_revokes_the_family, refresh_rotation);
on_both_stores!(forged_expired_and_unsigned_tokens_are_refused, forged_tokens);
on_both_stores!(api_keys_act_as_their_user_within_their_scope, api_keys);
on_both_stores!(admins_manage_users_and_users_do_not, roles);

async fn refresh_rotation(api: &Api) {
    let login = api.user("rita@example.com").await;
    let first = login["refresh_token"].as_str().unwrap();
    let (status, rotated) = api.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": first}))).await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["refresh_token"].as_str().unwrap();
    assert_ne!(first, second, "each refresh hands out a new token");
    let (status, _) = api.get("/api/v1/auth/me", rotated["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);

    // The old token again: reuse. The whole family is revoked, the newest token included.
    let (status, body) = api.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": first}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("refresh_token_reused")), "{body}");
    let (status, _) = api.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": second}))).await;
    assert_eq!(status, 401, "the family is revoked");

    // A separate login is another family: untouched. Logout revokes it.
    let other = api.login("rita@example.com", "password-1").await;
    let access = other["access_token"].as_str().unwrap();
    let refresh = other["refresh_token"].as_str().unwrap();
    let (status, _) = api.post("/api/v1/auth/logout", access, json!({"refresh_token": refresh})).await;
    assert_eq!(status, 204);
    let (status, _) = api.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": refresh}))).await;
    assert_eq!(status, 401, "logged out");

    // Wrong passwords and unknown users get the same answer.
    let (status, wrong) = api
        .call("POST", "/api/v1/auth/login", None, Some(json!({"email": "rita@example.com", "password": "nope-nope"})))
        .await;
    let (_, unknown) = api
        .call("POST", "/api/v1/auth/login", None, Some(json!({"email": "who@example.com", "password": "nope-nope"})))
        .await;
    assert_eq!(status, 401);
    assert_eq!(wrong["error"]["message"], unknown["error"]["message"]);

    // A password change revokes the other logins.
    let a = api.login("rita@example.com", "password-1").await;
    let b = api.login("rita@example.com", "password-1").await;
    let (status, body) = api
        .post(
            "/api/v1/auth/password",
            a["access_token"].as_str().unwrap(),
            json!({"current_password": "password-1", "new_password": "password-2"}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) =
        api.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": b["refresh_token"]}))).await;
    assert_eq!(status, 401, "the other login is revoked");
    let (status, _) =
        api.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": a["refresh_token"]}))).await;
    assert_eq!(status, 200, "the changing login stays");
    api.login("rita@example.com", "password-2").await;
}

fn sign(claims: &serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn forged_tokens(api: &Api) {
    let login = api.user("fred@example.com").await;
    let token = login["access_token"].as_str().unwrap();
    let user = login["user"]["id"].as_str().unwrap();
    // The login's session id, read from the issued token: forged tokens name a live session.
    let payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    let sid = payload["sid"].clone();
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64| {
        json!({"sub": user, "role": "admin", "sid": sid, "iat": now - 10, "exp": exp,
               "iss": "troupe", "aud": "troupe"})
    };
    let assert_refused = |status: u16, body: &serde_json::Value, what: &str| {
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{what}");
    };
    // Sanity: a token signed with the server's secret works.
    let (status, _) = api.get("/api/v1/auth/me", &sign(&claims(now + 60), SECRET)).await;
    assert_eq!(status, 200);

    let (status, body) = api.get("/api/v1/auth/me", &sign(&claims(now - 60), SECRET)).await;
    assert_refused(status, &body, "expired");
    let mut unknown_session = claims(now + 60);
    unknown_session["sid"] = json!(uuid::Uuid::new_v4());
    let (status, body) = api.get("/api/v1/auth/me", &sign(&unknown_session, SECRET)).await;
    assert_refused(status, &body, "a well-signed token of a session that does not exist");
    let (status, body) = api.get("/api/v1/auth/me", &sign(&claims(now + 60), "someone-else's-secret-0123456789")).await;
    assert_refused(status, &body, "foreign secret");
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(now + 60).to_string())
    );
    let (status, body) = api.get("/api/v1/auth/me", &unsigned).await;
    assert_refused(status, &body, "alg none");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(claims(now + 600).to_string());
    let (status, body) = api.get("/api/v1/auth/me", &parts.join(".")).await;
    assert_refused(status, &body, "tampered payload");
    let (status, body) = api.call("GET", "/api/v1/auth/me", None, None).await;
    assert_refused(status, &body, "no token");
}

async fn api_keys(api: &Api) {
    let login = api.user("kay@example.com").await;
    let token = login["access_token"].as_str().unwrap();
    let (status, reader) = api.post("/api/v1/api-keys", token, json!({"name": "dashboard", "read_only": true})).await;
    assert_eq!(status, 201, "{reader}");
    let reader_key = reader["key"].as_str().unwrap();
    let (_, writer) = api.post("/api/v1/api-keys", token, json!({"name": "ci"})).await;
    let writer_key = writer["key"].as_str().unwrap();

    let (status, me) = api.get("/api/v1/auth/me", reader_key).await;
    assert_eq!((status, me["email"].as_str()), (200, Some("kay@example.com")), "a key acts as its user");
    let (status, body) = api.post("/api/v1/executions", reader_key, json!({"pipeline": "hello"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("read_only_key")));
    let (status, _) = api.post("/api/v1/executions", writer_key, json!({"pipeline": "hello"})).await;
    assert_eq!(status, 201);
    // The X-Api-Key header works too.
    let response = api.http.get(api.url("/api/v1/executions")).header("x-api-key", reader_key).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let (_, keys) = api.get("/api/v1/api-keys", token).await;
    assert_eq!(keys.as_array().unwrap().len(), 2);
    assert!(keys.to_string().find(reader_key).is_none(), "a listed key never shows the key itself");
    let id = reader["id"].as_str().unwrap();
    let (status, _) = api.call("DELETE", &format!("/api/v1/api-keys/{id}"), Some(token), None).await;
    assert_eq!(status, 204);
    let (status, _) = api.get("/api/v1/auth/me", reader_key).await;
    assert_eq!(status, 401, "a revoked key is refused");
}

async fn roles(api: &Api) {
    let admin = api.admin("root@example.com").await;
    let user = api.user("joe@example.com").await;
    let admin_token = admin["access_token"].as_str().unwrap();
    let user_token = user["access_token"].as_str().unwrap();
    assert_eq!(user["user"]["role"], "user");
    let (status, _) = api.get("/api/v1/users", user_token).await;
    assert_eq!(status, 403);
    let (status, users) = api.get("/api/v1/users", admin_token).await;
    assert_eq!((status, users.as_array().unwrap().len()), (200, 2));
    let joe = user["user"]["id"].as_str().unwrap();
    let (status, body) =
        api.call("PATCH", &format!("/api/v1/users/{joe}"), Some(admin_token), Some(json!({"role": "wizard"}))).await;
    assert_eq!((status, body["error"]["details"]["fields"][0]["field"].as_str()), (400, Some("role")));
    let (status, changed) = api
        .call("PATCH", &format!("/api/v1/users/{joe}"), Some(admin_token), Some(json!({"role": "researcher"})))
        .await;
    assert_eq!((status, changed["role"].as_str()), (200, Some("researcher")));
    let (status, _) =
        api.call("PATCH", &format!("/api/v1/users/{joe}"), Some(admin_token), Some(json!({"disabled": true}))).await;
    assert_eq!(status, 200);
    let (status, body) = api.get("/api/v1/auth/me", user_token).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("account_disabled")), "disabled at once");
    let (status, _) = api
        .call("POST", "/api/v1/auth/login", None, Some(json!({"email": "joe@example.com", "password": "password-1"})))
        .await;
    assert_eq!(status, 403);

    // The audit log has the failed login, the role change and the disabling, and no secret.
    let (status, _) = api.get("/api/v1/audit", user_token).await;
    assert_eq!(status, 403, "a disabled user's token is refused everywhere");
    // An admin cannot demote or disable themself (the documented 409).
    let me = admin["user"]["id"].as_str().unwrap();
    for change in [json!({"role": "user"}), json!({"disabled": true})] {
        let (status, body) = api.call("PATCH", &format!("/api/v1/users/{me}"), Some(admin_token), Some(change)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (409, Some("self_demotion")), "{body}");
    }
    let (status, audit) = api.get("/api/v1/audit?limit=50", admin_token).await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|entry| entry["action"].as_str().unwrap()).collect();
    for action in ["login", "login_refused_disabled", "user_updated", "user_created"] {
        assert!(actions.contains(&action), "`{action}` missing from {actions:?}");
    }
    assert!(!audit.to_string().contains("password-1"), "no password in the audit log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_the_first_admin_who_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let output = crate::troupe(dir.path())
        .args(["admin", "create-user", "--email", "Root@Example.com"])
        .env("TROUPE_NEW_USER_PASSWORD", "cli-password-1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("created root@example.com (admin)"), "{stdout}");
    assert!(!stdout.contains("cli-password-1"));
    let short = crate::troupe(dir.path())
        .args(["admin", "create-user", "--email", "b@example.com"])
        .env("TROUPE_NEW_USER_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));

    let config = troupe::Config { jwt_secret: Some(SECRET.into()), ..troupe::Config::for_tests(dir.path()) };
    let server = troupe::System::open(config, troupe::Mode::Serve).await.unwrap().serve().await.unwrap();
    let client = super::Client::new(troupe_gateway::http::router(server.state.clone()));
    let login: serde_json::Value = client
        .post("/api/v1/auth/login")
        .json(&json!({"email": "root@example.com", "password": "cli-password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(login["user"]["role"], "admin", "{login}");
    server.shutdown().await.unwrap();
}
