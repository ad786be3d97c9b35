//! Providers over loopback: `/config/providers` and `/provider` in the reference's shapes, keys
//! from the environment and from `PUT /auth/{providerID}` (stored 0600, never sent back), and
//! the OAuth endpoints' refusal.

use serde_json::{Value, json};

use crate::harness::{Server, TestEnv};

/// The provider block of the reference's prompt-flow runs (CONTRACT.md §5).
const FAKE_CONFIG: &str = r#"{"provider":{"fake":{"npm":"@ai-sdk/openai-compatible","name":"Fake Local",
  "options":{"baseURL":"http://127.0.0.1:8765/v1","apiKey":"sk-fake"},
  "models":{"fake-model":{"name":"Fake Model","tool_call":true,"limit":{"context":128000,"output":4096}}}}},
 "model":"fake/fake-model","small_model":"fake/fake-model"}"#;

/// Environment variables the catalogue reads keys from: the developer's own must not leak in.
const KEY_VARIABLES: [&str; 4] = [
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "OPENROUTER_API_KEY",
    "OPENCODE_ENABLE_EXPERIMENTAL_MODELS",
];

fn serve(env: &TestEnv, vars: &[(&str, &str)]) -> Server {
    env.serve_with(|command| {
        for name in KEY_VARIABLES {
            command.env_remove(name);
        }
        command.envs(vars.iter().copied());
    })
}

async fn put(server: &Server, path: &str, body: &str) -> (u16, Value) {
    let response = server
        .http
        .put(server.url(path))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("PUT reaches the server");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn delete(server: &Server, path: &str) -> (u16, Value) {
    let response = server
        .http
        .delete(server.url(path))
        .send()
        .await
        .expect("DELETE reaches the server");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn ids(providers: &Value) -> Vec<&str> {
    providers
        .as_array()
        .expect("a list of providers")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect()
}

#[tokio::test]
async fn the_fake_block_is_listed_in_the_reference_shape_without_its_key() {
    let env = TestEnv::new();
    env.write("opencode.json", FAKE_CONFIG);
    let server = serve(&env, &[]);
    let (status, body) = server.get("/config/providers").await;
    assert_eq!(status, 200, "{body}");
    // The reference's object (samples/config_providers_with_fake.json), minus `options.apiKey`.
    let expected = json!({
        "id": "fake", "name": "Fake Local", "source": "config", "env": [],
        "options": {"baseURL": "http://127.0.0.1:8765/v1"},
        "models": {"fake-model": {
            "id": "fake-model", "providerID": "fake",
            "api": {"id": "fake-model", "url": "", "npm": "@ai-sdk/openai-compatible"},
            "name": "Fake Model", "family": "",
            "capabilities": {"temperature": false, "reasoning": false, "attachment": false, "toolcall": true,
                "input": {"text": true, "audio": false, "image": false, "video": false, "pdf": false},
                "output": {"text": true, "audio": false, "image": false, "video": false, "pdf": false},
                "interleaved": false},
            "cost": {"input": 0.0, "output": 0.0, "cache": {"read": 0.0, "write": 0.0}},
            "limit": {"context": 128000, "output": 4096},
            "status": "active", "options": {}, "headers": {}, "release_date": "", "variants": {}
        }}
    });
    assert_eq!(
        body,
        json!({"providers": [expected], "default": {"fake": "fake-model"}})
    );

    let (status, list) = server.get("/provider").await;
    assert_eq!(status, 200);
    assert_eq!(
        ids(&list["all"]),
        ["fake", "openai", "anthropic", "openrouter", "ollama", "lmstudio"]
    );
    assert_eq!(list["connected"], json!(["fake"]));
    assert_eq!(list["default"]["fake"], "fake-model");
    assert_eq!(list["default"]["anthropic"], "claude-sonnet-4-5");
    assert_eq!(list["all"][0], expected);
    for (path, response) in [("/config/providers", &body), ("/provider", &list)] {
        assert!(!response.to_string().contains("sk-fake"), "{path} shows the key");
    }
}

#[tokio::test]
async fn an_environment_key_connects_openai() {
    let env = TestEnv::new();
    let server = serve(&env, &[("OPENAI_API_KEY", "sk-env-openai-0001")]);
    let (status, body) = server.get("/config/providers").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body["providers"]), ["openai"]);
    assert_eq!(body["providers"][0]["source"], "env");
    assert_eq!(body["providers"][0]["env"], json!(["OPENAI_API_KEY"]));
    assert_eq!(body["default"], json!({"openai": "gpt-5"}));
    let gpt41 = &body["providers"][0]["models"]["gpt-4.1"];
    assert_eq!(gpt41["api"]["npm"], "@ai-sdk/openai");
    assert_eq!(gpt41["limit"], json!({"context": 1047576, "output": 32768}));
    assert_eq!(gpt41["cost"]["input"], 2.0);
    let (_, list) = server.get("/provider").await;
    assert_eq!(list["connected"], json!(["openai"]));
    for response in [body, list] {
        assert!(!response.to_string().contains("sk-env-openai-0001"));
    }
}

#[tokio::test]
async fn a_stored_key_connects_everywhere_and_is_never_sent_back() {
    const KEY: &str = "sk-ant-stored-secret-0002";
    let env = TestEnv::new();
    let other = env.project.parent().expect("the env root").join("other");
    std::fs::create_dir_all(&other).expect("a second project");
    let other_query = format!("?directory={}", other.display());
    let server = serve(&env, &[]);
    // Both instances exist before the key is stored.
    let (_, before) = server.get("/provider").await;
    assert_eq!(before["connected"], json!([]));
    let (_, before_other) = server.get(&format!("/provider{other_query}")).await;
    assert_eq!(before_other["connected"], json!([]));

    let (status, body) = put(
        &server,
        "/auth/anthropic",
        &json!({"type": "api", "key": KEY}).to_string(),
    )
    .await;
    assert_eq!((status, &body), (200, &json!(true)));

    for query in ["", other_query.as_str()] {
        let (_, list) = server.get(&format!("/provider{query}")).await;
        assert_eq!(list["connected"], json!(["anthropic"]), "directory {query:?}");
        let (_, configured) = server.get(&format!("/config/providers{query}")).await;
        assert_eq!(ids(&configured["providers"]), ["anthropic"]);
        assert_eq!(configured["providers"][0]["source"], "api");
        assert_eq!(configured["default"], json!({"anthropic": "claude-sonnet-4-5"}));
    }
    for path in ["/provider", "/config/providers", "/provider/auth", "/config"] {
        let text = server
            .http
            .get(server.url(path))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("a body");
        assert!(!text.contains(KEY), "{path} shows the stored key");
    }

    let file = env.paths.data.join("auth.json");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file)
        .expect("auth.json exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "auth.json is private");
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("JSON");
    assert_eq!(stored, json!({"anthropic": {"type": "api", "key": KEY}}));

    let (status, body) = delete(&server, "/auth/anthropic").await;
    assert_eq!((status, &body), (200, &json!(true)));
    let (_, list) = server.get("/provider").await;
    assert_eq!(list["connected"], json!([]));
    let (status, body) = delete(&server, "/auth/anthropic").await;
    assert_eq!((status, &body), (200, &json!(true)), "removing nothing is fine");
}

#[tokio::test]
async fn every_kind_of_credentials_is_accepted_and_bad_bodies_are_400() {
    let env = TestEnv::new();
    let server = serve(&env, &[]);
    for good in [
        json!({"type": "oauth", "refresh": "r", "access": "a", "expires": 1}),
        json!({"type": "wellknown", "key": "K", "token": "t"}),
    ] {
        let (status, body) = put(&server, "/auth/openai", &good.to_string()).await;
        assert_eq!((status, &body), (200, &json!(true)), "{good}");
    }
    let (_, list) = server.get("/provider").await;
    assert_eq!(list["connected"], json!([]), "only API keys connect");
    // A key it does not know is ignored, as the reference ignores it.
    let lenient = json!({"type": "api", "key": "k", "extra": 1});
    let (status, body) = put(&server, "/auth/openai", &lenient.to_string()).await;
    assert_eq!((status, &body), (200, &json!(true)), "{lenient}");

    for bad in [
        "{not json",
        "{}",
        r#"{"type":"api"}"#,
        r#"{"type":"api","key":""}"#,
        r#"{"type":"bearer","key":"k"}"#,
        r#"["api","k"]"#,
    ] {
        let (status, body) = put(&server, "/auth/openai", bad).await;
        assert_eq!(
            (status, &body["name"]),
            (400, &json!("BadRequest")),
            "{bad}: {body}"
        );
        assert!(body["data"]["message"].is_string(), "{body}");
    }
    server.assert_healthy().await;
}

#[tokio::test]
async fn auth_methods_are_api_keys_and_oauth_is_refused_clearly() {
    let env = TestEnv::new();
    let server = serve(&env, &[]);
    let (status, methods) = server.get("/provider/auth").await;
    assert_eq!(status, 200);
    let (_, list) = server.get("/provider").await;
    let listed: Vec<&str> = methods
        .as_object()
        .expect("a map")
        .keys()
        .map(String::as_str)
        .collect();
    let mut all = ids(&list["all"]);
    all.sort_unstable();
    assert_eq!(listed, all);
    assert_eq!(methods["anthropic"], json!([{"type": "api", "label": "API key"}]));

    for step in ["authorize", "callback"] {
        let (status, body) = server
            .post(&format!("/provider/openai/oauth/{step}"), json!({"method": 0}))
            .await;
        assert_eq!(status, 400, "{step}: {body}");
        assert_eq!(body["name"], "ProviderAuthOauthMissing");
        let message = body["data"]["message"].as_str().expect("a message");
        assert!(message.contains("PUT /auth/openai"), "{message}");
    }
}

#[tokio::test]
async fn a_broken_provider_block_is_reported_and_an_unknown_package_is_not_connected() {
    let env = TestEnv::new();
    env.write(
        "opencode.json",
        r#"{"provider": {"gem": {"npm": "@ai-sdk/google", "options": {"apiKey": "sk-gem"}, "models": {"g": {}}}}}"#,
    );
    let server = serve(&env, &[]);
    let (status, list) = server.get("/provider").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&list["all"])[0], "gem", "listed");
    assert_eq!(list["connected"], json!([]), "but it cannot run");

    let broken = env.project.parent().expect("the env root").join("broken");
    std::fs::create_dir_all(&broken).expect("dir");
    std::fs::write(
        broken.join("opencode.json"),
        r#"{"provider": {"x": {"models": {"m": {"limit": {"context": "big"}}}}}}"#,
    )
    .expect("write");
    let (status, body) = server
        .get(&format!("/config/providers?directory={}", broken.display()))
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["data"]["message"].as_str().expect("a message");
    assert!(message.contains("provider `x`, model `m`"), "{message}");
    server.assert_healthy().await;
}
