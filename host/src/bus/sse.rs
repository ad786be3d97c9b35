//! Server-sent events: turns a [`Subscription`] into the `/event` or `/global/event` response.
//!
//! Wire format (CONTRACT §4, plus wasmcode's `id:` lines):
//! * headers `Content-Type: text/event-stream`, `Cache-Control: no-cache, no-transform`,
//!   `X-Content-Type-Options: nosniff`, `x-accel-buffering: no`; chunked body, one HTTP chunk per
//!   message;
//! * each message is `id: <seq>\ndata: <json>\n\n` for bus events; server-level messages
//!   (`server.connected`, `server.heartbeat`, `server.resync`) have their own `evt_` ids and are
//!   not part of the bus sequence;
//! * first `server.connected` (with `id: <cursor>`, so a client that reconnects before any event
//!   resumes from there), then, if the requested cursor could not be replayed, `server.resync`
//!   `{reason}` (the connected message then has no `id:` line and the resync message carries the
//!   new cursor), then the replayed events, then live events, with `server.heartbeat` every
//!   [`SseOptions::heartbeat`] (heartbeats carry no `id:` line);
//! * the body ends when the subscriber falls behind by more than the bus queue or the bus goes
//!   away; the client reconnects with `Last-Event-ID` to get what it missed.
//!
//! This module owns framing, headers and cursor parsing; it must not filter, reorder or buffer
//! events itself (the subscription's queue is the only buffer) and must not pick the bus (the
//! router decides which instance a request belongs to).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use futures_util::{Stream, StreamExt};
use tokio::time::{Interval, MissedTickBehavior};

use super::event::Message;
use super::{EventBus, Subscription};
use crate::protocol::Envelope;
use crate::protocol::event::{Empty, Event, Resync};

/// Options of an SSE stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseOptions {
    /// Interval of `server.heartbeat` messages (default 10 s, as the reference; at least 1 ms).
    pub heartbeat: Duration,
}

impl Default for SseOptions {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(10),
        }
    }
}

/// The `x-accel-buffering` header (tells nginx not to buffer the stream).
static X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// The SSE response for a subscription (see the module docs for the wire format).
pub fn stream<M: Message>(subscription: Subscription<M>, options: SseOptions) -> Response {
    let body = Body::from_stream(frames(subscription, options).map(Ok::<Bytes, Infallible>));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache, no-transform"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_ACCEL_BUFFERING.clone(), HeaderValue::from_static("no"));
    response
}

/// Subscribes to `bus` from the request's cursor ([`last_event_id`]) and returns the SSE
/// response. `query` is the raw query string (`uri.query()`).
pub fn respond<M: Message>(
    bus: &EventBus<M>,
    headers: &HeaderMap,
    query: Option<&str>,
    options: SseOptions,
) -> Response {
    stream(bus.subscribe(last_event_id(headers, query)), options)
}

/// The client's cursor: the `Last-Event-ID` header, else the `lastEventId` query parameter (for
/// clients that reconnect by hand). `None` when absent or empty. A value that is not a number
/// gives `Some(u64::MAX)`, which no bus has reached, so the stream starts with a resync.
pub fn last_event_id(headers: &HeaderMap, query: Option<&str>) -> Option<u64> {
    let header = headers
        .get("last-event-id")
        .map(|value| value.to_str().unwrap_or("?"));
    let raw = header.or_else(|| {
        query?.split('&').find_map(|pair| match pair.split_once('=') {
            Some(("lastEventId", value)) => Some(value),
            _ => None,
        })
    })?;
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    Some(raw.parse().unwrap_or(u64::MAX))
}

/// The SSE messages of a subscription, one `Bytes` per message (each becomes one HTTP chunk).
/// The stream ends when the subscription does.
pub fn frames<M: Message>(subscription: Subscription<M>, options: SseOptions) -> impl Stream<Item = Bytes> {
    let state = Streaming {
        subscription,
        heartbeat: None,
        options,
        phase: Phase::Connected,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        let frame = state.next_frame().await?;
        Some((frame, state))
    })
}

enum Phase {
    Connected,
    Resync,
    Live,
}

struct Streaming<M> {
    subscription: Subscription<M>,
    /// Created on the first poll, inside the runtime.
    heartbeat: Option<Interval>,
    options: SseOptions,
    phase: Phase,
}

impl<M: Message> Streaming<M> {
    async fn next_frame(&mut self) -> Option<Bytes> {
        match self.phase {
            Phase::Connected => {
                let resync = self.subscription.resync().is_some();
                self.phase = if resync { Phase::Resync } else { Phase::Live };
                let id = (!resync).then(|| self.subscription.cursor());
                Some(server_frame::<M>(Event::ServerConnected(Empty {}), id))
            }
            Phase::Resync => {
                self.phase = Phase::Live;
                let reason = self
                    .subscription
                    .resync()
                    .map_or("unknown-cursor", |r| r.reason());
                let event = Event::ServerResync(Resync {
                    reason: reason.into(),
                });
                Some(server_frame::<M>(event, Some(self.subscription.cursor())))
            }
            Phase::Live => {
                let every = self.options.heartbeat.max(Duration::from_millis(1));
                let heartbeat = self.heartbeat.get_or_insert_with(|| {
                    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                    interval
                });
                tokio::select! {
                    biased;
                    published = self.subscription.recv() => published.map(|p| p.frame()),
                    _ = heartbeat.tick() => Some(server_frame::<M>(Event::ServerHeartbeat(Empty {}), None)),
                }
            }
        }
    }
}

/// A server-level message, wrapped for the stream's message type.
fn server_frame<M: Message>(event: Event, id: Option<u64>) -> Bytes {
    let json = serde_json::to_string(&M::server(Envelope::new(event))).unwrap_or_else(|error| {
        tracing::error!(%error, "sse: server event does not serialize");
        String::from("{}")
    });
    let frame = match id {
        Some(id) => std::format!("id: {id}\ndata: {json}\n\n"),
        None => std::format!("data: {json}\n\n"),
    };
    Bytes::from(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::tests::test_event;
    use crate::bus::{Bus, BusOptions, GlobalBus};
    use axum::Router;
    use axum::http::Uri;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use serde_json::Value;
    use std::net::SocketAddr;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;

    const LONG: Duration = Duration::from_secs(10);

    /// One parsed SSE message.
    #[derive(Debug)]
    struct SseMessage {
        id: Option<u64>,
        data: Value,
    }

    impl SseMessage {
        fn kind(&self) -> &str {
            self.data.get("type").and_then(Value::as_str).unwrap_or_default()
        }
    }

    fn parse(frame: &str) -> SseMessage {
        assert!(frame.ends_with("\n\n"), "one whole message per frame: {frame:?}");
        let mut id = None;
        let mut data = None;
        for line in frame.trim_end().lines() {
            if let Some(value) = line.strip_prefix("id: ") {
                id = Some(value.parse().expect("numeric id"));
            } else if let Some(value) = line.strip_prefix("data: ") {
                data = Some(serde_json::from_str(value).expect("data is JSON"));
            } else {
                panic!("unexpected line {line:?}");
            }
        }
        SseMessage {
            id,
            data: data.expect("a data line"),
        }
    }

    async fn next(body: &mut Body) -> Option<SseMessage> {
        let frame = tokio::time::timeout(LONG, body.frame())
            .await
            .expect("a frame within 10 s")?;
        let data = frame.expect("body frame").into_data().expect("a data frame");
        Some(parse(std::str::from_utf8(&data).expect("utf-8")))
    }

    fn fast() -> SseOptions {
        SseOptions {
            heartbeat: Duration::from_millis(50),
        }
    }

    fn quiet() -> SseOptions {
        SseOptions {
            heartbeat: Duration::from_secs(3600),
        }
    }

    #[tokio::test]
    async fn headers_and_connected_first() {
        let bus = Bus::new(BusOptions::default());
        let response = stream(bus.subscribe(None), quiet());
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers[CONTENT_TYPE], "text/event-stream");
        assert_eq!(headers[CACHE_CONTROL], "no-cache, no-transform");
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers["x-accel-buffering"], "no");
        let mut body = response.into_body();
        let connected = next(&mut body).await.expect("connected");
        assert_eq!(connected.kind(), "server.connected");
        assert_eq!(connected.data["properties"], serde_json::json!({}));
        assert!(
            connected.data["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("evt_") && id.len() == 30)
        );
        assert_eq!(connected.id, Some(bus.last_seq()));
        let keys: Vec<&String> = connected.data.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["id", "type", "properties"]);
    }

    #[tokio::test]
    async fn heartbeat_arrives_at_the_interval() {
        let bus = Bus::new(BusOptions::default());
        let mut body = stream(bus.subscribe(None), fast()).into_body();
        assert_eq!(
            next(&mut body).await.expect("connected").kind(),
            "server.connected"
        );
        for _ in 0..3 {
            let heartbeat = next(&mut body).await.expect("heartbeat");
            assert_eq!((heartbeat.kind(), heartbeat.id), ("server.heartbeat", None));
            assert_eq!(heartbeat.data["properties"], serde_json::json!({}));
        }
    }

    #[tokio::test]
    async fn events_arrive_in_order_with_increasing_ids() {
        let bus = Bus::new(BusOptions::default());
        let mut body = stream(bus.subscribe(None), quiet()).into_body();
        next(&mut body).await.expect("connected");
        let sent: Vec<_> = (0..50).map(|n| bus.publish(test_event(&n.to_string()))).collect();
        let mut last = 0;
        for (n, published) in sent.iter().enumerate() {
            let message = next(&mut body).await.expect("event");
            let id = message.id.expect("events carry an id line");
            assert!(id > last);
            last = id;
            assert_eq!(id, published.seq);
            assert_eq!(message.data["id"], published.message.id.as_str());
            assert_eq!(message.data["properties"]["file"], n.to_string());
        }
    }

    #[tokio::test]
    async fn last_event_id_replays_exactly_the_missed_events() {
        let bus = Bus::new(BusOptions::default());
        let sent: Vec<_> = (0..10).map(|n| bus.publish(test_event(&n.to_string()))).collect();
        let mut headers = HeaderMap::new();
        headers.insert(
            "last-event-id",
            HeaderValue::from_str(&sent[6].seq.to_string()).expect("value"),
        );
        let mut body = respond(&bus, &headers, None, quiet()).into_body();
        let connected = next(&mut body).await.expect("connected");
        assert_eq!(
            (connected.kind(), connected.id),
            ("server.connected", Some(sent[6].seq))
        );
        let live = bus.publish(test_event("x"));
        for expected in sent[7..].iter().chain([&live]) {
            assert_eq!(next(&mut body).await.expect("event").id, Some(expected.seq));
        }

        // Same through the query parameter.
        let query = std::format!("x=1&lastEventId={}", sent[8].seq);
        let mut body = respond(&bus, &HeaderMap::new(), Some(&query), quiet()).into_body();
        next(&mut body).await.expect("connected");
        assert_eq!(next(&mut body).await.expect("event").id, Some(sent[9].seq));
        assert_eq!(next(&mut body).await.expect("event").id, Some(live.seq));
    }

    #[tokio::test]
    async fn an_expired_cursor_gives_server_resync() {
        let bus = Bus::new(BusOptions { replay: 4, queue: 16 });
        let sent: Vec<_> = (0..10).map(|n| bus.publish(test_event(&n.to_string()))).collect();
        let query = std::format!("lastEventId={}", sent[1].seq);
        let mut body = respond(&bus, &HeaderMap::new(), Some(&query), quiet()).into_body();
        let connected = next(&mut body).await.expect("connected");
        assert_eq!((connected.kind(), connected.id), ("server.connected", None));
        let resync = next(&mut body).await.expect("resync");
        assert_eq!((resync.kind(), resync.id), ("server.resync", Some(sent[9].seq)));
        assert_eq!(
            resync.data["properties"],
            serde_json::json!({"reason": "expired"})
        );
        assert!(
            resync.data["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("evt_"))
        );
        let live = bus.publish(test_event("x"));
        assert_eq!(next(&mut body).await.expect("live event").id, Some(live.seq));

        let mut headers = HeaderMap::new();
        headers.insert("last-event-id", HeaderValue::from_static("not-a-number"));
        let mut body = respond(&bus, &headers, None, quiet()).into_body();
        next(&mut body).await.expect("connected");
        let resync = next(&mut body).await.expect("resync");
        assert_eq!(resync.data["properties"]["reason"], "unknown-cursor");
    }

    #[tokio::test]
    async fn global_stream_wraps_server_events_in_payload() {
        let global = GlobalBus::new(BusOptions::default());
        let instance = Bus::forwarding(
            BusOptions::default(),
            global.clone(),
            "/home/dev/project".into(),
            None,
        );
        let mut body = stream(global.subscribe(None), fast()).into_body();
        let connected = next(&mut body).await.expect("connected");
        let keys: Vec<&String> = connected.data.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["payload"]);
        assert_eq!(connected.data["payload"]["type"], "server.connected");
        let published = instance.publish(crate::protocol::Event::SessionIdle(
            crate::protocol::event::SessionRef {
                session_id: crate::protocol::SessionId::parse("ses_1").expect("an id"),
            },
        ));
        let message = next(&mut body).await.expect("forwarded event");
        assert_eq!(message.data["directory"], "/home/dev/project");
        assert_eq!(message.data["payload"]["id"], published.message.id.as_str());
        assert_eq!(message.data["payload"]["type"], "session.idle");
        let heartbeat = next(&mut body).await.expect("heartbeat");
        assert_eq!(heartbeat.data["payload"]["type"], "server.heartbeat");
    }

    #[tokio::test]
    async fn dropping_the_response_unsubscribes() {
        let bus = Bus::new(BusOptions::default());
        let mut body = stream(bus.subscribe(None), quiet()).into_body();
        next(&mut body).await.expect("connected");
        assert_eq!(bus.subscriber_count(), 1);
        drop(body);
        assert_eq!(bus.subscriber_count(), 0);
        bus.publish(test_event("x"));
    }

    #[test]
    fn cursor_parsing() {
        let mut headers = HeaderMap::new();
        assert_eq!(last_event_id(&headers, None), None);
        assert_eq!(last_event_id(&headers, Some("directory=/x")), None);
        assert_eq!(
            last_event_id(&headers, Some("directory=/x&lastEventId=42")),
            Some(42)
        );
        assert_eq!(last_event_id(&headers, Some("lastEventId=")), None);
        headers.insert("last-event-id", HeaderValue::from_static(" 7 "));
        assert_eq!(
            last_event_id(&headers, Some("lastEventId=42")),
            Some(7),
            "header wins"
        );
        headers.insert("last-event-id", HeaderValue::from_static("evt_abc"));
        assert_eq!(last_event_id(&headers, None), Some(u64::MAX));
        headers.insert("last-event-id", HeaderValue::from_static(""));
        assert_eq!(last_event_id(&headers, None), None);
    }

    // ---- Over a real loopback socket -------------------------------------------------------

    async fn serve(bus: Bus, options: SseOptions) -> SocketAddr {
        let app =
            Router::new().route(
                "/event",
                get(move |headers: HeaderMap, uri: Uri| async move {
                    respond(&bus, &headers, uri.query(), options)
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    /// A minimal HTTP/1.1 client reading a chunked SSE response.
    struct RawClient {
        reader: BufReader<TcpStream>,
    }

    impl RawClient {
        /// Sends `GET path` and reads the response head (status line and headers, lower-cased
        /// names).
        async fn get(stream: TcpStream, path: &str) -> (Self, String, Vec<(String, String)>) {
            let mut reader = BufReader::new(stream);
            let request = std::format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
            reader
                .get_mut()
                .write_all(request.as_bytes())
                .await
                .expect("send request");
            let mut status = String::new();
            reader.read_line(&mut status).await.expect("status line");
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).await.expect("header line");
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').expect("header");
                headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
            }
            (Self { reader }, status.trim_end().to_string(), headers)
        }

        /// The next chunk's payload; `None` at the terminating chunk or end of stream.
        async fn chunk(&mut self) -> Option<String> {
            let mut size = String::new();
            if self.reader.read_line(&mut size).await.ok()? == 0 {
                return None;
            }
            let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
            let mut data = vec![0; size + 2];
            self.reader.read_exact(&mut data).await.ok()?;
            if size == 0 {
                return None;
            }
            data.truncate(size);
            Some(String::from_utf8(data).expect("utf-8 chunk"))
        }

        async fn message(&mut self) -> Option<SseMessage> {
            let chunk = tokio::time::timeout(LONG, self.chunk())
                .await
                .expect("a chunk within 10 s")?;
            Some(parse(&chunk))
        }
    }

    async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + LONG;
        while !condition() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn over_tcp_headers_chunks_and_cleanup() {
        let bus = Bus::new(BusOptions::default());
        let addr = serve(bus.clone(), fast()).await;
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut client, status, headers) = RawClient::get(stream, "/event").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(header("content-type"), Some("text/event-stream"));
        assert_eq!(header("cache-control"), Some("no-cache, no-transform"));
        assert_eq!(header("x-content-type-options"), Some("nosniff"));
        assert_eq!(header("x-accel-buffering"), Some("no"));
        assert_eq!(header("transfer-encoding"), Some("chunked"));
        assert_eq!(
            client.message().await.expect("connected").kind(),
            "server.connected"
        );

        let sent: Vec<_> = (0..20).map(|n| bus.publish(test_event(&n.to_string()))).collect();
        let mut received = Vec::new();
        while received.len() < sent.len() {
            let message = client.message().await.expect("message");
            if message.kind() != "server.heartbeat" {
                received.push(message.id.expect("id line"));
            }
        }
        assert_eq!(received, sent.iter().map(|p| p.seq).collect::<Vec<_>>());

        // A second client, then the first one goes away: only its subscription is cleaned up.
        let (mut other, _, _) =
            RawClient::get(TcpStream::connect(addr).await.expect("connect"), "/event").await;
        other.message().await.expect("connected");
        assert_eq!(bus.subscriber_count(), 2);
        drop(client);
        eventually("the closed client's subscription to go", || {
            bus.subscriber_count() == 1
        })
        .await;
        let after = bus.publish(test_event("after"));
        loop {
            let message = other.message().await.expect("message");
            if message.data["properties"]["file"] == "after" {
                assert_eq!(message.id, Some(after.seq));
                break;
            }
        }
    }

    #[tokio::test]
    async fn over_tcp_a_stalled_client_is_cut_off_while_others_get_everything() {
        const EVENTS: usize = 1_000;
        let bus = Bus::new(BusOptions { replay: 4, queue: 16 });
        let addr = serve(bus.clone(), quiet()).await;

        // The stalled client: a tiny receive buffer, reads the connected message, then stops.
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let (mut stalled, _, _) =
            RawClient::get(socket.connect(addr).await.expect("connect"), "/event").await;
        assert_eq!(
            stalled.message().await.expect("connected").kind(),
            "server.connected"
        );

        // The healthy client reads everything, reporting each sequence number.
        let (mut healthy, _, _) =
            RawClient::get(TcpStream::connect(addr).await.expect("connect"), "/event").await;
        healthy.message().await.expect("connected");
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(message) = healthy.message().await {
                if seen_tx.send(message.id).is_err() {
                    break;
                }
            }
        });

        // 32 KiB events, 32 MiB in all: far more than the socket buffers plus the queue. The
        // publisher waits for the healthy client after each event (it must keep up), never for
        // the stalled one.
        let filler = "x".repeat(32 * 1024);
        for n in 0..EVENTS {
            let published = bus.publish(test_event(&std::format!("{n}{filler}")));
            let got = tokio::time::timeout(LONG, seen.recv())
                .await
                .expect("healthy client keeps up");
            assert_eq!(
                got,
                Some(Some(published.seq)),
                "healthy client gets every event in order"
            );
        }
        assert_eq!(bus.replay_len(), 4);

        // The stalled client now reads what was buffered for it, then its stream ends.
        let mut received = 0;
        while let Some(message) = stalled.message().await {
            assert_eq!(message.kind(), "file.edited");
            received += 1;
        }
        assert!(
            received < EVENTS,
            "stalled client was cut off after {received} events"
        );
        eventually("only the healthy subscription to remain", || {
            bus.subscriber_count() == 1
        })
        .await;
        reader.abort();
    }
}
