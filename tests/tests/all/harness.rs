//! Throwaway projects and XDG directories, a shared plugin runtime, and the real server binary
//! started on a free loopback port. Nothing here touches the real home directory or the test
//! process's environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmcode::paths::Paths;
use wasmcode::permission::{PolicyAnswerer, Ruleset};
use wasmcode::runtime::{
    CallError, CallHandler, Grants, Limits, LoadError, ProviderPlugin, Runtime, RuntimeOptions, ToolCall,
    ToolOutput, ToolPlugin,
};
use wasmcode::sandbox::{Sandbox, SandboxSettings};

/// The `XDG_CACHE_HOME` of every test: compiled components are shared by every test of a run
/// (and across runs: entries are keyed by content and engine), so each component is compiled
/// once, whether by the in-process runtime or by a spawned server.
pub fn shared_xdg_cache() -> PathBuf {
    std::env::temp_dir().join("wasmcode-tests-xdg-cache")
}

fn shared_paths_cache() -> PathBuf {
    shared_xdg_cache().join("wasmcode")
}

/// The build's target directory (`CARGO_TARGET_DIR`, else the workspace's `target/`): where tests
/// keep what they install (npm clients, a Python virtualenv, native guest builds), outside the clone
/// when CI sets it.
pub fn build_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Runs `install` (which fills `dir`) unless an install for the same `key` finished there and
/// the files of `whole` (relative to `dir`) are all still present. The marker names the key, so a
/// changed pin reinstalls. Tests run in parallel: one install at a time.
pub fn install_once(dir: &Path, key: &[u8], whole: &[&str], install: impl FnOnce()) {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let marker = dir.join(format!(
        ".installed-{}",
        hex::encode(&wasmcode::runtime::sha256(key)[..8])
    ));
    if marker.exists() && whole.iter().all(|file| dir.join(file).exists()) {
        return;
    }
    install();
    std::fs::write(&marker, "").expect("the install marker");
}

/// A configuration whose model, `fake/fake-model`, is served by `llm` (an OpenAI-compatible
/// block), with `extra`'s top-level keys set over it.
pub fn fake_model_config(
    llm: &wasmcode_tests::fake_llm::FakeLlm,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut config = serde_json::json!({
        "provider": {"fake": {
            "npm": "@ai-sdk/openai-compatible", "name": "Fake",
            "options": {"baseURL": llm.url(), "apiKey": "sk-fake"},
            "models": {"fake-model": {"name": "Fake Model", "tool_call": true,
                                      "limit": {"context": 128000, "output": 4096}}}}},
        "model": "fake/fake-model",
        "small_model": "fake/fake-model",
    });
    if let (Some(config), serde_json::Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    config
}

/// One plugin runtime for the whole test binary, as in the server.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let cache = Paths {
            data: PathBuf::new(),
            cache: shared_paths_cache(),
            config: PathBuf::new(),
        };
        let options = RuntimeOptions {
            cache_dir: Some(cache.compile_cache_dir()),
            ..RuntimeOptions::default()
        };
        Runtime::new(&options).expect("the plugin runtime starts")
    })
}

/// A temporary project directory with a file outside it, and private XDG directories.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub project: PathBuf,
    /// A file next to the project, which nothing inside it may reach.
    pub secret: PathBuf,
    /// The directories the spawned binary uses (from the `XDG_*` variables the harness sets).
    pub paths: Paths,
    xdg_data: PathBuf,
    xdg_config: PathBuf,
}

pub const SECRET: &str = "top secret, outside the project\n";

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        // Resolve symlinks in the temp path (e.g. /tmp -> /private/tmp) so prefixes compare.
        let root = std::fs::canonicalize(dir.path()).expect("temp dir resolves");
        let project = root.join("project");
        std::fs::create_dir_all(project.join("src")).expect("project dir");
        std::fs::write(project.join("hello.txt"), "hello\nworld\n").expect("write hello.txt");
        let secret = root.join("secret.txt");
        std::fs::write(&secret, SECRET).expect("write secret");
        let (xdg_data, xdg_config) = (root.join("xdg-data"), root.join("xdg-config"));
        let paths = Paths {
            data: xdg_data.join("wasmcode"),
            cache: shared_paths_cache(),
            config: xdg_config.join("opencode"),
        };
        Self {
            dir,
            project,
            secret,
            paths,
            xdg_data,
            xdg_config,
        }
    }

    pub fn write(&self, relative: &str, content: &str) -> PathBuf {
        let path = self.project.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("parent dir");
        }
        std::fs::write(&path, content).expect("write project file");
        path
    }

    /// The `wasmcode` command, run in the project with this environment's XDG directories.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wasmcode-e2e"));
        command
            .current_dir(&self.project)
            .env("XDG_DATA_HOME", &self.xdg_data)
            .env("XDG_CACHE_HOME", shared_xdg_cache())
            .env("XDG_CONFIG_HOME", &self.xdg_config)
            .env_remove("OPENCODE_CONFIG_CONTENT")
            .env_remove("OPENCODE_SERVER_PASSWORD")
            // The server's log goes to the test's stderr: quiet unless asked for.
            .env(
                "RUST_LOG",
                std::env::var("WASMCODE_TEST_LOG").unwrap_or_else(|_| "off".into()),
            );
        command
    }

    /// Runs `wasmcode <args>` to completion.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        self.command()
            .args(args)
            .output()
            .expect("the wasmcode binary runs")
    }

    /// `wasmcode plugin install <component> --name <name>`, which must succeed and say it
    /// installed a `kind` plugin.
    pub fn install_plugin(&self, component: &Path, name: &str, kind: &str) {
        let output = self.run(&["plugin", "install", &component.to_string_lossy(), "--name", name]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains(&format!("installed {kind} plugin `{name}`")),
            "{stdout}"
        );
    }

    /// Starts `wasmcode serve` on a free port and waits until it answers.
    pub fn serve(&self) -> Server {
        self.serve_with(|_| {})
    }

    /// Starts the server with extra environment or arguments.
    pub fn serve_with(&self, configure: impl FnOnce(&mut Command)) -> Server {
        let mut command = self.command();
        command.arg("serve");
        configure(&mut command);
        Server::start(command)
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

/// A running server, killed when dropped.
pub struct Server {
    child: std::process::Child,
    pub base: String,
    pub http: reqwest::Client,
}

impl Server {
    fn start(mut command: Command) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = command
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("wasmcode server listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the server prints its address");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        Self { child, base, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("GET reaches the server");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// The last tool part of `session`'s messages.
    pub async fn last_tool_part(&self, session: &str) -> serde_json::Value {
        let (_, messages) = self.get(&format!("/session/{session}/message")).await;
        messages
            .as_array()
            .expect("messages")
            .iter()
            .rev()
            .flat_map(|m| m["parts"].as_array().into_iter().flatten().rev())
            .find(|p| p["type"] == "tool")
            .cloned()
            .expect("a tool part")
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("POST reaches the server");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Any request, with an optional JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the request reaches the server");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn patch(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Asserts the server is alive and well.
    pub async fn assert_healthy(&self) {
        let (status, body) = self.get("/global/health").await;
        assert_eq!(
            (status, &body["healthy"]),
            (200, &serde_json::json!(true)),
            "server unhealthy: {body}"
        );
    }
}

impl Server {
    /// Stops the server as a service manager would (SIGTERM) and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM was sent");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("the server's status") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server exits within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Loads the component at `path` as a tool plugin with full validation.
pub async fn load(path: &str, name: &str, grants: Grants, limits: Limits) -> Result<ToolPlugin, LoadError> {
    let bytes = std::fs::read(path).expect("the fixture was built");
    let hash = wasmcode::runtime::sha256(&bytes);
    runtime()
        .load_tool_plugin(name, &bytes, &hash, grants, limits, true)
        .await
}

/// Loads an embedded first-party plugin by name.
pub async fn first_party(name: &str) -> ToolPlugin {
    let embedded = wasmcode::plugins::first_party::FIRST_PARTY_TOOLS
        .iter()
        .find(|e| e.name == name)
        .expect("a first-party plugin of that name");
    let grants = wasmcode::plugins::first_party::default_grants(name);
    runtime()
        .load_tool_plugin(
            name,
            embedded.bytes,
            &embedded.sha256,
            grants,
            Limits::default(),
            false,
        )
        .await
        .expect("first-party plugins load")
}

/// Loads an embedded first-party provider plugin (`openai`, `anthropic`) with `limits`.
pub async fn first_party_provider_with(name: &str, limits: Limits) -> ProviderPlugin {
    let embedded =
        wasmcode::plugins::first_party::provider(name).expect("a first-party provider of that name");
    runtime()
        .load_provider_plugin(name, embedded.bytes, &embedded.sha256, limits)
        .await
        .expect("first-party providers load")
}

/// Loads an embedded first-party provider plugin with the default limits.
pub async fn first_party_provider(name: &str) -> ProviderPlugin {
    first_party_provider_with(name, Limits::default()).await
}

/// Allows every permission: tool behaviour tests are not about permissions.
pub fn allow_all() -> Arc<dyn CallHandler> {
    let mut rules = Ruleset::defaults();
    rules.extend(Ruleset::from_config(&serde_json::json!("allow")).expect("valid rule"));
    Arc::new(PolicyAnswerer { rules })
}

/// Calls `tool` of `plugin` with `args` against `project`.
pub async fn call(
    plugin: &ToolPlugin,
    project: &Path,
    tool: &str,
    args: serde_json::Value,
) -> Result<ToolOutput, CallError> {
    call_with(plugin, project, tool, args, allow_all()).await
}

pub async fn call_with(
    plugin: &ToolPlugin,
    project: &Path,
    tool: &str,
    args: serde_json::Value,
    handler: Arc<dyn CallHandler>,
) -> Result<ToolOutput, CallError> {
    let call = ToolCall {
        tool: tool.to_string(),
        args_json: args.to_string(),
        session_id: "ses_test".into(),
        message_id: "msg_test".into(),
        call_id: "call_test".into(),
        agent: "build".into(),
        project_root: project.to_path_buf(),
        sandbox: sandbox(project),
    };
    runtime().call_tool(plugin, call, handler).await
}

/// The sandbox of `project` with the default settings, as a server on this machine makes it.
pub fn sandbox(project: &Path) -> Arc<Sandbox> {
    Arc::new(wasmcode_tests::sandbox(project, SandboxSettings::default()))
}

/// Runs `git` in `project` with a throwaway identity, asserting it succeeds.
pub fn git(project: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .current_dir(project)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

/// The texts of a message as `POST /session/{id}/message` answers it, in order.
pub fn answer_texts(answer: &serde_json::Value) -> Vec<&str> {
    answer["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect()
}

/// An SSE message: its `id:` line (if any) and its `data:` JSON.
#[derive(Debug)]
pub struct SseMessage {
    pub id: Option<u64>,
    pub data: serde_json::Value,
}

pub struct SseStream {
    response: reqwest::Response,
    buffer: String,
    /// The schema every message of this stream must satisfy.
    schema: &'static jsonschema::Validator,
}

/// The validator of one stream's messages: the server's OpenAPI document (generated in process,
/// as `/doc` serves it) with `#/components/schemas/{component}` as its root.
fn stream_schema(component: &str) -> jsonschema::Validator {
    let mut root = serde_json::to_value(wasmcode::server::openapi()).expect("the document serializes");
    root["$ref"] = serde_json::Value::String(format!("#/components/schemas/{component}"));
    jsonschema::validator_for(&root).expect("the event schemas compile")
}

/// The schema of `/event` messages (`Event`) or of `/global/event` ones (`GlobalEvent`).
fn event_schema(global: bool) -> &'static jsonschema::Validator {
    static EVENT: OnceLock<jsonschema::Validator> = OnceLock::new();
    static GLOBAL: OnceLock<jsonschema::Validator> = OnceLock::new();
    if global {
        GLOBAL.get_or_init(|| stream_schema("GlobalEvent"))
    } else {
        EVENT.get_or_init(|| stream_schema("Event"))
    }
}

impl SseStream {
    pub async fn open(server: &Server, path: &str, last_event_id: Option<u64>) -> Self {
        let mut request = server.http.get(server.url(path));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("the stream opens");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(response.headers()["cache-control"], "no-cache, no-transform");
        Self {
            response,
            buffer: String::new(),
            schema: event_schema(path.starts_with("/global/")),
        }
    }

    pub async fn next(&mut self) -> SseMessage {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut message = SseMessage {
                    id: None,
                    data: serde_json::Value::Null,
                };
                for line in frame.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        message.id = Some(id.parse().expect("numeric id"));
                    } else if let Some(data) = line.strip_prefix("data: ") {
                        message.data = serde_json::from_str(data).expect("JSON data");
                    }
                }
                let errors: Vec<String> = self
                    .schema
                    .iter_errors(&message.data)
                    .map(|e| format!("{e} at {}", e.instance_path()))
                    .collect();
                assert!(
                    errors.is_empty(),
                    "an event the document does not describe: {}\n{}",
                    message.data,
                    errors.join("\n")
                );
                return message;
            }
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), self.response.chunk())
                .await
                .expect("a message within 10 s")
                .expect("the stream stays up")
                .expect("the stream did not end");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next message that is not a heartbeat.
    pub async fn next_event(&mut self) -> SseMessage {
        loop {
            let message = self.next().await;
            let kind = message.data["type"]
                .as_str()
                .or(message.data["payload"]["type"].as_str())
                .unwrap_or_default();
            if kind != "server.heartbeat" {
                return message;
            }
        }
    }
}

impl SseStream {
    /// Events (not heartbeats) until one satisfies `stop`, that one included; each as its
    /// `data` JSON.
    pub async fn until(
        &mut self,
        mut stop: impl FnMut(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let mut seen = Vec::new();
        loop {
            let message = self.next_event().await;
            let done = stop(&message.data);
            seen.push(message.data);
            if done {
                return seen;
            }
        }
    }
}
