//! Provider configuration: which LLM providers and models an instance offers, which of them are
//! usable now, and everything needed to call one (component, URL, key, headers, options, model
//! limits and prices), computed as OpenCode computes it from its `provider` configuration block,
//! a built-in catalogue, the environment and the stored keys.
//!
//! This module owns the rules (catalogue merge, white/blacklists, enabled/disabled providers,
//! connection, default model) and the key store. It does not call providers nor load their
//! components (`runtime` does), and it never hands a key to anything but `ResolvedModel`.
//!
//! ```text
//! catalog.json ─┐
//! provider.<id> ┴─ merged block ─► ProviderSet (per instance) ─► resolve("fake/fake-model")
//!    environment (start-up) ─┘            ▲ keys read at call time
//!                                  AuthStore (auth.json, shared by every instance)
//! ```

pub mod auth;
pub mod block;
pub mod catalog;
pub mod component;
pub mod env;
pub mod model;
pub mod redact;
mod set;

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use auth::{AuthError, AuthInfo, AuthStore};
pub use env::ProviderEnv;
pub use model::{ModelSpec, Provider, ProviderSource};
pub use set::{ProviderConfigError, ProviderSet};

/// A model named as `provider/model`, the form of the configuration's `model` and of
/// `{providerID, modelID}` in messages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelRef {
    #[serde(rename = "providerID")]
    pub provider_id: String,
    #[serde(rename = "modelID")]
    pub model_id: String,
}

impl ModelRef {
    pub fn new(provider_id: impl Into<String>, model_id: impl Into<String>) -> Self {
        Self {
            provider_id: provider_id.into(),
            model_id: model_id.into(),
        }
    }

    /// Splits at the first `/`: model ids may contain more (`openrouter/anthropic/claude-sonnet-4`).
    pub fn parse(text: &str) -> Result<Self, ProviderError> {
        match text.split_once('/') {
            Some((provider, model)) if !provider.is_empty() && !model.is_empty() => {
                Ok(Self::new(provider, model))
            }
            _ => Err(ProviderError::InvalidModelRef { text: text.into() }),
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider_id, self.model_id)
    }
}

/// Everything a provider component needs to call one model.
#[derive(Clone, PartialEq)]
pub struct ResolvedModel {
    pub provider_id: String,
    pub model_id: String,
    /// The provider component that runs it: `openai`, `anthropic`, or an installed plugin's name.
    pub component: String,
    /// The API's base URL (`options.baseURL`, else the model's or the catalogue's `api`).
    pub base_url: String,
    /// From, in order: `options.apiKey`, a key stored with `PUT /auth/{id}`, the provider's
    /// environment variables. `None` for a provider that needs no key (a local server).
    pub api_key: Option<String>,
    /// The provider's `options.headers`, then the model's `headers` (which win).
    pub headers: Vec<(String, String)>,
    /// The provider's options without `apiKey`, `baseURL` and `headers` (a JSON object).
    pub options: serde_json::Value,
    /// Limits, capabilities, prices; `model.api.id` is the id to send to the API, and
    /// `model.options` / `model.variants` the model's own call options.
    pub model: ModelSpec,
}

/// Never prints the key nor header values.
impl fmt::Debug for ResolvedModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedModel")
            .field("provider_id", &self.provider_id)
            .field("model_id", &self.model_id)
            .field("component", &self.component)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field(
                "headers",
                &self.headers.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .field("options", &self.options)
            .field("model", &self.model.id)
            .finish()
    }
}

/// Why a model cannot be used. All are configuration or input problems: retrying without
/// changing the configuration, the environment or the stored keys cannot help.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProviderError {
    #[error("model `{text}` must be written `provider/model` (e.g. `anthropic/claude-sonnet-4-5`)")]
    InvalidModelRef { text: String },
    #[error("unknown provider `{provider}` (known: {known})")]
    UnknownProvider { provider: String, known: String },
    #[error(
        "provider `{provider}` is turned off by `enabled_providers` / `disabled_providers` in the configuration"
    )]
    DisabledProvider { provider: String },
    #[error("provider `{provider}` has no model `{model}` (it has: {known})")]
    UnknownModel {
        provider: String,
        model: String,
        known: String,
    },
    #[error("provider `{provider}` cannot be used: {reason}")]
    Unusable { provider: String, reason: String },
    #[error("{}", not_connected(provider, env))]
    NotConnected { provider: String, env: Vec<String> },
    #[error(
        "no provider is connected and the configuration names no `model`: set a provider's key \
         (e.g. ANTHROPIC_API_KEY, or `PUT /auth/anthropic`) or configure a provider block"
    )]
    NoModel,
}

fn not_connected(provider: &str, env: &[String]) -> String {
    if env.is_empty() {
        return format!(
            "provider `{provider}` is not connected: add a `provider.{provider}` block to the \
             configuration (it needs no key), or store a key with `PUT /auth/{provider}`"
        );
    }
    format!(
        "provider `{provider}` is not connected: set {}, or store a key with `PUT /auth/{provider}`",
        env.join(" or ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_refs_split_at_the_first_slash() {
        assert_eq!(
            ModelRef::parse("fake/fake-model"),
            Ok(ModelRef::new("fake", "fake-model"))
        );
        let nested = ModelRef::parse("openrouter/anthropic/claude-sonnet-4").expect("valid");
        assert_eq!(nested, ModelRef::new("openrouter", "anthropic/claude-sonnet-4"));
        assert_eq!(nested.to_string(), "openrouter/anthropic/claude-sonnet-4");
        for bad in ["gpt-4o", "/m", "p/", ""] {
            assert!(
                matches!(ModelRef::parse(bad), Err(ProviderError::InvalidModelRef { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn not_connected_says_how_to_connect() {
        let err = ProviderError::NotConnected {
            provider: "anthropic".into(),
            env: vec!["ANTHROPIC_API_KEY".into()],
        };
        assert_eq!(
            err.to_string(),
            "provider `anthropic` is not connected: set ANTHROPIC_API_KEY, or store a key with `PUT /auth/anthropic`"
        );
    }
}
