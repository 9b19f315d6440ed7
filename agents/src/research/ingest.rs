//! The ingestion agents of the `research` pipeline: PDF, source code, web pages and YouTube
//! transcripts. Each reads its source from `params` (the planner puts one source there) and
//! returns a structured document; a part that cannot be read (a page robots.txt forbids, a file
//! that does not parse) is listed under `skipped` rather than failing the step, which fails only
//! when nothing could be read.
//!
//! Local paths are read only under the configured ingest roots ([`crate::AgentsConfig::ingest_roots`]);
//! URLs go through the SSRF-safe [`crate::fetch::Fetcher`]; an uploaded file (`params.file`) is
//! read as the execution's owner, so only their own.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use troupe_runtime::agent::{Agent, AgentError, StepContext, StepOutput};
use troupe_runtime::model::LogLevel;

use crate::ask::AgentsConfig;
use crate::fetch::FetchError;

/// The source kinds and the agent that ingests each.
pub const INGESTERS: &[(&str, &str)] =
    &[("pdf", "ingest_pdf"), ("code", "ingest_code"), ("web", "ingest_web"), ("youtube", "ingest_youtube")];

/// Which ingester an agent is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestKind {
    /// PDF text by page, with metadata.
    Pdf,
    /// A source tree: items, doc comments, imports and a dependency graph.
    Code,
    /// Web pages of one site, respecting robots.txt.
    Web,
    /// A YouTube transcript with timestamps.
    YouTube,
}

/// An ingestion agent.
#[derive(Clone)]
pub struct IngestAgent {
    kind: IngestKind,
    config: Arc<AgentsConfig>,
}

impl IngestAgent {
    /// An ingester of `kind`.
    pub fn new(kind: IngestKind, config: Arc<AgentsConfig>) -> Self {
        Self { kind, config }
    }
}

fn fetch_error(error: FetchError) -> AgentError {
    if error.is_transient() { AgentError::retryable(error.to_string()) } else { AgentError::fatal(error.to_string()) }
}

/// Resolves a local path, refusing anything outside the ingest roots.
fn local_path(config: &AgentsConfig, path: &str) -> Result<PathBuf, AgentError> {
    let canonical =
        std::fs::canonicalize(path).map_err(|error| AgentError::fatal(format!("cannot read `{path}`: {error}")))?;
    let inside = config
        .ingest_roots
        .iter()
        .filter_map(|root| std::fs::canonicalize(root).ok())
        .any(|root| canonical.starts_with(root));
    if !inside {
        return Err(AgentError::fatal(format!(
            "`{path}` is outside the ingest roots (TROUPE_INGEST_ROOTS); local files are read only there"
        )));
    }
    Ok(canonical)
}

#[async_trait::async_trait]
impl Agent for IngestAgent {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        let output = match self.kind {
            IngestKind::Pdf => self.pdf(&ctx).await?,
            IngestKind::Code => {
                let path = ctx.params["path"].as_str().ok_or_else(|| AgentError::fatal("params.path is required"))?;
                let root = local_path(&self.config, path)?;
                tokio::task::spawn_blocking(move || code(&root))
                    .await
                    .map_err(|error| AgentError::fatal(error.to_string()))??
            }
            IngestKind::Web => self.web(&ctx).await?,
            IngestKind::YouTube => self.youtube(&ctx).await?,
        };
        let document = serde_json::to_vec_pretty(&output).unwrap_or_default();
        let summary = format!(
            "{} ingested {} ({} skipped)",
            ctx.step_key,
            output["source"].as_str().unwrap_or_default(),
            output["skipped"].as_array().map_or(0, Vec::len)
        );
        Ok(StepOutput::new(output)
            .artifact(format!("{}.json", ctx.step_key), "application/json", document)
            .log(LogLevel::Info, summary))
    }
}

impl IngestAgent {
    async fn pdf(&self, ctx: &StepContext) -> Result<Value, AgentError> {
        let (source, bytes) = if let Some(path) = ctx.params["path"].as_str() {
            let path = local_path(&self.config, path)?;
            let bytes = tokio::fs::read(&path).await.map_err(|error| AgentError::fatal(error.to_string()))?;
            (path.display().to_string(), bytes)
        } else if let Some(url) = ctx.params["url"].as_str() {
            (url.to_owned(), self.config.fetcher.get(url).await.map_err(fetch_error)?.body)
        } else if let Some(file) = ctx.params["file"].as_str() {
            self.uploaded(ctx, file).await?
        } else {
            return Err(AgentError::fatal("params.path, params.url or params.file is required"));
        };
        tokio::task::spawn_blocking(move || pdf(&source, &bytes))
            .await
            .map_err(|error| AgentError::fatal(error.to_string()))?
    }

    /// Reads a file the execution's owner uploaded (anyone else's is not found).
    async fn uploaded(&self, ctx: &StepContext, file: &str) -> Result<(String, Vec<u8>), AgentError> {
        let files =
            self.config.files.as_ref().ok_or_else(|| AgentError::fatal("uploaded files are not available here"))?;
        let id: uuid::Uuid = file.parse().map_err(|_| AgentError::fatal(format!("`{file}` is not a file id")))?;
        let (record, bytes) = files
            .read_file(ctx.owner, id)
            .await
            .map_err(|error| AgentError::retryable(error.to_string()))?
            .ok_or_else(|| AgentError::fatal(format!("no uploaded file `{id}` of yours")))?;
        Ok((format!("upload:{}", record.name), bytes))
    }

    async fn web(&self, ctx: &StepContext) -> Result<Value, AgentError> {
        let start = ctx.params["url"].as_str().ok_or_else(|| AgentError::fatal("params.url is required"))?;
        let start = self.config.fetcher.check(start).map_err(fetch_error)?;
        let max_pages = ctx.params["max_pages"].as_u64().unwrap_or(5).clamp(1, 50) as usize;
        let mut queue = VecDeque::from([start.clone()]);
        let mut seen: HashSet<String> = HashSet::from([start.as_str().to_owned()]);
        let mut pages = Vec::new();
        let mut skipped = Vec::new();
        while let Some(url) = queue.pop_front() {
            if pages.len() >= max_pages || ctx.cancel.is_cancelled() {
                break;
            }
            if !self.config.fetcher.allowed_by_robots(&url).await {
                skipped.push(json!({ "url": url.as_str(), "reason": "disallowed by robots.txt" }));
                continue;
            }
            let fetched = match self.config.fetcher.get(url.as_str()).await {
                Ok(fetched) => fetched,
                Err(error) => {
                    skipped.push(json!({ "url": url.as_str(), "reason": error.to_string() }));
                    continue;
                }
            };
            if !fetched.content_type.contains("html") {
                skipped.push(json!({ "url": url.as_str(), "reason": format!("not HTML ({})", fetched.content_type) }));
                continue;
            }
            let page = web_page(&fetched.url, &String::from_utf8_lossy(&fetched.body));
            for link in page["links"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if let Ok(link) = url::Url::parse(link)
                    && link.host_str() == start.host_str()
                    && link.port_or_known_default() == start.port_or_known_default()
                    && seen.insert(link.as_str().to_owned())
                {
                    queue.push_back(link);
                }
            }
            pages.push(page);
        }
        if pages.is_empty() {
            return Err(AgentError::fatal(format!("no page of {start} could be read: {}", Value::Array(skipped))));
        }
        let title = pages[0]["title"].clone();
        Ok(json!({ "kind": "web", "source": start.as_str(), "title": title, "pages": pages, "skipped": skipped }))
    }

    async fn youtube(&self, ctx: &StepContext) -> Result<Value, AgentError> {
        let id = ctx.params["video_id"].as_str().ok_or_else(|| AgentError::fatal("params.video_id is required"))?;
        if id.len() != 11 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(AgentError::fatal(format!("`{id}` is not a YouTube video id (11 letters, digits, - or _)")));
        }
        let lang = ctx.params["lang"].as_str().unwrap_or("en");
        let base = self.config.youtube_base_url.trim_end_matches('/');
        let url = format!(
            "{base}/api/timedtext?v={id}&lang={}",
            url::form_urlencoded::byte_serialize(lang.as_bytes()).collect::<String>()
        );
        let fetched = self.config.fetcher.get(&url).await.map_err(fetch_error)?;
        let xml = String::from_utf8_lossy(&fetched.body);
        let segments = transcript(&xml).map_err(AgentError::fatal)?;
        if segments.is_empty() {
            return Err(AgentError::fatal(format!("video `{id}` has no `{lang}` transcript")));
        }
        let text = segments.iter().filter_map(|segment| segment["text"].as_str()).collect::<Vec<_>>().join(" ");
        Ok(json!({
            "kind": "youtube", "source": format!("youtube:{id}"), "title": format!("YouTube video {id}"),
            "video_id": id, "lang": lang, "segments": segments, "text": text, "skipped": []
        }))
    }
}

/// Text by page and metadata of a PDF.
pub fn pdf(source: &str, bytes: &[u8]) -> Result<Value, AgentError> {
    let document = lopdf::Document::load_mem(bytes)
        .map_err(|error| AgentError::fatal(format!("`{source}` is not a readable PDF: {error}")))?;
    let mut metadata = serde_json::Map::new();
    if let Ok(info) = document.trailer.get(b"Info").and_then(|info| match info {
        lopdf::Object::Reference(id) => document.get_dictionary(*id),
        lopdf::Object::Dictionary(dictionary) => Ok(dictionary),
        _ => Err(lopdf::Error::DictType { expected: "Dictionary", found: "other".into() }),
    }) {
        for key in ["Title", "Author", "Subject", "Keywords", "Creator", "Producer", "CreationDate"] {
            if let Ok(lopdf::Object::String(bytes, _)) = info.get(key.as_bytes()) {
                metadata.insert(key.to_lowercase(), Value::String(String::from_utf8_lossy(bytes).into_owned()));
            }
        }
    }
    let mut pages = Vec::new();
    let mut skipped = Vec::new();
    for number in document.get_pages().keys() {
        match document.extract_text(&[*number]) {
            Ok(text) => {
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                pages.push(json!({ "number": number, "text": text, "words": text.split_whitespace().count() }));
            }
            Err(error) => skipped.push(json!({ "page": number, "reason": error.to_string() })),
        }
    }
    if pages.is_empty() {
        return Err(AgentError::fatal(format!("no page of `{source}` has extractable text")));
    }
    let title = metadata
        .get("title")
        .cloned()
        .unwrap_or_else(|| Value::String(source.rsplit('/').next().unwrap_or(source).to_owned()));
    Ok(json!({
        "kind": "pdf", "source": source, "title": title, "metadata": metadata,
        "page_count": pages.len() + skipped.len(), "pages": pages, "skipped": skipped
    }))
}

/// Title, description, main text and links of an HTML page.
pub fn web_page(url: &url::Url, html: &str) -> Value {
    use scraper::{Html, Selector};
    let document = Html::parse_document(html);
    let select = |css: &str| Selector::parse(css).expect("a valid selector");
    let title =
        document.select(&select("title")).next().map(|title| title.text().collect::<String>().trim().to_owned());
    let meta = |name: &str| {
        document
            .select(&select(&format!("meta[name=\"{name}\"], meta[property=\"og:{name}\"]")))
            .find_map(|element| element.attr("content").map(str::to_owned))
    };
    let main = ["main", "article", "[role=main]", "body"].iter().find_map(|css| document.select(&select(css)).next());
    let mut text = String::new();
    if let Some(main) = main {
        for node in main.descendants() {
            let Some(piece) = node.value().as_text() else { continue };
            let boilerplate = node.ancestors().any(|ancestor| {
                ancestor.value().as_element().is_some_and(|element| {
                    matches!(element.name(), "script" | "style" | "nav" | "header" | "footer" | "aside" | "noscript")
                })
            });
            if !boilerplate && !piece.trim().is_empty() {
                text.push_str(piece.trim());
                text.push(' ');
            }
        }
    }
    let mut links = BTreeSet::new();
    for anchor in document.select(&select("a[href]")) {
        if let Some(link) = anchor.attr("href").and_then(|href| url.join(href).ok())
            && matches!(link.scheme(), "http" | "https")
        {
            let mut link = link;
            link.set_fragment(None);
            links.insert(link.to_string());
        }
    }
    let lang = document.select(&select("html")).next().and_then(|html| html.attr("lang").map(str::to_owned));
    let text = text.trim().to_owned();
    json!({
        "url": url.as_str(), "title": title, "description": meta("description"), "author": meta("author"),
        "lang": lang, "text": text, "words": text.split_whitespace().count(), "links": links
    })
}

/// Segments of a timedtext transcript (`<transcript><text start dur>` or `<timedtext><body><p t d>`).
pub fn transcript(xml: &str) -> Result<Vec<Value>, String> {
    let document =
        roxmltree::Document::parse(xml).map_err(|error| format!("the transcript is not valid XML: {error}"))?;
    let mut segments = Vec::new();
    for node in document.descendants().filter(|node| node.is_element()) {
        let (start, duration) = match node.tag_name().name() {
            "text" => (
                node.attribute("start").and_then(|value| value.parse::<f64>().ok()),
                node.attribute("dur").and_then(|value| value.parse::<f64>().ok()),
            ),
            "p" => (
                node.attribute("t").and_then(|value| value.parse::<f64>().ok()).map(|ms| ms / 1000.0),
                node.attribute("d").and_then(|value| value.parse::<f64>().ok()).map(|ms| ms / 1000.0),
            ),
            _ => continue,
        };
        let Some(start) = start else { continue };
        let raw: String = node.descendants().filter(|child| child.is_text()).filter_map(|child| child.text()).collect();
        let text = decode_entities(&raw).split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            segments.push(json!({ "start": start, "duration": duration.unwrap_or(0.0), "timestamp": timestamp(start), "text": text }));
        }
    }
    Ok(segments)
}

fn timestamp(seconds: f64) -> String {
    let total = seconds.max(0.0) as u64;
    format!("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
}

/// YouTube escapes text inside the XML a second time.
fn decode_entities(text: &str) -> String {
    text.replace("&#39;", "'").replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Files considered at most, and the largest one read.
const MAX_FILES: usize = 2000;
const MAX_FILE_BYTES: u64 = 1 << 20;

/// Items, doc comments and imports of every Rust and Python file under `root`, and the
/// dependency graph between them (and the external packages they import).
pub fn code(root: &Path) -> Result<Value, AgentError> {
    let mut paths = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|error| AgentError::fatal(format!("cannot list `{}`: {error}", dir.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || matches!(name.as_str(), "target" | "node_modules" | "__pycache__" | "venv") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if matches!(path.extension().and_then(|ext| ext.to_str()), Some("rs" | "py"))
                && paths.len() < MAX_FILES
            {
                paths.push(path);
            }
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(AgentError::fatal(format!("no Rust or Python file under `{}`", root.display())));
    }
    let relative = |path: &Path| path.strip_prefix(root).unwrap_or(path).to_string_lossy().replace('\\', "/");
    let known: BTreeSet<String> = paths.iter().map(|path| relative(path)).collect();
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut edges = BTreeSet::new();
    let mut externals = BTreeSet::new();
    for path in &paths {
        let name = relative(path);
        if std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0) > MAX_FILE_BYTES {
            skipped.push(json!({ "path": name, "reason": "larger than 1 MiB" }));
            continue;
        }
        let Ok(source) = std::fs::read_to_string(path) else {
            skipped.push(json!({ "path": name, "reason": "not UTF-8 text" }));
            continue;
        };
        if let Err(problem) = crate::validators::check_file(&name, &source) {
            skipped.push(json!({ "path": name, "reason": problem }));
            continue;
        }
        let rust = name.ends_with(".rs");
        let (items, imports) = if rust { rust_outline(&source) } else { python_outline(&source) };
        for import in &imports {
            match resolve_import(&name, import, rust, &known) {
                Some(target) => edges.insert((name.clone(), target)),
                None => {
                    let package = import.split(['.', ':']).find(|part| !part.is_empty()).unwrap_or(import).to_owned();
                    if matches!(package.as_str(), "crate" | "self" | "super") {
                        continue;
                    }
                    externals.insert(package.clone());
                    edges.insert((name.clone(), format!("external:{package}")))
                }
            };
        }
        files.push(json!({
            "path": name, "language": if rust { "rust" } else { "python" }, "lines": source.lines().count(),
            "items": items, "imports": imports
        }));
    }
    let mut nodes: Vec<Value> = files.iter().map(|file| json!({ "id": file["path"], "kind": "file" })).collect();
    nodes.extend(externals.iter().map(|package| json!({ "id": format!("external:{package}"), "kind": "external" })));
    let edges: Vec<Value> = edges.into_iter().map(|(from, to)| json!({ "from": from, "to": to })).collect();
    let title = root.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(json!({
        "kind": "code", "source": root.display().to_string(), "title": title, "files": files,
        "graph": { "nodes": nodes, "edges": edges }, "skipped": skipped
    }))
}

/// Maps an import to a file of the tree, when it names one.
fn resolve_import(from: &str, import: &str, rust: bool, known: &BTreeSet<String>) -> Option<String> {
    let dir = from.rsplit_once('/').map_or("", |(dir, _)| dir);
    let join = |parts: &[&str]| -> Vec<String> {
        let base = parts.join("/");
        let in_dir = if dir.is_empty() { base.clone() } else { format!("{dir}/{base}") };
        vec![
            format!("{in_dir}.rs"),
            format!("{in_dir}/mod.rs"),
            format!("{in_dir}.py"),
            format!("{in_dir}/__init__.py"),
            format!("{base}.py"),
            format!("{base}/__init__.py"),
            format!("src/{base}.rs"),
            format!("src/{base}/mod.rs"),
        ]
    };
    let parts: Vec<&str> = if rust {
        let trimmed = import.trim_start_matches("mod ").trim_start_matches("crate::").trim_start_matches("self::");
        trimmed.split("::").filter(|part| !part.is_empty() && !part.starts_with('{') && *part != "*").collect()
    } else {
        import.trim_start_matches('.').split('.').filter(|part| !part.is_empty()).collect()
    };
    // The longest prefix of the path that names a file.
    (1..=parts.len()).rev().find_map(|len| {
        join(&parts[..len]).into_iter().find(|candidate| known.contains(candidate) && candidate != from)
    })
}

fn parse(source: &str, language: tree_sitter::Language) -> Option<tree_sitter::Tree> {
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(&language).ok()?;
    parser.parse(source, None)
}

fn node_text<'a>(node: tree_sitter::Node<'_>, source: &'a str) -> &'a str {
    source.get(node.byte_range()).unwrap_or_default()
}

/// Items (with their `///` docs) and `use`/`mod` imports of a Rust file.
fn rust_outline(source: &str) -> (Vec<Value>, Vec<String>) {
    let Some(tree) = parse(source, tree_sitter_rust::LANGUAGE.into()) else { return (vec![], vec![]) };
    let mut items = Vec::new();
    let mut imports = Vec::new();
    let mut docs: Vec<String> = Vec::new();
    let root = tree.root_node();
    let mut cursor = root.walk();
    for node in root.children(&mut cursor) {
        let text = node_text(node, source);
        match node.kind() {
            "line_comment" if text.starts_with("///") => {
                docs.push(text.trim_start_matches('/').trim().to_owned());
                continue;
            }
            "use_declaration" => imports.push(
                text.trim_start_matches("pub ").trim_start_matches("use ").trim_end_matches(';').trim().to_owned(),
            ),
            "mod_item" if node.child_by_field_name("body").is_none() => {
                if let Some(name) = node.child_by_field_name("name") {
                    imports.push(format!("mod {}", node_text(name, source)));
                }
            }
            "function_item" | "struct_item" | "enum_item" | "trait_item" | "impl_item" | "type_item" | "const_item"
            | "mod_item" => {
                let name = node
                    .child_by_field_name("name")
                    .or_else(|| node.child_by_field_name("type"))
                    .map(|name| node_text(name, source).to_owned())
                    .unwrap_or_default();
                let kind = node.kind().trim_end_matches("_item");
                items.push(json!({ "kind": kind, "name": name, "line": node.start_position().row + 1, "doc": docs.join("\n") }));
            }
            _ => {}
        }
        docs.clear();
    }
    (items, imports)
}

/// Functions and classes (with docstrings) and imports of a Python file.
fn python_outline(source: &str) -> (Vec<Value>, Vec<String>) {
    let Some(tree) = parse(source, tree_sitter_python::LANGUAGE.into()) else { return (vec![], vec![]) };
    let mut items = Vec::new();
    let mut imports = Vec::new();
    let docstring = |node: tree_sitter::Node<'_>| -> String {
        let body = node.child_by_field_name("body");
        let first = body.and_then(|body| body.named_child(0));
        first
            .filter(|first| first.kind() == "expression_statement")
            .and_then(|first| first.named_child(0))
            .filter(|string| string.kind() == "string")
            .map(|string| node_text(string, source).trim_matches(|c| c == '"' || c == '\'').trim().to_owned())
            .unwrap_or_default()
    };
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        match node.kind() {
            "import_statement" => {
                let mut cursor = node.walk();
                for name in node.children_by_field_name("name", &mut cursor) {
                    let name = name.child_by_field_name("name").unwrap_or(name);
                    imports.push(node_text(name, source).to_owned());
                }
            }
            "import_from_statement" => {
                if let Some(module) = node.child_by_field_name("module_name") {
                    imports.push(node_text(module, source).to_owned());
                }
            }
            "function_definition" | "class_definition" => {
                let name =
                    node.child_by_field_name("name").map(|name| node_text(name, source).to_owned()).unwrap_or_default();
                let kind = if node.kind() == "class_definition" { "class" } else { "function" };
                items.push(json!({ "kind": kind, "name": name, "line": node.start_position().row + 1, "doc": docstring(node) }));
            }
            _ => {}
        }
        let mut cursor = node.walk();
        let children: Vec<_> = node.named_children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    items.sort_by_key(|item| item["line"].as_u64());
    (items, imports)
}

/// Text of an ingested document, by locator (page, URL, timestamp, file), for analysis.
pub fn passages(document: &Value) -> Vec<(String, String)> {
    match document["kind"].as_str() {
        Some("pdf") => document["pages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|page| (format!("page {}", page["number"]), page["text"].as_str().unwrap_or_default().to_owned()))
            .collect(),
        Some("web") => document["pages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|page| {
                (
                    page["url"].as_str().unwrap_or_default().to_owned(),
                    page["text"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        Some("youtube") => document["segments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|segment| {
                (
                    segment["timestamp"].as_str().unwrap_or_default().to_owned(),
                    segment["text"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        Some("code") => document["files"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|file| {
                let docs: Vec<String> = file["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|item| {
                        let doc = item["doc"].as_str().filter(|doc| !doc.is_empty())?;
                        Some(format!(
                            "{} {}: {doc}",
                            item["kind"].as_str().unwrap_or_default(),
                            item["name"].as_str().unwrap_or_default()
                        ))
                    })
                    .collect();
                (file["path"].as_str().unwrap_or_default().to_owned(), docs.join(". "))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Counts of the words of `texts` that carry meaning (stop words and short words left out).
pub fn keywords<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, usize> {
    const STOP: &[&str] = &[
        "about", "after", "also", "because", "been", "before", "being", "between", "both", "could", "does", "each",
        "from", "have", "here", "into", "more", "most", "much", "only", "other", "over", "same", "should", "some",
        "such", "than", "that", "their", "them", "then", "there", "these", "they", "this", "those", "through", "under",
        "very", "what", "when", "where", "which", "while", "will", "with", "would", "your", "page", "self",
    ];
    let mut counts = BTreeMap::new();
    for text in texts {
        for word in text.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase) {
            if word.chars().count() >= 4 && !word.chars().all(|c| c.is_ascii_digit()) && !STOP.contains(&word.as_str())
            {
                *counts.entry(word).or_insert(0) += 1;
            }
        }
    }
    counts
}
