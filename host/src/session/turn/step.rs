//! One step of a turn: an assistant message begun, the model called with the conversation, its
//! answer streamed into parts, then the tool calls and the step's end.

use tokio_util::sync::CancellationToken;

use super::Engine;
use super::assembly::Assembly;
use super::finish::StreamEnd;
use crate::agent::Agent;
use crate::config::LoopSettings;
use crate::instance::Instance;
use crate::llm::{ModelError, ModelEvent, Prompt};
use crate::permission::Ruleset;
use crate::protocol::Event;
use crate::protocol::event::SessionErrorInfo;
use crate::protocol::session::{
    AssistantMessage, MessageError, MessagePath, MessageWithParts, ModelRef, Session, SessionStatus,
    UserMessage,
};
use crate::provider::ResolvedModel;
use crate::runtime::{FinishReason, StreamEvent, ToolDefinition};
use crate::session::error::SessionError;
use crate::session::journal::Changes;

/// Told to the model at the last step, which offers no tools.
const LAST_STEP: &str = "You have reached the maximum number of steps for this task. Do not call tools; answer with a \
                         summary of what was done and what remains.";

/// How one step ended.
pub enum StepEnd {
    /// The model called tools: go again.
    Continue,
    /// The model finished, failed, or the user refused a permission without a word.
    Stop,
    /// The user aborted.
    Aborted,
}

pub struct Step<'a> {
    pub engine: &'a Engine,
    pub instance: &'a Instance,
    pub session: Session,
    pub agent: &'a Agent,
    pub model: &'a ResolvedModel,
    pub user: &'a UserMessage,
    pub settings: &'a LoopSettings,
    pub system: &'a [String],
    pub tools: &'a [ToolDefinition],
    pub cancel: &'a CancellationToken,
    /// The step limit is reached: no tools are offered, so the model must answer in text.
    pub last_step: bool,
}

/// The rules a session's tool calls are checked against: the agent's (defaults, agent,
/// configuration), then the session's own.
pub fn session_rules(agent: &Agent, session: &Session) -> Ruleset {
    let mut rules = agent.rules();
    if let Some(extra) = &session.permission {
        rules.extend(extra.iter().cloned());
    }
    rules
}

impl Step<'_> {
    pub async fn run(self) -> Result<(StepEnd, MessageWithParts), SessionError> {
        let model = ModelRef {
            provider_id: self.model.provider_id.clone(),
            model_id: self.model.model_id.clone(),
        };
        let info = AssistantMessage::begin(
            &self.session.id,
            &self.user.id,
            &model,
            &self.agent.name,
            MessagePath {
                cwd: self.instance.directory.display().to_string(),
                root: self.instance.worktree.display().to_string(),
            },
        );
        // The reference marks the session busy at each step, before the step's message.
        self.engine
            .publish_status(self.instance, &self.session.id, SessionStatus::Busy);
        let mut changes = Changes::new();
        changes.message(&info.clone().into());
        self.commit(changes)?;
        self.engine.publish_diff(self.instance, &self.session.id);

        let mut assembly = Assembly::new(info);
        let prompt = self.prompt()?;
        let end = self.stream(&mut assembly, prompt).await;
        let end = match end {
            Ok(end) => end,
            Err(e) => {
                let mut changes = Changes::new();
                assembly.close_open_parts(&mut changes);
                self.commit(changes)?;
                return Err(e);
            }
        };
        let end = match end {
            StreamEnd::Finished(reason) => self.finish(&mut assembly, reason).await?,
            StreamEnd::Aborted => {
                self.abort(&mut assembly)?;
                StepEnd::Aborted
            }
            StreamEnd::Failed(error) => {
                let mut changes = Changes::new();
                assembly.close_open_parts(&mut changes);
                assembly.info.error = Some(error.clone());
                assembly.info.time.completed = Some(crate::protocol::now_ms());
                changes.message(&assembly.info.clone().into());
                self.fail(changes, error)?;
                StepEnd::Stop
            }
        };
        Ok((end, assembly.into_message()))
    }

    /// The conversation so far (from the in-memory history), with this round's system prompt
    /// and tools.
    fn prompt(&self) -> Result<Prompt, SessionError> {
        let messages = self.engine.journal.histories().conversation(&self.session.id)?;
        let mut system = self.system.to_vec();
        if self.last_step {
            system.push(LAST_STEP.into());
        }
        Ok(Prompt {
            system,
            messages,
            tools: if self.last_step {
                Vec::new()
            } else {
                self.tools.to_vec()
            },
            max_tokens: None,
            temperature: self.agent.temperature,
        })
    }

    /// Streams the model's answer into `assembly`. A retry is shown as the session's status.
    async fn stream(&self, assembly: &mut Assembly, prompt: Prompt) -> Result<StreamEnd, SessionError> {
        let mut stream = self.engine.models().stream(self.model, prompt, self.settings);
        let mut started = false;
        let mut finish = None;
        loop {
            let next = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Ok(StreamEnd::Aborted),
                next = stream.next() => next,
            };
            let event = match next {
                None => break,
                Some(Err(error)) => return Ok(StreamEnd::Failed(api_error(&error))),
                Some(Ok(ModelEvent::Retrying {
                    attempt,
                    message,
                    next,
                })) => {
                    self.engine.publish_status(
                        self.instance,
                        &self.session.id,
                        SessionStatus::Retry {
                            attempt,
                            message,
                            next,
                        },
                    );
                    continue;
                }
                Some(Ok(ModelEvent::Stream(event))) => event,
            };
            let mut changes = Changes::new();
            if !started {
                // As the reference: busy again at the model's first event (after any retry).
                started = true;
                self.engine
                    .publish_status(self.instance, &self.session.id, SessionStatus::Busy);
                assembly.step_start(&mut changes);
            }
            let mut delta = None;
            match event {
                StreamEvent::TextDelta(text) => delta = assembly.text_delta(&mut changes, text, false),
                StreamEvent::ReasoningDelta(text) => delta = assembly.text_delta(&mut changes, text, true),
                StreamEvent::ToolCallStart { id, name } => {
                    assembly.close_open_parts(&mut changes);
                    assembly.tool_pending(&mut changes, id, name, None);
                }
                StreamEvent::ToolCall(call) => {
                    assembly.close_open_parts(&mut changes);
                    assembly.tool_pending(&mut changes, call.id, call.name, Some(call.arguments_json));
                }
                StreamEvent::Usage(usage) => assembly.usage(&usage),
                StreamEvent::Finish(reason) => finish = Some(reason),
            }
            self.commit(changes)?;
            if let Some(delta) = delta {
                self.engine
                    .journal
                    .publish(&self.instance.bus, Event::MessagePartDelta(delta));
            }
        }
        let reason = match finish {
            Some(reason) => reason,
            None if assembly.has_tool_calls() => FinishReason::ToolCalls,
            None => FinishReason::Stop,
        };
        Ok(StreamEnd::Finished(reason))
    }

    /// Commits a batch of the step's changes on the instance's bus.
    pub(super) fn commit(&self, changes: Changes) -> Result<(), SessionError> {
        if changes.is_empty() {
            return Ok(());
        }
        Ok(self.engine.journal().commit(&self.instance.bus, changes)?)
    }

    /// Commits the step's failure and announces it with `session.error`.
    pub(super) fn fail(&self, mut changes: Changes, error: MessageError) -> Result<(), SessionError> {
        changes.event(Event::SessionError(SessionErrorInfo {
            session_id: self.session.id.clone(),
            error,
        }));
        self.commit(changes)
    }
}

/// The error recorded on an assistant message when the model could not be reached.
fn api_error(error: &ModelError) -> MessageError {
    let mut data = serde_json::json!({"message": error.message, "isRetryable": error.retryable});
    if let Some(status) = error.status {
        data["statusCode"] = serde_json::json!(status);
    }
    MessageError {
        name: "APIError".into(),
        data,
    }
}
