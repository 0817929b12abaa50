//! The JSON Schema of workflow files (`gantry schema`), for editors.

use serde_json::{json, Value};

/// The schema (draft 2020-12).
pub fn schema() -> Value {
    let string_map = json!({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}});
    let expr_or =
        |t: &str| json!({"anyOf": [{"type": t}, {"type": "string", "pattern": "\\$\\{\\{"}]});
    let string_or_list =
        json!({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]});
    let defaults = json!({
        "type": "object", "additionalProperties": false,
        "properties": {"run": {"type": "object", "additionalProperties": false, "properties": {
            "shell": {"type": "string", "description": "sh, bash, python, pwsh, or a template with {0}"},
            "working-directory": {"type": "string"}}}}
    });
    let container = json!({
        "anyOf": [{"type": "string", "description": "an image"}, {
            "type": "object", "additionalProperties": false, "required": ["image"],
            "properties": {
                "image": {"type": "string"},
                "env": string_map,
                "ports": {"type": "array", "items": {"type": ["string", "number"]}},
                "volumes": {"type": "array", "items": {"type": "string"}},
                "options": {"type": "string", "description": "docker create options, e.g. --health-cmd"},
                "credentials": {"type": "object", "additionalProperties": false, "required": ["username", "password"],
                    "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}
            }}]
    });
    let step = json!({
        "type": "object", "additionalProperties": false,
        "oneOf": [{"required": ["run"]}, {"required": ["uses"]}],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
            "name": {"type": "string"},
            "run": {"type": "string"},
            "shell": {"type": "string"},
            "env": string_map,
            "if": {"type": ["string", "boolean"]},
            "working-directory": {"type": "string"},
            "timeout-minutes": expr_or("number"),
            "continue-on-error": expr_or("boolean"),
            "uses": {"type": "string", "description": "docker://IMAGE or a built-in step such as actions/checkout"},
            "with": string_map,
            "retry": {"type": "object", "additionalProperties": false, "required": ["attempts"], "description": "gantry extension",
                "properties": {"attempts": {"type": "integer", "minimum": 1, "maximum": 100}, "delay-seconds": {"type": "number", "minimum": 0}}}
        }
    });
    let job = json!({
        "type": "object", "additionalProperties": false, "required": ["runs-on", "steps"],
        "properties": {
            "name": {"type": "string"},
            "runs-on": {"anyOf": [string_or_list, {"type": "object", "properties": {"group": {"type": "string"}, "labels": string_or_list}}]},
            "needs": string_or_list,
            "if": {"type": ["string", "boolean"]},
            "env": string_map,
            "outputs": {"type": "object", "additionalProperties": {"type": "string"}},
            "strategy": {"type": "object", "additionalProperties": false, "properties": {
                "matrix": {"type": "object", "properties": {
                    "include": {"type": "array", "items": {"type": "object"}},
                    "exclude": {"type": "array", "items": {"type": "object"}}},
                    "additionalProperties": {"type": "array"}},
                "fail-fast": expr_or("boolean"),
                "max-parallel": {"type": "integer", "minimum": 1}}},
            "timeout-minutes": expr_or("number"),
            "continue-on-error": expr_or("boolean"),
            "defaults": defaults,
            "container": container,
            "services": {"type": "object", "additionalProperties": container},
            "steps": {"type": "array", "minItems": 1, "items": step},
            "permissions": {}, "environment": {}, "concurrency": {}
        }
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://gantry.dev/schema/workflow.json",
        "title": "gantry workflow",
        "description": "A GitHub Actions-style workflow as gantry runs it",
        "type": "object",
        "additionalProperties": false,
        "required": ["jobs"],
        "properties": {
            "name": {"type": "string"},
            "run-name": {"type": "string"},
            "on": {},
            "env": string_map,
            "defaults": defaults,
            "permissions": {},
            "concurrency": {},
            "jobs": {"type": "object", "minProperties": 1,
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
                "additionalProperties": job}
        }
    })
}
