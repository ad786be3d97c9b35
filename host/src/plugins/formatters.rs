//! The formatters of an instance: the installed formatter components, under OpenCode's
//! `formatter` configuration (`false` turns every one off; `formatter.<name>.disabled`;
//! `formatter.<name>.extensions` replaces the extensions a formatter handles). A `command`
//! formatter, an external program, is refused: formatters here are sandboxed components.
//!
//! It chooses the formatter of a file by its extension and formats a file of the project in
//! place; a formatter that declines, traps or runs out of time leaves the file as it was.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::first_party;
use super::installed::PluginStore;
use super::{LoadWarning, PluginKind};
use crate::config::WasmcodeSettings;
use crate::paths::Paths;
use crate::project::ProjectRoot;
use crate::runtime::{FormatError, FormatterPlugin, Runtime};

/// One formatter as the instance uses it.
pub struct Formatter {
    pub plugin: Arc<FormatterPlugin>,
    /// Without the dot.
    pub extensions: Vec<String>,
    pub enabled: bool,
}

#[derive(Default)]
pub struct FormatterSet {
    formatters: Vec<Formatter>,
}

/// What formatting a changed file came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Formatted {
    /// The formatter rewrote the file.
    Changed { formatter: String },
    /// The formatter found it formatted already.
    Unchanged { formatter: String },
    /// The file was left as written: the formatter declined or failed.
    Failed { formatter: String, reason: String },
}

impl FormatterSet {
    /// Every formatter, in load order.
    pub fn all(&self) -> &[Formatter] {
        &self.formatters
    }

    /// The enabled formatter of the file at `path`, by its extension.
    pub fn for_path(&self, path: &Path) -> Option<&Formatter> {
        let extension = path.extension()?.to_str()?;
        self.formatters
            .iter()
            .find(|f| f.enabled && f.extensions.iter().any(|e| e == extension))
    }

    /// Formats `file` (absolute in the project, or relative to it) in place with its formatter;
    /// `None` when it has none, or is not a file of the project.
    pub async fn format_file(&self, runtime: &Runtime, root: &ProjectRoot, file: &str) -> Option<Formatted> {
        let rel = root.resolve(file).ok()?;
        let formatter = self.for_path(&rel)?;
        let name = formatter.plugin.name.to_string();
        let content = root.dir().read_to_string(&rel).ok()?;
        let shown = rel.to_string_lossy();
        match runtime.format(&formatter.plugin, &shown, &content).await {
            Ok(formatted) if formatted == content => Some(Formatted::Unchanged { formatter: name }),
            Ok(formatted) => match root.dir().write(&rel, formatted) {
                Ok(()) => Some(Formatted::Changed { formatter: name }),
                Err(e) => Some(Formatted::Failed {
                    formatter: name,
                    reason: format!("cannot write the formatted file: {e}"),
                }),
            },
            Err(FormatError::Declined(reason) | FormatError::Fault(reason)) => {
                tracing::info!(formatter = %name, file = %shown, "left as written: {reason}");
                Some(Formatted::Failed {
                    formatter: name,
                    reason,
                })
            }
        }
    }
}

/// What the configuration says of one formatter.
#[derive(Default)]
struct Setting {
    disabled: bool,
    extensions: Option<Vec<String>>,
}

/// Loads the installed formatters under the `formatter` configuration (`raw`: the whole merged
/// configuration) and the plugins' `enabled` settings.
pub async fn load(
    runtime: &Runtime,
    paths: &Paths,
    settings: &WasmcodeSettings,
    raw: &Value,
) -> (FormatterSet, Vec<LoadWarning>) {
    let mut warnings = Vec::new();
    let all_off = raw.get("formatter") == Some(&Value::Bool(false));
    let configured = |name: &str| -> Setting {
        let Some(entry) = raw.get("formatter").and_then(|f| f.get(name)) else {
            return Setting::default();
        };
        Setting {
            disabled: entry.get("disabled") == Some(&Value::Bool(true)),
            extensions: entry.get("extensions").and_then(Value::as_array).map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(|e| e.trim_start_matches('.').to_string())
                    .collect()
            }),
        }
    };
    let store = PluginStore::new(paths.plugins_dir());
    let mut set = FormatterSet::default();
    // The first-party formatters, then the installed ones: an installed formatter of an extension
    // a first-party one formats takes over only where that one is disabled.
    // Embedded bytes are borrowed: an instance (and each reload) loads every formatter.
    let embedded = first_party::FIRST_PARTY_FORMATTERS
        .iter()
        .map(|e| (e.name.to_string(), Ok((Cow::Borrowed(e.bytes), e.sha256))));
    let installed = store
        .list()
        .into_iter()
        .flatten()
        .filter(|p| p.manifest.kind == PluginKind::Formatter)
        .map(|p| {
            let read = store
                .read_verified(&p)
                .map(|(bytes, hash)| (Cow::Owned(bytes), hash));
            (p.manifest.name.clone(), read)
        });
    // Loaded side by side (a cold start compiles each one), kept in this order.
    let loads = embedded
        .chain(installed)
        .filter(|(name, _)| settings.enabled(name))
        .map(|(name, read)| async move {
            let loaded = match read {
                Ok((bytes, hash)) => runtime
                    .load_formatter_plugin(&name, &bytes, &hash, settings.limits_for(&name))
                    .await
                    .map_err(|e| e.to_string()),
                Err(message) => Err(message),
            };
            (name, loaded)
        });
    for (name, loaded) in futures_util::future::join_all(loads).await {
        match loaded {
            Ok(plugin) => {
                let setting = configured(&name);
                let extensions = setting.extensions.unwrap_or_else(|| plugin.extensions.clone());
                set.formatters.push(Formatter {
                    plugin: Arc::new(plugin),
                    extensions,
                    enabled: !all_off && !setting.disabled,
                });
            }
            Err(message) => warnings.push(LoadWarning {
                plugin: name,
                message,
            }),
        }
    }
    if let Some(Value::Object(entries)) = raw.get("formatter") {
        for (name, entry) in entries {
            let known = set.formatters.iter().any(|f| &*f.plugin.name == name.as_str());
            if !known && entry.get("command").is_some() && entry.get("disabled") != Some(&Value::Bool(true)) {
                warnings.push(LoadWarning {
                    plugin: name.clone(),
                    message: format!(
                        "formatter `{name}` is an external command, which wasmcode does not run: formatters \
                         are sandboxed components (install one with `wasmcode plugin install`)"
                    ),
                });
            }
        }
    }
    (set, warnings)
}
