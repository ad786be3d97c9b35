//! Configuration: OpenCode's `opencode.json` / `opencode.jsonc` (comments and trailing commas
//! allowed) from the global config dir and the project, merged, with `OPENCODE_CONFIG_CONTENT`
//! on top. Unknown keys are kept. wasmcode's own settings live under the `wasmcode` key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::runtime::{Grants, Limits};

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
        let mut merged = serde_json::Value::Object(Default::default());
        for dir in [global_dir.to_path_buf(), project.to_path_buf()] {
            for name in FILE_NAMES {
                let path = dir.join(name);
                if let Some(value) = read_file(&path)? {
                    merge(&mut merged, value);
                }
            }
        }
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
pub fn parse(file: &str, text: &str) -> Result<serde_json::Value, ConfigError> {
    // JSONC as OpenCode reads it: comments and trailing commas, nothing looser.
    let options = jsonc_parser::ParseOptions {
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
    };
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
