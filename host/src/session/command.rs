//! Slash commands: prompt templates by name. Built-in (`init`, `review`), from the
//! configuration's `command` block, and from Markdown files in `command/` (or `commands/`)
//! under the global config dir and the project's `.opencode/`, with front matter for the
//! description, agent, model and subtask flag. `$ARGUMENTS`, `$1`, `$2`… are filled in.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::instance::Instance;

/// A command as `GET /command` lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Command {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `command` (built-in or configured) or `file`.
    pub source: String,
    pub template: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtask: Option<bool>,
    /// The placeholders the template uses (`$ARGUMENTS`, `$1`, …).
    pub hints: Vec<String>,
}

const BUILTIN: &[(&str, &str, &str, bool)] = &[
    (
        "init",
        "guided AGENTS.md setup",
        include_str!("prompts/commands/init.md"),
        false,
    ),
    (
        "review",
        "review changes [commit|branch|pr], defaults to uncommitted",
        include_str!("prompts/commands/review.md"),
        true,
    ),
];

/// Every command of the instance; later sources override earlier ones by name.
pub fn list(instance: &Instance, global_config: &Path) -> Vec<Command> {
    let mut commands: Vec<Command> = BUILTIN
        .iter()
        .map(|(name, description, template, subtask)| Command {
            name: (*name).into(),
            description: Some((*description).into()),
            source: "command".into(),
            template: (*template).into(),
            agent: None,
            model: None,
            subtask: subtask.then_some(true),
            hints: hints(template),
        })
        .collect();
    let mut add = |command: Command| match commands.iter_mut().find(|c| c.name == command.name) {
        Some(existing) => *existing = command,
        None => commands.push(command),
    };
    for dir in ["command", "commands"] {
        for command in from_directory(&global_config.join(dir)) {
            add(command);
        }
    }
    for dir in [".opencode/command", ".opencode/commands"] {
        for command in from_directory(&instance.directory.join(dir)) {
            add(command);
        }
    }
    if let Some(Value::Object(configured)) = instance.config.raw.get("command") {
        for (name, body) in configured {
            let Some(template) = body.get("template").and_then(Value::as_str) else {
                tracing::warn!(command = %name, "command without a template ignored");
                continue;
            };
            let text = |key: &str| body.get(key).and_then(Value::as_str).map(String::from);
            add(Command {
                name: name.clone(),
                description: text("description"),
                source: "command".into(),
                template: template.into(),
                agent: text("agent"),
                model: text("model"),
                subtask: body.get("subtask").and_then(Value::as_bool),
                hints: hints(template),
            });
        }
    }
    commands
}

/// The prompt a command produces for `arguments`.
pub fn expand(template: &str, arguments: &str) -> String {
    let words: Vec<&str> = arguments.split_whitespace().collect();
    let highest = highest_placeholder(template);
    let mut out = String::with_capacity(template.len() + arguments.len());
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix("ARGUMENTS") {
            out.push_str(arguments);
            rest = tail;
            continue;
        }
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits].parse::<usize>() {
            Ok(n) if n >= 1 => {
                // The last placeholder takes the remaining words, as OpenCode does.
                let value = if n == highest && words.len() > n {
                    words[n - 1..].join(" ")
                } else {
                    words.get(n - 1).copied().unwrap_or_default().to_string()
                };
                out.push_str(&value);
                rest = &after[digits..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    if !template.contains("$ARGUMENTS") && highest == 0 && !arguments.trim().is_empty() {
        out.push_str("\n\n");
        out.push_str(arguments);
    }
    out
}

fn highest_placeholder(template: &str) -> usize {
    template
        .split('$')
        .skip(1)
        .filter_map(|s| {
            let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

fn hints(template: &str) -> Vec<String> {
    let mut hints: Vec<String> = (1..=highest_placeholder(template))
        .map(|n| format!("${n}"))
        .collect();
    if template.contains("$ARGUMENTS") {
        hints.push("$ARGUMENTS".into());
    }
    hints
}

/// Commands from `*.md` files: front matter (`description`, `agent`, `model`, `subtask`) and the
/// template as body. Unreadable files are skipped with a warning.
fn from_directory(dir: &Path) -> Vec<Command> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut commands = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("md") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(file = %path.display(), "command file unreadable: {e}");
                continue;
            }
        };
        let (front, body) = front_matter(&text);
        let field = |key: &str| front.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        commands.push(Command {
            name: name.into(),
            description: field("description"),
            source: "file".into(),
            template: body.trim().into(),
            agent: field("agent"),
            model: field("model"),
            subtask: field("subtask").map(|v| v == "true"),
            hints: hints(body),
        });
    }
    commands.sort_by(|a, b| a.name.cmp(&b.name));
    commands
}

/// Splits `---\nkey: value\n---\nbody` into simple `key: value` pairs and the body.
pub fn front_matter(text: &str) -> (Vec<(String, String)>, &str) {
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return (Vec::new(), text);
    };
    let Some(end) = rest.find("\n---") else {
        return (Vec::new(), text);
    };
    let pairs = rest[..end]
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches(['"', '\'']).to_string(),
            )
        })
        .collect();
    let body = rest[end + 4..].trim_start_matches(['\r', '\n']);
    (pairs, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(expand("Review $ARGUMENTS now", "src/a.rs"), "Review src/a.rs now");
        assert_eq!(expand("Move $1 to $2", "a b c"), "Move a to b c");
        assert_eq!(expand("Costs $5", ""), "Costs ");
        assert_eq!(expand("Plain", "extra words"), "Plain\n\nextra words");
        assert_eq!(expand("$HOME stays", ""), "$HOME stays");
    }

    #[test]
    fn front_matter_is_read() {
        let (front, body) =
            front_matter("---\ndescription: \"Run tests\"\nagent: plan\n---\nRun $ARGUMENTS\n");
        assert_eq!(front[0], ("description".into(), "Run tests".into()));
        assert_eq!(front[1], ("agent".into(), "plan".into()));
        assert_eq!(body, "Run $ARGUMENTS\n");
        assert_eq!(hints(body), vec!["$ARGUMENTS".to_string()]);
    }
}
