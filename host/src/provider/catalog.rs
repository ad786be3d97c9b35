//! The built-in catalogue of common providers and models (`catalog.json`, compiled in): blocks in
//! the same form as a configuration's `provider` section (models.dev's fields: `name`, `npm`,
//! `api`, `env`, `models.<id>.{name, family, tool_call, reasoning, cost, limit, ...}`), which a
//! configuration block for the same id is merged over. Prices are US dollars per million tokens.
//!
//! wasmcode fetches no catalogue from the network: models it does not list are added in the
//! configuration (`provider.<id>.models`).

use std::sync::LazyLock;

use serde_json::{Map, Value};

static CATALOG: LazyLock<Map<String, Value>> = LazyLock::new(|| {
    match serde_json::from_str(include_str!("catalog.json")) {
        Ok(Value::Object(map)) => map,
        // Unreachable in a tested build (a unit test parses it); an empty catalogue still serves
        // configured providers.
        other => {
            tracing::error!("the built-in provider catalogue is not a JSON object: {other:?}");
            Map::new()
        }
    }
});

/// The catalogue's provider blocks, by id, in the file's order.
pub fn blocks() -> &'static Map<String, Value> {
    &CATALOG
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::block::{ModelBlock, ProviderBlock};

    #[test]
    fn the_catalogue_parses_and_lists_the_common_providers() {
        let expected: [(&str, &[&str]); 5] = [
            (
                "openai",
                &[
                    "gpt-4.1",
                    "gpt-4.1-mini",
                    "gpt-4o",
                    "gpt-4o-mini",
                    "o3",
                    "o4-mini",
                    "gpt-5",
                    "gpt-5-mini",
                ],
            ),
            (
                "anthropic",
                &[
                    "claude-sonnet-4-5",
                    "claude-opus-4-1",
                    "claude-haiku-4-5",
                    "claude-3-5-haiku",
                ],
            ),
            ("openrouter", &["anthropic/claude-sonnet-4"]),
            ("ollama", &[]),
            ("lmstudio", &[]),
        ];
        for (id, models) in expected {
            let block: ProviderBlock =
                serde_json::from_value(blocks()[id].clone()).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(
                block.api.is_some_and(|u| u.starts_with("http")),
                "{id} has a base URL"
            );
            assert!(!block.models.is_empty(), "{id} has models");
            for model in models {
                assert!(block.models.contains_key(*model), "{id}/{model}");
            }
            for (model, value) in &block.models {
                let model_block: ModelBlock =
                    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{id}/{model}: {e}"));
                assert!(model_block.name.is_some(), "{id}/{model} has a name");
                assert!(
                    model_block.limit.context.is_some_and(|c| c > 0),
                    "{id}/{model} has a context limit"
                );
            }
        }
        let env = |id: &str| blocks()[id]["env"].clone();
        assert_eq!(env("openai"), serde_json::json!(["OPENAI_API_KEY"]));
        assert_eq!(env("anthropic"), serde_json::json!(["ANTHROPIC_API_KEY"]));
        assert_eq!(env("openrouter"), serde_json::json!(["OPENROUTER_API_KEY"]));
        assert_eq!(env("ollama"), serde_json::json!([]), "local servers need no key");
    }
}
