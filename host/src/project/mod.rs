//! The project a request is scoped to: the files, search and version control of one project
//! root.
//!
//! * [`sandbox`]: [`ProjectRoot`], the root opened once as a cap-std directory, and
//!   [`ProjectRoot::resolve`], the only way a user-supplied path becomes a path in it;
//! * [`files`]: `/file` (list), `/file/content` (read), `/file/status` and `/vcs/status` (changed
//!   files, from git);
//! * [`find`]: `/find` (regex search), the tree listing of `/find/file`, `/find/symbol`;
//! * [`fuzzy`]: the ranking of `/find/file`, over a listing prepared once for many queries;
//! * [`index`]: the trigram index that answers `/find` without scanning the tree;
//! * [`tree`]: the tree listing `/find/file` ranks, cached between queries;
//! * [`watch`]: the project's file watcher, which keeps `index` and `tree` current;
//! * [`vcs`]: `/vcs`, and the `Project` and `Path` objects of `/project` and `/path`.
//!
//! These are services, not HTTP handlers: plain blocking functions (file I/O, directory walks,
//! `git` subprocesses) returning the reference's response types, for the handlers to call from a
//! blocking task. This module must not know about HTTP (no axum, no status codes), and must not
//! touch a file by a path joined by hand: every access goes through the root's capability
//! directory with a path from `resolve` (host paths appear only in responses and as `git -C`).

pub mod details;
pub mod files;
pub mod find;
pub mod fuzzy;
pub mod index;
pub mod patch;
pub mod sandbox;
#[cfg(test)]
mod testing;
pub mod tree;
pub mod vcs;
pub mod watch;

pub use files::{
    ChangeStatus, ContentEncoding, ContentType, FileContent, FileNode, FilePatch, FileStatus, NodeType,
    PatchHunk, VcsFileStatus,
};
pub use find::{
    DEFAULT_TEXT_LIMIT, FindError, Kind, MAX_FILES_LIMIT, Match, MatchText, Position, Range, SubMatch,
    Symbol, SymbolLocation,
};
pub use sandbox::{PathError, ProjectRoot};
pub use vcs::{PathInfo, ProjectDirectory, VcsInfo};

pub use crate::protocol::project::{Project, ProjectCommands, ProjectIcon, ProjectTime, ProjectVcs};

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::{PartialSchema, ToSchema};

    fn schema<T: PartialSchema>() -> serde_json::Value {
        serde_json::to_value(T::schema()).expect("schema json")
    }

    #[test]
    fn schemas_carry_the_reference_names_and_fields() {
        assert_eq!(FileStatus::name(), "File");
        assert_eq!(PathInfo::name(), "Path");
        assert_eq!(FileNode::name(), "FileNode");
        assert_eq!(FileContent::name(), "FileContent");
        assert_eq!(VcsInfo::name(), "VcsInfo");
        let content = schema::<FileContent>();
        assert_eq!(content["required"], serde_json::json!(["type", "content"]));
        let props = content["properties"].as_object().expect("properties");
        let keys: Vec<&str> = props.keys().map(String::as_str).collect();
        assert_eq!(keys, ["type", "content", "diff", "patch", "encoding", "mimeType"]);
        // Optional fields are absent, never null, as the reference's.
        assert!(!content.to_string().contains("null"), "{content}");
        let project = schema::<Project>();
        assert_eq!(
            project["required"],
            serde_json::json!(["id", "worktree", "time", "sandboxes"])
        );
        let found = schema::<Match>();
        assert_eq!(
            found["required"],
            serde_json::json!(["path", "lines", "line_number", "absolute_offset", "submatches"])
        );
    }
}
