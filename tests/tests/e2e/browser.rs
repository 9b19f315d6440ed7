//! The web console in a real headless Chromium (Debian's `chromium` and `chromium-driver`),
//! driven over WebDriver against a server of the test's own. Browser tests run one at a time;
//! without a browser they skip loudly, in CI they fail. A failing test leaves a screenshot in
//! the target dir (`target/tmp/<test>.png`).

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Duration;

use futures::FutureExt;
use serde_json::{Value, json};
use troupe::webdriver::Browser;
use troupe_runtime::model::ArtifactRecord;
use troupe_runtime::store::WriteBatch;

use crate::api::{Api, Backend};
use crate::poll;

const DEADLINE: Duration = Duration::from_secs(30);
const SLOW: Duration = Duration::from_secs(180);

/// Browser tests share one machine's browser: one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `body` with a fresh browser and server; `None` (skipped) without a browser outside CI.
async fn with_browser(test: &str, body: impl AsyncFnOnce(&Api, &Browser)) {
    if !troupe::webdriver::available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: CI must have chromium and chromium-driver (.ci/run installs them)"
        );
        eprintln!("SKIPPED {test}: no {} or {} here", troupe::webdriver::CHROMIUM, troupe::webdriver::CHROMEDRIVER);
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let api = Api::start(Backend::Sqlite, test).await.expect("a SQLite server");
    let browser = Browser::start(1280, 900).await.expect("a headless Chromium");
    let outcome = AssertUnwindSafe(body(&api, &browser)).catch_unwind().await;
    if let Err(panic) = outcome {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}.png"));
        match browser.screenshot(&path).await {
            Ok(path) => eprintln!("{test} failed; the page is in {}", path.display()),
            Err(error) => eprintln!("{test} failed; no screenshot: {error}"),
        }
        browser.quit().await;
        api.stop().await;
        std::panic::resume_unwind(panic);
    }
    browser.quit().await;
    api.stop().await;
}

/// Signs `email` (password `password-1`) in through the form.
async fn sign_in(browser: &Browser, api: &Api, email: &str) {
    browser.goto(&format!("{}/#/executions", api.base)).await.unwrap();
    let field = browser.wait_for("input[name=email]", DEADLINE).await.unwrap();
    browser.type_into(&field, email).await.unwrap();
    let password = browser.wait_for("input[name=password]", DEADLINE).await.unwrap();
    browser.type_into(&password, "password-1").await.unwrap();
    browser.click(&browser.wait_for("form button[type=submit]", DEADLINE).await.unwrap()).await.unwrap();
    browser.wait_until("document.body.dataset.rendered === 'executions'", DEADLINE).await.unwrap();
}

async fn open_execution(browser: &Browser, api: &Api, id: &str) {
    browser.goto(&format!("{}/#/executions/{id}", api.base)).await.unwrap();
    browser.wait_until("document.body.dataset.rendered === 'execution'", DEADLINE).await.unwrap();
}

/// Clicks what `selector` matches; a live page may redraw it between finding and clicking
/// (a stale element), so it is found again.
async fn click(browser: &Browser, selector: &str) {
    let mut last = None;
    for _ in 0..20 {
        let element = browser.wait_for(selector, DEADLINE).await.unwrap();
        match browser.click(&element).await {
            Ok(()) => return,
            Err(error) => last = Some(error),
        }
    }
    panic!("cannot click `{selector}`: {last:?}");
}

async fn choose_pipeline(browser: &Browser, name: &str) {
    browser.wait_for(&format!("select[name=pipeline] option[value={name}]"), DEADLINE).await.unwrap();
    let script = "const s = document.querySelector('select[name=pipeline]'); s.value = arguments[0]; \
                  s.dispatchEvent(new Event('change')); return s.value;";
    assert_eq!(browser.execute(script, vec![json!(name)]).await.unwrap(), json!(name));
}

async fn wait_status(browser: &Browser, status: &str, deadline: Duration) {
    browser.wait_until(&format!("document.body.dataset.executionStatus === '{status}'"), deadline).await.unwrap();
}

fn token(login: &Value) -> &str {
    login["access_token"].as_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_starts_the_software_pipeline_from_its_form_and_watches_it_complete() {
    with_browser("browser_software", async |api: &Api, browser: &Browser| {
        api.user("ada@example.com").await;
        sign_in(browser, api, "ada@example.com").await;
        browser.execute("window.__loaded_once = 42; return true;", Vec::new()).await.unwrap();
        click(browser, "a[href='#/new']").await;
        choose_pipeline(browser, "software").await;
        let idea = browser.wait_for("[data-field='input.idea']", DEADLINE).await.unwrap();
        browser.type_into(&idea, "a recipe box for a family kitchen").await.unwrap();
        click(browser, "form.card button[type=submit]").await;
        browser.wait_until("location.hash.startsWith('#/executions/0')", DEADLINE).await.unwrap();
        wait_status(browser, "completed", SLOW).await;
        let statuses = browser
            .wait_until(
                "(() => { const s = Array.from(document.querySelectorAll('svg.graph g.node')).map(n => n.getAttribute('data-status')); \
                 return s.length > 10 && s.every(x => x === 'completed' || x === 'skipped') ? s : null; })()",
                DEADLINE,
            )
            .await
            .unwrap();
        let completed = statuses.as_array().unwrap().iter().filter(|status| *status == "completed").count();
        assert!(completed >= 10, "{statuses}");
        assert_eq!(browser.execute("return window.__loaded_once;", Vec::new()).await.unwrap(), json!(42), "no reload");

        click(browser, "li[data-artifact='requirements.md'] button").await;
        let heading = browser.wait_for(".artifact-view[data-viewing='requirements.md'] .markdown h2", DEADLINE).await.unwrap();
        assert!(!browser.text(&heading).await.unwrap().is_empty());
        click(browser, "li[data-artifact='openapi.json'] button").await;
        let code = browser.wait_for(".artifact-view[data-viewing='openapi.json'] pre", DEADLINE).await.unwrap();
        assert!(browser.text(&code).await.unwrap().trim_start().starts_with('{'), "JSON shown as text");

        // Readable on a phone: nothing wider than a 375 px screen but the graph's own scroller.
        browser.resize(375, 800).await.unwrap();
        browser.goto(&format!("{}/#/executions", api.base)).await.unwrap();
        browser.wait_until("document.body.dataset.rendered === 'executions'", DEADLINE).await.unwrap();
        let fits = browser.execute("return document.documentElement.scrollWidth <= window.innerWidth + 1;", Vec::new()).await.unwrap();
        assert_eq!(fits, json!(true), "the executions list fits a 375 px screen");
    })
    .await;
}

const HOSTILE: &str = "# Notes\n\n<script>window.__pwned = 1</script>\n\n[click me](javascript:window.__pwned=2)\n\n\
<img src=x onerror=\"window.__pwned=3\">\n\n[docs](https://example.com/docs) and **bold** text.\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markdown_a_model_wrote_renders_inert() {
    with_browser("browser_markdown", async |api: &Api, browser: &Browser| {
        let ada = api.user("ada@example.com").await;
        let id = api.execute(token(&ada), json!("hello"), json!({"name": "Ada"})).await;
        let store = api.state().runtime.store();
        let execution_id = troupe_runtime::ids::ExecutionId(id.parse().unwrap());
        poll(DEADLINE, "the execution finishes", || async {
            store.get_execution(execution_id).await.unwrap().filter(|record| record.status.is_terminal()).map(drop)
        })
        .await;
        // What a model wrote, stored as a step's artifact.
        let mut batch = WriteBatch::default();
        batch.artifacts.push(ArtifactRecord {
            execution_id,
            step_key: "summary".into(),
            name: "notes.md".into(),
            content_type: "text/markdown".into(),
            content: HOSTILE.as_bytes().to_vec(),
            created_at: troupe_runtime::model::now(),
        });
        store.apply(&batch).await.unwrap();

        sign_in(browser, api, "ada@example.com").await;
        open_execution(browser, api, &id).await;
        click(browser, "li[data-artifact='notes.md'] button").await;
        browser.wait_for(".artifact-view[data-viewing='notes.md'] .markdown h2", DEADLINE).await.unwrap();
        let report = browser
            .execute(
                "const v = document.querySelector('.artifact-view'); return { \
                   scripts: v.querySelectorAll('script').length, images: v.querySelectorAll('img').length, \
                   unsafe: v.querySelectorAll('a[href^=\"javascript\"]').length, \
                   inert: (v.querySelector('.inert-link') || {}).textContent, \
                   safe: (v.querySelector('a[href=\"https://example.com/docs\"]') || {}).textContent, \
                   text: v.textContent, pwned: window.__pwned === undefined ? null : window.__pwned };",
                Vec::new(),
            )
            .await
            .unwrap();
        assert_eq!(
            (report["scripts"].as_u64(), report["images"].as_u64(), report["unsafe"].as_u64()),
            (Some(0), Some(0), Some(0)),
            "{report}"
        );
        assert_eq!(report["inert"], "click me", "{report}");
        assert_eq!(report["safe"], "docs", "{report}");
        assert!(report["text"].as_str().unwrap().contains("<script>"), "raw HTML stays text: {report}");
        // Clicking the neutered link runs nothing either.
        click(browser, ".artifact-view .inert-link").await;
        assert_eq!(browser.execute("return window.__pwned === undefined;", Vec::new()).await.unwrap(), json!(true));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_cancels_approves_and_rejects_from_the_execution_page() {
    with_browser("browser_actions", async |api: &Api, browser: &Browser| {
        let ada = api.user("ada@example.com").await;
        let slow = json!({"name": "slow", "steps": [{"key": "wait", "agent": "sleep", "params": {"ms": 120000}}]});
        let reviewed = json!({"name": "reviewed", "on_failure": "fix", "steps": [
            {"key": "draft", "agent": "echo"},
            {"key": "review", "agent": "approval", "depends_on": ["draft"], "params": {"prompt": "Ship {{ input.what }}?"}},
            {"key": "ship", "agent": "echo", "depends_on": ["review"]},
            {"key": "fix", "agent": "echo"}
        ]});
        let slow_id = api.execute(token(&ada), slow, json!({})).await;
        let approve_id = api.execute(token(&ada), reviewed.clone(), json!({"what": "v1"})).await;
        let reject_id = api.execute(token(&ada), reviewed, json!({"what": "v2"})).await;
        sign_in(browser, api, "ada@example.com").await;

        open_execution(browser, api, &slow_id).await;
        browser.wait_until("document.querySelector(\"g.node[data-step='wait']\")?.getAttribute('data-status') === 'running'", DEADLINE).await.unwrap();
        click(browser, "button[data-action=cancel]").await;
        wait_status(browser, "cancelled", DEADLINE).await;

        open_execution(browser, api, &approve_id).await;
        let prompt = browser.wait_for("[data-approval=review] .prompt", DEADLINE).await.unwrap();
        assert_eq!(browser.text(&prompt).await.unwrap(), "Ship v1?");
        click(browser, "[data-approval=review] button[data-action=approve]").await;
        wait_status(browser, "completed", DEADLINE).await;
        browser.wait_until("document.querySelector(\"g.node[data-step='ship']\")?.getAttribute('data-status') === 'completed'", DEADLINE).await.unwrap();

        open_execution(browser, api, &reject_id).await;
        click(browser, "[data-approval=review] button[data-action=reject]").await;
        wait_status(browser, "failed", DEADLINE).await;
        browser.wait_until("document.querySelector(\"g.node[data-step='fix']\")?.getAttribute('data-status') === 'completed'", DEADLINE).await.unwrap();
        let (_, steps) = api.get(&format!("/api/v1/executions/{reject_id}/steps"), token(&ada)).await;
        let review = steps.as_array().unwrap().iter().find(|step| step["key"] == "review").unwrap().clone();
        assert_eq!(review["error"]["code"], "approval_rejected");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_uploads_a_pdf_and_runs_research_on_it() {
    with_browser("browser_research", async |api: &Api, browser: &Browser| {
        api.user("ada@example.com").await;
        let dir = tempfile::tempdir().unwrap();
        let paper = dir.path().join("soil-notes.pdf");
        std::fs::write(&paper, crate::research::pdf(&["Earthworms aerate soil.", "Compost feeds soil life."])).unwrap();
        sign_in(browser, api, "ada@example.com").await;
        click(browser, "a[href='#/new']").await;
        choose_pipeline(browser, "research").await;
        let question = browser.wait_for("[data-field='input.question']", DEADLINE).await.unwrap();
        browser.type_into(&question, "What keeps soil healthy?").await.unwrap();
        let file = browser.wait_for("input[type=file][data-field='input.sources[0].file']", DEADLINE).await.unwrap();
        browser.type_into(&file, &paper.display().to_string()).await.unwrap();
        browser.wait_for("[data-file-id]", DEADLINE).await.unwrap();
        click(browser, "form.card button[type=submit]").await;
        browser.wait_until("location.hash.startsWith('#/executions/0')", DEADLINE).await.unwrap();
        wait_status(browser, "completed", SLOW).await;
        click(browser, "li[data-artifact='report.md'] button").await;
        let view = browser.wait_for(".artifact-view[data-viewing='report.md']", DEADLINE).await.unwrap();
        assert!(browser.text(&view).await.unwrap().contains("upload:soil-notes.pdf"), "the report cites the upload");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_grants_and_revokes_consent() {
    with_browser("browser_consent", async |api: &Api, browser: &Browser| {
        let admin = api.admin("root@example.com").await;
        let experiment =
            json!({"id": "exp-ui", "title": "Tone study", "hypothesis": "Polite prompts get better answers"});
        let (status, body) = api.post("/api/v1/experiments", token(&admin), experiment).await;
        assert_eq!(status, 201, "{body}");
        let ada = api.user("ada@example.com").await;
        sign_in(browser, api, "ada@example.com").await;
        browser.goto(&format!("{}/#/research", api.base)).await.unwrap();
        browser.wait_for("[data-experiment=exp-ui] [data-consent=none]", DEADLINE).await.unwrap();
        click(browser, "[data-experiment=exp-ui] button").await;
        browser.wait_for("[data-experiment=exp-ui] [data-consent=granted]", DEADLINE).await.unwrap();
        click(browser, "[data-experiment=exp-ui] button").await;
        browser.wait_for("[data-experiment=exp-ui] [data-consent=none]", DEADLINE).await.unwrap();
        let (_, history) = api.get("/api/v1/consent", token(&ada)).await;
        let granted: Vec<bool> =
            history.as_array().unwrap().iter().map(|entry| entry["granted"].as_bool().unwrap()).collect();
        assert_eq!(granted.len(), 2, "{history}");
        assert!(granted.contains(&true) && granted.contains(&false), "{history}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_execution_is_not_found_and_signing_out_ends_live_updates() {
    with_browser("browser_session", async |api: &Api, browser: &Browser| {
        let ada = api.user("ada@example.com").await;
        let bob = api.user("bob@example.com").await;
        let theirs = api.execute(token(&ada), json!("hello"), json!({"name": "Ada"})).await;
        sign_in(browser, api, "bob@example.com").await;
        browser.goto(&format!("{}/#/executions/{theirs}", api.base)).await.unwrap();
        browser.wait_for("[data-not-found]", DEADLINE).await.unwrap();

        browser.goto(&format!("{}/#/executions", api.base)).await.unwrap();
        browser.wait_until("document.body.dataset.socket === 'open'", DEADLINE).await.unwrap();
        let bob_id = troupe_runtime::ids::UserId(bob["user"]["id"].as_str().unwrap().parse().unwrap());
        let sockets = || api.state().ws_sockets.get(&bob_id).map_or(0, |count| *count);
        assert_eq!(sockets(), 1, "the console holds one WebSocket");
        click(browser, "[data-action=sign-out]").await;
        browser.wait_for("input[name=email]", DEADLINE).await.unwrap();
        browser.wait_until("document.body.dataset.socket === 'closed'", DEADLINE).await.unwrap();
        poll(DEADLINE, "the server sees the socket closed", || async { (sockets() == 0).then_some(()) }).await;
        let (status, _) = api.post("/api/v1/auth/refresh", "", json!({"refresh_token": "x"})).await;
        assert_eq!(status, 401);
    })
    .await;
}

/// Not a browser test: the server itself refuses a WebSocket upgrade from another origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_origin_websocket_upgrade_is_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let api = Api::start(Backend::Sqlite, "ws_origin").await.unwrap();
    let url = format!("{}/api/v1/ws", api.base.replacen("http", "ws", 1));
    let mut request = url.clone().into_client_request().unwrap();
    request.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => {
            panic!("a cross-origin upgrade must be refused, got {:?}", other.map(|(_, response)| response.status()))
        }
    }
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("origin", api.base.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("the console's own origin is accepted");
    drop(socket);
    api.stop().await;
}

/// The newest code starting with `prefix` that the development outbox holds for `to`.
fn mailed_code(api: &Api, to: &str, prefix: &str) -> Option<String> {
    let mut mails: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(api.data_dir().join("outbox"))
        .ok()?
        .flatten()
        .filter_map(|entry| {
            Some((entry.metadata().ok()?.modified().ok()?, std::fs::read_to_string(entry.path()).ok()?))
        })
        .filter(|(_, mail)| mail.lines().any(|line| line == format!("To: {to}")))
        .collect();
    mails.sort();
    mails.iter().rev().find_map(|(_, mail)| {
        let start = mail.find(prefix)?;
        let code: String =
            mail[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        (code.len() == prefix.len() + 43).then_some(code)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_verifies_resets_exports_and_deletes_their_account_in_the_console() {
    with_browser("browser_account", async |api: &Api, browser: &Browser| {
        api.admin("root@example.com").await;
        api.user("ada@example.com").await;
        // The code mailed at registration verifies the address.
        let code =
            poll(DEADLINE, "the verification mail", || async { mailed_code(api, "ada@example.com", "tv_") }).await;
        browser.goto(&format!("{}/#/verify?token={code}", api.base)).await.unwrap();
        click(browser, "form button[type=submit]").await;
        browser.wait_until("document.body.dataset.rendered === 'verified'", DEADLINE).await.unwrap();
        sign_in(browser, api, "ada@example.com").await;
        browser.goto(&format!("{}/#/profile", api.base)).await.unwrap();
        browser.wait_for("[data-verified=true]", DEADLINE).await.unwrap();

        // Export: the archive is offered for download.
        click(browser, "section[aria-label=Export] > button").await;
        browser.wait_for("[data-download]", DEADLINE).await.unwrap();

        // A forgotten password: ask for a code, then set a new password with it.
        click(browser, "[data-action=sign-out]").await;
        browser.wait_for("#signin-title", DEADLINE).await.unwrap();
        browser.goto(&format!("{}/#/reset", api.base)).await.unwrap();
        browser.wait_for("#reset-title", DEADLINE).await.unwrap();
        let email = browser.wait_for("input[name=email]", DEADLINE).await.unwrap();
        browser.type_into(&email, "ada@example.com").await.unwrap();
        click(browser, "form button[type=submit]").await;
        browser.wait_until("document.body.dataset.rendered === 'reset-requested'", DEADLINE).await.unwrap();
        let code = poll(DEADLINE, "the reset mail", || async { mailed_code(api, "ada@example.com", "tr_") }).await;
        browser.goto(&format!("{}/#/reset?token={code}", api.base)).await.unwrap();
        let password = browser.wait_for("input[name=new_password]", DEADLINE).await.unwrap();
        browser.type_into(&password, "a-new-password-2").await.unwrap();
        click(browser, "form button[type=submit]").await;
        browser.wait_until("document.body.dataset.rendered === 'reset-done'", DEADLINE).await.unwrap();
        let login = api.login("ada@example.com", "a-new-password-2").await;
        assert_eq!(login["user"]["email"], "ada@example.com");

        // Deletion, confirmed with the password, signs out and the account is gone.
        browser.goto(&format!("{}/#/executions", api.base)).await.unwrap();
        let field = browser.wait_for("input[name=email]", DEADLINE).await.unwrap();
        browser.type_into(&field, "ada@example.com").await.unwrap();
        let password = browser.wait_for("input[name=password]", DEADLINE).await.unwrap();
        browser.type_into(&password, "a-new-password-2").await.unwrap();
        click(browser, "form button[type=submit]").await;
        browser.wait_until("document.body.dataset.rendered === 'executions'", DEADLINE).await.unwrap();
        browser.goto(&format!("{}/#/profile", api.base)).await.unwrap();
        browser.wait_until("document.body.dataset.rendered === 'profile'", DEADLINE).await.unwrap();
        browser.execute("window.confirm = () => true;", vec![]).await.unwrap();
        let password =
            browser.wait_for("form[aria-label='Delete my account'] input[name=password]", DEADLINE).await.unwrap();
        browser.type_into(&password, "a-new-password-2").await.unwrap();
        click(browser, "form[aria-label='Delete my account'] button[type=submit]").await;
        browser.wait_for("#signin-title", DEADLINE).await.unwrap();
        let (status, _) = api
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"email": "ada@example.com", "password": "a-new-password-2"})),
            )
            .await;
        assert_eq!(status, 401, "the account is gone");
    })
    .await;
}
