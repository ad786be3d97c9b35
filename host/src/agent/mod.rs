//! Agents: a system prompt, a permission ruleset and a few options under a name. The built-in
//! ones mirror OpenCode's (`build`, `plan`, `general`, `explore`, and the hidden `title`,
//! `summary`, `compaction`); the configuration's `agent` block adjusts them or adds more.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::permission::{Action, Rule, Ruleset};

/// Where an agent can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentMode {
    Primary,
    Subagent,
    All,
}

/// An agent as `GET /agent` lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Agent {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub mode: AgentMode,
    pub native: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(rename = "topP", skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// `provider/model` this agent always uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    pub options: Value,
    /// The full ruleset, in evaluation order (last match wins).
    pub permission: Vec<Rule>,
}

impl Agent {
    pub fn rules(&self) -> Ruleset {
        Ruleset(self.permission.clone())
    }

    /// The `provider/model` string this agent is pinned to, if any.
    pub fn model_string(&self) -> Option<String> {
        match &self.model {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(map)) => {
                let provider = map.get("providerID")?.as_str()?;
                let model = map.get("modelID")?.as_str()?;
                Some(format!("{provider}/{model}"))
            }
            _ => None,
        }
    }
}

/// The system prompt of agents that have none of their own (`build` and most others).
pub const BUILD_PROMPT: &str = include_str!("prompts/build.txt");
/// Appended to the `plan` agent's system prompt: plan, do not change files.
pub const PLAN_REMINDER: &str = include_str!("prompts/plan.txt");
const EXPLORE_PROMPT: &str = include_str!("prompts/explore.txt");
/// The title agent's prompt; it starts with "You are a title generator" (tests' fake upstream
/// recognises title requests by it).
pub const TITLE_PROMPT: &str = include_str!("prompts/title.txt");
const SUMMARY_PROMPT: &str = include_str!("prompts/summary.txt");
const COMPACTION_PROMPT: &str = include_str!("prompts/compaction.txt");

/// The name of the default agent.
pub const DEFAULT_AGENT: &str = "build";

/// Every agent of an instance: the built-in ones adjusted by `agent` in the configuration,
/// plus the configuration's own, sorted by name (as `GET /agent` lists them). Each agent's
/// rules are the defaults, then the agent's own, then the configuration's `permission`, then
/// the agent's `permission` from the configuration: the user's word comes last and wins.
pub fn agents(config: &Value, defaults: &Ruleset) -> Result<Vec<Agent>, String> {
    let configured = match config.get("permission") {
        Some(value) => Ruleset::from_config(value)?,
        None => Vec::new(),
    };
    use Action::*;
    let deny_all = || vec![Rule::new("*", "*", Deny)];
    let builtin = |name: &str, description: Option<&str>, mode, prompt: Option<&str>, extra: Vec<Rule>| {
        let mut permission = defaults.0.clone();
        permission.extend(extra);
        permission.extend(configured.iter().cloned());
        Agent {
            name: name.into(),
            description: description.map(Into::into),
            mode,
            native: true,
            hidden: None,
            temperature: None,
            top_p: None,
            prompt: prompt.map(Into::into),
            model: None,
            steps: None,
            options: Value::Object(Default::default()),
            permission,
        }
    };
    let mut list = vec![
        builtin(
            "build",
            Some("The default agent. Executes tools based on configured permissions."),
            AgentMode::Primary,
            None,
            vec![
                Rule::new("question", "*", Allow),
                Rule::new("plan_enter", "*", Allow),
            ],
        ),
        builtin(
            "plan",
            Some("Plan mode. Disallows all edit tools."),
            AgentMode::Primary,
            None,
            vec![
                Rule::new("question", "*", Allow),
                Rule::new("plan_exit", "*", Allow),
                Rule::new("edit", "*", Deny),
                Rule::new("edit", ".opencode/plans/*.md", Allow),
            ],
        ),
        builtin(
            "general",
            Some(
                "General-purpose agent for researching complex questions and executing multi-step tasks. \
                 Use this agent to execute multiple units of work in parallel.",
            ),
            AgentMode::Subagent,
            None,
            vec![Rule::new("todowrite", "*", Deny)],
        ),
        builtin(
            "explore",
            Some(
                "Fast agent specialized for exploring codebases: finding files by patterns, searching code \
                 for keywords, answering questions about the codebase.",
            ),
            AgentMode::Subagent,
            Some(EXPLORE_PROMPT),
            [
                deny_all(),
                ["grep", "glob", "list", "bash", "read"]
                    .map(|p| Rule::new(p, "*", Allow))
                    .to_vec(),
            ]
            .concat(),
        ),
    ];
    for (name, prompt, temperature) in [
        ("title", TITLE_PROMPT, Some(0.5)),
        ("summary", SUMMARY_PROMPT, None),
        ("compaction", COMPACTION_PROMPT, None),
    ] {
        let mut agent = builtin(name, None, AgentMode::Primary, Some(prompt), deny_all());
        agent.hidden = Some(true);
        agent.temperature = temperature;
        list.push(agent);
    }

    if let Some(Value::Object(blocks)) = config.get("agent") {
        for (name, settings) in blocks {
            apply_config(&mut list, name, settings, defaults, &configured)?;
        }
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(list)
}

/// Applies one `agent.<name>` block: adjusts a built-in agent, removes it (`disable`), or
/// defines a new one.
fn apply_config(
    list: &mut Vec<Agent>,
    name: &str,
    settings: &Value,
    defaults: &Ruleset,
    configured: &[Rule],
) -> Result<(), String> {
    let Value::Object(settings) = settings else {
        return Err(format!("agent.{name}: expected an object"));
    };
    if settings.get("disable").and_then(Value::as_bool) == Some(true) {
        list.retain(|a| a.name != name);
        return Ok(());
    }
    let index = match list.iter().position(|a| a.name == name) {
        Some(index) => index,
        None => {
            list.push(Agent {
                name: name.into(),
                description: None,
                mode: AgentMode::All,
                native: false,
                hidden: None,
                temperature: None,
                top_p: None,
                prompt: None,
                model: None,
                steps: None,
                options: Value::Object(Default::default()),
                permission: [defaults.0.as_slice(), configured].concat(),
            });
            list.len() - 1
        }
    };
    let agent = &mut list[index];
    for (key, value) in settings {
        match key.as_str() {
            "description" => agent.description = value.as_str().map(Into::into),
            "prompt" => agent.prompt = value.as_str().map(Into::into),
            "model" => agent.model = Some(value.clone()),
            "temperature" => agent.temperature = value.as_f64().map(|t| t as f32),
            "top_p" | "topP" => agent.top_p = value.as_f64().map(|t| t as f32),
            "steps" | "maxSteps" => agent.steps = value.as_u64().map(|s| s.min(u32::MAX as u64) as u32),
            "hidden" => agent.hidden = value.as_bool(),
            "mode" => {
                agent.mode = match value.as_str() {
                    Some("primary") => AgentMode::Primary,
                    Some("subagent") => AgentMode::Subagent,
                    Some("all") => AgentMode::All,
                    _ => return Err(format!("agent.{name}.mode: expected primary, subagent or all")),
                }
            }
            "permission" => {
                let rules = Ruleset::from_config(value).map_err(|e| format!("agent.{name}.{e}"))?;
                agent.permission.extend(rules);
            }
            // `tools: {"bash": false}` is OpenCode's older way to switch tools off.
            "tools" => {
                if let Value::Object(tools) = value {
                    for (tool, enabled) in tools {
                        if enabled.as_bool() == Some(false) {
                            agent.permission.push(Rule::new(tool, "*", Action::Deny));
                        }
                    }
                }
            }
            "options" => agent.options = value.clone(),
            _ => {}
        }
    }
    Ok(())
}

/// The permission a tool asks under: OpenCode checks `write` and `edit` (and patches) as `edit`.
pub fn permission_of(tool: &str) -> &str {
    match tool {
        "write" | "edit" | "apply_patch" | "multiedit" => "edit",
        other => other,
    }
}

/// Whether the rules switch `tool` off entirely: denied for every pattern, with no later rule
/// allowing or asking for some pattern.
pub fn tool_disabled(rules: &Ruleset, tool: &str) -> bool {
    let permission = permission_of(tool);
    let names = |rule: &Rule| {
        crate::permission::wildcard_matches(&rule.permission, permission)
            || crate::permission::wildcard_matches(&rule.permission, tool)
    };
    let Some(last) = rules
        .0
        .iter()
        .rposition(|rule| rule.pattern == "*" && names(rule))
    else {
        return false;
    };
    rules.0[last].action == Action::Deny
        && !rules.0[last + 1..]
            .iter()
            .any(|rule| rule.action != Action::Deny && names(rule))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_agents_are_listed_by_name() {
        let agents = agents(&Value::Null, &Ruleset::defaults()).expect("built-ins");
        let names: Vec<_> = agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "build",
                "compaction",
                "explore",
                "general",
                "plan",
                "summary",
                "title"
            ]
        );
        let title = agents.iter().find(|a| a.name == "title").expect("title agent");
        assert!(
            title
                .prompt
                .as_deref()
                .is_some_and(|p| p.starts_with("You are a title generator"))
        );
    }

    #[test]
    fn plan_cannot_edit_but_build_can() {
        let agents = agents(&Value::Null, &Ruleset::defaults()).expect("built-ins");
        let rules = |name: &str| agents.iter().find(|a| a.name == name).expect("agent").rules();
        assert_eq!(rules("plan").evaluate("edit", "src/main.rs").0, Action::Deny);
        assert_eq!(rules("build").evaluate("edit", "src/main.rs").0, Action::Allow);
        // Plan keeps the edit tool for its plan files, so the tool stays listed.
        assert!(!tool_disabled(&rules("plan"), "write"));
        assert!(tool_disabled(&rules("explore"), "write"));
        assert!(!tool_disabled(&rules("explore"), "grep"));
    }

    #[test]
    fn configuration_adjusts_and_adds_agents() {
        let config = serde_json::json!({"agent": {
            "build": {"temperature": 0.2, "permission": {"bash": "ask"}},
            "reviewer": {"description": "Reviews", "mode": "subagent", "tools": {"write": false}},
            "general": {"disable": true}
        }});
        let agents = agents(&config, &Ruleset::defaults()).expect("valid agent config");
        let build = agents.iter().find(|a| a.name == "build").expect("build");
        assert_eq!(build.temperature, Some(0.2));
        assert_eq!(build.rules().evaluate("bash", "ls").0, Action::Ask);
        let reviewer = agents.iter().find(|a| a.name == "reviewer").expect("reviewer");
        assert!(!reviewer.native && reviewer.mode == AgentMode::Subagent);
        assert!(tool_disabled(&reviewer.rules(), "write"));
        assert!(agents.iter().all(|a| a.name != "general"));
        assert!(
            super::agents(
                &serde_json::json!({"agent": {"x": {"mode": "boss"}}}),
                &Ruleset::defaults()
            )
            .is_err()
        );
    }
}
