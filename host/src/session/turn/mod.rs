//! The turn engine: the agent loop of one busy session. Each step sends the conversation to the
//! model through the model client, assembles its answer into parts ([`assembly`]), runs the tool
//! calls it asks for under the permission rules ([`tools`]), records the step's end
//! ([`finish`]), and goes again until the model stops, the user aborts, or the step limit is
//! reached.
//!
//! A step's changes are committed through the journal in batches, one before each wait (for the
//! model, for a tool), so clients see every change as it happens and nothing is published before
//! it is stored. The conversation comes from the journal's in-memory histories, which the
//! step's own commits keep current: nothing is re-read from the store.

mod assembly;
mod finish;
mod step;
mod tools;

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::error::SessionError;
use super::journal::Journal;
use super::permission::Broker;
use super::turns::{Ended, PromptResult, Turns};
use super::{objects, prompt, system};
use crate::agent;
use crate::instance::Instance;
use crate::llm::ModelClient;
use crate::mcp::McpTool;
use crate::plugins::ToolRegistry;
use crate::protocol::Event;
use crate::protocol::event::{SessionDiff, SessionInfo, SessionRef, SessionStatusChanged};
use crate::protocol::id::SessionId;
use crate::protocol::session::{MessageInfo, SessionStatus};
use crate::runtime::{Runtime, ToolDefinition};
use step::{Step, StepEnd};

/// Everything a turn needs, shared by every session's turns.
pub struct Engine {
    journal: Journal,
    runtime: Arc<Runtime>,
    models: ModelClient,
    broker: Broker,
    turns: Arc<Turns>,
}

impl Engine {
    pub fn new(journal: Journal, runtime: Arc<Runtime>, plugins_dir: PathBuf, broker: Broker) -> Self {
        Self {
            models: ModelClient::new(runtime.clone(), plugins_dir),
            journal,
            runtime,
            broker,
            turns: Arc::default(),
        }
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    pub fn models(&self) -> &ModelClient {
        &self.models
    }

    pub fn turns(&self) -> &Turns {
        &self.turns
    }

    /// The registry, for a tool call that outlives the borrow of the engine.
    pub fn turns_handle(&self) -> Arc<Turns> {
        self.turns.clone()
    }

    /// Runs the session's loop on its own task, round after round while prompts keep arriving,
    /// then answers every caller.
    pub fn spawn(self: &Arc<Self>, instance: Arc<Instance>, session: SessionId, cancel: CancellationToken) {
        self.publish_status(&instance, &session, SessionStatus::Busy);
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                let result = engine.run(&instance, &session, &cancel).await;
                match engine.turns.end(&session, cancel.is_cancelled()) {
                    Ended::GoOn => continue,
                    Ended::Over(finished) => {
                        engine.announce_idle(&instance, &session);
                        finished.answer(&result);
                        break;
                    }
                }
            }
        });
    }

    /// Records and announces what the session is doing.
    fn publish_status(&self, instance: &Instance, session: &SessionId, status: SessionStatus) {
        self.turns.set_status(session, &status);
        self.journal.publish(
            &instance.bus,
            Event::SessionStatus(SessionStatusChanged {
                session_id: session.clone(),
                status,
            }),
        );
    }

    /// As the reference at a turn's end: a last `busy`, then `idle`, `session.idle`, the
    /// session, its diff.
    fn announce_idle(&self, instance: &Instance, session: &SessionId) {
        for status in [SessionStatus::Busy, SessionStatus::Idle] {
            self.journal.publish(
                &instance.bus,
                Event::SessionStatus(SessionStatusChanged {
                    session_id: session.clone(),
                    status,
                }),
            );
        }
        self.journal.publish(
            &instance.bus,
            Event::SessionIdle(SessionRef {
                session_id: session.clone(),
            }),
        );
        if let Ok(info) = objects::get(&self.journal, session) {
            self.journal
                .publish(&instance.bus, Event::SessionUpdated(SessionInfo::of(&info)));
            self.publish_diff(instance, session);
        }
    }

    fn publish_diff(&self, instance: &Instance, session: &SessionId) {
        self.journal.publish(
            &instance.bus,
            Event::SessionDiff(SessionDiff {
                session_id: session.clone(),
                diff: Vec::new(),
            }),
        );
    }

    /// One round: steps until the session has answered its latest prompt. Returns the last
    /// assistant message.
    async fn run(
        &self,
        instance: &Arc<Instance>,
        session_id: &SessionId,
        cancel: &CancellationToken,
    ) -> PromptResult {
        let settings = instance.config.wasmcode.session.unwrap_or_default();
        let user = self
            .journal
            .histories()
            .with(session_id, |history| {
                history.iter().rev().find_map(|m| match &m.info {
                    MessageInfo::User(user) => Some(user.clone()),
                    MessageInfo::Assistant(_) => None,
                })
            })?
            .ok_or_else(|| SessionError::Failed("the session has no user message to answer".into()))?;
        let session = objects::get(&self.journal, session_id)?;
        let agent = prompt::choose_agent(instance, Some(&user.agent), &session)?;
        let model = instance
            .providers
            .resolve(&format!("{}/{}", user.model.provider_id, user.model.model_id))
            .map_err(|e| SessionError::Model(e.to_string()))?;
        let max_steps = agent.steps.unwrap_or(settings.max_steps).max(1);
        // The same for every step of the round.
        let mut system = system::prompt(instance, &agent, &model);
        if let Some(extra) = &user.system {
            system.push(extra.clone());
        }
        let tools = offered_tools(
            &*instance.tools.current().await,
            &instance.mcp.tools().await,
            &agent,
            &session,
            &user,
            model.model.capabilities.toolcall,
        );
        let mut steps = 0u32;
        loop {
            steps += 1;
            let step = Step {
                engine: self,
                instance,
                session: objects::get(&self.journal, session_id)?,
                agent: &agent,
                model: &model,
                user: &user,
                settings: &settings,
                system: &system,
                tools: &tools,
                cancel,
                last_step: steps >= max_steps,
            };
            let (end, message) = step.run().await?;
            // A prompt queued meanwhile is answered by a new round: `Turns::end` checks for one
            // and removes the turn in one step.
            match end {
                StepEnd::Continue if steps < max_steps => continue,
                StepEnd::Aborted | StepEnd::Continue | StepEnd::Stop => return Ok(message),
            }
        }
    }
}

/// The tools the model is offered: the instance's and its MCP servers', minus those the agent's
/// and the session's rules switch off and those the prompt turned off. None for a model without
/// tool calls.
fn offered_tools(
    registry: &ToolRegistry,
    mcp: &[McpTool],
    agent: &agent::Agent,
    session: &crate::protocol::session::Session,
    user: &crate::protocol::session::UserMessage,
    tool_calls: bool,
) -> Vec<ToolDefinition> {
    if !tool_calls {
        return Vec::new();
    }
    let rules = step::session_rules(agent, session);
    let enabled = |id: &str| {
        !agent::tool_disabled(&rules, id)
            && user
                .tools
                .as_ref()
                .and_then(|tools| tools.get(id))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(true)
    };
    let mcp = mcp
        .iter()
        .filter(|tool| enabled(&tool.name))
        .map(|tool| ToolDefinition {
            name: tool.name.clone(),
            description: tool.description.clone(),
            parameters: tool.parameters.clone(),
        });
    registry
        .tools()
        .filter(|(spec, _)| enabled(&spec.id))
        .map(|(spec, _)| ToolDefinition {
            name: spec.id.clone(),
            description: spec.description.clone(),
            parameters: spec.parameters.clone(),
        })
        .chain(mcp)
        .collect()
}
