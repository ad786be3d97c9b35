//! Permission rules, as OpenCode has them: `{permission, pattern, action}`, last match wins,
//! default `ask`. Rules come from the agent, the configuration's `permission` key, and the
//! session; this module evaluates them and answers tool asks where no person can be asked.

mod wildcard;

pub use wildcard::matches as wildcard_matches;

use std::path::PathBuf;

pub use crate::protocol::permission::{Action, Rule};
use crate::runtime::{BoxFuture, CallHandler, CallInfo, PermissionAsk, PermissionRefusal};

/// The permission a tool asks before it uses a path outside the project.
pub const EXTERNAL_DIRECTORY: &str = "external_directory";

/// The directory an `external_directory` pattern names, if it names exactly one: absolute, with
/// no wildcard but a trailing `/*` or `/**`.
pub fn directory_of(pattern: &str) -> Option<PathBuf> {
    let directory = pattern
        .strip_suffix("/**")
        .or_else(|| pattern.strip_suffix("/*"))
        .unwrap_or(pattern);
    let concrete = !directory.contains(['*', '?', '[']);
    (concrete && directory.starts_with('/') && directory.len() > 1).then(|| PathBuf::from(directory))
}

/// An ordered list of rules; later rules override earlier ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset(pub Vec<Rule>);

impl Ruleset {
    /// The defaults of OpenCode's `build` agent: everything allowed but reading `.env` files,
    /// leaving the project, and repeated identical calls, which ask.
    pub fn defaults() -> Self {
        use Action::*;
        Self(vec![
            Rule::new("*", "*", Allow),
            Rule::new("doom_loop", "*", Ask),
            Rule::new("external_directory", "*", Ask),
            Rule::new("read", "*", Allow),
            Rule::new("read", "*.env", Ask),
            Rule::new("read", "*.env.*", Ask),
            Rule::new("read", "*.env.example", Allow),
        ])
    }

    pub fn extend(&mut self, rules: impl IntoIterator<Item = Rule>) {
        self.0.extend(rules);
    }

    /// The action for `permission` on `pattern`: the last matching rule's, `ask` if none.
    pub fn evaluate(&self, permission: &str, pattern: &str) -> (Action, Option<&Rule>) {
        self.0
            .iter()
            .rev()
            .find(|rule| {
                wildcard_matches(&rule.permission, permission) && wildcard_matches(&rule.pattern, pattern)
            })
            .map(|rule| (rule.action, Some(rule)))
            .unwrap_or((Action::Ask, None))
    }

    /// The directories the rules let commands use outside the project: those of `allow` rules
    /// for `external_directory` whose pattern names one directory (`/dir/*`, `/dir/**`, `/dir`),
    /// unless a later rule takes it back. What the sandbox opens to a command beyond the project.
    pub fn allowed_directories(&self) -> Vec<PathBuf> {
        let mut directories = Vec::new();
        for rule in &self.0 {
            if rule.action != Action::Allow || !wildcard_matches(&rule.permission, EXTERNAL_DIRECTORY) {
                continue;
            }
            let Some(directory) = directory_of(&rule.pattern) else {
                continue;
            };
            if self.evaluate(EXTERNAL_DIRECTORY, &rule.pattern).0 == Action::Allow
                && !directories.contains(&directory)
            {
                directories.push(directory);
            }
        }
        directories
    }

    /// What the rules say about an ask covering several patterns: refused when any pattern is
    /// denied, left to the user when any is `ask`, allowed otherwise.
    pub fn decide<'a>(&'a self, permission: &str, patterns: &'a [String]) -> Verdict<'a> {
        let mut verdict = Verdict::Allow;
        for pattern in patterns {
            match self.evaluate(permission, pattern) {
                (Action::Allow, _) => {}
                (Action::Deny, rule) => return Verdict::Deny { pattern, rule },
                (Action::Ask, _) => {
                    if matches!(verdict, Verdict::Allow) {
                        verdict = Verdict::Ask { pattern };
                    }
                }
            }
        }
        verdict
    }

    /// Rules from OpenCode's `permission` configuration: `"allow"` for everything, or
    /// `{ "<permission>": "<action>" | { "<pattern>": "<action>" } }`.
    pub fn from_config(value: &serde_json::Value) -> Result<Vec<Rule>, String> {
        let action = |v: &serde_json::Value, at: &str| -> Result<Action, String> {
            serde_json::from_value(v.clone())
                .map_err(|_| format!("permission {at}: expected \"allow\", \"deny\" or \"ask\", got {v}"))
        };
        match value {
            serde_json::Value::String(_) => Ok(vec![Rule {
                permission: "*".into(),
                pattern: "*".into(),
                action: action(value, "")?,
            }]),
            serde_json::Value::Object(map) => {
                let mut rules = Vec::new();
                for (permission, setting) in map {
                    match setting {
                        serde_json::Value::Object(patterns) => {
                            for (pattern, value) in patterns {
                                rules.push(Rule {
                                    permission: permission.clone(),
                                    pattern: pattern.clone(),
                                    action: action(value, &format!("{permission}.{pattern}"))?,
                                });
                            }
                        }
                        other => rules.push(Rule {
                            permission: permission.clone(),
                            pattern: "*".into(),
                            action: action(other, permission)?,
                        }),
                    }
                }
                Ok(rules)
            }
            other => Err(format!("permission: expected a string or an object, got {other}")),
        }
    }
}

/// [`Ruleset::decide`]'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a> {
    Allow,
    /// `pattern` is denied by `rule`.
    Deny {
        pattern: &'a str,
        rule: Option<&'a Rule>,
    },
    /// `pattern` (the first such) needs the user's answer.
    Ask {
        pattern: &'a str,
    },
}

/// The refusal for a denied pattern, naming the rule, for the model to read.
pub fn denied(permission: &str, pattern: &str, rule: Option<&Rule>) -> PermissionRefusal {
    let rule = rule
        .map(|r| format!("{} {} deny", r.permission, r.pattern))
        .unwrap_or_default();
    PermissionRefusal::Denied(format!(
        "The user has specified a rule which prevents you from using this specific tool call: \
         `{permission}` on {pattern} is denied by `{rule}`"
    ))
}

/// Why an ask is refused where nobody can answer it, and how to allow it.
pub fn unanswerable(permission: &str, pattern: &str, surface: &str) -> PermissionRefusal {
    PermissionRefusal::Denied(format!(
        "`{permission}` on {pattern} needs the user's approval, which cannot be given {surface}; allow it \
         in opencode.json (\"permission\": {{\"{permission}\": {{\"{pattern}\": \"allow\"}}}}) or use a \
         session"
    ))
}

/// Answers asks from a ruleset alone, for surfaces where nobody can be asked (direct tool
/// execution, the CLI): `allow` passes, `deny` refuses, and `ask` is refused with a message that
/// says how to allow it.
pub struct PolicyAnswerer {
    pub rules: Ruleset,
}

impl CallHandler for PolicyAnswerer {
    fn ask_permission(
        &self,
        _call: &CallInfo,
        ask: PermissionAsk,
    ) -> BoxFuture<Result<(), PermissionRefusal>> {
        let verdict = match self.rules.decide(&ask.permission, &ask.patterns) {
            Verdict::Allow => Ok(()),
            Verdict::Deny { pattern, rule } => Err(denied(&ask.permission, pattern, rule)),
            Verdict::Ask { pattern } => Err(unanswerable(&ask.permission, pattern, "here")),
        };
        Box::pin(async move { verdict })
    }

    fn allowed_directories(&self, _call: &CallInfo) -> Vec<PathBuf> {
        self.rules.allowed_directories()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_directories_are_the_concrete_directories_still_allowed() {
        let mut rules = Ruleset::defaults();
        rules.extend([
            Rule::new("external_directory", "/srv/cache/*", Action::Allow),
            Rule::new("external_directory", "/opt/sdk", Action::Allow),
            Rule::new("external_directory", "/home/*/.cargo/*", Action::Allow),
            Rule::new("external_directory", "/*", Action::Allow),
            Rule::new("external_directory", "/data/**", Action::Allow),
            Rule::new("external_directory", "/data/**", Action::Deny),
            Rule::new("bash", "/usr/*", Action::Allow),
        ]);
        assert_eq!(
            rules.allowed_directories(),
            [PathBuf::from("/srv/cache"), PathBuf::from("/opt/sdk")]
        );
    }

    #[test]
    fn last_match_wins_and_default_is_ask() {
        let rules = Ruleset::defaults();
        assert_eq!(rules.evaluate("read", "src/main.rs").0, Action::Allow);
        assert_eq!(rules.evaluate("read", "/p/.env").0, Action::Ask);
        assert_eq!(rules.evaluate("read", "/p/.env.example").0, Action::Allow);
        assert_eq!(rules.evaluate("external_directory", "/etc").0, Action::Ask);
        assert_eq!(Ruleset::default().evaluate("bash", "ls").0, Action::Ask);
    }

    #[test]
    fn config_rules_override_defaults() {
        let mut rules = Ruleset::defaults();
        let config = serde_json::json!({"bash": {"*": "ask", "git *": "allow"}, "edit": "deny"});
        rules.extend(Ruleset::from_config(&config).expect("valid permission config"));
        assert_eq!(rules.evaluate("bash", "git status").0, Action::Allow);
        assert_eq!(rules.evaluate("bash", "rm -rf /").0, Action::Ask);
        assert_eq!(rules.evaluate("edit", "a.txt").0, Action::Deny);
        assert!(Ruleset::from_config(&serde_json::json!({"edit": "maybe"})).is_err());
    }
}
