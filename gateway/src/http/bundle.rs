//! Bundles a JSON Schema document (another crate's, with its `$defs`) into an OpenAPI or
//! AsyncAPI document's `components/schemas`, in the forms client generators read.

use serde_json::{Map, Value, json};

/// Puts a JSON Schema document (with its `$defs`) into `components/schemas` under `name`,
/// rewriting its references; a definition whose name is taken by a different schema is
/// prefixed with `name`.
pub fn bundle(document: &mut Value, name: &str, mut schema: Value) {
    let schemas = document["components"]["schemas"].as_object_mut().expect("the document has schemas");
    let definitions = match schema.as_object_mut() {
        Some(root) => {
            root.remove("$schema");
            match root.remove("$defs") {
                Some(Value::Object(definitions)) => definitions,
                _ => Map::new(),
            }
        }
        None => Map::new(),
    };
    let mut renames = Vec::new();
    for (definition, body) in &definitions {
        let taken = schemas.get(definition).is_some_and(|existing| {
            let mut candidate = body.clone();
            rewrite(&mut candidate, &[]);
            untitled(existing) != untitled(&candidate)
        });
        let target = if taken { format!("{name}{definition}") } else { definition.clone() };
        renames.push((definition.clone(), target));
    }
    rewrite(&mut schema, &renames);
    distribute(&mut schema);
    if let Value::Object(root) = &mut schema {
        // Generators name types by title: the component's name is the one to use.
        root.remove("title");
    }
    schemas.insert(name.to_owned(), schema);
    for (definition, mut body) in definitions {
        rewrite(&mut body, &renames);
        let target = renames.iter().find(|(from, _)| from == &definition).map_or(definition, |(_, to)| to.clone());
        schemas.insert(target, body);
    }
}

/// `{properties: P, required: R, oneOf: [V…]}` (how a struct with a flattened tagged enum
/// comes out) becomes `{oneOf: [V + P + R…]}`: the same values, in the form client generators
/// turn into one type per variant with every field.
fn distribute(schema: &mut Value) {
    let Some(root) = schema.as_object_mut() else { return };
    let (Some(Value::Array(variants)), Some(Value::Object(shared))) = (root.get("oneOf"), root.get("properties"))
    else {
        return;
    };
    let shared = shared.clone();
    let required = root.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
    let variants: Vec<Value> = variants
        .iter()
        .map(|variant| {
            let mut variant = variant.clone();
            if let Value::Object(object) = &mut variant {
                let properties = object.entry("properties").or_insert_with(|| json!({}));
                if let Value::Object(properties) = properties {
                    for (key, value) in &shared {
                        properties.entry(key.clone()).or_insert_with(|| value.clone());
                    }
                }
                let all = object.entry("required").or_insert_with(|| json!([]));
                if let Value::Array(all) = all {
                    all.extend(required.iter().cloned());
                }
            }
            variant
        })
        .collect();
    for key in ["properties", "required", "type"] {
        root.remove(key);
    }
    root.insert("oneOf".into(), Value::Array(variants));
}

/// A schema without its `title` (a root schema has one, the same schema under `$defs` not).
fn untitled(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Value::Object(object) = &mut schema {
        object.remove("title");
    }
    schema
}

/// Points `#/$defs/X` references at `#/components/schemas/…`, turns `true` schemas (any
/// value) into `{}`, and `oneOf` lists of string constants (documented enum variants) into an
/// `enum` — forms every generator reads.
fn rewrite(value: &mut Value, renames: &[(String, String)]) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Array(variants)) = object.get("oneOf")
                && !variants.is_empty()
                && variants.iter().all(|variant| variant.get("const").is_some_and(Value::is_string))
            {
                let values: Vec<Value> = variants.iter().map(|variant| variant["const"].clone()).collect();
                object.remove("oneOf");
                object.insert("type".into(), json!("string"));
                object.insert("enum".into(), Value::Array(values));
            }
            if let Some(Value::String(reference)) = object.get_mut("$ref")
                && let Some(definition) = reference.strip_prefix("#/$defs/")
            {
                let target =
                    renames.iter().find(|(from, _)| from == definition).map_or(definition, |(_, to)| to.as_str());
                *reference = format!("#/components/schemas/{target}");
            }
            for (key, child) in object.iter_mut() {
                if matches!(key.as_str(), "properties" | "$defs" | "patternProperties")
                    && let Value::Object(children) = child
                {
                    for schema in children.values_mut() {
                        if *schema == Value::Bool(true) {
                            *schema = json!({});
                        }
                    }
                }
                if key == "items" && *child == Value::Bool(true) {
                    *child = json!({});
                }
                rewrite(child, renames);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rewrite(item, renames)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_schemas_point_into_components() {
        let mut document = json!({"components": {"schemas": {"Thing": {"type": "string"}}}, "paths": {}});
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/Thing"}, "b": {"$ref": "#/$defs/Other"}, "c": true},
            "$defs": {"Thing": {"type": "integer"}, "Other": {"type": "boolean"}},
        });
        bundle(&mut document, "Root", schema);
        let schemas = &document["components"]["schemas"];
        assert_eq!(schemas["Root"]["properties"]["a"]["$ref"], "#/components/schemas/RootThing");
        assert_eq!(schemas["Root"]["properties"]["b"]["$ref"], "#/components/schemas/Other");
        assert_eq!(schemas["Root"]["properties"]["c"], json!({}));
        assert_eq!(schemas["RootThing"], json!({"type": "integer"}));
        assert_eq!(schemas["Thing"], json!({"type": "string"}), "the existing schema is kept");
        assert!(schemas["Root"].get("$schema").is_none() && schemas["Root"].get("$defs").is_none());
    }
}
