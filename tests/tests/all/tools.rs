//! The first-party tools, run as components, against behaviour modelled on the reference's
//! (`read` windows and errors, `edit`'s exact-match errors, `grep` with `include`, `bash` exit
//! codes, timeouts and cancellation).

use std::time::{Duration, Instant};

use serde_json::json;
use wasmcode::runtime::{CallError, ToolFailure, ToolOutput};

use crate::harness::{TestEnv, call, first_party};

async fn run(env: &TestEnv, tool: &str, args: serde_json::Value) -> Result<ToolOutput, String> {
    let plugin = first_party(tool).await;
    match call(&plugin, &env.project, tool, args).await {
        Ok(output) => Ok(output),
        Err(CallError::Tool {
            kind: ToolFailure::Failed,
            message,
            ..
        }) => Err(message),
        Err(other) => panic!("{tool} did not run to a result: {other:?}"),
    }
}

fn abs(env: &TestEnv, relative: &str) -> String {
    env.project.join(relative).to_string_lossy().into_owned()
}

#[tokio::test]
async fn read_windows_a_file_with_offset_and_limit() {
    let env = TestEnv::new();
    let text: String = (1..=10).map(|n| format!("line {n}\n")).collect();
    env.write("ten.txt", &text);
    let output = run(
        &env,
        "read",
        json!({"filePath": abs(&env, "ten.txt"), "offset": 3, "limit": 2}),
    )
    .await;
    let output = output.expect("read succeeds");
    let expected = format!(
        "<path>{}</path>\n<type>file</type>\n<content>\n3: line 3\n4: line 4\n\n\
         (Showing lines 3-4 of 10. Use offset=5 to continue.)\n</content>",
        abs(&env, "ten.txt")
    );
    assert_eq!(output.output, expected);
    assert_eq!(output.title, "ten.txt");
    assert_eq!(output.metadata["truncated"], json!(true));

    let whole = run(&env, "read", json!({"filePath": "ten.txt"}))
        .await
        .expect("relative paths work");
    assert!(
        whole
            .output
            .ends_with("10: line 10\n\n(End of file - total 10 lines)\n</content>"),
        "{}",
        whole.output
    );
}

#[tokio::test]
async fn read_reports_errors_like_the_reference() {
    let env = TestEnv::new();
    env.write("ten.txt", "a\nb\n");
    env.write("image.bin", "\0\0\0binary");
    let out_of_range = run(&env, "read", json!({"filePath": "ten.txt", "offset": 20})).await;
    assert_eq!(
        out_of_range.expect_err("offset past the end"),
        "Offset 20 is out of range for this file (2 lines)"
    );
    // As the reference: entries whose name contains the missing name (or the reverse) are offered.
    let missing = run(&env, "read", json!({"filePath": "ten"}))
        .await
        .expect_err("no such file");
    assert_eq!(
        missing,
        format!(
            "File not found: {}\n\nDid you mean one of these?\n{}",
            abs(&env, "ten"),
            abs(&env, "ten.txt")
        )
    );
    let unrelated = run(&env, "read", json!({"filePath": "zzz.txt"}))
        .await
        .expect_err("no such file");
    assert_eq!(unrelated, format!("File not found: {}", abs(&env, "zzz.txt")));
    let binary = run(&env, "read", json!({"filePath": "image.bin"}))
        .await
        .expect_err("binary");
    assert_eq!(
        binary,
        format!("Cannot read binary file: {}", abs(&env, "image.bin"))
    );
    let outside = run(&env, "read", json!({"filePath": env.secret.to_string_lossy()}))
        .await
        .expect_err("outside");
    assert!(outside.contains("outside the project directory"), "{outside}");
}

#[tokio::test]
async fn edit_fails_when_old_string_is_missing_or_ambiguous() {
    let env = TestEnv::new();
    env.write("code.rs", "let a = 1;\nlet b = 1;\n");
    let path = abs(&env, "code.rs");
    let missing = run(
        &env,
        "edit",
        json!({"filePath": path, "oldString": "let c", "newString": "let d"}),
    )
    .await;
    assert!(
        missing
            .expect_err("not found")
            .contains("oldString not found in content")
    );
    let ambiguous = run(
        &env,
        "edit",
        json!({"filePath": path, "oldString": "= 1;", "newString": "= 2;"}),
    )
    .await;
    assert!(ambiguous.expect_err("ambiguous").contains(
        "Found multiple matches for oldString. Provide more surrounding lines in oldString to identify the correct match."
    ));
    let same = run(
        &env,
        "edit",
        json!({"filePath": path, "oldString": "a", "newString": "a"}),
    )
    .await;
    assert!(
        same.expect_err("identical")
            .contains("oldString and newString must be different")
    );
    assert_eq!(
        std::fs::read_to_string(env.project.join("code.rs")).expect("unchanged"),
        "let a = 1;\nlet b = 1;\n"
    );
}

#[tokio::test]
async fn edit_replaces_once_or_everywhere() {
    let env = TestEnv::new();
    env.write("code.rs", "let a = 1;\nlet b = 1;\n");
    let path = abs(&env, "code.rs");
    run(
        &env,
        "edit",
        json!({"filePath": path, "oldString": "let a = 1;", "newString": "let a = 10;"}),
    )
    .await
    .expect("unique match");
    run(
        &env,
        "edit",
        json!({"filePath": path, "oldString": "let", "newString": "const", "replaceAll": true}),
    )
    .await
    .expect("replace all");
    assert_eq!(
        std::fs::read_to_string(env.project.join("code.rs")).expect("edited"),
        "const a = 10;\nconst b = 1;\n"
    );
}

#[tokio::test]
async fn write_creates_files_and_directories() {
    let env = TestEnv::new();
    let output = run(
        &env,
        "write",
        json!({"filePath": abs(&env, "new/dir/file.txt"), "content": "made\n"}),
    )
    .await;
    assert_eq!(output.expect("write succeeds").output, "Wrote file successfully.");
    assert_eq!(
        std::fs::read_to_string(env.project.join("new/dir/file.txt")).expect("written"),
        "made\n"
    );
}

#[tokio::test]
async fn grep_filters_files_with_include() {
    let env = TestEnv::new();
    env.write("src/a.rs", "fn needle() {}\nfn other() {}\n");
    env.write("src/b.txt", "needle in text\n");
    let output = run(&env, "grep", json!({"pattern": "fn need(le)", "include": "*.rs"}))
        .await
        .expect("grep runs");
    assert_eq!(
        output.output,
        format!(
            "Found 1 matches\n{}:\n  Line 1: fn needle() {{}}",
            abs(&env, "src/a.rs")
        )
    );
    let all = run(&env, "grep", json!({"pattern": "needle"}))
        .await
        .expect("grep runs");
    assert!(all.output.starts_with("Found 2 matches"), "{}", all.output);
    let none = run(&env, "grep", json!({"pattern": "haystack"}))
        .await
        .expect("grep runs");
    assert_eq!(none.output, "No files found");
}

#[tokio::test]
async fn glob_and_list_find_files() {
    let env = TestEnv::new();
    env.write("src/a.rs", "");
    env.write("src/nested/b.rs", "");
    env.write("notes.md", "");
    let output = run(&env, "glob", json!({"pattern": "**/*.rs"}))
        .await
        .expect("glob runs");
    let mut found: Vec<&str> = output.output.lines().collect();
    found.sort_unstable();
    assert_eq!(found, [abs(&env, "src/a.rs"), abs(&env, "src/nested/b.rs")]);
    let listing = run(&env, "list", json!({})).await.expect("list runs").output;
    assert!(
        listing.contains("src/") && listing.contains("notes.md"),
        "{listing}"
    );
}

#[tokio::test]
async fn bash_reports_the_exit_code_and_output() {
    let env = TestEnv::new();
    let output = run(
        &env,
        "bash",
        json!({"command": "echo hello-from-bash; exit 3", "description": "greet"}),
    )
    .await
    .expect("a failing command is not a tool error");
    assert_eq!(output.metadata["exit"], json!(3));
    assert_eq!(output.metadata["truncated"], json!(false));
    assert!(output.output.contains("hello-from-bash"), "{}", output.output);
    let ok = run(&env, "bash", json!({"command": "pwd"})).await.expect("runs");
    assert_eq!(ok.metadata["exit"], json!(0));
    assert_eq!(ok.output.trim(), env.project.to_string_lossy());
}

#[tokio::test]
async fn bash_kills_a_command_at_its_timeout() {
    let env = TestEnv::new();
    let start = Instant::now();
    let output = run(&env, "bash", json!({"command": "sleep 30", "timeout": 300}))
        .await
        .expect("returns");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "not killed: {:?}",
        start.elapsed()
    );
    assert_eq!(output.metadata["exit"], json!(null));
    assert!(
        output
            .output
            .contains("terminated command after exceeding timeout 300 ms"),
        "{}",
        output.output
    );
}

#[tokio::test]
async fn cancelling_a_bash_call_kills_its_process_group() {
    let env = TestEnv::new();
    // A unique argument identifies the processes this test starts; a background job and a
    // process that ignores SIGTERM are both part of the group.
    let marker = format!("{}.{}", 40 + std::process::id() % 50, std::process::id() % 997);
    let command = format!("trap '' TERM; sleep {marker} & sleep {marker}");
    let plugin = first_party("bash").await;
    let call = call(&plugin, &env.project, "bash", json!({"command": command}));
    assert!(
        tokio::time::timeout(Duration::from_millis(700), call)
            .await
            .is_err(),
        "the call ended by itself"
    );
    let running = || {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &format!("sleep {marker}")])
            .output();
        out.map(|o| !o.stdout.is_empty()).unwrap_or(false)
    };
    let start = Instant::now();
    while running() && start.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!running(), "processes of a cancelled call are still running");
}

#[tokio::test]
async fn apply_patch_changes_several_files_all_or_nothing() {
    let env = TestEnv::new();
    env.write("src/lib.rs", "fn a() {\n    1\n}\n\nfn b() {\n    1\n}\n");
    env.write("old.txt", "going\n");
    env.write("rename_me.txt", "keep\nchange\n");
    let patch = "*** Begin Patch\n\
                 *** Add File: docs/new.md\n+# New\n+\n+text\n\
                 *** Update File: src/lib.rs\n@@ fn b() {\n-    1\n+    2\n\
                 *** Delete File: old.txt\n\
                 *** Update File: rename_me.txt\n*** Move to: renamed.txt\n keep\n-change\n+changed\n\
                 *** End Patch";
    let output = run(&env, "apply_patch", json!({"patchText": patch}))
        .await
        .expect("the patch applies");
    assert!(
        output.output.starts_with("Success. Updated the following files:"),
        "{}",
        output.output
    );
    let read = |p: &str| std::fs::read_to_string(env.project.join(p));
    assert_eq!(read("docs/new.md").expect("added"), "# New\n\ntext\n");
    assert_eq!(
        read("src/lib.rs").expect("updated"),
        "fn a() {\n    1\n}\n\nfn b() {\n    2\n}\n"
    );
    assert!(read("old.txt").is_err(), "deleted");
    assert!(read("rename_me.txt").is_err(), "moved away");
    assert_eq!(read("renamed.txt").expect("moved"), "keep\nchanged\n");
    let changed: Vec<&str> = output.metadata["changedFiles"]
        .as_array()
        .map(|files| files.iter().filter_map(|f| f.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(changed.len(), 5, "{}", output.metadata);

    // Three files, the third hunk does not match: nothing changes.
    let before: Vec<String> = ["src/lib.rs", "renamed.txt"]
        .iter()
        .map(|p| read(p).expect("there"))
        .collect();
    let broken = "*** Begin Patch\n\
                  *** Add File: more.txt\n+more\n\
                  *** Update File: src/lib.rs\n-    2\n+    3\n\
                  *** Update File: renamed.txt\n-not there\n+x\n\
                  *** End Patch";
    let error = run(&env, "apply_patch", json!({"patchText": broken}))
        .await
        .expect_err("the patch does not apply");
    assert!(
        error.contains("Failed to find expected lines in") && error.contains("renamed.txt"),
        "{error}"
    );
    assert!(read("more.txt").is_err(), "nothing was added");
    let after: Vec<String> = ["src/lib.rs", "renamed.txt"]
        .iter()
        .map(|p| read(p).expect("there"))
        .collect();
    assert_eq!(before, after, "nothing was changed");

    let error = run(&env, "apply_patch", json!({"patchText": "change everything"}))
        .await
        .expect_err("not a patch");
    assert!(error.contains("apply_patch verification failed"), "{error}");
}
