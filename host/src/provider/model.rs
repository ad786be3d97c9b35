//! The provider and model objects clients see (`/config/providers`, `/provider`), in the
//! reference's shape and key order. Built from configuration blocks by `block`; holds no key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

/// A provider as listed to clients. `options` never contains a key (see `redact`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub source: ProviderSource,
    /// Environment variables that hold its key, in the order they are tried.
    pub env: Vec<String>,
    /// The provider's options without `apiKey` and without secret-bearing headers.
    #[schema(value_type = Object)]
    pub options: serde_json::Map<String, serde_json::Value>,
    /// By model id, in catalogue-then-configuration order.
    #[serde(serialize_with = "models_by_id")]
    #[schema(value_type = HashMap<String, ModelSpec>)]
    pub models: Vec<ModelSpec>,
}

/// Where a provider's usability comes from, as OpenCode names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderSource {
    /// A key from one of its environment variables.
    Env,
    /// A `provider.<id>` block in the configuration.
    Config,
    /// Built in and not (yet) connected.
    Custom,
    /// A key stored with `PUT /auth/{providerID}`.
    Api,
}

/// Everything known about one model: what it can do, its limits and its price.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ModelSpec {
    /// The id within its provider (the key of `models`).
    pub id: String,
    #[serde(rename = "providerID")]
    pub provider_id: String,
    pub api: ModelApi,
    pub name: String,
    pub family: String,
    pub capabilities: Capabilities,
    pub cost: Cost,
    pub limit: Limit,
    /// `active`, `beta`, `alpha` or `deprecated`.
    pub status: String,
    /// Provider-specific call options for this model.
    #[schema(value_type = Object)]
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Extra HTTP headers for this model (secret-bearing ones are never listed).
    pub headers: BTreeMap<String, String>,
    pub release_date: String,
    /// Named option sets (e.g. reasoning effort) a prompt can pick.
    #[schema(value_type = Object)]
    pub variants: serde_json::Map<String, serde_json::Value>,
}

/// How the model is called: the id the API expects, its base URL (empty: the provider's), and
/// the AI SDK package OpenCode would use, which picks our component.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ModelApi {
    pub id: String,
    pub url: String,
    pub npm: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Capabilities {
    pub temperature: bool,
    pub reasoning: bool,
    /// Accepts files (images, PDFs) in prompts.
    pub attachment: bool,
    pub toolcall: bool,
    pub input: Modalities,
    pub output: Modalities,
    pub interleaved: Interleaved,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Modalities {
    pub text: bool,
    pub audio: bool,
    pub image: bool,
    pub video: bool,
    pub pdf: bool,
}

impl Modalities {
    /// From models.dev's list form (`["text", "image"]`); unknown names are ignored.
    pub fn from_names(names: &[String]) -> Self {
        let has = |name: &str| names.iter().any(|n| n == name);
        Self {
            text: has("text"),
            audio: has("audio"),
            image: has("image"),
            video: has("video"),
            pdf: has("pdf"),
        }
    }

    pub const TEXT_ONLY: Self = Self {
        text: true,
        audio: false,
        image: false,
        video: false,
        pdf: false,
    };
}

/// Whether reasoning is interleaved with the answer, and in which field of the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Interleaved {
    Flag(bool),
    Field { field: String },
}

/// Price in US dollars per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Cost {
    pub input: f64,
    pub output: f64,
    pub cache: CacheCost,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CacheCost {
    pub read: f64,
    pub write: f64,
}

/// Token limits; 0 means unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Limit {
    pub context: u64,
    /// The input limit, when it is lower than the context (e.g. GPT-5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<u64>,
    pub output: u64,
}

/// `models` is a map keyed by id on the wire; it is a list here so its order is kept.
fn models_by_id<S: Serializer>(models: &[ModelSpec], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(models.iter().map(|m| (&m.id, m)))
}
