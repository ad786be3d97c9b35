//! The system prompt of a step: the agent's prompt, a short description of the environment,
//! and the project's instructions (`AGENTS.md`, the configuration's `instructions` files), read
//! through the project's sandboxed root.

use std::io::Read as _;

use super::text::iso8601;
use crate::agent::{Agent, BUILD_PROMPT, PLAN_REMINDER};
use crate::instance::Instance;
use crate::provider::ResolvedModel;

/// Instruction files larger than this are cut (they are meant to be short).
const MAX_INSTRUCTIONS: u64 = 64 * 1024;
/// Files read as project instructions when present, first found wins (OpenCode's order).
const INSTRUCTION_FILES: &[&str] = &["AGENTS.md", "CLAUDE.md", "CONTEXT.md"];

/// The system messages for a step, in order.
pub fn prompt(instance: &Instance, agent: &Agent, model: &ResolvedModel) -> Vec<String> {
    let mut system = Vec::new();
    system.push(match &agent.prompt {
        Some(prompt) => prompt.clone(),
        None => BUILD_PROMPT.to_string(),
    });
    if agent.name == "plan" {
        system.push(PLAN_REMINDER.to_string());
    }
    system.push(environment(instance, model));
    system.extend(instructions(instance));
    system
}

fn environment(instance: &Instance, model: &ResolvedModel) -> String {
    let directory = instance.directory.display();
    let git = instance.in_git();
    format!(
        "You are powered by the model {model} ({provider}).\n\
         <env>\n  Working directory: {directory}\n  Is directory a git repo: {git}\n  Platform: {platform}\n  \
         Today's date: {date}\n</env>",
        model = model.model_id,
        provider = model.provider_id,
        git = if git { "yes" } else { "no" },
        platform = std::env::consts::OS,
        date = &iso8601(crate::protocol::now_ms())[..10],
    )
}

/// The project's instruction files and the configuration's `instructions` entries (paths or
/// globs relative to the project; URLs are not fetched).
fn instructions(instance: &Instance) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(name) = INSTRUCTION_FILES
        .iter()
        .find(|name| instance.root.dir().is_file(name))
        && let Some(text) = read(instance, name)
    {
        out.push(format!(
            "Instructions from: {}\n{text}",
            instance.directory.join(name).display()
        ));
    }
    let configured = instance
        .config
        .raw
        .get("instructions")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    for entry in configured.iter().filter_map(serde_json::Value::as_str) {
        if entry.starts_with("http://") || entry.starts_with("https://") {
            continue;
        }
        for path in matching(instance, entry) {
            if let Some(text) = read(instance, &path) {
                out.push(format!(
                    "Instructions from: {}\n{text}",
                    instance.directory.join(&path).display()
                ));
            }
        }
    }
    out
}

/// The project files an `instructions` entry names: itself, or what its glob matches.
fn matching(instance: &Instance, entry: &str) -> Vec<String> {
    if !entry.contains(['*', '?', '[']) {
        return vec![entry.to_string()];
    }
    let mut found: Vec<String> = instance
        .tree
        .listing()
        .paths()
        .filter(|file| !file.ends_with('/') && crate::permission::wildcard_matches(entry, file))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.truncate(20);
    found
}

fn read(instance: &Instance, relative: &str) -> Option<String> {
    let path = instance.root.resolve(relative).ok()?;
    let file = instance.root.dir().open(&path).ok()?;
    let mut text = String::new();
    file.take(MAX_INSTRUCTIONS).read_to_string(&mut text).ok()?;
    Some(text)
}
