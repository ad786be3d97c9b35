//! The event streams against the real binary: `server.connected` first, a heartbeat, `id:`
//! sequence lines, events of the request's directory, the global stream's wrapping, and
//! `Last-Event-ID` replay and resync.

use serde_json::json;

use crate::harness::{Server, SseStream as Stream, TestEnv};

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
