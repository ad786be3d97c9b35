//! `/file` (list a directory), `/file/content` (read a file) and `/file/status` (changed files).
//!
//! All reads go through the project's capability directory; paths come from
//! [`ProjectRoot::resolve`]. The functions block (file reads, `git`); call them from a blocking
//! task.

use std::cmp::Ordering;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use cap_std::fs::{OpenOptions, OpenOptionsExt as _};
use ignore::Match as IgnoreMatch;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rustix::fs::OFlags;
use serde::Serialize;
use utoipa::ToSchema;

use super::sandbox::{PathError, ProjectRoot, cap_path, to_slash};
use super::vcs::git;

/// `"file"` or `"directory"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeType {
    File,
    Directory,
}

/// One entry of `GET /file?path=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FileNode {
    pub name: String,
    /// Relative to the project root; directories end with `/` (`"src/"`, `"src/main.rs"`).
    pub path: String,
    pub absolute: String,
    #[serde(rename = "type")]
    pub kind: NodeType,
    /// Matched by a `.gitignore` or `.ignore` between the root and the entry.
    pub ignored: bool,
}

/// `"text"` or `"binary"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    Text,
    Binary,
}

/// The only encoding the reference knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentEncoding {
    Base64,
}

/// A hunk of [`FilePatch`] (schema parity with the reference; not produced here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PatchHunk {
    #[serde(rename = "oldStart")]
    pub old_start: u64,
    #[serde(rename = "oldLines")]
    pub old_lines: u64,
    #[serde(rename = "newStart")]
    pub new_start: u64,
    #[serde(rename = "newLines")]
    pub new_lines: u64,
    pub lines: Vec<String>,
}

/// The structured patch of [`FileContent`] (schema parity with the reference; the reference
/// 1.18.33 did not send it for a modified file either).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FilePatch {
    #[serde(rename = "oldFileName")]
    pub old_file_name: String,
    #[serde(rename = "newFileName")]
    pub new_file_name: String,
    #[serde(rename = "oldHeader", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub old_header: Option<String>,
    #[serde(rename = "newHeader", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub new_header: Option<String>,
    pub hunks: Vec<PatchHunk>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub index: Option<String>,
}

/// `GET /file/content?path=…`.
///
/// * text: `{"type":"text","content":"…"}` (content trimmed, as the reference does);
/// * image: `{"type":"text","content":<base64>,"encoding":"base64","mimeType":"image/png"}`, as the
///   reference;
/// * other binary: `{"type":"binary","content":<base64>,"encoding":"base64","mimeType":…}` (the
///   reference sends an empty `content` here; we send the bytes);
/// * missing file or a directory: `{"type":"text","content":""}`, as the reference (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FileContent {
    #[serde(rename = "type")]
    pub kind: ContentType,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub diff: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub patch: Option<FilePatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub encoding: Option<ContentEncoding>,
    #[serde(rename = "mimeType", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub mime_type: Option<String>,
}

impl FileContent {
    fn text(content: String) -> Self {
        Self {
            kind: ContentType::Text,
            content,
            diff: None,
            patch: None,
            encoding: None,
            mime_type: None,
        }
    }

    fn base64(kind: ContentType, bytes: &[u8], mime: &str) -> Self {
        Self {
            kind,
            content: base64::engine::general_purpose::STANDARD.encode(bytes),
            diff: None,
            patch: None,
            encoding: Some(ContentEncoding::Base64),
            mime_type: Some(mime.to_owned()),
        }
    }
}

/// `"added"`, `"deleted"` or `"modified"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeStatus {
    Added,
    Deleted,
    Modified,
}

/// One item of `GET /file/status` (the reference's `File` schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = File)]
pub struct FileStatus {
    /// Relative to the project root.
    pub path: String,
    /// Lines added.
    pub added: u64,
    /// Lines removed.
    pub removed: u64,
    pub status: ChangeStatus,
}

/// Lists one directory of the project: directories first, then files, each group by name
/// (case-insensitively, as the reference's `localeCompare`). `.git` is listed, as the reference
/// does. A missing path, or a path that is a file, lists as `[]` (the reference's answer).
/// Symlinks are listed as files (not followed), as the reference does.
pub fn list(root: &ProjectRoot, path: &str) -> Result<Vec<FileNode>, PathError> {
    let rel = root.resolve(path)?;
    let entries = match root.dir().read_dir(cap_path(&rel)) {
        Ok(entries) => entries,
        Err(err) if matches!(err.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
            return Ok(Vec::new());
        }
        Err(err) => return Err(io_error(err, path)),
    };
    let ignores = IgnoreChain::load(root, &rel);
    let parent_abs = root.display_absolute(&rel);
    let mut nodes = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let is_dir = entry.file_type()?.is_dir();
        let absolute = parent_abs.join(&name);
        let mut rel_path = to_slash(&rel.join(&name));
        let ignored = ignores.is_ignored(&absolute, is_dir);
        if is_dir {
            rel_path.push('/');
        }
        nodes.push(FileNode {
            name: name.to_string_lossy().into_owned(),
            path: rel_path,
            absolute: absolute.to_string_lossy().into_owned(),
            kind: if is_dir {
                NodeType::Directory
            } else {
                NodeType::File
            },
            ignored,
        });
    }
    nodes.sort_by(|a, b| match (a.kind, b.kind) {
        (NodeType::Directory, NodeType::File) => Ordering::Less,
        (NodeType::File, NodeType::Directory) => Ordering::Greater,
        _ => locale_order(&a.name, &b.name),
    });
    Ok(nodes)
}

/// Close to `localeCompare` for file names: case-insensitive, lowercase first on a tie.
fn locale_order(a: &str, b: &str) -> Ordering {
    let folded = a
        .chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase));
    folded.then_with(|| b.cmp(a))
}

/// The `.gitignore`/`.ignore` files from the root down to one directory, deepest first.
struct IgnoreChain(Vec<Gitignore>);

impl IgnoreChain {
    fn load(root: &ProjectRoot, rel_dir: &Path) -> Self {
        let mut levels = vec![PathBuf::new()];
        let mut current = PathBuf::new();
        for component in rel_dir.components() {
            current.push(component);
            levels.push(current.clone());
        }
        let mut chain = Vec::new();
        for level in levels.iter().rev() {
            // `.ignore` takes precedence over `.gitignore` in the same directory (as rg does).
            for file in [".ignore", ".gitignore"] {
                let Ok(text) = root.dir().read_to_string(level.join(file)) else {
                    continue;
                };
                let mut builder = GitignoreBuilder::new(root.display_absolute(level));
                for line in text.lines() {
                    // A bad glob only loses that line, as git does.
                    let _ = builder.add_line(None, line);
                }
                if let Ok(matcher) = builder.build() {
                    chain.push(matcher);
                }
            }
        }
        Self(chain)
    }

    fn is_ignored(&self, absolute: &Path, is_dir: bool) -> bool {
        for matcher in &self.0 {
            match matcher.matched_path_or_any_parents(absolute, is_dir) {
                IgnoreMatch::Ignore(_) => return true,
                IgnoreMatch::Whitelist(_) => return false,
                IgnoreMatch::None => {}
            }
        }
        false
    }
}

fn io_error(err: io::Error, path: &str) -> PathError {
    match err.kind() {
        io::ErrorKind::PermissionDenied => PathError::Forbidden(format!("{path}: {err}")),
        _ => PathError::Io(err),
    }
}

/// Reads one file of the project (see [`FileContent`] for the shapes). Files larger than
/// `cap_bytes` are refused with [`PathError::TooLarge`] without being read. A missing file (or a
/// directory) is `{"type":"text","content":""}`, mirroring the reference's 200. Anything that is
/// not a regular file or directory (a FIFO, a device) is [`PathError::Forbidden`]. May wait for
/// the disk: call it off the async workers.
pub fn read(root: &ProjectRoot, path: &str, cap_bytes: u64) -> Result<FileContent, PathError> {
    read_with(root, path, cap_bytes, Wait::Block)?
        .ok_or_else(|| PathError::Io(io::Error::other("a blocking read gave up")))
}

/// Files up to this size are worth reading on an async worker when they are cached.
pub const CACHED_READ_MAX: u64 = 256 << 10;

/// [`read`] without waiting for the disk, for an async worker: `Ok(None)` when the file is larger
/// than [`CACHED_READ_MAX`] or not wholly in the page cache (then call [`read`] on the blocking
/// pool). A cached 100 KB file costs about 20 µs here, less than the two thread hand-offs a trip
/// to the blocking pool costs. Like nginx, the open and stat themselves are done in place: the
/// path's metadata is almost always cached once the project has been looked at.
pub fn read_cached(root: &ProjectRoot, path: &str, cap_bytes: u64) -> Result<Option<FileContent>, PathError> {
    read_with(root, path, cap_bytes, Wait::Never)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Block,
    /// Give up (`None`) rather than wait for the disk.
    Never,
}

fn read_with(
    root: &ProjectRoot,
    path: &str,
    cap_bytes: u64,
    wait: Wait,
) -> Result<Option<FileContent>, PathError> {
    let rel = root.lexical(path)?;
    let empty = || Ok(Some(FileContent::text(String::new())));
    // One walk through the sandbox: open, then ask the open file what it is. Non-blocking, so a
    // FIFO in the project cannot hold the request until a writer shows up; no controlling tty.
    let mut options = OpenOptions::new();
    options
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32);
    let file = match root.dir().open_with(cap_path(&rel), &options) {
        Ok(file) => file,
        Err(err) if matches!(err.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
            return empty();
        }
        Err(err) => return Err(io_error(err, path)),
    };
    let meta = file.metadata().map_err(|err| io_error(err, path))?;
    if meta.is_dir() {
        return empty();
    }
    if !meta.is_file() {
        return Err(PathError::Forbidden(format!("{path}: not a regular file")));
    }
    let too_large = |size| PathError::TooLarge {
        path: path.to_owned(),
        size,
        limit: cap_bytes,
    };
    if meta.len() > cap_bytes {
        return Err(too_large(meta.len()));
    }
    // The file may have grown since the stat: read at most one byte past the cap to notice.
    let limit = cap_bytes.saturating_add(1);
    let bytes = match wait {
        Wait::Block => {
            let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
            file.take(limit).read_to_end(&mut bytes)?;
            bytes
        }
        Wait::Never if meta.len() > CACHED_READ_MAX => return Ok(None),
        Wait::Never => match read_without_waiting(&file, meta.len(), limit)? {
            Some(bytes) => bytes,
            None => return Ok(None),
        },
    };
    if bytes.len() as u64 > cap_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(Some(decode(&rel, bytes)))
}

/// Reads up to `limit` bytes of a regular file, expected to be `len` long, from the page cache
/// only (`preadv2` with `RWF_NOWAIT`): `None` as soon as a page would have to come from the disk,
/// or where the kernel or the file system cannot tell.
#[cfg(target_os = "linux")]
fn read_without_waiting(file: &cap_std::fs::File, len: u64, limit: u64) -> io::Result<Option<Vec<u8>>> {
    use rustix::io::{Errno, ReadWriteFlags, preadv2};
    // One spare byte, so a file that grew since the stat shows as growth.
    let mut bytes = vec![0u8; usize::try_from(len.saturating_add(1).min(limit)).unwrap_or(0)];
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            if filled as u64 >= limit {
                break;
            }
            let grown = (bytes.len() * 2)
                .max(4096)
                .min(usize::try_from(limit).unwrap_or(usize::MAX));
            bytes.resize(grown, 0);
        }
        let mut slice = [io::IoSliceMut::new(&mut bytes[filled..])];
        match preadv2(file, &mut slice, filled as u64, ReadWriteFlags::NOWAIT) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN | Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => return Ok(None),
            Err(err) => return Err(err.into()),
        }
    }
    bytes.truncate(filled);
    Ok(Some(bytes))
}

#[cfg(not(target_os = "linux"))]
fn read_without_waiting(_: &cap_std::fs::File, _: u64, _: u64) -> io::Result<Option<Vec<u8>>> {
    Ok(None)
}

/// The response for a file's bytes: images and binary as base64, text trimmed.
fn decode(rel: &Path, bytes: Vec<u8>) -> FileContent {
    let ext = extension(rel);
    if let Some(mime) = image_mime(&ext) {
        return FileContent::base64(ContentType::Text, &bytes, mime);
    }
    if looks_binary(&bytes) {
        let mime = binary_mime(&ext);
        return FileContent::base64(ContentType::Binary, &bytes, mime);
    }
    match String::from_utf8(bytes) {
        Ok(text) => FileContent::text(trim_in_place(text)),
        Err(err) => FileContent::base64(ContentType::Binary, err.as_bytes(), binary_mime(&ext)),
    }
}

/// `text.trim()` without copying the (usually untouched) middle: most files only end with a
/// newline, which is a truncate.
fn trim_in_place(mut text: String) -> String {
    let end = text.trim_end().len();
    text.truncate(end);
    let start = text.len() - text.trim_start().len();
    text.drain(..start);
    text
}

fn extension(rel: &Path) -> String {
    rel.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Binary when a NUL byte shows in the first 8 KiB (git's and ripgrep's test), or when the bytes
/// are not UTF-8 (checked by the caller).
fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8192)].contains(&0)
}

/// The reference's image extensions, which it sends base64-encoded as `type: "text"`.
fn image_mime(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "tif" | "tiff" => "image/tiff",
        "svg" | "svgz" => "image/svg+xml",
        "avif" => "image/avif",
        "apng" => "image/apng",
        "jxl" => "image/jxl",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "raw" => "image/raw",
        "cr2" => "image/cr2",
        "nef" => "image/nef",
        "arw" => "image/arw",
        "dng" => "image/dng",
        "orf" => "image/orf",
        "raf" => "image/raf",
        "pef" => "image/pef",
        "x3f" => "image/x3f",
        _ => return None,
    })
}

fn binary_mime(ext: &str) -> &'static str {
    match ext {
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "gzip" => "application/gzip",
        "tar" => "application/x-tar",
        "wasm" => "application/wasm",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" | "oga" => "audio/ogg",
        "flac" => "audio/flac",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "sqlite" | "db" => "application/vnd.sqlite3",
        _ => "application/octet-stream",
    }
}

/// One item of `GET /vcs/status` (the reference's `VcsFileStatus`): a changed file by its path
/// from the repository's top.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct VcsFileStatus {
    pub file: String,
    pub additions: u64,
    pub deletions: u64,
    pub status: ChangeStatus,
}

/// [`changes`] as `GET /file/status` reports them: paths from the project root.
///
/// The reference always answered `[]` here (its `/vcs/status` had the data); this reports it.
pub fn status(root: &ProjectRoot) -> Vec<FileStatus> {
    changes(root)
        .into_iter()
        .map(|change| FileStatus {
            path: change.path,
            added: change.added,
            removed: change.removed,
            status: change.status,
        })
        .collect()
}

/// [`changes`] as `GET /vcs/status` reports them: paths from the repository's top (the project
/// root may be a subdirectory of it; only its files are listed either way).
pub fn vcs_status(root: &ProjectRoot) -> Vec<VcsFileStatus> {
    changes(root)
        .into_iter()
        .map(|change| VcsFileStatus {
            file: change.repo_path,
            additions: change.added,
            deletions: change.removed,
            status: change.status,
        })
        .collect()
}

/// A changed file, by its path from the repository's top and from the project root.
struct Change {
    repo_path: String,
    path: String,
    added: u64,
    removed: u64,
    status: ChangeStatus,
}

/// The project's changed files, from git: modified (and staged) files with `git diff --numstat`
/// counts against `HEAD`, untracked files as `added` with their line count, deleted files with
/// the lines they had. Renames show as a deletion plus an addition. Only the files under the
/// project root, which may be a subdirectory of the repository. Sorted by path. Outside git, or
/// without git, `[]`.
fn changes(root: &ProjectRoot) -> Vec<Change> {
    let dir = root.path();
    let Some(raw) = git(
        dir,
        [
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
            ".",
        ],
    ) else {
        return Vec::new();
    };
    // Porcelain and numstat paths are relative to the repository top; strip the root's prefix.
    let prefix = git(dir, ["rev-parse", "--show-prefix"])
        .map(|out| {
            String::from_utf8_lossy(&out)
                .trim_end_matches(['\n', '\r'])
                .to_owned()
        })
        .unwrap_or_default();
    let numstat = git(
        dir,
        ["diff", "--numstat", "-z", "--no-renames", "HEAD", "--", "."],
    )
    .map(parse_numstat);

    let mut out = Vec::new();
    for record in raw.split(|b| *b == 0) {
        if record.len() < 4 {
            continue;
        }
        let (x, y) = (record[0], record[1]);
        let repo_path = String::from_utf8_lossy(&record[3..]);
        let Some(path) = repo_path.strip_prefix(prefix.as_str()) else {
            continue;
        };
        let status = match (x, y) {
            (b'?', b'?') => ChangeStatus::Added,
            (b'!', b'!') => continue,
            (b'D', _) | (_, b'D') => ChangeStatus::Deleted,
            (b'A', _) => ChangeStatus::Added,
            _ => ChangeStatus::Modified,
        };
        let counted = numstat
            .as_ref()
            .and_then(|stats| stats.iter().find(|(p, _, _)| p == repo_path.as_ref()));
        let (added, removed) = match counted {
            Some((_, added, removed)) => (*added, *removed),
            None if status == ChangeStatus::Added => (count_lines(root, Path::new(path)), 0),
            None => (0, 0),
        };
        out.push(Change {
            path: path.to_owned(),
            repo_path: repo_path.into_owned(),
            added,
            removed,
            status,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// `added\tremoved\tpath\0` records; binary files (`-`) count 0.
fn parse_numstat(raw: Vec<u8>) -> Vec<(String, u64, u64)> {
    raw.split(|b| *b == 0)
        .filter_map(|record| {
            let text = String::from_utf8_lossy(record);
            let mut fields = text.splitn(3, '\t');
            let added = fields.next()?.parse().unwrap_or(0);
            let removed = fields.next()?.parse().unwrap_or(0);
            let path = fields.next()?.trim_start_matches('\n');
            (!path.is_empty()).then(|| (path.to_owned(), added, removed))
        })
        .collect()
}

/// Lines of a text file (a last line without a newline counts); 0 for a binary file, a symlink,
/// or anything unreadable.
fn count_lines(root: &ProjectRoot, rel: &Path) -> u64 {
    match root.dir().symlink_metadata(rel) {
        Ok(meta) if meta.is_file() => {}
        _ => return 0,
    }
    let Ok(mut file) = root.dir().open(rel) else {
        return 0;
    };
    let mut buf = vec![0u8; 64 * 1024];
    let (mut lines, mut last, mut first_block) = (0u64, b'\n', true);
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return 0,
        };
        let chunk = &buf[..n];
        if first_block && looks_binary(chunk) {
            return 0;
        }
        first_block = false;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        last = chunk[n - 1];
    }
    if last != b'\n' { lines + 1 } else { lines }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::vcs::tests::{init_repo, run_git};

    use crate::project::testing::project;

    #[test]
    fn list_root_like_the_reference() {
        let (_dir, root) = project(&[
            ("src/main.rs", "fn main() {}\n"),
            ("notes.txt", "n\n"),
            ("README.md", "r\n"),
            ("untracked.txt", "u\n"),
            (".git/HEAD", "ref: refs/heads/main\n"),
        ]);
        let nodes = list(&root, ".").expect("list");
        let base = root.path().to_string_lossy().into_owned();
        let expected = serde_json::json!([
            {"name":".git","path":".git/","absolute":format!("{base}/.git"),"type":"directory","ignored":false},
            {"name":"src","path":"src/","absolute":format!("{base}/src"),"type":"directory","ignored":false},
            {"name":"notes.txt","path":"notes.txt","absolute":format!("{base}/notes.txt"),"type":"file","ignored":false},
            {"name":"README.md","path":"README.md","absolute":format!("{base}/README.md"),"type":"file","ignored":false},
            {"name":"untracked.txt","path":"untracked.txt","absolute":format!("{base}/untracked.txt"),"type":"file","ignored":false},
        ]);
        assert_eq!(serde_json::to_value(&nodes).expect("json"), expected);
        // The same listing through an empty path and the absolute root.
        assert_eq!(list(&root, "").expect("list"), nodes);
        assert_eq!(list(&root, &base).expect("list"), nodes);
    }

    #[test]
    fn list_subdirectory_paths_and_ignored() {
        let (_dir, root) = project(&[
            (".gitignore", "*.log\nbuild/\n!keep.log\n"),
            ("src/main.rs", "fn main() {}\n"),
            ("src/debug.log", "x"),
            ("src/keep.log", "x"),
            ("src/.gitignore", "generated.rs\n"),
            ("src/generated.rs", "x"),
            ("src/build/out.o", "x"),
            ("src/inner/a.rs", "x"),
            ("build/x/y.txt", "x"),
        ]);
        let nodes = list(&root, "src").expect("list");
        let summary: Vec<(&str, &str, bool)> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.path.as_str(), n.ignored))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("build", "src/build/", true),
                ("inner", "src/inner/", false),
                (".gitignore", "src/.gitignore", false),
                ("debug.log", "src/debug.log", true),
                ("generated.rs", "src/generated.rs", true),
                ("keep.log", "src/keep.log", false),
                ("main.rs", "src/main.rs", false),
            ]
        );
        assert_eq!(nodes[0].absolute, root.path().join("src/build").to_string_lossy());
        // Inside an ignored directory everything is ignored.
        let nested = list(&root, "build/x").expect("list");
        assert_eq!(nested.len(), 1);
        assert_eq!(nested[0].path, "build/x/y.txt");
        assert!(nested[0].ignored);
        // Missing directory, a file: [] as the reference.
        assert!(list(&root, "nope").expect("list").is_empty());
        assert!(list(&root, "src/main.rs").expect("list").is_empty());
    }

    #[test]
    fn list_refuses_escapes() {
        let (dir, root) = project(&[("a.txt", "a")]);
        let outside = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).expect("symlink");
        for path in ["..", "../", "/etc", "out", "out/", "a/../../"] {
            assert!(
                matches!(list(&root, path), Err(PathError::Forbidden(_))),
                "{path}"
            );
        }
    }

    #[test]
    fn read_text_trimmed_as_the_reference() {
        let (_dir, root) = project(&[
            ("src/main.rs", "fn main() {\n}\n"),
            ("notes.txt", "  one\ntwo\n\n"),
        ]);
        let content = read(&root, "src/main.rs", 1024).expect("read");
        assert_eq!(
            serde_json::to_value(&content).expect("json"),
            serde_json::json!({"type":"text","content":"fn main() {\n}"})
        );
        assert_eq!(read(&root, "notes.txt", 1024).expect("read").content, "one\ntwo");
        let abs = root.path().join("notes.txt");
        assert_eq!(
            read(&root, abs.to_str().expect("utf8"), 1024)
                .expect("read")
                .content,
            "one\ntwo"
        );
    }

    #[test]
    fn read_binary_and_images_as_base64() {
        let (dir, root) = project(&[]);
        std::fs::write(dir.path().join("blob.bin"), [0u8, 1, 2, 255]).expect("write");
        std::fs::write(dir.path().join("latin1.txt"), [b'c', b'a', b'f', 0xE9]).expect("write");
        std::fs::write(dir.path().join("logo.PNG"), [0x89, b'P', b'N', b'G']).expect("write");
        let blob = read(&root, "blob.bin", 1024).expect("read");
        assert_eq!(
            serde_json::to_value(&blob).expect("json"),
            serde_json::json!({"type":"binary","content":"AAEC/w==","encoding":"base64",
                "mimeType":"application/octet-stream"})
        );
        let latin = read(&root, "latin1.txt", 1024).expect("read");
        assert_eq!(latin.kind, ContentType::Binary);
        assert_eq!(latin.content, "Y2Fm6Q==");
        let image = read(&root, "logo.PNG", 1024).expect("read");
        assert_eq!(
            serde_json::to_value(&image).expect("json"),
            serde_json::json!({"type":"text","content":"iVBORw==","encoding":"base64","mimeType":"image/png"})
        );
    }

    #[test]
    fn read_missing_directory_and_too_large() {
        let (_dir, root) = project(&[("big.txt", "0123456789"), ("src/a.rs", "a")]);
        let missing = read(&root, "nope.txt", 1024).expect("missing is not an error");
        assert_eq!(
            serde_json::to_value(&missing).expect("json"),
            serde_json::json!({"type":"text","content":""})
        );
        assert_eq!(read(&root, "nope/deeper.txt", 1024).expect("read").content, "");
        assert_eq!(read(&root, "src", 1024).expect("read").content, "");
        assert_eq!(
            read(&root, "big.txt", 10).expect("at the cap").content,
            "0123456789"
        );
        match read(&root, "big.txt", 9) {
            Err(PathError::TooLarge {
                size: 10, limit: 9, ..
            }) => {}
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn read_refuses_a_fifo_without_waiting_for_a_writer() {
        let (dir, root) = project(&[]);
        let fifo = dir.path().join("pipe");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        // A blocking open would hang here until something opened the pipe for writing.
        assert!(matches!(read(&root, "pipe", 1024), Err(PathError::Forbidden(_))));
    }

    #[test]
    fn read_cached_answers_as_read_does() {
        let (dir, root) = project(&[
            ("src/main.rs", "  fn main() {\n}\n\n"),
            ("big.txt", "0123456789"),
            ("src/a.rs", "a"),
        ]);
        std::fs::write(dir.path().join("blob.bin"), [0u8, 1, 2, 255]).expect("write");
        std::fs::write(dir.path().join("logo.png"), [0x89, b'P', b'N', b'G']).expect("write");
        for path in [
            "src/main.rs",
            "blob.bin",
            "logo.png",
            "nope.txt",
            "src",
            "big.txt",
            "src/a.rs",
        ] {
            let cached = read_cached(&root, path, 1024).expect("read_cached");
            assert_eq!(cached, Some(read(&root, path, 1024).expect("read")), "{path}");
        }
        assert!(matches!(
            read_cached(&root, "big.txt", 9),
            Err(PathError::TooLarge { size: 10, .. })
        ));
        assert!(matches!(
            read_cached(&root, "../x", 1024),
            Err(PathError::Forbidden(_))
        ));
        // Larger than an async worker should encode: left to the blocking pool.
        let large = "x".repeat(usize::try_from(CACHED_READ_MAX).expect("fits") + 1);
        std::fs::write(dir.path().join("large.txt"), &large).expect("write");
        assert_eq!(
            read_cached(&root, "large.txt", u64::MAX).expect("read_cached"),
            None
        );
        assert_eq!(read(&root, "large.txt", u64::MAX).expect("read").content, large);
    }

    #[test]
    fn read_cached_leaves_pages_on_disk_to_the_blocking_read() {
        let (dir, root) = project(&[]);
        let path = dir.path().join("cold.txt");
        std::fs::write(&path, "cold\n".repeat(4096)).expect("write");
        let file = std::fs::File::open(&path).expect("open");
        file.sync_all().expect("sync");
        // Written back, so the kernel may drop the pages; tmpfs keeps them in memory regardless.
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).expect("fadvise");
        let tmpfs = rustix::fs::fstatfs(&file).expect("statfs").f_type == 0x0102_1994;
        match read_cached(&root, "cold.txt", u64::MAX).expect("read_cached") {
            None => {}
            Some(content) => assert!(tmpfs, "read {} bytes from a cold file", content.content.len()),
        }
        assert_eq!(
            read(&root, "cold.txt", u64::MAX).expect("read").content,
            "cold\n".repeat(4096).trim()
        );
    }

    #[test]
    fn read_refuses_escapes() {
        let (dir, root) = project(&[("a.txt", "a")]);
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("secret"), "s").expect("write");
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).expect("symlink");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("dirlink")).expect("symlink");
        for path in [
            "../../../../etc/hostname",
            "/etc/hostname",
            "link",
            "dirlink/secret",
            "dirlink/",
        ] {
            assert!(
                matches!(read(&root, path, 1024), Err(PathError::Forbidden(_))),
                "{path}"
            );
        }
    }

    #[test]
    fn status_outside_git_is_empty() {
        let (_dir, root) = project(&[("a.txt", "a\n")]);
        assert!(status(&root).is_empty());
    }

    #[test]
    fn status_reports_changes_with_line_counts() {
        let (dir, _) = project(&[
            ("notes.txt", "one\ntwo\nthree\n"),
            ("gone.txt", "a\nb\n"),
            ("same.txt", "same\n"),
            ("src/lib.rs", "x\n"),
            (".gitignore", "*.log\n"),
        ]);
        init_repo(dir.path());
        run_git(dir.path(), &["add", "."]);
        run_git(dir.path(), &["commit", "-q", "-m", "init"]);
        std::fs::write(dir.path().join("notes.txt"), "one\n2\nthree\nfour\n").expect("write");
        std::fs::remove_file(dir.path().join("gone.txt")).expect("rm");
        std::fs::write(dir.path().join("new.txt"), "a\nb\nc").expect("write");
        std::fs::write(dir.path().join("src/staged.rs"), "1\n2\n").expect("write");
        std::fs::write(dir.path().join("debug.log"), "ignored\n").expect("write");
        std::fs::write(dir.path().join("blob.bin"), [0u8, 1, 2]).expect("write");
        run_git(dir.path(), &["add", "src/staged.rs"]);

        let root = ProjectRoot::open(dir.path()).expect("open");
        let got = serde_json::to_value(status(&root)).expect("json");
        assert_eq!(
            got,
            serde_json::json!([
                {"path":"blob.bin","added":0,"removed":0,"status":"added"},
                {"path":"gone.txt","added":0,"removed":2,"status":"deleted"},
                {"path":"new.txt","added":3,"removed":0,"status":"added"},
                {"path":"notes.txt","added":2,"removed":1,"status":"modified"},
                {"path":"src/staged.rs","added":2,"removed":0,"status":"added"},
            ])
        );

        // A root inside the repository sees only its files, relative to itself.
        std::fs::write(dir.path().join("src/lib.rs"), "x\ny\n").expect("write");
        let sub = ProjectRoot::open(dir.path().join("src")).expect("open");
        let got = serde_json::to_value(status(&sub)).expect("json");
        assert_eq!(
            got,
            serde_json::json!([
                {"path":"lib.rs","added":1,"removed":0,"status":"modified"},
                {"path":"staged.rs","added":2,"removed":0,"status":"added"},
            ])
        );
    }

    #[test]
    fn status_before_the_first_commit() {
        let (dir, _) = project(&[("a.txt", "1\n2\n")]);
        init_repo(dir.path());
        let root = ProjectRoot::open(dir.path()).expect("open");
        assert_eq!(
            status(&root),
            vec![FileStatus {
                path: "a.txt".into(),
                added: 2,
                removed: 0,
                status: ChangeStatus::Added
            }]
        );
    }
}
