//! Formatter plugins: loading a `formatter-plugin` component, a pure function of a file's path
//! and content (its store has no directory, no network, no process), and reading the extensions it
//! handles. Loading instantiates it once and calls `extensions`, which is what proves it
//! implements the world.

use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::bindings::formatter::FormatterPluginPre;
use super::bindings::formatter::exports::wasmcode::plugin::formatter::FormatError as WitFormatError;
use super::capability::SetupError;
use super::error::LoadError;
use super::fault::{GuestFault, classify, guest_trap_reason};
use super::grants::Grants;
use super::limits::Limits;
use super::meter::Metering;
use super::plugin::{check_export, interface_names, pre_link};
use super::store::{StoreSpec, StoreState, Stores};

/// The interface a formatter plugin must export.
pub const FORMATTER_EXPORT: &str = "wasmcode:plugin/formatter@0.1.0";

/// A loaded formatter plugin: each call instantiates `pre` in a fresh store.
#[derive(Clone)]
pub struct FormatterPlugin {
    pub name: Arc<str>,
    pub limits: Limits,
    /// What the component imports (interface names).
    pub imports: Vec<String>,
    /// The file extensions it handles, without the dot.
    pub extensions: Vec<String>,
    pre: FormatterPluginPre<StoreState>,
}

impl std::fmt::Debug for FormatterPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormatterPlugin")
            .field("name", &self.name)
            .field("extensions", &self.extensions)
            .finish()
    }
}

pub(super) async fn load(
    engine: &Engine,
    stores: &Stores,
    linker: &Linker<StoreState>,
    name: &str,
    component: &Component,
    limits: Limits,
) -> Result<FormatterPlugin, LoadError> {
    let not_a_formatter = |found: String| LoadError::NotAFormatter {
        name: name.to_string(),
        expected: FORMATTER_EXPORT.to_string(),
        found,
    };
    check_export(engine, component, FORMATTER_EXPORT).map_err(not_a_formatter)?;
    let imports = interface_names(engine, component, false);
    let instance_pre = pre_link(linker, name, component, &imports)?;
    let pre = FormatterPluginPre::new(instance_pre)
        .map_err(|e| not_a_formatter(format!("an incompatible `formatter` interface ({e:#})")))?;
    let name: Arc<str> = name.into();
    let trapped = |reason: String| LoadError::InstantiateTrap {
        name: name.to_string(),
        reason,
    };
    let mut store = new_store(stores, &name, limits).map_err(|e| trapped(e.0))?;
    let instance = pre
        .instantiate_async(&mut store)
        .await
        .map_err(|e| trapped(guest_trap_reason(&e, store.data())))?;
    let extensions = instance
        .wasmcode_plugin_formatter()
        .call_extensions(&mut store)
        .await
        .map_err(|e| LoadError::Describe {
            name: name.to_string(),
            reason: guest_trap_reason(&e, store.data()),
        })?;
    if extensions.is_empty()
        || extensions
            .iter()
            .any(|e| e.is_empty() || e.starts_with('.') || e.contains(['/', ' ']))
    {
        return Err(LoadError::Describe {
            name: name.to_string(),
            reason: format!(
                "`extensions` must list at least one extension, each without the dot (got {extensions:?})"
            ),
        });
    }
    Ok(FormatterPlugin {
        name,
        limits,
        imports,
        extensions,
        pre,
    })
}

/// Why a formatter left a file as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The formatter declined: not its language, content it cannot parse, or its own failure.
    #[error("{0}")]
    Declined(String),
    /// The formatter crashed, or ran out of time or memory.
    #[error("{0}")]
    Fault(String),
}

/// Formats `content`, the file at project-relative `path`, in a fresh instance of `plugin`.
pub(super) async fn format(
    stores: &Stores,
    plugin: &FormatterPlugin,
    path: &str,
    content: &str,
) -> Result<String, FormatError> {
    let mut store = new_store(stores, &plugin.name, plugin.limits).map_err(|e| FormatError::Fault(e.0))?;
    let fault = |store: &wasmtime::Store<StoreState>, error: &wasmtime::Error| {
        let limits = plugin.limits;
        FormatError::Fault(match classify(error, store.data()) {
            GuestFault::Timeout => format!("timed out after {} ms", limits.timeout_ms),
            GuestFault::OutOfMemory { requested } => format!(
                "ran out of memory (asked for {requested} bytes, limit {})",
                limits.memory_bytes
            ),
            GuestFault::Busy => "too many plugin calls at once".to_string(),
            GuestFault::Trap(reason) => reason,
        })
    };
    let instance = match plugin.pre.instantiate_async(&mut store).await {
        Ok(instance) => instance,
        Err(e) => return Err(fault(&store, &e)),
    };
    match instance
        .wasmcode_plugin_formatter()
        .call_format(&mut store, path, content)
        .await
    {
        Ok(Ok(formatted)) => Ok(formatted),
        Ok(Err(declined)) => Err(FormatError::Declined(match declined {
            WitFormatError::Unsupported(m) => format!("not a language it formats: {m}"),
            WitFormatError::Syntax(m) => format!("syntax error: {m}"),
            WitFormatError::Failed(m) => m,
        })),
        Err(e) => Err(fault(&store, &e)),
    }
}

/// A formatter's store: it may reach nothing, and its time limit counts wall-clock time.
fn new_store(
    stores: &Stores,
    plugin: &Arc<str>,
    limits: Limits,
) -> Result<wasmtime::Store<StoreState>, SetupError> {
    stores.new_store(StoreSpec::isolated(
        plugin,
        &Grants::nothing(),
        limits,
        Metering::WallClock,
    ))
}
