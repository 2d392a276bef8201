//! Checking an answer against the OpenAPI document the shop serves.

use serde_json::Value;

/// Validates `instance` against the documented response of `method path`.
pub fn assert_conforms_to(doc: &Value, path: &str, method: &str, status: u16, instance: &Value) {
    let response = &doc["paths"][path][method]["responses"][status.to_string()];
    let schema = &response["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{path} documents no {status} body: {response}");
    // Resolve `#/components/...` against the whole document.
    let mut root = doc.clone();
    let root_obj = root.as_object_mut().unwrap();
    for (k, v) in schema.as_object().unwrap() {
        root_obj.insert(k.clone(), v.clone());
    }
    let validator = jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("schema for {path} {status}: {e}"));
    let errors: Vec<String> = validator.iter_errors(instance).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "{path} {status} does not match its schema: {errors:?}\n{instance}");
}
