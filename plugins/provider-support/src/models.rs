//! The models a provider knows from its configuration alone: OpenCode's `models` map, which the
//! host passes through in `provider-config.options-json`.

use serde::Deserialize;

use crate::wit::{ModelInfo, ProviderConfig};

/// One entry of OpenCode's `provider.<id>.models` map. Unknown keys (`cost`, `options`, ...) are
/// ignored here.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ModelEntry {
    /// The id sent to the API, when it differs from the map key.
    id: Option<String>,
    name: Option<String>,
    limit: Limit,
    tool_call: Option<bool>,
    reasoning: bool,
    attachment: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Limit {
    context: u32,
    output: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Options {
    models: serde_json::Map<String, serde_json::Value>,
}

/// The configured models, sorted by id. Entries that are not objects are skipped: a typo in one
/// model must not hide the others.
pub fn from_config(config: &ProviderConfig) -> Vec<ModelInfo> {
    let options: Options = serde_json::from_str(&config.options_json).unwrap_or_default();
    let mut models: Vec<ModelInfo> = options
        .models
        .into_iter()
        .filter_map(|(key, value)| {
            let entry: ModelEntry = serde_json::from_value(value).ok()?;
            let id = entry.id.unwrap_or(key);
            Some(ModelInfo {
                name: entry.name.unwrap_or_else(|| id.clone()),
                id,
                context_limit: entry.limit.context,
                output_limit: entry.limit.output,
                tool_call: entry.tool_call.unwrap_or(true),
                reasoning: entry.reasoning,
                attachment: entry.attachment,
            })
        })
        .collect();
    models.sort_by(|a, b| a.id.cmp(&b.id));
    models
}

/// The configured output limit of `model`, if any: what to ask for when a request sets no
/// `max-tokens` but the API requires one.
pub fn output_limit(config: &ProviderConfig, model: &str) -> Option<u32> {
    from_config(config)
        .into_iter()
        .find(|m| m.id == model)
        .map(|m| m.output_limit)
        .filter(|limit| *limit > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(options: serde_json::Value) -> ProviderConfig {
        ProviderConfig {
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: None,
            headers: Vec::new(),
            options_json: options.to_string(),
        }
    }

    #[test]
    fn reads_opencodes_models_map() {
        let models = from_config(&config(serde_json::json!({
            "baseURL": "ignored",
            "models": {
                "fake-model": {"name": "Fake Model", "tool_call": true, "limit": {"context": 128000, "output": 4096}},
                "alias": {"id": "real-id", "reasoning": true, "attachment": true, "cost": {"input": 1}},
                "broken": "not an object"
            }
        })));
        assert_eq!(models.len(), 2);
        assert_eq!(models[0].id, "fake-model");
        assert_eq!(models[0].name, "Fake Model");
        assert_eq!((models[0].context_limit, models[0].output_limit), (128000, 4096));
        assert!(models[0].tool_call && !models[0].reasoning);
        assert_eq!(models[1].id, "real-id");
        assert_eq!(models[1].name, "real-id");
        assert!(models[1].tool_call && models[1].reasoning && models[1].attachment);
    }

    #[test]
    fn no_models_without_a_map() {
        assert!(from_config(&config(serde_json::json!({}))).is_empty());
        let mut bad = config(serde_json::json!({}));
        bad.options_json = "not json".into();
        assert!(from_config(&bad).is_empty());
    }

    #[test]
    fn finds_the_output_limit() {
        let config = config(serde_json::json!({"models": {"m": {"limit": {"output": 2048}}, "z": {}}}));
        assert_eq!(output_limit(&config, "m"), Some(2048));
        assert_eq!(output_limit(&config, "z"), None);
        assert_eq!(output_limit(&config, "other"), None);
    }
}
