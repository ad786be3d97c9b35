//! Instances: the state of one project directory (its configuration, plugins and permission
//! rules), created on the first request that names the directory and released by
//! `POST /instance/dispose`. Requests name it with `?directory=` or the `x-opencode-directory`
//! header (URL-encoded); the query wins, as in OpenCode, and the server's cwd is the default.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::api::error::ApiError;
use crate::bus::{Bus, BusOptions, GlobalBus};
use crate::config::Config;
use crate::paths::Paths;
use crate::permission::Ruleset;
use crate::plugins::{self, ToolRegistry};
use crate::project::ProjectRoot;
use crate::project::index::SearchIndex;
use crate::project::tree::TreeCache;
use crate::project::watch::ProjectWatcher;
use crate::provider::{AuthStore, ProviderEnv, ProviderSet};
use crate::runtime::Runtime;
use crate::server::AppState;
use crate::session::Sessions;
use crate::store::Store;
use crate::tui::TuiQueue;

/// The header clients use to name the project directory.
pub const DIRECTORY_HEADER: &str = "x-opencode-directory";

/// One project directory's state.
pub struct Instance {
    /// The directory, canonical (symlinks resolved).
    pub directory: PathBuf,
    pub config: Config,
    pub tools: Arc<ToolRegistry>,
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
    /// The directory's device and inode: what a requested spelling must still lead to.
    identity: DirIdentity,
}

impl Instance {
    /// The agents of this directory: the built-in ones adjusted by the configuration.
    pub fn agents(&self) -> Result<Vec<crate::session::agent::Agent>, String> {
        crate::session::agent::agents(&self.config.raw, &Ruleset::defaults())
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
}

impl From<InstanceError> for ApiError {
    fn from(error: InstanceError) -> Self {
        match error {
            InstanceError::Git(_) => ApiError::internal(error.to_string()),
            _ => ApiError::bad_request(error.to_string(), "Query"),
        }
    }
}

/// Every live instance, by canonical directory.
pub struct Instances {
    runtime: Arc<Runtime>,
    global_bus: GlobalBus,
    paths: Paths,
    /// `OPENCODE_CONFIG_CONTENT`, read once at start-up.
    inline_config: Option<String>,
    /// Stored provider keys, shared by every instance.
    auth: Arc<AuthStore>,
    /// The environment at start-up, where providers find their keys.
    provider_env: Arc<ProviderEnv>,
    live: Mutex<HashMap<PathBuf, Arc<Instance>>>,
    /// Directories as requests spelled them, for live instances: found here, a request's
    /// directory costs one `stat` instead of a canonicalisation (a `readlink` per component)
    /// and the creation lock.
    spellings: std::sync::RwLock<HashMap<PathBuf, Arc<Instance>>>,
    sessions: Arc<Sessions>,
}

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
    pub fn new(runtime: Arc<Runtime>, paths: Paths, inline_config: Option<String>, store: Store) -> Self {
        let global_bus = GlobalBus::new(BusOptions::from_env());
        let auth = Arc::new(AuthStore::open(paths.auth_file()));
        Self {
            sessions: Sessions::new(store, runtime.clone()),
            runtime,
            global_bus,
            paths,
            inline_config,
            auth,
            provider_env: Arc::new(ProviderEnv::from_process()),
            live: Mutex::new(HashMap::new()),
            spellings: std::sync::RwLock::default(),
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

    /// Every session, across directories.
    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    /// The instance of `directory`, created (configuration read, plugins loaded) on first use.
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

    async fn create(&self, directory: PathBuf) -> Result<Instance, InstanceError> {
        let config = Config::load(&self.paths.config, &directory, self.inline_config.as_deref())
            .map_err(|e| InstanceError::Config(e.to_string()))?;
        let mut permissions = Ruleset::defaults();
        if let Some(rules) = config.raw.get("permission") {
            permissions.extend(Ruleset::from_config(rules).map_err(InstanceError::Config)?);
        }
        let providers = ProviderSet::build(&config.raw, &self.provider_env, self.auth.clone())
            .map_err(|e| InstanceError::Config(e.to_string()))?;
        // Two git processes: asked at once, while the plugins load.
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
        let (tools, warnings) =
            plugins::load_all(&self.runtime, &self.paths, &config.wasmcode, Some(&directory)).await;
        for warning in &warnings {
            tracing::warn!(plugin = %warning.plugin, directory = %directory.display(), "{}", warning.message);
        }
        tracing::info!(directory = %directory.display(), tools = tools.ids().count(), "instance created");
        let root = ProjectRoot::open(&directory)
            .map_err(|e| InstanceError::NoSuchDirectory(format!("{}: {e}", directory.display())))?;
        let identity = DirIdentity::of(&directory)
            .ok_or_else(|| InstanceError::NoSuchDirectory(directory.display().to_string()))?;
        let (project, worktree) = git.await.map_err(|e| InstanceError::Git(e.to_string()))?;
        // Checked now so a bad `agent` block is reported when the directory is first used.
        crate::session::agent::agents(&config.raw, &Ruleset::defaults()).map_err(InstanceError::Config)?;
        let project_id = project.clone().unwrap_or_else(|| "global".into());
        let bus = Bus::forwarding(
            BusOptions::from_env(),
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
        let tree = TreeCache::new(root.clone(), watcher.clone());
        let index = SearchIndex::new(root.clone(), watcher);
        Ok(Instance {
            directory,
            config,
            tools: Arc::new(tools),
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
            identity,
        })
    }

    /// Releases the instance of `directory`; whether there was one.
    pub async fn dispose(&self, directory: &Path) -> bool {
        let Ok(directory) = canonical_directory(directory) else {
            return false;
        };
        let Some(instance) = self.live.lock().await.remove(&directory) else {
            return false;
        };
        self.spellings
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, live| !Arc::ptr_eq(live, &instance));
        true
    }

    /// The instances alive now.
    pub async fn live(&self) -> Vec<Arc<Instance>> {
        self.live.lock().await.values().cloned().collect()
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

#[derive(Debug, Default, Deserialize)]
struct DirectoryQuery {
    directory: Option<String>,
}

/// The directory a request is scoped to: `?directory=`, else the header, else the default.
pub fn requested_directory(parts: &Parts, default: &Path) -> Result<PathBuf, ApiError> {
    let query = Query::<DirectoryQuery>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    if let Some(directory) = query.directory.filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(directory));
    }
    if let Some(value) = parts.headers.get(DIRECTORY_HEADER) {
        let raw = value.to_str().map_err(|_| {
            ApiError::bad_request(format!("{DIRECTORY_HEADER} must be URL-encoded ASCII"), "Header")
        })?;
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| ApiError::bad_request(format!("{DIRECTORY_HEADER} is not valid UTF-8"), "Header"))?;
        if !decoded.is_empty() {
            return Ok(PathBuf::from(decoded.as_ref()));
        }
    }
    Ok(default.to_path_buf())
}

/// Extracts the directory a request names, without creating its instance.
pub struct RequestedDirectory(pub PathBuf);

impl FromRequestParts<AppState> for RequestedDirectory {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        requested_directory(parts, &state.default_directory).map(Self)
    }
}

/// Extracts the request's instance.
pub struct Scoped(pub Arc<Instance>);

impl FromRequestParts<AppState> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let directory = requested_directory(parts, &state.default_directory)?;
        Ok(Self(state.instances.get(&directory).await?))
    }
}
