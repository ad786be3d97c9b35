//! The simple `/v1` surface: what a script or a web page can use with plain `fetch`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::ValidJson;
use super::tool::ToolListItem;
use crate::instance::Scoped;
use crate::permission::PolicyAnswerer;
use crate::runtime::ToolCall;
use crate::server::AppState;

/// The result of running a tool directly.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolExecution {
    /// The tool that ran (an alias such as `read_file` resolves to `read`).
    pub tool: String,
    pub title: String,
    /// The tool's output text.
    pub content: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// List every loaded tool with its JSON Schema.
#[utoipa::path(get, path = "/v1/tools", operation_id = "v1.tools.list", tag = "v1",
    responses((status = 200, description = "Tools", body = Vec<ToolListItem>)))]
pub async fn tools(Scoped(instance): Scoped) -> Json<Vec<ToolListItem>> {
    super::tool::all_tools(&instance)
}

/// Names other clients use for our tools, and how their arguments map.
fn resolve_alias(id: &str, mut args: serde_json::Value) -> (String, serde_json::Value) {
    match id {
        "read_file" => {
            if let Some(object) = args.as_object_mut()
                && !object.contains_key("filePath")
                && let Some(path) = object.remove("path")
            {
                object.insert("filePath".into(), path);
            }
            ("read".into(), args)
        }
        other => (other.to_string(), args),
    }
}

/// Run one tool directly, under the configured permission rules. A rule that says `ask` refuses
/// here: there is nobody to ask.
#[utoipa::path(post, path = "/v1/tools/{id}/execute", operation_id = "v1.tools.execute", tag = "v1",
    params(("id" = String, Path, description = "Tool id (`read_file` is an alias of `read`)")),
    request_body(content = Object, description = "The tool's arguments"),
    responses(
        (status = 200, description = "The tool's output", body = ToolExecution),
        (status = 400, description = "Invalid arguments", body = super::error::ErrorBody),
        (status = 403, description = "Permission refused", body = super::error::ErrorBody),
        (status = 404, description = "Unknown tool", body = super::error::ErrorBody),
        (status = 422, description = "The tool ran and failed", body = super::error::ErrorBody),
    ))]
pub async fn execute_tool(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    Path(id): Path<String>,
    ValidJson(args): ValidJson<serde_json::Value>,
) -> Result<Json<ToolExecution>, ApiError> {
    if !args.is_object() {
        return Err(ApiError::bad_request(
            "the body must be a JSON object of the tool's arguments",
            "Payload",
        ));
    }
    let (tool, args) = resolve_alias(&id, args);
    if instance.tools.plugin_for(&tool).is_none() {
        return Err(ApiError::not_found(format!("Tool not found: {id}")));
    }
    let call = ToolCall {
        tool: tool.clone(),
        args_json: args.to_string(),
        session_id: String::new(),
        message_id: String::new(),
        call_id: crate::bus::id::Identifier::ascending("call"),
        agent: "build".into(),
        project_root: instance.directory.clone(),
    };
    let answerer = std::sync::Arc::new(PolicyAnswerer {
        rules: (*instance.permissions).clone(),
    });
    let output = instance
        .tools
        .call(state.instances.runtime(), call, answerer)
        .await?;
    Ok(Json(ToolExecution {
        tool,
        title: output.title,
        content: output.output,
        metadata: output.metadata,
    }))
}
