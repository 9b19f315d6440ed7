//! The published documents describe the API exactly (what a client generator needs), and the
//! server holds input to them: objects only, ranges refused rather than clamped.

use serde_json::{Value, json};

use super::{Api, Backend, on_both_stores};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((method.to_owned(), path.clone(), operation.clone()));
            }
        }
    }
    found
}

fn statuses(operation: &Value) -> Vec<String> {
    operation["responses"].as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn every_operation_lists_every_answer_it_can_give() {
    let document = troupe_gateway::http::openapi::document();
    let operations = operations(&document);
    assert!(operations.len() >= 60, "{} operations", operations.len());
    for (method, path, operation) in &operations {
        let name = format!("{} {path}", method.to_uppercase());
        let statuses = statuses(operation);
        let has = |status: &str| statuses.iter().any(|listed| listed == status);
        for status in ["500", "503"] {
            assert!(has(status), "{name} lists {status}: {statuses:?}");
        }
        if !["/healthz", "/readyz", "/metrics"].contains(&path.as_str()) {
            assert!(has("429"), "{name} lists 429");
        }
        if operation.get("security").is_some() {
            assert!(has("401") && has("403"), "{name} needs a credential: lists 401 and 403: {statuses:?}");
        }
        if operation.get("requestBody").is_some() {
            for status in ["400", "413", "415"] {
                assert!(has(status), "{name} takes a body: lists {status}: {statuses:?}");
            }
        }
        let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
        for parameter in &parameters {
            let parameter_name = parameter["name"].as_str().unwrap();
            match parameter["in"].as_str().unwrap() {
                "path" => {
                    assert!(
                        path.contains(&format!("{{{parameter_name}}}")),
                        "{name}: `{parameter_name}` is no path parameter"
                    );
                    assert!(has("400") && has("404"), "{name} has a path id: lists 400 and 404");
                }
                "query" => {
                    assert_ne!(parameter["required"], true, "{name}: query `{parameter_name}` is optional");
                    assert!(has("400"), "{name} has a query: lists 400");
                }
                _ => {}
            }
        }
    }
    // The query parameters the API reads are declared as such.
    let query = |method: &str, path: &str| -> Vec<String> {
        let operation = &document["paths"][path][method];
        operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|parameter| parameter["in"] == "query")
            .map(|parameter| parameter["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(query("get", "/api/v1/executions"), ["status", "pipeline", "project_id", "cursor", "limit"]);
    assert_eq!(query("get", "/api/v1/executions/{id}/events"), ["after_seq", "limit"]);
    assert_eq!(query("get", "/api/v1/users"), ["cursor", "limit"]);
    assert_eq!(query("get", "/api/v1/audit"), ["limit"]);
    assert_eq!(query("delete", "/api/v1/memories"), ["confirm"]);
    // PATCH /users/{id} lists the 409 an admin demoting themself gets.
    assert!(statuses(&document["paths"]["/api/v1/users/{id}"]["patch"]).contains(&"409".to_owned()));
}

#[tokio::test]
async fn schemas_say_what_the_server_sends_and_enforces() {
    let document = troupe_gateway::http::openapi::document();
    let schemas = &document["components"]["schemas"];
    // `details` is `null` in every error but validation ones: any JSON, not an object.
    assert!(schemas["ErrorFields"]["properties"]["details"].get("type").is_none(), "{}", schemas["ErrorFields"]);
    // Fields the server sends as null are nullable.
    for (schema, field) in [
        ("ExecutionView", "error"),
        ("StepView", "output"),
        ("StepView", "error"),
        ("AttemptView", "output"),
        ("UserView", "budget"),
        ("PluginView", "research"),
    ] {
        let property = &schemas[schema]["properties"][field];
        let nullable =
            property.get("type").is_none_or(|ty| ty.as_array().is_some_and(|types| types.contains(&json!("null"))))
                && property.get("$ref").is_none();
        let one_of_null =
            property["oneOf"].as_array().is_some_and(|forms| forms.iter().any(|form| form["type"] == "null"));
        assert!(nullable || one_of_null, "{schema}.{field} is nullable: {property}");
        let required = schemas[schema]["required"].as_array().unwrap();
        assert!(!required.contains(&json!(field)) || one_of_null || nullable, "{schema}.{field}");
    }
    // Requests are typed: a pipeline is a name or a definition, definitions and manifests are
    // the published formats (bundled: generators do not follow external references).
    let pipeline_forms = &schemas["PipelineRef"]["oneOf"];
    assert_eq!(pipeline_forms[0]["type"], "string", "{pipeline_forms}");
    assert_eq!(pipeline_forms[1]["$ref"], "#/components/schemas/PipelineDefinition");
    assert_eq!(schemas["PipelineDefinition"]["properties"]["steps"]["type"], "array");
    assert!(schemas["StepDef"]["properties"]["agent"].is_object());
    assert_eq!(schemas["RegisterPlugin"]["properties"]["manifest"]["$ref"], "#/components/schemas/PluginManifest");
    assert!(schemas["PluginManifest"]["properties"]["kind"].is_object());
    let body = |path: &str, method: &str| document["paths"][path][method]["requestBody"].clone();
    assert_eq!(
        body("/api/v1/pipelines", "post")["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/PipelineDefinition"
    );
    // Limits the server enforces appear as constraints.
    assert_eq!(schemas["RegisterRequest"]["properties"]["email"]["format"], "email");
    assert_eq!(schemas["RegisterRequest"]["properties"]["password"]["minLength"], 8);
    assert_eq!(schemas["SearchMemoriesRequest"]["properties"]["k"]["minimum"], 1);
    assert_eq!(schemas["SearchMemoriesRequest"]["properties"]["k"]["maximum"], 100);
    assert_eq!(schemas["FlagBody"]["properties"]["rollout_percent"]["maximum"], 100);
    assert_eq!(schemas["ProjectRequest"]["properties"]["name"]["maxLength"], 100);
    assert!(schemas["NewUser"]["properties"]["role"].to_string().contains("RoleName"));
    assert_eq!(schemas["RoleName"]["enum"], json!(["admin", "researcher", "user"]));
    let idempotency = document["paths"]["/api/v1/executions"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|parameter| parameter["name"] == "Idempotency-Key")
        .cloned()
        .unwrap();
    assert_eq!((idempotency["in"].as_str(), &idempotency["schema"]["maxLength"]), (Some("header"), &json!(255)));
    // Both ways to authenticate; logout needs no body.
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(
        (schemes["api_key"]["in"].as_str(), schemes["api_key"]["name"].as_str()),
        (Some("header"), Some("X-Api-Key"))
    );
    assert_ne!(body("/api/v1/auth/logout", "post")["required"], true);
    // The probes are documented; the WebSocket protocol has its own document.
    for path in ["/healthz", "/readyz", "/metrics", "/api/v1/ws"] {
        assert!(document["paths"][path]["get"].is_object(), "{path}");
    }
}

on_both_stores!(bodies_are_objects_and_ranges_are_refused, strict_input);

async fn strict_input(api: &Api) {
    let login = api.user("strict@example.com").await;
    let token = login["access_token"].as_str().unwrap();
    let field = |body: &Value| body["error"]["details"]["fields"][0]["field"].as_str().unwrap_or("").to_owned();
    // Positional arrays are not objects, at the top or inside.
    let (status, body) = api.post("/api/v1/projects", token, json!(["name", null])).await;
    assert_eq!((status, field(&body).as_str()), (400, "body"), "{body}");
    let (status, body) =
        api.call("POST", "/api/v1/auth/login", None, Some(json!(["strict@example.com", "password-1"]))).await;
    assert_eq!((status, field(&body).as_str()), (400, "body"), "{body}");
    let (status, body) = api.post("/api/v1/executions", token, json!({"pipeline": "hello", "budget": [100]})).await;
    assert_eq!((status, field(&body).as_str()), (400, "budget"), "{body}");
    let (status, body) = api.post("/api/v1/executions", token, json!({"pipeline": ["hello", []]})).await;
    assert_eq!((status, field(&body).as_str()), (400, "pipeline"), "{body}");
    let inline = json!({"pipeline": {"name": "p", "steps": [["a", "echo"]]}});
    let (status, body) = api.post("/api/v1/executions", token, inline).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_pipeline")), "{body}");
    assert_eq!(field(&body), "steps[0]", "{body}");
    let (_, projects) = api.get("/api/v1/projects", token).await;
    assert_eq!(projects, json!([]), "nothing was created by the refused requests");
    // Out-of-range paging is refused, not clamped.
    for query in ["limit=0", "limit=201", "limit=-1"] {
        let (status, body) = api.get(&format!("/api/v1/executions?{query}"), token).await;
        assert_eq!((status, field(&body).as_str()), (400, "limit"), "{query}: {body}");
    }
    let id = api.execute(token, json!("hello"), json!({"name": "Ada"})).await;
    let (status, body) = api.get(&format!("/api/v1/executions/{id}/events?limit=5000"), token).await;
    assert_eq!((status, field(&body).as_str()), (400, "limit"), "{body}");
    let (status, _) = api.get(&format!("/api/v1/executions/{id}/events?limit=1000"), token).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_protocol_and_the_probes_have_documents() {
    let api = Api::start(Backend::Sqlite, "documents").await.unwrap();
    let response = api.http.get("/api/docs/asyncapi.json").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let asyncapi: Value = response.json().await.unwrap();
    assert_eq!(asyncapi["asyncapi"], "3.0.0");
    assert_eq!(asyncapi["channels"]["live"]["address"], "/api/v1/ws");
    let messages = asyncapi["channels"]["live"]["messages"].as_object().unwrap();
    assert!(messages.contains_key("client.subscribe") && messages.contains_key("server.event"), "{messages:?}");
    assert_eq!(asyncapi["operations"]["receiveClientMessages"]["action"], "receive");
    // The served OpenAPI document is the one the gate checks against.
    let served: Value = api.http.get("/api/docs/openapi.json").send().await.unwrap().json().await.unwrap();
    assert_eq!(served, troupe_gateway::http::openapi::document());
    api.stop().await;
}
