//! Sessions: their records in the store, their messages and parts, and the agent loop that
//! answers prompts. This is the service behind every `/session` route; it knows nothing of HTTP.
//!
//! [`Sessions`] is the façade; each concern has its own module:
//! * [`journal`]: every change is committed to the store, then published, in one place; the
//!   in-memory histories ([`histories`]) follow the same batches;
//! * [`objects`]: sessions and messages as objects (create, list, fork, delete, ...);
//! * [`prompt`]: a prompt's agent and model, and the user message it becomes;
//! * [`turn`]: the turn engine (steps, part assembly, tool execution, step finish);
//! * [`turns`]: the registry of running turns (status, queued prompts, abort);
//! * [`recovery`]: turns a killed server left unfinished, marked at start-up;
//! * [`permission`]: pending permission requests and their replies;
//! * `title`, `shell`, `chat`, `command`, `skill`, `system`, `history`: what their names say.
//!
//! One task per busy session runs the loop; prompts that arrive while it runs are stored at once
//! and answered by the same loop, and every caller gets the loop's final assistant message, as
//! OpenCode does.

pub mod chat;
pub mod command;
mod error;
mod histories;
mod history;
mod input;
mod journal;
mod objects;
pub mod permission;
mod prompt;
mod records;
mod recovery;
mod shell;
pub mod skill;
mod system;
mod text;
mod title;
mod turn;
mod turns;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

pub use error::SessionError;
pub use input::{
    Asks, CommandInput, CreateSession, ListSessions, PartInput, PromptInput, ShellInput, UpdateSession,
};
pub use objects::DEFAULT_LIST_LIMIT;
pub use permission::{Broker, ReplyError};
pub use turns::PromptResult;

use crate::instance::Instance;
use crate::protocol::Event;
use crate::protocol::event::CommandExecuted;
use crate::protocol::id::{MessageId, PartId, PermissionId, SessionId};
use crate::protocol::permission::Reply;
use crate::protocol::session::{MessageWithParts, ModelRef, Part, Session, SessionStatus};
use crate::runtime::Runtime;
use crate::store::Store;
use journal::Journal;
use turn::Engine;
use turns::Joined;

/// How long `abort` waits for the loop to wind down before answering.
const ABORT_WAIT: Duration = Duration::from_secs(5);

/// Every session of the server, across instances.
pub struct Sessions {
    journal: Journal,
    broker: Broker,
    engine: Arc<Engine>,
}

impl Sessions {
    /// The sessions of `store`, whose models run on the first-party provider components and
    /// those installed in `plugins_dir`. Turns an earlier run left unfinished are marked
    /// interrupted, and its pending permission requests restored.
    pub fn new(store: Store, runtime: Arc<Runtime>, plugins_dir: PathBuf) -> Arc<Self> {
        recovery::mark_interrupted_turns(&store);
        let journal = Journal::new(store);
        let broker = Broker::restore(journal.clone());
        Arc::new(Self {
            engine: Arc::new(Engine::new(journal.clone(), runtime, plugins_dir, broker.clone())),
            journal,
            broker,
        })
    }

    pub fn store(&self) -> &Store {
        self.journal.store()
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    pub fn create(&self, instance: &Instance, input: CreateSession) -> Result<Session, SessionError> {
        objects::create(&self.journal, instance, input)
    }

    pub fn get(&self, id: &SessionId) -> Result<Session, SessionError> {
        objects::get(&self.journal, id)
    }

    pub fn list(&self, instance: &Instance, query: &ListSessions) -> Result<Vec<Session>, SessionError> {
        objects::list(&self.journal, instance, query)
    }

    pub fn children(&self, id: &SessionId) -> Result<Vec<Session>, SessionError> {
        objects::children(&self.journal, id)
    }

    pub fn update(
        &self,
        instance: &Instance,
        id: &SessionId,
        input: UpdateSession,
    ) -> Result<Session, SessionError> {
        objects::update(&self.journal, instance, id, input)
    }

    /// Deletes a session with its children, messages and parts; their running turns are aborted
    /// and their permission requests dropped.
    pub async fn delete(&self, instance: &Instance, id: &SessionId) -> Result<(), SessionError> {
        for deleted in objects::delete(&self.journal, instance, id)? {
            self.engine.turns().cancel(&deleted);
            self.broker.forget_session(&deleted);
        }
        Ok(())
    }

    /// Copies a session's messages (all, or those before `message_id`) into a new session.
    pub fn fork(
        &self,
        instance: &Instance,
        id: &SessionId,
        message_id: Option<&MessageId>,
    ) -> Result<Session, SessionError> {
        objects::fork(&self.journal, instance, id, message_id)
    }

    pub fn todos(&self, id: &SessionId) -> Result<serde_json::Value, SessionError> {
        objects::todos(&self.journal, id)
    }

    /// What every busy session is doing (idle sessions are absent, as in OpenCode).
    pub fn statuses(&self) -> std::collections::HashMap<String, SessionStatus> {
        self.engine.turns().statuses()
    }

    pub fn messages(
        &self,
        id: &SessionId,
        limit: Option<usize>,
    ) -> Result<Vec<MessageWithParts>, SessionError> {
        objects::messages(&self.journal, id, limit)
    }

    /// The session's messages as JSON, encoded straight from memory (`GET /session/{id}/message`).
    pub fn messages_json(&self, id: &SessionId, limit: Option<usize>) -> Result<Vec<u8>, SessionError> {
        objects::messages_json(&self.journal, id, limit)
    }

    pub fn message(&self, id: &SessionId, message_id: &MessageId) -> Result<MessageWithParts, SessionError> {
        objects::message(&self.journal, id, message_id)
    }

    pub fn delete_message(
        &self,
        instance: &Instance,
        id: &SessionId,
        message_id: &MessageId,
    ) -> Result<(), SessionError> {
        self.idle(id)?;
        objects::delete_message(&self.journal, instance, id, message_id)
    }

    pub fn delete_part(
        &self,
        instance: &Instance,
        id: &SessionId,
        message_id: &MessageId,
        part_id: &PartId,
    ) -> Result<(), SessionError> {
        self.idle(id)?;
        objects::delete_part(&self.journal, instance, id, message_id, part_id)
    }

    pub fn update_part(
        &self,
        instance: &Instance,
        id: &SessionId,
        message_id: &MessageId,
        part: Part,
    ) -> Result<Part, SessionError> {
        self.idle(id)?;
        objects::update_part(&self.journal, instance, id, message_id, part)
    }

    /// Refuses to change a session's history while a turn writes it.
    fn idle(&self, id: &SessionId) -> Result<(), SessionError> {
        if self.engine.turns().is_running(id) {
            return Err(SessionError::Busy(id.to_string()));
        }
        Ok(())
    }

    /// Stores a prompt and, unless `noReply`, has the loop answer it. Returns once the user
    /// message is committed; [`Submitted::answer`] waits for the loop's final message.
    pub fn submit(
        self: &Arc<Self>,
        instance: &Arc<Instance>,
        id: &SessionId,
        input: PromptInput,
    ) -> Result<Submitted, SessionError> {
        self.submit_with(instance, id, input, Asks::Interactive)
    }

    /// [`Sessions::submit`], saying whether permission asks can be answered. A prompt joining a
    /// running loop that refuses asks makes it refuse too (its caller cannot answer either).
    pub fn submit_with(
        self: &Arc<Self>,
        instance: &Arc<Instance>,
        id: &SessionId,
        input: PromptInput,
        asks: Asks,
    ) -> Result<Submitted, SessionError> {
        let mut session = self.get(id)?;
        let agent = prompt::choose_agent(instance, input.agent.as_deref(), &session)?;
        let model = prompt::choose_model(instance, input.model.as_ref(), &agent, &session)?;
        let is_first =
            session.agent.is_none() && self.journal.histories().with(id, |history| history.is_empty())?;
        let user = prompt::store(&self.journal, instance, &mut session, &input, &agent, &model)?;
        if input.no_reply {
            return Ok(Submitted::Stored(Box::new(user)));
        }
        if is_first && text::is_default_title(&session.title) {
            title::generate(
                self.engine.clone(),
                instance.clone(),
                session.id.clone(),
                user.clone(),
            );
        }
        let (sender, receiver) = oneshot::channel();
        if let Joined::Started(cancel) = self.engine.turns().join(id, sender, asks) {
            self.engine.spawn(instance.clone(), id.clone(), cancel);
        }
        Ok(Submitted::Queued(receiver))
    }

    /// Runs a slash command: its template, filled with the arguments, becomes the prompt
    /// (`command.executed` once it is stored).
    pub fn command(
        self: &Arc<Self>,
        instance: &Arc<Instance>,
        id: &SessionId,
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
        let message_id = input.message_id.clone().unwrap_or_else(MessageId::new);
        let prompt = PromptInput {
            message_id: Some(message_id.clone()),
            model,
            agent: input.agent.or_else(|| found.agent.clone()),
            variant: input.variant,
            ..PromptInput::of(vec![PartInput::text(command::expand(
                &found.template,
                &input.arguments,
            ))])
        };
        let submitted = self.submit(instance, id, prompt)?;
        self.journal.publish(
            &instance.bus,
            Event::CommandExecuted(CommandExecuted {
                name: input.command,
                session_id: id.clone(),
                arguments: input.arguments,
                message_id,
            }),
        );
        Ok(submitted)
    }

    /// Starts a `/v1` chat turn: the conversation's last user message is answered in a new
    /// session seeded with the rest, or in the session the request names.
    pub fn chat(
        self: &Arc<Self>,
        instance: &Arc<Instance>,
        input: chat::ChatInput,
        global_config: &std::path::Path,
    ) -> Result<chat::ChatTurn, SessionError> {
        chat::start(self, &self.journal, instance, input, global_config)
    }

    /// Runs a command the user typed (`/shell`), recorded in the session.
    pub async fn shell(
        &self,
        instance: &Arc<Instance>,
        id: &SessionId,
        input: ShellInput,
    ) -> Result<MessageWithParts, SessionError> {
        shell::run(&self.engine, instance, id, input).await
    }

    /// Stops the session's loop (and its tool, provider stream and processes) and withdraws its
    /// permission requests. Waits, briefly, until the session is idle.
    pub async fn abort(&self, id: &SessionId) -> Result<(), SessionError> {
        self.get(id)?;
        // Cancel first: withdrawing the requests wakes their calls with a refusal, which the
        // loop must see as the abort it is.
        let running = self.engine.turns().cancel(id);
        self.broker.clear_session(id);
        if let Some(mut done) = running {
            let _ = tokio::time::timeout(ABORT_WAIT, done.wait_for(|finished| *finished)).await;
        }
        Ok(())
    }

    /// Answers a permission request. A request restored after a restart has no call waiting on
    /// it; the reply is recorded and the request cleared.
    pub fn reply(
        &self,
        instance: &Instance,
        id: &PermissionId,
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
