//! The model client: how the server talks to a model. It owns the loaded provider components,
//! turns a [`Prompt`] into the provider request for a resolved model, retries a call that failed
//! before it said anything (connection errors, 408/409/429/5xx: exponential backoff, or what the
//! API asked for with `Retry-After`), and ends a stream that stays quiet longer than the idle
//! timeout. The agent loop, titles and compaction all call it.
//!
//! It knows nothing of sessions: what a retry looks like to clients (`session.status`), and what
//! an answer becomes (parts), is the caller's business.

mod components;
mod retry;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::LoopSettings;
use crate::provider::ResolvedModel;
use crate::runtime::{
    ChatMessage, CompletionRequest, CompletionStream, ProviderCallError, ProviderConfig, Runtime,
    StreamEvent, ToolDefinition,
};
use components::Components;
pub use retry::RetryPolicy;

/// What to ask a model, before it is addressed to one.
#[derive(Debug, Clone, Default)]
pub struct Prompt {
    pub system: Vec<String>,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolDefinition>,
    /// At most this many output tokens (default: the model's output limit, capped at 32,000).
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
}

/// A model call that failed for good: what to record and show.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ModelError {
    /// For people: `Cannot connect to API: …`, `The API answered 429: …`.
    pub message: String,
    /// The API's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Whether another try could have helped (the attempts ran out, or output had started).
    pub retryable: bool,
}

/// What a stream yields: the model's events, and notices of the retries before the first one.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    /// The call failed before the model said anything; it is tried again at `next` (epoch ms).
    Retrying {
        attempt: u32,
        message: String,
        next: u64,
    },
    Stream(StreamEvent),
}

/// Loads provider components on first use and opens model streams through them.
pub struct ModelClient {
    runtime: Arc<Runtime>,
    components: Components,
}

impl ModelClient {
    /// A client running models on the first-party provider components and those installed in
    /// `plugins_dir`.
    pub fn new(runtime: Arc<Runtime>, plugins_dir: PathBuf) -> Self {
        Self {
            runtime,
            components: Components::new(plugins_dir),
        }
    }

    /// Starts a call of `model` with `prompt`. Nothing is sent until the stream is first polled;
    /// failures (after the retries the settings allow) come out of [`ModelStream::next`].
    pub fn stream(&self, model: &ResolvedModel, prompt: Prompt, settings: &LoopSettings) -> ModelStream<'_> {
        ModelStream {
            client: self,
            request: request(model, prompt),
            component: model.component.clone(),
            policy: RetryPolicy::from(settings),
            idle: Duration::from_millis(settings.stream_idle_timeout_ms.max(1)),
            open: None,
            attempt: 0,
            said_something: false,
            pending: None,
        }
    }
}

/// The provider request for `model`: its connection settings, the API's model id, and the
/// output limit the model allows.
fn request(model: &ResolvedModel, prompt: Prompt) -> CompletionRequest {
    CompletionRequest {
        config: ProviderConfig {
            base_url: model.base_url.clone(),
            api_key: model.api_key.clone(),
            headers: model.headers.clone(),
            options: model.options.clone(),
        },
        model: api_model_id(model),
        system: prompt.system,
        messages: prompt.messages,
        tools: prompt.tools,
        max_tokens: prompt
            .max_tokens
            .or(Some(model.model.limit.output.clamp(1, 32_000) as u32)),
        temperature: prompt.temperature,
        options: serde_json::Value::Null,
    }
}

/// The model id the API expects (a catalogue entry may name it differently from its key).
fn api_model_id(model: &ResolvedModel) -> String {
    if model.model.api.id.is_empty() {
        model.model_id.clone()
    } else {
        model.model.api.id.clone()
    }
}

/// One model call, retried until it says something. Dropping it cancels the call (the provider
/// component's store goes, and the upstream connection with it).
pub struct ModelStream<'a> {
    client: &'a ModelClient,
    request: CompletionRequest,
    component: String,
    policy: RetryPolicy,
    idle: Duration,
    open: Option<CompletionStream>,
    attempt: u32,
    /// Whether an event reached the caller: from then on a failure is final.
    said_something: bool,
    /// A retry notice to deliver before waiting.
    pending: Option<Duration>,
}

impl ModelStream<'_> {
    /// The next event, `None` when the model is done, or the failure that ended the call.
    pub async fn next(&mut self) -> Option<Result<ModelEvent, ModelError>> {
        if let Some(delay) = self.pending.take() {
            tokio::time::sleep(delay).await;
        }
        let failure = match self.poll_model().await {
            Ok(Some(event)) => {
                self.said_something = true;
                return Some(Ok(ModelEvent::Stream(event)));
            }
            Ok(None) => return None,
            Err(Failure::Final(error)) => return Some(Err(error)),
            Err(Failure::Call(error)) => error,
        };
        self.open = None;
        self.attempt += 1;
        if self.said_something || !failure.is_retryable() || self.attempt >= self.policy.attempts {
            let status = match &failure {
                ProviderCallError::Status { status, .. } => Some(*status),
                _ => None,
            };
            return Some(Err(ModelError {
                message: describe(&failure),
                status,
                retryable: failure.is_retryable(),
            }));
        }
        // Tried again at the next call, after the delay: the caller shows the retry meanwhile.
        let delay = self.policy.delay(self.attempt, failure.retry_after());
        tracing::warn!(
            component = %self.component,
            attempt = self.attempt,
            delay_ms = delay.as_millis() as u64,
            "model call failed, retrying: {}",
            describe(&failure)
        );
        self.pending = Some(delay);
        Some(Ok(ModelEvent::Retrying {
            attempt: self.attempt,
            message: describe(&failure),
            next: crate::protocol::now_ms() + delay.as_millis() as u64,
        }))
    }

    /// The next event of the open call, opening one first if needed.
    async fn poll_model(&mut self) -> Result<Option<StreamEvent>, Failure> {
        if self.open.is_none() {
            let plugin = self
                .client
                .components
                .get(&self.client.runtime, &self.component)
                .await
                .map_err(|message| {
                    Failure::Final(ModelError {
                        message,
                        status: None,
                        retryable: false,
                    })
                })?;
            let stream = self
                .client
                .runtime
                .provider_stream(&plugin, &self.request)
                .await
                .map_err(Failure::Call)?;
            self.open = Some(stream);
        }
        let Some(stream) = self.open.as_mut() else {
            return Ok(None);
        };
        match tokio::time::timeout(self.idle, stream.next()).await {
            Err(_) => Err(Failure::Call(ProviderCallError::Connection {
                plugin: self.component.clone(),
                message: format!("the model sent nothing for {} s", self.idle.as_secs()),
            })),
            Ok(None) => Ok(None),
            Ok(Some(Err(error))) => Err(Failure::Call(error)),
            Ok(Some(Ok(event))) => Ok(Some(event)),
        }
    }
}

enum Failure {
    /// The call failed; whether to try again is the policy's decision.
    Call(ProviderCallError),
    /// Nothing to try again (the component cannot be loaded).
    Final(ModelError),
}

/// A failure as people read it.
fn describe(error: &ProviderCallError) -> String {
    match error {
        ProviderCallError::Connection { message, .. } => format!("Cannot connect to API: {message}"),
        ProviderCallError::Status { status, body, .. } => {
            let body: String = body.trim().chars().take(500).collect();
            if body.is_empty() {
                format!("The API answered {status}")
            } else {
                format!("The API answered {status}: {body}")
            }
        }
        other => other.to_string(),
    }
}
