//! Skills: `SKILL.md` files with front matter (`name`, `description`) under `skill/` (or
//! `skills/`) in the global config dir and in the project's `.opencode/`. A chat that names a
//! skill gets its content in the system prompt. Project skills override global ones by name.

use std::path::Path;

use serde::Serialize;
use utoipa::ToSchema;

use super::command::front_matter;

/// Skill files larger than this are skipped (they go whole into the system prompt).
const MAX_SKILL_BYTES: u64 = 256 * 1024;

/// A skill as `GET /skill` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Skill {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The `SKILL.md` file it was read from.
    pub location: String,
    /// The body, without the front matter.
    pub content: String,
}

/// Every skill visible from `project`, sorted by name.
pub fn list(project: &Path, global_config: &Path) -> Vec<Skill> {
    let mut skills: Vec<Skill> = Vec::new();
    let roots = [
        global_config.join("skill"),
        global_config.join("skills"),
        project.join(".opencode/skill"),
        project.join(".opencode/skills"),
    ];
    for root in &roots {
        for skill in from_directory(root) {
            match skills.iter_mut().find(|s| s.name == skill.name) {
                Some(existing) => *existing = skill,
                None => skills.push(skill),
            }
        }
    }
    skills.sort_by(|a, b| a.name.cmp(&b.name));
    skills
}

/// `root/<dir>/SKILL.md` for each subdirectory; the name is the front matter's `name`, else the
/// directory's.
fn from_directory(root: &Path) -> Vec<Skill> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut skills = Vec::new();
    for entry in entries.flatten() {
        let file = entry.path().join("SKILL.md");
        let Ok(metadata) = std::fs::metadata(&file) else {
            continue;
        };
        if !metadata.is_file() || metadata.len() > MAX_SKILL_BYTES {
            if metadata.len() > MAX_SKILL_BYTES {
                tracing::warn!(file = %file.display(), "skill file too large, skipped");
            }
            continue;
        }
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(file = %file.display(), "skill file unreadable: {e}");
                continue;
            }
        };
        let (front, body) = front_matter(&text);
        let field = |key: &str| front.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let Some(name) = field("name").or_else(|| entry.file_name().to_str().map(String::from)) else {
            continue;
        };
        skills.push(Skill {
            name,
            description: field("description"),
            location: file.display().to_string(),
            content: body.trim().to_string(),
        });
    }
    skills
}

/// The system prompt text for the named skills; an unknown name is an error naming the known
/// ones.
pub fn instructions(available: &[Skill], names: &[String]) -> Result<Vec<String>, String> {
    names
        .iter()
        .map(|name| {
            available
                .iter()
                .find(|s| &s.name == name)
                .map(|s| format!("<skill name=\"{}\">\n{}\n</skill>", s.name, s.content))
                .ok_or_else(|| {
                    let known: Vec<&str> = available.iter().map(|s| s.name.as_str()).collect();
                    format!("unknown skill `{name}` (available: {})", known.join(", "))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skills_come_from_both_directories_and_the_project_wins() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (project, global) = (dir.path().join("p"), dir.path().join("g"));
        let write = |path: std::path::PathBuf, text: &str| {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
            std::fs::write(path, text).expect("write");
        };
        write(
            global.join("skill/review/SKILL.md"),
            "---\nname: code-reviewer\ndescription: global\n---\nG",
        );
        write(global.join("skill/docs/SKILL.md"), "No front matter");
        write(
            project.join(".opencode/skill/rev/SKILL.md"),
            "---\nname: code-reviewer\ndescription: project\n---\nP",
        );
        let skills = list(&project, &global);
        let names: Vec<&str> = skills.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["code-reviewer", "docs"]);
        assert_eq!(skills[0].description.as_deref(), Some("project"));
        assert_eq!(skills[0].content, "P");
        assert!(instructions(&skills, &["code-reviewer".into()]).expect("known")[0].contains("P"));
        assert!(
            instructions(&skills, &["nope".into()])
                .expect_err("an error")
                .contains("code-reviewer")
        );
    }
}
