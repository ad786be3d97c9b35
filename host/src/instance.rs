//! Instances: the state of one project directory (its configuration, agents, plugins and
//! permission rules, its file index and its event bus), created on the first request that names
//! the directory and released by `POST /instance/dispose`.
//!
//! This layer knows no HTTP (which directory a request names is the API's business) and no
//! sessions (they are server-wide and only borrow an instance per call).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::agent::Agent;
use crate::bus::{Bus, BusOptions, GlobalBus};
use crate::config::Config;
use crate::environment::Environment;
use crate::mcp::McpServers;
use crate::paths::Paths;
use crate::permission::Ruleset;
use crate::plugins::formatters::{Formatted, FormatterSet};
use crate::plugins::{self, Current, LiveTools};
use crate::project::ProjectRoot;
use crate::project::details::DetailsStore;
use crate::project::index::SearchIndex;
use crate::project::tree::TreeCache;
use crate::project::watch::{Change, ProjectWatcher};
use crate::protocol::Event;
use crate::protocol::event::{Empty, InstanceDisposed, PluginsUpdated};
use crate::provider::{AuthStore, ProviderEnv, ProviderSet};
use crate::runtime::{CHANGED_FILES, Runtime};
use crate::sandbox::{Sandbox, SandboxMode, Support};
use crate::terminal::Terminals;
use crate::tui::TuiQueue;

/// One project directory's state.
pub struct Instance {
    /// The directory, canonical (symlinks resolved).
    pub directory: PathBuf,
    pub config: Config,
    /// The built-in agents adjusted by the configuration, and its own, sorted by name.
    pub agents: Vec<Agent>,
    /// The tools now: loaded in the background after the instance is made (readers wait for
    /// the first set), replaced whole when the plugins change while the server runs.
    pub tools: LiveTools,
    /// The formatters now, loaded and replaced with the tools.
    pub formatters: Current<FormatterSet>,
    /// Held by whichever load of the plugins runs (the first, a reload): one at a time, in order.
    plugin_loads: Arc<Mutex<()>>,
    /// Rules for calls nobody can be asked about: defaults, then the configuration's.
    pub permissions: Arc<Ruleset>,
    /// Requests for a client driven through `/tui/*`.
    pub tui: TuiQueue,
    /// The directory opened once as a capability: every file API goes through it.
    pub root: Arc<ProjectRoot>,
    /// This instance's events (`/event`), forwarded to the global stream.
    pub bus: Bus,
    /// The tree listing `/find/file` ranks, kept current by a file watcher.
    pub tree: TreeCache,
    /// The trigram index `/find` answers from, kept current by the same watcher.
    pub index: SearchIndex,
    /// When the instance was made (epoch ms): the project's `time.created`.
    pub created_ms: u64,
    /// LLM providers and models from the configuration and the catalogue; keys are read at
    /// call time, so one stored with `PUT /auth` counts at once.
    pub providers: Arc<ProviderSet>,
    /// The project's ID: the root commit's SHA, or `global` outside git (sessions are listed
    /// per project).
    pub project_id: String,
    /// The repository's top level (`/` outside git): the `path.root` of assistant messages.
    pub worktree: PathBuf,
    /// How the commands run in this project are confined.
    pub sandbox: Arc<Sandbox>,
    /// The terminals open in this directory (`/pty`).
    pub terminals: Terminals,
    /// The MCP servers of the configuration and those added since (`/mcp`).
    pub mcp: McpServers,
    /// The directory's device and inode: what a requested spelling must still lead to.
    identity: DirIdentity,
}

impl Instance {
    /// Formats each file listed in `metadata`'s changed files with its formatter, and records what
    /// came of it there (`format`: file, formatter, `changed`/`unchanged`/`failed`, and why). A
    /// formatter that fails leaves the file as the tool wrote it; the call still succeeds.
    pub async fn format_changed_files(&self, runtime: &Runtime, metadata: &mut Value) {
        let files: Vec<String> = match metadata.get(CHANGED_FILES) {
            Some(Value::Array(files)) => files
                .iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect(),
            Some(Value::String(file)) => vec![file.clone()],
            _ => return,
        };
        let formatters = self.formatters.get().await;
        let mut report = Vec::new();
        for file in files {
            let Some(outcome) = formatters.format_file(runtime, &self.root, &file).await else {
                continue;
            };
            report.push(match outcome {
                Formatted::Changed { formatter } => {
                    json!({"file": file, "formatter": formatter, "result": "changed"})
                }
                Formatted::Unchanged { formatter } => {
                    json!({"file": file, "formatter": formatter, "result": "unchanged"})
                }
                Formatted::Failed { formatter, reason } => {
                    json!({"file": file, "formatter": formatter, "result": "failed", "reason": reason})
                }
            });
        }
        if let (false, Some(map)) = (report.is_empty(), metadata.as_object_mut()) {
            map.insert("format".into(), Value::Array(report));
        }
    }

    /// The agent named `name`.
    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.agents.iter().find(|agent| agent.name == name)
    }

    /// Whether the directory is inside a git repository.
    pub fn in_git(&self) -> bool {
        self.worktree != Path::new("/")
    }
}

/// Why an instance could not be created: bad directory (400), bad configuration (400, with
/// the file and position), or the repository could not be read (500).
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("directory {0} does not exist or is not a directory")]
    NoSuchDirectory(String),
    #[error("directory must be an absolute path, got {0:?}")]
    NotAbsolute(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("reading the repository failed: {0}")]
    Git(String),
    #[error("{0}")]
    Sandbox(String),
}

/// Every live instance, by canonical directory.
pub struct Instances {
    runtime: Arc<Runtime>,
    global_bus: GlobalBus,
    paths: Paths,
    /// The process environment, read once at start-up.
    environment: Arc<Environment>,
    bus_options: BusOptions,
    /// Stored provider keys, shared by every instance.
    auth: Arc<AuthStore>,
    /// The names, icons and commands users gave projects.
    project_details: Arc<DetailsStore>,
    /// Where providers find their keys: the environment at start-up.
    provider_env: Arc<ProviderEnv>,
    live: Mutex<HashMap<PathBuf, Arc<Instance>>>,
    /// Where a change of a plugin source is reported, once [`Instances::watch_plugins`] runs:
    /// `None` for the server-wide sources, a directory for a project's own.
    reloads: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Option<PathBuf>>>,
    /// The watch of the server-wide plugin sources.
    source_watch: std::sync::Mutex<Option<plugins::watch::SourceWatch>>,
    /// Directories as requests spelled them, for live instances: found here, a request's
    /// directory costs one `stat` instead of a canonicalisation (a `readlink` per component)
    /// and the creation lock.
    spellings: std::sync::RwLock<HashMap<PathBuf, Arc<Instance>>>,
}

/// An instance's configuration and what is derived from it alone.
struct Settled {
    config: Config,
    permissions: Ruleset,
    providers: ProviderSet,
    agents: Vec<Agent>,
}

/// How long plugin-source changes must be quiet before the plugins are reloaded.
const RELOAD_SETTLE: std::time::Duration = std::time::Duration::from_millis(100);

/// Remembered spellings at most; past that the memory starts over (clients choose spellings).
const MAX_SPELLINGS: usize = 256;

/// A directory's device and inode number: the same pair is the same directory, whichever path
/// leads there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DirIdentity {
    dev: u64,
    ino: u64,
}

impl DirIdentity {
    fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).ok().filter(|m| m.is_dir())?;
        Some(Self {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

impl Instances {
    pub fn new(runtime: Arc<Runtime>, paths: Paths, environment: Arc<Environment>) -> Self {
        let mut bus_options = BusOptions::default();
        if let Some(queue) = environment.event_queue {
            bus_options.queue = queue;
        }
        let auth = Arc::new(AuthStore::open(paths.auth_file()));
        let project_details = Arc::new(DetailsStore::new(paths.project_details_dir()));
        Self {
            runtime,
            global_bus: GlobalBus::new(bus_options),
            paths,
            provider_env: Arc::new(ProviderEnv::from_pairs(environment.vars.clone())),
            environment,
            bus_options,
            auth,
            project_details,
            live: Mutex::new(HashMap::new()),
            spellings: std::sync::RwLock::default(),
            reloads: std::sync::OnceLock::new(),
            source_watch: std::sync::Mutex::default(),
        }
    }

    /// Reloads the plugins of the live instances whenever their sources change (an install or
    /// removal, the trust list, a configuration's `wasmcode` section, a project's plugin
    /// directory): each instance's tools are swapped whole, within about a second, and its
    /// clients are told with `wasmcode.plugins.updated`. Changes close together are taken as one.
    pub fn watch_plugins(self: &Arc<Self>) -> Result<(), String> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Option<PathBuf>>();
        let server_wide = tx.clone();
        let watch = plugins::watch::watch_sources(&self.paths, move || {
            let _ = server_wide.send(None);
        })
        .map_err(|e| format!("cannot watch the plugin sources: {e}"))?;
        *self.source_watch.lock().unwrap_or_else(PoisonError::into_inner) = Some(watch);
        let _ = self.reloads.set(tx);
        let instances = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut changed = vec![first];
                // Let a burst of changes (a plugin's files, an editor's save) settle.
                while let Ok(Some(next)) = tokio::time::timeout(RELOAD_SETTLE, rx.recv()).await {
                    changed.push(next);
                }
                let Some(instances) = instances.upgrade() else {
                    break;
                };
                for instance in instances.live().await {
                    let concerned = changed
                        .iter()
                        .any(|dir| dir.as_ref().is_none_or(|dir| *dir == instance.directory));
                    if concerned {
                        instances.reload_plugins(&instance).await;
                    }
                }
            }
        });
        Ok(())
    }

    /// Loads a new instance's plugins in the background. The instance answers what needs no
    /// plugin at once (files, sessions, configuration); a turn, a tool list or a formatting waits
    /// for its tools or formatters. On a first run this is what compiles the components.
    fn start_plugin_load(&self, instance: &Arc<Instance>) {
        // Taken before the instance is shared, so no reload can run ahead of this first load.
        let first = instance.plugin_loads.clone().try_lock_owned();
        let (runtime, paths, instance) = (self.runtime.clone(), self.paths.clone(), instance.clone());
        tokio::spawn(async move {
            let _loading = match first {
                Ok(guard) => guard,
                Err(_) => instance.plugin_loads.clone().lock_owned().await,
            };
            let started = std::time::Instant::now();
            let (tools, formatters) =
                load_plugins(&runtime, &paths, &instance.config, &instance.directory).await;
            let count = tools.ids().count();
            instance.formatters.set(formatters);
            instance.tools.replace(tools);
            tracing::info!(
                directory = %instance.directory.display(),
                tools = count,
                ms = started.elapsed().as_millis() as u64,
                "plugins loaded"
            );
        });
    }

    /// Loads `instance`'s plugins afresh from its sources and puts them in place if they differ.
    async fn reload_plugins(&self, instance: &Instance) {
        let _loading = instance.plugin_loads.lock().await;
        let directory = instance.directory.display().to_string();
        let config = match Config::load(
            &self.paths.config,
            &instance.directory,
            self.environment.inline_config.as_deref(),
        ) {
            Ok(config) => config,
            Err(e) => {
                tracing::warn!(%directory, "plugins not reloaded: the configuration does not load: {e}");
                return;
            }
        };
        let (tools, formatters) =
            load_plugins(&self.runtime, &self.paths, &config, &instance.directory).await;
        instance.formatters.set(formatters);
        let ids: Vec<String> = tools.ids().map(String::from).collect();
        if instance.tools.replace(tools) {
            tracing::info!(%directory, tools = ids.len(), "plugins reloaded");
            instance
                .bus
                .publish(Event::PluginsUpdated(PluginsUpdated { tools: ids }));
        }
    }

    /// Every instance's events, wrapped with their directory (`/global/event`).
    pub fn global_bus(&self) -> &GlobalBus {
        &self.global_bus
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Stored provider keys (`PUT /auth/{providerID}`).
    pub fn auth(&self) -> &Arc<AuthStore> {
        &self.auth
    }

    /// The names, icons and commands users gave projects (`PATCH /project/{projectID}`).
    pub fn project_details(&self) -> &Arc<DetailsStore> {
        &self.project_details
    }

    /// The process environment the server started with.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// The instance of `directory`, created on first use (its configuration read; its plugins
    /// then load in the background, see [`Instances::start_plugin_load`]).
    pub async fn get(&self, requested: &Path) -> Result<Arc<Instance>, InstanceError> {
        if let Some(instance) = self.by_spelling(requested) {
            return Ok(instance);
        }
        let directory = canonical_directory(requested)?;
        // Held across creation so two first requests for one directory create it once.
        let mut live = self.live.lock().await;
        let instance = match live.get(&directory) {
            Some(instance) => instance.clone(),
            None => {
                let instance = Arc::new(self.create(directory.clone()).await?);
                self.start_plugin_load(&instance);
                live.insert(directory, instance.clone());
                instance
            }
        };
        let mut spellings = self.spellings.write().unwrap_or_else(PoisonError::into_inner);
        if spellings.len() >= MAX_SPELLINGS {
            spellings.clear();
        }
        spellings.insert(requested.to_path_buf(), instance.clone());
        Ok(instance)
    }

    /// The live instance `requested` was last seen to name, if the path still leads to that
    /// directory (a symlink on the way may have been pointed elsewhere since).
    fn by_spelling(&self, requested: &Path) -> Option<Arc<Instance>> {
        let instance = self
            .spellings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(requested)?
            .clone();
        (DirIdentity::of(requested) == Some(instance.identity)).then_some(instance)
    }

    /// Checks the configuration `directory`'s instance would have (its files, permissions,
    /// providers and the plugins they name, agents) without loading any plugin: what a start-up
    /// must refuse before it listens.
    pub fn check(&self, directory: &Path) -> Result<Config, InstanceError> {
        let directory = canonical_directory(directory)?;
        self.settle(&directory).map(|settled| settled.config)
    }

    /// The configuration of `directory` and what is derived from it alone.
    fn settle(&self, directory: &Path) -> Result<Settled, InstanceError> {
        let config = Config::load(
            &self.paths.config,
            directory,
            self.environment.inline_config.as_deref(),
        )
        .map_err(|e| InstanceError::Config(e.to_string()))?;
        let mut permissions = Ruleset::defaults();
        if let Some(rules) = config.raw.get("permission") {
            permissions.extend(Ruleset::from_config(rules).map_err(InstanceError::Config)?);
        }
        let providers = ProviderSet::build(&config.raw, &self.provider_env, self.auth.clone())
            .map_err(|e| InstanceError::Config(e.to_string()))?;
        for (provider, plugin) in providers.plugins() {
            if let Some(problem) = plugins::provider_plugin_problem(&self.paths, plugin) {
                return Err(InstanceError::Config(format!("provider `{provider}`: {problem}")));
            }
        }
        let agents =
            crate::agent::agents(&config.raw, &Ruleset::defaults()).map_err(InstanceError::Config)?;
        Ok(Settled {
            config,
            permissions,
            providers,
            agents,
        })
    }

    async fn create(&self, directory: PathBuf) -> Result<Instance, InstanceError> {
        let Settled {
            config,
            permissions,
            providers,
            agents,
        } = self.settle(&directory)?;
        // Two git processes, asked at once.
        let git = {
            let directory = directory.clone();
            tokio::task::spawn_blocking(move || {
                std::thread::scope(|scope| {
                    let project = scope.spawn(|| crate::project::vcs::project_id(&directory));
                    let worktree = crate::project::vcs::worktree(&directory);
                    (project.join().ok().flatten(), worktree)
                })
            })
        };
        tracing::info!(directory = %directory.display(), "instance created");
        let root = ProjectRoot::open(&directory)
            .map_err(|e| InstanceError::NoSuchDirectory(format!("{}: {e}", directory.display())))?;
        let identity = DirIdentity::of(&directory)
            .ok_or_else(|| InstanceError::NoSuchDirectory(directory.display().to_string()))?;
        let (project, worktree) = git.await.map_err(|e| InstanceError::Git(e.to_string()))?;
        let sandbox = Sandbox::new(
            config.wasmcode.sandbox.clone(),
            Support::current(),
            &directory,
            &worktree,
            &self.environment.home,
            &self.environment.search_path(),
        )
        .map_err(|e| InstanceError::Sandbox(e.to_string()))?;
        report_sandbox(&directory, &sandbox);
        let sandbox = Arc::new(sandbox);
        let project_id = project.clone().unwrap_or_else(|| "global".into());
        let bus = Bus::forwarding(
            self.bus_options,
            self.global_bus.clone(),
            directory.display().to_string(),
            project,
        );
        let created_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default();
        let root = Arc::new(root);
        let watcher = Arc::new(ProjectWatcher::start(root.path()));
        if let Some(reloads) = self.reloads.get() {
            let (reloads, directory) = (reloads.clone(), directory.clone());
            watcher.listen(move |change| {
                let concerned = match change {
                    Change::Path { rel, .. } => plugins::watch::is_project_source(rel),
                    Change::Rescan => true,
                    Change::Broken => false,
                };
                if concerned {
                    let _ = reloads.send(Some(directory.clone()));
                }
            });
        }
        let tree = TreeCache::new(root.clone(), watcher.clone());
        let index = SearchIndex::new(root.clone(), watcher);
        let terminals = Terminals::new(
            directory.clone(),
            bus.clone(),
            sandbox.clone(),
            self.environment.var("SHELL").map(String::from),
        );
        let mcp = McpServers::start(directory.clone(), bus.clone(), sandbox.clone(), &config.raw);
        Ok(Instance {
            directory,
            config,
            agents,
            tools: LiveTools::loading(),
            formatters: Current::loading(),
            plugin_loads: Arc::default(),
            permissions: Arc::new(permissions),
            tui: TuiQueue::default(),
            tree,
            index,
            root,
            bus,
            created_ms,
            providers: Arc::new(providers),
            project_id,
            worktree,
            terminals,
            mcp,
            sandbox,
            identity,
        })
    }

    /// Releases the instance of `directory` (`server.instance.disposed` goes out on its bus);
    /// whether there was one.
    pub async fn dispose(&self, directory: &Path) -> bool {
        let Ok(directory) = canonical_directory(directory) else {
            return false;
        };
        let Some(instance) = self.live.lock().await.remove(&directory) else {
            return false;
        };
        self.forget(&instance);
        true
    }

    /// Releases every instance (`server.instance.disposed` for each, then `global.disposed` on
    /// the global stream); how many there were.
    pub async fn dispose_all(&self) -> usize {
        let released: Vec<Arc<Instance>> = self.live.lock().await.drain().map(|(_, i)| i).collect();
        for instance in &released {
            self.forget(instance);
        }
        self.global_bus
            .publish(None, None, Event::GlobalDisposed(Empty {}));
        released.len()
    }

    fn forget(&self, instance: &Arc<Instance>) {
        self.spellings
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, live| !Arc::ptr_eq(live, instance));
        instance.terminals.close_all();
        instance.mcp.close_all();
        instance
            .bus
            .publish(Event::ServerInstanceDisposed(InstanceDisposed {
                directory: instance.directory.display().to_string(),
            }));
    }

    /// The instances alive now.
    pub async fn live(&self) -> Vec<Arc<Instance>> {
        self.live.lock().await.values().cloned().collect()
    }
}

/// The tool and formatter plugins of `directory` under `config`; what did not load is logged.
async fn load_plugins(
    runtime: &Runtime,
    paths: &Paths,
    config: &Config,
    directory: &Path,
) -> (plugins::ToolRegistry, FormatterSet) {
    let ((tools, mut warnings), (formatters, formatter_warnings)) = tokio::join!(
        plugins::load_all(runtime, paths, &config.wasmcode, Some(directory)),
        plugins::formatters::load(runtime, paths, &config.wasmcode, &config.raw),
    );
    warnings.extend(formatter_warnings);
    for warning in &warnings {
        tracing::warn!(plugin = %warning.plugin, directory = %directory.display(), "{}", warning.message);
    }
    (tools, formatters)
}

/// Says in the log how the project's commands will run: confined, or why not.
fn report_sandbox(directory: &Path, sandbox: &Sandbox) {
    let status = sandbox.status();
    let directory = directory.display();
    let reason = status.reason.as_deref().unwrap_or_default();
    match status.mode {
        SandboxMode::Confined => tracing::info!(
            %directory,
            network = status.network,
            "commands run confined to the project (Landlock ABI {})",
            status.landlock_abi.unwrap_or_default()
        ),
        SandboxMode::Unconfined => {
            tracing::warn!(%directory, "commands run UNCONFINED, with the server's rights: {reason}")
        }
        SandboxMode::Refused => tracing::warn!(
            %directory,
            "commands will be refused: the sandbox is required, but {reason}"
        ),
    }
    for path in sandbox.configured() {
        if !path.exists() {
            tracing::warn!(%directory, path = %path.display(), "wasmcode.sandbox.allow names a path that does not exist");
        }
    }
}

fn canonical_directory(directory: &Path) -> Result<PathBuf, InstanceError> {
    if !directory.is_absolute() {
        return Err(InstanceError::NotAbsolute(directory.display().to_string()));
    }
    match std::fs::canonicalize(directory) {
        Ok(path) if path.is_dir() => Ok(path),
        _ => Err(InstanceError::NoSuchDirectory(directory.display().to_string())),
    }
}
