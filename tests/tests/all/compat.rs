//! Our OpenAPI document against the reference's, for every operation seed 003 asks for and every
//! one OpenCode's SDK v1 client calls: the same method, path and operationId, and success
//! responses whose fields the reference marks required are present with compatible types. The
//! operations we deliberately answer differently, and those not served yet, are listed with the
//! reason, and `docs/compat.md` (the compatibility table) must say the same. The reference's
//! shapes come from `tests/fixtures/reference/reference-operations.json` (derived from the
//! reference's `/doc` by `trim.py` beside it).

use serde_json::Value;

/// Operations whose success response deliberately differs from the reference's, and why.
const DIFFERENCES: &[(&str, &str)] = &[
    (
        "session.share",
        "not implemented yet: answers 501 (sharing needs a share service)",
    ),
    (
        "session.unshare",
        "not implemented yet: answers 501 (sharing needs a share service)",
    ),
    (
        "session.diff",
        "not implemented yet: answers 501 (needs file snapshots)",
    ),
    (
        "session.summarize",
        "not implemented yet: answers 501 (compaction)",
    ),
    (
        "session.revert",
        "not implemented yet: answers 501 (needs file snapshots)",
    ),
    (
        "session.unrevert",
        "not implemented yet: answers 501 (needs file snapshots)",
    ),
    (
        "mcp.auth.start",
        "this server cannot run OAuth for MCP servers: answers 400 `McpUnsupportedOAuthError` saying how to give a token in `headers`",
    ),
    (
        "mcp.auth.callback",
        "this server cannot run OAuth for MCP servers: answers 400 `McpUnsupportedOAuthError`",
    ),
    (
        "mcp.auth.authenticate",
        "this server cannot run OAuth for MCP servers: answers 400 `McpUnsupportedOAuthError`",
    ),
    (
        "provider.oauth.authorize",
        "no provider offers OAuth: answers 400 with a message pointing to `PUT /auth/{id}`",
    ),
    (
        "provider.oauth.callback",
        "no provider offers OAuth: answers 400 with a message pointing to `PUT /auth/{id}`",
    ),
];

/// Operations not served yet (absent from our `/doc`), and what brings them.
const NOT_SERVED: &[(&str, &str)] = &[];

/// How wasmcode serves one operation of the table.
enum Status {
    Works,
    /// Served, with a different answer, for this reason.
    Differs(String),
    /// Not served yet; what brings it.
    Missing(&'static str),
}

/// Notes on operations that work but behave better than the reference in a visible way.
const NOTES: &[(&str, &str)] = &[
    (
        "find.text",
        "deterministic order, a `limit` parameter (default 100, not a fixed 10), served from a trigram index",
    ),
    (
        "file.status",
        "really reports modified, added and deleted files with line counts (the reference returns `[]`)",
    ),
    (
        "file.read",
        "a path outside the project is 403 (the reference answers 500); a missing file is 404",
    ),
    ("session.get", "a malformed ID is 400 (the reference answers 500)"),
    ("config.get", "provider keys and server tokens are never returned"),
    (
        "config.providers",
        "keys are never returned; only providers this server can run are listed",
    ),
    (
        "permission.respond",
        "an answered request is 409, an unknown one 404",
    ),
    (
        "event.subscribe",
        "adds `id:` lines, `Last-Event-ID` replay and `server.resync`; slow subscribers are cut off",
    ),
    (
        "mcp.add",
        "added for the life of the instance, as in the reference; a remote server's failure names both transports tried (streamable HTTP, then SSE)",
    ),
    (
        "pty.create",
        "runs confined to the project when `wasmcode.sandbox.shell` is on; a login shell gets `-l` only when no `args` are given",
    ),
    (
        "pty.connect",
        "the cursor counts bytes of UTF-8 text (the reference counts UTF-16 units); a socket from a page of another origin is refused",
    ),
    (
        "global.event",
        "adds `id:` lines, `Last-Event-ID` replay and `server.resync`; slow subscribers are cut off",
    ),
];

fn reference() -> Value {
    let text = include_str!("../../fixtures/reference/reference-operations.json");
    serde_json::from_str(text).expect("the reference fixture is JSON")
}

fn ours() -> Value {
    serde_json::to_value(wasmcode::server::openapi()).expect("our document serializes")
}

fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        schema = &doc["components"]["schemas"][name];
    }
    schema
}

/// The JSON kind of a schema, as `trim.py` names the reference's.
fn kind(doc: &Value, schema: &Value) -> String {
    let schema = resolve(doc, schema);
    match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => {
            let mut names: Vec<&str> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            names.sort_unstable();
            names.join("|")
        }
        _ if schema.get("oneOf").is_some() || schema.get("anyOf").is_some() => "union".into(),
        _ if schema.get("properties").is_some() => "object".into(),
        _ => "any".into(),
    }
}

fn compatible(ours: &str, theirs: &str) -> bool {
    let numbers = ["integer", "number"];
    ours == theirs
        || ["any", "union"].contains(&theirs)
        || ["any", "union"].contains(&ours)
        || (numbers.contains(&ours) && numbers.contains(&theirs))
        || theirs.split('|').any(|t| t == ours)
        || ours.split('|').any(|o| o == theirs)
}

/// What is wrong with our success response for `operation` compared with the reference's shape.
fn response_problems(doc: &Value, operation: &Value, expected: &Value) -> Vec<String> {
    let responses = &operation["responses"];
    let success = if responses["200"].is_object() {
        &responses["200"]
    } else {
        &responses["204"]
    };
    let content = success["content"].as_object();
    if content.is_some_and(|c| c.contains_key("text/event-stream")) {
        // An event stream: its events are compared by the event tests, not by schema.
        return vec![];
    }
    let Some(schema) = content.and_then(|c| c.values().next()).map(|c| &c["schema"]) else {
        return if expected.is_null() {
            vec![]
        } else {
            vec!["no success body documented".into()]
        };
    };
    if expected.is_null() {
        return vec![];
    }
    let ours_kind = kind(doc, schema);
    let theirs_kind = expected["kind"].as_str().unwrap_or("any");
    if !compatible(&ours_kind, theirs_kind) {
        return vec![format!(
            "response is {ours_kind}, the reference's is {theirs_kind}"
        )];
    }
    let target = if theirs_kind == "array" {
        let items = resolve(doc, &resolve(doc, schema)["items"]);
        let theirs_items = expected["items"].as_str().unwrap_or("any");
        if !compatible(&kind(doc, items), theirs_items) {
            return vec![format!(
                "items are {}, the reference's are {theirs_items}",
                kind(doc, items)
            )];
        }
        items
    } else {
        resolve(doc, schema)
    };
    let mut problems = Vec::new();
    for (field, theirs) in expected["required"].as_object().into_iter().flatten() {
        let theirs = theirs.as_str().unwrap_or("any");
        match target["properties"].get(field) {
            None => problems.push(format!("field `{field}` ({theirs}) missing")),
            Some(property) => {
                let ours = kind(doc, property);
                if !compatible(&ours, theirs) {
                    problems.push(format!("field `{field}` is {ours}, the reference's is {theirs}"));
                }
            }
        }
    }
    problems
}

/// The table `docs/compat.md` must hold.
fn table(rows: &[(String, String, String, Status)]) -> String {
    let mut out = String::from(
        "# Compatibility with OpenCode's server\n\n\
         Every operation of OpenCode's API that seed 003 lists, and every one the v1 client of\n\
         `@opencode-ai/sdk` calls, as wasmcode serves it. \"works\" means the same method, path and\n\
         operationId, and a success response with every field the reference marks required, with a\n\
         compatible type (checked by `tests/tests/all/compat.rs` against the reference's `/doc`), and\n\
         behaviour covered by the end-to-end tests; \"differs\" says how and why; \"missing\" says what\n\
         brings it. Regenerate this file with `WASMCODE_BLESS=1 cargo test -p wasmcode-tests --test all\n\
         compat`.\n\n\
         | operation | route | status | notes |\n|---|---|---|---|\n",
    );
    for (operation, method, path, status) in rows {
        let note = NOTES
            .iter()
            .find(|(op, _)| op == operation)
            .map(|(_, n)| *n)
            .unwrap_or("");
        let (status, note) = match status {
            Status::Works => ("works", note),
            Status::Differs(reason) => ("differs", reason.as_str()),
            Status::Missing(reason) => ("missing", *reason),
        };
        out.push_str(&format!(
            "| `{operation}` | `{method} {path}` | {status} | {note} |\n"
        ));
    }
    out
}

#[test]
fn every_seed_and_sdk_operation_matches_the_reference_or_is_listed_as_different() {
    let reference = reference();
    let doc = ours();
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    for expected in reference["operations"].as_array().expect("operations") {
        let method = expected["method"].as_str().expect("method");
        let path = expected["path"].as_str().expect("path");
        let operation_id = expected["operationId"].as_str().expect("operationId");
        let operation = &doc["paths"][path][method.to_lowercase()];
        let not_served = NOT_SERVED.iter().find(|(op, _)| *op == operation_id);
        match (operation.is_object(), not_served) {
            (false, Some((_, why))) => {
                let row = (
                    operation_id.to_string(),
                    method.to_string(),
                    path.to_string(),
                    Status::Missing(why),
                );
                rows.push(row);
                continue;
            }
            (false, None) => {
                failures.push(format!("{method} {path} ({operation_id}) is not in our document"));
                continue;
            }
            (true, Some(_)) => {
                failures.push(format!("{operation_id} is served now: take it out of NOT_SERVED"));
            }
            (true, None) => {}
        }
        if operation["operationId"] != operation_id {
            failures.push(format!(
                "{method} {path}: operationId {} instead of {operation_id}",
                operation["operationId"]
            ));
        }
        let difference = DIFFERENCES
            .iter()
            .find(|(op, _)| *op == operation_id)
            .map(|(_, why)| why.to_string());
        let unimplemented = operation["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "unimplemented"));
        if unimplemented && difference.is_none() {
            failures.push(format!(
                "{operation_id} answers 501 but is not listed in DIFFERENCES"
            ));
        }
        if difference.is_none() {
            for problem in response_problems(&doc, operation, &expected["response"]) {
                failures.push(format!("{operation_id} ({method} {path}): {problem}"));
            }
        }
        let status = difference.map_or(Status::Works, Status::Differs);
        rows.push((
            operation_id.to_string(),
            method.to_string(),
            path.to_string(),
            status,
        ));
    }
    assert!(
        failures.is_empty(),
        "differences from the reference:\n{}",
        failures.join("\n")
    );

    let expected = table(&rows);
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/compat.md");
    if std::env::var_os("WASMCODE_BLESS").is_some() {
        std::fs::write(file, &expected).expect("docs/compat.md is writable");
    }
    let actual = std::fs::read_to_string(file).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/compat.md is out of date; regenerate it with `WASMCODE_BLESS=1 cargo test -p wasmcode-tests --test all compat`"
    );
}
