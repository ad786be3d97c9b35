//! `/project`, `/project/{id}/directories`, `/project/git/init`, `/path`, `/vcs`, `/vcs/status`:
//! where the request's directory lives.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Scoped, ValidPath};
use super::{AppState, blocking};
use crate::instance::Instance;
use crate::project::{PathInfo, Project, ProjectDirectory, ProjectTime, VcsFileStatus, VcsInfo, files, vcs};

fn project_of(instance: &Instance) -> Project {
    vcs::project(&instance.directory, ProjectTime::at(instance.created_ms))
}

/// The projects of the live instances and of the request's own, by worktree, without repeats.
async fn known_projects(state: &AppState, current: Arc<Instance>) -> Result<Vec<Project>, ApiError> {
    let mut instances = state.instances.live().await;
    if !instances.iter().any(|i| i.directory == current.directory) {
        instances.push(current);
    }
    blocking(move || {
        let mut projects: Vec<Project> = instances.iter().map(|i| project_of(i)).collect();
        projects.sort_by(|a, b| a.worktree.cmp(&b.worktree));
        projects.dedup_by(|a, b| a.id == b.id && a.worktree == b.worktree);
        projects
    })
    .await
}

/// List all projects (those with a live instance).
#[utoipa::path(get, path = "/project", operation_id = "project.list", tag = "project",
    responses((status = 200, description = "Projects", body = Vec<Project>)))]
pub async fn list(
    State(state): State<AppState>,
    Scoped(current): Scoped,
) -> Result<Json<Vec<Project>>, ApiError> {
    Ok(Json(known_projects(&state, current).await?))
}

/// Initialize git in the current directory (`git init`, no commit; nothing when it is in a git
/// worktree already), as the reference does. Its id stays `global` until the first commit.
#[utoipa::path(post, path = "/project/git/init", operation_id = "project.initGit", tag = "project",
    responses((status = 200, description = "Project", body = Project)))]
pub async fn init_git(Scoped(instance): Scoped) -> Result<Json<Project>, ApiError> {
    blocking(move || {
        if vcs::init(&instance.directory) {
            Ok(Json(project_of(&instance)))
        } else {
            Err(ApiError::internal(format!(
                "`git init` failed in {} (is git installed?)",
                instance.directory.display()
            )))
        }
    })
    .await?
}

#[derive(Debug, Deserialize)]
pub struct ProjectPath {
    #[serde(rename = "projectID")]
    project_id: String,
}

/// List project directories.
///
/// The local directories a project is known to live in: the worktree of each live instance of it.
/// Empty for an unknown project and for the global one (directories outside git), as in the
/// reference.
#[utoipa::path(get, path = "/project/{projectID}/directories", operation_id = "project.directories",
    tag = "project",
    responses((status = 200, description = "Project directories", body = Vec<ProjectDirectory>)))]
pub async fn directories(
    State(state): State<AppState>,
    Scoped(current): Scoped,
    ValidPath(path): ValidPath<ProjectPath>,
) -> Result<Json<Vec<ProjectDirectory>>, ApiError> {
    if path.project_id == vcs::GLOBAL_PROJECT_ID {
        return Ok(Json(Vec::new()));
    }
    let directories = known_projects(&state, current)
        .await?
        .into_iter()
        .filter(|project| project.id == path.project_id)
        .map(|project| ProjectDirectory {
            directory: project.worktree,
            strategy: None,
        })
        .collect();
    Ok(Json(directories))
}

/// Get the current project.
#[utoipa::path(get, path = "/project/current", operation_id = "project.current", tag = "project",
    responses((status = 200, description = "Current project", body = Project)))]
pub async fn current(Scoped(instance): Scoped) -> Result<Json<Project>, ApiError> {
    let project = blocking(move || project_of(&instance)).await?;
    Ok(Json(project))
}

/// Get the current paths: home, state, config, worktree, directory.
#[utoipa::path(get, path = "/path", operation_id = "path.get", tag = "project",
    responses((status = 200, description = "Path", body = PathInfo)))]
pub async fn path(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
) -> Result<Json<PathInfo>, ApiError> {
    let paths = state.instances.paths().clone();
    let home = state.instances.environment().home.clone();
    let info =
        blocking(move || vcs::path_info(&instance.directory, &home, &paths.data, &paths.config)).await?;
    Ok(Json(info))
}

/// Get VCS info for the current project.
#[utoipa::path(get, path = "/vcs", operation_id = "vcs.get", tag = "project",
    responses((status = 200, description = "VCS info", body = VcsInfo)))]
pub async fn vcs(Scoped(instance): Scoped) -> Result<Json<VcsInfo>, ApiError> {
    let info = blocking(move || vcs::info(&instance.directory)).await?;
    Ok(Json(info))
}

/// Get the files of the working tree that differ from `HEAD`, without patches: staged or not,
/// untracked ones that are not ignored, each with its line counts; paths from the repository's
/// top, only those under the request's directory. `[]` outside git.
#[utoipa::path(get, path = "/vcs/status", operation_id = "vcs.status", tag = "project",
    responses((status = 200, description = "VCS status", body = Vec<VcsFileStatus>)))]
pub async fn vcs_status(Scoped(instance): Scoped) -> Result<Json<Vec<VcsFileStatus>>, ApiError> {
    let root = instance.root.clone();
    let changed = blocking(move || files::vcs_status(&root)).await?;
    Ok(Json(changed))
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(current))
        .routes(routes!(directories))
        .routes(routes!(init_git))
        .routes(routes!(path))
        .routes(routes!(vcs))
        .routes(routes!(vcs_status))
}
