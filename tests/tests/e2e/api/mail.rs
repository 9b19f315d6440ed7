//! Account mail through a real SMTP server (aiosmtpd, started by each test on loopback):
//! email verification, the setting that holds unverified accounts back, and password reset.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use troupe::Config;

use super::{Api, Backend};

/// An aiosmtpd server on a free loopback port, writing what it receives to a Maildir.
pub(super) struct SmtpServer {
    child: tokio::process::Child,
    port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    pub(super) async fn start() -> Self {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
        let prepared = tokio::process::Command::new(workspace.join("tests/mail/smtp-venv.sh")).output().await.unwrap();
        assert!(prepared.status.success(), "{}", String::from_utf8_lossy(&prepared.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        // aiosmtpd makes the Maildir (it must not exist yet).
        let maildir = dir.path().join("mail");
        let child = tokio::process::Command::new(workspace.join("target/smtp-server/bin/python"))
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        crate::poll(Duration::from_secs(30), "the SMTP server listens", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
        })
        .await;
        Self { child, port, maildir, _dir: dir }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail received so far for `to`.
    pub(super) fn mails_to(&self, to: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return Vec::new() };
        entries
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .filter(|mail| mail.lines().any(|line| line.eq_ignore_ascii_case(&format!("To: {to}"))))
            .collect()
    }

    /// Waits until `count` mails with a code starting with `prefix` reached `to`; returns
    /// their codes.
    pub(super) async fn codes(&self, to: &str, count: usize, prefix: &str) -> Vec<String> {
        crate::poll(Duration::from_secs(30), &format!("{count} mails to {to} arrive"), || async {
            let codes: Vec<String> = self.mails_to(to).iter().filter_map(|mail| find_code(mail, prefix)).collect();
            (codes.len() >= count).then_some(codes)
        })
        .await
    }

    pub(super) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The code in a mail: `prefix` and 43 base64url characters.
fn find_code(mail: &str, prefix: &str) -> Option<String> {
    let start = mail.find(prefix)?;
    let code: String =
        mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    (code.len() == prefix.len() + 43).then_some(code)
}

pub(super) async fn start(backend: Backend, test: &str, smtp: &SmtpServer, require_verified: bool) -> Option<Api> {
    let url = smtp.url();
    Api::start_configured(backend, test, move |mut config: Config| {
        config.mail.smtp_url = Some(url);
        config.mail.from = Some("troupe <troupe@example.com>".into());
        config.http.require_verified_email = require_verified;
        config
    })
    .await
}

fn token(login: &Value) -> String {
    login["access_token"].as_str().unwrap().to_owned()
}

async fn verification(backend: Backend, test: &str) {
    let smtp = SmtpServer::start().await;
    let Some(api) = start(backend, test, &smtp, true).await else { return };
    let login = api.user("ada@example.com").await;
    assert_eq!(login["user"]["email_verified"], false, "{login}");
    let owner = token(&login);

    // Unverified, the server refuses executions (the setting is on here).
    let run = json!({"pipeline": "hello", "input": {"name": "Ada"}});
    let (status, body) = api.post("/api/v1/executions", &owner, run.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("email_unverified")), "{body}");

    // The mail arrives; its code verifies the address once.
    let code = smtp.codes("ada@example.com", 1, "tv_").await.remove(0);
    let (status, body) = api.call("POST", "/api/v1/auth/verify", None, Some(json!({"token": code}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email_verified"], true);
    let (_, me) = api.get("/api/v1/auth/me", &owner).await;
    assert_eq!(me["email_verified"], true, "{me}");
    let (status, body) = api.call("POST", "/api/v1/auth/verify", None, Some(json!({"token": code}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_token")), "a used code: {body}");
    let (status, body) = api.post("/api/v1/executions", &owner, run).await;
    assert_eq!(status, 201, "{body}");

    // A made-up code, and an expired one, are refused; a verified address gets no more codes.
    let (status, _) =
        api.call("POST", "/api/v1/auth/verify", None, Some(json!({"token": format!("tv_{}", "A".repeat(43))}))).await;
    assert_eq!(status, 400);
    let expired = "tv_expired-code-that-the-test-stored-itself-0123";
    let store = api.server.as_ref().unwrap().state.auth.store();
    let user = store.get_user_by_email("ada@example.com").await.unwrap().unwrap();
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    store
        .insert_account_token(&troupe_runtime::accounts::AccountToken {
            id: uuid::Uuid::now_v7(),
            user_id: user.id,
            purpose: troupe_runtime::accounts::TokenPurpose::Verify,
            token_hash: troupe_gateway::auth::tokens::digest(expired),
            email: user.email.clone(),
            created_at: past - chrono::Duration::hours(48),
            expires_at: past,
        })
        .await
        .unwrap();
    let (status, body) = api.call("POST", "/api/v1/auth/verify", None, Some(json!({"token": expired}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_token")), "an expired code: {body}");
    let (status, _) = api.call("POST", "/api/v1/auth/verify/resend", Some(&owner), None).await;
    assert_eq!(status, 409);

    // Resending is rate-limited per address: the registration's mail and two more, then 429.
    let other = token(&api.user("grace@example.com").await);
    for _ in 0..2 {
        let (status, body) = api.call("POST", "/api/v1/auth/verify/resend", Some(&other), None).await;
        assert_eq!(status, 202, "{body}");
    }
    let (status, body) = api.call("POST", "/api/v1/auth/verify/resend", Some(&other), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("rate_limited")), "{body}");
    assert_eq!(smtp.codes("grace@example.com", 3, "tv_").await.len(), 3, "three mails, not four");
    api.stop().await;
    smtp.stop().await;
}

async fn password_reset(backend: Backend, test: &str) {
    let smtp = SmtpServer::start().await;
    let Some(api) = start(backend, test, &smtp, false).await else { return };
    let login = api.user("ada@example.com").await;
    let session = token(&login);
    let (status, key) = api.post("/api/v1/api-keys", &session, json!({"name": "laptop"})).await;
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().unwrap().to_owned();

    // Known and unknown addresses get the same answer.
    let ask =
        |email: &'static str| api.call("POST", "/api/v1/auth/password-reset", None, Some(json!({"email": email})));
    let known = ask("Ada@Example.com").await;
    let unknown = ask("nobody@example.com").await;
    assert_eq!(known.0, 202);
    assert_eq!(known, unknown);

    let code = smtp.codes("ada@example.com", 1, "tr_").await.remove(0);
    let confirm = |token: String| {
        api.call(
            "POST",
            "/api/v1/auth/password-reset/confirm",
            None,
            Some(json!({"token": token, "new_password": "a-new-password-2"})),
        )
    };
    let (status, body) = confirm(code.clone()).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = confirm(code).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_token")), "a used code: {body}");

    // Every session and key of the account stopped working; the new password works.
    let (status, _) = api.get("/api/v1/auth/me", &session).await;
    assert_eq!(status, 401, "the old session");
    let (status, _) = api.get("/api/v1/auth/me", &key).await;
    assert_eq!(status, 401, "the old API key");
    let (status, _) = api
        .call("POST", "/api/v1/auth/login", None, Some(json!({"email": "ada@example.com", "password": "password-1"})))
        .await;
    assert_eq!(status, 401, "the old password");
    let login = api.login("ada@example.com", "a-new-password-2").await;
    assert_eq!(login["user"]["email_verified"], true, "the reset mail reached its owner: {login}");
    assert!(smtp.mails_to("nobody@example.com").is_empty());
    api.stop().await;
    smtp.stop().await;
}

/// Runs `$name(backend, test_name)` on SQLite and on PostgreSQL.
macro_rules! on_both_stores_with_mail {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite, concat!(stringify!($name), "_sqlite")).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Backend::Postgres, concat!(stringify!($name), "_pg")).await;
            }
        }
    };
}

pub(super) use on_both_stores_with_mail;

on_both_stores_with_mail!(verification);
on_both_stores_with_mail!(password_reset);
