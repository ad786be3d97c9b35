//! Configuration: OpenCode's `opencode.json` / `opencode.jsonc` (comments and trailing commas
//! allowed) from the global config dir and the project, merged, with `OPENCODE_CONFIG_CONTENT`
//! on top. Unknown keys are kept. wasmcode's own settings live under the `wasmcode` key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::runtime::{Grants, Limits};
use crate::sandbox::SandboxSettings;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("{file}: {source}")]
    Io { file: String, source: std::io::Error },
}

/// The merged configuration, as JSON (what `GET /config` returns) plus wasmcode's typed part.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub raw: serde_json::Value,
    pub wasmcode: WasmcodeSettings,
}

/// The `wasmcode` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct WasmcodeSettings {
    /// Limits for every plugin call unless a plugin overrides them.
    pub limits: Option<Limits>,
    /// Per-plugin grants and limits, by plugin name.
    pub plugins: BTreeMap<String, PluginSettings>,
    /// How the agent loop retries and how many steps it takes.
    pub session: Option<LoopSettings>,
    /// How the commands the agent runs are confined.
    pub sandbox: SandboxSettings,
}

/// How the agent loop behaves: `wasmcode.session` in opencode.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LoopSettings {
    /// Steps (model calls) per prompt before the loop stops.
    pub max_steps: u32,
    /// Attempts per model call on connection errors, 429 and 5xx.
    pub retry_attempts: u32,
    /// First retry delay; it doubles per attempt up to `retry_max_delay_ms`.
    pub retry_initial_delay_ms: u64,
    pub retry_max_delay_ms: u64,
    /// A model stream that sends nothing for this long is treated as a connection error.
    pub stream_idle_timeout_ms: u64,
}

impl Default for LoopSettings {
    fn default() -> Self {
        Self {
            max_steps: 100,
            retry_attempts: 8,
            retry_initial_delay_ms: 2_000,
            retry_max_delay_ms: 30_000,
            stream_idle_timeout_ms: 300_000,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginSettings {
    /// Replaces the plugin's default grants.
    pub grants: Option<Grants>,
    pub limits: Option<Limits>,
    /// `false` keeps the plugin from loading.
    pub enabled: Option<bool>,
}

impl WasmcodeSettings {
    pub fn limits_for(&self, plugin: &str) -> Limits {
        self.plugins
            .get(plugin)
            .and_then(|p| p.limits)
            .or(self.limits)
            .unwrap_or_default()
    }

    pub fn grants_for(&self, plugin: &str, default: Grants) -> Grants {
        self.plugins
            .get(plugin)
            .and_then(|p| p.grants.clone())
            .unwrap_or(default)
    }

    pub fn enabled(&self, plugin: &str) -> bool {
        self.plugins.get(plugin).and_then(|p| p.enabled).unwrap_or(true)
    }
}

const FILE_NAMES: [&str; 2] = ["opencode.json", "opencode.jsonc"];

impl Config {
    /// Loads the global config from `global_dir`, then the project's, then
    /// `OPENCODE_CONFIG_CONTENT` (passed in, so tests do not touch the process environment).
    pub fn load(global_dir: &Path, project: &Path, inline: Option<&str>) -> Result<Self, ConfigError> {
        let mut merged = read_dir(global_dir)?;
        merge(&mut merged, read_dir(project)?);
        if let Some(text) = inline {
            merge(&mut merged, parse("OPENCODE_CONFIG_CONTENT", text)?);
        }
        Self::from_value(merged, "configuration")
    }

    pub fn from_value(raw: serde_json::Value, origin: &str) -> Result<Self, ConfigError> {
        let wasmcode = match raw.get("wasmcode") {
            None => WasmcodeSettings::default(),
            Some(section) => serde_json::from_value(section.clone()).map_err(|e| ConfigError::Invalid {
                file: origin.to_string(),
                message: format!("in `wasmcode`: {e}"),
            })?,
        };
        Ok(Self { raw, wasmcode })
    }
}

/// The configuration files of `dir` (`opencode.json`, then `opencode.jsonc`), merged; an empty
/// object when it has none.
pub fn read_dir(dir: &Path) -> Result<serde_json::Value, ConfigError> {
    let mut merged = serde_json::Value::Object(Default::default());
    for name in FILE_NAMES {
        if let Some(value) = read_file(&dir.join(name))? {
            merge(&mut merged, value);
        }
    }
    Ok(merged)
}

fn read_file(path: &PathBuf) -> Result<Option<serde_json::Value>, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&path.display().to_string(), &text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Io {
            file: path.display().to_string(),
            source,
        }),
    }
}

/// Parses JSON with comments and trailing commas, reporting the position of a syntax error.
/// JSONC as OpenCode reads it: comments and trailing commas, nothing looser.
fn strict_options() -> jsonc_parser::ParseOptions {
    jsonc_parser::ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

pub fn parse(file: &str, text: &str) -> Result<serde_json::Value, ConfigError> {
    let options = strict_options();
    let value: Option<serde_json::Value> =
        jsonc_parser::parse_to_serde_value(text, &options).map_err(|e| ConfigError::Syntax {
            file: file.to_string(),
            line: e.line_display(),
            column: e.column_display(),
            message: e.kind().to_string(),
        })?;
    match value {
        None => Ok(serde_json::Value::Object(Default::default())),
        Some(value @ serde_json::Value::Object(_)) => Ok(value),
        Some(_) => Err(ConfigError::Invalid {
            file: file.to_string(),
            message: "must be a JSON object".into(),
        }),
    }
}

/// Applies `patch` to the configuration file of `dir`, a project or the global configuration
/// directory (`opencode.jsonc` if it has one, else `opencode.json`, created if missing) and
/// writes it atomically. Objects merge key by key and `null` removes a key (RFC 7396); comments
/// and layout of the file are kept. A patch that would leave the file a configuration this
/// server refuses to load is refused, and the file is left as it was.
pub fn patch_file(dir: &Path, patch: &serde_json::Value) -> Result<PathBuf, ConfigError> {
    let jsonc = dir.join("opencode.jsonc");
    let path = if jsonc.exists() {
        jsonc
    } else {
        dir.join("opencode.json")
    };
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "{}\n".to_string(),
        Err(source) => return Err(ConfigError::Io { file, source }),
    };
    // Validate with the same strict reader first, so the position of a syntax error is reported.
    parse(&file, &text)?;
    let root = jsonc_parser::cst::CstRootNode::parse(&text, &strict_options()).map_err(|e| {
        ConfigError::Invalid {
            file: file.clone(),
            message: e.to_string(),
        }
    })?;
    let Some(patch) = patch.as_object() else {
        return Err(ConfigError::Invalid {
            file,
            message: "the update must be a JSON object".into(),
        });
    };
    patch_object(&root.object_value_or_set(), patch);
    let mut updated = root.to_string();
    if !updated.ends_with('\n') {
        updated.push('\n');
    }
    Config::from_value(parse(&file, &updated)?, &file)?;
    crate::atomic::write(&path, updated.as_bytes(), crate::atomic::Access::KeepExisting)
        .map_err(|source| ConfigError::Io { file, source })?;
    Ok(path)
}

fn patch_object(object: &jsonc_parser::cst::CstObject, patch: &serde_json::Map<String, serde_json::Value>) {
    for (key, value) in patch {
        let existing = object.get(key);
        match (existing, value) {
            (Some(prop), serde_json::Value::Null) => prop.remove(),
            (None, serde_json::Value::Null) => {}
            (Some(prop), serde_json::Value::Object(inner)) if prop.object_value().is_some() => {
                if let Some(child) = prop.object_value() {
                    patch_object(&child, inner);
                }
            }
            (Some(prop), value) => prop.set_value(cst_value(value)),
            (None, value) => {
                object.append(key, cst_value(value));
            }
        }
    }
}

fn cst_value(value: &serde_json::Value) -> jsonc_parser::cst::CstInputValue {
    use jsonc_parser::cst::CstInputValue;
    match value {
        serde_json::Value::Null => CstInputValue::Null,
        serde_json::Value::Bool(b) => CstInputValue::Bool(*b),
        serde_json::Value::Number(n) => CstInputValue::Number(n.to_string()),
        serde_json::Value::String(s) => CstInputValue::String(s.clone()),
        serde_json::Value::Array(items) => CstInputValue::Array(items.iter().map(cst_value).collect()),
        serde_json::Value::Object(map) => {
            CstInputValue::Object(map.iter().map(|(k, v)| (k.clone(), cst_value(v))).collect())
        }
    }
}

/// Deep-merges `over` into `base`: objects merge key by key, anything else replaces.
pub fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(base), serde_json::Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_comments_and_trailing_commas() {
        let value = parse("x", "{\n // a comment\n \"model\": \"a/b\",\n}").expect("valid jsonc");
        assert_eq!(value, json!({"model": "a/b"}));
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let err =
            parse("opencode.json", "{\n  \"model\": \"a/b\"\n  \"x\": 1\n}").expect_err("missing comma");
        let ConfigError::Syntax {
            line,
            column,
            ref message,
            ..
        } = err
        else {
            panic!("not a syntax error: {err}")
        };
        // Where the comma is missing: right after the previous value.
        assert_eq!((line, column), (2, 17), "{err}");
        assert!(message.to_lowercase().contains("comma"), "{err}");
        assert!(err.to_string().starts_with("opencode.json:2:17: "), "{err}");
    }

    #[test]
    fn merges_deeply_and_keeps_unknown_keys() {
        let mut base = json!({"a": {"x": 1, "y": 2}, "keep": true});
        merge(&mut base, json!({"a": {"y": 3}, "new": [1]}));
        assert_eq!(base, json!({"a": {"x": 1, "y": 3}, "keep": true, "new": [1]}));
    }

    #[test]
    fn patches_keep_comments_merge_objects_and_remove_nulls() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("opencode.jsonc");
        std::fs::write(&file, "{\n  // my model\n  \"model\": \"a/b\",\n  \"agent\": {\"plan\": {\"x\": 1}},\n  \"drop\": 1,\n}\n")
            .expect("write");
        let written = patch_file(
            dir.path(),
            &json!({"model": "c/d", "agent": {"build": {}}, "drop": null, "new": [1]}),
        )
        .expect("patched");
        assert_eq!(written, file);
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(text.contains("// my model"), "{text}");
        let value = parse("x", &text).expect("still valid");
        assert_eq!(
            value,
            json!({"model": "c/d", "agent": {"plan": {"x": 1}, "build": {}}, "new": [1]})
        );
    }

    #[test]
    fn a_patch_the_server_could_not_load_leaves_the_file_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("opencode.json");
        std::fs::write(&file, "{\"model\": \"a/b\"}\n").expect("write");
        assert!(matches!(
            patch_file(dir.path(), &json!({"wasmcode": {"session": {"bogus": 1}}})),
            Err(ConfigError::Invalid { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            "{\"model\": \"a/b\"}\n"
        );
    }

    #[test]
    fn patching_creates_opencode_json_and_refuses_broken_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        patch_file(dir.path(), &json!({"model": "a/b"})).expect("created");
        let value = parse(
            "x",
            &std::fs::read_to_string(dir.path().join("opencode.json")).expect("read"),
        )
        .expect("valid");
        assert_eq!(value, json!({"model": "a/b"}));
        std::fs::write(dir.path().join("opencode.json"), "{\"model\": }").expect("write");
        assert!(matches!(
            patch_file(dir.path(), &json!({"x": 1})),
            Err(ConfigError::Syntax { .. })
        ));
    }

    #[test]
    fn reads_plugin_settings() {
        let config = Config::from_value(
            json!({"wasmcode": {"plugins": {"bash": {"grants": {"process": false}, "limits": {"timeoutMs": 5}}}}}),
            "t",
        )
        .expect("valid settings");
        assert!(!config.wasmcode.grants_for("bash", Grants::shell()).process);
        assert_eq!(config.wasmcode.limits_for("bash").timeout_ms, 5);
        assert_eq!(config.wasmcode.limits_for("read"), Limits::default());
    }
}
