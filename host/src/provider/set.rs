//! One instance's providers: the catalogue with the configuration's blocks merged over it,
//! filtered by `enabled_providers` / `disabled_providers` and each block's white/blacklist.
//! Built when the instance is made; whether a provider is connected is decided at each call,
//! because keys can be stored (`PUT /auth`) while instances live.
//!
//! Rules (OpenCode's, with the choices noted):
//! - Order: providers with a configuration block first (in the configuration's order), then
//!   the rest of the catalogue; models in catalogue order, then the configuration's additions.
//! - Key, first found: `options.apiKey`, a stored `api` key, the provider's `env` variables.
//! - Connected: runnable (a component for its package, a base URL, a model) and either a key, or
//!   no key needed: a provider whose `env` is empty (a local server, a configuration-only block)
//!   needs none once the configuration has a block for it. A catalogue entry the configuration
//!   does not mention (`ollama`) is not connected, so an idle machine gets no default model
//!   that cannot answer.
//! - Models whose `status` is `deprecated` are dropped, `alpha` ones too unless
//!   `OPENCODE_ENABLE_EXPERIMENTAL_MODELS` is set.
//! - Default model: the configuration's `model`, else the first model of the first connected
//!   provider (in the order above). Small model: `small_model`, else the default model.

use std::sync::Arc;

use serde_json::{Map, Value};
use thiserror::Error;

use super::block::{self, DEFAULT_NPM, ModelBlock, ProviderBlock};
use super::component;
use super::model::{ModelSpec, Provider, ProviderSource};
use super::{AuthStore, ModelRef, ProviderEnv, ProviderError, ResolvedModel, catalog, redact};

/// A `provider` block (or a top-level key it uses) that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{place}: {message}")]
pub struct ProviderConfigError {
    /// e.g. "provider `fake`, model `fake-model`", or "`enabled_providers`".
    pub place: String,
    pub message: String,
}

const EXPERIMENTAL_MODELS: &str = "OPENCODE_ENABLE_EXPERIMENTAL_MODELS";

pub struct ProviderSet {
    entries: Vec<Entry>,
    /// Ids turned off by `enabled_providers` / `disabled_providers`, for error messages.
    turned_off: Vec<String>,
    model: Option<String>,
    small_model: Option<String>,
    auth: Arc<AuthStore>,
}

/// One provider, merged. Holds its configured key: never `Debug`-printed nor serialized.
struct Entry {
    id: String,
    name: String,
    env: Vec<String>,
    /// The configuration has a block for it.
    configured: bool,
    plugin: Option<String>,
    /// `options.baseURL`, which wins over the models' `api.url`.
    base_url: Option<String>,
    config_key: Option<String>,
    /// Read from the environment snapshot when the set was built.
    env_key: Option<String>,
    headers: Vec<(String, String)>,
    /// Options passed to the component: without `apiKey`, `baseURL`, `headers`.
    call_options: Map<String, Value>,
    /// Options shown to clients: without keys.
    public_options: Map<String, Value>,
    models: Vec<ModelSpec>,
    problem: Option<String>,
}

/// Where a provider's key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeySource {
    Config,
    Stored,
    Env,
}

impl ProviderSet {
    /// Merges the configuration (`config` is the merged JSON) over the catalogue.
    pub fn build(
        config: &Value,
        env: &ProviderEnv,
        auth: Arc<AuthStore>,
    ) -> Result<Self, ProviderConfigError> {
        let configured = match config.get("provider") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => return Err(top_level("provider", "must be an object of provider blocks")),
        };
        let enabled = string_list(config, "enabled_providers")?;
        let disabled = string_list(config, "disabled_providers")?.unwrap_or_default();
        let allowed = |id: &str| {
            enabled.as_ref().is_none_or(|e| e.iter().any(|x| x == id)) && !disabled.iter().any(|x| x == id)
        };
        let experimental = env.get(EXPERIMENTAL_MODELS).is_some();

        let catalogue = catalog::blocks();
        let ids = configured
            .keys()
            .chain(catalogue.keys().filter(|id| !configured.contains_key(*id)));
        let mut entries = Vec::new();
        let mut turned_off = Vec::new();
        for id in ids {
            if !allowed(id) {
                turned_off.push(id.clone());
                continue;
            }
            let mut merged = catalogue
                .get(id)
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new()));
            let block = configured.get(id);
            if let Some(block) = block {
                if !block.is_object() {
                    return Err(provider_error(id, None, "must be an object"));
                }
                let mut block = block.clone();
                env.expand(&mut block);
                crate::config::merge(&mut merged, block);
            }
            let entry = Entry::from_block(id, merged, block.is_some(), env, experimental)?;
            if let (true, Some(problem)) = (entry.configured, &entry.problem) {
                tracing::warn!(provider = %id, "provider cannot be used: {problem}");
            }
            entries.push(entry);
        }
        Ok(Self {
            entries,
            turned_off,
            model: optional_string(config, "model")?,
            small_model: optional_string(config, "small_model")?,
            auth,
        })
    }

    /// Every provider that has models, connected or not (`GET /provider`'s `all`).
    /// The providers whose block names a plugin to run them: (provider id, plugin).
    pub fn plugins(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .filter_map(|e| Some((e.id.as_str(), e.plugin.as_deref()?)))
    }

    pub fn all(&self) -> Vec<Provider> {
        self.listed().map(|e| self.view(e)).collect()
    }

    /// The providers usable now (`GET /config/providers`).
    pub fn connected(&self) -> Vec<Provider> {
        self.listed()
            .filter(|e| self.is_connected(e))
            .map(|e| self.view(e))
            .collect()
    }

    /// The ids of the providers usable now.
    pub fn connected_ids(&self) -> Vec<String> {
        self.listed()
            .filter(|e| self.is_connected(e))
            .map(|e| e.id.clone())
            .collect()
    }

    /// Configured providers that cannot run, with the reason (for diagnostics).
    pub fn problems(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .filter_map(|e| Some((e.id.clone(), e.problem.clone()?)))
            .collect()
    }

    /// The model to use when a prompt names none.
    pub fn default_model(&self) -> Result<ModelRef, ProviderError> {
        if let Some(model) = &self.model {
            return ModelRef::parse(model);
        }
        self.listed()
            .filter(|e| self.is_connected(e))
            .find_map(|e| Some(ModelRef::new(&e.id, &e.models.first()?.id)))
            .ok_or(ProviderError::NoModel)
    }

    /// The model for small tasks (titles, summaries).
    pub fn small_model(&self) -> Result<ModelRef, ProviderError> {
        match &self.small_model {
            Some(model) => ModelRef::parse(model),
            None => self.default_model(),
        }
    }

    /// Resolves `provider/model`.
    pub fn resolve(&self, model: &str) -> Result<ResolvedModel, ProviderError> {
        self.resolve_ref(&ModelRef::parse(model)?)
    }

    /// Everything needed to call `model`, with the key as it is now.
    pub fn resolve_ref(&self, model: &ModelRef) -> Result<ResolvedModel, ProviderError> {
        let provider = model.provider_id.as_str();
        let Some(entry) = self.entries.iter().find(|e| e.id == provider) else {
            if self.turned_off.iter().any(|id| id == provider) {
                return Err(ProviderError::DisabledProvider {
                    provider: provider.into(),
                });
            }
            return Err(ProviderError::UnknownProvider {
                provider: provider.into(),
                known: some_of(self.entries.iter().map(|e| e.id.as_str())),
            });
        };
        let Some(spec) = entry.models.iter().find(|m| m.id == model.model_id) else {
            return Err(ProviderError::UnknownModel {
                provider: provider.into(),
                model: model.model_id.clone(),
                known: some_of(entry.models.iter().map(|m| m.id.as_str())),
            });
        };
        let unusable = |reason: String| ProviderError::Unusable {
            provider: provider.into(),
            reason,
        };
        if let Some(problem) = &entry.problem {
            return Err(unusable(problem.clone()));
        }
        let component = component::for_package(&spec.api.npm, entry.plugin.as_deref())
            .map_err(|e| unusable(e.to_string()))?;
        let base_url = entry.base_url.clone().unwrap_or_else(|| spec.api.url.clone());
        if base_url.is_empty() {
            return Err(unusable(no_base_url(provider)));
        }
        let api_key = self.key(entry).map(|(_, key)| key);
        if api_key.is_none() && !entry.keyless() {
            return Err(ProviderError::NotConnected {
                provider: provider.into(),
                env: entry.env.clone(),
            });
        }
        // The model's headers win over the provider's (names compare case-insensitively).
        let mut headers: Vec<(String, String)> = entry
            .headers
            .iter()
            .filter(|(name, _)| !spec.headers.keys().any(|n| n.eq_ignore_ascii_case(name)))
            .cloned()
            .collect();
        headers.extend(spec.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(ResolvedModel {
            provider_id: entry.id.clone(),
            model_id: spec.id.clone(),
            component,
            base_url,
            api_key,
            headers,
            options: Value::Object(entry.call_options.clone()),
            model: spec.clone(),
        })
    }

    /// Providers clients see: those with at least one model.
    fn listed(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| !e.models.is_empty())
    }

    fn key(&self, entry: &Entry) -> Option<(KeySource, String)> {
        if let Some(key) = &entry.config_key {
            return Some((KeySource::Config, key.clone()));
        }
        if let Some(key) = self.auth.api_key(&entry.id) {
            return Some((KeySource::Stored, key));
        }
        entry.env_key.clone().map(|key| (KeySource::Env, key))
    }

    fn is_connected(&self, entry: &Entry) -> bool {
        entry.problem.is_none() && (entry.keyless() || self.key(entry).is_some())
    }

    fn view(&self, entry: &Entry) -> Provider {
        let source = match (entry.configured, self.key(entry).map(|(source, _)| source)) {
            (true, _) => ProviderSource::Config,
            (false, Some(KeySource::Stored)) => ProviderSource::Api,
            (false, Some(KeySource::Env)) => ProviderSource::Env,
            (false, _) => ProviderSource::Custom,
        };
        Provider {
            id: entry.id.clone(),
            name: entry.name.clone(),
            source,
            env: entry.env.clone(),
            options: entry.public_options.clone(),
            models: entry.models.clone(),
        }
    }
}

impl std::fmt::Debug for ProviderSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSet")
            .field(
                "providers",
                &self.entries.iter().map(|e| &e.id).collect::<Vec<_>>(),
            )
            .field("model", &self.model)
            .field("small_model", &self.small_model)
            .finish_non_exhaustive()
    }
}

impl Entry {
    fn from_block(
        id: &str,
        merged: Value,
        configured: bool,
        env: &ProviderEnv,
        experimental: bool,
    ) -> Result<Self, ProviderConfigError> {
        let block: ProviderBlock =
            serde_json::from_value(merged).map_err(|e| provider_error(id, None, &e.to_string()))?;
        let mut models = Vec::new();
        for (model_id, value) in &block.models {
            if !block::offered(&block, model_id) {
                continue;
            }
            let model: ModelBlock = serde_json::from_value(value.clone())
                .map_err(|e| provider_error(id, Some(model_id), &e.to_string()))?;
            let spec = model.into_spec(id, model_id, &block);
            match spec.status.as_str() {
                "deprecated" => continue,
                "alpha" if !experimental => continue,
                _ => models.push(spec),
            }
        }
        let option_string = |key: &str| match block.options.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(provider_error(
                id,
                None,
                &format!("`options.{key}` must be a string"),
            )),
        };
        let base_url = option_string("baseURL")?;
        let config_key = option_string("apiKey")?;
        let headers = match block.options.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(name, value)| match value {
                    Value::String(v) => Ok((name.clone(), v.clone())),
                    _ => Err(provider_error(
                        id,
                        None,
                        &format!("`options.headers.{name}` must be a string"),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(provider_error(id, None, "`options.headers` must be an object")),
        };
        let mut call_options = block.options.clone();
        for key in ["apiKey", "baseURL", "headers"] {
            call_options.remove(key);
        }
        let env_names = block.env.clone().unwrap_or_default();
        let npm = block.npm.as_deref().unwrap_or(DEFAULT_NPM);
        let runnable = component::for_package(npm, block.plugin.as_deref());
        let problem = if models.is_empty() {
            Some("it has no models: list some under `models`".to_string())
        } else if let Err(unrunnable) = runnable {
            Some(unrunnable.to_string())
        } else if base_url.is_none() && models.iter().all(|m| m.api.url.is_empty()) {
            Some(no_base_url(id))
        } else {
            None
        };
        Ok(Self {
            id: id.to_string(),
            name: block.name.clone().unwrap_or_else(|| id.to_string()),
            env_key: env.first_of(&env_names).map(String::from),
            env: env_names,
            configured,
            plugin: block.plugin.clone().filter(|p| !p.is_empty()),
            base_url,
            config_key,
            headers,
            call_options,
            public_options: redact::options(&block.options),
            models,
            problem,
        })
    }

    /// Needs no key: the configuration has a block for it and it names no key variable.
    fn keyless(&self) -> bool {
        self.configured && self.env.is_empty()
    }
}

fn no_base_url(provider: &str) -> String {
    format!("it has no base URL: set `provider.{provider}.options.baseURL`")
}

fn provider_error(id: &str, model: Option<&str>, message: &str) -> ProviderConfigError {
    let place = match model {
        Some(model) => format!("provider `{id}`, model `{model}`"),
        None => format!("provider `{id}`"),
    };
    ProviderConfigError {
        place,
        message: message.to_string(),
    }
}

fn top_level(key: &str, message: &str) -> ProviderConfigError {
    ProviderConfigError {
        place: format!("`{key}`"),
        message: message.to_string(),
    }
}

fn string_list(config: &Value, key: &str) -> Result<Option<Vec<String>>, ProviderConfigError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|_| top_level(key, "must be a list of provider ids")),
    }
}

fn optional_string(config: &Value, key: &str) -> Result<Option<String>, ProviderConfigError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(top_level(key, "must be a string `provider/model`")),
    }
}

/// A short list for an error message.
fn some_of<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    const SHOWN: usize = 12;
    let ids: Vec<&str> = ids.collect();
    let mut text = ids
        .iter()
        .take(SHOWN)
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    if text.is_empty() {
        text.push_str("none");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::AuthInfo;
    use serde_json::json;

    /// A set built from `config` and `env`, with an empty key store in a temp dir.
    struct Fixture {
        _dir: tempfile::TempDir,
        auth: Arc<AuthStore>,
        set: ProviderSet,
    }

    fn fixture(config: Value, env: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let auth = Arc::new(AuthStore::open(dir.path().join("auth.json")));
        let env = ProviderEnv::from_pairs(env.iter().copied());
        let set = ProviderSet::build(&config, &env, auth.clone()).expect("valid configuration");
        Fixture { _dir: dir, auth, set }
    }

    fn fake_block() -> Value {
        json!({"provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake Local",
            "options": {"baseURL": "http://127.0.0.1:8765/v1", "apiKey": "sk-fake"},
            "models": {"fake-model": {"name": "Fake Model", "tool_call": true, "limit": {"context": 128000, "output": 4096}}}}},
            "model": "fake/fake-model", "small_model": "fake/fake-model"})
    }

    fn ids(providers: &[Provider]) -> Vec<&str> {
        providers.iter().map(|p| p.id.as_str()).collect()
    }

    #[test]
    fn the_fake_block_resolves_to_the_openai_component_with_its_key() {
        let f = fixture(fake_block(), &[]);
        assert_eq!(f.set.connected_ids(), ["fake"]);
        let resolved = f.set.resolve("fake/fake-model").expect("resolves");
        assert_eq!(resolved.provider_id, "fake");
        assert_eq!(resolved.model_id, "fake-model");
        assert_eq!(resolved.component, "openai");
        assert_eq!(resolved.base_url, "http://127.0.0.1:8765/v1");
        assert_eq!(resolved.api_key.as_deref(), Some("sk-fake"));
        assert_eq!(resolved.options, json!({}));
        assert_eq!(resolved.model.api.id, "fake-model");
        assert_eq!(
            (resolved.model.limit.context, resolved.model.limit.output),
            (128000, 4096)
        );
        assert!(resolved.model.capabilities.toolcall);
        assert_eq!(f.set.default_model(), Ok(ModelRef::new("fake", "fake-model")));
        assert_eq!(f.set.small_model(), Ok(ModelRef::new("fake", "fake-model")));
        let listed = f.set.connected();
        assert_eq!(listed[0].source, ProviderSource::Config);
        assert_eq!(
            Value::Object(listed[0].options.clone()),
            json!({"baseURL": "http://127.0.0.1:8765/v1"}),
            "the key is not listed"
        );
        assert!(!format!("{resolved:?}").contains("sk-fake"), "nor printed");
    }

    #[test]
    fn nothing_is_connected_without_keys_and_the_catalogue_is_still_listed() {
        let f = fixture(json!({}), &[]);
        assert!(f.set.connected().is_empty());
        assert_eq!(
            ids(&f.set.all()),
            ["openai", "anthropic", "openrouter", "ollama", "lmstudio"]
        );
        assert_eq!(f.set.default_model(), Err(ProviderError::NoModel));
        let err = f.set.resolve("anthropic/claude-sonnet-4-5").expect_err("no key");
        assert_eq!(
            err,
            ProviderError::NotConnected {
                provider: "anthropic".into(),
                env: vec!["ANTHROPIC_API_KEY".into()]
            }
        );
        assert!(err.to_string().contains("PUT /auth/anthropic"), "{err}");
        let err = f
            .set
            .resolve("ollama/qwen3-coder:30b")
            .expect_err("not configured");
        assert!(err.to_string().contains("add a `provider.ollama` block"), "{err}");
    }

    #[test]
    fn keys_come_from_config_then_stored_then_env() {
        let f = fixture(json!({}), &[("OPENAI_API_KEY", "sk-env")]);
        assert_eq!(f.set.connected_ids(), ["openai"]);
        assert_eq!(f.set.connected()[0].source, ProviderSource::Env);
        let resolved = f.set.resolve("openai/gpt-4o").expect("env key");
        assert_eq!(resolved.api_key.as_deref(), Some("sk-env"));
        assert_eq!(resolved.base_url, "https://api.openai.com/v1");
        assert_eq!(resolved.component, "openai");
        // Default: the first connected provider's first model.
        assert_eq!(f.set.default_model(), Ok(ModelRef::new("openai", "gpt-5")));

        let stored = AuthInfo::Api {
            key: "sk-stored".into(),
            metadata: None,
        };
        f.auth.set("openai", stored.clone()).expect("stored");
        let resolved = f.set.resolve("openai/gpt-4o").expect("stored key");
        assert_eq!(
            resolved.api_key.as_deref(),
            Some("sk-stored"),
            "a stored key beats the environment"
        );
        assert_eq!(f.set.connected()[0].source, ProviderSource::Api);

        // Read at call time: the same set sees a key stored after it was built.
        f.auth.set("anthropic", stored).expect("stored");
        assert_eq!(f.set.connected_ids(), ["openai", "anthropic"]);
        let resolved = f
            .set
            .resolve("anthropic/claude-3-5-haiku")
            .expect("connected now");
        assert_eq!(resolved.component, "anthropic");
        assert_eq!(resolved.model.api.id, "claude-3-5-haiku-latest");

        let f2 = fixture(
            json!({"provider": {"openai": {"options": {"apiKey": "sk-config"}}}}),
            &[("OPENAI_API_KEY", "sk-env")],
        );
        f2.auth
            .set(
                "openai",
                AuthInfo::Api {
                    key: "sk-stored".into(),
                    metadata: None,
                },
            )
            .expect("stored");
        let resolved = f2.set.resolve("openai/gpt-4o").expect("config key");
        assert_eq!(resolved.api_key.as_deref(), Some("sk-config"));
    }

    #[test]
    fn a_block_for_a_catalogue_id_merges_over_it() {
        let f = fixture(
            json!({"provider": {"anthropic": {
                "options": {"baseURL": "https://proxy.example/v1", "timeout": 5000,
                    "headers": {"anthropic-beta": "x", "x-api-key": "secret-header"}},
                "models": {
                    "claude-sonnet-4-5": {"limit": {"output": 8000}, "headers": {"anthropic-beta": "y"}},
                    "claude-next": {"name": "Claude Next", "reasoning": true}
                },
                "blacklist": ["claude-opus-4-1"]
            }}}),
            &[("ANTHROPIC_API_KEY", "sk-ant")],
        );
        let anthropic = &f.set.all()[0];
        assert_eq!(anthropic.id, "anthropic");
        assert_eq!(anthropic.name, "Anthropic", "the catalogue's name stays");
        assert_eq!(anthropic.source, ProviderSource::Config);
        let models: Vec<&str> = anthropic.models.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            models,
            [
                "claude-sonnet-4-5",
                "claude-sonnet-4-20250514",
                "claude-opus-4-20250514",
                "claude-haiku-4-5",
                "claude-3-5-haiku",
                "claude-next"
            ]
        );
        assert_eq!(
            Value::Object(anthropic.options.clone()),
            json!({"baseURL": "https://proxy.example/v1", "timeout": 5000, "headers": {"anthropic-beta": "x"}})
        );
        let resolved = f.set.resolve("anthropic/claude-sonnet-4-5").expect("resolves");
        assert_eq!(resolved.base_url, "https://proxy.example/v1");
        assert_eq!(resolved.options, json!({"timeout": 5000}));
        assert_eq!(
            resolved.headers,
            [
                ("x-api-key".to_string(), "secret-header".to_string()),
                ("anthropic-beta".into(), "y".into())
            ],
            "the model's header wins"
        );
        assert_eq!(resolved.model.limit.output, 8000, "overridden");
        assert_eq!(resolved.model.limit.context, 200000, "kept from the catalogue");
        assert_eq!(resolved.model.cost.input, 3.0);
        let next = f.set.resolve("anthropic/claude-next").expect("added model");
        assert!(next.model.capabilities.reasoning);
        assert!(matches!(
            f.set.resolve("anthropic/claude-opus-4-1"),
            Err(ProviderError::UnknownModel { .. })
        ));
    }

    #[test]
    fn whitelists_and_enabled_and_disabled_providers() {
        let f = fixture(
            json!({"provider": {"openai": {"whitelist": ["gpt-4o", "o3"]}},
                   "disabled_providers": ["openrouter"]}),
            &[("OPENAI_API_KEY", "k"), ("OPENROUTER_API_KEY", "k")],
        );
        assert_eq!(f.set.connected_ids(), ["openai"]);
        let models: Vec<String> = f.set.connected()[0].models.iter().map(|m| m.id.clone()).collect();
        assert_eq!(models, ["gpt-4o", "o3"]);
        assert!(matches!(
            f.set.resolve("openrouter/openai/gpt-5"),
            Err(ProviderError::DisabledProvider { .. })
        ));

        let f = fixture(
            json!({"enabled_providers": ["anthropic", "fake"], "provider": {"fake": {"options": {"baseURL": "http://x/v1"}, "models": {"m": {}}}}}),
            &[],
        );
        assert_eq!(ids(&f.set.all()), ["fake", "anthropic"]);
        assert!(matches!(
            f.set.resolve("openai/gpt-4o"),
            Err(ProviderError::DisabledProvider { .. })
        ));
    }

    #[test]
    fn local_servers_connect_without_a_key_once_configured() {
        let f = fixture(
            json!({"provider": {"ollama": {}, "mine": {"options": {"baseURL": "http://127.0.0.1:9/v1"}, "models": {"m": {}}}}}),
            &[],
        );
        assert_eq!(f.set.connected_ids(), ["ollama", "mine"]);
        let resolved = f.set.resolve("ollama/qwen3-coder:30b").expect("keyless");
        assert_eq!(resolved.api_key, None);
        assert_eq!(resolved.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(resolved.component, "openai");
        // Configured providers come first.
        assert_eq!(
            f.set.default_model(),
            Ok(ModelRef::new("ollama", "qwen3-coder:30b"))
        );
        // A configuration-only block naming a key variable needs it.
        let f = fixture(
            json!({"provider": {"corp": {"env": ["CORP_KEY"], "options": {"baseURL": "http://c/v1"}, "models": {"m": {}}}}}),
            &[],
        );
        assert!(f.set.connected_ids().is_empty());
        assert!(matches!(
            f.set.resolve("corp/m"),
            Err(ProviderError::NotConnected { .. })
        ));
    }

    #[test]
    fn model_ids_may_contain_slashes() {
        let f = fixture(
            json!({"provider": {"openrouter": {"models": {"qwen/qwen3-coder": {"name": "Qwen3 Coder"}}}}}),
            &[("OPENROUTER_API_KEY", "sk-or")],
        );
        let resolved = f
            .set
            .resolve("openrouter/anthropic/claude-sonnet-4")
            .expect("resolves");
        assert_eq!(resolved.model_id, "anthropic/claude-sonnet-4");
        assert_eq!(resolved.model.api.id, "anthropic/claude-sonnet-4");
        assert_eq!(resolved.base_url, "https://openrouter.ai/api/v1");
        assert_eq!(resolved.component, "openai");
        let added = f.set.resolve("openrouter/qwen/qwen3-coder").expect("added");
        assert_eq!(added.model.name, "Qwen3 Coder");
    }

    #[test]
    fn unknown_packages_and_missing_urls_are_listed_with_a_reason() {
        let f = fixture(
            json!({"provider": {
                "gem": {"npm": "@ai-sdk/google", "options": {"apiKey": "k"}, "models": {"g": {}}},
                "gem2": {"npm": "@ai-sdk/google", "plugin": "gemini", "options": {"apiKey": "k", "baseURL": "https://g/v1"}, "models": {"g": {}}},
                "nourl": {"options": {"apiKey": "k"}, "models": {"m": {}}},
                "empty": {"options": {"baseURL": "http://e/v1"}}
            }}),
            &[],
        );
        assert_eq!(
            ids(&f.set.all()),
            [
                "gem",
                "gem2",
                "nourl",
                "openai",
                "anthropic",
                "openrouter",
                "ollama",
                "lmstudio"
            ]
        );
        assert_eq!(f.set.connected_ids(), ["gem2"]);
        assert_eq!(
            f.set.resolve("gem2/g").expect("a plugin runs it").component,
            "gemini"
        );
        let err = f.set.resolve("gem/g").expect_err("no component");
        assert!(
            matches!(err, ProviderError::Unusable { .. }) && err.to_string().contains("@ai-sdk/google"),
            "{err}"
        );
        let err = f.set.resolve("nourl/m").expect_err("no URL");
        assert!(
            err.to_string().contains("provider.nourl.options.baseURL"),
            "{err}"
        );
        let problems: Vec<String> = f.set.problems().into_iter().map(|(id, _)| id).collect();
        assert_eq!(problems, ["gem", "nourl", "empty"]);
        assert!(matches!(
            f.set.resolve("nope/m"),
            Err(ProviderError::UnknownProvider { .. })
        ));
        assert!(matches!(
            f.set.resolve("gem/x"),
            Err(ProviderError::UnknownModel { .. })
        ));
    }

    #[test]
    fn default_and_small_model_rules() {
        let f = fixture(json!({"model": "anthropic/claude-haiku-4-5"}), &[]);
        assert_eq!(
            f.set.default_model(),
            Ok(ModelRef::new("anthropic", "claude-haiku-4-5")),
            "the configured model, connected or not"
        );
        assert_eq!(
            f.set.small_model(),
            f.set.default_model(),
            "small falls back to default"
        );
        let f = fixture(
            json!({"small_model": "openai/gpt-5-mini"}),
            &[("ANTHROPIC_API_KEY", "k")],
        );
        assert_eq!(
            f.set.default_model(),
            Ok(ModelRef::new("anthropic", "claude-sonnet-4-5"))
        );
        assert_eq!(f.set.small_model(), Ok(ModelRef::new("openai", "gpt-5-mini")));
        let f = fixture(json!({"model": "gpt-4o"}), &[]);
        assert!(matches!(
            f.set.default_model(),
            Err(ProviderError::InvalidModelRef { .. })
        ));
    }

    #[test]
    fn deprecated_and_alpha_models_are_dropped() {
        let config = json!({"provider": {"x": {"options": {"baseURL": "http://x/v1"}, "models": {
            "old": {"status": "deprecated"}, "new": {"status": "alpha"}, "ok": {"status": "beta"}}}}});
        let f = fixture(config.clone(), &[]);
        let models: Vec<String> = f.set.all()[0].models.iter().map(|m| m.id.clone()).collect();
        assert_eq!(models, ["ok"]);
        let f = fixture(config, &[("OPENCODE_ENABLE_EXPERIMENTAL_MODELS", "1")]);
        let models: Vec<String> = f.set.all()[0].models.iter().map(|m| m.id.clone()).collect();
        assert_eq!(models, ["new", "ok"]);
    }

    #[test]
    fn env_references_in_blocks_are_expanded() {
        let f = fixture(
            json!({"provider": {"fake": {"options": {"baseURL": "http://127.0.0.1:1/v1", "apiKey": "{env:FAKE_KEY}"}, "models": {"m": {}}}}}),
            &[("FAKE_KEY", "sk-from-env")],
        );
        assert_eq!(
            f.set.resolve("fake/m").expect("resolves").api_key.as_deref(),
            Some("sk-from-env")
        );
    }

    #[test]
    fn malformed_blocks_name_where() {
        let dir = tempfile::tempdir().expect("temp dir");
        let auth = Arc::new(AuthStore::open(dir.path().join("auth.json")));
        let build = |config: Value| ProviderSet::build(&config, &ProviderEnv::default(), auth.clone());
        let err = build(json!({"provider": {"fake": {"models": {"m": {"limit": {"context": "big"}}}}}}))
            .expect_err("bad limit");
        assert_eq!(err.place, "provider `fake`, model `m`");
        let err = build(json!({"provider": {"fake": {"options": {"apiKey": 1}}}})).expect_err("bad key");
        assert!(
            err.to_string().contains("`options.apiKey` must be a string"),
            "{err}"
        );
        assert!(build(json!({"provider": []})).is_err());
        assert!(build(json!({"provider": {"x": 1}})).is_err());
        assert!(build(json!({"disabled_providers": "openai"})).is_err());
        assert!(build(json!({"model": 5})).is_err());
    }
}
