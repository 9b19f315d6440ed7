//! The built-in `research` pipeline end to end on the offline provider: a PDF, a small website on
//! loopback (whose robots.txt forbids one path), a code folder and a YouTube transcript, all made
//! by the test; the planner appends the ingestion steps, and the report cites every source.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::{Html, IntoResponse};
use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};
use serde_json::{Value, json};
use troupe_agents::AgentsConfig;
use troupe_agents::fetch::{FetchPolicy, Fetcher};
use troupe_runtime::status::{ExecutionStatus, StepStatus};
use troupe_runtime::store::{ExecutionStore, InMemoryStore};
use troupe_runtime::{Runtime, SubmitRequest};

const DEADLINE: Duration = Duration::from_secs(60);

/// A two-page PDF with a title in its metadata.
pub(crate) fn pdf(pages: &[&str]) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier" });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids: Vec<Object> = Vec::new();
    for text in pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 12.into()]),
                Operation::new("Td", vec![72.into(), 720.into()]),
                Operation::new("Tj", vec![Object::string_literal(*text)]),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        kids.push(
            doc.add_object(dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content_id }).into(),
        );
    }
    let count = kids.len() as i64;
    let pages = dictionary! {
        "Type" => "Pages", "Kids" => kids, "Count" => count, "Resources" => resources_id,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    };
    doc.objects.insert(pages_id, Object::Dictionary(pages));
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::string_literal("Composting Field Guide"),
        "Author" => Object::string_literal("Test Author"),
    });
    doc.trailer.set("Info", info_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

/// The website and the transcript service; records every path asked for.
async fn site(requested: Arc<Mutex<Vec<String>>>) -> String {
    async fn page(State(requested): State<Arc<Mutex<Vec<String>>>>, uri: Uri) -> axum::response::Response {
        requested.lock().unwrap().push(uri.path().to_owned());
        let body = match uri.path() {
            "/robots.txt" => return "User-agent: *\nDisallow: /private\n".into_response(),
            "/" => {
                r#"<html lang="en"><head><title>Compost Club</title><meta name="description" content="Home composting"></head>
                <body><nav>Menu Home About</nav><main><h1>Compost Club</h1><p>Composting turns kitchen scraps into soil.
                Worms and microbes do the composting work.</p><a href="/about">About</a> <a href="/private">Members</a>
                <a href="https://elsewhere.example/">Elsewhere</a></main><footer>Footer text</footer></body></html>"#
            }
            "/about" => {
                r#"<html><head><title>About</title></head><body><article><p>We teach composting
                to neighbours. Composting needs air and moisture.</p></article></body></html>"#
            }
            "/private" => "<html><body>secret members area</body></html>",
            _ => return axum::http::StatusCode::NOT_FOUND.into_response(),
        };
        Html(body).into_response()
    }
    async fn timedtext(
        State(requested): State<Arc<Mutex<Vec<String>>>>,
        Query(query): Query<std::collections::HashMap<String, String>>,
    ) -> axum::response::Response {
        requested.lock().unwrap().push(format!("/api/timedtext?v={}", query["v"]));
        let xml = r#"<?xml version="1.0" encoding="utf-8" ?><transcript>
            <text start="0.5" dur="2.1">Welcome to composting basics</text>
            <text start="65.2" dur="3.0">Turn the compost pile every week &amp;amp; keep it moist</text>
            </transcript>"#;
        ([("content-type", "text/xml")], xml).into_response()
    }
    let app =
        axum::Router::new().route("/api/timedtext", axum::routing::get(timedtext)).fallback(page).with_state(requested);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_research_pipeline_reads_a_pdf_a_site_a_code_tree_and_a_transcript_offline() {
    let dir = tempfile::tempdir().unwrap();
    let pdf_path = dir.path().join("guide.pdf");
    std::fs::write(&pdf_path, pdf(&["Composting basics: balance greens and browns.", "Keep the compost pile moist."]))
        .unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir_all(code.join("src")).unwrap();
    std::fs::write(code.join("src/lib.rs"), "//! Compost tools.\nuse serde::Serialize;\nmod parser;\n\n/// Mixes greens and browns.\npub fn mix() -> u8 { parser::ratio() }\n").unwrap();
    std::fs::write(code.join("src/parser.rs"), "/// The carbon to nitrogen ratio.\npub fn ratio() -> u8 { 30 }\n")
        .unwrap();
    std::fs::write(code.join("main.py"), "import json\nfrom util import moisture\n\ndef run():\n    \"\"\"Checks the pile.\"\"\"\n    return moisture()\n").unwrap();
    std::fs::write(
        code.join("util.py"),
        "def moisture():\n    \"\"\"Reads the moisture sensor.\"\"\"\n    return 0.5\n",
    )
    .unwrap();

    let requested = Arc::new(Mutex::new(Vec::new()));
    let base = site(Arc::clone(&requested)).await;
    let fetcher = Fetcher::new(FetchPolicy {
        allow: vec!["127.0.0.0/8".into()],
        per_host_interval: Duration::from_millis(5),
        ..FetchPolicy::default()
    });
    let config = AgentsConfig {
        fetcher: Arc::new(fetcher),
        ingest_roots: vec![dir.path().to_path_buf()],
        youtube_base_url: base.clone(),
        workspaces: dir.path().join("workspaces"),
        ..AgentsConfig::default()
    };
    let store: Arc<dyn ExecutionStore> = Arc::new(InMemoryStore::default());
    let runtime = troupe_agents::register_builtins_with(Runtime::builder().store(Arc::clone(&store)), config)
        .start()
        .await
        .unwrap();
    let def = troupe_agents::builtin_pipelines().into_iter().find(|def| def.name == "research").unwrap();
    let input = json!({
        "question": "How does composting work?",
        "sources": [
            {"kind": "pdf", "path": pdf_path.display().to_string()},
            {"kind": "web", "url": format!("{base}/"), "max_pages": 5},
            {"kind": "code", "path": code.display().to_string()},
            {"kind": "youtube", "video_id": "dQw4w9WgXcQ"}
        ]
    });
    let id = runtime.submit(SubmitRequest::new(runtime.validate(def).unwrap(), input)).await.unwrap();
    let record = tokio::time::timeout(DEADLINE, runtime.wait(id)).await.unwrap().unwrap();
    let steps = store.list_steps(id).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:#?}\n{steps:#?}", record.error);
    let output = |key: &str| -> Value {
        let step = steps.iter().find(|step| &*step.key == key).unwrap_or_else(|| panic!("no step {key}"));
        assert_eq!(step.status, StepStatus::Completed, "{step:#?}");
        step.output.clone().unwrap()
    };
    assert_eq!(output("plan")["steps"], json!(["ingest-pdf-1", "ingest-web-2", "ingest-code-3", "ingest-youtube-4"]));

    let pdf = output("ingest-pdf-1");
    assert_eq!(pdf["title"], "Composting Field Guide");
    assert_eq!(pdf["metadata"]["author"], "Test Author");
    assert_eq!(pdf["pages"][1]["number"], 2);
    assert!(pdf["pages"][1]["text"].as_str().unwrap().contains("compost pile moist"), "{pdf:#}");

    let web = output("ingest-web-2");
    let urls: Vec<&str> = web["pages"].as_array().unwrap().iter().map(|page| page["url"].as_str().unwrap()).collect();
    assert_eq!(urls, [format!("{base}/"), format!("{base}/about")]);
    assert_eq!(web["pages"][0]["title"], "Compost Club");
    assert_eq!(web["pages"][0]["description"], "Home composting");
    let main_text = web["pages"][0]["text"].as_str().unwrap();
    assert!(main_text.contains("kitchen scraps") && !main_text.contains("Footer") && !main_text.contains("Menu"));
    assert!(web["pages"][0]["links"].as_array().unwrap().iter().any(|link| link == "https://elsewhere.example/"));
    assert_eq!(web["skipped"][0]["url"], format!("{base}/private"));
    assert!(web["skipped"][0]["reason"].as_str().unwrap().contains("robots.txt"));
    let requested = requested.lock().unwrap().clone();
    assert!(!requested.contains(&"/private".to_owned()), "robots.txt was not honoured: {requested:?}");
    assert_eq!(requested.iter().filter(|path| *path == "/robots.txt").count(), 1, "robots.txt is read once");

    let code = output("ingest-code-3");
    let edges = code["graph"]["edges"].as_array().unwrap();
    for (from, to) in [
        ("main.py", "util.py"),
        ("main.py", "external:json"),
        ("src/lib.rs", "src/parser.rs"),
        ("src/lib.rs", "external:serde"),
    ] {
        assert!(edges.contains(&json!({"from": from, "to": to})), "no edge {from} → {to}: {edges:#?}");
    }
    let files = code["files"].as_array().unwrap();
    let lib = files.iter().find(|file| file["path"] == "src/lib.rs").unwrap();
    assert!(
        lib["items"]
            .as_array()
            .unwrap()
            .contains(&json!({"kind": "function", "name": "mix", "line": 6, "doc": "Mixes greens and browns."})),
        "{lib:#}"
    );
    let util = files.iter().find(|file| file["path"] == "util.py").unwrap();
    assert_eq!(util["items"][0]["doc"], "Reads the moisture sensor.");

    let transcript = output("ingest-youtube-4");
    assert_eq!(transcript["segments"][1]["timestamp"], "0:01:05");
    assert_eq!(transcript["segments"][1]["text"], "Turn the compost pile every week & keep it moist");

    let analysis = output("analyse");
    assert!(analysis["themes"].as_array().unwrap().contains(&json!("composting")), "{:#}", analysis["themes"]);
    let summary = output("summarise");
    assert_eq!(summary["sources"].as_array().unwrap().len(), 4);
    assert_eq!(summary["key_points"].as_array().unwrap().len(), 4);
    let report = store.get_artifact(id, "summarise", "report.md").await.unwrap().expect("the report");
    let report = String::from_utf8(report.content).unwrap();
    assert!(report.contains("# How does composting work?") && report.contains("ingest-youtube-4"), "{report}");
    runtime.shutdown().await;
}
