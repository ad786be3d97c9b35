//! # wasmcode-plugin
//!
//! Write tools for [wasmcode](https://github.com/) in Rust. A tool is a struct with typed
//! arguments and one method; [`export_tools!`] turns any number of them into a WebAssembly
//! component of the `wasmcode:plugin/tool-plugin` world. Build it with
//! `cargo build --release --target wasm32-wasip2` and install it with
//! `wasmcode plugin install target/wasm32-wasip2/release/<name>.wasm`.
//!
//! ```
//! use wasmcode_plugin::{Context, JsonSchema, Output, Tool, ToolError, export_tools};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(rename_all = "camelCase")]
//! struct Args {
//!     /// The file to count lines in, absolute or relative to the project
//!     file_path: String,
//! }
//!
//! struct LineCount;
//!
//! impl Tool for LineCount {
//!     const ID: &'static str = "line_count";
//!     const DESCRIPTION: &'static str = "Counts the lines of a text file.";
//!     type Args = Args;
//!
//!     fn execute(args: Args, ctx: &Context) -> Result<Output, ToolError> {
//!         let path = ctx.resolve(&args.file_path)?;
//!         let text = std::fs::read_to_string(&path)
//!             .map_err(|e| ToolError::failed(format!("cannot read {}: {e}", args.file_path)))?;
//!         let lines = text.lines().count();
//!         Ok(Output::new(args.file_path, format!("{lines} lines")).metadata(serde_json::json!({ "lines": lines })))
//!     }
//! }
//!
//! export_tools!(LineCount);
//! ```
//!
//! What a plugin may touch is decided by the operator, not the plugin: the project directory is
//! visible as `.` (read-only unless granted read-write), [`process::run`] works only with the
//! `process` grant, outgoing HTTP only to granted hosts. Everything else (environment, sockets,
//! the rest of the filesystem) does not exist inside the component.

// The generated bindings and the export macro name this crate by its public path.
extern crate self as wasmcode_plugin;

use std::path::{Component, Path, PathBuf};

pub use schemars::{self, JsonSchema};
pub use serde;
pub use serde_json;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "tool-plugin",
        path: "../wit",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_tool_plugin",
        default_bindings_module: "::wasmcode_plugin::bindings",
        runtime_path: "::wasmcode_plugin::__private::wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    pub use crate::bindings::exports::wasmcode::plugin::tool::Guest;
    pub use crate::bindings::wasmcode::plugin::types as wit;
}

use bindings::wasmcode::plugin::{host, types as wit};

/// One tool: an id, a description for the model, typed arguments and the call itself.
pub trait Tool {
    /// The id the model calls the tool by. Must be unique among all loaded plugins.
    const ID: &'static str;
    /// What the tool does, written for the model.
    const DESCRIPTION: &'static str;
    /// The arguments; their JSON Schema is generated from the type (doc comments become
    /// descriptions).
    type Args: serde::de::DeserializeOwned + JsonSchema;

    fn execute(args: Self::Args, ctx: &Context) -> Result<Output, ToolError>;
}

/// What a call returns: a title for people, the text the model reads, and structured metadata.
#[derive(Debug, Clone)]
pub struct Output {
    pub title: String,
    pub output: String,
    pub metadata: serde_json::Value,
}

impl Output {
    pub fn new(title: impl Into<String>, output: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            output: output.into(),
            metadata: serde_json::json!({}),
        }
    }

    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }
}

/// Why a call failed; the message is what the model sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The arguments were wrong in a way the schema could not express.
    InvalidArgs(String),
    /// The user refused a permission; carries their feedback if any.
    Rejected(Option<String>),
    /// A permission rule refused the call; carries the rule.
    Denied(String),
    /// The call ran and failed.
    Failed(String),
}

impl ToolError {
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    pub fn invalid_args(message: impl Into<String>) -> Self {
        Self::InvalidArgs(message.into())
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidArgs(m) | Self::Failed(m) => f.write_str(m),
            Self::Denied(rule) => write!(f, "permission denied: {rule}"),
            Self::Rejected(Some(m)) => write!(f, "permission rejected: {m}"),
            Self::Rejected(None) => f.write_str("permission rejected"),
        }
    }
}

impl From<ToolError> for wit::ToolError {
    fn from(e: ToolError) -> Self {
        match e {
            ToolError::InvalidArgs(m) => wit::ToolError::InvalidArgs(m),
            ToolError::Rejected(m) => wit::ToolError::Rejected(m),
            ToolError::Denied(m) => wit::ToolError::Denied(m),
            ToolError::Failed(m) => wit::ToolError::Failed(m),
        }
    }
}

/// A permission to ask for before acting (OpenCode's names: `read`, `edit`, `bash`, ...).
#[derive(Debug, Clone)]
pub struct Permission {
    pub permission: String,
    pub patterns: Vec<String>,
    pub always: Vec<String>,
    pub metadata: serde_json::Value,
}

impl Permission {
    /// Asks for `permission` on `patterns`; "always" remembers the same patterns.
    pub fn new(permission: impl Into<String>, patterns: Vec<String>) -> Self {
        Self {
            permission: permission.into(),
            always: patterns.clone(),
            patterns,
            metadata: serde_json::json!({}),
        }
    }

    pub fn always(mut self, always: Vec<String>) -> Self {
        self.always = always;
        self
    }

    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }
}

/// The call's context: who is calling, and the project the component can see.
#[derive(Debug, Clone)]
pub struct Context {
    pub session_id: String,
    pub message_id: String,
    pub call_id: String,
    pub agent: String,
    /// Absolute host path of the project root (visible inside the component as `.`).
    pub directory: String,
}

impl Context {
    #[doc(hidden)]
    pub fn from_wit(ctx: wit::ToolContext) -> Self {
        Self {
            session_id: ctx.session_id,
            message_id: ctx.message_id,
            call_id: ctx.call_id,
            agent: ctx.agent,
            directory: ctx.directory,
        }
    }

    /// Turns a path the model sent (absolute inside the project, or relative to it) into the
    /// project-relative path the component opens. Paths that leave the project are refused here
    /// with a clear message; the host's sandbox refuses them anyway.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, ToolError> {
        project_relative(Path::new(&self.directory), Path::new(path)).ok_or_else(|| {
            ToolError::failed(format!(
                "{path} is outside the project directory {}; tools can only reach files inside it",
                self.directory
            ))
        })
    }

    /// The absolute host path of a project-relative path, for titles and messages.
    pub fn display(&self, relative: &Path) -> String {
        let rel = relative.to_string_lossy();
        if rel.is_empty() || rel == "." {
            self.directory.clone()
        } else {
            format!(
                "{}/{}",
                self.directory.trim_end_matches('/'),
                rel.trim_start_matches("./")
            )
        }
    }

    /// Asks for a permission and waits for the answer. `Err` carries the refusal, ready to return
    /// from `execute`.
    pub fn ask(&self, permission: Permission) -> Result<(), ToolError> {
        let request = host::PermissionRequest {
            permission: permission.permission,
            patterns: permission.patterns,
            always: permission.always,
            metadata_json: permission.metadata.to_string(),
        };
        host::ask_permission(&request).map_err(|denied| match denied {
            host::PermissionDenied::Rejected(feedback) => ToolError::Rejected(feedback),
            host::PermissionDenied::Denied(rule) => ToolError::Denied(rule),
        })
    }

    /// Updates the running call's title and metadata for clients watching it.
    pub fn progress(&self, title: &str, metadata: serde_json::Value) {
        host::progress(title, &metadata.to_string());
    }
}

/// Lexically resolves `path` against the project root without touching the filesystem.
/// Returns `None` when the result would leave the root.
fn project_relative(root: &Path, path: &Path) -> Option<PathBuf> {
    let relative = if path.is_absolute() {
        path.strip_prefix(root).ok()?
    } else {
        path
    };
    let mut out = PathBuf::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    if out.as_os_str().is_empty() {
        Some(PathBuf::from("."))
    } else {
        Some(out)
    }
}

/// Writing to the server's log, tagged with the plugin's name.
pub mod log {
    use crate::bindings::wasmcode::plugin::{host, types::LogLevel};

    pub fn debug(message: &str) {
        host::log(LogLevel::Debug, message);
    }
    pub fn info(message: &str) {
        host::log(LogLevel::Info, message);
    }
    pub fn warn(message: &str) {
        host::log(LogLevel::Warn, message);
    }
    pub fn error(message: &str) {
        host::log(LogLevel::Error, message);
    }
}

/// Running shell commands (needs the `process` grant).
pub mod process {
    pub use crate::bindings::wasmcode::plugin::process::{ProcessError, RunOutput, RunRequest};

    /// Runs `request.command` with `bash -c` in the project, killing its process group at the
    /// timeout.
    pub fn run(request: &RunRequest) -> Result<RunOutput, ProcessError> {
        crate::bindings::wasmcode::plugin::process::run(request)
    }
}

/// The JSON Schema of a tool's arguments, shaped like OpenCode's: draft 2020-12, no title,
/// optional fields as their plain type rather than `T | null`.
pub fn schema_of<T: JsonSchema>() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    if let Some(object) = schema.as_object_mut() {
        object.remove("title");
    }
    strip_null_types(&mut schema);
    schema
}

fn strip_null_types(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            for child in map.values_mut() {
                strip_null_types(child);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_null_types),
        _ => {}
    }
}

#[doc(hidden)]
pub fn describe<T: Tool>() -> wit::ToolSpec {
    wit::ToolSpec {
        id: T::ID.to_string(),
        description: T::DESCRIPTION.to_string(),
        parameters_schema: schema_of::<T::Args>().to_string(),
    }
}

#[doc(hidden)]
pub fn execute<T: Tool>(args_json: &str, ctx: wit::ToolContext) -> Result<wit::ToolOutput, wit::ToolError> {
    let args: T::Args = serde_json::from_str(args_json).map_err(|e| {
        wit::ToolError::InvalidArgs(format!(
            "The {} tool was called with invalid arguments: {e}. Rewrite the input so it satisfies the expected schema.",
            T::ID
        ))
    })?;
    let output = T::execute(args, &Context::from_wit(ctx)).map_err(wit::ToolError::from)?;
    Ok(wit::ToolOutput {
        title: output.title,
        output: output.output,
        metadata_json: output.metadata.to_string(),
    })
}

/// Exports the listed [`Tool`]s as this component's `wasmcode:plugin/tool` interface.
/// Call it once, at the crate root.
#[macro_export]
macro_rules! export_tools {
    ($($tool:ty),+ $(,)?) => {
        #[doc(hidden)]
        pub struct __WasmcodeTools;

        impl $crate::__private::Guest for __WasmcodeTools {
            fn describe() -> ::std::vec::Vec<$crate::__private::wit::ToolSpec> {
                ::std::vec![$($crate::describe::<$tool>()),+]
            }

            fn execute(
                id: ::std::string::String,
                args_json: ::std::string::String,
                ctx: $crate::__private::wit::ToolContext,
            ) -> ::std::result::Result<$crate::__private::wit::ToolOutput, $crate::__private::wit::ToolError> {
                $(
                    if id == <$tool as $crate::Tool>::ID {
                        return $crate::execute::<$tool>(&args_json, ctx);
                    }
                )+
                ::std::result::Result::Err($crate::__private::wit::ToolError::UnknownTool(id))
            }
        }

        // Component export names (`wasmcode:plugin/tool@0.1.0#describe`) only link for wasm;
        // native builds of a plugin crate (its unit tests) leave them out.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_tool_plugin!(__WasmcodeTools with_types_in $crate::bindings);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_paths_inside_the_project() {
        let root = Path::new("/work/p");
        assert_eq!(
            project_relative(root, Path::new("/work/p/src/a.rs")),
            Some("src/a.rs".into())
        );
        assert_eq!(
            project_relative(root, Path::new("src/../b.rs")),
            Some("b.rs".into())
        );
        assert_eq!(project_relative(root, Path::new("/work/p")), Some(".".into()));
        assert_eq!(project_relative(root, Path::new("./")), Some(".".into()));
    }

    #[test]
    fn refuses_paths_that_leave_the_project() {
        let root = Path::new("/work/p");
        assert_eq!(project_relative(root, Path::new("/etc/passwd")), None);
        assert_eq!(project_relative(root, Path::new("/work/pother/x")), None);
        assert_eq!(project_relative(root, Path::new("../secret")), None);
        assert_eq!(project_relative(root, Path::new("a/../../secret")), None);
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code, reason = "only the schema is under test")]
    struct Sample {
        /// The path
        file_path: String,
        /// How many
        limit: Option<u32>,
    }

    #[test]
    fn schema_looks_like_opencode() {
        let schema = schema_of::<Sample>();
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(schema["type"], "object");
        assert!(schema.get("title").is_none());
        assert_eq!(schema["properties"]["filePath"]["description"], "The path");
        assert_eq!(schema["properties"]["limit"]["type"], "integer");
        assert_eq!(schema["required"], serde_json::json!(["filePath"]));
    }
}

/// The Rust examples of the repository's README compile as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
