//! The TUI control queue: requests made to `/tui/*` (by an IDE plugin, a script) wait here until
//! a client long-polling `/tui/control/next` takes them; the client acknowledges through
//! `/tui/control/response`. Bounded, so nobody reading never means memory growing.

use serde::Serialize;
use tokio::sync::{Mutex, mpsc};
use utoipa::ToSchema;

/// Requests waiting for a client.
const CAPACITY: usize = 256;

/// One request for the client: the route it was made to, and its body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TuiRequest {
    pub path: String,
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

pub struct TuiQueue {
    tx: mpsc::Sender<TuiRequest>,
    rx: Mutex<mpsc::Receiver<TuiRequest>>,
}

impl Default for TuiQueue {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(CAPACITY);
        Self {
            tx,
            rx: Mutex::new(rx),
        }
    }
}

/// The queue is full: no client has been taking requests.
#[derive(Debug, thiserror::Error)]
#[error("the TUI control queue is full ({CAPACITY} requests): no client is reading /tui/control/next")]
pub struct QueueFull;

impl TuiQueue {
    pub fn push(&self, path: &str, body: serde_json::Value) -> Result<(), QueueFull> {
        self.tx
            .try_send(TuiRequest {
                path: path.to_string(),
                body,
            })
            .map_err(|_| QueueFull)
    }

    /// The next request, waiting as long as it takes (a long poll: the caller's disconnect drops
    /// the wait).
    pub async fn next(&self) -> Option<TuiRequest> {
        self.rx.lock().await.recv().await
    }

    /// A client's acknowledgement of a request it handled: recorded in the log, nothing waits on it.
    pub fn respond(&self, body: &serde_json::Value) {
        tracing::debug!(response = %body, "TUI control response");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_come_out_in_order_and_the_queue_is_bounded() {
        let queue = TuiQueue::default();
        queue
            .push("/tui/append-prompt", serde_json::json!({"text": "a"}))
            .expect("room");
        queue
            .push("/tui/submit-prompt", serde_json::json!({}))
            .expect("room");
        assert_eq!(queue.next().await.expect("first").path, "/tui/append-prompt");
        assert_eq!(queue.next().await.expect("second").path, "/tui/submit-prompt");
        for _ in 0..CAPACITY {
            queue.push("/tui/open-help", serde_json::json!({})).expect("room");
        }
        assert!(queue.push("/tui/open-help", serde_json::json!({})).is_err());
    }
}
