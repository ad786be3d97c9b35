//! The older MCP transport over HTTP (protocol 2024-11-05), which rmcp does not speak and many
//! deployed servers still do: the client opens an event stream (`GET`), whose first event names
//! the endpoint to `POST` messages to; the server's messages arrive on the stream. Tried when a
//! remote server does not speak streamable HTTP, as OpenCode falls back.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use sse_stream::SseStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::connect::ConnectError;

/// Messages from the server a client may have yet to read.
const QUEUE: usize = 64;

pub struct SseTransport {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    headers: reqwest::header::HeaderMap,
    incoming: mpsc::Receiver<RxJsonRpcMessage<RoleClient>>,
    reader: JoinHandle<()>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SseError(String);

impl SseTransport {
    /// Opens the event stream at `url` and waits for the endpoint it names.
    pub async fn open(url: &str, headers: &BTreeMap<String, String>) -> Result<Self, ConnectError> {
        let failed = |e: String| ConnectError::Failed(e);
        let url = reqwest::Url::parse(url).map_err(|e| failed(format!("invalid MCP URL {url:?}: {e}")))?;
        let mut header_map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            let name = reqwest::header::HeaderName::try_from(name.as_str())
                .map_err(|e| failed(format!("header {name:?}: {e}")))?;
            let value = reqwest::header::HeaderValue::try_from(value.as_str())
                .map_err(|e| failed(format!("header {name}: {e}")))?;
            header_map.insert(name, value);
        }
        let http = reqwest::Client::new();
        let response = http
            .get(url.clone())
            .headers(header_map.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|e| failed(format!("cannot reach {url}: {e}")))?;
        match response.status().as_u16() {
            401 => return Err(ConnectError::NeedsAuth),
            200..=299 => {}
            status => return Err(failed(format!("the event stream answered {status}"))),
        }
        let mut events = SseStream::from_bytes_stream(response.bytes_stream());
        let endpoint = loop {
            match events.next().await {
                Some(Ok(event)) if event.event.as_deref() == Some("endpoint") => {
                    let path = event.data.unwrap_or_default();
                    break url
                        .join(path.trim())
                        .map_err(|e| failed(format!("the server named a bad endpoint {path:?}: {e}")))?;
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(failed(format!("the event stream broke: {e}"))),
                None => return Err(failed("the event stream ended before naming its endpoint".into())),
            }
        };
        // Messages go where the stream was opened: an endpoint elsewhere would take our headers
        // (credentials) to another host.
        if endpoint.origin() != url.origin() {
            return Err(failed(format!(
                "the server named an endpoint on another origin: {endpoint}"
            )));
        }
        let (tx, incoming) = mpsc::channel(QUEUE);
        let reader = tokio::spawn(async move {
            while let Some(Ok(event)) = events.next().await {
                if !matches!(event.event.as_deref(), None | Some("message")) {
                    continue;
                }
                let Some(data) = event.data else { continue };
                match serde_json::from_str::<RxJsonRpcMessage<RoleClient>>(&data) {
                    Ok(message) => {
                        if tx.send(message).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => tracing::warn!("MCP server sent a message that is not JSON-RPC: {e}"),
                }
            }
        });
        Ok(Self {
            http,
            endpoint,
            headers: header_map,
            incoming,
            reader,
        })
    }
}

impl Transport<RoleClient> for SseTransport {
    type Error = SseError;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let request = self
            .http
            .post(self.endpoint.clone())
            .headers(self.headers.clone())
            .json(&item);
        async move {
            let response = request
                .send()
                .await
                .map_err(|e| SseError(format!("cannot send to the MCP server: {e}")))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(SseError(format!("the MCP server answered {}", response.status())))
            }
        }
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.incoming.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.reader.abort();
        Ok(())
    }
}

impl Drop for SseTransport {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
