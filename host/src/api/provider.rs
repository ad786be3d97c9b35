//! `/config/providers`, `/provider*`, `/auth/{providerID}`: the providers and models an instance
//! offers, and the keys that connect them. No response ever contains a key.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::extract::Scoped;
use super::extract::ValidJson;
use crate::provider::{AuthError, AuthInfo, AuthStore, Provider, ProviderError};

/// `GET /config/providers`: the usable providers and each one's default model.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigProviders {
    pub providers: Vec<Provider>,
    /// Provider id → the id of its default model.
    pub default: BTreeMap<String, String>,
}

/// `GET /provider`: every known provider, each one's default model, and the usable ones' ids.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderList {
    pub all: Vec<Provider>,
    pub default: BTreeMap<String, String>,
    pub connected: Vec<String>,
}

/// One way to connect a provider. wasmcode offers API keys only.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderAuthMethod {
    #[serde(rename = "type")]
    pub kind: AuthMethodKind,
    pub label: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethodKind {
    Api,
}

/// Each provider's first model (the catalogue's or the configuration's order).
fn first_models(providers: &[Provider]) -> BTreeMap<String, String> {
    providers
        .iter()
        .filter_map(|p| Some((p.id.clone(), p.models.first()?.id.clone())))
        .collect()
}

/// List config providers: the providers usable now (a key, or none needed) with their models.
#[utoipa::path(get, path = "/config/providers", operation_id = "config.providers", tag = "config",
    responses((status = 200, description = "List of providers", body = ConfigProviders)))]
pub async fn config_providers(Scoped(instance): Scoped) -> Json<ConfigProviders> {
    let providers = instance.providers.connected();
    let default = first_models(&providers);
    Json(ConfigProviders { providers, default })
}

/// List providers: every provider of the catalogue and the configuration, and which are connected.
#[utoipa::path(get, path = "/provider", operation_id = "provider.list", tag = "provider",
    responses((status = 200, description = "List of providers", body = ProviderList)))]
pub async fn provider_list(Scoped(instance): Scoped) -> Json<ProviderList> {
    let all = instance.providers.all();
    let default = first_models(&all);
    let connected = instance.providers.connected_ids();
    Json(ProviderList {
        all,
        default,
        connected,
    })
}

/// Get provider auth methods: an API key for every provider (no OAuth).
#[utoipa::path(get, path = "/provider/auth", operation_id = "provider.auth", tag = "provider",
    responses((status = 200, description = "Provider auth methods", body = BTreeMap<String, Vec<ProviderAuthMethod>>)))]
pub async fn provider_auth(Scoped(instance): Scoped) -> Json<BTreeMap<String, Vec<ProviderAuthMethod>>> {
    let methods = instance
        .providers
        .all()
        .into_iter()
        .map(|p| {
            let api_key = ProviderAuthMethod {
                kind: AuthMethodKind::Api,
                label: "API key".into(),
            };
            (p.id, vec![api_key])
        })
        .collect();
    Json(methods)
}

/// Set auth credentials: stores the provider's key (private to this user); it connects the
/// provider in every directory at once. Only `api` keys are used; `oauth` and `wellknown`
/// credentials are stored as OpenCode's clients send them.
#[utoipa::path(put, path = "/auth/{providerID}", operation_id = "auth.set", tag = "auth",
    params(("providerID" = String, Path, description = "The provider")),
    request_body = AuthInfo,
    responses(
        (status = 200, description = "Successfully set authentication credentials", body = bool, content_type = "application/json"),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
    ))]
pub async fn auth_set(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    ValidJson(body): ValidJson<serde_json::Value>,
) -> Result<Json<bool>, ApiError> {
    let info = parse_credentials(body)?;
    let auth = state.instances.auth().clone();
    blocking(auth, move |auth| auth.set(&provider, info)).await?;
    Ok(Json(true))
}

/// The body as credentials. Read through a JSON value first: serde would also take the list
/// form (`["api", "sk-..."]`) of a tagged enum, which no client means.
fn parse_credentials(body: serde_json::Value) -> Result<AuthInfo, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "credentials must be a JSON object such as {\"type\":\"api\",\"key\":\"...\"}",
            "Payload",
        ));
    }
    let info: AuthInfo =
        serde_json::from_value(body).map_err(|e| ApiError::bad_request(e.to_string(), "Payload"))?;
    info.validate()
        .map_err(|message| ApiError::bad_request(message, "Payload"))?;
    Ok(info)
}

/// Remove auth credentials stored for the provider (`true` whether or not there were any).
#[utoipa::path(delete, path = "/auth/{providerID}", operation_id = "auth.remove", tag = "auth",
    params(("providerID" = String, Path, description = "The provider")),
    responses(
        (status = 200, description = "Successfully removed authentication credentials", body = bool, content_type = "application/json"),
    ))]
pub async fn auth_remove(
    State(state): State<AppState>,
    Path(provider): Path<String>,
) -> Result<Json<bool>, ApiError> {
    let auth = state.instances.auth().clone();
    blocking(auth, move |auth| auth.remove(&provider)).await?;
    Ok(Json(true))
}

/// Runs a change of the key file off the async workers.
async fn blocking<T: Send + 'static>(
    auth: Arc<AuthStore>,
    change: impl FnOnce(&AuthStore) -> Result<T, AuthError> + Send + 'static,
) -> Result<T, ApiError> {
    super::blocking(move || change(&auth))
        .await?
        .map_err(|e| ApiError::internal(e.to_string()))
}

fn no_oauth(provider: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "ProviderAuthOauthMissing",
        format!(
            "provider `{provider}` has no OAuth sign-in in wasmcode: store an API key with \
             `PUT /auth/{provider}` and the body {{\"type\":\"api\",\"key\":\"...\"}}"
        ),
    )
}

/// Start OAuth authorization: wasmcode offers none, so this always says to use an API key.
#[utoipa::path(post, path = "/provider/{providerID}/oauth/authorize", operation_id = "provider.oauth.authorize", tag = "provider",
    params(("providerID" = String, Path, description = "The provider")),
    request_body(content = Object, description = "`{method, inputs?}` (ignored)"),
    responses((status = 400, description = "No OAuth: use an API key", body = super::error::ErrorBody)))]
pub async fn provider_oauth_authorize(Path(provider): Path<String>) -> ApiError {
    no_oauth(&provider)
}

/// Handle OAuth callback: wasmcode offers no OAuth, so this always says to use an API key.
#[utoipa::path(post, path = "/provider/{providerID}/oauth/callback", operation_id = "provider.oauth.callback", tag = "provider",
    params(("providerID" = String, Path, description = "The provider")),
    request_body(content = Object, description = "`{method, code?}` (ignored)"),
    responses((status = 400, description = "No OAuth: use an API key", body = super::error::ErrorBody)))]
pub async fn provider_oauth_callback(Path(provider): Path<String>) -> ApiError {
    no_oauth(&provider)
}

/// A model that cannot be used is the request's or the configuration's problem: 400, with
/// OpenCode's error names.
impl From<ProviderError> for ApiError {
    fn from(error: ProviderError) -> Self {
        let name = match error {
            ProviderError::InvalidModelRef { .. } => "BadRequest",
            ProviderError::UnknownProvider { .. }
            | ProviderError::DisabledProvider { .. }
            | ProviderError::UnknownModel { .. } => "ProviderModelNotFoundError",
            ProviderError::Unusable { .. } | ProviderError::NotConnected { .. } | ProviderError::NoModel => {
                "ProviderInitError"
            }
        };
        ApiError::new(StatusCode::BAD_REQUEST, name, error.to_string())
    }
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(config_providers))
        .routes(routes!(provider_list))
        .routes(routes!(provider_auth))
        .routes(routes!(auth_set, auth_remove))
        .routes(routes!(provider_oauth_authorize))
        .routes(routes!(provider_oauth_callback))
}
