//! Sessions: their records in the store, their messages and parts, and the agent loop that
//! answers prompts. This is the service behind every `/session` route; it knows nothing of HTTP.
//!
//! Every change is committed to the store before its event is published and before the caller
//! gets an answer. One task per busy session runs the loop ([`run`]); prompts that arrive while
//! it runs are stored at once and answered by the same loop, and every caller gets the loop's
//! final assistant message, as OpenCode does.

pub mod agent;
pub mod chat;
pub mod command;
mod events;
mod history;
pub mod model;
pub mod permission;
mod run;
mod shell;
pub mod skill;
mod system;
mod text;
mod title;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::bus::Identifier;
use crate::instance::Instance;
use crate::permission::Rule;
use crate::runtime::Runtime;
use crate::store::{MessageRecord, PartRecord, SessionQuery, SessionRecord, Store, StoreError, Write};
use model::{
    MessageInfo, MessageWithParts, ModelRef, Part, PartBody, Session, SessionStatus, SessionTime, Tokens,
    UserMessage, now_ms,
};
pub use permission::{Broker, PermissionRequest, Reply, ReplyError};
pub use run::LoopSettings;

/// How many sessions `GET /session` returns without `limit` (OpenCode's default).
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// How long `abort` waits for the loop to wind down before answering.
const ABORT_WAIT: Duration = Duration::from_secs(5);

/// Why a session operation failed, by layer: the caller's mistake, a missing object, or the
/// store.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("Session not found: {0}")]
    NotFound(String),
    #[error("Message not found: {0}")]
    MessageNotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// No usable model: none configured, unknown, or its provider lacks a key.
    #[error("{0}")]
    Model(String),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// The session is running a turn and the operation needs it idle.
    #[error("Session {0} is busy")]
    Busy(String),
    #[error("the session's loop stopped unexpectedly")]
    LoopGone,
    /// The loop failed for a reason of the server's (the store, most likely).
    #[error("the session's loop failed: {0}")]
    Failed(String),
}

/// `POST /session`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct CreateSession {
    #[serde(rename = "parentID")]
    pub parent_id: Option<String>,
    pub title: Option<String>,
    pub permission: Option<Vec<Rule>>,
}

/// `PATCH /session/{id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSession {
    pub title: Option<String>,
    pub permission: Option<Vec<Rule>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub time: Option<serde_json::Value>,
}

/// `GET /session` filters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ListSessions {
    /// Only sessions without a parent.
    pub roots: Option<bool>,
    /// Case-insensitive substring of the title.
    pub search: Option<String>,
    /// Only sessions updated at or after this time (epoch ms).
    pub start: Option<i64>,
    /// At most this many (default 100).
    pub limit: Option<usize>,
}

/// One part of a prompt.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PartInput {
    Text {
        text: String,
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        synthetic: Option<bool>,
    },
    File {
        mime: String,
        #[serde(default)]
        filename: Option<String>,
        url: String,
        #[serde(default)]
        id: Option<String>,
    },
    Agent {
        name: String,
        #[serde(default)]
        id: Option<String>,
    },
    Subtask {
        prompt: String,
        description: String,
        agent: String,
        #[serde(default)]
        id: Option<String>,
    },
}

/// `POST /session/{id}/message` and `prompt_async`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptInput {
    #[serde(rename = "messageID")]
    pub message_id: Option<String>,
    pub model: Option<ModelRef>,
    pub agent: Option<String>,
    #[serde(rename = "noReply", default)]
    pub no_reply: bool,
    #[schema(value_type = Option<Object>)]
    pub tools: Option<serde_json::Map<String, serde_json::Value>>,
    #[schema(value_type = Option<Object>)]
    pub format: Option<serde_json::Value>,
    pub system: Option<String>,
    pub variant: Option<String>,
    pub parts: Vec<PartInput>,
}

/// Whether the user can be asked for permissions during a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asks {
    /// Clients watch the events and reply (`/session` prompts).
    Interactive,
    /// Nobody can answer (`/v1/chat`): a rule that says `ask` refuses instead.
    Refuse,
}

/// A prompt's outcome for its caller: the loop's last assistant message.
pub type PromptResult = Result<MessageWithParts, SessionError>;

/// The loop of one busy session.
struct RunSlot {
    cancel: CancellationToken,
    /// Callers waiting for the loop's final message.
    waiters: Vec<oneshot::Sender<PromptResult>>,
    /// A prompt arrived since the loop last looked for new user messages.
    pending_prompt: bool,
    status: SessionStatus,
    asks: Asks,
    /// Becomes true when the loop is over (abort waits on it).
    done: watch::Sender<bool>,
}

/// Every session of the server, across instances.
pub struct Sessions {
    store: Store,
    runtime: Arc<Runtime>,
    broker: Broker,
    runs: Mutex<HashMap<String, RunSlot>>,
    providers: run::ProviderComponents,
}

impl Sessions {
    pub fn new(store: Store, runtime: Arc<Runtime>) -> Arc<Self> {
        recover_interrupted_turns(&store);
        let broker = Broker::restore(store.clone());
        Arc::new(Self {
            store,
            runtime,
            broker,
            runs: Mutex::new(HashMap::new()),
            providers: run::ProviderComponents::default(),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    fn runs(&self) -> MutexGuard<'_, HashMap<String, RunSlot>> {
        // Each critical section is a few map operations; a poisoned lock holds consistent data.
        self.runs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // ----- sessions -------------------------------------------------------------------------

    pub fn create(&self, instance: &Instance, input: CreateSession) -> Result<Session, SessionError> {
        if let Some(parent) = &input.parent_id {
            self.get(parent)?;
        }
        let now = now_ms();
        let prefix = if input.parent_id.is_some() {
            "Child session - "
        } else {
            "New session - "
        };
        let session = Session {
            id: Identifier::descending("ses"),
            slug: text::slug(),
            project_id: instance.project_id.clone(),
            directory: instance.directory.display().to_string(),
            path: String::new(),
            parent_id: input.parent_id,
            summary: None,
            cost: 0.0,
            tokens: Tokens::default(),
            title: input
                .title
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| format!("{prefix}{}", text::iso8601(now))),
            agent: None,
            model: None,
            version: model::SESSION_VERSION.into(),
            time: SessionTime {
                created: now,
                updated: now,
            },
            permission: input.permission,
        };
        self.store.put_session(&record(&session))?;
        events::session_created(&instance.bus, &session);
        events::session_updated(&instance.bus, &session);
        Ok(session)
    }

    pub fn get(&self, id: &str) -> Result<Session, SessionError> {
        check_id(id, "ses", "session")?;
        let record = self
            .store
            .session(id)?
            .ok_or_else(|| SessionError::NotFound(id.into()))?;
        parse_session(&record).ok_or_else(|| SessionError::NotFound(id.into()))
    }

    pub fn list(&self, instance: &Instance, query: &ListSessions) -> Result<Vec<Session>, SessionError> {
        let records = self.store.sessions(&SessionQuery {
            project_id: instance.project_id.clone(),
            roots: query.roots.unwrap_or(false),
            search: query.search.clone().filter(|s| !s.is_empty()),
            start: query.start,
            limit: query.limit.unwrap_or(DEFAULT_LIST_LIMIT),
        })?;
        Ok(records.iter().filter_map(parse_session).collect())
    }

    pub fn children(&self, id: &str) -> Result<Vec<Session>, SessionError> {
        self.get(id)?;
        Ok(self
            .store
            .children(id)?
            .iter()
            .filter_map(parse_session)
            .collect())
    }

    /// Applies an update. A title change does not bump `time.updated` (as OpenCode).
    pub fn update(
        &self,
        instance: &Instance,
        id: &str,
        input: UpdateSession,
    ) -> Result<Session, SessionError> {
        let mut session = self.get(id)?;
        if let Some(title) = input.title {
            if title.trim().is_empty() {
                return Err(SessionError::BadRequest("title must not be empty".into()));
            }
            session.title = title;
        }
        if let Some(rules) = input.permission {
            session.permission = Some(rules);
        }
        self.store.put_session(&record(&session))?;
        events::session_updated(&instance.bus, &session);
        Ok(session)
    }

    /// Deletes a session with its children, messages and parts; a running loop is aborted first.
    pub async fn delete(&self, instance: &Instance, id: &str) -> Result<(), SessionError> {
        self.get(id)?;
        let deleted = self.store.delete_session(id)?;
        for record in &deleted {
            self.cancel_run(&record.id);
            self.broker.forget_session(&record.id);
        }
        for record in &deleted {
            if let Some(session) = parse_session(record) {
                events::session_deleted(&instance.bus, &session);
            }
        }
        Ok(())
    }

    /// Copies a session's messages (all, or those before `message_id`) into a new session.
    pub fn fork(
        &self,
        instance: &Instance,
        id: &str,
        message_id: Option<&str>,
    ) -> Result<Session, SessionError> {
        let original = self.get(id)?;
        let messages = self.messages(id, None)?;
        if let Some(cut) = message_id
            && !messages.iter().any(|m| m.info.id() == cut)
        {
            return Err(SessionError::MessageNotFound(cut.into()));
        }
        let mut forked = self.create(
            instance,
            CreateSession {
                parent_id: None,
                title: Some(text::fork_title(&original.title)),
                permission: original.permission.clone(),
            },
        )?;
        let mut ids = HashMap::new();
        let mut batch = Vec::new();
        for message in messages {
            if Some(message.info.id()) == message_id {
                break;
            }
            let new_id = Identifier::ascending("msg");
            ids.insert(message.info.id().to_string(), new_id.clone());
            let mut info = message.info;
            match &mut info {
                MessageInfo::User(m) => {
                    m.id = new_id.clone();
                    m.session_id = forked.id.clone();
                }
                MessageInfo::Assistant(m) => {
                    m.id = new_id.clone();
                    m.session_id = forked.id.clone();
                    if let Some(parent) = ids.get(&m.parent_id) {
                        m.parent_id = parent.clone();
                    }
                }
            }
            batch.push(Write::Message(message_record(&info)));
            for mut part in message.parts {
                part.id = Identifier::ascending("prt");
                part.message_id = new_id.clone();
                part.session_id = forked.id.clone();
                batch.push(Write::Part(part_record(&part)));
            }
        }
        self.store.apply(&batch)?;
        forked.time.updated = now_ms();
        self.store.put_session(&record(&forked))?;
        Ok(forked)
    }

    pub fn todos(&self, id: &str) -> Result<serde_json::Value, SessionError> {
        self.get(id)?;
        let todos = self.store.todos(id)?;
        Ok(todos
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_else(|| serde_json::Value::Array(Vec::new())))
    }

    /// What every busy session is doing (idle sessions are absent, as in OpenCode).
    pub fn statuses(&self) -> HashMap<String, SessionStatus> {
        self.runs()
            .iter()
            .map(|(id, slot)| (id.clone(), slot.status.clone()))
            .collect()
    }

    // ----- messages -------------------------------------------------------------------------

    pub fn messages(&self, id: &str, limit: Option<usize>) -> Result<Vec<MessageWithParts>, SessionError> {
        self.get(id)?;
        Ok(self
            .store
            .messages(id, limit)?
            .into_iter()
            .filter_map(parse_message)
            .collect())
    }

    pub fn message(&self, id: &str, message_id: &str) -> Result<MessageWithParts, SessionError> {
        self.get(id)?;
        check_id(message_id, "msg", "message")?;
        self.store
            .message(id, message_id)?
            .and_then(parse_message)
            .ok_or_else(|| SessionError::MessageNotFound(message_id.into()))
    }

    // ----- prompts --------------------------------------------------------------------------

    /// Stores the user's message and returns it. The loop is not started.
    fn store_prompt(
        &self,
        instance: &Instance,
        session: &mut Session,
        input: &PromptInput,
        agent: &agent::Agent,
        model: &ModelRef,
    ) -> Result<MessageWithParts, SessionError> {
        if input.parts.is_empty() {
            return Err(SessionError::BadRequest(
                "a prompt needs at least one part".into(),
            ));
        }
        let message_id = match &input.message_id {
            Some(id) => {
                check_id(id, "msg", "message")?;
                id.clone()
            }
            None => Identifier::ascending("msg"),
        };
        let user = UserMessage::new(message_id.clone(), &session.id, &agent.name, model);
        let now = user.time.created;
        let info = MessageInfo::User(UserMessage {
            system: input.system.clone(),
            tools: input.tools.clone(),
            ..user
        });
        let mut parts = Vec::with_capacity(input.parts.len());
        for part in &input.parts {
            let (id, body) = match part.clone() {
                PartInput::Text { text, id, synthetic } => (
                    id,
                    PartBody::Text {
                        text,
                        synthetic,
                        time: None,
                    },
                ),
                PartInput::File {
                    mime,
                    filename,
                    url,
                    id,
                } => (id, PartBody::File { mime, filename, url }),
                PartInput::Agent { name, id } => (id, PartBody::Agent { name }),
                PartInput::Subtask {
                    prompt,
                    description,
                    agent,
                    id,
                } => (
                    id,
                    PartBody::Subtask {
                        prompt,
                        description,
                        agent,
                    },
                ),
            };
            if let Some(id) = &id {
                check_id(id, "prt", "part")?;
            }
            parts.push(Part {
                id: id.unwrap_or_else(|| Identifier::ascending("prt")),
                session_id: session.id.clone(),
                message_id: message_id.clone(),
                body,
            });
        }
        session.time.updated = now;
        session.agent = Some(agent.name.clone());
        session.model = Some(model::SessionModel {
            id: model.model_id.clone(),
            provider_id: model.provider_id.clone(),
            variant: input.variant.clone().unwrap_or_else(|| "default".into()),
        });
        let mut batch = vec![
            Write::Session(record(session)),
            Write::Message(message_record(&info)),
        ];
        batch.extend(parts.iter().map(|p| Write::Part(part_record(p))));
        self.store.apply(&batch)?;
        events::session_updated(&instance.bus, session);
        events::message_updated(&instance.bus, &info);
        for part in &parts {
            events::part_updated(&instance.bus, part);
        }
        events::session_updated(&instance.bus, session);
        Ok(MessageWithParts { info, parts })
    }

    /// Stores a prompt and, unless `noReply`, has the loop answer it. The receiver yields the
    /// loop's final assistant message; it is returned once the user message is committed.
    pub fn submit(
        self: &Arc<Self>,
        instance: &Arc<Instance>,
        id: &str,
        input: PromptInput,
    ) -> Result<Submitted, SessionError> {
        self.submit_with(instance, id, input, Asks::Interactive)
    }

    /// [`Sessions::submit`], saying whether permission asks can be answered. A prompt joining a
    /// running loop that refuses asks makes it refuse too (its caller cannot answer either).
    pub fn submit_with(
        self: &Arc<Self>,
        instance: &Arc<Instance>,
        id: &str,
        input: PromptInput,
        asks: Asks,
    ) -> Result<Submitted, SessionError> {
        let mut session = self.get(id)?;
        let agents = instance.agents().map_err(SessionError::BadRequest)?;
        let agent = run::choose_agent(&agents, input.agent.as_deref(), &session)?;
        let model = run::choose_model(instance, input.model.as_ref(), &agent, &session)?;
        let is_first = session.agent.is_none() && self.store.messages(id, Some(1))?.is_empty();
        let user = self.store_prompt(instance, &mut session, &input, &agent, &model)?;
        if input.no_reply {
            return Ok(Submitted::Stored(Box::new(user)));
        }
        if is_first && text::is_default_title(&session.title) {
            title::generate(self.clone(), instance.clone(), session.id.clone(), user.clone());
        }
        let (sender, receiver) = oneshot::channel();
        let start = {
            let mut runs = self.runs();
            match runs.get_mut(id) {
                Some(slot) => {
                    slot.waiters.push(sender);
                    slot.pending_prompt = true;
                    if asks == Asks::Refuse {
                        slot.asks = Asks::Refuse;
                    }
                    None
                }
                None => {
                    let cancel = CancellationToken::new();
                    let (done, _) = watch::channel(false);
                    runs.insert(
                        id.to_string(),
                        RunSlot {
                            cancel: cancel.clone(),
                            waiters: vec![sender],
                            pending_prompt: false,
                            status: SessionStatus::Busy,
                            asks,
                            done,
                        },
                    );
                    Some(cancel)
                }
            }
        };
        if let Some(cancel) = start {
            events::session_status(&instance.bus, id, &SessionStatus::Busy);
            let sessions = self.clone();
            let instance = instance.clone();
            let id = id.to_string();
            tokio::spawn(async move {
                loop {
                    let result = run::run_loop(&sessions, &instance, &id, cancel.clone()).await;
                    if sessions.finish_run(&instance, &id, result, cancel.is_cancelled()) {
                        break;
                    }
                }
            });
        }
        Ok(Submitted::Queued(receiver))
    }

    /// Whether the session's running turn can ask the user.
    fn asks(&self, id: &str) -> Asks {
        self.runs().get(id).map_or(Asks::Interactive, |slot| slot.asks)
    }

    fn set_status(&self, instance: &Instance, id: &str, status: SessionStatus) {
        if let Some(slot) = self.runs().get_mut(id) {
            slot.status = status.clone();
        }
        events::session_status(&instance.bus, id, &status);
    }

    /// Ends the session's run and answers its callers, unless a prompt arrived since the loop
    /// last looked (and the run was not aborted): then it returns false and the loop goes on.
    /// Checking and removing under one lock leaves no prompt unanswered.
    fn finish_run(&self, instance: &Instance, id: &str, result: PromptResult, aborted: bool) -> bool {
        let slot = {
            let mut runs = self.runs();
            if let Some(slot) = runs.get_mut(id)
                && slot.pending_prompt
                && !aborted
            {
                slot.pending_prompt = false;
                return false;
            }
            runs.remove(id)
        };
        // As the reference: a last `busy`, then `idle` and `session.idle`.
        events::session_status(&instance.bus, id, &SessionStatus::Busy);
        events::session_status(&instance.bus, id, &SessionStatus::Idle);
        events::session_idle(&instance.bus, id);
        if let Ok(session) = self.get(id) {
            events::session_updated(&instance.bus, &session);
            events::session_diff(&instance.bus, id);
        }
        if let Some(slot) = slot {
            for waiter in slot.waiters {
                let _ = waiter.send(match &result {
                    Ok(message) => Ok(message.clone()),
                    Err(e) => Err(SessionError::Failed(e.to_string())),
                });
            }
            let _ = slot.done.send(true);
        }
        true
    }

    fn cancel_run(&self, id: &str) -> Option<watch::Receiver<bool>> {
        let runs = self.runs();
        let slot = runs.get(id)?;
        slot.cancel.cancel();
        Some(slot.done.subscribe())
    }

    /// Stops the session's loop (and its tool, provider stream and processes) and withdraws its
    /// permission requests. Waits, briefly, until the session is idle.
    pub async fn abort(&self, id: &str) -> Result<(), SessionError> {
        self.get(id)?;
        // Cancel first: withdrawing the requests wakes their calls with a refusal, which the
        // loop must see as the abort it is.
        let running = self.cancel_run(id);
        self.broker.clear_session(id);
        if let Some(mut done) = running {
            let _ = tokio::time::timeout(ABORT_WAIT, done.wait_for(|finished| *finished)).await;
        }
        Ok(())
    }
}

impl Sessions {
    /// Answers a permission request. A request restored after a restart has no call waiting on
    /// it; the reply is recorded and the request cleared.
    pub fn reply(
        &self,
        instance: &Instance,
        id: &str,
        reply: Reply,
        message: Option<String>,
    ) -> Result<(), ReplyError> {
        let replied = self.broker.reply(&instance.bus, id, reply, message)?;
        if !replied.delivered {
            tracing::info!(
                request = %id,
                session = %replied.request.session_id,
                "answered a permission request left from an earlier run; its tool call is not running any more"
            );
        }
        Ok(())
    }
}

/// `POST /session/{id}/command`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CommandInput {
    #[serde(rename = "messageID")]
    pub message_id: Option<String>,
    pub agent: Option<String>,
    /// `provider/model`.
    pub model: Option<String>,
    #[serde(default)]
    pub arguments: String,
    pub command: String,
    pub variant: Option<String>,
}

/// `POST /session/{id}/shell`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ShellInput {
    pub agent: Option<String>,
    pub model: Option<ModelRef>,
    pub command: String,
}

impl Sessions {
    /// Runs a slash command: its template, filled with the arguments, becomes the prompt.
    pub fn command(
        self: &Arc<Self>,
        instance: &Arc<Instance>,
        id: &str,
        input: CommandInput,
        global_config: &std::path::Path,
    ) -> Result<Submitted, SessionError> {
        let commands = command::list(instance, global_config);
        let found = commands
            .iter()
            .find(|c| c.name == input.command)
            .ok_or_else(|| SessionError::BadRequest(format!("unknown command `{}`", input.command)))?;
        let model = match input.model.as_deref().or(found.model.as_deref()) {
            Some(spec) => {
                let (provider_id, model_id) = spec.split_once('/').ok_or_else(|| {
                    SessionError::BadRequest(format!("model must be provider/model, got {spec:?}"))
                })?;
                Some(ModelRef {
                    provider_id: provider_id.into(),
                    model_id: model_id.into(),
                })
            }
            None => None,
        };
        let prompt = PromptInput {
            message_id: input.message_id,
            model,
            agent: input.agent.or_else(|| found.agent.clone()),
            no_reply: false,
            tools: None,
            format: None,
            system: None,
            variant: input.variant,
            parts: vec![PartInput::Text {
                text: command::expand(&found.template, &input.arguments),
                id: None,
                synthetic: None,
            }],
        };
        self.submit(instance, id, prompt)
    }
}

/// Marks the turns an earlier run left unfinished (the server was killed mid-turn) as what they
/// are: the assistant message failed with `MessageAbortedError`, its unfinished tool calls
/// `interrupted`. Without this they would look busy forever. Stored prompts are kept as they are.
fn recover_interrupted_turns(store: &Store) {
    let unfinished = match store.unfinished_messages() {
        Ok(unfinished) => unfinished,
        Err(e) => {
            tracing::error!("could not look for interrupted turns: {e}");
            return;
        }
    };
    let now = now_ms();
    for stored in unfinished {
        let Some(MessageWithParts { info, parts }) = parse_message(stored) else {
            continue;
        };
        let MessageInfo::Assistant(mut message) = info else {
            continue;
        };
        let mut batch = Vec::new();
        for mut part in parts {
            let model::PartBody::Tool { state, .. } = &mut part.body else {
                continue;
            };
            if state.is_finished() {
                continue;
            }
            let start = match state {
                model::ToolState::Running { time, .. } => time.start,
                _ => message.time.created,
            };
            *state = model::ToolState::Error {
                input: state.input().clone(),
                error: "Tool execution aborted: the server stopped during this call".into(),
                metadata: Some(serde_json::json!({"interrupted": true})),
                time: model::SpanTime { start, end: now },
            };
            batch.push(Write::Part(part_record(&part)));
        }
        message.error = Some(model::MessageError {
            name: "MessageAbortedError".into(),
            data: serde_json::json!({"message": "The server stopped during this turn"}),
        });
        message.time.completed = Some(now);
        batch.push(Write::Message(message_record(&MessageInfo::Assistant(
            message.clone(),
        ))));
        match store.apply(&batch) {
            Ok(()) => {
                tracing::info!(session = %message.session_id, message = %message.id, "marked a turn interrupted by a restart")
            }
            Err(e) => tracing::error!(message = %message.id, "could not mark an interrupted turn: {e}"),
        }
    }
}

/// What `submit` did with a prompt.
pub enum Submitted {
    /// `noReply`: the stored user message.
    Stored(Box<MessageWithParts>),
    /// The loop will answer; the receiver yields its final assistant message.
    Queued(oneshot::Receiver<PromptResult>),
}

impl Submitted {
    /// Waits for the answer.
    pub async fn answer(self) -> PromptResult {
        match self {
            Self::Stored(message) => Ok(*message),
            Self::Queued(receiver) => receiver.await.map_err(|_| SessionError::LoopGone)?,
        }
    }
}

/// Where an assistant message of `instance` works: its directory, within its repository.
fn message_path(instance: &Instance) -> model::MessagePath {
    model::MessagePath {
        cwd: instance.directory.display().to_string(),
        root: instance.worktree.display().to_string(),
    }
}

/// Rejects an ID that does not have the expected prefix (400, where OpenCode answers 500).
fn check_id(id: &str, prefix: &str, what: &str) -> Result<(), SessionError> {
    let valid = id
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
    if valid {
        Ok(())
    } else {
        Err(SessionError::BadRequest(format!(
            "invalid {what} ID {id:?}: expected \"{prefix}_\" followed by letters and digits"
        )))
    }
}

fn record(session: &Session) -> SessionRecord {
    SessionRecord {
        id: session.id.clone(),
        project_id: session.project_id.clone(),
        parent_id: session.parent_id.clone(),
        directory: session.directory.clone(),
        title: session.title.clone(),
        time_created: session.time.created as i64,
        time_updated: session.time.updated as i64,
        data: serde_json::to_string(session).unwrap_or_default(),
    }
}

fn message_record(info: &MessageInfo) -> MessageRecord {
    let session_id = match info {
        MessageInfo::User(m) => &m.session_id,
        MessageInfo::Assistant(m) => &m.session_id,
    };
    MessageRecord {
        id: info.id().to_string(),
        session_id: session_id.clone(),
        time_created: info.created() as i64,
        data: serde_json::to_string(info).unwrap_or_default(),
    }
}

fn part_record(part: &Part) -> PartRecord {
    PartRecord {
        id: part.id.clone(),
        message_id: part.message_id.clone(),
        session_id: part.session_id.clone(),
        data: serde_json::to_string(part).unwrap_or_default(),
    }
}

/// A stored session, or `None` (reported) when its JSON no longer reads.
fn parse_session(record: &SessionRecord) -> Option<Session> {
    serde_json::from_str(&record.data)
        .map_err(|e| tracing::warn!(id = %record.id, "skipping an unreadable session: {e}"))
        .ok()
}

fn parse_message(stored: crate::store::MessageWithParts) -> Option<MessageWithParts> {
    let info = serde_json::from_str(&stored.message.data)
        .map_err(|e| tracing::warn!(id = %stored.message.id, "skipping an unreadable message: {e}"))
        .ok()?;
    let parts = stored
        .parts
        .iter()
        .filter_map(|p| {
            serde_json::from_str(&p.data)
                .map_err(|e| tracing::warn!(id = %p.id, "skipping an unreadable part: {e}"))
                .ok()
        })
        .collect();
    Some(MessageWithParts { info, parts })
}
