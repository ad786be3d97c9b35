//! What every operation of the document shares, added once here instead of on each handler:
//! its path parameters, the `directory` scoping parameter, and the errors any route can give
//! (bad input, missing credentials, a refused origin or path); and the schemas of the event
//! streams (`Event`, the union of every event, and `GlobalEvent`).

use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder};

/// Routes that are not scoped to a project directory.
fn unscoped(path: &str) -> bool {
    path.starts_with("/global/") || path == "/doc"
}

pub fn complete(doc: &mut OpenApi) {
    // The event streams' messages: the union of every event the server sends.
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in crate::protocol::event::schemas() {
        components.schemas.insert(name, schema);
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for operation in operations.into_iter().flatten() {
            declare_path_parameters(path, operation);
            if !unscoped(path) {
                add_parameter(
                    operation,
                    "directory",
                    ParameterIn::Query,
                    Required::False,
                    "The project directory",
                );
            }
            add_error(
                operation,
                "400",
                "Bad request: malformed parameters, body or directory",
            );
            add_error(operation, "401", "Authentication required");
            add_error(
                operation,
                "403",
                "Forbidden: a browser origin or path that is not allowed",
            );
            if operation.request_body.is_some() {
                add_error(operation, "413", "Request body too large");
            }
            if path.contains('{') {
                add_error(
                    operation,
                    "404",
                    "Not found: an object the path names does not exist",
                );
            }
        }
    }
}

fn declare_path_parameters(path: &str, operation: &mut Operation) {
    let names: Vec<&str> = path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect();
    for name in names {
        add_parameter(operation, name, ParameterIn::Path, Required::True, "");
    }
}

fn add_parameter(
    operation: &mut Operation,
    name: &str,
    location: ParameterIn,
    required: Required,
    doc: &str,
) {
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    if parameters.iter().any(|p: &Parameter| p.name == name) {
        return;
    }
    let mut parameter = ParameterBuilder::new()
        .name(name)
        .parameter_in(location)
        .required(required)
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)));
    if !doc.is_empty() {
        parameter = parameter.description(Some(doc));
    }
    parameters.push(parameter.build());
}

fn add_error(operation: &mut Operation, status: &str, description: &str) {
    if operation.responses.responses.contains_key(status) {
        return;
    }
    let body = ContentBuilder::new()
        .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", body)
        .build();
    operation
        .responses
        .responses
        .insert(status.to_string(), RefOr::T(response));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_parameters_and_errors() {
        let mut doc = crate::server::openapi();
        complete(&mut doc);
        let value = serde_json::to_value(&doc).expect("serializes");
        let get = &value["paths"]["/session/{sessionID}"]["get"];
        let names: Vec<&str> = get["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(
            names.contains(&"sessionID") && names.contains(&"directory"),
            "{names:?}"
        );
        assert!(get["responses"]["400"].is_object() && get["responses"]["401"].is_object());
        let health = &value["paths"]["/global/health"]["get"];
        assert!(
            health["parameters"]
                .as_array()
                .is_none_or(|p| p.iter().all(|p| p["name"] != "directory"))
        );
        assert!(
            value["paths"]["/config"]["patch"]["responses"]["413"].is_object(),
            "bodies can be too large"
        );
        assert!(
            value["paths"]["/config"]["get"]["responses"]["413"].is_null(),
            "GET has no body"
        );
    }
}
