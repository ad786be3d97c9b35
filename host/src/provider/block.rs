//! A `provider.<id>` block, as OpenCode's configuration and models.dev write it (the built-in
//! catalogue uses the same form), and how one model entry becomes a `ModelSpec` with OpenCode's
//! defaults for what the block leaves out.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::model::{CacheCost, Capabilities, Cost, Interleaved, Limit, Modalities, ModelApi, ModelSpec};

/// The AI SDK package a block names when it names none: OpenAI's protocol is the common one.
pub const DEFAULT_NPM: &str = "@ai-sdk/openai-compatible";

/// One provider block. Every field is optional: a block for a catalogue id only says what
/// differs, and is merged over the catalogue's before it is read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProviderBlock {
    pub name: Option<String>,
    /// The AI SDK package OpenCode would load; it picks which of our components runs it.
    pub npm: Option<String>,
    /// The base URL of its API (models.dev's field; `options.baseURL` overrides it).
    pub api: Option<String>,
    pub env: Option<Vec<String>>,
    /// wasmcode: an installed provider component that runs this block, whatever its `npm`.
    pub plugin: Option<String>,
    pub options: Map<String, Value>,
    /// Kept as JSON so each model's errors can name the model.
    pub models: Map<String, Value>,
    /// Only these model ids are offered.
    pub whitelist: Option<Vec<String>>,
    /// These model ids are not offered.
    pub blacklist: Option<Vec<String>>,
}

/// One model entry.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ModelBlock {
    /// The id the API expects, when it differs from the entry's key.
    pub id: Option<String>,
    pub name: Option<String>,
    pub family: Option<String>,
    pub release_date: Option<String>,
    pub attachment: Option<bool>,
    pub reasoning: Option<bool>,
    pub temperature: Option<bool>,
    pub tool_call: Option<bool>,
    pub interleaved: Option<Interleaved>,
    pub cost: CostBlock,
    pub limit: LimitBlock,
    pub modalities: ModalitiesBlock,
    pub status: Option<String>,
    pub options: Map<String, Value>,
    pub headers: BTreeMap<String, String>,
    /// A per-model override of the provider's package and URL.
    pub provider: ModelProviderBlock,
    pub variants: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CostBlock {
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LimitBlock {
    pub context: Option<u64>,
    pub input: Option<u64>,
    pub output: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ModalitiesBlock {
    pub input: Option<Vec<String>>,
    pub output: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ModelProviderBlock {
    pub npm: Option<String>,
    pub api: Option<String>,
}

impl ModelBlock {
    /// The model as clients see it. Defaults are OpenCode's for a model only the configuration
    /// describes: tools yes, temperature/reasoning/attachments no, text in and out, free.
    pub fn into_spec(self, provider_id: &str, model_id: &str, provider: &ProviderBlock) -> ModelSpec {
        let npm = self
            .provider
            .npm
            .or_else(|| provider.npm.clone())
            .unwrap_or_else(|| DEFAULT_NPM.to_string());
        let url = self
            .provider
            .api
            .or_else(|| provider.api.clone())
            .unwrap_or_default();
        let modalities =
            |names: Option<Vec<String>>| names.map_or(Modalities::TEXT_ONLY, |n| Modalities::from_names(&n));
        // A variant set to `{"disabled": true}` removes one the catalogue offers.
        let variants = self
            .variants
            .into_iter()
            .filter(|(_, v)| v.get("disabled") != Some(&Value::Bool(true)))
            .collect();
        ModelSpec {
            id: model_id.to_string(),
            provider_id: provider_id.to_string(),
            api: ModelApi {
                id: self.id.unwrap_or_else(|| model_id.to_string()),
                url,
                npm,
            },
            name: self.name.unwrap_or_else(|| model_id.to_string()),
            family: self.family.unwrap_or_default(),
            capabilities: Capabilities {
                temperature: self.temperature.unwrap_or(false),
                reasoning: self.reasoning.unwrap_or(false),
                attachment: self.attachment.unwrap_or(false),
                toolcall: self.tool_call.unwrap_or(true),
                input: modalities(self.modalities.input),
                output: modalities(self.modalities.output),
                interleaved: self.interleaved.unwrap_or(Interleaved::Flag(false)),
            },
            cost: Cost {
                input: self.cost.input.unwrap_or(0.0),
                output: self.cost.output.unwrap_or(0.0),
                cache: CacheCost {
                    read: self.cost.cache_read.unwrap_or(0.0),
                    write: self.cost.cache_write.unwrap_or(0.0),
                },
            },
            limit: Limit {
                context: self.limit.context.unwrap_or(0),
                input: self.limit.input,
                output: self.limit.output.unwrap_or(0),
            },
            status: self.status.unwrap_or_else(|| "active".to_string()),
            options: self.options,
            headers: self.headers,
            release_date: self.release_date.unwrap_or_default(),
            variants,
        }
    }
}

/// Whether a block lets `model_id` through its `whitelist` / `blacklist`.
pub fn offered(block: &ProviderBlock, model_id: &str) -> bool {
    let listed = |list: &Option<Vec<String>>| list.as_ref().map(|l| l.iter().any(|m| m == model_id));
    listed(&block.whitelist) != Some(false) && listed(&block.blacklist) != Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn block(value: Value) -> ProviderBlock {
        serde_json::from_value(value).expect("a valid block")
    }

    #[test]
    fn a_config_only_model_gets_opencodes_defaults() {
        let provider = block(json!({"npm": "@ai-sdk/openai-compatible"}));
        let model: ModelBlock = serde_json::from_value(
            json!({"name": "Fake Model", "tool_call": true, "limit": {"context": 128000, "output": 4096}}),
        )
        .expect("valid");
        let spec = model.into_spec("fake", "fake-model", &provider);
        assert_eq!(
            serde_json::to_value(&spec).expect("serializes"),
            json!({
                "id": "fake-model", "providerID": "fake",
                "api": {"id": "fake-model", "url": "", "npm": "@ai-sdk/openai-compatible"},
                "name": "Fake Model", "family": "",
                "capabilities": {"temperature": false, "reasoning": false, "attachment": false, "toolcall": true,
                    "input": {"text": true, "audio": false, "image": false, "video": false, "pdf": false},
                    "output": {"text": true, "audio": false, "image": false, "video": false, "pdf": false},
                    "interleaved": false},
                "cost": {"input": 0.0, "output": 0.0, "cache": {"read": 0.0, "write": 0.0}},
                "limit": {"context": 128000, "output": 4096},
                "status": "active", "options": {}, "headers": {}, "release_date": "", "variants": {}
            })
        );
    }

    #[test]
    fn model_overrides_and_disabled_variants() {
        let provider = block(json!({"npm": "@ai-sdk/openai", "api": "https://p.example/v1"}));
        let model: ModelBlock = serde_json::from_value(json!({
            "id": "api-name", "provider": {"npm": "@ai-sdk/anthropic"},
            "modalities": {"input": ["text", "image"]},
            "interleaved": {"field": "reasoning_content"},
            "variants": {"low": {"reasoningEffort": "low"}, "high": {"disabled": true}}
        }))
        .expect("valid");
        let spec = model.into_spec("p", "m", &provider);
        assert_eq!(spec.api.id, "api-name");
        assert_eq!(spec.api.npm, "@ai-sdk/anthropic");
        assert_eq!(spec.api.url, "https://p.example/v1");
        assert!(spec.capabilities.input.image && !spec.capabilities.input.pdf);
        assert_eq!(
            spec.capabilities.interleaved,
            Interleaved::Field {
                field: "reasoning_content".into()
            }
        );
        assert_eq!(spec.variants.keys().collect::<Vec<_>>(), ["low"]);
    }

    #[test]
    fn whitelist_and_blacklist() {
        let only = block(json!({"whitelist": ["a", "b"], "blacklist": ["b"]}));
        assert!(offered(&only, "a"));
        assert!(!offered(&only, "b"), "the blacklist wins");
        assert!(!offered(&only, "c"));
        assert!(offered(&block(json!({})), "anything"));
    }
}
