//! Sessions over loopback against the real binary, without a model: create, list, get, update,
//! delete, children, fork, todo, status, abort, messages stored with `noReply`, agents,
//! commands, and the error shapes of the reference.

use serde_json::{Value, json};

use crate::harness::{Server, TestEnv};

/// A provider block whose upstream is never called by these tests.
const OFFLINE_PROVIDER: &str = r#"{"provider":{"fake":{"npm":"@ai-sdk/openai-compatible","name":"Fake",
  "options":{"baseURL":"http://127.0.0.1:9/v1","apiKey":"sk-fake"},
  "models":{"fake-model":{"name":"Fake Model","tool_call":true,"limit":{"context":128000,"output":4096}}}}},
  "model":"fake/fake-model"}"#;

fn serve() -> (TestEnv, Server) {
    let env = TestEnv::new();
    env.write("opencode.json", OFFLINE_PROVIDER);
    let server = env.serve();
    (env, server)
}

fn assert_session_shape(session: &Value) {
    let id = session["id"].as_str().expect("an id");
    assert!(id.starts_with("ses_") && id.len() == 30, "{id}");
    for key in [
        "slug",
        "projectID",
        "directory",
        "path",
        "cost",
        "tokens",
        "title",
        "version",
        "time",
    ] {
        assert!(session.get(key).is_some(), "missing {key} in {session}");
    }
    assert_eq!(
        session["tokens"],
        json!({"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}})
    );
    assert_eq!(session["time"]["created"], session["time"]["updated"]);
}

#[tokio::test]
async fn sessions_are_created_listed_updated_and_deleted() {
    let (env, server) = serve();
    // No body at all, as `opencode run` clients may send.
    let response = server
        .http
        .post(server.url("/session"))
        .send()
        .await
        .expect("POST /session");
    assert_eq!(response.status().as_u16(), 200);
    let first: Value = response.json().await.expect("a session");
    assert_session_shape(&first);
    assert!(
        first["title"]
            .as_str()
            .expect("a title")
            .starts_with("New session - ")
    );
    assert_eq!(first["directory"], json!(env.project.display().to_string()));
    assert_eq!(first["path"], "");

    let (status, titled) = server
        .post("/session", json!({"title": "probe session", "permission": [{"permission": "bash", "pattern": "*", "action": "ask"}]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(titled["title"], "probe session");
    assert_eq!(
        titled["permission"],
        json!([{"permission": "bash", "pattern": "*", "action": "ask"}])
    );
    let id = titled["id"].as_str().expect("id").to_string();

    let (status, child) = server
        .post("/session", json!({"parentID": id, "title": "child one"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(child["parentID"], json!(id));

    // Newest first; `roots` drops the child; `search` filters by title.
    let (_, list) = server.get("/session").await;
    let ids: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            child["id"].as_str().expect("id"),
            &id,
            first["id"].as_str().expect("id")
        ]
    );
    let (_, roots) = server.get("/session?roots=true").await;
    assert_eq!(roots.as_array().expect("a list").len(), 2);
    let (_, found) = server.get("/session?search=PROBE").await;
    assert_eq!(found.as_array().expect("a list").len(), 1);
    let (_, limited) = server.get("/session?limit=1").await;
    assert_eq!(limited.as_array().expect("a list").len(), 1);
    let (_, children) = server.get(&format!("/session/{id}/children")).await;
    assert_eq!(children[0]["id"], child["id"]);

    // A title change does not bump `time.updated` (as the reference).
    let (status, renamed) = server
        .patch(&format!("/session/{id}"), json!({"title": "renamed"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["title"], "renamed");
    assert_eq!(renamed["time"], titled["time"]);
    let (_, fetched) = server.get(&format!("/session/{id}")).await;
    assert_eq!(fetched, renamed);

    let (_, todo) = server.get(&format!("/session/{id}/todo")).await;
    assert_eq!(todo, json!([]));
    let (_, status_map) = server.get("/session/status").await;
    assert_eq!(status_map, json!({}));
    let (status, aborted) = server.post(&format!("/session/{id}/abort"), json!({})).await;
    assert_eq!((status, aborted), (200, json!(true)));

    // Deleting the parent deletes the child too; a second delete is a 404.
    let (status, deleted) = server.delete(&format!("/session/{id}")).await;
    assert_eq!((status, deleted), (200, json!(true)));
    let (status, _) = server
        .get(&format!("/session/{}", child["id"].as_str().expect("id")))
        .await;
    assert_eq!(status, 404);
    let (status, body) = server.delete(&format!("/session/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"name": "NotFoundError", "data": {"message": format!("Session not found: {id}")}})
    );
}

#[tokio::test]
async fn bad_ids_and_bodies_are_client_errors() {
    let (_env, server) = serve();
    let (status, body) = server.get("/session/abc").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["name"], "BadRequest");
    let (status, body) = server.get("/session/ses_doesnotexist").await;
    assert_eq!((status, body["name"].as_str()), (404, Some("NotFoundError")));
    let (status, body) = server
        .post(
            "/session/ses_nope/message",
            json!({"parts": [{"type": "text", "text": "x"}]}),
        )
        .await;
    assert_eq!((status, body["name"].as_str()), (404, Some("NotFoundError")));

    let (_, session) = server.post("/session", json!({})).await;
    let id = session["id"].as_str().expect("id");
    let (status, body) = server.post(&format!("/session/{id}/message"), json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(body["data"]["kind"], "Payload");
    let (status, _) = server
        .post(
            &format!("/session/{id}/message"),
            json!({"parts": [{"type": "text", "text": "x"}], "agent": "nobody"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = server.patch(&format!("/session/{id}"), json!({"title": 5})).await;
    assert_eq!(status, 400);

    let (status, body) = server
        .post("/permission/per_unknown/reply", json!({"reply": "once"}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"_tag": "PermissionNotFoundError", "requestID": "per_unknown",
               "message": "Permission request not found: per_unknown"})
    );
    let (status, body) = server
        .post("/permission/per_unknown/reply", json!({"reply": "maybe"}))
        .await;
    assert_eq!((status, body["name"].as_str()), (400, Some("BadRequest")));
    let (status, permissions) = server.get("/permission").await;
    assert_eq!((status, permissions), (200, json!([])));
}

#[tokio::test]
async fn no_reply_prompts_are_stored_and_forks_copy_them() {
    let (_env, server) = serve();
    let (_, session) = server.post("/session", json!({"title": "stored"})).await;
    let id = session["id"].as_str().expect("id");
    let (status, stored) = server
        .post(
            &format!("/session/{id}/message"),
            json!({"noReply": true, "parts": [{"type": "text", "text": "just store this"}]}),
        )
        .await;
    assert_eq!(status, 200, "{stored}");
    let info = &stored["info"];
    assert_eq!(info["role"], "user");
    assert_eq!(info["agent"], "build");
    assert_eq!(
        info["model"],
        json!({"providerID": "fake", "modelID": "fake-model"})
    );
    assert_eq!(stored["parts"][0]["text"], "just store this");
    assert_eq!(stored["parts"][0]["messageID"], info["id"]);

    let (_, messages) = server.get(&format!("/session/{id}/message")).await;
    assert_eq!(messages, json!([stored]));
    let message_id = info["id"].as_str().expect("message id");
    let (_, one) = server.get(&format!("/session/{id}/message/{message_id}")).await;
    assert_eq!(one, stored);
    let (_, after) = server.get(&format!("/session/{id}")).await;
    assert_eq!(after["agent"], "build");
    assert_eq!(
        after["model"],
        json!({"id": "fake-model", "providerID": "fake", "variant": "default"})
    );

    let (status, forked) = server.post(&format!("/session/{id}/fork"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(forked["title"], "stored (fork #1)");
    let forked_id = forked["id"].as_str().expect("id");
    let (_, copied) = server.get(&format!("/session/{forked_id}/message")).await;
    assert_eq!(copied[0]["parts"][0]["text"], "just store this");
    assert_ne!(copied[0]["info"]["id"], stored["info"]["id"]);
    let (status, _) = server
        .post(
            &format!("/session/{id}/fork"),
            json!({"messageID": "msg_unknown"}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn agents_and_commands_are_listed() {
    let env = TestEnv::new();
    env.write(
        "opencode.json",
        r#"{"agent": {"reviewer": {"description": "Reviews code", "mode": "subagent"}},
            "command": {"hello": {"template": "Say hello to $ARGUMENTS", "description": "greets"}}}"#,
    );
    env.write(
        ".opencode/command/fix.md",
        "---\ndescription: fix it\n---\nFix $1 please\n",
    );
    let server = env.serve();
    let (status, agents) = server.get("/agent").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = agents
        .as_array()
        .expect("a list")
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    for expected in ["build", "plan", "general", "explore", "title", "reviewer"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let build = agents
        .as_array()
        .expect("list")
        .iter()
        .find(|a| a["name"] == "build")
        .expect("build");
    assert_eq!(build["mode"], "primary");
    assert_eq!(
        build["permission"][0],
        json!({"permission": "*", "pattern": "*", "action": "allow"})
    );

    let (status, commands) = server.get("/command").await;
    assert_eq!(status, 200);
    let find = |name: &str| {
        commands
            .as_array()
            .expect("a list")
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("command {name} missing"))
    };
    assert_eq!(find("init")["source"], "command");
    assert_eq!(find("hello")["description"], "greets");
    assert_eq!(find("fix")["template"], "Fix $1 please");
    assert_eq!(find("fix")["hints"], json!(["$1"]));
}
