//! The `syntax` validator: every generated file must parse.

use serde_json::Value;
use troupe_runtime::pipeline::StepPlan;
use troupe_runtime::validator::{ValidationIssue, Validator};

use super::{files, issue};

const NAME: &str = "syntax";

/// The source languages whose files are parsed (others are refused, so a generated project
/// stays within what can be checked).
pub const SOURCE_LANGUAGES: &[&str] = &["python (.py)", "javascript (.js, .mjs, .cjs)", "rust (.rs)"];

/// Parses every file of `output.files` by its type: Python, JavaScript and Rust with
/// tree-sitter grammars (the first syntax error's line and column), JSON, YAML (every
/// document), TOML and Dockerfiles. Compose files must have `services`, Kubernetes manifests
/// `apiVersion` and `kind`. Other source languages are refused by name; documentation, markup
/// and styles (`.md`, `.txt`, `.html`, `.css`, `.sql` — checked by `sql_ddl`) pass as text.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyntaxValidator;

impl Validator for SyntaxValidator {
    fn validate(&self, _step: &StepPlan, output: &Value) -> Vec<ValidationIssue> {
        if output.get("files").is_none() {
            return vec![issue(NAME, "/files", "missing: the generated files must be listed at `files`")];
        }
        let mut issues = Vec::new();
        for file in files(output) {
            if let Err(message) = check_file(file.path, file.content) {
                issues.push(issue(NAME, format!("/files/{}/content", file.index), format!("{}: {message}", file.path)));
            }
        }
        issues
    }
}

/// Parses one file by its name; the error says what and where (`line L, column C`).
pub fn check_file(path: &str, content: &str) -> Result<(), String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase()).unwrap_or_default();
    if name == "Dockerfile" || extension == "dockerfile" {
        return dockerfile(content);
    }
    match extension.as_str() {
        "py" => tree_sitter(content, &tree_sitter_python::LANGUAGE.into()),
        "js" | "mjs" | "cjs" => tree_sitter(content, &tree_sitter_javascript::LANGUAGE.into()),
        "rs" => tree_sitter(content, &tree_sitter_rust::LANGUAGE.into()),
        "json" => serde_json::from_str::<Value>(content)
            .map(drop)
            .map_err(|error| format!("invalid JSON at line {}, column {}: {error}", error.line(), error.column())),
        "yml" | "yaml" => yaml(name, content),
        "toml" => toml::from_str::<toml::Table>(content).map(drop).map_err(|error| format!("invalid TOML: {error}")),
        "md" | "txt" | "html" | "htm" | "css" | "sql" | "gitignore" | "dockerignore" | "ini" | "cfg" | "env" => Ok(()),
        "" if matches!(name, "Makefile" | "Procfile" | "LICENSE" | "README") => Ok(()),
        _ => Err(format!(
            "cannot check files of this type; generated sources must be one of: {}",
            SOURCE_LANGUAGES.join(", ")
        )),
    }
}

fn tree_sitter(content: &str, language: &tree_sitter::Language) -> Result<(), String> {
    let mut parser = tree_sitter::Parser::new();
    parser.set_language(language).map_err(|error| format!("parser unavailable: {error}"))?;
    let tree = parser.parse(content, None).ok_or("the parser gave up")?;
    let root = tree.root_node();
    if !root.has_error() {
        return Ok(());
    }
    // The first error or missing node in document order.
    let mut cursor = root.walk();
    loop {
        let node = cursor.node();
        if node.is_error() || node.is_missing() {
            let at = node.start_position();
            let what = if node.is_missing() { format!("missing `{}`", node.kind()) } else { "syntax error".into() };
            let excerpt: String = content.lines().nth(at.row).unwrap_or_default().trim().chars().take(80).collect();
            return Err(format!("{what} at line {}, column {}: `{excerpt}`", at.row + 1, at.column + 1));
        }
        if node.has_error() && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return Err("syntax error".into());
            }
        }
    }
}

fn yaml(name: &str, content: &str) -> Result<(), String> {
    use serde::Deserialize;
    let mut documents = Vec::new();
    for document in serde_norway::Deserializer::from_str(content) {
        let value = Value::deserialize(document).map_err(|error| format!("invalid YAML: {error}"))?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    if documents.is_empty() {
        return Err("the YAML file is empty".into());
    }
    let lower = name.to_ascii_lowercase();
    if lower.contains("compose") && !documents[0]["services"].is_object() {
        return Err("a compose file needs a `services` mapping".into());
    }
    for (index, document) in documents.iter().enumerate() {
        let kubernetes = document.get("apiVersion").is_some() || document.get("kind").is_some();
        if kubernetes && !(document["apiVersion"].is_string() && document["kind"].is_string()) {
            return Err(format!("document {}: a Kubernetes manifest needs `apiVersion` and `kind`", index + 1));
        }
    }
    Ok(())
}

fn dockerfile(content: &str) -> Result<(), String> {
    let parsed =
        dockerfile_parser::Dockerfile::parse(content).map_err(|error| format!("invalid Dockerfile: {error}"))?;
    match parsed.instructions.first() {
        Some(dockerfile_parser::Instruction::From(_) | dockerfile_parser::Instruction::Arg(_)) => Ok(()),
        _ => Err("a Dockerfile must start with FROM (or ARG)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_language_is_parsed_and_errors_say_where() {
        assert_eq!(check_file("app.py", "def f(x):\n    return x + 1\n"), Ok(()));
        let error = check_file("app.py", "def f(x):\n    return (x +\n").unwrap_err();
        assert!(error.contains("line 2") || error.contains("line 3"), "{error}");
        assert_eq!(check_file("web/app.js", "export function f(a) { return a * 2; }\n"), Ok(()));
        assert!(check_file("web/app.js", "function f( {\n").unwrap_err().contains("line 1"));
        assert_eq!(check_file("src/lib.rs", "pub fn f() -> u8 { 1 }\n"), Ok(()));
        assert!(check_file("src/lib.rs", "pub fn f( -> u8 { 1 }\n").is_err());
        assert!(check_file("main.go", "package main").unwrap_err().contains("cannot check"));
    }

    #[test]
    fn config_files_are_parsed() {
        assert_eq!(
            check_file("Dockerfile", "FROM python:3.11-slim\nCOPY . /app\nCMD [\"python3\", \"app.py\"]\n"),
            Ok(())
        );
        assert!(check_file("Dockerfile", "COPY . /app\n").is_err());
        assert_eq!(check_file("docker-compose.yml", "services:\n  api:\n    build: .\n"), Ok(()));
        assert!(check_file("docker-compose.yml", "version: '3'\n").unwrap_err().contains("services"));
        assert!(check_file("k8s.yaml", "apiVersion: v1\nkind: Service\n---\napiVersion: apps/v1\n").is_err());
        assert!(check_file("ci.yml", "a: [1,\n").unwrap_err().contains("invalid YAML"));
        assert!(check_file("package.json", "{\"a\": }").unwrap_err().contains("line 1"));
    }
}
