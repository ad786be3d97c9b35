//! `POST /session/{id}/shell`: a command the user runs themselves, through the `bash` tool
//! component, recorded in the session as a user message and an assistant message holding the
//! tool part, so the model sees it on the next turn.

use std::sync::Arc;

use serde_json::json;

use super::model::{
    AssistantMessage, MessageInfo, MessageWithParts, Part, PartBody, RunningTime, SpanTime, ToolState,
    UserMessage, now_ms,
};
use super::{SessionError, Sessions, ShellInput, events, message_record, part_record, run};
use crate::bus::Identifier;
use crate::instance::Instance;
use crate::runtime::{BoxFuture, CallHandler, CallInfo, PermissionAsk, PermissionRefusal, ToolCall};
use crate::store::Write;

/// The user typed the command: nothing to ask.
struct UserInitiated;

impl CallHandler for UserInitiated {
    fn ask_permission(
        &self,
        _call: &CallInfo,
        _ask: PermissionAsk,
    ) -> BoxFuture<Result<(), PermissionRefusal>> {
        Box::pin(async { Ok(()) })
    }
}

impl Sessions {
    pub async fn shell(
        self: &Arc<Self>,
        instance: &Arc<Instance>,
        id: &str,
        input: ShellInput,
    ) -> Result<MessageWithParts, SessionError> {
        if input.command.trim().is_empty() {
            return Err(SessionError::BadRequest("command must not be empty".into()));
        }
        let session = self.get(id)?;
        if self.statuses().contains_key(id) {
            return Err(SessionError::Busy(id.into()));
        }
        let agents = instance.agents().map_err(SessionError::BadRequest)?;
        let agent = run::choose_agent(&agents, input.agent.as_deref(), &session)?;
        let model = run::choose_model(instance, input.model.as_ref(), &agent, &session)?;
        let user = UserMessage::new(Identifier::ascending("msg"), id, &agent.name, &model);
        let now = user.time.created;
        let user = MessageInfo::User(user);
        let user_part = Part {
            id: Identifier::ascending("prt"),
            session_id: id.into(),
            message_id: user.id().into(),
            body: PartBody::Text {
                text: "The following tool was executed by the user".into(),
                synthetic: Some(true),
                time: None,
            },
        };
        let mut info =
            AssistantMessage::begin(id, user.id(), &model, &agent.name, super::message_path(instance));
        let input_json = json!({"command": input.command, "description": "Run a command for the user"});
        let mut tool = Part {
            id: Identifier::ascending("prt"),
            session_id: id.into(),
            message_id: info.id.clone(),
            body: PartBody::Tool {
                call_id: Identifier::ascending("call"),
                tool: "bash".into(),
                state: ToolState::Running {
                    input: input_json.clone(),
                    title: None,
                    metadata: None,
                    time: RunningTime { start: now },
                },
            },
        };
        let assistant = MessageInfo::Assistant(info.clone());
        self.store.apply(&[
            Write::Message(message_record(&user)),
            Write::Part(part_record(&user_part)),
            Write::Message(message_record(&assistant)),
            Write::Part(part_record(&tool)),
        ])?;
        events::message_updated(&instance.bus, &user);
        events::part_updated(&instance.bus, &user_part);
        events::message_updated(&instance.bus, &assistant);
        events::part_updated(&instance.bus, &tool);

        let call = ToolCall {
            tool: "bash".into(),
            args_json: input_json.to_string(),
            session_id: id.into(),
            message_id: info.id.clone(),
            call_id: String::new(),
            agent: agent.name.clone(),
            project_root: instance.directory.clone(),
        };
        let result = instance
            .tools
            .call(&self.runtime, call, Arc::new(UserInitiated))
            .await;
        let time = SpanTime {
            start: now,
            end: now_ms(),
        };
        let state = match result {
            Ok(output) => ToolState::Completed {
                input: input_json,
                output: output.output,
                metadata: output.metadata,
                title: output.title,
                time,
            },
            Err(e) => ToolState::Error {
                input: input_json,
                error: e.to_string(),
                metadata: None,
                time,
            },
        };
        if let PartBody::Tool { state: shown, .. } = &mut tool.body {
            *shown = state;
        }
        info.time.completed = Some(now_ms());
        let assistant = MessageInfo::Assistant(info);
        self.store.apply(&[
            Write::Part(part_record(&tool)),
            Write::Message(message_record(&assistant)),
        ])?;
        events::part_updated(&instance.bus, &tool);
        events::message_updated(&instance.bus, &assistant);
        Ok(MessageWithParts {
            info: assistant,
            parts: vec![tool],
        })
    }
}
