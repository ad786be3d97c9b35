//! The plugin runtime: one wasmtime `Engine` (pooling allocator, epoch interruption, on-disk
//! compile cache) that loads tool and provider components and runs each tool call, or each
//! completion stream, in a fresh, limited, capability-checked instance. It knows nothing of the
//! HTTP API or sessions.

mod bindings;
mod cache;
mod call;
mod error;
mod grants;
mod guest_time;
mod host_api;
mod limits;
mod plugin;
mod process;
mod provider;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use cache::{CacheOutcome, ContentHash, sha256};
pub use call::{ToolCall, ToolOutput};
pub use error::{CallError, LoadError, ProviderCallError, ToolFailure};
pub use grants::{FsAccess, Grants};
pub use host_api::{BoxFuture, CallHandler, CallInfo, PermissionAsk, PermissionRefusal};
pub use limits::Limits;
pub use plugin::{TOOL_EXPORT, ToolPlugin, ToolSpec, interface_names};
pub use provider::{
    ChatMessage, CompletionRequest, CompletionStream, ContentPart, FinishReason, ModelInfo, PROVIDER_EXPORT,
    ProviderConfig, ProviderPlugin, Role, StreamEvent, ToolDefinition, ToolInvocation, ToolResult, Usage,
};

use call::{CallState, StoreSpec};

/// How often the epoch advances: the granularity of deadlines and of cooperative yields.
const EPOCH_TICK: Duration = Duration::from_millis(10);

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
    tool_linker: Linker<CallState>,
    provider_linker: Linker<provider::ProviderState>,
    cache: cache::CompileCache,
    ticker: Option<EpochTicker>,
}

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
            .max_core_instances_per_component(32)
            .max_memories_per_component(8)
            .max_tables_per_component(16);
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;

        let mut tool_linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut tool_linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut tool_linker)?;
        // Only our own interfaces: WASI and wasi:http are linked above from their crates.
        type Own = wasmtime::component::HasSelf<CallState>;
        bindings::tool::wasmcode::plugin::host::add_to_linker::<_, Own>(&mut tool_linker, |state| state)?;
        bindings::tool::wasmcode::plugin::process::add_to_linker::<_, Own>(&mut tool_linker, |state| state)?;

        let provider_linker = provider::linker(&engine)?;

        let cache = cache::CompileCache::new(&engine, options.cache_dir.as_deref());
        let ticker = Some(EpochTicker::start(engine.clone()));
        Ok(Self {
            engine,
            tool_linker,
            provider_linker,
            cache,
            ticker,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `bytes` (or loads it from the compile cache) as a component.
    pub fn compile(
        &self,
        name: &str,
        bytes: &[u8],
        hash: &ContentHash,
    ) -> Result<(Component, CacheOutcome), LoadError> {
        self.cache
            .component(&self.engine, bytes, hash)
            .map_err(|e| plugin::compile_error(name, bytes, e))
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
        let (component, _) = self.compile(name, bytes, hash)?;
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
        let (pre, imports, described) =
            plugin::link(&self.engine, &self.tool_linker, &name, &component, describe_store).await?;
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
    ) -> Result<wasmtime::Store<CallState>, LoadError> {
        let grants = Grants {
            filesystem: FsAccess::None,
            ..Grants::default()
        };
        let call = ToolCall {
            tool: "describe".into(),
            args_json: String::new(),
            session_id: String::new(),
            message_id: String::new(),
            call_id: String::new(),
            agent: String::new(),
            project_root: std::env::temp_dir(),
        };
        call::new_store(
            &self.engine,
            StoreSpec {
                name,
                grants: &grants,
                limits,
            },
            &call,
            Arc::new(RefuseAll),
        )
        .map_err(|e| LoadError::Describe {
            name: name.to_string(),
            reason: e.to_string(),
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
        call::run(&self.engine, plugin, call, handler).await
    }

    /// Loads a provider plugin: checks its world and imports and instantiates it once.
    pub async fn load_provider_plugin(
        &self,
        name: &str,
        bytes: &[u8],
        hash: &ContentHash,
        limits: Limits,
    ) -> Result<ProviderPlugin, LoadError> {
        let (component, _) = self.compile(name, bytes, hash)?;
        provider::load(&self.engine, &self.provider_linker, name, &component, limits).await
    }

    /// The models `config` declares, as `plugin` reads them. The plugin may reach no host.
    pub async fn provider_models(
        &self,
        plugin: &ProviderPlugin,
        config: &ProviderConfig,
    ) -> Result<Vec<ModelInfo>, ProviderCallError> {
        provider::models(&self.engine, plugin, config).await
    }

    /// Starts a streamed completion; the plugin may reach only the authority (`host:port`) of
    /// `request.config.base_url`. Returns once the upstream accepted the request: connection
    /// failures and error statuses before the first event are reported here.
    pub async fn provider_stream(
        &self,
        plugin: &ProviderPlugin,
        request: CompletionRequest,
    ) -> Result<CompletionStream, ProviderCallError> {
        provider::stream(&self.engine, plugin, request).await
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
    }
}

/// What a command run with [`run_user_command`] printed, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// Standard output and error, interleaved, cut at the output limit.
    pub output: String,
    pub exit_code: Option<i32>,
    /// The output went past the limit and was cut.
    pub truncated: bool,
    pub timed_out: bool,
}

/// Runs `command` with `bash -c` in `cwd` for the user (`/shell`: the user's own command, not a
/// plugin's), as the `process` capability runs a plugin's: the process group is killed on
/// timeout or when the future is dropped.
pub async fn run_user_command(
    cwd: PathBuf,
    command: &str,
    timeout: Duration,
    output_limit: u32,
) -> Result<CommandOutput, String> {
    let request = bindings::tool::wasmcode::plugin::process::RunRequest {
        command: command.to_string(),
        workdir: String::new(),
        timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
        output_limit,
    };
    let output = process::run(cwd, request).await.map_err(|e| format!("{e:?}"))?;
    Ok(CommandOutput {
        output: output.output,
        exit_code: output.exit_code,
        truncated: output.truncated,
        timed_out: output.timed_out,
    })
}

/// Refuses every permission: for `describe()` and other calls with nobody to ask.
pub struct RefuseAll;

impl CallHandler for RefuseAll {
    fn ask_permission(
        &self,
        _call: &CallInfo,
        ask: PermissionAsk,
    ) -> BoxFuture<Result<(), PermissionRefusal>> {
        Box::pin(async move {
            Err(PermissionRefusal::Denied(format!(
                "{} is not available here",
                ask.permission
            )))
        })
    }
}

/// Advances the engine's epoch every `EPOCH_TICK` on a background thread.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread only fails when the process is out of threads");
        Self { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}
