//! The simple `/v1` surface: what a script or a web page can use with plain `fetch`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::extract::{OptionalJson, Scoped, ValidJson, ValidQuery};
use super::tool::ToolListItem;
use crate::bus::Subscription;
use crate::instance::Instance;
use crate::permission::PolicyAnswerer;
use crate::protocol::id::{Identifier, PartId, SessionId};
use crate::protocol::session::{MessageInfo, Part, PartBody, Session, ToolState};
use crate::protocol::{Envelope, Event};
use crate::runtime::ToolCall;
use crate::session::chat::{ChatInput, ChatMessageInput};
use crate::session::skill::{self, Skill};
use crate::session::{CreateSession, Sessions};

/// The result of running a tool directly.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolExecution {
    /// The tool that ran (an alias such as `read_file` resolves to `read`).
    pub tool: String,
    pub title: String,
    /// The tool's output text.
    pub content: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// List every loaded tool with its JSON Schema.
#[utoipa::path(get, path = "/v1/tools", operation_id = "v1.tools.list", tag = "v1",
    responses((status = 200, description = "Tools", body = Vec<ToolListItem>)))]
pub async fn tools(Scoped(instance): Scoped) -> Json<Vec<ToolListItem>> {
    super::tool::all_tools(&instance).await
}

/// Names other clients use for our tools, and how their arguments map.
fn resolve_alias(id: &str, mut args: serde_json::Value) -> (String, serde_json::Value) {
    match id {
        "read_file" => {
            if let Some(object) = args.as_object_mut()
                && !object.contains_key("filePath")
                && let Some(path) = object.remove("path")
            {
                object.insert("filePath".into(), path);
            }
            ("read".into(), args)
        }
        other => (other.to_string(), args),
    }
}

/// Run one tool directly, under the configured permission rules. A rule that says `ask` refuses
/// here: there is nobody to ask.
#[utoipa::path(post, path = "/v1/tools/{id}/execute", operation_id = "v1.tools.execute", tag = "v1",
    params(("id" = String, Path, description = "Tool id (`read_file` is an alias of `read`)")),
    request_body(content = Object, description = "The tool's arguments"),
    responses(
        (status = 200, description = "The tool's output", body = ToolExecution),
        (status = 400, description = "Invalid arguments", body = super::error::ErrorBody),
        (status = 403, description = "Permission refused", body = super::error::ErrorBody),
        (status = 404, description = "Unknown tool", body = super::error::ErrorBody),
        (status = 422, description = "The tool ran and failed", body = super::error::ErrorBody),
    ))]
pub async fn execute_tool(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    Path(id): Path<String>,
    ValidJson(args): ValidJson<serde_json::Value>,
) -> Result<Json<ToolExecution>, ApiError> {
    if !args.is_object() {
        return Err(ApiError::bad_request(
            "the body must be a JSON object of the tool's arguments",
            "Payload",
        ));
    }
    let (tool, args) = resolve_alias(&id, args);
    if instance.tools.current().await.plugin_for(&tool).is_none() {
        return Err(ApiError::not_found(format!("Tool not found: {id}")));
    }
    let call = ToolCall {
        tool: tool.clone(),
        args_json: args.to_string(),
        session_id: String::new(),
        message_id: String::new(),
        call_id: Identifier::ascending("call"),
        agent: "build".into(),
        project_root: instance.directory.clone(),
        sandbox: instance.sandbox.clone(),
    };
    let answerer = std::sync::Arc::new(PolicyAnswerer {
        rules: (*instance.permissions).clone(),
    });
    let mut output = instance
        .tools
        .current()
        .await
        .call(state.instances.runtime(), call, answerer)
        .await?;
    instance
        .format_changed_files(state.instances.runtime(), &mut output.metadata)
        .await;
    Ok(Json(ToolExecution {
        tool,
        title: output.title,
        content: output.output,
        metadata: output.metadata,
    }))
}

/// `POST /v1/chat`'s answer, shaped as OpenAI's `chat.completion`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatCompletion {
    /// `chatcmpl-` and the assistant message's ID.
    pub id: String,
    pub object: &'static str,
    /// Epoch seconds.
    pub created: u64,
    /// `provider/model`.
    pub model: String,
    pub choices: Vec<ChatChoice>,
    pub usage: ChatUsage,
    /// The session the turn ran in: pass it back as `session_id` to continue.
    #[schema(value_type = String)]
    pub session_id: SessionId,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatChoice {
    pub index: u32,
    pub message: ChatReply,
    /// `stop`, `length`, `tool_calls` (the turn stopped at a refused tool call) or
    /// `content_filter`.
    pub finish_reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatReply {
    pub role: &'static str,
    pub content: String,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ChatUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// Runs one chat turn (tools included, under the permission rules; a rule that says `ask`
/// refuses, as nobody can answer here) and answers when it is over.
#[utoipa::path(post, path = "/v1/chat", operation_id = "v1.chat", tag = "v1",
    request_body(content = ChatInput),
    responses(
        (status = 200, description = "The assistant's answer", body = ChatCompletion),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
        (status = 502, description = "The model could not be reached", body = super::error::ErrorBody),
    ))]
pub async fn chat(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidJson(input): ValidJson<ChatInput>,
) -> Result<Json<ChatCompletion>, ApiError> {
    let started = crate::protocol::now_ms();
    let sessions = state.sessions.clone();
    let turn = sessions.chat(&instance, input, &state.instances.paths().config)?;
    let session_id = turn.session_id.clone();
    let model = format!("{}/{}", turn.model.provider_id, turn.model.model_id);
    // A client that goes away aborts the turn.
    let guard = AbortOnDrop::new(sessions.clone(), session_id.clone());
    let answer = turn.submitted.answer().await?;
    guard.disarm();
    let MessageInfo::Assistant(info) = &answer.info else {
        return Err(ApiError::internal("the turn ended without an assistant message"));
    };
    if let Some(error) = &info.error {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "UpstreamError",
            error.message().to_string(),
        ));
    }
    let content = answer
        .parts
        .iter()
        .filter_map(|part| match &part.body {
            PartBody::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("");
    let usage = turn_usage(&sessions, &session_id, started);
    Ok(Json(ChatCompletion {
        id: format!("chatcmpl-{}", info.id),
        object: "chat.completion",
        created: info.time.created / 1000,
        model,
        choices: vec![ChatChoice {
            index: 0,
            message: ChatReply {
                role: "assistant",
                content,
            },
            finish_reason: openai_finish(info.finish.as_deref()),
        }],
        usage,
        session_id,
    }))
}

fn openai_finish(finish: Option<&str>) -> String {
    match finish {
        Some("length") => "length",
        Some("tool-calls") => "tool_calls",
        Some("content-filter") => "content_filter",
        _ => "stop",
    }
    .into()
}

/// The tokens of every model call of the turn that started at `since`.
fn turn_usage(sessions: &Sessions, session_id: &SessionId, since: u64) -> ChatUsage {
    let mut usage = ChatUsage::default();
    for message in sessions.messages(session_id, None).unwrap_or_default() {
        if let MessageInfo::Assistant(info) = &message.info
            && info.time.created >= since
        {
            usage.prompt_tokens += info.tokens.input + info.tokens.cache.read + info.tokens.cache.write;
            usage.completion_tokens += info.tokens.output + info.tokens.reasoning;
        }
    }
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    usage
}

/// Aborts a session's turn when dropped armed: the client of a chat went away.
struct AbortOnDrop {
    sessions: Arc<Sessions>,
    session_id: Option<SessionId>,
    armed: bool,
}

impl AbortOnDrop {
    fn new(sessions: Arc<Sessions>, session_id: SessionId) -> Self {
        let session_id = Some(session_id);
        Self {
            sessions,
            session_id,
            armed: true,
        }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if self.armed
            && let Some(id) = self.session_id.take()
        {
            let sessions = self.sessions.clone();
            tracing::info!(session = %id, "chat client went away: aborting the turn");
            tokio::spawn(async move {
                let _ = sessions.abort(&id).await;
            });
        }
    }
}

/// The same turn as `POST /v1/chat`, streamed as server-sent events named as Anthropic's
/// (`content_block_start`, `content_block_delta`, `content_block_stop`, `message_stop`), plus
/// `tool_use` for tool activity, `error`, `message_delta` with the usage, and `ping`
/// heartbeats. Closing the stream aborts the turn.
#[utoipa::path(post, path = "/v1/chat/stream", operation_id = "v1.chat.stream", tag = "v1",
    request_body(content = ChatInput),
    responses(
        (status = 200, description = "The answer as server-sent events", content_type = "text/event-stream"),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
    ))]
pub async fn chat_stream(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidJson(input): ValidJson<ChatInput>,
) -> Result<Response, ApiError> {
    stream_turn(&state, &instance, input)
}

/// `GET /v1/chat/stream`: one user message in the query, for a browser's `EventSource`, which
/// can only GET.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChatStreamQuery {
    /// The user's message.
    pub message: String,
    /// Continue this session instead of starting one.
    pub session_id: Option<String>,
    /// `provider/model`, or a model id any connected provider offers; default: the configured
    /// model.
    pub model: Option<String>,
    /// Skills whose instructions are added to the system prompt, separated by commas.
    pub skills: Option<String>,
}

/// The same stream as `POST /v1/chat/stream`, for one user message given in the query.
#[utoipa::path(get, path = "/v1/chat/stream", operation_id = "v1.chat.streamGet", tag = "v1",
    params(ChatStreamQuery),
    responses(
        (status = 200, description = "The answer as server-sent events", content_type = "text/event-stream"),
        (status = 400, description = "Bad request", body = super::error::ErrorBody),
    ))]
pub async fn chat_stream_get(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    ValidQuery(query): ValidQuery<ChatStreamQuery>,
) -> Result<Response, ApiError> {
    let skills = query.skills.map(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|skill| !skill.is_empty())
            .map(String::from)
            .collect()
    });
    let input = ChatInput {
        messages: vec![ChatMessageInput {
            role: "user".into(),
            content: serde_json::Value::String(query.message),
        }],
        model: query.model,
        skills,
        session_id: query.session_id,
        stream: Some(true),
    };
    stream_turn(&state, &instance, input)
}

/// Starts the chat turn `input` and streams it.
fn stream_turn(state: &AppState, instance: &Arc<Instance>, input: ChatInput) -> Result<Response, ApiError> {
    let started = crate::protocol::now_ms();
    // Subscribed before the turn starts, so no event of it is missed.
    let subscription = instance.bus.subscribe(None);
    let sessions = state.sessions.clone();
    let turn = sessions.chat(instance, input, &state.instances.paths().config)?;
    let stream = ChatStream {
        subscription,
        guard: Some(AbortOnDrop::new(sessions.clone(), turn.session_id.clone())),
        sessions,
        session_id: turn.session_id,
        started,
        blocks: HashMap::new(),
        tools: HashMap::new(),
        queue: VecDeque::new(),
        done: false,
        _answer: turn.submitted,
    };
    let events = futures_util::stream::unfold(stream, |mut stream| async move {
        let event = stream.next().await?;
        Some((Ok::<_, std::convert::Infallible>(event), stream))
    });
    let heartbeat = axum::response::sse::KeepAlive::new()
        .interval(std::time::Duration::from_secs(15))
        .event(SseEvent::default().event("ping").data(r#"{"type":"ping"}"#));
    Ok(axum::response::sse::Sse::new(events)
        .keep_alive(heartbeat)
        .into_response())
}

/// Turns the session's bus events into the chat stream's events.
struct ChatStream {
    subscription: Subscription<Envelope>,
    guard: Option<AbortOnDrop>,
    sessions: Arc<Sessions>,
    session_id: SessionId,
    started: u64,
    /// Text part → content block index.
    blocks: HashMap<PartId, usize>,
    /// Tool part → last status sent.
    tools: HashMap<PartId, &'static str>,
    queue: VecDeque<SseEvent>,
    done: bool,
    /// Keeps the turn's answer channel alive while streaming.
    _answer: crate::session::Submitted,
}

fn sse(name: &str, data: serde_json::Value) -> SseEvent {
    SseEvent::default().event(name).data(data.to_string())
}

impl ChatStream {
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(event);
            }
            if self.done {
                return None;
            }
            let Some(published) = self.subscription.recv().await else {
                // Lagged far behind or the bus is gone: end the stream (the turn goes on).
                self.queue.push_back(sse("error", json!({"type": "error", "error": {
                    "type": "stream_lagged", "message": "the event stream fell behind; the turn continues in its session"}})));
                self.done = true;
                if let Some(guard) = self.guard.take() {
                    guard.disarm();
                }
                continue;
            };
            self.translate(&published.message.event);
        }
    }

    fn translate(&mut self, event: &Event) {
        match event {
            Event::MessagePartUpdated(e) if e.session_id == self.session_id => self.part(&e.part),
            Event::MessagePartDelta(e)
                if e.session_id == self.session_id
                    && e.field == "text"
                    && self.blocks.contains_key(&e.part_id) =>
            {
                self.queue.push_back(sse(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "delta": {"text": e.delta}}),
                ));
            }
            Event::SessionError(e) if e.session_id == self.session_id => {
                self.queue.push_back(sse(
                    "error",
                    json!({"type": "error", "error": {"type": e.error.name, "message": e.error.message()}}),
                ));
            }
            Event::SessionIdle(e) if e.session_id == self.session_id => {
                let usage = turn_usage(&self.sessions, &self.session_id, self.started);
                self.queue.push_back(sse(
                    "message_delta",
                    json!({"type": "message_delta", "session_id": self.session_id, "usage": usage}),
                ));
                self.queue
                    .push_back(sse("message_stop", json!({"type": "message_stop"})));
                self.done = true;
                if let Some(guard) = self.guard.take() {
                    guard.disarm();
                }
            }
            _ => {}
        }
    }

    fn part(&mut self, part: &Part) {
        match &part.body {
            // Assistant text only: the user's parts carry no `time`.
            PartBody::Text { time: Some(time), .. } => {
                if !self.blocks.contains_key(&part.id) {
                    let index = self.blocks.len();
                    self.blocks.insert(part.id.clone(), index);
                    self.queue.push_back(sse(
                        "content_block_start",
                        json!({"type": "content_block_start", "index": index}),
                    ));
                }
                if time.end.is_some() {
                    let index = self.blocks[&part.id];
                    self.queue.push_back(sse(
                        "content_block_stop",
                        json!({"type": "content_block_stop", "index": index}),
                    ));
                }
            }
            PartBody::Tool {
                call_id, tool, state, ..
            } => {
                let status = match state {
                    ToolState::Pending { .. } => "pending",
                    ToolState::Running { .. } => "running",
                    ToolState::Completed { .. } => "completed",
                    ToolState::Error { .. } => "error",
                };
                if self.tools.get(&part.id) == Some(&status) {
                    return;
                }
                self.tools.insert(part.id.clone(), status);
                let mut data = json!({"type": "tool_use", "id": call_id, "name": tool, "status": status});
                match state {
                    ToolState::Pending { .. } => {}
                    ToolState::Running { input, .. } => data["input"] = input.clone(),
                    ToolState::Completed { input, output, .. } => {
                        data["input"] = input.clone();
                        data["output"] = output.clone().into();
                    }
                    ToolState::Error { input, error, .. } => {
                        data["input"] = input.clone();
                        data["error"] = error.clone().into();
                    }
                }
                self.queue.push_back(sse("tool_use", data));
            }
            _ => {}
        }
    }
}

/// The models of every connected provider.
#[utoipa::path(get, path = "/v1/models", operation_id = "v1.models", tag = "v1",
    responses((status = 200, description = "Models, as OpenAI lists them", body = Object)))]
pub async fn models(Scoped(instance): Scoped) -> Json<serde_json::Value> {
    let default = instance.providers.default_model().ok().map(|m| m.to_string());
    let data: Vec<serde_json::Value> = instance
        .providers
        .connected()
        .into_iter()
        .flat_map(|provider| {
            let default = default.clone();
            provider.models.into_iter().map(move |model| {
                let id = format!("{}/{}", provider.id, model.id);
                json!({
                    "id": id, "object": "model", "owned_by": provider.id, "name": model.name,
                    "context_length": model.limit.context, "max_output_tokens": model.limit.output,
                    "tool_call": model.capabilities.toolcall, "default": default.as_deref() == Some(id.as_str()),
                })
            })
        })
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// The skills of the project and of the global configuration.
#[utoipa::path(get, path = "/v1/skills", operation_id = "v1.skills", tag = "v1",
    responses((status = 200, description = "Skills", body = Vec<Skill>)))]
pub async fn skills(State(state): State<AppState>, Scoped(instance): Scoped) -> Json<Vec<Skill>> {
    Json(skill::list(&instance.directory, &state.instances.paths().config))
}

/// List skills (OpenCode's route).
#[utoipa::path(get, path = "/skill", operation_id = "app.skills", tag = "app",
    params(("directory" = Option<String>, Query, description = "The project directory")),
    responses((status = 200, description = "List of skills", body = Vec<Skill>)))]
pub async fn app_skills(State(state): State<AppState>, Scoped(instance): Scoped) -> Json<Vec<Skill>> {
    Json(skill::list(&instance.directory, &state.instances.paths().config))
}

#[derive(Debug, Default, serde::Deserialize, ToSchema)]
pub struct NewSession {
    pub title: Option<String>,
}

/// The project's sessions, newest first (the same sessions as `GET /session`).
#[utoipa::path(get, path = "/v1/sessions", operation_id = "v1.sessions.list", tag = "v1",
    responses((status = 200, description = "Sessions", body = Vec<Session>)))]
pub async fn sessions_list(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
) -> Result<Json<Vec<Session>>, ApiError> {
    Ok(Json(state.sessions.list(&instance, &Default::default())?))
}

/// Create a session.
#[utoipa::path(post, path = "/v1/sessions", operation_id = "v1.sessions.create", tag = "v1",
    request_body(content = NewSession),
    responses((status = 200, description = "The new session", body = Session)))]
pub async fn sessions_create(
    State(state): State<AppState>,
    Scoped(instance): Scoped,
    OptionalJson(input): OptionalJson<NewSession>,
) -> Result<Json<Session>, ApiError> {
    let create = CreateSession {
        title: input.title,
        ..CreateSession::default()
    };
    Ok(Json(state.sessions.create(&instance, create)?))
}

/// The routes of this module.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tools))
        .routes(routes!(execute_tool))
        .routes(routes!(chat))
        .routes(routes!(chat_stream, chat_stream_get))
        .routes(routes!(models))
        .routes(routes!(skills))
        .routes(routes!(app_skills))
        .routes(routes!(sessions_list, sessions_create))
}
