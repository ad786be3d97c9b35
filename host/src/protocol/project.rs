//! A project as the wire shows it (`/project`, `/project/current`, `project.updated`): its id,
//! worktree, VCS, the name, icon and commands a user gave it, and its times.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The reference's `ProjectVcs`: only `"git"` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProjectVcs {
    Git,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProjectIcon {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub url: Option<String>,
    #[serde(rename = "override", default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub override_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub color: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProjectCommands {
    /// Startup script to run when creating a new workspace (worktree).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub start: Option<String>,
}

/// Epoch milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProjectTime {
    pub created: u64,
    pub updated: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub initialized: Option<u64>,
}

impl ProjectTime {
    /// Created and updated at `ms`.
    pub fn at(ms: u64) -> Self {
        Self {
            created: ms,
            updated: ms,
            initialized: None,
        }
    }
}

/// `GET /project/current` (and the items of `GET /project`):
/// `{id, worktree, vcs:"git", time:{created,updated}, sandboxes:[]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub id: String,
    pub worktree: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub vcs: Option<ProjectVcs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub icon: Option<ProjectIcon>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub commands: Option<ProjectCommands>,
    pub time: ProjectTime,
    pub sandboxes: Vec<String>,
}
