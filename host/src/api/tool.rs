//! `/experimental/tool*`: the tools of every loaded plugin, first-party and installed.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::Scoped;
use super::extract::ValidQuery;
use crate::instance::Instance;

/// One tool with the JSON Schema of its arguments.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolListItem {
    pub id: String,
    pub description: String,
    /// JSON Schema (draft 2020-12) of the arguments.
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ToolListQuery {
    /// The provider the tools are for.
    pub provider: String,
    /// The model the tools are for.
    pub model: String,
}

/// List all tool IDs.
#[utoipa::path(get, path = "/experimental/tool/ids", operation_id = "tool.ids", tag = "tool",
    responses((status = 200, description = "Tool IDs", body = Vec<String>)))]
pub async fn ids(Scoped(instance): Scoped) -> Json<Vec<String>> {
    Json(instance.tools.current().await.ids().map(String::from).collect())
}

/// List tools with their JSON Schemas for a provider and model.
#[utoipa::path(get, path = "/experimental/tool", operation_id = "tool.list", tag = "tool",
    params(ToolListQuery),
    responses(
        (status = 200, description = "Tools", body = Vec<ToolListItem>),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
    ))]
pub async fn list(
    Scoped(instance): Scoped,
    ValidQuery(_query): ValidQuery<ToolListQuery>,
) -> Json<Vec<ToolListItem>> {
    // Every loaded tool works with every model: the schemas do not vary by provider.
    all_tools(&instance).await
}

/// The loaded tools, then the tools of the connected MCP servers.
pub(super) async fn all_tools(instance: &Instance) -> Json<Vec<ToolListItem>> {
    let mut tools: Vec<ToolListItem> = instance
        .tools
        .current()
        .await
        .tools()
        .map(|(spec, _)| ToolListItem {
            id: spec.id.clone(),
            description: spec.description.clone(),
            parameters: spec.parameters.clone(),
        })
        .collect();
    tools.extend(instance.mcp.tools().await.into_iter().map(|tool| ToolListItem {
        id: tool.name,
        description: tool.description,
        parameters: tool.parameters,
    }));
    Json(tools)
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ids)).routes(routes!(list))
}
