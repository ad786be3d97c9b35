//! The plugins wasmcode runs: first-party tools embedded in the binary, third-party plugins
//! installed in the data dir, and project-local plugins once trusted. Loading never fails as a
//! whole: a broken plugin is skipped and reported.

pub mod contract;
pub mod first_party;
pub mod formatters;
pub mod installed;
mod live;
pub mod trust;
pub mod watch;

pub use live::{Current, LiveTools};

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::WasmcodeSettings;
use crate::paths::Paths;
use crate::runtime::{
    CallError, CallHandler, Grants, LoadError, PluginKind, Runtime, ToolCall, ToolOutput, ToolPlugin,
    ToolSpec,
};

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    FirstParty,
    Installed,
    Project(PathBuf),
}

pub struct LoadedPlugin {
    pub plugin: Arc<ToolPlugin>,
    pub origin: Origin,
    pub sha256: String,
}

/// Every loaded tool, by id, in listing order.
#[derive(Default)]
pub struct ToolRegistry {
    plugins: Vec<LoadedPlugin>,
    /// Tool id → index into `plugins`, in listing order.
    order: Vec<(String, usize)>,
    by_id: HashMap<String, usize>,
}

/// A plugin that was not loaded, and why.
#[derive(Debug, Clone)]
pub struct LoadWarning {
    pub plugin: String,
    pub message: String,
}

impl ToolRegistry {
    pub fn tools(&self) -> impl Iterator<Item = (&ToolSpec, &LoadedPlugin)> {
        self.order.iter().filter_map(|(id, index)| {
            let loaded = &self.plugins[*index];
            loaded
                .plugin
                .tools
                .iter()
                .find(|t| &t.id == id)
                .map(|spec| (spec, loaded))
        })
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(|(id, _)| id.as_str())
    }

    pub fn plugins(&self) -> &[LoadedPlugin] {
        &self.plugins
    }

    pub fn plugin_for(&self, tool: &str) -> Option<&Arc<ToolPlugin>> {
        self.by_id.get(tool).map(|i| &self.plugins[*i].plugin)
    }

    /// Adds a plugin; a tool id already taken by an earlier plugin stays with that one.
    fn add(&mut self, loaded: LoadedPlugin, warnings: &mut Vec<LoadWarning>) {
        let index = self.plugins.len();
        for spec in &loaded.plugin.tools {
            if let Some(owner) = self.by_id.get(&spec.id) {
                warnings.push(LoadWarning {
                    plugin: loaded.plugin.name.to_string(),
                    message: format!(
                        "tool `{}` is already provided by plugin `{}`; this plugin's `{}` is ignored",
                        spec.id, self.plugins[*owner].plugin.name, spec.id
                    ),
                });
                continue;
            }
            self.by_id.insert(spec.id.clone(), index);
            self.order.push((spec.id.clone(), index));
        }
        self.plugins.push(loaded);
    }

    /// Runs `call` on the plugin that provides its tool.
    pub async fn call(
        &self,
        runtime: &Runtime,
        call: ToolCall,
        handler: Arc<dyn CallHandler>,
    ) -> Result<ToolOutput, CallError> {
        let plugin = self
            .plugin_for(&call.tool)
            .ok_or_else(|| CallError::UnknownTool {
                tool: call.tool.clone(),
            })?;
        runtime.call_tool(plugin, call, handler).await
    }
}

/// A tool plugin to load: its sources read, its grants and limits settled.
struct Candidate {
    name: String,
    bytes: Cow<'static, [u8]>,
    hash: [u8; 32],
    grants: Grants,
    limits: crate::runtime::Limits,
    origin: Origin,
}

/// Loads the first-party plugins, the installed ones, and the trusted plugins of `project`. The
/// plugins load side by side (a cold start compiles each one), and join the registry in that
/// order, so which of two clashing tool ids wins never depends on timing.
pub async fn load_all(
    runtime: &Runtime,
    paths: &Paths,
    settings: &WasmcodeSettings,
    project: Option<&Path>,
) -> (ToolRegistry, Vec<LoadWarning>) {
    let mut warnings = Vec::new();
    let mut candidates = Vec::new();

    let mut embedded: Vec<&first_party::Embedded> = first_party::FIRST_PARTY_TOOLS.iter().collect();
    embedded.sort_by_key(|e| {
        first_party::ORDER
            .iter()
            .position(|n| *n == e.name)
            .unwrap_or(usize::MAX)
    });
    for component in embedded {
        if !settings.enabled(component.name) {
            continue;
        }
        candidates.push(Candidate {
            name: component.name.to_string(),
            bytes: Cow::Borrowed(component.bytes),
            hash: component.sha256,
            grants: settings.grants_for(component.name, first_party::default_grants(component.name)),
            limits: settings.limits_for(component.name),
            origin: Origin::FirstParty,
        });
    }

    let store = installed::PluginStore::new(paths.plugins_dir());
    for entry in store.list() {
        let plugin = match entry {
            Ok(plugin) => plugin,
            Err(message) => {
                warnings.push(LoadWarning {
                    plugin: "?".into(),
                    message,
                });
                continue;
            }
        };
        let name = plugin.manifest.name.clone();
        // Providers are loaded by the model client when a provider block names them.
        if plugin.manifest.kind != PluginKind::Tool || !settings.enabled(&name) {
            continue;
        }
        match store.read_verified(&plugin) {
            Ok((bytes, hash)) => candidates.push(third_party(settings, name, bytes, hash, Origin::Installed)),
            Err(message) => warnings.push(LoadWarning {
                plugin: name,
                message,
            }),
        }
    }

    if let Some(project) = project {
        project_candidates(paths, settings, project, &mut candidates, &mut warnings);
    }

    let loads = candidates.into_iter().map(|candidate| async move {
        let loaded = runtime
            .load_tool_plugin(
                &candidate.name,
                &candidate.bytes,
                &candidate.hash,
                candidate.grants,
                candidate.limits,
                false,
            )
            .await;
        (candidate.name, candidate.origin, candidate.hash, loaded)
    });
    let mut registry = ToolRegistry::default();
    for (name, origin, hash, loaded) in futures_util::future::join_all(loads).await {
        match loaded {
            Ok(plugin) => registry.add(
                LoadedPlugin {
                    plugin: Arc::new(plugin),
                    origin,
                    sha256: hex::encode(hash),
                },
                &mut warnings,
            ),
            Err(e) => warnings.push(LoadWarning {
                plugin: name,
                message: e.to_string(),
            }),
        }
    }
    (registry, warnings)
}

/// An installed or project plugin: read-only on the project unless the configuration grants more.
fn third_party(
    settings: &WasmcodeSettings,
    name: String,
    bytes: Vec<u8>,
    hash: [u8; 32],
    origin: Origin,
) -> Candidate {
    Candidate {
        grants: settings.grants_for(&name, Grants::read_only()),
        limits: settings.limits_for(&name),
        name,
        bytes: Cow::Owned(bytes),
        hash,
        origin,
    }
}

/// The project's own plugin directory.
pub fn project_plugin_dir(project: &Path) -> PathBuf {
    project.join(".wasmcode").join("plugins")
}

/// The trusted plugins of the project's own plugin directory, by file name.
fn project_candidates(
    paths: &Paths,
    settings: &WasmcodeSettings,
    project: &Path,
    candidates: &mut Vec<Candidate>,
    warnings: &mut Vec<LoadWarning>,
) {
    let Ok(entries) = std::fs::read_dir(project_plugin_dir(project)) else {
        return;
    };
    let trust = trust::TrustList::load(&paths.trust_file()).unwrap_or_default();
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    files.sort();
    for file in files {
        let name = installed::name_from_path(&file);
        let Ok(bytes) = std::fs::read(&file) else { continue };
        let hash = crate::runtime::sha256(&bytes);
        if !trust.is_trusted(&hex::encode(hash)) {
            warnings.push(LoadWarning {
                plugin: name,
                message: format!(
                    "project plugin {} is not trusted and was not loaded; run `wasmcode plugin trust {}` to allow it",
                    file.display(),
                    file.display()
                ),
            });
            continue;
        }
        candidates.push(third_party(settings, name, bytes, hash, Origin::Project(file)));
    }
}

/// Why `plugin install` refused a component.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid plugin name `{0}`: use lowercase letters, digits and `-` (pass --name to choose one)")]
    Name(String),
    #[error("a plugin named `{0}` is already installed (remove it first, or pass --force)")]
    Exists(String),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{0}")]
    Conflict(String),
    #[error("cannot write the plugin: {0}")]
    Write(std::io::Error),
}

/// Validates and installs the component at `path` (world check, import check, trial
/// instantiation, `describe`), refusing tool ids that clash with loaded tools.
pub async fn install(
    runtime: &Runtime,
    paths: &Paths,
    path: &Path,
    name: Option<String>,
    force: bool,
) -> Result<installed::Manifest, InstallError> {
    let bytes = std::fs::read(path).map_err(|source| InstallError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = name.unwrap_or_else(|| installed::name_from_path(path));
    if !installed::valid_name(&name) {
        return Err(InstallError::Name(name));
    }
    let store = installed::PluginStore::new(paths.plugins_dir());
    if store.exists(&name) && !force {
        return Err(InstallError::Exists(name));
    }
    let hash = crate::runtime::sha256(&bytes);
    let kind = runtime.kind_of(&name, &bytes, &hash).await?;
    let first_party_name = match kind {
        PluginKind::Tool => false,
        PluginKind::Provider => first_party::provider(&name).is_some(),
        PluginKind::Formatter => first_party::formatter(&name).is_some(),
    };
    if first_party_name {
        return Err(InstallError::Conflict(format!(
            "{name}: a first-party {kind} has this name; install it under another (--name)"
        )));
    }
    let mut manifest = installed::Manifest {
        name: name.clone(),
        kind,
        sha256: hex::encode(hash),
        source: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        tools: Vec::new(),
        extensions: Vec::new(),
        imports: Vec::new(),
    };
    match kind {
        PluginKind::Tool => {
            let plugin = runtime
                .load_tool_plugin(
                    &name,
                    &bytes,
                    &hash,
                    Grants::read_only(),
                    Default::default(),
                    true,
                )
                .await?;
            if plugin.tools.is_empty() {
                return Err(InstallError::Conflict(format!("{name}: describes no tools")));
            }
            let (existing, _) = load_all(runtime, paths, &WasmcodeSettings::default(), None).await;
            for spec in &plugin.tools {
                if let Some(owner) = existing.plugin_for(&spec.id)
                    && &*owner.name != name.as_str()
                {
                    return Err(InstallError::Conflict(format!(
                        "{name}: tool `{}` is already provided by plugin `{}`",
                        spec.id, owner.name
                    )));
                }
            }
            manifest.tools = plugin.tools.iter().map(|t| t.id.clone()).collect();
            manifest.imports = plugin.imports;
        }
        PluginKind::Provider => {
            let plugin = runtime
                .load_provider_plugin(&name, &bytes, &hash, Default::default())
                .await?;
            manifest.imports = plugin.imports;
        }
        PluginKind::Formatter => {
            let plugin = runtime
                .load_formatter_plugin(&name, &bytes, &hash, Default::default())
                .await?;
            manifest.extensions = plugin.extensions;
            manifest.imports = plugin.imports;
        }
    }
    store.install(&manifest, &bytes).map_err(InstallError::Write)?;
    Ok(manifest)
}

/// Why a provider block's `plugin` cannot run it.
pub fn provider_plugin_problem(paths: &Paths, plugin: &str) -> Option<String> {
    if first_party::provider(plugin).is_some() {
        return None;
    }
    let store = installed::PluginStore::new(paths.plugins_dir());
    match store.find(plugin) {
        Some(found) if found.manifest.kind == PluginKind::Provider => None,
        Some(found) => Some(format!(
            "`{plugin}` is a {} plugin, not a provider plugin",
            found.manifest.kind
        )),
        None => {
            let mut providers: Vec<String> = first_party::FIRST_PARTY_PROVIDERS
                .iter()
                .map(|p| p.name.to_string())
                .collect();
            providers.extend(
                store
                    .list()
                    .into_iter()
                    .flatten()
                    .filter(|p| p.manifest.kind == PluginKind::Provider)
                    .map(|p| p.manifest.name),
            );
            Some(format!(
                "no provider plugin named `{plugin}` is installed (install one with `wasmcode plugin install \
                 <component.wasm>`; the providers here: {})",
                providers.join(", ")
            ))
        }
    }
}
