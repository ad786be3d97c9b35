//! Terminals (`/pty`), end to end: a real shell on a real pseudo-terminal, typed into and read
//! over a real WebSocket; output kept for late clients; tickets for clients without credentials;
//! the process group gone on remove, on instance dispose and on server exit; the user's commands
//! confined when `wasmcode.sandbox.shell` says so.

use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wasmcode::sandbox::Support;

use crate::harness::{SECRET, Server, SseStream, TestEnv};

/// A shell without the user's startup files, so what it prints is predictable.
fn plain_shell() -> Value {
    json!({"command": "bash", "args": ["--norc", "--noprofile"], "title": "plain"})
}

async fn open(server: &Server, body: Value) -> Value {
    let (status, pty) = server.post("/pty", body).await;
    assert_eq!(status, 200, "{pty}");
    pty
}

fn id_of(pty: &Value) -> String {
    pty["id"].as_str().expect("a pty id").to_string()
}

fn pid_of(pty: &Value) -> u32 {
    pty["pid"].as_u64().expect("a pid") as u32
}

fn alive(pid: u32) -> bool {
    // A zombie has exited; only its entry is left until it is reaped.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

async fn assert_gone_soon(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} still runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One WebSocket client of a terminal.
struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Text received and not yet consumed by `until`.
    seen: String,
}

/// What the server answered instead of upgrading.
#[derive(Debug)]
struct Refused(u16);

async fn connect(
    server: &Server,
    id: &str,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<Client, Refused> {
    let url = format!(
        "{}/pty/{id}/connect{query}",
        server.base.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().expect("a WebSocket request");
    for (name, value) in headers {
        request.headers_mut().insert(
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes())
                .expect("a header name"),
            value.parse().expect("a header value"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(Client {
            ws,
            seen: String::new(),
        }),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(Refused(response.status().as_u16()))
        }
        Err(e) => panic!("the connect failed: {e}"),
    }
}

impl Client {
    async fn next(&mut self) -> Option<Message> {
        tokio::time::timeout(Duration::from_secs(10), self.ws.next())
            .await
            .expect("a message within 10 s")
            .map(|m| m.expect("a well-formed message"))
    }

    /// The replay (text before the cursor frame) and the cursor it ends at.
    async fn replay(&mut self) -> (String, u64) {
        let mut replay = String::new();
        loop {
            match self.next().await.expect("the cursor frame") {
                Message::Text(text) => replay.push_str(&text),
                Message::Binary(bytes) => {
                    assert_eq!(bytes.first(), Some(&0), "a control frame starts with 0");
                    let meta: Value = serde_json::from_slice(&bytes[1..]).expect("JSON after the 0");
                    return (replay, meta["cursor"].as_u64().expect("a cursor"));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Output until `needle` has appeared; everything read up to there.
    async fn until(&mut self, needle: &str) -> String {
        while !self.seen.contains(needle) {
            match self.next().await {
                Some(Message::Text(text)) => self.seen.push_str(&text),
                Some(Message::Binary(_) | Message::Ping(_) | Message::Pong(_)) => {}
                other => panic!(
                    "the terminal ended before {needle:?} ({other:?}); it printed {:?}",
                    self.seen
                ),
            }
        }
        let end = self.seen.find(needle).expect("just found") + needle.len();
        self.seen.drain(..end).collect()
    }

    /// The first whole line of output that `parse` accepts, parsed.
    async fn line<T>(&mut self, parse: impl Fn(&str) -> Option<T>) -> T {
        loop {
            let line = self.until("\n").await;
            if let Some(found) = parse(line.trim()) {
                return found;
            }
        }
    }

    async fn type_in(&mut self, keys: &str) {
        self.ws.send(Message::text(keys)).await.expect("typed");
    }

    /// Reads to the close frame; its code.
    async fn close_code(&mut self) -> u16 {
        loop {
            match self.next().await {
                Some(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)).unwrap_or(1005),
                Some(_) => {}
                None => panic!("the socket ended without a close frame"),
            }
        }
    }
}

#[tokio::test]
async fn a_terminal_echoes_what_is_typed_and_its_process_is_gone_after_delete() {
    let env = TestEnv::new();
    let server = env.serve();
    let mut events = SseStream::open(&server, "/event", None).await;

    let (status, shells) = server.get("/pty/shells").await;
    assert_eq!(status, 200, "{shells}");
    assert!(
        shells
            .as_array()
            .expect("shells")
            .iter()
            .any(|s| s["name"] == "bash" && s["acceptable"] == true),
        "{shells}"
    );

    // Unknown keys are ignored, as the reference ignores them.
    let mut body = plain_shell();
    body["bogus"] = json!(1);
    let pty = open(&server, body).await;
    let (id, pid) = (id_of(&pty), pid_of(&pty));
    assert_eq!(pty["status"], "running");
    assert_eq!(pty["title"], "plain");
    assert_eq!(pty["cwd"], env.project.display().to_string());
    assert!(alive(pid));
    let created = events.until(|e| e["type"] == "pty.created").await;
    assert_eq!(created.last().expect("the event")["properties"]["info"]["id"], id);

    let (_, list) = server.get("/pty").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let (status, got) = server.get(&format!("/pty/{id}")).await;
    assert_eq!((status, &got["pid"]), (200, &pty["pid"]));

    let mut client = connect(&server, &id, "", &[]).await.expect("connected");
    client.replay().await;
    client.type_in("echo hello-$((6*7)) from $PWD\r").await;
    let printed = client
        .until(&format!("hello-42 from {}", env.project.display()))
        .await;
    assert!(
        printed.contains("echo hello-$((6*7))"),
        "the terminal echoes what is typed: {printed:?}"
    );

    // The size and title change, with an event.
    let (status, updated) = server
        .send(
            reqwest::Method::PUT,
            &format!("/pty/{id}"),
            Some(json!({"title": "renamed", "size": {"rows": 40, "cols": 132}})),
        )
        .await;
    assert_eq!((status, &updated["title"]), (200, &json!("renamed")), "{updated}");
    client.type_in("stty size\r").await;
    client.until("40 132").await;
    events.until(|e| e["type"] == "pty.updated").await;
    let (status, body) = server
        .send(
            reqwest::Method::PUT,
            &format!("/pty/{id}"),
            Some(json!({"size": {"rows": 0, "cols": 80}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // A background job goes with its shell.
    client.type_in("sleep 300 & echo \"job=[$!]\"\r").await;
    let job = client
        .line(|line| line.strip_prefix("job=[")?.strip_suffix(']')?.parse::<u32>().ok())
        .await;
    assert!(alive(job));
    let (status, removed) = server.delete(&format!("/pty/{id}")).await;
    assert_eq!((status, removed), (200, json!(true)));
    assert_eq!(client.close_code().await, 1000);
    assert_gone_soon(pid).await;
    assert_gone_soon(job).await;
    events
        .until(|e| e["type"] == "pty.deleted" && e["properties"]["id"] == id)
        .await;
    let (status, body) = server.get(&format!("/pty/{id}")).await;
    assert_eq!(
        (status, &body["name"]),
        (404, &json!("PtyNotFoundError")),
        "{body}"
    );
    let (status, _) = server.delete(&format!("/pty/{id}")).await;
    assert_eq!(status, 404);
    server.assert_healthy().await;
}

#[tokio::test]
async fn output_is_kept_for_a_late_client_which_resumes_from_its_cursor() {
    let env = TestEnv::new();
    let server = env.serve();
    let script = "printf 'first\\n'; read line; printf 'got %s\\n' \"$line\"; sleep 300";
    let pty = open(&server, json!({"command": "bash", "args": ["-c", script]})).await;
    let id = id_of(&pty);

    // Nobody was connected when the program printed: the first client gets it all.
    let mut first = connect(&server, &id, "", &[]).await.expect("connected");
    let (mut replay, mut cursor) = first.replay().await;
    while !replay.contains("first") {
        // The program may not have printed yet: reconnect from the start.
        tokio::time::sleep(Duration::from_millis(20)).await;
        first = connect(&server, &id, "", &[]).await.expect("connected");
        (replay, cursor) = first.replay().await;
    }
    assert_eq!(cursor, replay.len() as u64);
    first.type_in("abc\r").await;
    first.until("got abc").await;
    drop(first);

    // From its cursor a client gets only what it missed; from -1, nothing old.
    let mut resumed = connect(&server, &id, &format!("?cursor={cursor}"), &[])
        .await
        .expect("connected");
    let (missed, end) = resumed.replay().await;
    assert!(
        missed.contains("got abc") && !missed.contains("first"),
        "{missed:?}"
    );
    assert_eq!(end, cursor + missed.len() as u64);
    let mut fresh = connect(&server, &id, "?cursor=-1", &[]).await.expect("connected");
    assert_eq!(fresh.replay().await, (String::new(), end));
    // A cursor that is not a number replays everything, as the reference does.
    let mut lenient = connect(&server, &id, "?cursor=soon", &[])
        .await
        .expect("connected");
    assert!(lenient.replay().await.0.contains("first"));
    // A plain GET is told to upgrade.
    let (status, body) = server.get(&format!("/pty/{id}/connect")).await;
    assert_eq!(status, 426, "{body}");
}

#[tokio::test]
async fn a_program_that_ends_reports_its_exit_and_closes_its_clients() {
    let env = TestEnv::new();
    let server = env.serve();
    let mut events = SseStream::open(&server, "/event", None).await;
    let pty = open(
        &server,
        json!({"command": "sh", "args": ["-c", "read x; echo bye; exit 3"]}),
    )
    .await;
    let id = id_of(&pty);
    let mut client = connect(&server, &id, "", &[]).await.expect("connected");
    client.replay().await;
    client.type_in("\r").await;
    client.until("bye").await;
    assert_eq!(client.close_code().await, 1000);
    let seen = events.until(|e| e["type"] == "pty.deleted").await;
    let exited = seen
        .iter()
        .find(|e| e["type"] == "pty.exited")
        .expect("pty.exited before pty.deleted");
    assert_eq!(exited["properties"], json!({"id": id, "exitCode": 3}));
    let (status, _) = server.get(&format!("/pty/{id}")).await;
    assert_eq!(status, 404);

    // What cannot start is a 400 with the reason.
    let (status, body) = server.post("/pty", json!({"command": "/no/such/program"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/no/such/program")),
        "{body}"
    );
    let (status, body) = server.post("/pty", json!({"cwd": "no-such-dir"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.post("/pty", json!({"args": "not a list"})).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_ticket_stands_for_credentials_once_and_foreign_pages_are_refused() {
    let env = TestEnv::new();
    let server = env.serve_with(|c| {
        c.env("OPENCODE_SERVER_PASSWORD", "pw");
    });
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("opencode:pw")
    );
    let post = |path: String, ticket_header: bool| {
        let mut request = server.http.post(server.url(&path)).header("authorization", &auth);
        if ticket_header {
            request = request.header("x-opencode-ticket", "1");
        }
        request
    };
    let response = post("/pty".into(), false)
        .json(&plain_shell())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let pty: Value = response.json().await.expect("JSON");
    let id = id_of(&pty);

    // Without credentials or a ticket: 401 before any upgrade.
    assert_eq!(connect(&server, &id, "", &[]).await.err().map(|r| r.0), Some(401));
    // A ticket needs the header (a form cannot send it).
    let response = post(format!("/pty/{id}/connect-token"), false)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 403);
    let response = post(format!("/pty/{id}/connect-token"), true)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let token: Value = response.json().await.expect("JSON");
    assert_eq!(token["expires_in"], 60);
    let ticket = token["ticket"].as_str().expect("a ticket").to_string();

    let mut client = connect(&server, &id, &format!("?ticket={ticket}"), &[])
        .await
        .expect("the ticket opens the terminal");
    client.replay().await;
    client.type_in("echo ticketed-$((1+1))\r").await;
    client.until("ticketed-2").await;
    // Once only.
    assert_eq!(
        connect(&server, &id, &format!("?ticket={ticket}"), &[])
            .await
            .err()
            .map(|r| r.0),
        Some(403)
    );
    assert_eq!(
        connect(&server, &id, "?ticket=forged", &[])
            .await
            .err()
            .map(|r| r.0),
        Some(403)
    );
    // A page of another site cannot open a terminal socket, credentials or not.
    assert_eq!(
        connect(
            &server,
            &id,
            "",
            &[("authorization", &auth), ("origin", "https://evil.example")]
        )
        .await
        .err()
        .map(|r| r.0),
        Some(403)
    );
    let mut local = connect(
        &server,
        &id,
        "",
        &[("authorization", &auth), ("origin", "http://localhost:3000")],
    )
    .await
    .expect("a local page with credentials connects");
    local.replay().await;
}

#[tokio::test]
async fn terminals_close_with_their_instance_and_with_the_server() {
    let env = TestEnv::new();
    let mut server = env.serve();
    let first = open(&server, plain_shell()).await;
    let mut client = connect(&server, &id_of(&first), "", &[])
        .await
        .expect("connected");
    client.replay().await;
    let (status, _) = server.post("/instance/dispose", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(client.close_code().await, 1000);
    assert_gone_soon(pid_of(&first)).await;
    let (_, list) = server.get("/pty").await;
    assert_eq!(list, json!([]));

    let second = open(&server, plain_shell()).await;
    let mut client = connect(&server, &id_of(&second), "", &[])
        .await
        .expect("connected");
    client.replay().await;
    let status = server.terminate();
    assert!(
        status.success(),
        "a clean exit on SIGTERM with a terminal open: {status}"
    );
    assert_gone_soon(pid_of(&second)).await;
}

#[tokio::test]
async fn the_sandbox_confines_terminals_when_it_confines_the_users_commands() {
    for confine in [false, true] {
        let env = TestEnv::new();
        env.write(
            "opencode.json",
            &json!({"wasmcode": {"sandbox": {"shell": confine}}}).to_string(),
        );
        let server = env.serve();
        if confine && !Support::current().can_confine() {
            eprintln!("skipped: this kernel has no Landlock");
            return;
        }
        let pty = open(&server, plain_shell()).await;
        let mut client = connect(&server, &id_of(&pty), "", &[]).await.expect("connected");
        client.replay().await;
        // The marker is spelled so that the echo of the typed line does not contain it.
        client
            .type_in("cat ../secret.txt; r=$?; s=status; echo \"$s=[$r]\"\r")
            .await;
        let printed = client.until("status=[").await;
        let status: i32 = client
            .until("]")
            .await
            .trim_end_matches(']')
            .parse()
            .expect("a status");
        if confine {
            assert!(printed.contains("Permission denied"), "{printed:?}");
            assert_eq!(status, 1);
        } else {
            assert!(printed.contains(SECRET.trim()), "{printed:?}");
            assert_eq!(status, 0);
        }
    }
}

#[tokio::test]
async fn a_slow_client_slows_the_program_and_loses_nothing() {
    let env = TestEnv::new();
    let server = env.serve();
    let pty = open(&server, plain_shell()).await;
    let mut client = connect(&server, &id_of(&pty), "", &[]).await.expect("connected");
    client.replay().await;
    // 6 MB: three times what is kept for a reconnect, and far more than a client's queue.
    client
        .type_in("a=END_;b=MARK;head -c 6000000 /dev/zero | tr '\\0' x; echo; echo $a$b\r")
        .await;
    // The client reads nothing for a while: the program waits for it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let printed = client.until("END_MARK").await;
    let longest = printed
        .split(|c| c != 'x')
        .map(str::len)
        .max()
        .unwrap_or_default();
    assert_eq!(longest, 6_000_000, "every byte arrived, in one run");
}
