//! The `research` pipeline (the MRWA flow): `plan` asks for a plan — one ingestion step per
//! source, drawn from the ingesters, capped — validates it and appends the steps to the running
//! execution, followed by `analyse` (themes and findings across the sources) and `summarise`
//! (the report, checked by `json_schema` and `completeness`).
//!
//! Input: `{"question": "…", "sources": [{"kind": "pdf", "path"|"url"|"file"}, {"kind": "web", "url",
//! "max_pages"?}, {"kind": "code", "path"}, {"kind": "youtube", "video_id", "lang"?}]}`.

pub mod ingest;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use troupe_runtime::agent::{Agent, AgentError, StepContext, StepOutput};
use troupe_runtime::model::LogLevel;
use troupe_runtime::pipeline::{PipelineDef, StepDef};

use crate::ask::{AgentsConfig, ask_json, context_text};
use crate::llm::OFFLINE_LABEL;
use ingest::INGESTERS;

/// Ingestion steps a plan may hold at most (the pipeline also caps appended steps).
pub const MAX_PLANNED_SOURCES: usize = 8;

/// The research agents: `planner`, `analyse`, `summarise`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResearchKind {
    /// Plans the ingestion and appends the steps.
    Planner,
    /// Finds themes and findings across the ingested sources.
    Analyse,
    /// Writes the report.
    Summarise,
}

/// A research agent.
#[derive(Clone)]
pub struct ResearchAgent {
    kind: ResearchKind,
    config: Arc<AgentsConfig>,
}

impl ResearchAgent {
    /// An agent of `kind`.
    pub fn new(kind: ResearchKind, config: Arc<AgentsConfig>) -> Self {
        Self { kind, config }
    }
}

/// The schema of the summary (validated by `json_schema` and `completeness`).
pub fn summary_schema() -> Value {
    json!({
        "type": "object",
        "required": ["question", "summary", "key_points", "sources"],
        "properties": {
            "question": {"type": "string", "minLength": 1},
            "summary": {"type": "string", "minLength": 1},
            "key_points": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "sources": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["step", "title"]}}
        }
    })
}

fn plan_schema() -> Value {
    let agents: Vec<&str> = INGESTERS.iter().map(|(_, agent)| *agent).collect();
    json!({
        "type": "object",
        "required": ["steps"],
        "properties": {"steps": {"type": "array", "minItems": 1, "maxItems": MAX_PLANNED_SOURCES, "items": {
            "type": "object", "required": ["agent", "params", "reason"],
            "properties": {"agent": {"enum": agents}, "params": {"type": "object"}, "reason": {"type": "string"}}
        }}}
    })
}

/// Checks a plan: known ingesters, their required parameters, the cap. Every problem names its
/// entry and field.
fn check_plan(plan: &Value) -> Result<Vec<(String, Value)>, String> {
    let steps = plan["steps"].as_array().ok_or("the plan has no `steps` list")?;
    if steps.is_empty() {
        return Err("the plan has no step".into());
    }
    if steps.len() > MAX_PLANNED_SOURCES {
        return Err(format!("the plan has {} steps; at most {MAX_PLANNED_SOURCES} are allowed", steps.len()));
    }
    let mut problems = Vec::new();
    let mut planned = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let agent = step["agent"].as_str().unwrap_or_default();
        let params = step["params"].clone();
        let required: &[&[&str]] = match agent {
            "ingest_pdf" => &[&["path", "url", "file"]],
            "ingest_web" => &[&["url"]],
            "ingest_code" => &[&["path"]],
            "ingest_youtube" => &[&["video_id"]],
            _ => {
                problems.push(format!("steps[{index}].agent: `{agent}` is not an ingester"));
                continue;
            }
        };
        for any_of in required {
            if !any_of.iter().any(|field| params[*field].is_string()) {
                problems.push(format!("steps[{index}].params: needs `{}`", any_of.join("` or `")));
            }
        }
        planned.push((agent.to_owned(), params));
    }
    if problems.is_empty() { Ok(planned) } else { Err(problems.join("; ")) }
}

/// The offline plan: one ingestion step per source of the input.
fn offline_plan(input: &Value) -> Value {
    let steps: Vec<Value> = input["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|source| {
            let kind = source["kind"].as_str().unwrap_or_default();
            let agent = INGESTERS.iter().find(|(name, _)| *name == kind).map_or(kind, |(_, agent)| *agent);
            let mut params = source.clone();
            if let Some(object) = params.as_object_mut() {
                object.remove("kind");
            }
            json!({ "agent": agent, "params": params, "reason": format!("ingest the {kind} source ({OFFLINE_LABEL})") })
        })
        .collect();
    json!({ "steps": steps })
}

fn step(key: String, agent: &str, depends_on: Vec<String>, params: Option<Value>) -> StepDef {
    StepDef { depends_on, params, ..StepDef::new(key, agent) }
}

#[async_trait::async_trait]
impl Agent for ResearchAgent {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, AgentError> {
        match self.kind {
            ResearchKind::Planner => self.plan(&ctx).await,
            ResearchKind::Analyse => self.analyse(&ctx).await,
            ResearchKind::Summarise => self.summarise(&ctx).await,
        }
    }
}

impl ResearchAgent {
    async fn plan(&self, ctx: &StepContext) -> Result<StepOutput, AgentError> {
        let plan = if self.config.llm.is_offline() {
            offline_plan(&ctx.input)
        } else {
            let system = "You are a research planner. Choose the ingestion steps that gather the sources the \
                question needs: one step per source, each with the parameters its ingester needs \
                (ingest_pdf: path, url, or file — the id of a file the user uploaded, as given; ingest_web: url, max_pages; ingest_code: path; ingest_youtube: video_id).";
            ask_json(&self.config, ctx, "planner", system, context_text(ctx), &plan_schema()).await?.value
        };
        let planned = check_plan(&plan).map_err(|problem| AgentError::fatal(format!("invalid plan: {problem}")))?;
        let mut append = Vec::new();
        let mut keys = Vec::new();
        for (index, (agent, params)) in planned.iter().enumerate() {
            let key = format!("{}-{}", agent.replace('_', "-"), index + 1);
            keys.push(key.clone());
            append.push(step(key, agent, Vec::new(), Some(params.clone())));
        }
        append.push(step("analyse".into(), "analyse", keys.clone(), None));
        let mut summarise = step("summarise".into(), "summarise", vec!["analyse".into()], None);
        summarise.validate = vec!["json_schema".into(), "completeness".into()];
        summarise.output_schema = Some(summary_schema());
        append.push(summarise);
        let mut output = StepOutput::new(json!({ "plan": plan, "steps": keys }))
            .log(LogLevel::Info, format!("planned {} ingestion step(s)", keys.len()));
        output.append_steps = append;
        Ok(output)
    }

    /// The ingested documents: the dependencies of `analyse`, or `analyse`'s own for `summarise`.
    fn documents(ctx: &StepContext) -> Vec<(String, Value)> {
        if let Some(analysis) = ctx.dependency("analyse") {
            return analysis["documents"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|document| (document["step"].as_str().unwrap_or_default().to_owned(), document.clone()))
                .collect();
        }
        ctx.dependencies
            .iter()
            .map(|dependency| (String::from(&*dependency.key), dependency.output.as_ref().clone()))
            .collect()
    }

    async fn analyse(&self, ctx: &StepContext) -> Result<StepOutput, AgentError> {
        let documents = Self::documents(ctx);
        let mut per_source = Vec::new();
        let mut presence: BTreeMap<String, usize> = BTreeMap::new();
        for (step, document) in &documents {
            let passages = ingest::passages(document);
            let counts = ingest::keywords(passages.iter().map(|(_, text)| text.as_str()));
            let mut top: Vec<(&String, &usize)> = counts.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = top.into_iter().take(10).map(|(word, _)| word.clone()).collect();
            for word in counts.keys() {
                *presence.entry(word.clone()).or_insert(0) += 1;
            }
            let words: usize = passages.iter().map(|(_, text)| text.split_whitespace().count()).sum();
            let lead = passages
                .iter()
                .find(|(_, text)| !text.trim().is_empty())
                .map(|(locator, text)| (locator.clone(), first_sentences(text, 2)));
            per_source.push(json!({
                "step": step, "kind": document["kind"], "title": document["title"], "source": document["source"],
                "words": words, "passages": passages.len(), "keywords": top,
                "lead": lead.as_ref().map(|(_, text)| text), "locator": lead.map(|(locator, _)| locator),
                "skipped": document["skipped"].as_array().map_or(0, Vec::len),
            }));
        }
        let mut shared: Vec<(String, usize)> = presence.into_iter().filter(|(_, sources)| *sources > 1).collect();
        shared.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let themes: Vec<String> = shared.into_iter().take(10).map(|(word, _)| word).collect();
        let mut analysis = json!({
            "question": ctx.input["question"], "sources": per_source, "themes": themes,
            "documents": documents.iter().map(|(step, document)| {
                let mut document = document.clone();
                document["step"] = json!(step);
                document
            }).collect::<Vec<_>>(),
        });
        if !self.config.llm.is_offline() {
            let schema = json!({"type": "object", "required": ["findings"], "properties": {"findings": {"type": "array",
                "items": {"type": "object", "required": ["statement", "sources"],
                "properties": {"statement": {"type": "string"}, "sources": {"type": "array", "items": {"type": "string"}}}}}}});
            let system = "You are a research analyst. From the ingested sources, state the findings relevant to the \
                question, each with the step keys of the sources that support it.";
            let brief = json!({ "question": analysis["question"], "sources": analysis["sources"] });
            let answer = ask_json(&self.config, ctx, "analyse", system, brief.to_string(), &schema).await?;
            analysis["findings"] = answer.value["findings"].clone();
        } else {
            let findings: Vec<Value> = analysis["sources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|source| {
                    let lead = source["lead"].as_str()?;
                    Some(json!({ "statement": lead, "sources": [source["step"]] }))
                })
                .collect();
            analysis["findings"] = Value::Array(findings);
        }
        Ok(StepOutput::new(analysis).log(LogLevel::Info, format!("analysed {} source(s)", documents.len())))
    }

    async fn summarise(&self, ctx: &StepContext) -> Result<StepOutput, AgentError> {
        let analysis = ctx.dependency("analyse").cloned().unwrap_or(Value::Null);
        let question = ctx.input["question"].as_str().unwrap_or("What do the sources say?").to_owned();
        let sources: Vec<Value> = analysis["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|source| {
                json!({
                    "step": source["step"], "title": source["title"].as_str().unwrap_or("untitled"),
                    "source": source["source"], "locator": source["locator"]
                })
            })
            .collect();
        let output = if self.config.llm.is_offline() {
            let key_points: Vec<String> = analysis["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|finding| {
                    let statement = finding["statement"].as_str()?;
                    let cited = finding["sources"]
                        .as_array()
                        .map(|sources| sources.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "));
                    Some(format!("{statement} [{}]", cited.unwrap_or_default()))
                })
                .collect();
            let themes: Vec<&str> =
                analysis["themes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let summary = format!(
                "{} source(s) were read for the question \"{question}\".{} ({OFFLINE_LABEL}: an extractive summary; set TROUPE_LLM_* for a written one.)",
                sources.len(),
                if themes.is_empty() {
                    String::new()
                } else {
                    format!(" Themes shared across sources: {}.", themes.join(", "))
                },
            );
            json!({ "question": question, "summary": summary, "key_points": key_points, "sources": sources })
        } else {
            let system = "You are a research writer. Answer the question from the analysis: a summary paragraph, \
                key points that cite their sources by step key, and the list of sources.";
            let brief = json!({ "question": question, "themes": analysis["themes"], "findings": analysis["findings"], "sources": sources });
            ask_json(&self.config, ctx, "summarise", system, brief.to_string(), &summary_schema()).await?.value
        };
        let report = report_markdown(&output);
        Ok(StepOutput::new(output).artifact("report.md", "text/markdown", report))
    }
}

fn first_sentences(text: &str, count: usize) -> String {
    let mut taken = String::new();
    let mut sentences = 0;
    for piece in text.split_inclusive(['.', '!', '?']) {
        taken.push_str(piece);
        sentences += 1;
        if sentences >= count || taken.len() > 400 {
            break;
        }
    }
    let taken: String = taken.trim().chars().take(500).collect();
    taken
}

fn report_markdown(output: &Value) -> String {
    let mut text = format!(
        "# {}\n\n{}\n\n## Key points\n\n",
        output["question"].as_str().unwrap_or_default(),
        output["summary"].as_str().unwrap_or_default()
    );
    for point in output["key_points"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        text.push_str(&format!("- {point}\n"));
    }
    text.push_str("\n## Sources\n\n");
    for source in output["sources"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "- `{}`: {} ({})\n",
            source["step"].as_str().unwrap_or_default(),
            source["title"].as_str().unwrap_or_default(),
            source["source"].as_str().unwrap_or_default()
        ));
    }
    text
}

/// The built-in `research` pipeline: `plan`, which appends the rest.
pub fn pipeline() -> PipelineDef {
    let mut plan = step("plan".into(), "planner", Vec::new(), None);
    plan.retry = Some(troupe_runtime::pipeline::RetryDef { max_attempts: Some(2), backoff: None });
    PipelineDef {
        name: "research".into(),
        description: Some(
            "Reads PDFs, web pages, source trees and YouTube transcripts ({\"question\", \"sources\": [...]}) and \
             writes a cited report: plan → ingest each source → analyse → summarise."
                .into(),
        ),
        on_failure: Some("recovery".into()),
        max_dynamic_steps: Some(MAX_PLANNED_SOURCES as u32 + 2),
        max_recoveries: Some(1),
        budget: None,
        input_schema: Some(json!({
            "type": "object",
            "required": ["question", "sources"],
            "properties": {
                "question": {"type": "string", "title": "Question", "minLength": 1, "maxLength": 2000},
                "sources": {
                    "type": "array", "title": "Sources", "minItems": 1, "maxItems": MAX_PLANNED_SOURCES,
                    "items": {
                        "type": "object", "required": ["kind"],
                        "properties": {
                            "kind": {"title": "Kind", "enum": ["pdf", "web", "code", "youtube"]},
                            "file": {"type": "string", "title": "Uploaded PDF", "x-troupe-upload": true},
                            "url": {"type": "string", "title": "URL"},
                            "path": {"type": "string", "title": "Server path"},
                            "video_id": {"type": "string", "title": "YouTube video id"},
                            "max_pages": {"type": "integer", "title": "Most pages", "minimum": 1, "maximum": 50}
                        }
                    }
                }
            }
        })),
        steps: vec![plan, step("recovery".into(), "recovery", Vec::new(), None)],
    }
}
