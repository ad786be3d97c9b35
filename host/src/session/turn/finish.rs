//! A step's end: after the stream, the tool calls run; then the files they changed are recorded
//! (a `patch` part), the step's `step-finish` part, finish reason, tokens and cost are stored
//! and added to the session, all in one batch. An abort instead marks unfinished tool calls
//! interrupted and the message aborted.

use serde_json::{Value, json};

use super::assembly::Assembly;
use super::step::{Step, StepEnd};
use super::tools::ToolEnd;
use crate::protocol::now_ms;
use crate::protocol::session::{MessageError, PartBody, SpanTime, Tokens, ToolState};
use crate::provider::model::Cost;
use crate::runtime::FinishReason;
use crate::session::error::SessionError;
use crate::session::journal::Changes;
use crate::session::objects;

/// How the model's stream ended.
pub enum StreamEnd {
    Finished(FinishReason),
    Aborted,
    Failed(MessageError),
}

impl Step<'_> {
    /// After the stream: runs the tool calls, then records the step's end.
    pub(super) async fn finish(
        &self,
        assembly: &mut Assembly,
        reason: FinishReason,
    ) -> Result<StepEnd, SessionError> {
        let mut changes = Changes::new();
        assembly.close_open_parts(&mut changes);
        let mut stop = false;
        let mut changed_files = Vec::new();
        for index in assembly.tool_indexes() {
            if stop {
                // The user refused an earlier call of this step: the rest do not run.
                let now = now_ms();
                assembly.set_tool_state(
                    &mut changes,
                    index,
                    ToolState::Error {
                        input: Value::Object(Default::default()),
                        error: "Skipped: the user rejected an earlier tool call of this step.".into(),
                        metadata: None,
                        time: SpanTime { start: now, end: now },
                    },
                );
                continue;
            }
            match self.run_tool(assembly, index, &mut changes).await? {
                ToolEnd::Done(files) => changed_files.extend(files),
                ToolEnd::StopLoop => stop = true,
                ToolEnd::Aborted => {
                    self.commit(changes)?;
                    self.abort(assembly)?;
                    return Ok(StepEnd::Aborted);
                }
            }
        }
        self.record_patch(assembly, &mut changes, changed_files);
        let reason = finish_reason(reason, assembly.has_tool_calls());
        let tokens = assembly.info.tokens.with_total();
        assembly.info.tokens = tokens;
        assembly.info.cost = cost(&self.model.model.cost, &tokens);
        let cost = assembly.info.cost;
        assembly.push(
            &mut changes,
            PartBody::StepFinish {
                reason: reason.into(),
                snapshot: None,
                cost,
                tokens,
            },
        );
        assembly.info.finish = Some(reason.into());
        changes.message(&assembly.info.clone().into());
        assembly.info.time.completed = Some(now_ms());
        changes.message(&assembly.info.clone().into());
        self.add_usage(&mut changes, tokens, cost)?;
        self.commit(changes)?;
        Ok(if reason == "tool-calls" && !stop {
            StepEnd::Continue
        } else {
            StepEnd::Stop
        })
    }

    /// After tools that changed files: a `patch` part naming them, with a hash of their new
    /// content (the reference's hash names a snapshot; ours names the files' state).
    fn record_patch(&self, assembly: &mut Assembly, changes: &mut Changes, mut files: Vec<String>) {
        if files.is_empty() {
            return;
        }
        files.sort();
        files.dedup();
        use sha2::Digest as _;
        let mut hasher = sha2::Sha256::new();
        let root = &self.instance.root;
        for file in &files {
            hasher.update(file.as_bytes());
            let content = root
                .resolve(file)
                .ok()
                .and_then(|relative| root.dir().read(relative).ok())
                .unwrap_or_default();
            hasher.update((content.len() as u64).to_le_bytes());
            hasher.update(&content);
        }
        let hash = hex::encode(&hasher.finalize()[..20]);
        assembly.push(changes, PartBody::Patch { hash, files });
    }

    /// Adds a step's tokens and cost to the session.
    fn add_usage(&self, changes: &mut Changes, tokens: Tokens, cost: f64) -> Result<(), SessionError> {
        let mut session = objects::get(self.engine.journal(), &self.session.id)?;
        let mut tokens = tokens;
        tokens.total = None;
        session.tokens.add(&tokens);
        session.cost += cost;
        session.time.updated = now_ms();
        changes.session_updated(&session);
        Ok(())
    }

    /// Records an abort: unfinished tools fail as interrupted, the message carries
    /// `MessageAbortedError`, and `session.error` goes out.
    pub(super) fn abort(&self, assembly: &mut Assembly) -> Result<(), SessionError> {
        let mut changes = Changes::new();
        assembly.close_open_parts(&mut changes);
        let now = now_ms();
        for index in assembly.tool_indexes() {
            let PartBody::Tool { state, .. } = &assembly.parts[index].body else {
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
            assembly.set_tool_state(
                &mut changes,
                index,
                ToolState::Error {
                    input,
                    error: "Tool execution aborted".into(),
                    metadata: Some(json!({"interrupted": true})),
                    time: SpanTime { start, end: now },
                },
            );
        }
        let error = MessageError::aborted();
        assembly.info.error = Some(error.clone());
        assembly.info.time.completed = Some(now);
        changes.message(&assembly.info.clone().into());
        self.fail(changes, error)
    }
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

/// A step's cost in dollars: the catalogue's prices are per million tokens.
fn cost(prices: &Cost, tokens: &Tokens) -> f64 {
    (tokens.input as f64 * prices.input
        + tokens.output as f64 * prices.output
        + tokens.reasoning as f64 * prices.output
        + tokens.cache.read as f64 * prices.cache.read
        + tokens.cache.write as f64 * prices.cache.write)
        / 1_000_000.0
}
