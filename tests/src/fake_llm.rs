//! A fake LLM upstream for tests: a loopback HTTP/1.1 server that speaks the OpenAI
//! chat-completions streaming format at `POST /v1/chat/completions` and the Anthropic Messages
//! streaming format at `POST /v1/messages`, answering each request with the next [`Reply`] of a
//! script the test wrote.
//!
//! ```no_run
//! # async fn example() {
//! use serde_json::json;
//! use wasmcode_tests::fake_llm::{FakeLlm, Reply};
//!
//! let llm = FakeLlm::start().await;
//! llm.push(Reply::tool_call("call_1", "read", json!({"filePath": "README.md"})));
//! llm.push(Reply::text(["Done.", " The", " tool", " worked."]).usage(1200, 9));
//! // ... point a provider at `llm.url()` (`http://127.0.0.1:PORT/v1`) and run a session ...
//! let turns = llm.turn_requests();
//! assert_eq!(turns[0].header("authorization"), Some("Bearer sk-fake"));
//! assert_eq!(turns[1].body["messages"].as_array().map(Vec::len), Some(4));
//! # }
//! ```
//!
//! - **Script.** Replies are answered in FIFO order, each rendered in the wire format of the
//!   request it answers. When the script is empty the server answers 500 with a body that says
//!   so, so a test that forgot a reply fails loudly rather than hanging (benchmarks can set a
//!   fallback reply instead: [`FakeLlm::set_fallback_reply`]).
//! - **Titles.** A request whose first system text starts with `You are a title generator`
//!   (OpenCode's title prompt) is answered from a separate title reply (default: text
//!   `Probe title`, see [`FakeLlm::set_title_reply`]) and never consumes the script.
//! - **Recording.** Every request is kept ([`FakeLlm::requests`]): path, headers, JSON body,
//!   wire format, and whether it was a title request.
//! - **Disconnects.** A reply cut short by the client (an aborted stream) is counted
//!   ([`FakeLlm::disconnects`]).
//! - **Connections.** Every TCP connection accepted is counted ([`FakeLlm::connections`]): a
//!   client that reuses its connections opens one for many requests.
//! - **Upstream down.** [`FakeLlm::stop`] closes the listener and every open connection; the
//!   port then refuses connections while [`FakeLlm::url`] keeps naming it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// The start of OpenCode's title-generation system prompt.
pub const TITLE_PROMPT_PREFIX: &str = "You are a title generator";

/// The wire format a request arrived in (by its path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `POST .../chat/completions`
    OpenAi,
    /// `POST .../messages`
    Anthropic,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Header names in lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or `{"_raw": "<text>"}` when it was not JSON.
    pub body: Value,
    pub wire: Option<Wire>,
    /// Answered from the title reply.
    pub is_title: bool,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// One text delta.
    Text(String),
    /// One reasoning delta.
    Reasoning(String),
    /// A whole tool call; its arguments are streamed in several fragments.
    ToolCall {
        id: String,
        name: String,
        arguments: Value,
    },
}

/// How a streamed reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Finish reason, usage and the end marker (`[DONE]` / `message_stop`).
    Complete,
    /// After the pieces, nothing more until the client goes away.
    Hang,
    /// After half of the pieces, the connection is cut (no terminating chunk).
    Drop,
}

#[derive(Debug, Clone)]
enum Kind {
    Stream {
        pieces: Vec<Piece>,
        ending: Ending,
    },
    Status {
        status: u16,
        body: Option<String>,
        retry_after_secs: Option<u64>,
        retry_after_ms: Option<u64>,
    },
}

/// What the fake answers to one request. Build one with a constructor, refine it with the
/// chained methods:
///
/// ```
/// # use serde_json::json;
/// # use wasmcode_tests::fake_llm::Reply;
/// Reply::reasoning(["Let me look", " at the file."])
///     .then_tool_call("call_1", "read", json!({"filePath": "README.md"}))
///     .usage(1500, 40)
///     .delay_between_chunks(20);
/// Reply::status(429).retry_after_secs(1);
/// Reply::text(["Partial"]).then_hang();
/// ```
#[derive(Debug, Clone)]
pub struct Reply {
    kind: Kind,
    input_tokens: u64,
    output_tokens: u64,
    delay: Duration,
    finish: Option<&'static str>,
}

impl Reply {
    fn stream(pieces: Vec<Piece>) -> Self {
        Self {
            kind: Kind::Stream {
                pieces,
                ending: Ending::Complete,
            },
            input_tokens: 120,
            output_tokens: 17,
            delay: Duration::ZERO,
            finish: None,
        }
    }

    /// Text streamed as these deltas, then finish `stop`.
    pub fn text<S: Into<String>>(chunks: impl IntoIterator<Item = S>) -> Self {
        Self::stream(Vec::new()).then_text(chunks)
    }

    /// Reasoning streamed as these deltas (add `.then_text(..)` for an answer).
    pub fn reasoning<S: Into<String>>(chunks: impl IntoIterator<Item = S>) -> Self {
        Self::stream(Vec::new()).then_reasoning(chunks)
    }

    /// One tool call with its arguments streamed in fragments, then finish `tool-calls`.
    pub fn tool_call(id: impl Into<String>, name: impl Into<String>, arguments: Value) -> Self {
        Self::stream(Vec::new()).then_tool_call(id, name, arguments)
    }

    /// An error status with a JSON error body in the request's wire format.
    pub fn status(status: u16) -> Self {
        Self {
            kind: Kind::Status {
                status,
                body: None,
                retry_after_secs: None,
                retry_after_ms: None,
            },
            ..Self::stream(Vec::new())
        }
    }

    /// Response headers (200, `text/event-stream`), then nothing until the client disconnects.
    pub fn hang() -> Self {
        Self::stream(Vec::new()).then_hang()
    }

    pub fn then_text<S: Into<String>>(mut self, chunks: impl IntoIterator<Item = S>) -> Self {
        self.pieces_mut()
            .extend(chunks.into_iter().map(|c| Piece::Text(c.into())));
        self
    }

    pub fn then_reasoning<S: Into<String>>(mut self, chunks: impl IntoIterator<Item = S>) -> Self {
        self.pieces_mut()
            .extend(chunks.into_iter().map(|c| Piece::Reasoning(c.into())));
        self
    }

    pub fn then_tool_call(
        mut self,
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: Value,
    ) -> Self {
        self.pieces_mut().push(Piece::ToolCall {
            id: id.into(),
            name: name.into(),
            arguments,
        });
        self
    }

    /// After the pieces so far, send nothing more until the client disconnects (abort tests).
    pub fn then_hang(mut self) -> Self {
        if let Kind::Stream { ending, .. } = &mut self.kind {
            *ending = Ending::Hang;
        }
        self
    }

    /// Cut the connection after about half of the chunks, without ending the body properly.
    pub fn drop_connection_midway(mut self) -> Self {
        if let Kind::Stream { ending, .. } = &mut self.kind {
            *ending = Ending::Drop;
        }
        self
    }

    /// Wait this long before every chunk after the first.
    pub fn delay_between_chunks(mut self, millis: u64) -> Self {
        self.delay = Duration::from_millis(millis);
        self
    }

    /// The usage reported at the end (default: 120 input, 17 output tokens).
    pub fn usage(mut self, input_tokens: u64, output_tokens: u64) -> Self {
        self.input_tokens = input_tokens;
        self.output_tokens = output_tokens;
        self
    }

    /// Overrides the finish reason, in OpenAI's terms (`stop`, `length`, `tool_calls`,
    /// `content_filter`); the Anthropic rendering maps it to the matching `stop_reason`.
    pub fn finish_reason(mut self, reason: &'static str) -> Self {
        self.finish = Some(reason);
        self
    }

    /// A `Retry-After` header (seconds) on a status reply.
    pub fn retry_after_secs(mut self, seconds: u64) -> Self {
        if let Kind::Status { retry_after_secs, .. } = &mut self.kind {
            *retry_after_secs = Some(seconds);
        }
        self
    }

    /// A `retry-after-ms` header on a status reply.
    pub fn retry_after_ms(mut self, millis: u64) -> Self {
        if let Kind::Status { retry_after_ms, .. } = &mut self.kind {
            *retry_after_ms = Some(millis);
        }
        self
    }

    /// The body of a status reply, instead of the default JSON error.
    pub fn body(mut self, text: impl Into<String>) -> Self {
        if let Kind::Status { body, .. } = &mut self.kind {
            *body = Some(text.into());
        }
        self
    }

    fn pieces_mut(&mut self) -> &mut Vec<Piece> {
        if let Kind::Status { .. } = self.kind {
            self.kind = Kind::Stream {
                pieces: Vec::new(),
                ending: Ending::Complete,
            };
        }
        match &mut self.kind {
            Kind::Stream { pieces, .. } => pieces,
            Kind::Status { .. } => unreachable!("replaced just above"),
        }
    }

    fn finish_reason_for(&self, pieces: &[Piece]) -> &'static str {
        self.finish.unwrap_or_else(|| {
            if pieces.iter().any(|p| matches!(p, Piece::ToolCall { .. })) {
                "tool_calls"
            } else {
                "stop"
            }
        })
    }
}

#[derive(Debug)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    /// Answers turn requests once the script is empty, when set.
    fallback: Mutex<Option<Reply>>,
    title_reply: Mutex<Reply>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Whether requests are kept for [`FakeLlm::requests`] (benchmarks turn it off).
    recording: AtomicBool,
    disconnects: AtomicUsize,
    /// TCP connections accepted.
    connections: AtomicUsize,
    /// Numbers the streamed replies, for their `id`s.
    served: AtomicUsize,
}

/// Locks a mutex even if a panicking test thread poisoned it: the data is plain records.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fake server. Dropping it stops it.
#[derive(Debug)]
pub struct FakeLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FakeLlm {
    /// Starts the server on `127.0.0.1` with a free port. Must run inside a tokio runtime.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port for the fake LLM");
        let addr = listener.local_addr().expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            fallback: Mutex::new(None),
            title_reply: Mutex::new(Reply::text(["Probe title"])),
            requests: Mutex::new(Vec::new()),
            recording: AtomicBool::new(true),
            disconnects: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
        });
        let server = tokio::spawn(serve(listener, shared.clone()));
        Self {
            addr,
            shared,
            server: Some(server),
        }
    }

    /// The API base URL: `http://127.0.0.1:PORT/v1` (both wire formats live under it).
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `127.0.0.1:PORT`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// The provider block the reference was measured with (`CONTRACT.md` §5), pointing at this
    /// server: `{"<id>": {"npm": "@ai-sdk/openai-compatible", "options": {"baseURL", "apiKey":
    /// "sk-fake"}, "models": {"<model>": ...}}}`, for an `opencode.json` `provider` key.
    pub fn opencode_provider(&self, provider_id: &str, model: &str) -> Value {
        json!({
            provider_id: {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Fake Local",
                "options": {"baseURL": self.url(), "apiKey": "sk-fake"},
                "models": {model: {"name": "Fake Model", "tool_call": true, "limit": {"context": 128000, "output": 4096}}},
            }
        })
    }

    /// Appends a reply to the script.
    pub fn push(&self, reply: Reply) -> &Self {
        lock(&self.shared.script).push_back(reply);
        self
    }

    /// Appends several replies to the script.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) -> &Self {
        lock(&self.shared.script).extend(replies);
        self
    }

    /// What title requests get (default: text `Probe title`). It is reused for every one.
    pub fn set_title_reply(&self, reply: Reply) {
        *lock(&self.shared.title_reply) = reply;
    }

    /// For benchmarks and load tests: once the script is empty, every turn request gets this
    /// reply instead of the 500.
    pub fn set_fallback_reply(&self, reply: Reply) {
        *lock(&self.shared.fallback) = Some(reply);
    }

    /// Replies not yet used.
    pub fn pending_replies(&self) -> usize {
        lock(&self.shared.script).len()
    }

    /// For benchmarks: stops keeping requests (a long conversation sent thousands of times would
    /// fill the memory); [`FakeLlm::requests`] then lists only those received before.
    pub fn stop_recording(&self) {
        self.shared.recording.store(false, Ordering::Relaxed);
    }

    /// Every request received so far, title requests included, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The requests that consumed the script (everything but title requests).
    pub fn turn_requests(&self) -> Vec<RecordedRequest> {
        self.requests().into_iter().filter(|r| !r.is_title).collect()
    }

    /// Replies the client cut short by going away (or by timing out) before they ended.
    pub fn disconnects(&self) -> usize {
        self.shared.disconnects.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far: requests over a reused connection do not count.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Waits until `count` turn requests (title requests, which run beside a turn, not counted)
    /// have arrived; panics after `timeout`.
    pub async fn wait_for_turn_requests(&self, count: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let turns = || lock(&self.shared.requests).iter().filter(|r| !r.is_title).count();
        let received = wait_until(timeout, || turns() >= count).await;
        assert!(
            received,
            "the fake LLM received {} turn requests within {timeout:?}, expected {count}",
            turns()
        );
        self.turn_requests()
    }

    /// Waits until at least `count` disconnects were seen; false after `timeout`.
    pub async fn wait_for_disconnects(&self, count: usize, timeout: Duration) -> bool {
        wait_until(timeout, || self.disconnects() >= count).await
    }

    /// Stops the server: the listener and every open connection are closed, and the port refuses
    /// connections from now on ("upstream down"). Recorded requests stay readable.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            // Wait for the task to be gone, so the listener is closed when this returns.
            let _ = server.await;
        }
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Accepts connections until aborted; each connection is a task of this one's `JoinSet`, so
/// aborting the server closes them all.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors or similar: try again shortly rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        shared.connections.fetch_add(1, Ordering::SeqCst);
        // Streamed chunks go out as written, as a real API's do (no Nagle delay on small writes).
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&shared, request).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            // A client that goes away mid-response is what some tests are about: not an error.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

type Response = hyper::Response<ChannelBody>;

async fn answer(shared: &Arc<Shared>, request: hyper::Request<Incoming>) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let recording = shared.recording.load(Ordering::Relaxed);
    // Unrecorded (benchmarks), the body is only searched for the title prompt: parsing a long
    // conversation here would cost more than what is being measured.
    let body: Value = if recording {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({"_raw": String::from_utf8_lossy(&bytes)}))
    } else {
        Value::Null
    };
    let path = parts.uri.path().to_string();
    let wire = if parts.method != hyper::Method::POST {
        None
    } else if path.ends_with("/chat/completions") {
        Some(Wire::OpenAi)
    } else if path.ends_with("/messages") {
        Some(Wire::Anthropic)
    } else {
        None
    };
    let is_title = if recording {
        wire.is_some_and(|wire| first_system_text(wire, &body).starts_with(TITLE_PROMPT_PREFIX))
    } else {
        bytes
            .windows(TITLE_PROMPT_PREFIX.len())
            .any(|window| window == TITLE_PROMPT_PREFIX.as_bytes())
    };
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    if recording {
        lock(&shared.requests).push(RecordedRequest {
            method: parts.method.to_string(),
            path: path.clone(),
            headers,
            body: body.clone(),
            wire,
            is_title,
        });
    }

    let Some(wire) = wire else {
        return json_response(
            404,
            &[],
            json!({"error": {"message": format!("the fake LLM has no route {} {path}", parts.method)}})
                .to_string(),
        );
    };
    let reply = if is_title {
        Some(lock(&shared.title_reply).clone())
    } else {
        let next = lock(&shared.script).pop_front();
        next.or_else(|| lock(&shared.fallback).clone())
    };
    let Some(reply) = reply else {
        return json_response(
            500,
            &[],
            json!({"error": {
                "message": "FakeLlm: the script is empty, no reply is left for this request (push a Reply)",
                "type": "fake_llm_script_empty",
            }})
            .to_string(),
        );
    };
    let model = body["model"].as_str().unwrap_or("fake-model").to_string();
    let number = shared.served.fetch_add(1, Ordering::SeqCst) + 1;
    match reply.kind.clone() {
        Kind::Status {
            status,
            body,
            retry_after_secs,
            retry_after_ms,
        } => {
            let mut headers = Vec::new();
            if let Some(seconds) = retry_after_secs {
                headers.push(("retry-after", seconds.to_string()));
            }
            if let Some(millis) = retry_after_ms {
                headers.push(("retry-after-ms", millis.to_string()));
            }
            let body = body.unwrap_or_else(|| default_error_body(wire, status));
            json_response(status, &headers, body)
        }
        Kind::Stream { pieces, ending } => {
            let frames = match wire {
                Wire::OpenAi => openai_frames(&reply, &pieces, &model, number),
                Wire::Anthropic => anthropic_frames(&reply, &pieces, &model, number),
            };
            stream_response(shared.clone(), frames, ending, reply.delay)
        }
    }
}

/// The first system text of a request: OpenAI's first `system` message, Anthropic's `system`.
fn first_system_text(wire: Wire, body: &Value) -> String {
    let content = match wire {
        Wire::OpenAi => body["messages"]
            .as_array()
            .and_then(|messages| messages.iter().find(|m| m["role"] == "system"))
            .map(|m| &m["content"]),
        Wire::Anthropic => body.get("system"),
    };
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .first()
            .and_then(|p| p["text"].as_str())
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

fn default_error_body(wire: Wire, status: u16) -> String {
    let (openai_type, anthropic_type, message) = match status {
        429 => ("rate_limit_exceeded", "rate_limit_error", "Rate limit reached"),
        529 => ("overloaded", "overloaded_error", "Overloaded"),
        401 => ("invalid_api_key", "authentication_error", "Invalid API key"),
        400 => (
            "invalid_request_error",
            "invalid_request_error",
            "Invalid request",
        ),
        _ => ("server_error", "api_error", "Internal server error"),
    };
    match wire {
        Wire::OpenAi => json!({"error": {"message": message, "type": openai_type, "code": openai_type}}),
        Wire::Anthropic => json!({"type": "error", "error": {"type": anthropic_type, "message": message}}),
    }
    .to_string()
}

fn json_response(status: u16, headers: &[(&str, String)], body: String) -> Response {
    let (tx, rx) = mpsc::channel(1);
    // The channel has room for this one frame; the body ends when `tx` goes.
    let _ = tx.try_send(Ok(Frame::data(Bytes::from(body))));
    let mut builder = hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(ChannelBody { rx })
        .expect("a response of valid parts")
}

/// Streams `frames` (one SSE event each, one body chunk each) from a task, then ends the reply
/// the way `ending` says.
fn stream_response(shared: Arc<Shared>, frames: Frames, ending: Ending, delay: Duration) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
    tokio::spawn(async move {
        let mut chunks: Vec<Bytes> = frames.content;
        match ending {
            Ending::Complete => chunks.extend(frames.tail),
            Ending::Hang => {}
            Ending::Drop => chunks.truncate(chunks.len().div_ceil(2)),
        }
        for (index, chunk) in chunks.into_iter().enumerate() {
            if index > 0 && !delay.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = tx.closed() => {
                        shared.disconnects.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
            }
            if tx.send(Ok(Frame::data(chunk))).await.is_err() {
                shared.disconnects.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
        match ending {
            Ending::Complete => {}
            Ending::Hang => {
                tx.closed().await;
                shared.disconnects.fetch_add(1, Ordering::SeqCst);
            }
            Ending::Drop => {
                // An error from the body makes the server cut the connection mid-message.
                let _ = tx
                    .send(Err(std::io::Error::other("the fake LLM drops the connection")))
                    .await;
            }
        }
    });
    hyper::Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(ChannelBody { rx })
        .expect("a response of valid parts")
}

/// A response body fed from a channel: each message is one chunk on the wire.
pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Frame<Bytes>, std::io::Error>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.rx.poll_recv(cx)
    }
}

/// A reply's SSE events: the content, and the tail that ends it properly.
struct Frames {
    content: Vec<Bytes>,
    tail: Vec<Bytes>,
}

fn sse_data(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

fn sse_event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// A JSON text in about three fragments, cut on character boundaries, as models stream
/// arguments.
pub fn fragments(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(3).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// OpenAI chat-completions chunks, as the reference's fake upstream streams them: a role chunk,
/// one chunk per delta, tool calls by `index` (id and name first, then argument fragments), a
/// finish chunk, a usage chunk with empty `choices`, and `[DONE]`.
fn openai_frames(reply: &Reply, pieces: &[Piece], model: &str, number: usize) -> Frames {
    let id = format!("chatcmpl-fake{number:04}");
    let created = unix_seconds();
    let chunk = |delta: Value, finish: Value| {
        sse_data(&json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }))
    };
    let mut content = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    let mut tool_index = 0;
    for piece in pieces {
        match piece {
            Piece::Text(text) => content.push(chunk(json!({"content": text}), Value::Null)),
            Piece::Reasoning(text) => content.push(chunk(json!({"reasoning_content": text}), Value::Null)),
            Piece::ToolCall { id, name, arguments } => {
                content.push(chunk(
                    json!({"tool_calls": [{"index": tool_index, "id": id, "type": "function",
                        "function": {"name": name, "arguments": ""}}]}),
                    Value::Null,
                ));
                for fragment in fragments(&arguments.to_string()) {
                    content.push(chunk(
                        json!({"tool_calls": [{"index": tool_index, "function": {"arguments": fragment}}]}),
                        Value::Null,
                    ));
                }
                tool_index += 1;
            }
        }
    }
    let tail = vec![
        chunk(json!({}), json!(reply.finish_reason_for(pieces))),
        sse_data(&json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
            "usage": {
                "prompt_tokens": reply.input_tokens,
                "completion_tokens": reply.output_tokens,
                "total_tokens": reply.input_tokens + reply.output_tokens,
            },
        })),
        Bytes::from_static(b"data: [DONE]\n\n"),
    ];
    Frames { content, tail }
}

/// Anthropic Messages events: `message_start` (input tokens), a `ping`, one content block per
/// run of reasoning (`thinking`, with a signature), of text, and per tool call (`tool_use` with
/// `input_json_delta` fragments), then `message_delta` (stop reason, output tokens) and
/// `message_stop`.
fn anthropic_frames(reply: &Reply, pieces: &[Piece], model: &str, number: usize) -> Frames {
    let mut content = vec![
        sse_event(
            "message_start",
            &json!({"type": "message_start", "message": {
                "id": format!("msg_fake{number:04}"), "type": "message", "role": "assistant", "content": [],
                "model": model, "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1},
            }}),
        ),
        sse_event("ping", &json!({"type": "ping"})),
    ];
    let mut index = 0;
    let mut open: Option<&'static str> = None;
    let close = |content: &mut Vec<Bytes>, index: &mut u32| {
        content.push(sse_event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": *index}),
        ));
        *index += 1;
    };
    for piece in pieces {
        let kind = match piece {
            Piece::Text(_) => "text",
            Piece::Reasoning(_) => "thinking",
            Piece::ToolCall { .. } => "tool_use",
        };
        if let Some(current) = open
            && (current != kind || kind == "tool_use")
        {
            if current == "thinking" {
                content.push(sse_event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "signature_delta", "signature": "fake-signature"}}),
                ));
            }
            close(&mut content, &mut index);
            open = None;
        }
        let delta = |delta: Value| {
            sse_event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            )
        };
        match piece {
            Piece::Text(text) => {
                if open.is_none() {
                    content.push(sse_event(
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": index,
                            "content_block": {"type": "text", "text": ""}}),
                    ));
                    open = Some("text");
                }
                content.push(delta(json!({"type": "text_delta", "text": text})));
            }
            Piece::Reasoning(text) => {
                if open.is_none() {
                    content.push(sse_event(
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": index,
                            "content_block": {"type": "thinking", "thinking": ""}}),
                    ));
                    open = Some("thinking");
                }
                content.push(delta(json!({"type": "thinking_delta", "thinking": text})));
            }
            Piece::ToolCall { id, name, arguments } => {
                content.push(sse_event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": index,
                        "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                ));
                content.push(delta(json!({"type": "input_json_delta", "partial_json": ""})));
                for fragment in fragments(&arguments.to_string()) {
                    content.push(delta(
                        json!({"type": "input_json_delta", "partial_json": fragment}),
                    ));
                }
                open = Some("tool_use");
            }
        }
    }
    let mut tail = Vec::new();
    if let Some(current) = open {
        if current == "thinking" {
            tail.push(sse_event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "signature_delta", "signature": "fake-signature"}}),
            ));
        }
        close(&mut tail, &mut index);
    }
    let stop_reason = match reply.finish_reason_for(pieces) {
        "tool_calls" => "tool_use",
        "length" => "max_tokens",
        "content_filter" => "refusal",
        _ => "end_turn",
    };
    tail.push(sse_event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": reply.output_tokens}}),
    ));
    tail.push(sse_event("message_stop", &json!({"type": "message_stop"})));
    Frames { content, tail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_rebuild_the_text() {
        let text = r#"{"filePath":"/tmp/héllo/README.md"}"#;
        let parts = fragments(text);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), text);
        assert_eq!(fragments("").concat(), "");
    }

    #[test]
    fn finish_reason_follows_the_pieces() {
        let reply = Reply::text(["a"]);
        assert_eq!(reply.finish_reason_for(&[Piece::Text("a".into())]), "stop");
        let reply = Reply::tool_call("c", "read", json!({}));
        let Kind::Stream { pieces, .. } = &reply.kind else {
            unreachable!("a stream reply")
        };
        assert_eq!(reply.finish_reason_for(pieces), "tool_calls");
    }

    #[test]
    fn anthropic_blocks_group_runs_and_close_open_blocks() {
        let reply = Reply::reasoning(["a", "b"])
            .then_text(["c", "d"])
            .then_tool_call("t1", "read", json!({}))
            .then_tool_call("t2", "glob", json!({}));
        let Kind::Stream { pieces, .. } = &reply.kind else {
            unreachable!("a stream reply")
        };
        let frames = anthropic_frames(&reply, pieces, "m", 1);
        let all: Vec<String> = frames
            .content
            .iter()
            .chain(&frames.tail)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        let starts = all
            .iter()
            .filter(|e| e.starts_with("event: content_block_start"))
            .count();
        let stops = all
            .iter()
            .filter(|e| e.starts_with("event: content_block_stop"))
            .count();
        assert_eq!((starts, stops), (4, 4));
        assert!(
            all.iter()
                .any(|e| e.contains(r#""index":3"#) && e.contains("content_block_stop"))
        );
        assert!(all.last().is_some_and(|e| e.contains("message_stop")));
    }
}
