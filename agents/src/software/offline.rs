//! What the design agents produce with the offline provider: a small, complete project derived
//! deterministically from the idea — a JSON API on Python's standard library (http.server,
//! sqlite3 with the db_design schema, unittest) and a JavaScript client tested with `node --test`
//! — so the `software` pipeline runs end to end on a fresh machine with no network and no key.
//! Every file says it is offline output.

use serde_json::{Value, json};
use troupe_runtime::agent::StepContext;

use super::DesignKind;
use crate::llm::OFFLINE_LABEL;

const APP_PY: &str = include_str!("../../templates/software/backend/app.py");
const TEST_APP_PY: &str = include_str!("../../templates/software/backend/test_app.py");
const APP_JS: &str = include_str!("../../templates/software/frontend/app.js");
const APP_TEST_JS: &str = include_str!("../../templates/software/frontend/app.test.js");
const INDEX_HTML: &str = include_str!("../../templates/software/frontend/index.html");

/// The DDL of the offline project (SQLite).
pub const DDL: &str = "CREATE TABLE IF NOT EXISTS lists (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE INDEX IF NOT EXISTS items_by_list ON items (list_id);
";

/// The project's names, derived from the idea.
struct Names {
    title: String,
    project: String,
}

fn names(input: &Value) -> Names {
    let idea = input["idea"].as_str().or_else(|| input.as_str()).unwrap_or("a list keeper");
    let words: Vec<String> = idea
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .filter(|word| !matches!(word.as_str(), "a" | "an" | "the" | "for" | "to" | "of" | "and" | "with" | "my"))
        .take(4)
        .collect();
    let words = if words.is_empty() { vec!["list".to_owned(), "keeper".to_owned()] } else { words };
    let title = words
        .iter()
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_uppercase().chain(chars).collect::<String>()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    Names { title, project: words.join("-") }
}

fn fill(template: &str, names: &Names) -> String {
    template.replace("{{title}}", &names.title).replace("{{project}}", &names.project)
}

fn file(path: &str, content: String) -> Value {
    json!({ "path": path, "content": content })
}

/// The offline output of a design step.
pub fn generate(kind: DesignKind, ctx: &StepContext) -> Value {
    let ddl = ctx.dependency("db_design").and_then(|design| design["ddl"].as_str());
    generate_from(kind, &ctx.input, ddl)
}

/// The offline output of a design step for the execution input `input`; `ddl` is the
/// db_design step's DDL, which the backend applies (the offline DDL when `None`).
pub fn generate_from(kind: DesignKind, input: &Value, ddl: Option<&str>) -> Value {
    let names = names(input);
    let idea = input["idea"].as_str().unwrap_or(&names.title).to_owned();
    match kind {
        DesignKind::Requirements => json!({
            "title": names.title,
            "summary": format!("{}: {idea}. People keep named lists of items, add items, mark them done and remove them, from a web page backed by a JSON API. ({OFFLINE_LABEL})", names.title),
            "user_stories": [
                {"role": "user", "goal": "to create a named list", "benefit": "related items stay together"},
                {"role": "user", "goal": "to add items to a list and see them", "benefit": "nothing is forgotten"},
                {"role": "user", "goal": "to mark an item done or undo it", "benefit": "progress is visible"},
                {"role": "user", "goal": "to delete an item", "benefit": "the list stays relevant"}
            ],
            "functional": [
                "Create a list with a name of 1 to 200 characters",
                "List all lists",
                "Add an item with a title of 1 to 200 characters to an existing list",
                "List the items of a list in creation order",
                "Change an item's title or done flag",
                "Delete an item",
                "Answer unknown lists, items and routes with 404 and a JSON error"
            ],
            "non_functional": [
                "The API answers JSON and validates every request body",
                "The data lives in SQLite with foreign keys enforced",
                "The backend needs only the Python standard library; the client only a browser",
                "Every behaviour is covered by automated tests that run offline"
            ],
            "acceptance_criteria": [
                "POST /lists with an empty name answers 400 naming the field",
                "An item added to a list appears in GET /lists/{id}/items",
                "PATCH /items/{id} with done=true marks the item done",
                "DELETE /items/{id} answers 204 and the item is gone",
                "The client escapes item titles when rendering them"
            ]
        }),
        DesignKind::Architect => json!({
            "style": "A two-tier web application: a static client and a JSON HTTP API over an embedded database",
            "components": [
                {"name": "api", "responsibility": "Serves the REST API, validates input, maps errors to JSON", "technology": "Python 3 http.server (standard library)"},
                {"name": "store", "responsibility": "Persists lists and items with referential integrity", "technology": "SQLite through the sqlite3 module"},
                {"name": "web", "responsibility": "Renders lists and items and calls the API", "technology": "HTML and plain JavaScript"}
            ],
            "data_flow": [
                "The browser loads the static client from the web component",
                "The client calls the API with JSON over HTTP",
                "The API reads and writes the store in one transaction per request"
            ],
            "decisions": [
                {"decision": "Standard library only", "reason": "The project must build and test with no package download"},
                {"decision": "SQLite with foreign keys on", "reason": "Items cannot outlive or point at missing lists"},
                {"decision": "Pure rendering functions in the client", "reason": "They are testable under Node without a browser"}
            ]
        }),
        DesignKind::ApiDesign => {
            json!({ "openapi": openapi(&names), "summary": "Lists and their items: create, read, update, delete, plus a health check." })
        }
        DesignKind::DbDesign => json!({
            "dialect": "sqlite",
            "ddl": DDL,
            "tables": [
                {"name": "lists", "purpose": "Named lists"},
                {"name": "items", "purpose": "Items of a list, with a done flag"}
            ]
        }),
        DesignKind::Backend => {
            let ddl = ddl.unwrap_or(DDL);
            json!({
                "language": "python",
                "summary": "A standard-library HTTP server implementing the OpenAPI document on SQLite, with unittest tests that call it over HTTP.",
                "files": [
                    file("backend/app.py", fill(APP_PY, &names)),
                    file("backend/schema.sql", ddl.to_owned()),
                    file("backend/test_app.py", fill(TEST_APP_PY, &names))
                ]
            })
        }
        DesignKind::Frontend => json!({
            "language": "javascript",
            "summary": "A static page and a client module whose API calls and rendering are tested with node --test.",
            "files": [
                file("frontend/index.html", fill(INDEX_HTML, &names)),
                file("frontend/app.js", fill(APP_JS, &names)),
                file("frontend/app.test.js", fill(APP_TEST_JS, &names))
            ]
        }),
        DesignKind::Infra => json!({
            "files": [
                file(".github/workflows/ci.yml", ci_workflow()),
                file("README.md", readme(&names, &idea))
            ],
            "commands": {
                "build": [
                    ["python3", "-m", "py_compile", "backend/app.py", "backend/test_app.py"],
                    ["node", "--check", "frontend/app.js"],
                    ["node", "--check", "frontend/app.test.js"]
                ],
                "test": [
                    ["python3", "-m", "unittest", "discover", "-s", "backend", "-v"],
                    ["node", "--test", "frontend/app.test.js"]
                ]
            }
        }),
        DesignKind::Deploy => json!({
            "notes": "Build the API image from Dockerfile; docker-compose.yml serves the client with nginx next to it; k8s/ runs the API with a Service.",
            "files": [
                file("Dockerfile", format!("FROM python:3.11-slim\nWORKDIR /app\nCOPY backend/ /app/\nENV PORT=8000 DATABASE=/data/{}.db\nVOLUME /data\nEXPOSE 8000\nUSER nobody\nCMD [\"python3\", \"app.py\"]\n", names.project)),
                file("docker-compose.yml", "services:\n  api:\n    build: .\n    ports:\n      - \"8000:8000\"\n    volumes:\n      - data:/data\n  web:\n    image: nginx:1.27-alpine\n    volumes:\n      - ./frontend:/usr/share/nginx/html:ro\n    ports:\n      - \"8080:80\"\n    depends_on:\n      - api\nvolumes:\n  data: {}\n".to_owned()),
                file("k8s/deployment.yaml", format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {p}-api\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {p}-api\n  template:\n    metadata:\n      labels:\n        app: {p}-api\n    spec:\n      containers:\n        - name: api\n          image: {p}-api:latest\n          ports:\n            - containerPort: 8000\n          readinessProbe:\n            httpGet:\n              path: /health\n              port: 8000\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {p}-api\nspec:\n  selector:\n    app: {p}-api\n  ports:\n    - port: 80\n      targetPort: 8000\n", p = names.project))
            ]
        }),
    }
}

fn ci_workflow() -> String {
    "name: ci\non: [push, pull_request]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-python@v5\n        with:\n          python-version: '3.11'\n      - uses: actions/setup-node@v4\n        with:\n          node-version: '20'\n      - run: python3 -m py_compile backend/app.py backend/test_app.py\n      - run: python3 -m unittest discover -s backend -v\n      - run: node --test frontend/app.test.js\n".into()
}

fn readme(names: &Names, idea: &str) -> String {
    format!(
        "# {}\n\n{idea}\n\n- Run the API: `python3 backend/app.py` (port 8000).\n- Open `frontend/index.html`.\n- Test: `python3 -m unittest discover -s backend` and `node --test frontend/app.test.js`.\n",
        names.title
    )
}

fn openapi(names: &Names) -> Value {
    let error = json!({"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let json_of = |schema: Value| json!({"application/json": {"schema": schema}});
    let id = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer"}});
    json!({
        "openapi": "3.0.3",
        "info": {"title": format!("{} API", names.title), "version": "1.0.0", "description": format!("Lists and items. ({OFFLINE_LABEL})")},
        "x-troupe-offline": true,
        "paths": {
            "/health": {"get": {"operationId": "health", "responses": {"200": {"description": "The service is up", "content": json_of(json!({"type": "object", "properties": {"status": {"type": "string"}}}))}}}},
            "/lists": {
                "get": {"operationId": "listLists", "responses": {"200": {"description": "Every list", "content": json_of(json!({"type": "array", "items": {"$ref": "#/components/schemas/List"}}))}}},
                "post": {"operationId": "createList",
                    "requestBody": {"required": true, "content": json_of(json!({"$ref": "#/components/schemas/NewList"}))},
                    "responses": {"201": {"description": "Created", "content": json_of(json!({"$ref": "#/components/schemas/List"}))}, "400": error}}
            },
            "/lists/{listId}/items": {
                "parameters": [id("listId")],
                "get": {"operationId": "listItems", "responses": {"200": {"description": "The list's items", "content": json_of(json!({"type": "array", "items": {"$ref": "#/components/schemas/Item"}}))}, "404": error}},
                "post": {"operationId": "addItem",
                    "requestBody": {"required": true, "content": json_of(json!({"$ref": "#/components/schemas/NewItem"}))},
                    "responses": {"201": {"description": "Created", "content": json_of(json!({"$ref": "#/components/schemas/Item"}))}, "400": error, "404": error}}
            },
            "/items/{itemId}": {
                "parameters": [id("itemId")],
                "patch": {"operationId": "updateItem",
                    "requestBody": {"required": true, "content": json_of(json!({"$ref": "#/components/schemas/ItemChanges"}))},
                    "responses": {"200": {"description": "Updated", "content": json_of(json!({"$ref": "#/components/schemas/Item"}))}, "400": error, "404": error}},
                "delete": {"operationId": "deleteItem", "responses": {"204": {"description": "Deleted"}, "404": error}}
            }
        },
        "components": {"schemas": {
            "List": {"type": "object", "required": ["id", "name", "created_at"], "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "created_at": {"type": "string"}}},
            "NewList": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}}},
            "Item": {"type": "object", "required": ["id", "list_id", "title", "done", "created_at"], "properties": {"id": {"type": "integer"}, "list_id": {"type": "integer"}, "title": {"type": "string"}, "done": {"type": "boolean"}, "created_at": {"type": "string"}}},
            "NewItem": {"type": "object", "required": ["title"], "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 200}}},
            "ItemChanges": {"type": "object", "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 200}, "done": {"type": "boolean"}}},
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}
        }}
    })
}
