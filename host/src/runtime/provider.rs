//! LLM provider plugins: loading a `provider-plugin` component, listing its configured models,
//! and running completion streams. A stream owns one instance in one `Store` from its start to
//! its end; that store may reach only the authority of the request's base URL, and the guest's
//! time limit counts only the time its code runs. Dropping a [`CompletionStream`] drops the store,
//! which aborts the upstream connection.
//!
//! This is the runtime layer only: which provider serves which model, credentials and retries
//! belong to the provider configuration and session layers.

mod convert;
mod types;

use std::sync::Arc;

use tracing::Instrument;
use wasmtime::Engine;
use wasmtime::component::{Component, ComponentExportIndex, Linker, ResourceAny};

pub use types::{
    ChatMessage, CompletionRequest, ContentPart, FinishReason, ModelInfo, ProviderConfig, Role, StreamEvent,
    ToolDefinition, ToolInvocation, ToolResult, Usage,
};

use super::bindings::provider::exports::wasmcode::plugin::provider as wit;
use super::bindings::provider::{ProviderPlugin as Instance, ProviderPluginIndices, ProviderPluginPre};
use super::capability::http::base_url_authority;
use super::error::{LoadError, ProviderCallError};
use super::fault::guest_trap_reason;
use super::grants::Grants;
use super::limits::Limits;
use super::meter::Metering;
use super::plugin::{check_export, interface_names, pre_link};
use super::span::CallSpan;
use super::store::{StoreSpec, StoreState, Stores};
use convert::WireRequest;

/// The interface a provider plugin must export.
pub const PROVIDER_EXPORT: &str = "wasmcode:plugin/provider@0.1.0";

/// A loaded provider plugin, ready to stream: each stream instantiates `pre` in a fresh store.
#[derive(Clone)]
pub struct ProviderPlugin {
    pub name: Arc<str>,
    /// Per-stream limits; the time limit counts guest execution only, not network waits.
    pub limits: Limits,
    /// What the component imports (interface names without versions).
    pub imports: Vec<String>,
    pre: ProviderPluginPre<StoreState>,
    indices: ProviderPluginIndices,
    /// `stream`, called with a [`WireRequest`] rather than through the bindings, which would
    /// want the whole conversation copied into their own types first.
    stream_export: ComponentExportIndex,
}

impl std::fmt::Debug for ProviderPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderPlugin")
            .field("name", &self.name)
            .field("limits", &self.limits)
            .field("imports", &self.imports)
            .finish()
    }
}

/// Checks the component's world and imports, pre-links it, and instantiates it once: export
/// signatures are only type-checked at instantiation, so the trial is what proves the component
/// implements the world.
pub(super) async fn load(
    engine: &Engine,
    stores: &Stores,
    linker: &Linker<StoreState>,
    name: &str,
    component: &Component,
    limits: Limits,
) -> Result<ProviderPlugin, LoadError> {
    let not_a_provider = |found: String| LoadError::NotAProvider {
        name: name.to_string(),
        expected: PROVIDER_EXPORT.to_string(),
        found,
    };
    check_export(engine, component, PROVIDER_EXPORT).map_err(not_a_provider)?;
    let imports = interface_names(engine, component, false);
    let instance_pre = pre_link(linker, name, component, &imports)?;
    let incompatible =
        |e: wasmtime::Error| not_a_provider(format!("an incompatible `provider` interface ({e:#})"));
    let indices = ProviderPluginIndices::new(&instance_pre).map_err(incompatible)?;
    let stream_export = component
        .get_export_index(None, PROVIDER_EXPORT)
        .and_then(|interface| component.get_export_index(Some(&interface), "stream"))
        .ok_or_else(|| not_a_provider("no `stream` function".into()))?;
    let pre = ProviderPluginPre::new(instance_pre).map_err(incompatible)?;
    let name: Arc<str> = name.into();
    let trapped = |reason: String| LoadError::InstantiateTrap {
        name: name.to_string(),
        reason,
    };
    let mut store = new_store(stores, &name, limits, &Grants::nothing()).map_err(trapped)?;
    pre.instantiate_async(&mut store)
        .await
        .map_err(|e| trapped(guest_trap_reason(&e, store.data())))?;
    Ok(ProviderPlugin {
        name,
        limits,
        imports,
        pre,
        indices,
        stream_export,
    })
}

/// The models `config` declares, as the plugin reads them. No network: the store may reach
/// nothing.
pub(super) async fn models(
    stores: &Stores,
    plugin: &ProviderPlugin,
    config: &ProviderConfig,
) -> Result<Vec<ModelInfo>, ProviderCallError> {
    let span = CallSpan::operation(&plugin.name, "models");
    let result = list_models(stores, plugin, config)
        .instrument(span.span().clone())
        .await;
    span.finish(&result, ProviderCallError::kind);
    result
}

async fn list_models(
    stores: &Stores,
    plugin: &ProviderPlugin,
    config: &ProviderConfig,
) -> Result<Vec<ModelInfo>, ProviderCallError> {
    let mut store = new_store(stores, &plugin.name, plugin.limits, &Grants::nothing())
        .map_err(|reason| not_started(plugin, reason))?;
    let instance = match plugin.pre.instantiate_async(&mut store).await {
        Ok(instance) => instance,
        Err(e) => return Err(fault(plugin, &store, &e, true)),
    };
    match instance
        .wasmcode_plugin_provider()
        .call_models(&mut store, &config.into())
        .await
    {
        Ok(models) => Ok(models.into_iter().map(Into::into).collect()),
        Err(e) => Err(fault(plugin, &store, &e, false)),
    }
}

/// Starts a stream: a store allowed to reach exactly the base URL's authority, an instance, and
/// the plugin's `stream`, which returns once the upstream accepted the request.
pub(super) async fn stream(
    stores: &Stores,
    plugin: &ProviderPlugin,
    request: &CompletionRequest,
) -> Result<CompletionStream, ProviderCallError> {
    let span = CallSpan::operation(&plugin.name, "stream");
    match open(stores, plugin, request)
        .instrument(span.span().clone())
        .await
    {
        Ok(live) => Ok(CompletionStream {
            plugin: plugin.name.clone(),
            limits: plugin.limits,
            live: Some(live),
            reading: false,
            span: Some(span),
        }),
        Err(error) => {
            span.close(error.kind());
            Err(error)
        }
    }
}

/// The stream's store and instance, and the guest's `completion-stream` once the upstream
/// accepted the request.
async fn open(
    stores: &Stores,
    plugin: &ProviderPlugin,
    request: &CompletionRequest,
) -> Result<Live, ProviderCallError> {
    let authority =
        base_url_authority(&request.config.base_url).map_err(|reason| ProviderCallError::InvalidBaseUrl {
            plugin: plugin.name.to_string(),
            url: request.config.base_url.clone(),
            reason,
        })?;
    let grants = Grants {
        http: [authority].into(),
        ..Grants::nothing()
    };
    let mut store = new_store(stores, &plugin.name, plugin.limits, &grants)
        .map_err(|reason| not_started(plugin, reason))?;
    let (instance, stream) = match instantiate(plugin, &mut store).await {
        Ok(instantiated) => instantiated,
        Err(e) => return Err(fault(plugin, &store, &e, true)),
    };
    store.data_mut().meter.begin_export_call();
    let started = stream
        .call_async(&mut store, (WireRequest::from(request),))
        .await
        .map(|(started,)| started);
    store.data_mut().meter.end_export_call();
    match started {
        Ok(Ok(handle)) => Ok(Live {
            store,
            instance,
            handle,
        }),
        Ok(Err(error)) => Err(convert::provider_error(&plugin.name, error)),
        Err(e) => Err(fault(plugin, &store, &e, false)),
    }
}

type StreamFunc<'a> =
    wasmtime::component::TypedFunc<(WireRequest<'a>,), (Result<ResourceAny, wit::ProviderError>,)>;

/// An instance of the plugin in `store`, with its `stream` export typed for a [`WireRequest`].
async fn instantiate<'a>(
    plugin: &ProviderPlugin,
    store: &mut wasmtime::Store<StoreState>,
) -> wasmtime::Result<(Instance, StreamFunc<'a>)> {
    let instance = plugin.pre.instance_pre().instantiate_async(&mut *store).await?;
    let stream = instance.get_typed_func(&mut *store, plugin.stream_export)?;
    Ok((plugin.indices.load(&mut *store, &instance)?, stream))
}

/// A store for one provider call (or one whole stream): no filesystem, no process, no network
/// unless the caller adds its base URL's authority; its deadline counts guest code only.
fn new_store(
    stores: &Stores,
    plugin: &Arc<str>,
    limits: Limits,
    grants: &Grants,
) -> Result<wasmtime::Store<StoreState>, String> {
    stores
        .new_store(StoreSpec::isolated(plugin, grants, limits, Metering::GuestCode))
        .map_err(|e| e.0)
}

fn not_started(plugin: &ProviderPlugin, reason: String) -> ProviderCallError {
    ProviderCallError::Instantiate {
        plugin: plugin.name.to_string(),
        reason,
    }
}

fn fault(
    plugin: &ProviderPlugin,
    store: &wasmtime::Store<StoreState>,
    error: &wasmtime::Error,
    instantiating: bool,
) -> ProviderCallError {
    convert::fault(&plugin.name, plugin.limits, store.data(), error, instantiating)
}

/// What a running stream holds: its store, its instance and the guest's `completion-stream`.
struct Live {
    store: wasmtime::Store<StoreState>,
    instance: Instance,
    handle: ResourceAny,
}

/// A completion being streamed. Dropping it aborts the upstream request at once.
pub struct CompletionStream {
    plugin: Arc<str>,
    limits: Limits,
    /// `None` once the stream has ended: the instance is released then, not when the stream is
    /// dropped (the guest let go of the response at its end, and its connection went back to the
    /// runtime's pool).
    live: Option<Live>,
    /// A `next()` is in progress. If one is found set, the previous `next()` was cancelled
    /// mid-call, which leaves the instance unusable.
    reading: bool,
    /// The stream's tracing span, from its start to its end; closed with the outcome.
    span: Option<CallSpan>,
}

impl std::fmt::Debug for CompletionStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletionStream")
            .field("plugin", &self.plugin)
            .field("ended", &self.live.is_none())
            .finish()
    }
}

impl CompletionStream {
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The next event; `None` once the stream has ended. After an error the stream is over.
    ///
    /// Cancelling this future (dropping it before it completes) ends the stream: the following
    /// call returns [`ProviderCallError::Interrupted`].
    pub async fn next(&mut self) -> Option<Result<StreamEvent, ProviderCallError>> {
        let span = self
            .span
            .as_ref()
            .map_or_else(tracing::Span::none, |s| s.span().clone());
        let next = self.advance().instrument(span).await;
        match &next {
            Some(Ok(_)) => {}
            None => self.end("ok"),
            Some(Err(error)) => self.end(error.kind()),
        }
        next
    }

    async fn advance(&mut self) -> Option<Result<StreamEvent, ProviderCallError>> {
        if std::mem::take(&mut self.reading) {
            self.live = None;
            return Some(Err(ProviderCallError::Interrupted {
                plugin: self.plugin.to_string(),
            }));
        }
        let live = self.live.as_mut()?;
        let handle = live.handle;
        self.reading = true;
        live.store.data_mut().meter.begin_export_call();
        let result = live
            .instance
            .wasmcode_plugin_provider()
            .completion_stream()
            .call_next(&mut live.store, handle)
            .await;
        live.store.data_mut().meter.end_export_call();
        self.reading = false;
        let outcome = match result {
            Ok(Some(Ok(event))) => return Some(Ok(event.into())),
            Ok(None) => None,
            Ok(Some(Err(error))) => Some(Err(convert::provider_error(&self.plugin, error))),
            Err(e) => Some(Err(convert::fault(
                &self.plugin,
                self.limits,
                live.store.data(),
                &e,
                false,
            ))),
        };
        self.live = None;
        outcome
    }

    /// The stream is over: its span closes with `outcome` (once).
    fn end(&mut self, outcome: &'static str) {
        if let Some(span) = self.span.take() {
            span.close(outcome);
        }
    }
}
