//! The sandbox of the agent's commands, end to end: the real binary, the real `bash` tool in
//! agent turns on the fake upstream, and the kernel's confinement. Inside the project commands
//! work (git too); the user's home, the directory beside the project, the server's own process
//! and, when switched off, the network are out of reach, for the command and whatever it starts;
//! configured paths and directories the user allows are opened as configured or answered.
//!
//! Every test here needs Landlock; on a kernel without it they check that the server says so
//! instead.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmcode::sandbox::Support;
use wasmcode_tests::fake_llm::{FakeLlm, Reply};

use crate::harness::{SECRET, Server, TestEnv, fake_model_config};

const HOME_SECRET: &str = "the user's own secret\n";

/// A project on `fake/fake-model` with `extra` merged into its configuration, and a home of its
/// own holding a secret.
fn project(llm: &FakeLlm, extra: Value) -> (TestEnv, std::path::PathBuf) {
    let env = TestEnv::new();
    let home = env.dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home dir");
    std::fs::write(home.join("home-secret.txt"), HOME_SECRET).expect("home secret");
    env.write("opencode.json", &fake_model_config(llm, extra).to_string());
    (env, home)
}

fn serve(env: &TestEnv, home: &std::path::Path) -> Server {
    env.serve_with(|command| {
        command.env("HOME", home);
    })
}

/// Whether this machine can confine; if not, the test only checks that the server says so.
async fn confinable(server: &Server) -> bool {
    let (code, status) = server.get("/experimental/sandbox").await;
    assert_eq!(code, 200, "{status}");
    if Support::current().can_confine() {
        assert_eq!(status["mode"], "confined", "{status}");
        true
    } else {
        assert_eq!(status["mode"], "unconfined", "{status}");
        assert!(status["reason"].as_str().is_some_and(|r| r.contains("Landlock")));
        eprintln!("skipped: this kernel has no Landlock");
        false
    }
}

async fn new_session(server: &Server) -> String {
    let (status, session) = server.post("/session", json!({})).await;
    assert_eq!(status, 200, "{session}");
    session["id"].as_str().expect("a session id").to_string()
}

static CALLS: AtomicU32 = AtomicU32::new(0);

/// Queues a turn in which the model runs `command` with the `bash` tool.
fn queue_command(llm: &FakeLlm, command: &str) {
    let call = format!("call_{}", CALLS.fetch_add(1, Ordering::Relaxed));
    llm.push(Reply::tool_call(
        &call,
        "bash",
        json!({"command": command, "description": "probe"}),
    ));
    llm.push(Reply::text(["Done."]));
}

/// Runs `command` through a whole turn: (output, exit code).
async fn run(server: &Server, llm: &FakeLlm, session: &str, command: &str) -> (String, Value) {
    queue_command(llm, command);
    let (code, answer) = server
        .post(
            &format!("/session/{session}/message"),
            json!({"parts": [{"type": "text", "text": "run it"}]}),
        )
        .await;
    assert_eq!(code, 200, "{answer}");
    let state = server.last_tool_part(session).await["state"].clone();
    assert_eq!(state["status"], "completed", "{command}: {state}");
    (
        state["output"].as_str().expect("output").to_string(),
        state["metadata"]["exit"].clone(),
    )
}

/// Asserts `command` was refused by the kernel: a non-zero exit and the OS's own error.
async fn refused(server: &Server, llm: &FakeLlm, session: &str, command: &str) {
    let (output, exit) = run(server, llm, session, command).await;
    assert_ne!(exit, json!(0), "{command} succeeded: {output}");
    assert!(
        output.contains("Permission denied"),
        "{command}: not refused by the OS: {output}"
    );
}

#[tokio::test]
async fn commands_work_in_the_project_and_reach_nothing_else() {
    let llm = FakeLlm::start().await;
    let (env, home) = project(&llm, json!({}));
    let server = serve(&env, &home);
    if !confinable(&server).await {
        return;
    }
    let (_, status) = server.get("/experimental/sandbox").await;
    let project = env.project.display().to_string();
    assert!(
        status["readWrite"]
            .as_array()
            .expect("succeeds")
            .contains(&json!(project)),
        "{status}"
    );
    assert_eq!(status["network"], true);
    let session = new_session(&server).await;

    let (output, exit) = run(
        &server,
        &llm,
        &session,
        "git init -q . && echo hello > made.txt && git add made.txt && git status --short made.txt \
         && cat made.txt && echo scratch > \"$TMPDIR/t\" && cat \"$TMPDIR/t\"",
    )
    .await;
    assert_eq!(exit, json!(0), "{output}");
    assert_eq!(output, "A  made.txt\nhello\nscratch\n");

    refused(&server, &llm, &session, "cat \"$HOME/home-secret.txt\"").await;
    refused(&server, &llm, &session, "cat \"$(dirname \"$PWD\")/secret.txt\"").await;
    refused(
        &server,
        &llm,
        &session,
        "echo x > \"$(dirname \"$PWD\")/escaped.txt\"",
    )
    .await;
    let scratch = format!("/tmp/wasmcode-escape-{}", std::process::id());
    refused(&server, &llm, &session, &format!("echo x > {scratch}")).await;
    assert!(!env.dir.path().join("escaped.txt").exists());
    assert!(!std::path::Path::new(&scratch).exists());

    // What the command starts is confined as it is.
    env.write("spawn.sh", "sh -c 'cat \"$HOME/home-secret.txt\"'\n");
    refused(&server, &llm, &session, "bash spawn.sh").await;
    // The server's environment (its credentials, its provider keys) is not the command's to read.
    refused(&server, &llm, &session, "cat /proc/$PPID/environ").await;
}

#[tokio::test]
async fn configured_paths_open_as_configured_and_the_network_can_be_cut() {
    let llm = FakeLlm::start().await;
    let outside = tempfile::tempdir().expect("a temp dir");
    let shared = std::fs::canonicalize(outside.path())
        .expect("resolves")
        .join("shared");
    let drop = shared.with_file_name("drop");
    std::fs::create_dir_all(&shared).expect("shared dir");
    std::fs::create_dir_all(&drop).expect("drop dir");
    std::fs::write(shared.join("data.txt"), "shared data\n").expect("data");
    let (shared_s, drop_s) = (shared.display().to_string(), drop.display().to_string());
    let (env, home) = project(
        &llm,
        json!({
            "wasmcode": {"sandbox": {
                "network": false,
                "allow": {shared_s.clone(): "read", drop_s.clone(): "write"},
            }},
            // Commands that name them are not asked about either.
            "permission": {"external_directory": {format!("{shared_s}/*"): "allow", format!("{drop_s}/*"): "allow"}},
        }),
    );
    let server = serve(&env, &home);
    if !confinable(&server).await {
        return;
    }
    let (_, status) = server.get("/experimental/sandbox").await;
    assert_eq!(status["network"], false, "{status}");
    assert!(
        status["readOnly"]
            .as_array()
            .expect("succeeds")
            .contains(&json!(shared_s))
    );
    let session = new_session(&server).await;

    let (output, exit) = run(
        &server,
        &llm,
        &session,
        &format!("cat {shared_s}/data.txt && echo out > {drop_s}/out.txt"),
    )
    .await;
    assert_eq!((output.as_str(), exit), ("shared data\n", json!(0)));
    assert_eq!(
        std::fs::read_to_string(drop.join("out.txt")).expect("succeeds"),
        "out\n"
    );
    refused(
        &server,
        &llm,
        &session,
        &format!("echo more >> {shared_s}/data.txt"),
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(shared.join("data.txt")).expect("succeeds"),
        "shared data\n"
    );

    // A server on loopback, which the command cannot reach with the network cut.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (output, exit) = run(
        &server,
        &llm,
        &session,
        &format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected"),
    )
    .await;
    assert_ne!(exit, json!(0), "{output}");
    assert!(!output.contains("connected"), "{output}");
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "the command reached the loopback server");
}

/// Runs `command` in a turn whose `external_directory` ask is answered `reply`.
async fn run_answering(server: &Server, llm: &FakeLlm, session: &str, command: &str, reply: &str) -> String {
    queue_command(llm, command);
    let prompt = {
        let http = server.http.clone();
        let url = server.url(&format!("/session/{session}/message"));
        tokio::spawn(async move {
            let response = http
                .post(url)
                .json(&json!({"parts": [{"type": "text", "text": "run it"}]}))
                .send()
                .await
                .expect("prompt sent");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        })
    };
    let start = Instant::now();
    let pending = loop {
        let (_, list) = server.get("/permission").await;
        if let Some(first) = list.as_array().and_then(|l| l.first()) {
            break first.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no permission asked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(pending["permission"], "external_directory", "{pending}");
    let request = pending["id"].as_str().expect("request id");
    let (code, _) = server
        .post(&format!("/permission/{request}/reply"), json!({"reply": reply}))
        .await;
    assert_eq!(code, 200);
    let (code, answer) = prompt.await.expect("the prompt returns");
    assert_eq!(code, 200, "{answer}");
    let state = server.last_tool_part(session).await["state"].clone();
    state["output"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_directory_the_user_allows_is_opened_once_or_for_the_session() {
    let llm = FakeLlm::start().await;
    let (env, home) = project(&llm, json!({}));
    let server = serve(&env, &home);
    if !confinable(&server).await {
        return;
    }
    let session = new_session(&server).await;
    let beside = "cat \"$(dirname \"$PWD\")/secret.txt\"";

    // The command names a file beside the project: the user is asked, and "once" opens its
    // directory to that command alone.
    let output = run_answering(&server, &llm, &session, "cat ../secret.txt", "once").await;
    assert_eq!(output, SECRET);
    refused(&server, &llm, &session, beside).await;

    // "always" opens it for the rest of the session, as a configured path would.
    let output = run_answering(&server, &llm, &session, "cat ../secret.txt", "always").await;
    assert_eq!(output, SECRET);
    let (output, exit) = run(&server, &llm, &session, beside).await;
    assert_eq!((output.as_str(), exit), (SECRET, json!(0)));

    // Another session has not been allowed anything.
    let other = new_session(&server).await;
    refused(&server, &llm, &other, beside).await;
}

#[tokio::test]
async fn the_users_own_commands_are_confined_only_when_configured() {
    let llm = FakeLlm::start().await;
    for (confine, expect_secret) in [(false, true), (true, false)] {
        let (env, home) = project(&llm, json!({"wasmcode": {"sandbox": {"shell": confine}}}));
        let server = serve(&env, &home);
        if !confinable(&server).await {
            return;
        }
        let (_, status) = server.get("/experimental/sandbox").await;
        assert_eq!(status["shell"], confine);
        let session = new_session(&server).await;
        let (code, answer) = server
            .post(
                &format!("/session/{session}/shell"),
                json!({"agent": "build", "command": "cat ../secret.txt"}),
            )
            .await;
        assert_eq!(code, 200, "{answer}");
        let output = answer["parts"]
            .as_array()
            .and_then(|parts| parts.iter().find(|p| p["type"] == "tool"))
            .and_then(|p| p["state"]["output"].as_str())
            .unwrap_or_default()
            .to_string();
        if expect_secret {
            assert_eq!(output, SECRET);
        } else {
            assert!(output.contains("Permission denied"), "{output}");
        }
    }
}
