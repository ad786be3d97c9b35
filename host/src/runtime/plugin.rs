//! Loading a component as a tool plugin: compile (or take from the cache), check that it is of
//! the `tool-plugin` world and that the host can satisfy its imports, pre-link it once, and
//! learn its tools.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Engine, Store};

use super::bindings::tool::ToolPluginPre;
use super::error::LoadError;
use super::fault::guest_trap_reason;
use super::grants::Grants;
use super::limits::Limits;
use super::store::StoreState;

/// The interface a tool plugin must export.
pub const TOOL_EXPORT: &str = "wasmcode:plugin/tool@0.1.0";

/// One tool as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub id: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

/// A loaded tool plugin, ready to run calls: each call instantiates `pre` in a fresh store.
pub struct ToolPlugin {
    pub name: Arc<str>,
    pub tools: Vec<ToolSpec>,
    pub grants: Grants,
    pub limits: Limits,
    /// What the component imports (interface names without versions): its capability request.
    pub imports: Vec<String>,
    pub(super) pre: ToolPluginPre<StoreState>,
}

impl std::fmt::Debug for ToolPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolPlugin")
            .field("name", &self.name)
            .field("tools", &self.tools.iter().map(|t| &t.id).collect::<Vec<_>>())
            .field("grants", &self.grants)
            .finish()
    }
}

/// Interface names, without `@version`, of a component's exports or imports.
pub fn interface_names(engine: &Engine, component: &Component, exports: bool) -> Vec<String> {
    let ty = component.component_type();
    if exports {
        ty.exports(engine).map(|(name, _)| name.to_string()).collect()
    } else {
        ty.imports(engine).map(|(name, _)| name.to_string()).collect()
    }
}

fn without_version(name: &str) -> &str {
    name.split('@').next().unwrap_or(name)
}

/// Turns `Component::new`'s parse errors into what a plugin author needs to hear.
pub fn compile_error(name: &str, bytes: &[u8], error: wasmtime::Error) -> LoadError {
    // A core module starts with `\0asm` version 1; a component with the same magic and layer 1.
    if bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0] {
        return LoadError::CoreModule {
            name: name.to_string(),
        };
    }
    LoadError::Invalid {
        name: name.to_string(),
        reason: format!("{error:#}"),
    }
}

/// Checks the component's world and imports, pre-links it, and (when `describe` is true) runs a
/// trial instantiation that calls `describe()`. Returns the pre-linked component, its imports,
/// and its tools if described.
pub(super) async fn link(
    engine: &Engine,
    linker: &Linker<StoreState>,
    name: &str,
    component: &Component,
    describe_with: Option<Store<StoreState>>,
) -> Result<(ToolPluginPre<StoreState>, Vec<String>, Option<Vec<ToolSpec>>), LoadError> {
    if let Err(found) = check_export(engine, component, TOOL_EXPORT) {
        return Err(LoadError::WrongWorld {
            name: name.to_string(),
            expected: TOOL_EXPORT.to_string(),
            found,
        });
    }
    let imports = interface_names(engine, component, false);
    let instance_pre = pre_link(linker, name, component, &imports)?;
    let pre = ToolPluginPre::new(instance_pre).map_err(|e| LoadError::WrongWorld {
        name: name.to_string(),
        expected: TOOL_EXPORT.to_string(),
        found: format!("an incompatible `tool` interface ({e:#})"),
    })?;

    let tools = match describe_with {
        None => None,
        Some(mut store) => {
            // Signatures of exports are only type-checked at instantiation, so this trial run is
            // what proves the component really implements the world.
            let instance =
                pre.instantiate_async(&mut store)
                    .await
                    .map_err(|e| LoadError::InstantiateTrap {
                        name: name.to_string(),
                        reason: guest_trap_reason(&e, store.data()),
                    })?;
            let specs = instance
                .wasmcode_plugin_tool()
                .call_describe(&mut store)
                .await
                .map_err(|e| LoadError::Describe {
                    name: name.to_string(),
                    reason: guest_trap_reason(&e, store.data()),
                })?;
            Some(parse_specs(name, specs)?)
        }
    };
    Ok((pre, imports, tools))
}

/// Checks that `component` exports the interface `export` (compared without versions); the
/// error lists what it exports instead.
pub(super) fn check_export(engine: &Engine, component: &Component, export: &str) -> Result<(), String> {
    let exports = interface_names(engine, component, true);
    let expected = without_version(export);
    if exports.iter().any(|e| without_version(e) == expected) {
        return Ok(());
    }
    Err(if exports.is_empty() {
        "nothing".to_string()
    } else {
        exports
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// Resolves `component`'s imports against `linker` once; an import the host does not provide is
/// named in the error.
pub(super) fn pre_link<T>(
    linker: &Linker<T>,
    name: &str,
    component: &Component,
    imports: &[String],
) -> Result<InstancePre<T>, LoadError> {
    linker.instantiate_pre(component).map_err(|e| {
        let text = format!("{e:#}");
        let import = imports
            .iter()
            .find(|i| text.contains(i.as_str()))
            .cloned()
            .unwrap_or_else(|| "an interface".to_string());
        LoadError::UnsupportedImport {
            name: name.to_string(),
            import,
            reason: text,
        }
    })
}

fn parse_specs(
    name: &str,
    specs: Vec<super::bindings::tool::wasmcode::plugin::types::ToolSpec>,
) -> Result<Vec<ToolSpec>, LoadError> {
    specs
        .into_iter()
        .map(|spec| {
            if spec.id.is_empty()
                || !spec
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(LoadError::BadToolSpec {
                    name: name.to_string(),
                    reason: format!(
                        "tool id {:?} must be non-empty ASCII letters, digits, `_` or `-`",
                        spec.id
                    ),
                });
            }
            let parameters: serde_json::Value =
                serde_json::from_str(&spec.parameters_schema).map_err(|e| LoadError::BadToolSpec {
                    name: name.to_string(),
                    reason: format!("the schema of `{}` is not JSON: {e}", spec.id),
                })?;
            if !parameters.is_object() {
                return Err(LoadError::BadToolSpec {
                    name: name.to_string(),
                    reason: format!("the schema of `{}` is not a JSON object", spec.id),
                });
            }
            Ok(ToolSpec {
                id: spec.id,
                description: spec.description,
                parameters,
            })
        })
        .collect()
}
