//! Test fixture `fixture-probe`: tools that *try* things and report what happened, so the host's
//! tests can assert on what the sandbox allowed.
//!
//! Every tool returns the outcome as its output text on success, or the error text as
//! `ToolError::Failed` (for `std::io` errors: `"{op} {path}: {error} (kind {kind:?})"`). Paths are
//! used exactly as given, without `Context::resolve`, so that `..`, absolute paths and symlinks
//! reach the sandbox itself.

use std::fs;
use std::io::Write;

use serde::Deserialize;
use wasmcode_plugin::process::{RunRequest, run};
use wasmcode_plugin::{Context, JsonSchema, Output, Tool, ToolError, export_tools};

/// A filesystem operation of the `fs` tool.
#[derive(Deserialize, JsonSchema, Clone, Copy, Debug)]
#[serde(rename_all = "lowercase")]
pub enum FsOp {
    Read,
    Write,
    Append,
    Truncate,
    Rename,
    Symlink,
    Mkdir,
    Remove,
    List,
    Metadata,
}

impl FsOp {
    fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Append => "append",
            Self::Truncate => "truncate",
            Self::Rename => "rename",
            Self::Symlink => "symlink",
            Self::Mkdir => "mkdir",
            Self::Remove => "remove",
            Self::List => "list",
            Self::Metadata => "metadata",
        }
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct FsArgs {
    /// The operation
    op: FsOp,
    /// The path to operate on, used as given (relative to the preopened project root `.`)
    path: String,
    /// `rename`: the new path; `symlink`: where to create the link (pointing to `path`)
    to: Option<String>,
    /// `write` / `append`: the text to write
    content: Option<String>,
}

/// `fs`: one `std::fs` operation on a path as given.
pub struct Fs;

impl Tool for Fs {
    const ID: &'static str = "fs";
    const DESCRIPTION: &'static str = "Runs one std::fs operation on a path exactly as given.";
    type Args = FsArgs;

    fn execute(args: FsArgs, _ctx: &Context) -> Result<Output, ToolError> {
        let op = args.op.name();
        let path = args.path.as_str();
        let target = || {
            args.to
                .as_deref()
                .ok_or_else(|| ToolError::invalid_args(format!("{op} needs `to`")))
        };
        let content = args.content.as_deref().unwrap_or("");
        let io_error =
            |e: std::io::Error| ToolError::Failed(format!("{op} {path}: {e} (kind {:?})", e.kind()));

        let output = match args.op {
            FsOp::Read => fs::read_to_string(path).map_err(io_error)?,
            FsOp::Write => fs::write(path, content)
                .map(|()| "ok".to_string())
                .map_err(io_error)?,
            FsOp::Append => fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .and_then(|mut file| file.write_all(content.as_bytes()))
                .map(|()| "ok".to_string())
                .map_err(io_error)?,
            FsOp::Truncate => fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(path)
                .map(|_| "ok".to_string())
                .map_err(io_error)?,
            FsOp::Rename => fs::rename(path, target()?)
                .map(|()| "ok".to_string())
                .map_err(io_error)?,
            FsOp::Symlink => symlink(path, target()?)
                .map(|()| "ok".to_string())
                .map_err(io_error)?,
            FsOp::Mkdir => fs::create_dir(path)
                .map(|()| "ok".to_string())
                .map_err(io_error)?,
            FsOp::Remove => {
                let is_dir = fs::symlink_metadata(path).map(|m| m.is_dir()).map_err(io_error)?;
                let removed = if is_dir {
                    fs::remove_dir(path)
                } else {
                    fs::remove_file(path)
                };
                removed.map(|()| "ok".to_string()).map_err(io_error)?
            }
            FsOp::List => {
                let mut names = fs::read_dir(path)
                    .and_then(|entries| {
                        entries
                            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .map_err(io_error)?;
                names.sort();
                names.join("\n")
            }
            FsOp::Metadata => {
                let meta = fs::metadata(path).map_err(io_error)?;
                let kind = if meta.is_dir() {
                    "dir"
                } else if meta.is_file() {
                    "file"
                } else {
                    "other"
                };
                format!(
                    "{kind} len={} readonly={}",
                    meta.len(),
                    meta.permissions().readonly()
                )
            }
        };
        Ok(Output::new(format!("fs {op} {path}"), output))
    }
}

/// Creates a symlink at `link` pointing to `target`, through wasi-libc's `symlink(3)` (what
/// `std::os::wasi::fs::symlink_path` does, but that function is still unstable), so the link path
/// is resolved against the preopens exactly like the other `std::fs` calls.
#[allow(
    unsafe_code,
    reason = "the stable way to create a symlink on WASI is an FFI call to wasi-libc"
)]
fn symlink(target: &str, link: &str) -> std::io::Result<()> {
    use std::ffi::{CString, c_char, c_int};

    unsafe extern "C" {
        fn symlink(target: *const c_char, link: *const c_char) -> c_int;
    }

    let nul = |_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains a NUL byte");
    let target = CString::new(target).map_err(nul)?;
    let link = CString::new(link).map_err(nul)?;
    // SAFETY: both arguments are valid NUL-terminated strings that outlive the call.
    let result = unsafe { symlink(target.as_ptr(), link.as_ptr()) };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct AllocArgs {
    /// How many bytes to allocate
    bytes: u64,
    /// Use `try_reserve_exact` and report a refusal, rather than abort the instance
    fallible: bool,
}

/// `alloc`: allocates (and touches) a buffer of the given size.
pub struct Alloc;

impl Tool for Alloc {
    const ID: &'static str = "alloc";
    const DESCRIPTION: &'static str = "Allocates and touches a buffer of the given size.";
    type Args = AllocArgs;

    fn execute(args: AllocArgs, _ctx: &Context) -> Result<Output, ToolError> {
        let n = args.bytes;
        let len = usize::try_from(n)
            .map_err(|_| ToolError::failed(format!("allocation of {n} bytes refused: larger than usize")))?;
        let buffer = if args.fallible {
            let mut buffer: Vec<u8> = Vec::new();
            buffer
                .try_reserve_exact(len)
                .map_err(|e| ToolError::failed(format!("allocation of {n} bytes refused: {e}")))?;
            // Writing every byte commits the pages.
            buffer.resize(len, 1);
            buffer
        } else {
            // Aborts (traps) the instance when the allocator is refused.
            vec![1u8; len]
        };
        let buffer = std::hint::black_box(buffer);
        Ok(Output::new("alloc", format!("allocated {} bytes", buffer.len())))
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct NoArgs {}

/// `spin`: never returns.
pub struct Spin;

impl Tool for Spin {
    const ID: &'static str = "spin";
    const DESCRIPTION: &'static str = "Loops forever.";
    type Args = NoArgs;

    fn execute(_args: NoArgs, _ctx: &Context) -> Result<Output, ToolError> {
        let mut counter: u64 = 0;
        loop {
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
    }
}

/// `trap`: executes `unreachable`.
pub struct Trap;

impl Tool for Trap {
    const ID: &'static str = "trap";
    const DESCRIPTION: &'static str = "Executes the wasm `unreachable` instruction.";
    type Args = NoArgs;

    fn execute(_args: NoArgs, _ctx: &Context) -> Result<Output, ToolError> {
        core::arch::wasm32::unreachable()
    }
}

/// `panic`: panics (which aborts: the guests are built with `panic = "abort"`).
pub struct Panic;

impl Tool for Panic {
    const ID: &'static str = "panic";
    const DESCRIPTION: &'static str = "Panics.";
    type Args = NoArgs;

    fn execute(_args: NoArgs, _ctx: &Context) -> Result<Output, ToolError> {
        panic!("fixture panic")
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct HttpArgs {
    /// An `http://` or `https://` URL to GET
    url: String,
}

/// `http`: a GET through `wasi:http/outgoing-handler`.
pub struct Http;

impl Tool for Http {
    const ID: &'static str = "http";
    const DESCRIPTION: &'static str = "Sends a GET request with wasi:http and reports the status.";
    type Args = HttpArgs;

    fn execute(args: HttpArgs, _ctx: &Context) -> Result<Output, ToolError> {
        let status = http_get(&args.url).map_err(ToolError::Failed)?;
        Ok(Output::new(
            format!("GET {}", args.url),
            format!("status {status}"),
        ))
    }
}

fn http_get(url: &str) -> Result<u16, String> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};

    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(format!("unsupported URL {url}: expected http:// or https://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };

    let request = OutgoingRequest::new(Fields::new());
    request
        .set_method(&Method::Get)
        .map_err(|()| "invalid method".to_string())?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| "invalid scheme".to_string())?;
    request
        .set_authority(Some(authority))
        .map_err(|()| format!("invalid authority {authority}"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| format!("invalid path {path}"))?;

    // A GET has no body; the host sends an empty one. A refusal by the host shows up in the
    // response future, so that is where the error code is read.
    let response = outgoing_handler::handle(request, None).map_err(|code| format!("{code:?}"))?;
    let pollable = response.subscribe();
    pollable.block();
    drop(pollable);
    match response.get() {
        Some(Ok(Ok(incoming))) => Ok(incoming.status()),
        Some(Ok(Err(code))) => Err(format!("{code:?}")),
        Some(Err(())) => Err("the response was already taken".to_string()),
        None => Err("the response is not ready after blocking on it".to_string()),
    }
}

#[derive(Deserialize, JsonSchema)]
pub struct ProcessArgs {
    /// A command line for `bash -c`
    command: String,
}

/// `process`: runs a command through the host's `process` interface.
pub struct Process;

impl Tool for Process {
    const ID: &'static str = "process";
    const DESCRIPTION: &'static str = "Runs a shell command through the host's process interface.";
    type Args = ProcessArgs;

    fn execute(args: ProcessArgs, _ctx: &Context) -> Result<Output, ToolError> {
        let request = RunRequest {
            command: args.command.clone(),
            workdir: ".".to_string(),
            timeout_ms: 5000,
            output_limit: 65536,
        };
        let output = run(&request).map_err(|e| ToolError::Failed(format!("{e:?}")))?;
        let code = output
            .exit_code
            .map_or_else(|| "none".to_string(), |c| c.to_string());
        Ok(
            Output::new(args.command, format!("exit code {code}\n{}", output.output)).metadata(
                serde_json::json!({
                    "exitCode": output.exit_code,
                    "truncated": output.truncated,
                    "timedOut": output.timed_out,
                }),
            ),
        )
    }
}

/// `env`: what the component sees of its environment, and whether stdio writes succeed.
pub struct Env;

impl Tool for Env {
    const ID: &'static str = "env";
    const DESCRIPTION: &'static str =
        "Reports the environment, arguments and working directory the component sees.";
    type Args = NoArgs;

    fn execute(_args: NoArgs, _ctx: &Context) -> Result<Output, ToolError> {
        let stdout = writeln!(std::io::stdout(), "fixture-probe: a line to stdout")
            .and_then(|()| std::io::stdout().flush());
        let stderr = writeln!(std::io::stderr(), "fixture-probe: a line to stderr");
        let cwd = match std::env::current_dir() {
            Ok(dir) => dir.display().to_string(),
            Err(e) => format!("error: {e}"),
        };
        let report = serde_json::json!({
            "vars": std::env::vars_os().count(),
            "args": std::env::args_os().count(),
            "cwd": cwd,
            "stdout": stdout.map_or_else(|e| format!("error: {e}"), |()| "ok".to_string()),
            "stderr": stderr.map_or_else(|e| format!("error: {e}"), |()| "ok".to_string()),
        });
        Ok(Output::new("env", report.to_string()))
    }
}

/// `ok`: succeeds.
pub struct Succeed;

impl Tool for Succeed {
    const ID: &'static str = "ok";
    const DESCRIPTION: &'static str = "Returns \"ok\".";
    type Args = NoArgs;

    fn execute(_args: NoArgs, _ctx: &Context) -> Result<Output, ToolError> {
        Ok(Output::new("ok", "ok"))
    }
}

export_tools!(Fs, Alloc, Spin, Trap, Panic, Http, Process, Env, Succeed);
