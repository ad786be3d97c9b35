//! The `invalid` tool, as OpenCode has it: never chosen by the model on purpose ("Do not use");
//! a call of a tool the model was not offered is answered through it, so the model reads why
//! (the tool it named and the tools it has) and can try again, instead of the turn failing.

use serde::Deserialize;
use wasmcode_plugin::{Context, JsonSchema, Output, Tool, ToolError};

#[derive(Deserialize, JsonSchema)]
pub struct Args {
    tool: String,
    error: String,
}

pub struct InvalidTool;

impl Tool for InvalidTool {
    const ID: &'static str = "invalid";
    const DESCRIPTION: &'static str = "Do not use";
    type Args = Args;

    fn execute(args: Args, _ctx: &Context) -> Result<Output, ToolError> {
        Ok(Output::new(
            "Invalid Tool",
            format!("The arguments provided to the tool are invalid: {}", args.error),
        )
        .metadata(serde_json::json!({ "tool": args.tool, "truncated": false })))
    }
}

wasmcode_plugin::export_tools!(InvalidTool);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_matches_the_reference() {
        // `parameters` of `invalid` in OpenCode's `GET /experimental/tool` answer.
        let reference: serde_json::Value = serde_json::from_str(
            r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {"tool": {"type": "string"}, "error": {"type": "string"}}, "required": ["tool", "error"]}"#,
        )
        .expect("valid JSON");
        assert_eq!(wasmcode_plugin::schema_of::<Args>(), reference);
    }
}
