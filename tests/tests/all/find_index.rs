//! `/find` answered from the trigram index, against the real binary: the same results as a scan
//! of the tree, and changes visible to the very next request.

use std::time::Duration;

use serde_json::{Value, json};
use wasmcode::project::ProjectRoot;

use crate::harness::{Server, TestEnv};

/// What a full scan of the project returns for `pattern`, as JSON.
fn scanned(env: &TestEnv, pattern: &str, limit: usize) -> Value {
    let root = ProjectRoot::open(&env.project).expect("project root");
    let matches = wasmcode::project::find::text(&root, pattern, Some(limit)).expect("valid pattern");
    serde_json::to_value(matches).expect("json")
}

async fn find(server: &Server, pattern: &str, limit: usize) -> Value {
    let encoded: String = url_encode(pattern);
    let (status, body) = server
        .get(&format!("/find?pattern={encoded}&limit={limit}"))
        .await;
    assert_eq!(status, 200, "/find?pattern={pattern}: {body}");
    body
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn paths(matches: &Value) -> Vec<String> {
    matches
        .as_array()
        .expect("array")
        .iter()
        .map(|m| {
            format!(
                "{}:{}",
                m["path"]["text"].as_str().expect("path"),
                m["line_number"]
            )
        })
        .collect()
}

/// A server whose index has been built: the first `/find` starts the build, which takes a few
/// milliseconds on these trees.
async fn indexed_server(env: &TestEnv) -> Server {
    let server = env.serve();
    find(&server, "warm_up_the_index", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    server
}

fn project_with_code(env: &TestEnv) {
    env.write("src/main.rs", "fn main() {\n    greet(\"world\");\n}\n");
    env.write(
        "src/lib.rs",
        "pub fn greet(name: &str) {\n    println!(\"Hello, {name}!\");\n}\n",
    );
    env.write("README.md", "# Greeter\nSay HELLO to the world.\n");
    env.write(".gitignore", "target/\n*.log\n");
    env.write("target/out.txt", "greet from the build output\n");
    env.write("debug.log", "greet in a log\n");
    env.write(".config/settings.json", "{\"greeting\": \"hello\"}\n");
    for i in 0..30 {
        env.write(
            &format!("pkg/mod_{i:02}.rs"),
            &format!("fn handler_{i:02}() -> u32 {{ {i} }}\n"),
        );
    }
}

#[tokio::test]
async fn find_answers_from_the_index_exactly_as_a_scan() {
    let env = TestEnv::new();
    project_with_code(&env);
    let server = indexed_server(&env).await;
    for pattern in [
        "greet",
        "(?i)hello",
        "fn handler_1[0-9]",
        "handler_(03|17|29)\\(",
        "greet.*world",
        "println!\\(",
        "zq9xk7_never_matches",
        "fn main|struct",
        "gr.et",
    ] {
        for limit in [1, 5, 1000] {
            assert_eq!(
                find(&server, pattern, limit).await,
                scanned(&env, pattern, limit),
                "/{pattern}/ limit {limit}"
            );
        }
    }
    // .gitignore is honoured, hidden files are searched, order is by path then line.
    assert_eq!(
        paths(&find(&server, "greet", 100).await),
        [".config/settings.json:1", "src/lib.rs:1", "src/main.rs:2"]
    );
}

#[tokio::test]
async fn find_sees_a_file_written_just_before_the_request() {
    let env = TestEnv::new();
    project_with_code(&env);
    let server = indexed_server(&env).await;
    for i in 0..10 {
        let name = format!("fresh/new_{i}.txt");
        env.write(&name, &format!("a freshly written needle_{i}\n"));
        // No sleep: the request itself must catch up with the write.
        assert_eq!(
            paths(&find(&server, &format!("needle_{i}"), 10).await),
            [format!("{name}:1")],
            "write {i}"
        );
    }
    // Rewritten in place.
    env.write("src/main.rs", "fn main() {}\n");
    assert_eq!(find(&server, "world", 10).await, scanned(&env, "world", 10));
    assert_eq!(paths(&find(&server, "greet\\(", 10).await), ["src/lib.rs:1"]);
}

#[tokio::test]
async fn find_forgets_deleted_files_and_follows_ignore_rules() {
    let env = TestEnv::new();
    project_with_code(&env);
    let server = indexed_server(&env).await;
    assert_eq!(paths(&find(&server, "handler_07", 10).await), ["pkg/mod_07.rs:1"]);
    std::fs::remove_file(env.project.join("pkg/mod_07.rs")).expect("delete");
    assert_eq!(find(&server, "handler_07", 10).await, json!([]));
    std::fs::remove_dir_all(env.project.join("pkg")).expect("delete");
    assert_eq!(find(&server, "handler_", 10).await, json!([]));

    // Ignoring a directory hides what was indexed in it; un-ignoring brings it back.
    env.write(".gitignore", "target/\n*.log\nsrc/\n");
    assert_eq!(find(&server, "greet", 10).await, scanned(&env, "greet", 10));
    assert_eq!(
        paths(&find(&server, "greet", 10).await),
        [".config/settings.json:1"]
    );
    env.write(".gitignore", "");
    assert_eq!(
        paths(&find(&server, "greet", 10).await),
        [
            ".config/settings.json:1",
            "debug.log:1",
            "src/lib.rs:1",
            "src/main.rs:2",
            "target/out.txt:1"
        ]
    );
}
