//! The event streams against the real binary: `server.connected` first, a heartbeat, `id:`
//! sequence lines, events of the request's directory, the global stream's wrapping, and
//! `Last-Event-ID` replay and resync.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Server, TestEnv};

/// An SSE message: its `id:` line (if any) and its `data:` JSON.
#[derive(Debug)]
struct Message {
    id: Option<u64>,
    data: Value,
}

struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(server: &Server, path: &str, last_event_id: Option<u64>) -> Self {
        let mut request = server.http.get(server.url(path));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("the stream opens");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(response.headers()["cache-control"], "no-cache, no-transform");
        Self {
            response,
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> Message {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let mut message = Message {
                    id: None,
                    data: Value::Null,
                };
                for line in frame.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        message.id = Some(id.parse().expect("numeric id"));
                    } else if let Some(data) = line.strip_prefix("data: ") {
                        message.data = serde_json::from_str(data).expect("JSON data");
                    }
                }
                return message;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("a message within 10 s")
                .expect("the stream stays up")
                .expect("the stream did not end");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next message that is not a heartbeat.
    async fn next_event(&mut self) -> Message {
        loop {
            let message = self.next().await;
            let kind = message.data["type"]
                .as_str()
                .or(message.data["payload"]["type"].as_str())
                .unwrap_or_default();
            if kind != "server.heartbeat" {
                return message;
            }
        }
    }
}

fn serve(env: &TestEnv) -> Server {
    env.serve_with(|c| {
        c.env("WASMCODE_HEARTBEAT_MS", "100");
    })
}

#[tokio::test]
async fn the_event_stream_starts_connected_beats_and_carries_ids() {
    let env = TestEnv::new();
    let server = serve(&env);
    let mut stream = Stream::open(&server, "/event", None).await;
    let connected = stream.next().await;
    assert_eq!(connected.data["type"], "server.connected");
    assert!(
        connected.data["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("evt_") && id.len() == 30)
    );
    let heartbeat = stream.next().await;
    assert_eq!(heartbeat.data["type"], "server.heartbeat", "{:?}", heartbeat.data);

    server.post("/tui/append-prompt", json!({"text": "one"})).await;
    server.post("/tui/append-prompt", json!({"text": "two"})).await;
    let first = stream.next_event().await;
    let second = stream.next_event().await;
    assert_eq!(first.data["type"], "tui.prompt.append");
    assert_eq!(first.data["properties"], json!({"text": "one"}));
    assert_eq!(second.data["properties"], json!({"text": "two"}));
    let (a, b) = (first.id.expect("an id line"), second.id.expect("an id line"));
    assert!(b > a, "ids increase: {a} then {b}");
}

#[tokio::test]
async fn the_global_stream_wraps_events_with_their_directory() {
    let env = TestEnv::new();
    let server = serve(&env);
    let mut global = Stream::open(&server, "/global/event", None).await;
    assert_eq!(global.next().await.data["payload"]["type"], "server.connected");
    server
        .post("/tui/show-toast", json!({"message": "hi", "variant": "info"}))
        .await;
    let event = global.next_event().await;
    assert_eq!(event.data["directory"], json!(env.project.to_string_lossy()));
    assert_eq!(event.data["payload"]["type"], "tui.toast.show");
    assert_eq!(
        event.data["payload"]["properties"],
        json!({"message": "hi", "variant": "info"})
    );
}

#[tokio::test]
async fn last_event_id_replays_what_was_missed_or_asks_for_a_resync() {
    let env = TestEnv::new();
    let server = serve(&env);
    let mut stream = Stream::open(&server, "/event", None).await;
    stream.next().await;
    server.post("/tui/append-prompt", json!({"text": "seen"})).await;
    let seen = stream.next_event().await;
    drop(stream);
    server
        .post("/tui/append-prompt", json!({"text": "missed 1"}))
        .await;
    server
        .post("/tui/append-prompt", json!({"text": "missed 2"}))
        .await;

    let mut resumed = Stream::open(&server, "/event", seen.id).await;
    assert_eq!(resumed.next().await.data["type"], "server.connected");
    assert_eq!(resumed.next_event().await.data["properties"]["text"], "missed 1");
    assert_eq!(resumed.next_event().await.data["properties"]["text"], "missed 2");

    // A cursor the server no longer has (or never had) cannot be replayed.
    let mut stale = Stream::open(&server, "/event", Some(1)).await;
    assert_eq!(stale.next().await.data["type"], "server.connected");
    assert_eq!(stale.next_event().await.data["type"], "server.resync");
}
