//! What users say of a project beyond what git knows (`PATCH /project/{projectID}`): its name,
//! icon and start command. Kept per project id, one JSON file each in the data directory,
//! replaced atomically; every answer about the project carries them.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::protocol::project::{Project, ProjectCommands, ProjectIcon};

/// The stored part of a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<ProjectIcon>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<ProjectCommands>,
    /// When it was last changed (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<u64>,
}

impl ProjectDetails {
    /// Puts these details on `project` (its last update is the later of the two).
    pub fn apply_to(self, project: &mut Project) {
        project.name = self.name;
        project.icon = self.icon;
        project.commands = self.commands;
        if let Some(updated) = self.updated {
            project.time.updated = project.time.updated.max(updated);
        }
    }
}

/// `PATCH /project/{projectID}`'s body: what is given changes, the rest stays; the icon's and the
/// commands' fields change one by one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ProjectUpdate {
    pub name: Option<String>,
    pub icon: Option<ProjectIcon>,
    pub commands: Option<ProjectCommands>,
}

/// The details of every project, under one directory.
pub struct DetailsStore {
    dir: PathBuf,
    /// Read-modify-write of one file at a time, so two updates never lose one another.
    writing: Mutex<()>,
}

impl DetailsStore {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            writing: Mutex::new(()),
        }
    }

    /// The details of project `id`; none for a project nobody described (or a file that no
    /// longer reads).
    pub fn get(&self, id: &str) -> ProjectDetails {
        let Some(file) = self.file(id) else {
            return ProjectDetails::default();
        };
        match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(file = %file.display(), "ignoring unreadable project details: {e}");
                ProjectDetails::default()
            }),
            Err(_) => ProjectDetails::default(),
        }
    }

    /// Applies `change` to project `id`'s details at `now` and stores them.
    pub fn update(&self, id: &str, change: ProjectUpdate, now: u64) -> std::io::Result<ProjectDetails> {
        let file = self.file(id).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{id}` is not a project id"),
            )
        })?;
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let mut details = self.get(id);
        if let Some(name) = change.name {
            details.name = Some(name);
        }
        if let Some(icon) = change.icon {
            let current = details.icon.get_or_insert_with(ProjectIcon::default);
            current.url = icon.url.or(current.url.take());
            current.override_ = icon.override_.or(current.override_.take());
            current.color = icon.color.or(current.color.take());
        }
        if let Some(commands) = change.commands {
            let current = details.commands.get_or_insert_with(ProjectCommands::default);
            current.start = commands.start.or(current.start.take());
        }
        details.updated = Some(now);
        std::fs::create_dir_all(&self.dir)?;
        let json = serde_json::to_vec_pretty(&details).map_err(std::io::Error::other)?;
        crate::atomic::write(&file, &json, crate::atomic::Access::Private)?;
        Ok(details)
    }

    /// `project` with its stored details.
    pub fn fill(&self, project: &mut Project) {
        self.get(&project.id).apply_to(project);
    }

    /// The file of project `id`: ids are commit hashes or `global`, so anything else (a path, a
    /// dot) names no file at all.
    fn file(&self, id: &str) -> Option<PathBuf> {
        let valid = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| self.dir.join(format!("{id}.json")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn icon(url: Option<&str>, color: Option<&str>) -> ProjectIcon {
        ProjectIcon {
            url: url.map(String::from),
            override_: None,
            color: color.map(String::from),
        }
    }

    #[test]
    fn updates_merge_field_by_field_and_survive_a_new_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = DetailsStore::new(dir.path().join("project"));
        let change = ProjectUpdate {
            name: Some("Shop".into()),
            icon: Some(icon(Some("https://example.com/i.png"), None)),
            commands: None,
        };
        store.update("abc123", change, 10).expect("stored");
        let change = ProjectUpdate {
            icon: Some(icon(None, Some("#ff0000"))),
            ..ProjectUpdate::default()
        };
        store.update("abc123", change, 20).expect("stored");
        let again = DetailsStore::new(dir.path().join("project")).get("abc123");
        assert_eq!(again.name.as_deref(), Some("Shop"));
        assert_eq!(
            again.icon,
            Some(icon(Some("https://example.com/i.png"), Some("#ff0000")))
        );
        assert_eq!(again.updated, Some(20));
        assert_eq!(store.get("another"), ProjectDetails::default());
    }

    #[test]
    fn an_id_that_is_not_a_file_name_names_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = DetailsStore::new(dir.path().join("project"));
        for id in ["../escape", "a/b", "", ".", "x.json"] {
            assert!(store.update(id, ProjectUpdate::default(), 1).is_err(), "{id}");
            assert_eq!(store.get(id), ProjectDetails::default());
        }
        assert!(!dir.path().join("escape.json").exists());
    }
}
