//! `POST /session/{id}/shell`: a command the user runs themselves, recorded in the session as a
//! user message and an assistant message holding a `bash` tool part (as the reference records
//! it), so the model sees it on the next turn. The command is the user's own: it runs directly,
//! not through a plugin.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::error::SessionError;
use super::input::ShellInput;
use super::journal::Changes;
use super::turn::Engine;
use super::{objects, prompt};
use crate::instance::Instance;
use crate::protocol::id::{MessageId, PartId, SessionId};
use crate::protocol::session::{
    AssistantMessage, MessageInfo, MessagePath, MessageWithParts, Part, PartBody, RunningTime, SpanTime,
    ToolState, UserMessage, now_ms,
};
use crate::runtime::run_user_command;
use crate::sandbox::Launch;

/// A user's command is stopped after this long.
const TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Output past this many bytes is cut.
const OUTPUT_LIMIT: u32 = 50 * 1024;
/// The tool the part is recorded as.
const TOOL: &str = "bash";

pub async fn run(
    engine: &Engine,
    instance: &Arc<Instance>,
    id: &SessionId,
    input: ShellInput,
) -> Result<MessageWithParts, SessionError> {
    if input.command.trim().is_empty() {
        return Err(SessionError::BadRequest("command must not be empty".into()));
    }
    let session = objects::get(engine.journal(), id)?;
    if engine.turns().is_running(id) {
        return Err(SessionError::Busy(id.to_string()));
    }
    let agent = prompt::choose_agent(instance, input.agent.as_deref(), &session)?;
    let model = prompt::choose_model(instance, input.model.as_ref(), &agent, &session)?;
    let user = MessageInfo::User(UserMessage::new(MessageId::new(), id, &agent.name, &model));
    let now = user.created();
    let user_part = Part {
        id: PartId::new(),
        session_id: id.clone(),
        message_id: user.id().clone(),
        body: PartBody::Text {
            text: "The following tool was executed by the user".into(),
            synthetic: Some(true),
            time: None,
        },
    };
    let path = MessagePath {
        cwd: instance.directory.display().to_string(),
        root: instance.worktree.display().to_string(),
    };
    let mut info = AssistantMessage::begin(id, user.id(), &model, &agent.name, path);
    let input_json = json!({"command": input.command, "description": "Run a command for the user"});
    let mut tool = Part {
        id: PartId::new(),
        session_id: id.clone(),
        message_id: info.id.clone(),
        body: PartBody::Tool {
            call_id: format!("call_{}", PartId::new().trim_start_matches("prt_")),
            tool: TOOL.into(),
            state: ToolState::Running {
                input: input_json.clone(),
                title: None,
                metadata: None,
                time: RunningTime { start: now },
            },
        },
    };
    let mut changes = Changes::new();
    changes
        .message(&user)
        .part(&user_part)
        .message(&info.clone().into())
        .part(&tool);
    engine.journal().commit(&instance.bus, changes)?;

    // The user's own command runs with the user's rights, as in OpenCode, unless the server
    // confines it too (`wasmcode.sandbox.shell`).
    let launch = if instance.sandbox.settings().shell {
        instance.sandbox.launch(&[]).map_err(|e| e.to_string())
    } else {
        Ok(Launch::Unconfined {
            reason: "the user's own command (wasmcode.sandbox.shell is off)".into(),
        })
    };
    let result = match launch {
        Ok(launch) => {
            run_user_command(
                instance.directory.clone(),
                &input.command,
                TIMEOUT,
                OUTPUT_LIMIT,
                launch,
            )
            .await
        }
        Err(refused) => Err(refused),
    };
    let time = SpanTime {
        start: now,
        end: now_ms(),
    };
    let state = match result {
        Ok(run) => {
            let mut output = run.output;
            if run.truncated {
                output.push_str("\n\n...output truncated...");
            }
            if run.timed_out {
                output.push_str(&format!(
                    "\n\nThe command was stopped after {} s.",
                    TIMEOUT.as_secs()
                ));
            }
            ToolState::Completed {
                input: input_json,
                metadata: json!({
                    "output": output,
                    "exit": run.exit_code,
                    "truncated": run.truncated,
                    "description": "Run a command for the user",
                }),
                output: if output.is_empty() {
                    "(no output)".into()
                } else {
                    output
                },
                title: input.command,
                time,
            }
        }
        Err(error) => ToolState::Error {
            input: input_json,
            error: format!("Cannot run the command: {error}"),
            metadata: None,
            time,
        },
    };
    if let PartBody::Tool { state: shown, .. } = &mut tool.body {
        *shown = state;
    }
    info.time.completed = Some(now_ms());
    let assistant = MessageInfo::Assistant(info);
    let mut changes = Changes::new();
    changes.part(&tool).message(&assistant);
    engine.journal().commit(&instance.bus, changes)?;
    Ok(MessageWithParts {
        info: assistant,
        parts: vec![tool],
    })
}
