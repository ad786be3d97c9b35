//! What a tool call costs as a WebAssembly component, against the same work as plain Rust, and
//! what start-up costs. One criterion group, so the numbers of one run are comparable.
//! See `benches/README.md`.

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use wasmcode::config::WasmcodeSettings;
use wasmcode::paths::Paths;
use wasmcode::permission::{PolicyAnswerer, Ruleset};
use wasmcode::plugins::{self, first_party};
use wasmcode::runtime::{CallHandler, Limits, Runtime, RuntimeOptions, ToolCall, ToolOutput, ToolPlugin};

/// 31 lines, exactly 1024 bytes: a small source file as a model would read it.
const SAMPLE: &str = "\
//! Settings for the indexer: where it looks, what it skips, how often it runs.

use std::path::PathBuf;
use std::time::Duration;

/// How the indexer walks a project tree.
#[derive(Debug, Clone)]
pub struct IndexSettings {
    /// The directories to walk, relative to the project root.
    pub roots: Vec<PathBuf>,
    /// Glob patterns for files that are never indexed.
    pub exclude: Vec<String>,
    /// Files larger than this are skipped (bytes).
    pub max_file_size: u64,
    /// How long to wait after the latest change before re-indexing.
    pub debounce: Duration,
}

impl Default for IndexSettings {
    fn default() -> Self {
        Self {
            roots: vec![PathBuf::from(\".\")],
            exclude: vec![\"target/**\".into(), \"node_modules/**\".into()],
            max_file_size: 1 << 20,
            debounce: Duration::from_millis(250),
        }
    }
}

/// True when `size` is small enough to index.
pub fn indexable(settings: &IndexSettings, size: u64) -> bool { size <= settings.max_file_size }
";

/// A temporary home: `project/src/settings.rs` plus data, cache and config directories.
struct Fixture {
    _dir: tempfile::TempDir,
    project: PathBuf,
    file: PathBuf,
    paths: Paths,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // Canonical, so the absolute file path lies lexically inside the project root.
        let root = dir.path().canonicalize().expect("the temporary directory exists");
        let project = root.join("project");
        std::fs::create_dir_all(project.join("src")).expect("creating the project");
        let file = project.join("src").join("settings.rs");
        assert_eq!(SAMPLE.len(), 1024, "the sample file is 1 KiB");
        std::fs::write(&file, SAMPLE).expect("writing the sample file");
        let paths = Paths {
            data: root.join("data"),
            cache: root.join("cache"),
            config: root.join("config"),
        };
        Self {
            _dir: dir,
            project,
            file,
            paths,
        }
    }

    fn runtime_options(&self) -> RuntimeOptions {
        RuntimeOptions {
            cache_dir: Some(self.paths.compile_cache_dir()),
            ..Default::default()
        }
    }

    fn args_json(&self) -> String {
        serde_json::json!({ "filePath": self.file.to_string_lossy() }).to_string()
    }
}

/// The `read` tool as plain Rust: what `plugins/read/src/lib.rs` does for a text file, with the
/// same argument parsing, lexical path resolution, binary sniffing, line window and output
/// framing. Natively there is no permission ask (the component asks `read` and the host's
/// `PolicyAnswerer` allows it), no sandbox and no instance.
mod native {
    use super::*;

    const DEFAULT_READ_LIMIT: usize = 2000;
    const MAX_LINE_LENGTH: usize = 2000;
    const MAX_BYTES: usize = 50 * 1024;
    const SAMPLE_BYTES: usize = 4096;
    const BINARY_EXTENSIONS: &[&str] = &[
        "zip", "tar", "gz", "exe", "dll", "so", "class", "jar", "war", "7z", "doc", "docx", "xls", "xlsx",
        "ppt", "pptx", "odt", "ods", "odp", "bin", "dat", "obj", "o", "a", "lib", "wasm", "pyc", "pyo",
    ];

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Args {
        file_path: String,
        offset: Option<u64>,
        limit: Option<u64>,
    }

    pub fn read(project_root: &Path, args_json: &str) -> Result<ToolOutput, String> {
        let args: Args = serde_json::from_str(args_json).map_err(|e| e.to_string())?;
        if args.offset == Some(0) {
            return Err("offset must be greater than or equal to 1".into());
        }
        let relative = project_relative(project_root, Path::new(&args.file_path))
            .ok_or_else(|| format!("{} is outside the project directory", args.file_path))?;
        let shown = format!("{}/{}", project_root.display(), relative.display());
        let title = relative.to_string_lossy().into_owned();
        // The component opens `relative` against its preopened project root; here, the host path.
        let path = project_root.join(&relative);

        // As the component: one open and one stat, binary sniffing on the buffered first block.
        let file = std::fs::File::open(&path).map_err(|e| format!("Cannot read {shown}: {e}"))?;
        let meta = file.metadata().map_err(|e| format!("Cannot read {shown}: {e}"))?;
        let offset = usize::try_from(args.offset.unwrap_or(1)).unwrap_or(usize::MAX);
        let limit = usize::try_from(args.limit.unwrap_or(DEFAULT_READ_LIMIT as u64)).unwrap_or(usize::MAX);
        if meta.is_dir() {
            return Err("directories are not part of this benchmark".into());
        }
        let mut reader = BufReader::with_capacity(SAMPLE_BYTES * 2, file);
        let sample = reader
            .fill_buf()
            .map_err(|e| format!("Cannot read {shown}: {e}"))?;
        if is_binary(&path, meta.len(), &sample[..sample.len().min(SAMPLE_BYTES)]) {
            return Err(format!("Cannot read binary file: {shown}"));
        }

        let mut lines = Vec::new();
        let (mut count, mut more, mut cut, mut bytes) = (0usize, false, false, 0usize);
        for line in reader.split(b'\n') {
            let mut line = line.map_err(|e| format!("Cannot read {shown}: {e}"))?;
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            count += 1;
            if count < offset {
                continue;
            }
            if lines.len() >= limit {
                more = true;
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            let text = if text.chars().count() > MAX_LINE_LENGTH {
                let cut: String = text.chars().take(MAX_LINE_LENGTH).collect();
                format!("{cut}... (line truncated to {MAX_LINE_LENGTH} chars)")
            } else {
                text.into_owned()
            };
            let size = text.len() + usize::from(!lines.is_empty());
            if bytes + size > MAX_BYTES {
                cut = true;
                more = true;
                break;
            }
            bytes += size;
            lines.push(text);
        }
        if count < offset && !(count == 0 && offset == 1) {
            return Err(format!(
                "Offset {offset} is out of range for this file ({count} lines)"
            ));
        }

        let mut output = format!("<path>{shown}</path>\n<type>file</type>\n<content>\n");
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                output.push('\n');
            }
            output.push_str(&format!("{}: {line}", i + offset));
        }
        let last = offset + lines.len() - usize::from(!lines.is_empty());
        let next = last + 1;
        if cut {
            output.push_str(&format!(
                "\n\n(Output capped at {} KB. Showing lines {offset}-{last}. Use offset={next} to continue.)",
                MAX_BYTES / 1024
            ));
        } else if more {
            output.push_str(&format!(
                "\n\n(Showing lines {offset}-{last} of {count}. Use offset={next} to continue.)"
            ));
        } else {
            output.push_str(&format!("\n\n(End of file - total {count} lines)"));
        }
        output.push_str("\n</content>");
        let preview = lines.iter().take(20).cloned().collect::<Vec<_>>().join("\n");
        let metadata = serde_json::json!({ "preview": preview, "truncated": more || cut, "loaded": [] });
        Ok(ToolOutput {
            title,
            output,
            metadata,
        })
    }

    /// As the guest SDK's `Context::resolve`: lexical, refusing paths that leave the root.
    fn project_relative(root: &Path, path: &Path) -> Option<PathBuf> {
        let relative = if path.is_absolute() {
            path.strip_prefix(root).ok()?
        } else {
            path
        };
        let mut out = PathBuf::new();
        for component in relative.components() {
            match component {
                Component::Normal(part) => out.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    if !out.pop() {
                        return None;
                    }
                }
                Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        Some(out)
    }

    fn is_binary(path: &Path, size: u64, sample: &[u8]) -> bool {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if BINARY_EXTENSIONS.contains(&ext.as_str()) {
            return true;
        }
        if size == 0 || sample.is_empty() {
            return false;
        }
        if sample.contains(&0) {
            return true;
        }
        let control = sample.iter().filter(|&&b| b < 9 || (b > 13 && b < 32)).count();
        control * 10 > sample.len() * 3
    }
}

fn tool_call(c: &mut Criterion) {
    // wasmtime 48 builds an error while dropping each `Store` (disposing of its fibers); with
    // RUST_BACKTRACE=1 each one captures a backtrace, a cost production does not pay.
    if std::backtrace::Backtrace::capture().status() == std::backtrace::BacktraceStatus::Captured {
        eprintln!(
            "warning: RUST_BACKTRACE/RUST_LIB_BACKTRACE enable backtraces: every Store drop captures one and \
             component_read_1k is inflated; run with RUST_LIB_BACKTRACE=0"
        );
    }
    let fixture = Fixture::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let runtime = Runtime::new(&fixture.runtime_options()).expect("the wasmtime runtime");
    let settings = WasmcodeSettings::default();

    // Populate the compile cache (and each plugin's cached tool list) once: this compiles every
    // first-party component with Cranelift, which is not what start-up normally pays.
    let (registry, warnings) = rt.block_on(plugins::load_all(&runtime, &fixture.paths, &settings, None));
    assert!(
        warnings.is_empty(),
        "first-party plugins load cleanly: {warnings:?}"
    );
    assert_eq!(registry.plugins().len(), first_party::FIRST_PARTY_TOOLS.len());
    drop(registry);

    let embedded = first_party::FIRST_PARTY_TOOLS
        .iter()
        .find(|e| e.name == "read")
        .expect("a first-party `read`");
    let read: ToolPlugin = rt
        .block_on(runtime.load_tool_plugin(
            embedded.name,
            embedded.bytes,
            &embedded.sha256,
            first_party::default_grants("read"),
            Limits::default(),
            false,
        ))
        .expect("loading `read`");
    let handler: Arc<dyn CallHandler> = Arc::new(PolicyAnswerer {
        rules: Ruleset::defaults(),
    });
    let call = ToolCall {
        tool: "read".into(),
        args_json: fixture.args_json(),
        session_id: "ses_bench".into(),
        message_id: "msg_bench".into(),
        call_id: "call_bench".into(),
        agent: "build".into(),
        project_root: fixture.project.clone(),
        sandbox: Arc::new(wasmcode_tests::sandbox(&fixture.project, Default::default())),
    };

    // Both sides must do the same work: identical output, title and metadata.
    let native = native::read(&fixture.project, &call.args_json).expect("native read");
    let component = rt
        .block_on(runtime.call_tool(&read, call.clone(), handler.clone()))
        .expect("component read");
    assert_eq!(native, component, "native and component `read` agree");
    assert!(
        native
            .output
            .ends_with("(End of file - total 31 lines)\n</content>")
    );

    let mut group = c.benchmark_group("tool_call");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(50);

    group.bench_function("native_read_1k", |b| {
        b.iter(|| native::read(black_box(&fixture.project), black_box(&call.args_json)).expect("native read"))
    });

    group.bench_function("component_read_1k", |b| {
        b.iter(|| {
            rt.block_on(runtime.call_tool(&read, black_box(call.clone()), handler.clone()))
                .expect("component read")
        })
    });

    // The cost of the fresh store itself: a new pooled `Store`, an instance from the cached
    // `InstancePre`, and a call of a tool that does nothing (the probe fixture's `ok`).
    let probe_bytes =
        std::fs::read(wasmcode_tests::guests::FIXTURE_PROBE).expect("the probe fixture is built");
    let probe: ToolPlugin = rt
        .block_on(runtime.load_tool_plugin(
            "probe",
            &probe_bytes,
            &wasmcode::runtime::sha256(&probe_bytes),
            first_party::default_grants("read"),
            Limits::default(),
            false,
        ))
        .expect("loading the probe");
    let noop = ToolCall {
        tool: "ok".into(),
        args_json: "{}".into(),
        ..call.clone()
    };
    group.bench_function("component_noop_fresh_store", |b| {
        b.iter(|| {
            rt.block_on(runtime.call_tool(&probe, black_box(noop.clone()), handler.clone()))
                .expect("noop call")
        })
    });

    // Milliseconds per iteration: fewer, longer samples. Only the work itself is timed; what it
    // built is dropped outside the clock (a `Runtime`'s drop joins its epoch thread, up to 10 ms).
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);

    group.bench_function("startup_load_first_party_warm_cache", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let loaded = rt.block_on(plugins::load_all(&runtime, &fixture.paths, &settings, None));
                total += start.elapsed();
                debug_assert!(loaded.1.is_empty());
                drop(black_box(loaded));
            }
            total
        })
    });

    let options = fixture.runtime_options();
    group.bench_function("runtime_new", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let runtime = Runtime::new(black_box(&options)).expect("the wasmtime runtime");
                total += start.elapsed();
                drop(runtime);
            }
            total
        })
    });

    group.finish();
}

criterion_group!(benches, tool_call);
criterion_main!(benches);
