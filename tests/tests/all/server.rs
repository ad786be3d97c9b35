//! The server over loopback: the tool endpoints in the reference's shapes, JSON errors, and a
//! server that keeps answering whatever a plugin does.

use crate::harness::{SseStream, TestEnv, git};
use serde_json::json;
use wasmcode_tests::guests;

const FIRST_PARTY: [&str; 9] = [
    "bash",
    "read",
    "glob",
    "grep",
    "edit",
    "write",
    "list",
    "apply_patch",
    "invalid",
];

#[tokio::test]
async fn tool_ids_list_the_first_party_tools() {
    let env = TestEnv::new();
    let server = env.serve();
    let (status, ids) = server.get("/experimental/tool/ids").await;
    assert_eq!(status, 200);
    assert_eq!(ids, json!(FIRST_PARTY));
}

#[tokio::test]
async fn tool_list_has_the_reference_shape() {
    let env = TestEnv::new();
    let server = env.serve();
    let (status, tools) = server
        .get("/experimental/tool?provider=fake&model=fake-model")
        .await;
    assert_eq!(status, 200);
    let tools = tools.as_array().expect("an array");
    assert_eq!(tools.len(), FIRST_PARTY.len());
    for tool in tools {
        let object = tool.as_object().expect("an object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["description", "id", "parameters"]);
        assert_eq!(
            tool["parameters"]["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(tool["parameters"]["type"], "object");
    }
    let read = tools.iter().find(|t| t["id"] == "read").expect("read is listed");
    assert_eq!(read["parameters"]["required"], json!(["filePath"]));
    assert_eq!(read["parameters"]["properties"]["offset"]["type"], "integer");
    let edit = tools.iter().find(|t| t["id"] == "edit").expect("edit is listed");
    assert_eq!(
        edit["parameters"]["required"],
        json!(["filePath", "oldString", "newString"])
    );
}

#[tokio::test]
async fn tool_list_requires_provider_and_model() {
    let env = TestEnv::new();
    let server = env.serve();
    let (status, body) = server.get("/experimental/tool").await;
    assert_eq!(status, 400);
    // As the reference answers (samples/tool_list_noparams.json).
    assert_eq!(
        body,
        json!({"name": "BadRequest", "data": {"message": "Missing key\n  at [\"provider\"]", "kind": "Query"}})
    );
    let (status, body) = server.get("/experimental/tool?provider=fake").await;
    assert_eq!(
        (status, &body["data"]["message"]),
        (400, &json!("Missing key\n  at [\"model\"]"))
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let env = TestEnv::new();
    let server = env.serve();
    let (status, body) = server.get("/nonexistent").await;
    assert_eq!((status, &body["name"]), (404, &json!("NotFoundError")));
    let (status, body) = server.post("/global/health", json!({})).await;
    assert_eq!((status, &body["name"]), (405, &json!("MethodNotAllowed")));
}

#[tokio::test]
async fn tools_execute_directly_under_the_permission_rules() {
    let env = TestEnv::new();
    env.write(".env", "API_KEY=hunter2\n");
    let server = env.serve();
    let path = env.project.join("hello.txt").to_string_lossy().into_owned();
    let (status, body) = server
        .post("/v1/tools/read/execute", json!({"filePath": path}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["content"]
            .as_str()
            .expect("text")
            .contains("1: hello\n2: world"),
        "{body}"
    );
    // The seed's `read_file` alias with its `path` argument.
    let (status, body) = server
        .post("/v1/tools/read_file/execute", json!({"path": "hello.txt"}))
        .await;
    assert_eq!((status, &body["tool"]), (200, &json!("read")), "{body}");
    // `.env` reads ask by default; with nobody to ask, they are refused, never hung.
    let (status, body) = server
        .post("/v1/tools/read/execute", json!({"filePath": ".env"}))
        .await;
    assert_eq!(
        (status, &body["name"]),
        (403, &json!("PermissionDeniedError")),
        "{body}"
    );
    assert!(
        body["data"]["message"]
            .as_str()
            .expect("text")
            .contains("approval"),
        "{body}"
    );
    // Bad input is a 400, an unknown tool a 404.
    let (status, _) = server.post("/v1/tools/read/execute", json!({"offset": 3})).await;
    assert_eq!(status, 400);
    let (status, _) = server.post("/v1/tools/nope/execute", json!({})).await;
    assert_eq!(status, 404);
    let response = server
        .http
        .post(server.url("/v1/tools/read/execute"))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400);
}

/// Every hostile behaviour of the probe, sent to a running server: each fails with the right
/// status, and after each the server is healthy and the next call succeeds.
#[tokio::test]
async fn the_server_survives_every_sandbox_failure() {
    let env = TestEnv::new();
    let install = env.run(&["plugin", "install", guests::FIXTURE_PROBE, "--name", "probe"]);
    assert!(
        install.status.success(),
        "{}",
        String::from_utf8_lossy(&install.stderr)
    );
    env.write(
        "opencode.json",
        r#"{"wasmcode": {"plugins": {"probe": {"limits": {"timeoutMs": 300}}}}}"#,
    );
    let server = env.serve();

    let cases = [
        ("fs", json!({"op": "read", "path": "../secret.txt"}), 422),
        (
            "fs",
            json!({"op": "read", "path": env.secret.to_string_lossy()}),
            422,
        ),
        ("fs", json!({"op": "write", "path": "x.txt", "content": "x"}), 422),
        ("spin", json!({}), 504),
        ("alloc", json!({"bytes": 1u64 << 30, "fallible": false}), 502),
        ("alloc", json!({"bytes": 1u64 << 30, "fallible": true}), 422),
        ("trap", json!({}), 502),
        ("panic", json!({}), 502),
        ("http", json!({"url": "http://127.0.0.1:9/"}), 422),
        ("process", json!({"command": "touch pwned"}), 422),
    ];
    for (tool, args, expected) in cases {
        let (status, body) = server
            .post(&format!("/v1/tools/{tool}/execute"), args.clone())
            .await;
        assert_eq!(status, expected, "{tool} {args}: {body}");
        assert!(
            body["data"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        server.assert_healthy().await;
        let (status, body) = server.post("/v1/tools/ok/execute", json!({})).await;
        assert_eq!(
            (status, &body["content"]),
            (200, &json!("ok")),
            "after {tool}: {body}"
        );
    }
    assert!(!env.project.join("pwned").exists() && !env.project.join("x.txt").exists());
}

fn encode(path: &std::path::Path) -> String {
    path.to_string_lossy()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Puts the wordcount example into `project/.wasmcode/plugins/` and trusts it.
fn add_trusted_project_plugin(env: &TestEnv, project: &std::path::Path) {
    let dir = project.join(".wasmcode/plugins");
    std::fs::create_dir_all(&dir).expect("plugin dir");
    let file = dir.join("counter.wasm");
    std::fs::copy(guests::WORDCOUNT, &file).expect("copy");
    let trust = env.run(&["plugin", "trust", &file.to_string_lossy()]);
    assert!(
        trust.status.success(),
        "{}",
        String::from_utf8_lossy(&trust.stderr)
    );
}

#[tokio::test]
async fn requests_are_scoped_to_their_directory() {
    let env = TestEnv::new();
    let other = env.dir.path().join("other project");
    std::fs::create_dir_all(&other).expect("other project");
    add_trusted_project_plugin(&env, &other);
    let server = env.serve();
    let has_wordcount = |ids: &serde_json::Value| ids.as_array().expect("ids").contains(&json!("wordcount"));

    let (_, ids) = server.get("/experimental/tool/ids").await;
    assert!(
        !has_wordcount(&ids),
        "the default directory has no project plugin: {ids}"
    );
    let (_, ids) = server
        .get(&format!("/experimental/tool/ids?directory={}", encode(&other)))
        .await;
    assert!(
        has_wordcount(&ids),
        "?directory= selects the other project: {ids}"
    );
    let response = server
        .http
        .get(server.url("/experimental/tool/ids"))
        .header("x-opencode-directory", encode(&other))
        .send()
        .await
        .expect("sent");
    let ids: serde_json::Value = response.json().await.expect("json");
    assert!(has_wordcount(&ids), "the header selects it too: {ids}");

    let (status, body) = server
        .get("/experimental/tool/ids?directory=%2Fno%2Fsuch%2Fdir")
        .await;
    assert_eq!((status, &body["name"]), (400, &json!("BadRequest")), "{body}");
    let (status, _) = server
        .get("/experimental/tool/ids?directory=relative%2Fpath")
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_directory_spelled_through_a_symlink_follows_the_symlink() {
    // Requests remember how they spelled a directory; re-pointing a symlink on the way must
    // not leave the spelling scoped to the old project.
    let env = TestEnv::new();
    let first = env.dir.path().join("first");
    let second = env.dir.path().join("second");
    for (dir, text) in [(&first, "first project"), (&second, "second project")] {
        std::fs::create_dir_all(dir).expect("project");
        std::fs::write(dir.join("which.txt"), text).expect("write");
    }
    let link = env.dir.path().join("current");
    std::os::unix::fs::symlink(&first, &link).expect("symlink");
    let server = env.serve();
    let url = format!("/file/content?path=which.txt&directory={}", encode(&link));
    for _ in 0..2 {
        let (status, body) = server.get(&url).await;
        assert_eq!(
            (status, &body["content"]),
            (200, &json!("first project")),
            "{body}"
        );
    }
    std::fs::remove_file(&link).expect("unlink");
    std::os::unix::fs::symlink(&second, &link).expect("symlink");
    let (status, body) = server.get(&url).await;
    assert_eq!(
        (status, &body["content"]),
        (200, &json!("second project")),
        "{body}"
    );
    std::fs::remove_file(&link).expect("unlink");
    let (status, _) = server.get(&url).await;
    assert_eq!(status, 400, "a dangling spelling names no directory");
}

#[tokio::test]
async fn dispose_releases_an_instance_so_it_is_made_afresh() {
    let env = TestEnv::new();
    let server = env.serve();
    let (_, before) = server.get("/experimental/tool/ids").await;
    add_trusted_project_plugin(&env, &env.project);
    let (_, cached) = server.get("/experimental/tool/ids").await;
    assert_eq!(before, cached, "an instance keeps its plugins until disposed");
    let (status, body) = server.post("/instance/dispose", json!({})).await;
    assert_eq!((status, body), (200, json!(true)));
    let (_, after) = server.get("/experimental/tool/ids").await;
    assert!(
        after.as_array().expect("ids").contains(&json!("wordcount")),
        "{after}"
    );
}

#[test]
fn a_config_with_a_syntax_error_stops_the_start_up() {
    let env = TestEnv::new();
    let file = env.write(
        "opencode.jsonc",
        "{\n  // comments are fine\n  \"model\": \"a/b\"\n  \"share\": \"disabled\",\n}\n",
    );
    let output = env
        .command()
        .args(["serve", "--port", "0"])
        .output()
        .expect("runs");
    assert!(!output.status.success(), "started on a broken config");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:3:17", file.display())),
        "no file:line:column in: {stderr}"
    );
}

#[tokio::test]
async fn files_and_find_answer_in_the_reference_shapes() {
    let env = TestEnv::new();
    env.write("src/main.rs", "fn main() {\n    greet();\n}\n");
    env.write("notes.txt", "remember to greet\n");
    env.write(".gitignore", "target/\n");
    env.write("target/out.txt", "greet in build output\n");
    git(&env.project, &["init", "-q"]);
    git(&env.project, &["add", "-A"]);
    git(&env.project, &["commit", "-qm", "init"]);
    env.write("notes.txt", "remember to greet\nand to wave\n");
    env.write("untracked.txt", "one\ntwo\n");
    std::fs::remove_file(env.project.join("hello.txt")).expect("delete");
    let server = env.serve();

    let (status, list) = server.get("/file?path=.").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|n| n["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        &names[..3],
        [".git", "src", "target"],
        "directories first: {names:?}"
    );
    let target = list
        .as_array()
        .expect("array")
        .iter()
        .find(|n| n["name"] == "target")
        .expect("listed");
    assert_eq!(
        (&target["type"], &target["ignored"], &target["path"]),
        (&json!("directory"), &json!(true), &json!("target/"))
    );

    let (status, content) = server.get("/file/content?path=src/main.rs").await;
    assert_eq!((status, content["type"].as_str()), (200, Some("text")));
    assert!(
        content["content"]
            .as_str()
            .expect("text")
            .starts_with("fn main()")
    );
    // Past what an async worker reads in place (256 KiB): read on the blocking pool, same shape.
    let large = "line with \"quotes\" and a tab\t\n".repeat(12_000);
    env.write("large.txt", &large);
    let (status, content) = server.get("/file/content?path=large.txt").await;
    assert_eq!((status, &content["content"]), (200, &json!(large.trim())));
    // Past the cap (10 MiB): refused unread.
    std::fs::write(env.project.join("huge.txt"), vec![b'x'; (10 << 20) + 1]).expect("write");
    let (status, body) = server.get("/file/content?path=huge.txt").await;
    assert_eq!(
        (status, &body["name"]),
        (413, &json!("FileTooLargeError")),
        "{body}"
    );
    for file in ["large.txt", "huge.txt"] {
        std::fs::remove_file(env.project.join(file)).expect("remove");
    }

    // Unlike the reference, /file/status reports changes, with line counts.
    let (_, changes) = server.get("/file/status").await;
    let mut changes: Vec<(String, String, u64, u64)> = changes
        .as_array()
        .expect("array")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().expect(k).to_string();
            (
                s("path"),
                s("status"),
                c["added"].as_u64().expect("added"),
                c["removed"].as_u64().expect("removed"),
            )
        })
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        [
            ("hello.txt".into(), "deleted".into(), 0, 2),
            ("notes.txt".into(), "modified".into(), 1, 0),
            ("untracked.txt".into(), "added".into(), 2, 0),
        ]
    );

    // Text search honours .gitignore and is ordered by path, then line.
    let (status, matches) = server.get("/find?pattern=gree%5Bt%5D").await;
    assert_eq!(status, 200);
    let found: Vec<(&str, u64)> = matches
        .as_array()
        .expect("array")
        .iter()
        .map(|m| {
            (
                m["path"]["text"].as_str().expect("path"),
                m["line_number"].as_u64().expect("line"),
            )
        })
        .collect();
    assert_eq!(found, [("notes.txt", 1), ("src/main.rs", 2)]);
    let first = &matches[0];
    assert_eq!(
        first["submatches"][0],
        json!({"match": {"text": "greet"}, "start": 12, "end": 17})
    );
    let (status, _) = server.get("/find?pattern=%28unclosed").await;
    assert_eq!(status, 400, "an invalid regex is the client's mistake");
    let (_, none) = server.get("/find?pattern=nothing_matches_this").await;
    assert_eq!(none, json!([]));

    let (_, files) = server.get("/find/file?query=main").await;
    assert_eq!(files, json!(["src/main.rs"]));
    let (_, dirs) = server.get("/find/file?query=src&type=directory").await;
    assert!(dirs.as_array().expect("array").contains(&json!("src/")), "{dirs}");
    let (status, _) = server.get("/find/file?query=main&limit=0").await;
    assert_eq!(status, 400);
    let (status, body) = server.get("/find/file").await;
    assert_eq!(
        (status, &body["data"]["message"]),
        (400, &json!("Missing key\n  at [\"query\"]"))
    );
    let (_, symbols) = server.get("/find/symbol?query=main").await;
    assert_eq!(symbols, json!([]));

    let (_, vcs) = server.get("/vcs").await;
    assert!(vcs["branch"].is_string(), "{vcs}");
    let (_, project) = server.get("/project/current").await;
    assert_eq!(
        project["id"].as_str().map(str::len),
        Some(40),
        "the root commit: {project}"
    );
    assert_eq!(project["worktree"], json!(env.project.to_string_lossy()));
    let id = project["id"].as_str().expect("a project id");
    let (status, directories) = server.get(&format!("/project/{id}/directories")).await;
    assert_eq!(status, 200, "{directories}");
    assert_eq!(directories, json!([{"directory": env.project.to_string_lossy()}]));
    for other in ["global", "0000000000000000000000000000000000000000"] {
        let (status, directories) = server.get(&format!("/project/{other}/directories")).await;
        assert_eq!((status, directories), (200, json!([])), "{other}");
    }
    let (_, path) = server.get("/path").await;
    assert_eq!(path["directory"], json!(env.project.to_string_lossy()));
}

#[tokio::test]
async fn file_paths_cannot_leave_the_project() {
    let env = TestEnv::new();
    std::os::unix::fs::symlink(&env.secret, env.project.join("link_out")).expect("link");
    let outside = env.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    std::os::unix::fs::symlink(&outside, env.project.join("dir_out")).expect("dir link");
    let server = env.serve();
    let secret = encode(&env.secret);
    for query in [
        "path=..%2Fsecret.txt".to_string(),
        "path=%2e%2e%2Fsecret.txt".into(),
        "path=src%2F..%2F..%2Fsecret.txt".into(),
        format!("path={secret}"),
        "path=%2Fetc%2Fpasswd".into(),
        "path=link_out".into(),
        "path=dir_out%2F".into(),
        "path=hello.txt%00.png".into(),
    ] {
        let (status, body) = server.get(&format!("/file/content?{query}")).await;
        assert_eq!(status, 403, "{query}: {body}");
        assert_eq!(body["name"], "ForbiddenError");
        let (status, _) = server.get(&format!("/file?{query}")).await;
        assert_eq!(status, 403, "list {query}");
    }
    // An absolute path inside the project is fine.
    let inside = encode(&env.project.join("hello.txt"));
    let (status, body) = server.get(&format!("/file/content?path={inside}")).await;
    assert_eq!((status, &body["content"]), (200, &json!("hello\nworld")));
}

#[tokio::test]
async fn config_is_read_and_patched_in_the_project_file() {
    let env = TestEnv::new();
    env.write(
        "opencode.jsonc",
        "{\n  // keep me\n  \"model\": \"a/b\",\n  \"custom\": {\"kept\": true},\n}\n",
    );
    let server = env.serve();
    let (status, config) = server.get("/config").await;
    assert_eq!(status, 200);
    assert_eq!(
        (&config["model"], &config["custom"]["kept"]),
        (&json!("a/b"), &json!(true))
    );
    assert_eq!(config["$schema"], "https://opencode.ai/config.json");
    let response = server
        .http
        .patch(server.url("/config"))
        .json(&json!({"model": "c/d", "share": "disabled"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let updated: serde_json::Value = response.json().await.expect("json");
    assert_eq!(
        (&updated["model"], &updated["share"], &updated["custom"]),
        (&json!("c/d"), &json!("disabled"), &json!({"kept": true}))
    );
    let text = std::fs::read_to_string(env.project.join("opencode.jsonc")).expect("file");
    assert!(text.contains("// keep me"), "{text}");
    let (_, again) = server.get("/config").await;
    assert_eq!(again["model"], "c/d");
    let response = server
        .http
        .patch(server.url("/config"))
        .json(&json!(["not", "an", "object"]))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400);
}

/// The files every `/vcs` test starts from, committed, in `dir`.
fn committed_tree(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("src")).expect("dirs");
    for (file, content) in [
        ("a.txt", "a\nb\nc\n"),
        ("gone.txt", "x\n"),
        ("src/keep.txt", "k\n"),
    ] {
        std::fs::write(dir.join(file), content).expect("write");
    }
    git(dir, &["init", "-q"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "init"]);
}

/// A project over [`committed_tree`] with a change of each kind: a file modified, one deleted,
/// one untracked, one staged, and an untracked binary file.
fn changed_tree() -> TestEnv {
    let env = TestEnv::new();
    std::fs::remove_file(env.project.join("hello.txt")).expect("remove");
    committed_tree(&env.project);
    env.write("a.txt", "a\nB\nc\nd\n");
    std::fs::remove_file(env.project.join("gone.txt")).expect("remove");
    env.write("new.txt", "n1\nn2\n");
    env.write("src/staged.txt", "staged\n");
    git(&env.project, &["add", "src/staged.txt"]);
    std::fs::write(env.project.join("blob.bin"), b"bin\0ary").expect("write");
    env
}

/// The same working tree as measured on the reference (OpenCode 1.18.33): what it answered.
#[tokio::test]
async fn vcs_status_lists_the_changes_as_the_reference_does() {
    let env = changed_tree();
    let server = env.serve();

    let (status, changes) = server.get("/vcs/status").await;
    assert_eq!(status, 200, "{changes}");
    assert_eq!(
        changes,
        json!([
            {"file": "a.txt", "additions": 2, "deletions": 1, "status": "modified"},
            {"file": "blob.bin", "additions": 0, "deletions": 0, "status": "added"},
            {"file": "gone.txt", "additions": 0, "deletions": 1, "status": "deleted"},
            {"file": "new.txt", "additions": 2, "deletions": 0, "status": "added"},
            {"file": "src/staged.txt", "additions": 1, "deletions": 0, "status": "added"},
        ])
    );
    let sub = env.project.join("src");
    let (status, changes) = server
        .get(&format!("/vcs/status?directory={}", sub.display()))
        .await;
    assert_eq!(status, 200, "{changes}");
    assert_eq!(
        changes,
        json!([{"file": "src/staged.txt", "additions": 1, "deletions": 0, "status": "added"}]),
        "only the directory's files, by their path from the repository's top"
    );
}

#[tokio::test]
async fn vcs_diff_gives_each_changed_file_its_patch_and_counts() {
    let env = changed_tree();
    let server = env.serve();

    let (status, diffs) = server.get("/vcs/diff?mode=git").await;
    assert_eq!(status, 200, "{diffs}");
    let summary: Vec<(&str, u64, u64, &str)> = diffs
        .as_array()
        .expect("a list")
        .iter()
        .map(|d| {
            (
                d["file"].as_str().expect("file"),
                d["additions"].as_u64().expect("additions"),
                d["deletions"].as_u64().expect("deletions"),
                d["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("a.txt", 2, 1, "modified"),
            ("blob.bin", 0, 0, "added"),
            ("gone.txt", 0, 1, "deleted"),
            ("new.txt", 2, 0, "added"),
            ("src/staged.txt", 1, 0, "added"),
        ],
        "the same files and counts as /vcs/status"
    );
    assert_eq!(
        diffs[0]["patch"],
        "diff --git a/a.txt b/a.txt\nindex de98044..a7bc997 100644\n--- a/a.txt\n+++ b/a.txt\n\
         @@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n"
    );
    assert!(
        diffs[3]["patch"]
            .as_str()
            .expect("patch")
            .starts_with("diff --git a/new.txt b/new.txt\nnew file mode 100644\n"),
        "{diffs}"
    );
    let (_, tight) = server.get("/vcs/diff?mode=git&context=0").await;
    assert!(
        tight[0]["patch"]
            .as_str()
            .expect("patch")
            .ends_with("@@ -2 +2 @@ a\n-b\n+B\n@@ -3,0 +4 @@ c\n+d\n"),
        "{tight}"
    );
    let (status, error) = server.get("/vcs/diff").await;
    assert_eq!(
        (status, &error["data"]["kind"]),
        (400, &json!("Query")),
        "{error}"
    );

    // On the default branch, `branch` mode has nothing; on a branch, what it committed and what
    // is not committed yet.
    let (_, on_default) = server.get("/vcs/diff?mode=branch").await;
    assert_eq!(on_default, json!([]));
    git(&env.project, &["checkout", "-qb", "feature"]);
    git(&env.project, &["add", "new.txt"]);
    git(&env.project, &["commit", "-qm", "feature work"]);
    let (_, branch) = server.get("/vcs/diff?mode=branch").await;
    let files: Vec<&str> = branch
        .as_array()
        .expect("a list")
        .iter()
        .map(|d| d["file"].as_str().expect("file"))
        .collect();
    assert_eq!(
        files,
        ["a.txt", "blob.bin", "gone.txt", "new.txt", "src/staged.txt"]
    );

    let outside = tempfile::tempdir().expect("a directory outside git");
    let (status, none) = server
        .get(&format!(
            "/vcs/diff?mode=git&directory={}",
            outside.path().display()
        ))
        .await;
    assert_eq!((status, none), (200, json!([])));
}

#[tokio::test]
async fn the_raw_diff_applies_to_another_checkout_exactly_once() {
    let env = TestEnv::new();
    std::fs::remove_file(env.project.join("hello.txt")).expect("remove");
    committed_tree(&env.project);
    env.write("a.txt", "a\nB\nc\nd\n");
    std::fs::remove_file(env.project.join("gone.txt")).expect("remove");
    env.write("new.txt", "n1\nn2\n");
    let binary: Vec<u8> = (0..=255u8).cycle().take(2000).collect();
    std::fs::write(env.project.join("blob.bin"), &binary).expect("write");
    let target = env.dir.path().join("target");
    committed_tree(&target);
    let server = env.serve();

    let response = server
        .http
        .get(server.url("/vcs/diff/raw"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "text/x-diff; charset=utf-8");
    let patch = response.text().await.expect("text");
    assert!(patch.contains("GIT binary patch"), "{patch}");

    let apply = format!("/vcs/apply?directory={}", target.display());
    let (status, applied) = server.post(&apply, json!({"patch": patch})).await;
    assert_eq!((status, &applied), (200, &json!({"applied": true})));
    for file in ["a.txt", "new.txt", "blob.bin", "src/keep.txt"] {
        assert_eq!(
            std::fs::read(target.join(file)).expect("applied file"),
            std::fs::read(env.project.join(file)).expect("source file"),
            "{file}"
        );
    }
    assert!(!target.join("gone.txt").exists());

    // Twice is refused, and changes nothing.
    let (status, error) = server.post(&apply, json!({"patch": patch})).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(
        (&error["name"], &error["data"]["reason"]),
        (&json!("VcsApplyError"), &json!("not-clean"))
    );
    assert_eq!(std::fs::read(target.join("blob.bin")).expect("kept"), binary);
    let outside = tempfile::tempdir().expect("a directory outside git");
    let (status, error) = server
        .post(
            &format!("/vcs/apply?directory={}", outside.path().display()),
            json!({"patch": patch}),
        )
        .await;
    assert_eq!(
        (status, &error["data"]["reason"]),
        (400, &json!("non-git")),
        "{error}"
    );
    let (status, _) = server.post(&apply, json!({"diff": patch})).await;
    assert_eq!(status, 400, "a body without `patch`");
}

#[tokio::test]
async fn a_project_s_name_icon_and_commands_are_updated_and_kept() {
    let env = TestEnv::new();
    committed_tree(&env.project);
    let server = env.serve();
    let (_, current) = server.get("/project/current").await;
    let id = current["id"].as_str().expect("an id").to_string();
    assert!(current.get("name").is_none(), "{current}");
    let mut events = SseStream::open(&server, "/event", None).await;

    let (status, updated) = server
        .patch(
            &format!("/project/{id}"),
            json!({"name": "Shop", "icon": {"color": "#ff0000"}, "commands": {"start": "npm i"}, "bogus": 1}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (
            &updated["id"],
            &updated["name"],
            &updated["icon"],
            &updated["commands"]
        ),
        (
            &json!(id),
            &json!("Shop"),
            &json!({"color": "#ff0000"}),
            &json!({"start": "npm i"})
        ),
        "{updated}"
    );
    assert!(updated["time"]["updated"].as_u64() >= current["time"]["updated"].as_u64());
    let seen = events.until(|e| e["type"] == "project.updated").await;
    assert_eq!(seen.last().expect("the event")["properties"]["name"], "Shop");

    // Fields not given stay; the icon's fields change one by one.
    let (_, again) = server
        .patch(
            &format!("/project/{id}"),
            json!({"icon": {"url": "https://example.com/i.png"}}),
        )
        .await;
    assert_eq!(
        again["icon"],
        json!({"url": "https://example.com/i.png", "color": "#ff0000"})
    );
    assert_eq!(again["name"], "Shop");
    let (_, listed) = server.get("/project").await;
    assert!(
        listed
            .as_array()
            .expect("a list")
            .iter()
            .any(|p| p["name"] == "Shop"),
        "{listed}"
    );
    drop(events);
    drop(server);

    // Kept across a restart.
    let server = env.serve();
    let (_, current) = server.get("/project/current").await;
    assert_eq!(
        (&current["name"], &current["commands"]["start"]),
        (&json!("Shop"), &json!("npm i"))
    );

    for (path, body, expected) in [
        ("/project/0123456789abcdef", json!({"name": "x"}), 404),
        ("/project/global", json!({"name": "x"}), 404),
        ("/project/..%2F..%2Fescape", json!({"name": "x"}), 404),
    ] {
        let (status, error) = server.patch(path, body).await;
        assert_eq!(status, expected, "{path}: {error}");
    }
    let (status, error) = server.patch(&format!("/project/{id}"), json!({"name": 5})).await;
    assert_eq!(status, 400, "{error}");
}

#[tokio::test]
async fn git_init_makes_the_directory_a_repository_once() {
    let env = TestEnv::new();
    let server = env.serve();
    let (_, before) = server.get("/project/current").await;
    assert_eq!(
        (&before["id"], before.get("vcs")),
        (&json!("global"), None),
        "{before}"
    );

    let (status, project) = server.post("/project/git/init", json!({})).await;
    assert_eq!(status, 200, "{project}");
    assert_eq!(
        (&project["id"], &project["vcs"], &project["worktree"]),
        (
            &json!("global"),
            &json!("git"),
            &json!(env.project.to_string_lossy())
        ),
        "no commit yet, so still the global id, as in the reference"
    );
    assert!(env.project.join(".git").is_dir());
    let (status, again) = server.post("/project/git/init", json!({})).await;
    assert_eq!((status, &again["worktree"]), (200, &project["worktree"]));
    let (_, current) = server.get("/project/current").await;
    assert_eq!(current["vcs"], "git");
}

#[tokio::test]
async fn the_global_config_is_read_and_patched_in_its_own_file() {
    let env = TestEnv::new();
    std::fs::create_dir_all(&env.paths.config).expect("config dir");
    let global = env.paths.config.join("opencode.jsonc");
    std::fs::write(
        &global,
        "{\n  // mine\n  \"username\": \"ada\",\n  \"provider\": {\"openai\": {\"options\": {\"apiKey\": \"sk-global\"}}},\n}\n",
    )
    .expect("write");
    env.write("opencode.json", r#"{"model": "a/b"}"#);
    let server = env.serve();

    let (status, config) = server.get("/global/config").await;
    assert_eq!(status, 200, "{config}");
    assert_eq!(config["$schema"], "https://opencode.ai/config.json");
    assert_eq!(config["username"], "ada");
    assert!(
        config.get("model").is_none(),
        "the project's keys stay out: {config}"
    );
    assert!(
        !config.to_string().contains("sk-global"),
        "keys never leave: {config}"
    );

    let (status, updated) = server
        .patch(
            "/global/config",
            json!({"username": "grace", "share": "disabled"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (&updated["username"], &updated["share"]),
        (&json!("grace"), &json!("disabled"))
    );
    let text = std::fs::read_to_string(&global).expect("file");
    assert!(text.contains("// mine") && text.contains("\"grace\""), "{text}");
    let (_, merged) = server.get("/config").await;
    assert_eq!(
        (&merged["username"], &merged["model"]),
        (&json!("grace"), &json!("a/b"))
    );

    // Neither a body that is not an object nor one that would stop every instance loading.
    let (status, _) = server.patch("/global/config", json!([1])).await;
    assert_eq!(status, 400);
    let (status, body) = server
        .patch("/global/config", json!({"wasmcode": {"session": {"bogus": 1}}}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        std::fs::read_to_string(&global).expect("file"),
        text,
        "the file is restored"
    );
    server.assert_healthy().await;
    let (status, _) = server.get("/config").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn log_validates_like_the_reference() {
    let env = TestEnv::new();
    let server = env.serve();
    let (status, body) = server
        .post(
            "/log",
            json!({"service": "probe", "level": "info", "message": "hi", "extra": {"k": 1}}),
        )
        .await;
    assert_eq!((status, body), (200, json!(true)));
    let (status, body) = server
        .post(
            "/log",
            json!({"service": "probe", "level": "loud", "message": "x"}),
        )
        .await;
    assert_eq!(status, 400);
    // samples/log_post_bad.json
    assert_eq!(
        body,
        json!({"name": "BadRequest", "data": {"message": "Expected \"debug\" | \"info\" | \"error\" | \"warn\", got \"loud\"\n  at [\"level\"]", "kind": "Payload"}})
    );
    for (path, expected) in [("/lsp", json!([])), ("/mcp", json!({}))] {
        assert_eq!(server.get(path).await, (200, expected), "{path}");
    }
    // The first-party formatters, in the reference's shape.
    let (status, formatters) = server.get("/formatter").await;
    assert_eq!(status, 200);
    for formatter in formatters.as_array().expect("a list") {
        let mut keys: Vec<&String> = formatter.as_object().expect("an object").keys().collect();
        keys.sort();
        assert_eq!(keys, ["enabled", "extensions", "name"], "{formatter}");
        assert!(
            formatter["extensions"]
                .as_array()
                .expect("extensions")
                .iter()
                .all(|e| e.as_str().is_some_and(|e| e.starts_with('.')))
        );
    }
}

#[tokio::test]
async fn the_tui_queue_carries_requests_to_a_polling_client() {
    let env = TestEnv::new();
    let server = env.serve();
    let waiting = server.http.get(server.url("/tui/control/next")).send();
    let poll = tokio::spawn(waiting);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (status, body) = server.post("/tui/append-prompt", json!({"text": "hello"})).await;
    assert_eq!((status, body), (200, json!(true)));
    let next: serde_json::Value = poll
        .await
        .expect("joined")
        .expect("answered")
        .json()
        .await
        .expect("json");
    assert_eq!(
        next,
        json!({"path": "/tui/append-prompt", "body": {"text": "hello"}})
    );
    let (status, _) = server
        .post("/tui/show-toast", json!({"message": "hi", "variant": "loud"}))
        .await;
    assert_eq!(status, 400);
    let (status, _) = server
        .post("/tui/show-toast", json!({"message": "hi", "variant": "success"}))
        .await;
    assert_eq!(status, 200);
    let (_, next) = server.get("/tui/control/next").await;
    assert_eq!(next["body"], json!({"message": "hi", "variant": "success"}));
    assert_eq!(
        server.post("/tui/control/response", json!({"ok": true})).await,
        (200, json!(true))
    );

    // `/tui/publish` takes the event itself, as `/event` carries it, and queues the same request
    // as the action's own route.
    let mut events = SseStream::open(&server, "/event", None).await;
    let toast = json!({"type": "tui.toast.show", "properties": {"message": "done", "variant": "info"}});
    assert_eq!(server.post("/tui/publish", toast).await, (200, json!(true)));
    let (_, next) = server.get("/tui/control/next").await;
    assert_eq!(
        next,
        json!({"path": "/tui/show-toast", "body": {"message": "done", "variant": "info"}})
    );
    let seen = events.until(|e| e["type"] == "tui.toast.show").await;
    assert_eq!(
        seen.last().map(|e| &e["properties"]),
        Some(&json!({"message": "done", "variant": "info"}))
    );
    let command = json!({"type": "tui.command.execute", "properties": {"command": "session.list"}});
    assert_eq!(server.post("/tui/publish", command).await, (200, json!(true)));
    let (_, next) = server.get("/tui/control/next").await;
    assert_eq!(next["path"], "/tui/execute-command");
    for bad in [
        json!({"type": "tui.nonsense", "properties": {}}),
        json!({"type": "tui.prompt.append", "properties": {}}),
        json!({"type": "tui.session.select", "properties": {"sessionID": "nope"}}),
    ] {
        let (status, body) = server.post("/tui/publish", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let missing =
        json!({"type": "tui.session.select", "properties": {"sessionID": "ses_0000000000000000000000000"}});
    let (status, body) = server.post("/tui/publish", missing).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn mdns_advertises_the_server() {
    let env = TestEnv::new();
    let server = env.serve_with(|c| {
        c.args(["--mdns", "--mdns-domain", "wasmcode-test.local"]);
    });
    server.assert_healthy().await;
    let port: u16 = server
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    // Browse on loopback only: the server listens there, and tests send nothing off the machine.
    let browser = mdns_sd::ServiceDaemon::new().expect("an mDNS browser");
    browser
        .disable_interface(mdns_sd::IfKind::All)
        .expect("interfaces");
    browser
        .enable_interface(mdns_sd::IfKind::LoopbackV4)
        .expect("loopback");
    let events = browser.browse("_http._tcp.local.").expect("browsing");
    let wanted = format!("opencode-{port}._http._tcp.local.");
    let found = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match events.recv_timeout(left) {
                Ok(mdns_sd::ServiceEvent::ServiceResolved(info)) if info.get_fullname() == wanted => {
                    return Some((info.get_port(), info.get_hostname().to_string()));
                }
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("joined");
    let _ = browser.shutdown();
    assert_eq!(
        found,
        Some((port, "wasmcode-test.local.".to_string())),
        "the service was not discovered"
    );
}

#[tokio::test]
async fn find_file_sees_files_created_after_the_first_query() {
    let env = TestEnv::new();
    env.write("src/alpha.rs", "");
    let server = env.serve();
    let (_, before) = server.get("/find/file?query=beta").await;
    assert_eq!(before, json!([]));
    env.write("src/beta.rs", "");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, found) = server.get("/find/file?query=beta").await;
        if found == json!(["src/beta.rs"]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the new file never appeared: {found}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    std::fs::remove_file(env.project.join("src/beta.rs")).expect("delete");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.get("/find/file?query=beta").await.1 != json!([]) {
        assert!(
            std::time::Instant::now() < deadline,
            "the deleted file is still listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
