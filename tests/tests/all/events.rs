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

/// Over the real binary: a subscriber that stops reading is cut off once it is too far behind,
/// while another subscriber receives every event and the server stays healthy.
#[tokio::test]
async fn a_stalled_subscriber_is_cut_off_while_others_keep_receiving() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const CREATES: usize = 400;
    let env = TestEnv::new();
    // The default queue (4096 events) would need far more traffic to overflow.
    let server = env.serve_with(|c| {
        c.env("WASMCODE_HEARTBEAT_MS", "100")
            .env("WASMCODE_EVENT_QUEUE", "256");
    });
    let address = server.base.trim_start_matches("http://").to_string();

    // The stalled client: a tiny receive buffer; it reads the response head, then nothing.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut stalled = socket
        .connect(address.parse().expect("a socket address"))
        .await
        .expect("connects");
    let request = format!("GET /event HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n\r\n");
    stalled.write_all(request.as_bytes()).await.expect("request sent");
    let mut head = [0u8; 1024];
    let n = stalled.read(&mut head).await.expect("response head");
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));

    // The healthy client counts every session event it gets.
    let mut healthy = Stream::open(&server, "/event", None).await;
    assert_eq!(healthy.next().await.data["type"], "server.connected");
    let counter = tokio::spawn(async move {
        let mut created = 0;
        while created < CREATES {
            if healthy.next_event().await.data["type"] == "session.created" {
                created += 1;
            }
        }
        created
    });

    // Each create publishes two events carrying a 64 KiB title: ~50 MiB in all, far beyond what
    // the stalled client's socket and queue can hold.
    let title = "t".repeat(64 * 1024);
    for _ in 0..CREATES {
        let (status, _) = server.post("/session", json!({ "title": title })).await;
        assert_eq!(status, 200);
    }
    let created = tokio::time::timeout(std::time::Duration::from_secs(60), counter)
        .await
        .expect("the healthy client keeps up")
        .expect("joins");
    assert_eq!(created, CREATES);

    // The stalled client finds its stream ended by the server after what was buffered for it:
    // the chunked body's last chunk, or the connection closed.
    let mut received = 0usize;
    let mut buffer = vec![0u8; 1 << 16];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let read = tokio::time::timeout(std::time::Duration::from_secs(30), stalled.read(&mut buffer))
            .await
            .expect("the server ends the stalled stream");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                received += n;
                tail.extend_from_slice(&buffer[..n]);
                let keep = tail.len().saturating_sub(16);
                tail.drain(..keep);
                if tail.ends_with(b"\r\n0\r\n\r\n") {
                    break;
                }
            }
        }
    }
    assert!(
        received < CREATES * 2 * 64 * 1024,
        "the stalled client got everything ({received} bytes): it was not cut off"
    );
    server.assert_healthy().await;
}
