//! Where the plugin set comes from, watched: the installed plugins and the trust list (the data
//! dir), and the global configuration (its grants, limits and `enabled`). A change there calls
//! back, so the server can reload its plugins without a restart. A project's own sources (its
//! `opencode.json`, its `.wasmcode/plugins/`) are told apart by [`is_project_source`], for the
//! project's file watcher to report.

use std::path::{Component, Path};

use notify::{EventKindMask, RecursiveMode, Watcher};

use crate::paths::Paths;

/// A running watch of the server-wide plugin sources; dropping it stops it.
pub struct SourceWatch {
    _files: notify::RecommendedWatcher,
    _edits: notify::RecommendedWatcher,
}

/// Watches the data dir (the trust list, the plugins directory and everything in it) and the
/// global configuration directory, creating them if missing; `changed` runs on a watcher's
/// thread at every change and must be quick.
///
/// The data dir also holds the session store, written at every step of every turn: it is watched
/// for files created, removed and renamed only (installs and the trust list are written by
/// renaming a complete file into place), so those writes wake nothing. The configuration, which
/// editors may write in place, is watched for every change.
pub fn watch_sources(
    paths: &Paths,
    changed: impl Fn() + Send + Sync + 'static,
) -> notify::Result<SourceWatch> {
    let plugins = paths.plugins_dir();
    let trust = paths.trust_file();
    let config = paths.config.clone();
    for dir in [&plugins, &config] {
        std::fs::create_dir_all(dir).map_err(notify::Error::io)?;
    }
    let changed = std::sync::Arc::new(changed);
    let handler = |relevant: Box<dyn Fn(&Path) -> bool + Send>| {
        let changed = changed.clone();
        move |event: notify::Result<notify::Event>| match event {
            Ok(event) if event.paths.iter().any(|p| relevant(p)) => changed(),
            Ok(_) => {}
            // Lost events: anything may have changed.
            Err(_) => changed(),
        }
    };
    let names_only = EventKindMask::CREATE | EventKindMask::REMOVE | EventKindMask::MODIFY_NAME;
    let mut files = notify::RecommendedWatcher::new(
        handler(Box::new(move |path: &Path| {
            path.starts_with(&plugins) || path == trust
        })),
        notify::Config::default().with_event_kinds(names_only),
    )?;
    files.watch(&paths.plugins_dir(), RecursiveMode::Recursive)?;
    files.watch(&paths.data, RecursiveMode::NonRecursive)?;
    let config_dir = config.clone();
    let mut edits = notify::RecommendedWatcher::new(
        handler(Box::new(move |path: &Path| {
            path.parent() == Some(config_dir.as_path()) && is_config_file(path)
        })),
        notify::Config::default().with_event_kinds(EventKindMask::CORE),
    )?;
    edits.watch(&config, RecursiveMode::NonRecursive)?;
    Ok(SourceWatch {
        _files: files,
        _edits: edits,
    })
}

fn is_config_file(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name == "opencode.json" || name == "opencode.jsonc")
}

/// Whether `rel`, a path relative to a project's directory, is one of the project's plugin
/// sources: its configuration, or a file in its plugin directory.
pub fn is_project_source(rel: &Path) -> bool {
    let mut components = rel.components();
    match (components.next(), components.next(), components.next()) {
        (Some(Component::Normal(name)), None, None) => is_config_file(Path::new(name)),
        (Some(Component::Normal(dot)), Some(Component::Normal(plugins)), _) => {
            dot == ".wasmcode" && plugins == "plugins"
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_sources_are_its_configuration_and_its_plugins() {
        for (rel, expected) in [
            ("opencode.json", true),
            ("opencode.jsonc", true),
            (".wasmcode/plugins/a.wasm", true),
            (".wasmcode/plugins", true),
            ("src/opencode.json", false),
            (".wasmcode/other", false),
            ("README.md", false),
        ] {
            assert_eq!(is_project_source(Path::new(rel)), expected, "{rel}");
        }
    }
}
