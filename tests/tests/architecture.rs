//! Architecture invariants, checked on the sources: no module of any crate depends, through
//! `crate::`, `super::` or `self::` paths, on a sibling module that depends back on it.
//!
//! Modules are files (`foo.rs`, `foo/mod.rs`). A reference from `a::b::x` to `a::c::y` is an
//! edge `b → c` between the siblings under `a`; references to an ancestor or a descendant are
//! not edges (a parent and its children are one unit). A cycle among siblings is a design
//! error: split the shared part into a module of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates' source roots, relative to the workspace.
const CRATES: [&str; 6] = ["src", "runtime/src", "memory/src", "agents/src", "plugins/src", "gateway/src"];

fn module_path(root: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(root).expect("under the root");
    let mut parts: Vec<String> = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

fn sources(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// Every path a file names through `crate::`, `super::` or `self::`, as module paths.
fn references(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let code: String = text.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let bytes = code.as_bytes();
    for (start, _) in
        code.match_indices("crate::").chain(code.match_indices("super::")).chain(code.match_indices("self::"))
    {
        if start > 0
            && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_' || bytes[start - 1] == b'$')
        {
            continue;
        }
        let rest = &code[start..];
        let mut segments: Vec<&str> = Vec::new();
        let mut cursor = rest;
        loop {
            let end = cursor.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(cursor.len());
            segments.push(&cursor[..end]);
            cursor = &cursor[end..];
            if let Some(next) = cursor.strip_prefix("::") {
                if next.starts_with('{') {
                    // `use crate::a::{b, c}`: the group's first segments.
                    let group_end = next.find('}').unwrap_or(next.len());
                    for item in next[1..group_end].split(',') {
                        let name = item.trim().split("::").next().unwrap_or("").trim();
                        if !name.is_empty() {
                            let mut path = resolve(&segments, module);
                            path.push(name.to_owned());
                            found.push(path);
                        }
                    }
                    segments.clear();
                    break;
                }
                cursor = next;
            } else {
                break;
            }
        }
        if !segments.is_empty() {
            found.push(resolve(&segments, module));
        }
    }
    found
}

/// Turns `crate::a::b`, `super::x`, `self::y` (as seen from `module`) into an absolute path.
fn resolve(segments: &[&str], module: &[String]) -> Vec<String> {
    // In `foo.rs` and `foo/mod.rs` alike, `self` is `foo` and `super` its parent.
    let mut base: Vec<String> = Vec::new();
    let mut rest = segments;
    match segments.first() {
        Some(&"crate") => rest = &segments[1..],
        Some(&"self") => {
            base = module.to_vec();
            rest = &segments[1..];
        }
        Some(&"super") => {
            base = module.to_vec();
            while rest.first() == Some(&"super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        _ => {}
    }
    base.extend(rest.iter().map(|segment| (*segment).to_owned()));
    base
}

fn check_crate(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(root, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|file| module_path(root, file)).collect();
    // Edges between siblings, keyed by their parent.
    let mut edges: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in &files {
        let module = module_path(root, file);
        let text = std::fs::read_to_string(file).unwrap();
        for target in references(&text, &module) {
            let common = module.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common >= module.len() || common >= target.len() {
                continue; // an ancestor or a descendant
            }
            let parent = module[..common].to_vec();
            let mut sibling = parent.clone();
            sibling.push(target[common].clone());
            if !modules.contains(&sibling) {
                continue; // an item of the common parent, not a module
            }
            edges.entry(parent).or_default().entry(module[common].clone()).or_default().insert(target[common].clone());
        }
    }
    let mut cycles = Vec::new();
    for (parent, graph) in &edges {
        if let Some(cycle) = find_cycle(graph) {
            let prefix = if parent.is_empty() { String::new() } else { format!("{}::", parent.join("::")) };
            cycles.push(format!(
                "{}: {}",
                root.display(),
                cycle.iter().map(|name| format!("{prefix}{name}")).collect::<Vec<_>>().join(" → ")
            ));
        }
    }
    cycles
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(position) = path.iter().position(|seen| seen == node) {
            let mut cycle = path[position..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_a_module_cycle() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    let cycles: Vec<String> = CRATES.iter().flat_map(|root| check_crate(&workspace.join(root))).collect();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lib.rs"), "mod a;\nmod b;\nmod c;\n").unwrap();
    std::fs::write(dir.path().join("a.rs"), "use crate::b::Thing;\n").unwrap();
    std::fs::write(dir.path().join("b.rs"), "pub struct Thing;\nfn f() { super::c::g() }\n").unwrap();
    std::fs::write(dir.path().join("c.rs"), "pub fn g() { let _ = crate::a::X; }\n").unwrap();
    let cycles = check_crate(dir.path());
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].ends_with("a → b → c → a"), "{cycles:?}");
    std::fs::write(dir.path().join("c.rs"), "pub fn g() {}\n").unwrap();
    assert!(check_crate(dir.path()).is_empty());
}

/// The workspace crates and the database, HTTP-client and web-framework crates each library
/// crate may name in its `[dependencies]` (DESIGN.md section 2: arrows point one way; only
/// `memory` speaks SQL; the runtime needs no database, HTTP or LLM crate).
fn allowed(krate: &str) -> &'static [&'static str] {
    match krate {
        "runtime" => &[],
        "memory" => &["troupe-runtime", "sqlx"],
        "agents" | "plugins" => &["troupe-runtime", "reqwest"],
        "gateway" => &["troupe-runtime", "troupe-agents", "troupe-plugins", "troupe-memory", "axum"],
        _ => unreachable!("no such crate"),
    }
}

/// Dependencies that are arrows worth checking.
const WATCHED: [&str; 9] = [
    "troupe",
    "troupe-runtime",
    "troupe-agents",
    "troupe-plugins",
    "troupe-memory",
    "troupe-gateway",
    "sqlx",
    "axum",
    "reqwest",
];

fn dependencies(manifest: &str) -> Vec<String> {
    let value: toml::Table = manifest.parse().expect("a valid Cargo.toml");
    value
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .map(|table| table.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn crates_depend_only_in_the_documented_direction() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    let mut wrong = Vec::new();
    for krate in ["runtime", "agents", "memory", "plugins", "gateway"] {
        let manifest = std::fs::read_to_string(workspace.join(krate).join("Cargo.toml")).unwrap();
        let names = dependencies(&manifest);
        assert!(!names.is_empty() || krate == "runtime", "{krate}: no [dependencies] read");
        wrong.extend(
            names
                .iter()
                .filter(|name| WATCHED.contains(&name.as_str()) && !allowed(krate).contains(&name.as_str()))
                .map(|name| format!("{krate} → {name}")),
        );
    }
    assert!(wrong.is_empty(), "arrows against DESIGN.md section 2: {wrong:?}");
}

#[test]
fn the_direction_check_reads_dependencies() {
    let manifest = "[package]\nname = \"x\"\n[dependencies]\nsqlx.workspace = true\ntroupe-runtime = { path = \"r\" }\n\
                    [dev-dependencies]\naxum = \"1\"\n";
    assert_eq!(dependencies(manifest), ["sqlx", "troupe-runtime"]);
}
