//! The sandbox, proven with the `probe` fixture: every way out of the project is refused, every
//! limit holds, every capability is denied unless granted, and after each of them the next call
//! in the same runtime succeeds.

use std::time::{Duration, Instant};

use crate::harness::{SECRET, TestEnv, call, load};
use serde_json::json;
use wasmcode::runtime::{CallError, FsAccess, Grants, Limits, LoadError, ToolFailure, ToolPlugin};
use wasmcode_tests::guests;

async fn probe(grants: Grants) -> ToolPlugin {
    probe_with(grants, Limits::default()).await
}

async fn probe_with(grants: Grants, limits: Limits) -> ToolPlugin {
    load(guests::FIXTURE_PROBE, "probe", grants, limits)
        .await
        .expect("the probe fixture loads")
}

fn read_write() -> Grants {
    Grants {
        filesystem: FsAccess::ReadWrite,
        ..Grants::default()
    }
}

async fn fs(plugin: &ToolPlugin, env: &TestEnv, args: serde_json::Value) -> Result<String, String> {
    match call(plugin, &env.project, "fs", args).await {
        Ok(output) => Ok(output.output),
        Err(CallError::Tool {
            kind: ToolFailure::Failed,
            message,
            ..
        }) => Err(message),
        Err(other) => panic!("expected the guest to report an I/O outcome, got {other:?}"),
    }
}

/// A refusal by the sandbox: the guest's I/O error, never the secret's content.
fn assert_refused(outcome: Result<String, String>, what: &str) {
    match outcome {
        Ok(output) => panic!("{what} was allowed: {output:?}"),
        Err(message) => {
            assert!(
                !message.contains(SECRET.trim()),
                "{what} leaked the secret: {message}"
            );
            assert!(
                message.contains("PermissionDenied") || message.contains("NotFound"),
                "{what} failed for another reason than the sandbox: {message}"
            );
        }
    }
}

/// The runtime is unaffected: a fresh call of the same plugin succeeds.
async fn assert_next_call_succeeds(plugin: &ToolPlugin, env: &TestEnv) {
    let output = call(plugin, &env.project, "ok", json!({}))
        .await
        .expect("the next call succeeds");
    assert_eq!(output.output, "ok");
}

#[tokio::test]
async fn parent_dir_paths_are_refused() {
    let env = TestEnv::new();
    let plugin = probe(read_write()).await;
    for path in [
        "../secret.txt",
        "src/../../secret.txt",
        "../../../../../../etc/passwd",
    ] {
        assert_refused(fs(&plugin, &env, json!({"op": "read", "path": path})).await, path);
    }
    assert_refused(
        fs(&plugin, &env, json!({"op": "list", "path": ".."})).await,
        "list ..",
    );
    assert_refused(
        fs(
            &plugin,
            &env,
            json!({"op": "write", "path": "../escape.txt", "content": "x"}),
        )
        .await,
        "write ..",
    );
    assert!(!env.dir.path().join("escape.txt").exists());
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn absolute_paths_outside_are_refused() {
    let env = TestEnv::new();
    let plugin = probe(read_write()).await;
    let secret = env.secret.to_string_lossy().into_owned();
    for path in [secret.as_str(), "/etc/passwd"] {
        assert_refused(fs(&plugin, &env, json!({"op": "read", "path": path})).await, path);
    }
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn symlinks_leading_out_are_refused() {
    let env = TestEnv::new();
    std::os::unix::fs::symlink("../secret.txt", env.project.join("link_rel")).expect("relative link");
    std::os::unix::fs::symlink(&env.secret, env.project.join("link_abs")).expect("absolute link");
    std::os::unix::fs::symlink("../../secret.txt", env.project.join("src/link_up2")).expect("nested link");
    std::os::unix::fs::symlink("hello.txt", env.project.join("link_in")).expect("inner link");
    let plugin = probe(Grants::read_only()).await;
    for path in ["link_rel", "link_abs", "src/link_up2"] {
        assert_refused(fs(&plugin, &env, json!({"op": "read", "path": path})).await, path);
    }
    // A link that stays inside the project works: the refusals above are about leaving it.
    assert_eq!(
        fs(&plugin, &env, json!({"op": "read", "path": "link_in"})).await,
        Ok("hello\nworld\n".into())
    );
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn symlinked_directories_leading_out_are_refused_with_a_trailing_slash() {
    let env = TestEnv::new();
    let outside = env.dir.path().join("outside");
    std::fs::create_dir(&outside).expect("outside dir");
    std::fs::write(outside.join("data.txt"), SECRET).expect("outside file");
    std::os::unix::fs::symlink("../outside", env.project.join("dir_out")).expect("dir link");
    let plugin = probe(read_write()).await;
    for (op, path) in [
        ("list", "dir_out/"),
        ("list", "dir_out"),
        ("read", "dir_out/data.txt"),
        ("metadata", "dir_out/"),
    ] {
        assert_refused(
            fs(&plugin, &env, json!({"op": op, "path": path})).await,
            &format!("{op} {path}"),
        );
    }
    assert_refused(
        fs(
            &plugin,
            &env,
            json!({"op": "write", "path": "dir_out/new.txt", "content": "x"}),
        )
        .await,
        "write through dir_out/",
    );
    assert!(!outside.join("new.txt").exists());
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn renames_out_of_the_root_are_refused() {
    let env = TestEnv::new();
    let plugin = probe(read_write()).await;
    assert_refused(
        fs(
            &plugin,
            &env,
            json!({"op": "rename", "path": "hello.txt", "to": "../moved.txt"}),
        )
        .await,
        "rename out",
    );
    assert_refused(
        fs(
            &plugin,
            &env,
            json!({"op": "rename", "path": "../secret.txt", "to": "stolen.txt"}),
        )
        .await,
        "rename in",
    );
    assert!(env.project.join("hello.txt").exists() && !env.dir.path().join("moved.txt").exists());
    assert!(env.secret.exists() && !env.project.join("stolen.txt").exists());
    // Renaming inside the project is allowed with a read-write grant.
    assert!(
        fs(
            &plugin,
            &env,
            json!({"op": "rename", "path": "hello.txt", "to": "src/hello.txt"})
        )
        .await
        .is_ok()
    );
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn read_only_grant_refuses_write() {
    let env = TestEnv::new();
    let plugin = probe(Grants::read_only()).await;
    assert_refused(
        fs(
            &plugin,
            &env,
            json!({"op": "write", "path": "new.txt", "content": "x"}),
        )
        .await,
        "write",
    );
    assert_refused(
        fs(
            &plugin,
            &env,
            json!({"op": "append", "path": "hello.txt", "content": "x"}),
        )
        .await,
        "append",
    );
    assert!(!env.project.join("new.txt").exists());
    assert_eq!(
        fs(&plugin, &env, json!({"op": "read", "path": "hello.txt"})).await,
        Ok("hello\nworld\n".into())
    );
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn read_only_grant_refuses_truncate() {
    let env = TestEnv::new();
    let plugin = probe(Grants::read_only()).await;
    assert_refused(
        fs(&plugin, &env, json!({"op": "truncate", "path": "hello.txt"})).await,
        "truncate",
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("hello.txt")).expect("still there"),
        "hello\nworld\n"
    );
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn read_only_grant_refuses_rename() {
    let env = TestEnv::new();
    let plugin = probe(Grants::read_only()).await;
    assert_refused(
        fs(
            &plugin,
            &env,
            json!({"op": "rename", "path": "hello.txt", "to": "moved.txt"}),
        )
        .await,
        "rename",
    );
    assert!(env.project.join("hello.txt").exists() && !env.project.join("moved.txt").exists());
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn read_only_grant_refuses_symlink_creation() {
    let env = TestEnv::new();
    let plugin = probe(Grants::read_only()).await;
    assert_refused(
        fs(
            &plugin,
            &env,
            json!({"op": "symlink", "path": "hello.txt", "to": "link"}),
        )
        .await,
        "symlink",
    );
    assert_refused(
        fs(&plugin, &env, json!({"op": "mkdir", "path": "newdir"})).await,
        "mkdir",
    );
    assert_refused(
        fs(&plugin, &env, json!({"op": "remove", "path": "hello.txt"})).await,
        "remove",
    );
    assert!(std::fs::symlink_metadata(env.project.join("link")).is_err());
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn read_write_grant_allows_changes_inside_the_project() {
    let env = TestEnv::new();
    let plugin = probe(read_write()).await;
    assert!(
        fs(
            &plugin,
            &env,
            json!({"op": "write", "path": "src/new.txt", "content": "made"})
        )
        .await
        .is_ok()
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("src/new.txt")).expect("written"),
        "made"
    );
    assert!(
        fs(&plugin, &env, json!({"op": "truncate", "path": "hello.txt"}))
            .await
            .is_ok()
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("hello.txt")).expect("exists"),
        ""
    );
}

#[tokio::test]
async fn no_filesystem_grant_sees_no_files() {
    let env = TestEnv::new();
    let plugin = probe(Grants {
        filesystem: FsAccess::None,
        ..Grants::default()
    })
    .await;
    assert_refused(
        fs(&plugin, &env, json!({"op": "read", "path": "hello.txt"})).await,
        "read without a grant",
    );
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_its_deadline() {
    let env = TestEnv::new();
    let limits = Limits {
        timeout_ms: 300,
        ..Limits::default()
    };
    let plugin = probe_with(Grants::read_only(), limits).await;
    let start = Instant::now();
    let result = call(&plugin, &env.project, "spin", json!({})).await;
    let elapsed = start.elapsed();
    match result {
        Err(CallError::Timeout {
            plugin,
            tool,
            timeout_ms,
        }) => {
            assert_eq!(
                (plugin.as_str(), tool.as_str(), timeout_ms),
                ("probe", "spin", 300)
            );
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        elapsed >= Duration::from_millis(300),
        "stopped before its deadline: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "stopped far past its deadline: {elapsed:?}"
    );
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn a_one_gib_allocation_is_refused() {
    let env = TestEnv::new();
    let plugin = probe(Grants::read_only()).await;
    let gib = 1u64 << 30;
    // A guest that checks its allocations hears "no" and reports it.
    match call(
        &plugin,
        &env.project,
        "alloc",
        json!({"bytes": gib, "fallible": true}),
    )
    .await
    {
        Err(CallError::Tool { message, .. }) => assert!(message.contains("refused"), "{message}"),
        other => panic!("expected the guest to report the refusal, got {other:?}"),
    }
    // A guest that does not aborts, and the host names the cause.
    match call(
        &plugin,
        &env.project,
        "alloc",
        json!({"bytes": gib, "fallible": false}),
    )
    .await
    {
        Err(CallError::OutOfMemory {
            plugin,
            requested,
            limit,
            ..
        }) => {
            assert_eq!(plugin, "probe");
            assert!(requested as u64 > limit && limit == Limits::default().memory_bytes);
        }
        other => panic!("expected an out-of-memory error, got {other:?}"),
    }
    // Small allocations are fine, and the next call works.
    let small = call(
        &plugin,
        &env.project,
        "alloc",
        json!({"bytes": 1 << 20, "fallible": false}),
    )
    .await;
    assert_eq!(
        small.expect("1 MiB is within limits").output,
        "allocated 1048576 bytes"
    );
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn a_trap_on_call_fails_only_that_call() {
    let env = TestEnv::new();
    let plugin = probe(Grants::read_only()).await;
    for tool in ["trap", "panic"] {
        match call(&plugin, &env.project, tool, json!({})).await {
            Err(CallError::Trap {
                plugin,
                tool: t,
                reason,
            }) => {
                assert_eq!((plugin.as_str(), t.as_str()), ("probe", tool));
                assert!(reason.contains("unreachable"), "{reason}");
                if tool == "panic" {
                    // What the guest printed before it died says why.
                    assert!(
                        reason.contains("the plugin printed: panicked at")
                            && reason.ends_with("fixture panic"),
                        "{reason}"
                    );
                }
            }
            other => panic!("expected a trap from `{tool}`, got {other:?}"),
        }
        assert_next_call_succeeds(&plugin, &env).await;
    }
}

#[tokio::test]
async fn a_trap_on_instantiate_is_refused_at_load() {
    let env = TestEnv::new();
    match load(
        guests::FIXTURE_TRAP_ON_INIT,
        "trap-on-init",
        Grants::read_only(),
        Limits::default(),
    )
    .await
    {
        Err(error @ LoadError::InstantiateTrap { .. }) => {
            let message = error.to_string();
            assert!(
                message.starts_with("trap-on-init: trapped while being instantiated"),
                "{message}"
            );
        }
        other => panic!("expected an instantiation trap, got {other:?}"),
    }
    let plugin = probe(Grants::read_only()).await;
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn ungranted_http_is_denied() {
    let env = TestEnv::new();
    let plugin = probe(Grants::read_only()).await;
    match call(
        &plugin,
        &env.project,
        "http",
        json!({"url": "http://127.0.0.1:9/"}),
    )
    .await
    {
        Err(CallError::Tool { message, .. }) => assert!(message.contains("HttpRequestDenied"), "{message}"),
        other => panic!("expected a denial, got {other:?}"),
    }
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn granted_http_reaches_only_the_granted_host() {
    let env = TestEnv::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let port = listener.local_addr().expect("bound").port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let grants = Grants {
        http: [format!("127.0.0.1:{port}")].into(),
        ..Grants::default()
    };
    let plugin = probe(grants).await;
    let ok = call(
        &plugin,
        &env.project,
        "http",
        json!({"url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    assert_eq!(ok.expect("the granted host answers").output, "status 204");
    match call(
        &plugin,
        &env.project,
        "http",
        json!({"url": format!("http://localhost:{port}/")}),
    )
    .await
    {
        Err(CallError::Tool { message, .. }) => assert!(message.contains("HttpRequestDenied"), "{message}"),
        other => panic!("another authority must be denied, got {other:?}"),
    }
}

#[tokio::test]
async fn ungranted_process_is_denied() {
    let env = TestEnv::new();
    let plugin = probe(Grants::read_only()).await;
    match call(
        &plugin,
        &env.project,
        "process",
        json!({"command": "touch pwned"}),
    )
    .await
    {
        Err(CallError::Tool { message, .. }) => {
            assert!(
                message.contains("Denied") && message.contains("not granted the `process` capability"),
                "{message}"
            )
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    assert!(!env.project.join("pwned").exists());
    assert_next_call_succeeds(&plugin, &env).await;
}

#[tokio::test]
async fn granted_process_runs_in_the_project() {
    let env = TestEnv::new();
    let plugin = probe(Grants::shell()).await;
    let output = call(
        &plugin,
        &env.project,
        "process",
        json!({"command": "pwd; exit 3"}),
    )
    .await
    .expect("runs");
    assert!(output.output.starts_with("exit code 3\n"), "{}", output.output);
    assert!(
        output
            .output
            .contains(&env.project.to_string_lossy().into_owned()),
        "{}",
        output.output
    );
}

#[tokio::test]
async fn nothing_is_inherited() {
    let env = TestEnv::new();
    let plugin = probe(Grants::read_only()).await;
    let output = call(&plugin, &env.project, "env", json!({}))
        .await
        .expect("env runs");
    let report: serde_json::Value = serde_json::from_str(&output.output).expect("a JSON report");
    assert_eq!(
        (report["vars"].as_u64(), report["args"].as_u64()),
        (Some(0), Some(0)),
        "{report}"
    );
}

#[tokio::test]
async fn a_full_instance_pool_answers_busy() {
    use wasmcode::runtime::{Runtime, RuntimeOptions, ToolCall};
    let env = TestEnv::new();
    let options = RuntimeOptions {
        max_concurrent_instances: 1,
        ..RuntimeOptions::default()
    };
    let runtime = Runtime::new(&options).expect("a small runtime");
    let bytes = std::fs::read(guests::FIXTURE_PROBE).expect("built");
    let hash = wasmcode::runtime::sha256(&bytes);
    let limits = Limits {
        timeout_ms: 500,
        ..Limits::default()
    };
    let plugin = runtime
        .load_tool_plugin("probe", &bytes, &hash, Grants::read_only(), limits, true)
        .await
        .expect("loads");
    let call = |tool: &str| ToolCall {
        tool: tool.into(),
        args_json: "{}".into(),
        session_id: String::new(),
        message_id: String::new(),
        call_id: String::new(),
        agent: "build".into(),
        project_root: env.project.clone(),
        sandbox: crate::harness::sandbox(&env.project),
    };
    let handler = crate::harness::allow_all();
    // The spinning call holds the only instance slot while the second one asks for another.
    let (spinning, second) = tokio::join!(
        runtime.call_tool(&plugin, call("spin"), handler.clone()),
        runtime.call_tool(&plugin, call("ok"), handler.clone()),
    );
    assert!(matches!(spinning, Err(CallError::Timeout { .. })), "{spinning:?}");
    assert!(matches!(second, Err(CallError::Busy { .. })), "{second:?}");
    // Once the slot is free again, calls go through.
    let ok = runtime
        .call_tool(&plugin, call("ok"), handler)
        .await
        .expect("the pool has room again");
    assert_eq!(ok.output, "ok");
}
