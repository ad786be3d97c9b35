//! The agent loop of one busy session: each step sends the history to the model through a
//! provider component, streams its answer into parts, runs the tool calls it asks for through
//! the plugin runtime, and goes again until the model stops, the user aborts, or the step limit
//! is reached. Every part is committed before its event goes out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use super::agent::{self, Agent};
use super::model::{
    AssistantMessage, MessageError, MessageInfo, MessageWithParts, ModelRef, Part, PartBody, PartTime,
    RunningTime, Session, SessionStatus, SpanTime, ToolState, now_ms,
};
use super::permission::ToolRef;
use super::{
    PromptResult, SessionError, Sessions, events, history, message_record, part_record, record, system,
};
use crate::bus::{Bus, Identifier};
use crate::instance::Instance;
use crate::permission::Ruleset;
use crate::plugins::first_party;
use crate::provider::ResolvedModel;
use crate::runtime::{
    BoxFuture, CallError, CallHandler, CallInfo, CompletionRequest, FinishReason, PermissionAsk,
    PermissionRefusal, ProviderCallError, ProviderConfig, ProviderPlugin, StreamEvent, ToolCall,
    ToolDefinition, ToolFailure,
};
use crate::store::Write;

/// How the loop behaves: `wasmcode.session` in opencode.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LoopSettings {
    /// Steps (model calls) per prompt before the loop stops.
    pub max_steps: u32,
    /// Attempts per model call on connection errors, 429 and 5xx.
    pub retry_attempts: u32,
    /// First retry delay; it doubles per attempt up to `retry_max_delay_ms`.
    pub retry_initial_delay_ms: u64,
    pub retry_max_delay_ms: u64,
    /// A model stream that sends nothing for this long is treated as a connection error.
    pub stream_idle_timeout_ms: u64,
}

impl Default for LoopSettings {
    fn default() -> Self {
        Self {
            max_steps: 100,
            retry_attempts: 8,
            retry_initial_delay_ms: 2_000,
            retry_max_delay_ms: 30_000,
            stream_idle_timeout_ms: 300_000,
        }
    }
}

impl LoopSettings {
    /// The delay before retry `attempt` (1-based): exponential, capped, or what the upstream
    /// asked for with `Retry-After` (capped the same way).
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let max = Duration::from_millis(self.retry_max_delay_ms);
        let exponential = Duration::from_millis(self.retry_initial_delay_ms)
            .saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX));
        retry_after.unwrap_or(exponential).min(max)
    }
}

/// Provider components, loaded once per server on first use.
#[derive(Default)]
pub struct ProviderComponents {
    loaded: Mutex<HashMap<String, Arc<OnceCell<Arc<ProviderPlugin>>>>>,
}

impl ProviderComponents {
    pub(super) async fn get(&self, sessions: &Sessions, name: &str) -> Result<Arc<ProviderPlugin>, String> {
        let cell = {
            let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            loaded.entry(name.to_string()).or_default().clone()
        };
        cell.get_or_try_init(|| async {
            let embedded = first_party::provider(name)
                .ok_or_else(|| format!("no provider component named `{name}` is installed"))?;
            sessions
                .runtime
                .load_provider_plugin(name, embedded.bytes, &embedded.sha256, Default::default())
                .await
                .map(Arc::new)
                .map_err(|e| format!("provider component `{name}` failed to load: {e}"))
        })
        .await
        .cloned()
    }
}

/// The agent a prompt runs with: the one asked for, else the session's last, else `build`.
pub fn choose_agent(
    agents: &[Agent],
    requested: Option<&str>,
    session: &Session,
) -> Result<Agent, SessionError> {
    let name = requested
        .or(session.agent.as_deref())
        .unwrap_or(agent::DEFAULT_AGENT);
    agents
        .iter()
        .find(|a| a.name == name)
        .cloned()
        .ok_or_else(|| SessionError::BadRequest(format!("unknown agent `{name}`")))
}

/// The model a prompt runs with: the one asked for, else the agent's, else the session's last,
/// else the configuration's default.
pub fn choose_model(
    instance: &Instance,
    requested: Option<&ModelRef>,
    agent: &Agent,
    session: &Session,
) -> Result<ModelRef, SessionError> {
    let spec = match requested {
        Some(model) => format!("{}/{}", model.provider_id, model.model_id),
        None => match agent.model_string() {
            Some(spec) => spec,
            None => match &session.model {
                Some(model) => format!("{}/{}", model.provider_id, model.id),
                None => instance
                    .providers
                    .default_model()
                    .map_err(|e| SessionError::Model(e.to_string()))?
                    .to_string(),
            },
        },
    };
    let resolved = instance
        .providers
        .resolve(&spec)
        .map_err(|e| SessionError::Model(e.to_string()))?;
    Ok(ModelRef {
        provider_id: resolved.provider_id,
        model_id: resolved.model_id,
    })
}

/// How one step ended.
enum StepEnd {
    /// The model called tools: go again.
    Continue,
    /// The model finished, failed, or the user refused a permission without a word.
    Stop,
    /// The user aborted.
    Aborted,
}

/// Runs steps until the session has answered its latest prompt. Returns the last assistant
/// message.
pub async fn run_loop(
    sessions: &Arc<Sessions>,
    instance: &Arc<Instance>,
    session_id: &str,
    cancel: CancellationToken,
) -> PromptResult {
    let settings = instance.config.wasmcode.session.unwrap_or_default();
    let mut steps = 0u32;
    loop {
        let session = sessions.get(session_id)?;
        let history = sessions.messages(session_id, None)?;
        let Some(user) = history.iter().rev().find_map(|m| match &m.info {
            MessageInfo::User(user) => Some(user.clone()),
            MessageInfo::Assistant(_) => None,
        }) else {
            return Err(SessionError::Failed(
                "the session has no user message to answer".into(),
            ));
        };
        steps += 1;
        let agents = instance.agents().map_err(SessionError::BadRequest)?;
        let agent = choose_agent(&agents, Some(&user.agent), &session)?;
        let max_steps = agent.steps.unwrap_or(settings.max_steps).max(1);
        let model = instance
            .providers
            .resolve(&format!("{}/{}", user.model.provider_id, user.model.model_id))
            .map_err(|e| SessionError::Model(e.to_string()))?;
        let step = Step {
            sessions,
            instance,
            bus: &instance.bus,
            session,
            agent,
            model,
            user,
            settings,
            cancel: &cancel,
            last_step: steps >= max_steps,
        };
        let (end, message) = step.run(&history).await?;
        // A prompt queued meanwhile is answered by a new round of the loop: `finish_run` checks
        // for one and removes the run in one step.
        match end {
            StepEnd::Continue if steps < max_steps => continue,
            StepEnd::Aborted | StepEnd::Continue | StepEnd::Stop => return Ok(message),
        }
    }
}

struct Step<'a> {
    sessions: &'a Arc<Sessions>,
    instance: &'a Arc<Instance>,
    bus: &'a Bus,
    session: Session,
    agent: Agent,
    model: ResolvedModel,
    user: super::model::UserMessage,
    settings: LoopSettings,
    cancel: &'a CancellationToken,
    /// The step limit is reached: no tools are offered, so the model must answer in text.
    last_step: bool,
}

/// The parts a step is building.
struct Building {
    info: AssistantMessage,
    parts: Vec<Part>,
    /// Index into `parts` of the text (or reasoning) part being streamed.
    open_text: Option<usize>,
    open_reasoning: Option<usize>,
    /// Indexes of tool parts in call order.
    tools: Vec<usize>,
}

impl Step<'_> {
    fn store(&self) -> &crate::store::Store {
        &self.sessions.store
    }

    fn save_part(&self, part: &Part) -> Result<(), SessionError> {
        self.store().put_part(&part_record(part))?;
        events::part_updated(self.bus, part);
        Ok(())
    }

    fn save_info(&self, info: &AssistantMessage) -> Result<MessageInfo, SessionError> {
        let info = MessageInfo::Assistant(info.clone());
        self.store().put_message(&message_record(&info))?;
        events::message_updated(self.bus, &info);
        Ok(info)
    }

    fn new_part(&self, building: &Building, body: PartBody) -> Part {
        Part {
            id: Identifier::ascending("prt"),
            session_id: self.session.id.clone(),
            message_id: building.info.id.clone(),
            body,
        }
    }

    async fn run(self, history: &[MessageWithParts]) -> Result<(StepEnd, MessageWithParts), SessionError> {
        let model = ModelRef {
            provider_id: self.model.provider_id.clone(),
            model_id: self.model.model_id.clone(),
        };
        let info = AssistantMessage::begin(
            &self.session.id,
            &self.user.id,
            &model,
            &self.agent.name,
            super::message_path(self.instance),
        );
        // The reference marks the session busy at each step, before the step's message.
        self.sessions
            .set_status(self.instance, &self.session.id, SessionStatus::Busy);
        self.save_info(&info)?;
        events::session_diff(self.bus, &self.session.id);
        let mut building = Building {
            info,
            parts: Vec::new(),
            open_text: None,
            open_reasoning: None,
            tools: Vec::new(),
        };

        let request = self.request(history);
        let end = match self.stream(&mut building, request).await {
            Ok(end) => end,
            Err(e) => {
                self.close_open_parts(&mut building)?;
                return Err(e);
            }
        };
        let end = match end {
            StreamEnd::Finished(reason) => self.finish(&mut building, reason).await?,
            StreamEnd::Aborted => {
                self.abort(&mut building)?;
                StepEnd::Aborted
            }
            StreamEnd::Failed(error) => {
                self.close_open_parts(&mut building)?;
                building.info.error = Some(error.clone());
                building.info.time.completed = Some(now_ms());
                self.save_info(&building.info)?;
                events::session_error(self.bus, &self.session.id, &error);
                StepEnd::Stop
            }
        };
        let message = MessageWithParts {
            info: MessageInfo::Assistant(building.info),
            parts: building.parts,
        };
        Ok((end, message))
    }

    fn request(&self, history: &[MessageWithParts]) -> CompletionRequest {
        let rules = self.rules();
        let enabled = |id: &str| {
            !agent::tool_disabled(&rules, id)
                && self
                    .user
                    .tools
                    .as_ref()
                    .and_then(|tools| tools.get(id))
                    .and_then(Value::as_bool)
                    .unwrap_or(true)
        };
        let tools = if self.last_step || !self.model.model.capabilities.toolcall {
            Vec::new()
        } else {
            self.instance
                .tools
                .tools()
                .filter(|(spec, _)| enabled(&spec.id))
                .map(|(spec, _)| ToolDefinition {
                    name: spec.id.clone(),
                    description: spec.description.clone(),
                    parameters: spec.parameters.clone(),
                })
                .collect()
        };
        let mut system = system::prompt(self.instance, &self.agent, &self.model);
        if let Some(extra) = &self.user.system {
            system.push(extra.clone());
        }
        if self.last_step {
            system.push(
                "You have reached the maximum number of steps for this task. Do not call tools; answer \
                 with a summary of what was done and what remains."
                    .into(),
            );
        }
        CompletionRequest {
            config: provider_config(&self.model),
            model: api_model_id(&self.model),
            system,
            messages: history::messages(history),
            tools,
            max_tokens: Some(self.model.model.limit.output.clamp(1, 32_000) as u32),
            temperature: self.agent.temperature,
            options: Value::Null,
        }
    }

    /// The session's rules: the agent's (defaults, agent, config), then the session's own.
    fn rules(&self) -> Ruleset {
        let mut rules = self.agent.rules();
        if let Some(extra) = &self.session.permission {
            rules.extend(extra.iter().cloned());
        }
        rules
    }

    /// Streams the model's answer into `building`, retrying the call on transient failures as
    /// long as nothing of this attempt was shown yet.
    async fn stream(
        &self,
        building: &mut Building,
        request: CompletionRequest,
    ) -> Result<StreamEnd, SessionError> {
        let plugin = match self
            .sessions
            .providers
            .get(self.sessions, &self.model.component)
            .await
        {
            Ok(plugin) => plugin,
            Err(message) => return Ok(StreamEnd::Failed(provider_error(&message, None, false))),
        };
        let mut attempt = 0u32;
        let mut started = false;
        loop {
            let failure = match self
                .attempt(building, &plugin, request.clone(), &mut started)
                .await?
            {
                Attempt::Done(end) => return Ok(end),
                Attempt::Failed(error) => error,
            };
            let retryable = failure.is_retryable() && !building.has_output();
            attempt += 1;
            if !retryable || attempt >= self.settings.retry_attempts.max(1) {
                let status = match &failure {
                    ProviderCallError::Status { status, .. } => Some(*status),
                    _ => None,
                };
                return Ok(StreamEnd::Failed(provider_error(
                    &describe(&failure),
                    status,
                    failure.is_retryable(),
                )));
            }
            let delay = self.settings.delay(attempt, failure.retry_after());
            tracing::warn!(session = %self.session.id, attempt, delay_ms = delay.as_millis() as u64, "model call failed, retrying: {}", describe(&failure));
            self.sessions.set_status(
                self.instance,
                &self.session.id,
                SessionStatus::Retry {
                    attempt,
                    message: describe(&failure),
                    next: now_ms() + delay.as_millis() as u64,
                },
            );
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Ok(StreamEnd::Aborted),
                _ = tokio::time::sleep(delay) => {}
            }
            self.sessions
                .set_status(self.instance, &self.session.id, SessionStatus::Busy);
        }
    }

    async fn attempt(
        &self,
        building: &mut Building,
        plugin: &ProviderPlugin,
        request: CompletionRequest,
        started: &mut bool,
    ) -> Result<Attempt, SessionError> {
        let runtime = &self.sessions.runtime;
        let mut stream = tokio::select! {
                biased;
            _ = self.cancel.cancelled() => return Ok(Attempt::Done(StreamEnd::Aborted)),
            opened = runtime.provider_stream(plugin, request) => match opened {
                Ok(stream) => stream,
                Err(e) => return Ok(Attempt::Failed(e)),
            },
        };
        let idle = Duration::from_millis(self.settings.stream_idle_timeout_ms.max(1));
        let mut finish = None;
        loop {
            let next = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Ok(Attempt::Done(StreamEnd::Aborted)),
                next = tokio::time::timeout(idle, stream.next()) => next,
            };
            let event = match next {
                Err(_) => {
                    return Ok(Attempt::Failed(ProviderCallError::Connection {
                        plugin: plugin.name.to_string(),
                        message: format!("the model sent nothing for {} s", idle.as_secs()),
                    }));
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => return Ok(Attempt::Failed(e)),
                Ok(Some(Ok(event))) => event,
            };
            if !*started {
                *started = true;
                self.sessions
                    .set_status(self.instance, &self.session.id, SessionStatus::Busy);
                let part = self.new_part(building, PartBody::StepStart { snapshot: None });
                self.save_part(&part)?;
                building.parts.push(part);
            }
            match event {
                StreamEvent::TextDelta(delta) => self.text_delta(building, &delta, false)?,
                StreamEvent::ReasoningDelta(delta) => self.text_delta(building, &delta, true)?,
                StreamEvent::ToolCallStart { id, name } => {
                    self.close_open_parts(building)?;
                    self.tool_pending(building, id, name, None)?;
                }
                StreamEvent::ToolCall(call) => {
                    self.close_open_parts(building)?;
                    self.tool_pending(building, call.id, call.name, Some(call.arguments_json))?;
                }
                StreamEvent::Usage(usage) => {
                    let tokens = &mut building.info.tokens;
                    tokens.input = usage.input_tokens;
                    tokens.output = usage.output_tokens;
                    tokens.reasoning = usage.reasoning_tokens;
                    tokens.cache.read = usage.cache_read_tokens;
                    tokens.cache.write = usage.cache_write_tokens;
                }
                StreamEvent::Finish(reason) => finish = Some(reason),
            }
        }
        let reason = match finish {
            Some(reason) => reason,
            None if !building.tools.is_empty() => FinishReason::ToolCalls,
            None => FinishReason::Stop,
        };
        Ok(Attempt::Done(StreamEnd::Finished(reason)))
    }

    /// A tool call the model started (`arguments: None`) or finished: a `pending` tool part,
    /// published once. The arguments are kept on the part until the call runs; the wire shows
    /// `raw: ""` as the reference does.
    fn tool_pending(
        &self,
        building: &mut Building,
        call_id: String,
        tool: String,
        arguments: Option<String>,
    ) -> Result<(), SessionError> {
        let existing = building.tools.iter().copied().find(|&index| {
            matches!(&building.parts[index].body, PartBody::Tool { call_id: id, .. } if *id == call_id)
        });
        if let Some(index) = existing {
            if let (
                Some(arguments),
                PartBody::Tool {
                    state: ToolState::Pending { raw, .. },
                    ..
                },
            ) = (arguments, &mut building.parts[index].body)
            {
                *raw = arguments;
            }
            return Ok(());
        }
        let part = self.new_part(
            building,
            PartBody::Tool {
                call_id,
                tool,
                state: ToolState::Pending {
                    input: Value::Object(Default::default()),
                    raw: String::new(),
                },
            },
        );
        self.save_part(&part)?;
        let mut part = part;
        if let (
            Some(arguments),
            PartBody::Tool {
                state: ToolState::Pending { raw, .. },
                ..
            },
        ) = (arguments, &mut part.body)
        {
            *raw = arguments;
        }
        building.tools.push(building.parts.len());
        building.parts.push(part);
        Ok(())
    }

    fn text_delta(&self, building: &mut Building, delta: &str, reasoning: bool) -> Result<(), SessionError> {
        if delta.is_empty() {
            return Ok(());
        }
        let open = if reasoning {
            building.open_reasoning
        } else {
            building.open_text
        };
        let index = match open {
            Some(index) => index,
            None => {
                let time = PartTime {
                    start: now_ms(),
                    end: None,
                };
                let body = if reasoning {
                    PartBody::Reasoning {
                        text: String::new(),
                        time,
                    }
                } else {
                    PartBody::Text {
                        text: String::new(),
                        synthetic: None,
                        time: Some(time),
                    }
                };
                let part = self.new_part(building, body);
                self.save_part(&part)?;
                building.parts.push(part);
                let index = building.parts.len() - 1;
                if reasoning {
                    building.open_reasoning = Some(index);
                } else {
                    building.open_text = Some(index);
                }
                index
            }
        };
        let part = &mut building.parts[index];
        if let PartBody::Text { text, .. } | PartBody::Reasoning { text, .. } = &mut part.body {
            text.push_str(delta);
        }
        events::part_delta(self.bus, part, "text", delta);
        Ok(())
    }

    /// Ends the streamed text and reasoning parts: their full text, their end time.
    fn close_open_parts(&self, building: &mut Building) -> Result<(), SessionError> {
        for index in [building.open_reasoning.take(), building.open_text.take()]
            .into_iter()
            .flatten()
        {
            let part = &mut building.parts[index];
            match &mut part.body {
                PartBody::Text { time: Some(time), .. } | PartBody::Reasoning { time, .. } => {
                    time.end = Some(now_ms())
                }
                _ => {}
            }
            let part = part.clone();
            self.save_part(&part)?;
        }
        Ok(())
    }

    /// After the stream: runs the tool calls, then records the step's end.
    async fn finish(&self, building: &mut Building, reason: FinishReason) -> Result<StepEnd, SessionError> {
        self.close_open_parts(building)?;
        let mut stop = false;
        for index in building.tools.clone() {
            if stop {
                // The user refused an earlier call of this step: the rest do not run.
                let now = now_ms();
                self.set_tool_state(
                    building,
                    index,
                    ToolState::Error {
                        input: Value::Object(Default::default()),
                        error: "Skipped: the user rejected an earlier tool call of this step.".into(),
                        metadata: None,
                        time: SpanTime { start: now, end: now },
                    },
                )?;
                continue;
            }
            match self.run_tool(building, index).await? {
                ToolEnd::Done => {}
                ToolEnd::StopLoop => stop = true,
                ToolEnd::Aborted => {
                    self.abort(building)?;
                    return Ok(StepEnd::Aborted);
                }
            }
        }
        self.record_patch(building)?;
        let reason = finish_reason(reason, !building.tools.is_empty());
        let tokens = building.info.tokens.with_total();
        building.info.tokens = tokens;
        building.info.cost = cost(&self.model.model.cost, &tokens);
        let part = self.new_part(
            building,
            PartBody::StepFinish {
                reason: reason.into(),
                snapshot: None,
                cost: building.info.cost,
                tokens,
            },
        );
        self.save_part(&part)?;
        building.parts.push(part);
        building.info.finish = Some(reason.into());
        self.save_info(&building.info)?;
        building.info.time.completed = Some(now_ms());
        self.save_info(&building.info)?;
        self.add_usage(&building.info)?;
        Ok(if reason == "tool-calls" && !stop {
            StepEnd::Continue
        } else {
            StepEnd::Stop
        })
    }

    /// After tools that changed files: a `patch` part naming them, with a hash of their new
    /// content (the reference's hash names a snapshot; ours names the files' state).
    fn record_patch(&self, building: &mut Building) -> Result<(), SessionError> {
        let mut files: Vec<String> = building
            .tools
            .iter()
            .filter_map(|&index| match &building.parts[index].body {
                PartBody::Tool {
                    tool,
                    state: ToolState::Completed { metadata, .. },
                    ..
                } if matches!(tool.as_str(), "write" | "edit") => {
                    metadata.get("filepath").and_then(Value::as_str).map(String::from)
                }
                _ => None,
            })
            .collect();
        if files.is_empty() {
            return Ok(());
        }
        files.sort();
        files.dedup();
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        for file in &files {
            hasher.update(file.as_bytes());
            let content = self
                .instance
                .root
                .resolve(file)
                .ok()
                .and_then(|relative| self.instance.root.dir().read(relative).ok())
                .unwrap_or_default();
            hasher.update((content.len() as u64).to_le_bytes());
            hasher.update(&content);
        }
        let hash = hex::encode(&hasher.finalize()[..20]);
        let part = self.new_part(building, PartBody::Patch { hash, files });
        self.save_part(&part)?;
        building.parts.push(part);
        Ok(())
    }

    /// Adds a step's tokens and cost to the session.
    fn add_usage(&self, info: &AssistantMessage) -> Result<(), SessionError> {
        let mut session = self.sessions.get(&self.session.id)?;
        let mut tokens = info.tokens;
        tokens.total = None;
        session.tokens.add(&tokens);
        session.cost += info.cost;
        session.time.updated = now_ms();
        self.store().put_session(&record(&session))?;
        events::session_updated(self.bus, &session);
        Ok(())
    }

    async fn run_tool(&self, building: &mut Building, index: usize) -> Result<ToolEnd, SessionError> {
        let (call_id, tool, raw) = match &building.parts[index].body {
            PartBody::Tool {
                call_id,
                tool,
                state: ToolState::Pending { raw, .. },
            } => (call_id.clone(), tool.clone(), raw.clone()),
            _ => return Ok(ToolEnd::Done),
        };
        let start = now_ms();
        let input: Value = match serde_json::from_str(if raw.trim().is_empty() { "{}" } else { &raw }) {
            Ok(input) => input,
            Err(e) => {
                let error = format!("The arguments for tool `{tool}` are not valid JSON ({e}): {raw}");
                self.set_tool_state(
                    building,
                    index,
                    ToolState::Error {
                        input: Value::Object(Default::default()),
                        error,
                        metadata: None,
                        time: SpanTime { start, end: now_ms() },
                    },
                )?;
                return Ok(ToolEnd::Done);
            }
        };
        self.set_tool_state(
            building,
            index,
            ToolState::Running {
                input: input.clone(),
                title: None,
                metadata: None,
                time: RunningTime { start },
            },
        )?;
        let handler = Arc::new(SessionCalls {
            sessions: self.sessions.clone(),
            bus: self.bus.clone(),
            rules: self.rules(),
            session_id: self.session.id.clone(),
            part: Mutex::new(building.parts[index].clone()),
        });
        let call = ToolCall {
            tool: tool.clone(),
            args_json: input.to_string(),
            session_id: self.session.id.clone(),
            message_id: building.info.id.clone(),
            call_id: call_id.clone(),
            agent: self.agent.name.clone(),
            project_root: self.instance.directory.clone(),
        };
        let runtime = &self.sessions.runtime;
        let result = tokio::select! {
                biased;
            _ = self.cancel.cancelled() => return Ok(ToolEnd::Aborted),
            result = self.instance.tools.call(runtime, call, handler.clone()) => result,
        };
        // Progress updates may have changed the part (title, metadata) while it ran.
        building.parts[index] = handler.part.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let time = SpanTime { start, end: now_ms() };
        let (state, end) = match result {
            Ok(output) => {
                if matches!(tool.as_str(), "write" | "edit")
                    && let Some(file) = output
                        .metadata
                        .get("filepath")
                        .or_else(|| input.get("filePath"))
                        .and_then(Value::as_str)
                {
                    events::file_edited(self.bus, file);
                }
                (
                    ToolState::Completed {
                        input,
                        output: output.output,
                        metadata: output.metadata,
                        title: output.title,
                        time,
                    },
                    ToolEnd::Done,
                )
            }
            Err(error) => {
                let (message, end) = tool_error_text(&error);
                (
                    ToolState::Error {
                        input,
                        error: message,
                        metadata: None,
                        time,
                    },
                    end,
                )
            }
        };
        self.set_tool_state(building, index, state)?;
        Ok(end)
    }

    fn set_tool_state(
        &self,
        building: &mut Building,
        index: usize,
        new_state: ToolState,
    ) -> Result<(), SessionError> {
        if let PartBody::Tool { state, .. } = &mut building.parts[index].body {
            *state = new_state;
        }
        let part = building.parts[index].clone();
        self.save_part(&part)
    }

    /// Records an abort: unfinished tools fail as interrupted, the message carries
    /// `MessageAbortedError`, and `session.error` goes out.
    fn abort(&self, building: &mut Building) -> Result<(), SessionError> {
        self.close_open_parts(building)?;
        let now = now_ms();
        for index in building.tools.clone() {
            let PartBody::Tool { state, .. } = &building.parts[index].body else {
                continue;
            };
            if state.is_finished() {
                continue;
            }
            let start = match state {
                ToolState::Running { time, .. } => time.start,
                _ => now,
            };
            let input = match state {
                ToolState::Pending { .. } => Value::Object(Default::default()),
                other => other.input().clone(),
            };
            self.set_tool_state(
                building,
                index,
                ToolState::Error {
                    input,
                    error: "Tool execution aborted".into(),
                    metadata: Some(json!({"interrupted": true})),
                    time: SpanTime { start, end: now },
                },
            )?;
        }
        let error = MessageError::aborted();
        building.info.error = Some(error.clone());
        building.info.time.completed = Some(now);
        self.save_info(&building.info)?;
        events::session_error(self.bus, &self.session.id, &error);
        Ok(())
    }
}

impl Building {
    /// Whether anything of this step reached clients (then a retry would duplicate it).
    fn has_output(&self) -> bool {
        self.parts
            .iter()
            .any(|p| !matches!(p.body, PartBody::StepStart { .. }))
    }
}

enum StreamEnd {
    Finished(FinishReason),
    Aborted,
    Failed(MessageError),
}

enum Attempt {
    Done(StreamEnd),
    Failed(ProviderCallError),
}

enum ToolEnd {
    Done,
    /// The user refused without feedback: OpenCode stops the loop there.
    StopLoop,
    Aborted,
}

/// The `finish` string of a step, as OpenCode writes it.
fn finish_reason(reason: FinishReason, called_tools: bool) -> &'static str {
    match reason {
        FinishReason::ToolCalls => "tool-calls",
        _ if called_tools => "tool-calls",
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::ContentFilter => "content-filter",
        FinishReason::Other => "other",
    }
}

/// What the model is told when a tool fails, and whether the loop goes on.
fn tool_error_text(error: &CallError) -> (String, ToolEnd) {
    match error {
        CallError::Tool {
            kind: ToolFailure::Rejected(Some(feedback)),
            ..
        } => (
            format!(
                "The user rejected permission to use this specific tool call with the following feedback: \
                 {feedback}"
            ),
            ToolEnd::Done,
        ),
        CallError::Tool {
            kind: ToolFailure::Rejected(None),
            ..
        } => (
            "The user rejected permission to use this specific tool call.".into(),
            ToolEnd::StopLoop,
        ),
        other => (other.to_string(), ToolEnd::Done),
    }
}

fn describe(error: &ProviderCallError) -> String {
    match error {
        ProviderCallError::Connection { message, .. } => format!("Cannot connect to API: {message}"),
        ProviderCallError::Status { status, body, .. } => {
            let body = body.trim();
            let body: String = body.chars().take(500).collect();
            if body.is_empty() {
                format!("The API answered {status}")
            } else {
                format!("The API answered {status}: {body}")
            }
        }
        other => other.to_string(),
    }
}

/// The error recorded on an assistant message when the model could not be reached.
fn provider_error(message: &str, status: Option<u16>, retryable: bool) -> MessageError {
    let mut data = json!({"message": message, "isRetryable": retryable});
    if let Some(status) = status {
        data["statusCode"] = json!(status);
    }
    MessageError {
        name: "APIError".into(),
        data,
    }
}

/// The model id the API expects (a catalogue entry may name it differently from its key).
pub fn api_model_id(model: &ResolvedModel) -> String {
    if model.model.api.id.is_empty() {
        model.model_id.clone()
    } else {
        model.model.api.id.clone()
    }
}

/// A step's cost in dollars: the catalogue's prices are per million tokens.
fn cost(prices: &crate::provider::model::Cost, tokens: &super::model::Tokens) -> f64 {
    (tokens.input as f64 * prices.input
        + tokens.output as f64 * prices.output
        + tokens.reasoning as f64 * prices.output
        + tokens.cache.read as f64 * prices.cache.read
        + tokens.cache.write as f64 * prices.cache.write)
        / 1_000_000.0
}

pub fn provider_config(model: &ResolvedModel) -> ProviderConfig {
    ProviderConfig {
        base_url: model.base_url.clone(),
        api_key: model.api_key.clone(),
        headers: model.headers.clone(),
        options: model.options.clone(),
    }
}

/// The tool calls' link to the session: permission asks become requests the user answers,
/// progress updates the running part.
struct SessionCalls {
    sessions: Arc<Sessions>,
    bus: Bus,
    rules: Ruleset,
    session_id: String,
    part: Mutex<Part>,
}

impl CallHandler for SessionCalls {
    fn ask_permission(
        &self,
        call: &CallInfo,
        ask: PermissionAsk,
    ) -> BoxFuture<Result<(), PermissionRefusal>> {
        let broker = self.sessions.broker.clone();
        let bus = self.bus.clone();
        let rules = self.rules.clone();
        let session_id = self.session_id.clone();
        let tool = ToolRef {
            message_id: call.message_id.clone(),
            call_id: call.call_id.clone(),
        };
        let interactive = self.sessions.asks(&session_id) == super::Asks::Interactive;
        Box::pin(async move {
            broker
                .ask(&bus, &rules, &session_id, Some(tool), ask, interactive)
                .await
        })
    }

    fn progress(&self, _call: &CallInfo, title: String, metadata: Value) {
        let mut part = self.part.lock().unwrap_or_else(|p| p.into_inner());
        if let PartBody::Tool {
            state:
                ToolState::Running {
                    title: shown_title,
                    metadata: shown_metadata,
                    ..
                },
            ..
        } = &mut part.body
        {
            *shown_title = Some(title);
            *shown_metadata = Some(metadata);
        }
        if let Err(e) = self.sessions.store.apply(&[Write::Part(part_record(&part))]) {
            tracing::warn!(part = %part.id, "could not store a tool's progress: {e}");
            return;
        }
        events::part_updated(&self.bus, &part);
    }
}
