//! The plugin runtime: one wasmtime `Engine` (pooling allocator, epoch interruption, on-disk
//! compile cache) that loads tool and provider components and runs each tool call, or each
//! completion stream, in a fresh, limited, capability-checked instance. It knows nothing of the
//! HTTP API or sessions.
//!
//! Module map:
//!
//! - [`Runtime`] (here): the engine, the world linkers, loading and calling plugins.
//! - `store.rs`: the one store type every call runs in, and how it is built.
//! - `capability.rs` and `capability/`: one module per host capability (filesystem, http,
//!   process, host API), each linking its interfaces, checking its grant and keeping its own
//!   per-store state; `wasi.rs`: the WASI floor every plugin gets.
//! - `meter.rs`: the guest-time meter behind deadlines; `limits.rs`: the per-call limits and the
//!   memory limiter; `epoch.rs`: the ticker that drives deadlines.
//! - `call.rs`: one tool call; `plugin.rs`: loading tool plugins; `provider.rs` and `provider/`:
//!   provider plugins and completion streams.
//! - `span.rs`: the tracing span of each plugin call; `fault.rs` and `error.rs`: what went wrong.
//! - `grants.rs`: what the operator grants; `cache.rs`: the compile cache; `bindings.rs`: the
//!   generated WIT bindings.

mod bindings;
mod cache;
mod call;
mod capability;
mod epoch;
mod error;
mod fault;
mod formatter;
mod grants;
mod limits;
mod meter;
mod output;
mod plugin;
mod provider;
mod span;
mod store;
mod wasi;

use std::path::PathBuf;
use std::sync::Arc;

use tracing::Instrument;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use cache::{ContentHash, sha256};
pub use call::{CHANGED_FILES, ToolCall, ToolOutput};
pub use capability::host_api::{
    BoxFuture, CallHandler, CallInfo, PermissionAsk, PermissionRefusal, RefuseAll,
};
pub use capability::process::{CommandOutput, run_user_command};
pub use error::{CallError, LoadError, ProviderCallError, ToolFailure};
pub use formatter::{FORMATTER_EXPORT, FormatError, FormatterPlugin};
pub use grants::{FsAccess, Grants};
pub use limits::Limits;
pub use plugin::{TOOL_EXPORT, ToolPlugin, ToolSpec, interface_names};
pub use provider::{
    ChatMessage, CompletionRequest, CompletionStream, ContentPart, FinishReason, ModelInfo, PROVIDER_EXPORT,
    ProviderConfig, ProviderPlugin, Role, StreamEvent, ToolDefinition, ToolInvocation, ToolResult, Usage,
};

use meter::Metering;
use span::CallSpan;
use store::{StoreSpec, StoreState, Stores};

/// The kinds of plugin, one per world of `wasmcode:plugin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// `tool-plugin`: tools the agent calls.
    #[default]
    Tool,
    /// `provider-plugin`: an LLM provider.
    Provider,
    /// `formatter-plugin`: formats files after the agent changes them.
    Formatter,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tool => "tool",
            Self::Provider => "provider",
            Self::Formatter => "formatter",
        })
    }
}

/// Engine-wide settings. Per-plugin limits live in [`Limits`].
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled components are cached; `None` compiles on every start.
    pub cache_dir: Option<PathBuf>,
    /// Instances that may exist at once (concurrent tool calls across all sessions).
    pub max_concurrent_instances: u32,
    /// The most linear memory any plugin may be granted, per memory.
    pub max_memory_bytes: usize,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_concurrent_instances: 128,
            max_memory_bytes: 2 << 30,
        }
    }
}

pub struct Runtime {
    engine: Engine,
    tool_linker: Linker<StoreState>,
    provider_linker: Linker<StoreState>,
    formatter_linker: Linker<StoreState>,
    stores: Stores,
    cache: cache::CompileCache,
    /// Compiles at once: each already spreads over every core (Cranelift compiles functions in
    /// parallel), so more would only add memory (a Python or JavaScript component takes hundreds
    /// of MB while it compiles).
    compiles: Arc<tokio::sync::Semaphore>,
    ticker: Option<epoch::EpochTicker>,
}

const CONCURRENT_COMPILES: usize = 2;

/// Bytes of each pooled linear memory zeroed with `memset` rather than `madvise` when an instance
/// ends, so the next instance in the slot does not fault those pages in again: every plugin call
/// is a fresh instance, and a provider's request (a long conversation) fills a few hundred pages.
/// The price is memory kept resident per slot used, at most this much; a session's calls reuse
/// the same few slots.
const KEEP_RESIDENT: usize = 2 << 20;

impl Runtime {
    pub fn new(options: &RuntimeOptions) -> wasmtime::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        let n = options.max_concurrent_instances;
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 4)
            .total_stacks(n)
            .max_memory_size(options.max_memory_bytes)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            // Resets only the pages an instance dirtied (Linux 6.7+), not all of KEEP_RESIDENT.
            .pagemap_scan(Enabled::Auto)
            .max_core_instances_per_component(32)
            .max_memories_per_component(8)
            .max_tables_per_component(16);
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;

        let tool_linker = store::tool_linker(&engine)?;
        let provider_linker = store::provider_linker(&engine)?;
        let formatter_linker = store::formatter_linker(&engine)?;
        let stores = Stores::new(&engine).map_err(|e| wasmtime::format_err!("{e}"))?;
        let cache = cache::CompileCache::new(&engine, options.cache_dir.as_deref());
        let ticker = Some(epoch::EpochTicker::start(engine.clone())?);
        Ok(Self {
            engine,
            tool_linker,
            provider_linker,
            formatter_linker,
            stores,
            cache,
            compiles: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_COMPILES)),
            ticker,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `bytes` (or loads it from the compile cache) as a component. A compile takes
    /// from 50 ms to 12 s, so it runs on a blocking thread: loads proceed side by side, and the
    /// server's async workers keep answering meanwhile.
    pub async fn compile(
        &self,
        name: &str,
        bytes: &[u8],
        hash: &ContentHash,
    ) -> Result<Component, LoadError> {
        if let Some(component) = self.cache.cached(&self.engine, hash) {
            return Ok(component);
        }
        let _slot = self
            .compiles
            .acquire()
            .await
            .map_err(|e| plugin::compile_error(name, bytes, e.into()))?;
        // Another load of the same component may have compiled it while this one waited.
        if let Some(component) = self.cache.cached(&self.engine, hash) {
            return Ok(component);
        }
        let (engine, cache, owned, hash) = (self.engine.clone(), self.cache.clone(), bytes.to_vec(), *hash);
        let compiled = tokio::task::spawn_blocking(move || cache.compile(&engine, &owned, &hash))
            .await
            .map_err(|e| wasmtime::format_err!("the compile task failed: {e}"))
            .and_then(|result| result);
        compiled.map_err(|e| plugin::compile_error(name, bytes, e))
    }

    /// Which kind of plugin `bytes` is, by the interface it exports; compiles it (or reads it from
    /// the compile cache) to find out.
    pub async fn kind_of(
        &self,
        name: &str,
        bytes: &[u8],
        hash: &ContentHash,
    ) -> Result<PluginKind, LoadError> {
        let component = self.compile(name, bytes, hash).await?;
        let mut found = String::new();
        for (export, kind) in [
            (TOOL_EXPORT, PluginKind::Tool),
            (PROVIDER_EXPORT, PluginKind::Provider),
            (FORMATTER_EXPORT, PluginKind::Formatter),
        ] {
            match plugin::check_export(&self.engine, &component, export) {
                Ok(()) => return Ok(kind),
                // What it exports instead, the same list whichever world was asked.
                Err(exports) => found = exports,
            }
        }
        Err(LoadError::UnknownWorld {
            name: name.to_string(),
            found,
        })
    }

    /// Loads a formatter plugin: checks its world and imports, instantiates it once and reads
    /// its extensions.
    pub async fn load_formatter_plugin(
        &self,
        name: &str,
        bytes: &[u8],
        hash: &ContentHash,
        limits: Limits,
    ) -> Result<FormatterPlugin, LoadError> {
        let component = self.compile(name, bytes, hash).await?;
        formatter::load(
            &self.engine,
            &self.stores,
            &self.formatter_linker,
            name,
            &component,
            limits,
        )
        .await
    }

    /// Formats `content`, the file at project-relative `path`, with `plugin`, in a fresh instance
    /// that may reach nothing.
    pub async fn format(
        &self,
        plugin: &FormatterPlugin,
        path: &str,
        content: &str,
    ) -> Result<String, FormatError> {
        formatter::format(&self.stores, plugin, path, content).await
    }

    /// Loads a tool plugin. With `validate`, the component is always trial-instantiated and its
    /// tools described afresh (install time); otherwise the tool list cached for this exact
    /// component is reused and start-up costs only a deserialize and a pre-link.
    pub async fn load_tool_plugin(
        &self,
        name: &str,
        bytes: &[u8],
        hash: &ContentHash,
        grants: Grants,
        limits: Limits,
        validate: bool,
    ) -> Result<ToolPlugin, LoadError> {
        let component = self.compile(name, bytes, hash).await?;
        let cached_tools = if validate {
            None
        } else {
            self.cache
                .read_side(hash, "tools.json")
                .and_then(|json| serde_json::from_slice::<Vec<ToolSpec>>(&json).ok())
        };
        let name: Arc<str> = name.into();
        let describe_store = match cached_tools {
            Some(_) => None,
            None => Some(self.describe_store(&name, limits)?),
        };
        let span = describe_store
            .as_ref()
            .map(|_| CallSpan::operation(&name, "describe"));
        let linked = plugin::link(&self.engine, &self.tool_linker, &name, &component, describe_store)
            .instrument(
                span.as_ref()
                    .map_or_else(tracing::Span::none, |s| s.span().clone()),
            )
            .await;
        if let Some(span) = span {
            span.finish(&linked, LoadError::kind);
        }
        let (pre, imports, described) = linked?;
        let tools = match (described, cached_tools) {
            (Some(tools), _) => {
                if let Ok(json) = serde_json::to_vec(&tools) {
                    self.cache.write_side(hash, "tools.json", &json);
                }
                tools
            }
            (None, Some(tools)) => tools,
            (None, None) => Vec::new(),
        };
        Ok(ToolPlugin {
            name,
            tools,
            grants,
            limits,
            imports,
            pre,
        })
    }

    /// A store for `describe()`: no filesystem, no process, every permission refused.
    fn describe_store(
        &self,
        name: &Arc<str>,
        limits: Limits,
    ) -> Result<wasmtime::Store<StoreState>, LoadError> {
        let grants = Grants::nothing();
        let mut call = CallInfo::plugin_only(name);
        call.tool = "describe".into();
        let handler: Arc<dyn CallHandler> = Arc::new(RefuseAll);
        self.stores
            .new_store(StoreSpec {
                caller: Some((&Arc::new(call), &handler)),
                ..StoreSpec::isolated(name, &grants, limits, Metering::WallClock)
            })
            .map_err(|e| LoadError::Describe {
                name: name.to_string(),
                reason: e.0,
            })
    }

    /// Runs one tool call in a fresh instance of `plugin`. Dropping the returned future cancels
    /// the call: the instance is discarded and any process it started is killed.
    pub async fn call_tool(
        &self,
        plugin: &ToolPlugin,
        call: ToolCall,
        handler: Arc<dyn CallHandler>,
    ) -> Result<ToolOutput, CallError> {
        call::run(&self.stores, plugin, call, handler).await
    }

    /// Loads a provider plugin: checks its world and imports and instantiates it once.
    pub async fn load_provider_plugin(
        &self,
        name: &str,
        bytes: &[u8],
        hash: &ContentHash,
        limits: Limits,
    ) -> Result<ProviderPlugin, LoadError> {
        let component = self.compile(name, bytes, hash).await?;
        provider::load(
            &self.engine,
            &self.stores,
            &self.provider_linker,
            name,
            &component,
            limits,
        )
        .await
    }

    /// The models `config` declares, as `plugin` reads them. The plugin may reach no host.
    pub async fn provider_models(
        &self,
        plugin: &ProviderPlugin,
        config: &ProviderConfig,
    ) -> Result<Vec<ModelInfo>, ProviderCallError> {
        provider::models(&self.stores, plugin, config).await
    }

    /// Starts a streamed completion; the plugin may reach only the authority (`host:port`) of
    /// `request.config.base_url`. Returns once the upstream accepted the request: connection
    /// failures and error statuses before the first event are reported here.
    pub async fn provider_stream(
        &self,
        plugin: &ProviderPlugin,
        request: &CompletionRequest,
    ) -> Result<CompletionStream, ProviderCallError> {
        provider::stream(&self.stores, plugin, request).await
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
    }
}
