//! The environment providers read their keys from: a snapshot taken once at start-up and passed
//! down, so tests inject their own instead of touching the process's.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Clone, Default)]
pub struct ProviderEnv {
    vars: BTreeMap<String, String>,
}

impl ProviderEnv {
    /// The process environment now (variables that are not UTF-8 are left out).
    pub fn from_process() -> Self {
        Self::from_pairs(
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }

    /// The variable's value; an empty one counts as unset, as for OpenCode.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The first of `names` that is set.
    pub fn first_of(&self, names: &[String]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }

    /// Replaces OpenCode's `{env:NAME}` references in every string of `value` (an unset
    /// variable becomes empty), so `"apiKey": "{env:MY_KEY}"` works in a provider block.
    pub fn expand(&self, value: &mut Value) {
        match value {
            Value::String(text) if text.contains("{env:") => *text = self.expand_str(text),
            Value::Array(items) => items.iter_mut().for_each(|v| self.expand(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.expand(v)),
            _ => {}
        }
    }

    fn expand_str(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{env:") {
            let after = &rest[start + "{env:".len()..];
            let Some(end) = after.find('}') else { break };
            out.push_str(&rest[..start]);
            out.push_str(self.get(after[..end].trim()).unwrap_or_default());
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// Values are keys: never printed.
impl std::fmt::Debug for ProviderEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderEnv")
            .field("vars", &self.vars.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_variables_are_unset_and_the_first_set_one_wins() {
        let env = ProviderEnv::from_pairs([("A", ""), ("B", "b"), ("C", "c")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.first_of(&["A".into(), "B".into(), "C".into()]), Some("b"));
    }

    #[test]
    fn env_references_are_expanded_everywhere() {
        let env = ProviderEnv::from_pairs([("KEY", "sk-1"), ("HOST", "h")]);
        let mut value = json!({"options": {"apiKey": "{env:KEY}", "baseURL": "http://{env:HOST}:1/{env:NOPE}v1",
            "headers": ["x {env:KEY}"], "open": "{env:unterminated"}});
        env.expand(&mut value);
        assert_eq!(
            value,
            json!({"options": {"apiKey": "sk-1", "baseURL": "http://h:1/v1", "headers": ["x sk-1"], "open": "{env:unterminated"}})
        );
    }

    #[test]
    fn debug_output_shows_no_value() {
        let env = ProviderEnv::from_pairs([("OPENAI_API_KEY", "sk-secret")]);
        assert!(!format!("{env:?}").contains("sk-secret"));
    }
}
