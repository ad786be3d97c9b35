//! Part assembly: the model's streamed answer becomes the parts of the step's assistant message.
//! Text and reasoning are streamed into open parts (each delta an event, the part stored when it
//! opens and when it closes); tool calls become `pending` tool parts in call order. Every
//! stored change goes into the caller's batch.

use serde_json::Value;

use crate::protocol::event::PartDelta;
use crate::protocol::id::PartId;
use crate::protocol::now_ms;
use crate::protocol::session::{AssistantMessage, MessageWithParts, Part, PartBody, PartTime, ToolState};
use crate::runtime::Usage;
use crate::session::journal::Changes;

/// The message a step is building.
pub struct Assembly {
    pub info: AssistantMessage,
    pub parts: Vec<Part>,
    /// Index into `parts` of the text (or reasoning) part being streamed.
    open_text: Option<usize>,
    open_reasoning: Option<usize>,
    /// Indexes of tool parts in call order.
    tools: Vec<usize>,
}

impl Assembly {
    pub fn new(info: AssistantMessage) -> Self {
        Self {
            info,
            parts: Vec::new(),
            open_text: None,
            open_reasoning: None,
            tools: Vec::new(),
        }
    }

    pub fn into_message(self) -> MessageWithParts {
        MessageWithParts {
            info: self.info.into(),
            parts: self.parts,
        }
    }

    /// A new part of this message.
    pub fn new_part(&self, body: PartBody) -> Part {
        Part {
            id: PartId::new(),
            session_id: self.info.session_id.clone(),
            message_id: self.info.id.clone(),
            body,
        }
    }

    /// Adds and stores a finished part (`step-start`, `step-finish`, `patch`).
    pub fn push(&mut self, changes: &mut Changes, body: PartBody) {
        let part = self.new_part(body);
        changes.part(&part);
        self.parts.push(part);
    }

    /// The `step-start` part, at the model's first event.
    pub fn step_start(&mut self, changes: &mut Changes) {
        self.push(changes, PartBody::StepStart { snapshot: None });
    }

    pub fn has_tool_calls(&self) -> bool {
        !self.tools.is_empty()
    }

    /// Indexes of the tool parts, in call order.
    pub fn tool_indexes(&self) -> Vec<usize> {
        self.tools.clone()
    }

    pub fn usage(&mut self, usage: &Usage) {
        let tokens = &mut self.info.tokens;
        tokens.input = usage.input_tokens;
        tokens.output = usage.output_tokens;
        tokens.reasoning = usage.reasoning_tokens;
        tokens.cache.read = usage.cache_read_tokens;
        tokens.cache.write = usage.cache_write_tokens;
    }

    /// Streams `delta` into the open text (or reasoning) part, opening one first if needed; the
    /// delta event to publish once the batch is committed.
    pub fn text_delta(&mut self, changes: &mut Changes, delta: String, reasoning: bool) -> Option<PartDelta> {
        if delta.is_empty() {
            return None;
        }
        let open = if reasoning {
            self.open_reasoning
        } else {
            self.open_text
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
                self.push(changes, body);
                let index = self.parts.len() - 1;
                if reasoning {
                    self.open_reasoning = Some(index);
                } else {
                    self.open_text = Some(index);
                }
                index
            }
        };
        let part = &mut self.parts[index];
        if let PartBody::Text { text, .. } | PartBody::Reasoning { text, .. } = &mut part.body {
            text.push_str(&delta);
        }
        Some(PartDelta {
            session_id: part.session_id.clone(),
            message_id: part.message_id.clone(),
            part_id: part.id.clone(),
            field: "text".into(),
            delta,
        })
    }

    /// A tool call the model started (`arguments: None`) or finished: a `pending` tool part,
    /// stored and published once. The arguments are kept on the part until the call runs; the
    /// wire shows `raw: ""` as the reference does.
    pub fn tool_pending(
        &mut self,
        changes: &mut Changes,
        call_id: String,
        tool: String,
        arguments: Option<String>,
    ) {
        let existing = self.tools.iter().copied().find(
            |&index| matches!(&self.parts[index].body, PartBody::Tool { call_id: id, .. } if *id == call_id),
        );
        let index = match existing {
            Some(index) => index,
            None => {
                self.push(
                    changes,
                    PartBody::Tool {
                        call_id,
                        tool,
                        state: ToolState::Pending {
                            input: Value::Object(Default::default()),
                            raw: String::new(),
                        },
                    },
                );
                self.tools.push(self.parts.len() - 1);
                self.parts.len() - 1
            }
        };
        if let (
            Some(arguments),
            PartBody::Tool {
                state: ToolState::Pending { raw, .. },
                ..
            },
        ) = (arguments, &mut self.parts[index].body)
        {
            *raw = arguments;
        }
    }

    /// Ends the streamed text and reasoning parts: their full text, their end time.
    pub fn close_open_parts(&mut self, changes: &mut Changes) {
        for index in [self.open_reasoning.take(), self.open_text.take()]
            .into_iter()
            .flatten()
        {
            let part = &mut self.parts[index];
            match &mut part.body {
                PartBody::Text { time: Some(time), .. } | PartBody::Reasoning { time, .. } => {
                    time.end = Some(now_ms())
                }
                _ => {}
            }
            changes.part(part);
        }
    }

    /// Sets a tool part's state and stores it.
    pub fn set_tool_state(&mut self, changes: &mut Changes, index: usize, state: ToolState) {
        if let PartBody::Tool { state: current, .. } = &mut self.parts[index].body {
            *current = state;
        }
        changes.part(&self.parts[index]);
    }
}
