//! The checked-in `openapi.json` is the document the server generates; a change to the API
//! that is not reflected there fails here.

#[test]
fn checked_in_openapi_matches_the_generated_document() {
    let generated = wasmcode::server::openapi()
        .to_pretty_json()
        .expect("the document serializes");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in.trim_end() == generated.trim_end(),
        "openapi.json is out of date; regenerate it with `cargo run -p wasmcode -- openapi > openapi.json`"
    );
}

#[test]
fn every_operation_has_an_operation_id() {
    let doc = serde_json::to_value(wasmcode::server::openapi()).expect("serializes");
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            assert!(
                operation["operationId"].is_string(),
                "{method} {path} has no operationId"
            );
        }
    }
}

#[test]
fn the_readme_lists_exactly_the_unimplemented_operations() {
    let doc = serde_json::to_value(wasmcode::server::openapi()).expect("serializes");
    let mut unimplemented = Vec::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().expect("path item").values() {
            if operation["tags"]
                .as_array()
                .is_some_and(|tags| tags.iter().any(|t| t == "unimplemented"))
            {
                unimplemented.push(
                    operation["operationId"]
                        .as_str()
                        .expect("operationId")
                        .to_string(),
                );
            }
        }
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
    let section = readme.split("## Not implemented yet").nth(1).unwrap_or_default();
    let mut listed: Vec<String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `")?.split('`').next().map(String::from))
        .collect();
    unimplemented.sort();
    listed.sort();
    assert_eq!(
        listed, unimplemented,
        "update the README's \"Not implemented yet\" table"
    );
}
