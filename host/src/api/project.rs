//! `/project`, `/project/{id}/directories`, `/project/git/init`, `/path`, `/vcs`, `/vcs/status`:
//! where the request's directory lives.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::extract::{Scoped, ValidJson, ValidPath, ValidQuery};
use super::{AppState, blocking};
use crate::instance::Instance;
use crate::project::details::{DetailsStore, ProjectUpdate};
use crate::project::patch::{self, DiffMode, VcsFileDiff};
use crate::project::{PathInfo, Project, ProjectDirectory, ProjectTime, VcsFileStatus, VcsInfo, files, vcs};
use crate::protocol::Event;

/// The project of `instance`, with what users said of it.
fn project_of(details: &DetailsStore, instance: &Instance) -> Project {
    let mut project = vcs::project(&instance.directory, ProjectTime::at(instance.created_ms));
    details.fill(&mut project);
    project
}

/// Each live instance, and the request's own, with its project as it is now (a directory may
/// have become a repository since its instance was made).
async fn live_projects(
    state: &AppState,
    current: Arc<Instance>,
) -> Result<Vec<(Arc<Instance>, Project)>, ApiError> {
    let mut instances = state.instances.live().await;
    if !instances.iter().any(|i| i.directory == current.directory) {
        instances.push(current);
    }
    let details = state.instances.project_details().clone();
    blocking(move || {
        instances
            .into_iter()
            .map(|instance| {
                let project = project_of(&details, &instance);
                (instance, project)
            })
            .collect()
    })
    .await
}

/// The projects of the live instances and of the request's own, by worktree, without repeats.
async fn known_projects(state: &AppState, current: Arc<Instance>) -> Result<Vec<Project>, ApiError> {
    let mut projects: Vec<Project> = live_projects(state, current)
        .await?
        .into_iter()
        .map(|(_, project)| project)
        .collect();
    projects.sort_by(|a, b| a.worktree.cmp(&b.worktree));
    projects.dedup_by(|a, b| a.id == b.id && a.worktree == b.worktree);
    Ok(projects)
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
pub async fn init_git(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
) -> Result<Json<Project>, ApiError> {
    let details = state.instances.project_details().clone();
    blocking(move || {
        if vcs::init(&instance.directory) {
            Ok(Json(project_of(&details, &instance)))
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
pub async fn current(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
) -> Result<Json<Project>, ApiError> {
    let details = state.instances.project_details().clone();
    let project = blocking(move || project_of(&details, &instance)).await?;
    Ok(Json(project))
}

/// Update project properties such as name, icon, and commands: what the body gives changes, the
/// rest stays (the icon's and the commands' fields one by one); `project.updated` goes out. The
/// project must be one the server knows (a live instance's); the global project (directories
/// outside git) has no properties to change.
#[utoipa::path(patch, path = "/project/{projectID}", operation_id = "project.update", tag = "project",
    request_body(content = ProjectUpdate),
    responses(
        (status = 200, description = "Updated project information", body = Project),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
        (status = 404, description = "No such project", body = super::error::ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Scoped(current): Scoped,
    ValidPath(path): ValidPath<ProjectPath>,
    ValidJson(change): ValidJson<ProjectUpdate>,
) -> Result<Json<Project>, ApiError> {
    let live = live_projects(&state, current).await?;
    let mut project = live
        .iter()
        .map(|(_, project)| project)
        .find(|project| project.id == path.project_id && project.id != vcs::GLOBAL_PROJECT_ID)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "ProjectNotFoundError",
                format!("project `{}` not found", path.project_id),
            )
        })?;
    let details = state.instances.project_details().clone();
    let id = project.id.clone();
    let stored = blocking(move || details.update(&id, change, crate::protocol::now_ms()))
        .await?
        .map_err(|e| ApiError::internal(format!("cannot store the project's details: {e}")))?;
    stored.apply_to(&mut project);
    // Every instance of the project tells its clients.
    for (instance, of) in &live {
        if of.id == project.id {
            instance.bus.publish(Event::ProjectUpdated(project.clone()));
        }
    }
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

/// `GET /vcs/diff`'s query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VcsDiffQuery {
    /// `git`: the working tree against `HEAD`; `branch`: against where the branch left the
    /// default branch.
    #[param(inline)]
    pub mode: DiffMode,
    /// Lines of context around each change (default 3).
    pub context: Option<u32>,
}

/// Get the working tree's changes as a diff per file, against `HEAD` (`mode=git`) or against where
/// the branch left the default branch (`mode=branch`, `[]` on the default branch itself); untracked
/// files count as added. Paths from the repository's top, only those under the request's
/// directory. `[]` outside git.
#[utoipa::path(get, path = "/vcs/diff", operation_id = "vcs.diff", tag = "project",
    params(VcsDiffQuery),
    responses(
        (status = 200, description = "VCS diff", body = Vec<VcsFileDiff>),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
    ))]
pub async fn vcs_diff(
    Scoped(instance): Scoped,
    ValidQuery(query): ValidQuery<VcsDiffQuery>,
) -> Result<Json<Vec<VcsFileDiff>>, ApiError> {
    let diffs = blocking(move || patch::diff(&instance.directory, query.mode, query.context)).await?;
    Ok(Json(diffs))
}

/// Get everything uncommitted under the request's directory as one patch (binary files
/// included) that `/vcs/apply` takes back; empty outside git.
#[utoipa::path(get, path = "/vcs/diff/raw", operation_id = "vcs.diff.raw", tag = "project",
    responses((status = 200, description = "Raw VCS diff", content_type = "text/x-diff; charset=utf-8", body = String)))]
pub async fn vcs_diff_raw(Scoped(instance): Scoped) -> Result<Response, ApiError> {
    let raw = blocking(move || patch::raw(&instance.directory)).await?;
    Ok(([(header::CONTENT_TYPE, "text/x-diff; charset=utf-8")], raw).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VcsApplyInput {
    /// A unified diff, as `git diff` (or `/vcs/diff/raw`) writes it.
    pub patch: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VcsApplied {
    pub applied: bool,
}

/// Apply a patch to the working tree (`git apply`). A patch that does not apply to the files as
/// they are changes nothing and is a 400 `VcsApplyError` with `reason: "not-clean"`; outside
/// git, `reason: "non-git"`.
#[utoipa::path(post, path = "/vcs/apply", operation_id = "vcs.apply", tag = "project",
    request_body(content = VcsApplyInput),
    responses(
        (status = 200, description = "VCS patch applied", body = VcsApplied),
        (status = 400, description = "VcsApplyError, or a bad body", body = super::error::ErrorBody),
    ))]
pub async fn vcs_apply(
    Scoped(instance): Scoped,
    ValidJson(input): ValidJson<VcsApplyInput>,
) -> Result<Json<VcsApplied>, ApiError> {
    blocking(move || patch::apply(&instance.directory, &input.patch)).await??;
    Ok(Json(VcsApplied { applied: true }))
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(current))
        .routes(routes!(directories))
        .routes(routes!(update))
        .routes(routes!(init_git))
        .routes(routes!(path))
        .routes(routes!(vcs))
        .routes(routes!(vcs_status))
        .routes(routes!(vcs_diff))
        .routes(routes!(vcs_diff_raw))
        .routes(routes!(vcs_apply))
}
