//! The security rules, each as a request that must fail with the right status, against the
//! real binary: credentials, CORS, browser origins that may not change state, the Host header,
//! body size, and refusing to listen openly.

use base64::Engine as _;

use crate::harness::TestEnv;

fn basic(user_password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_password)
    )
}

#[tokio::test]
async fn a_password_protects_every_route() {
    let env = TestEnv::new();
    let server = env.serve_with(|c| {
        c.env("OPENCODE_SERVER_PASSWORD", "secret");
    });
    for path in ["/global/health", "/doc", "/experimental/tool/ids", "/nonexistent"] {
        let response = server.http.get(server.url(path)).send().await.expect("sent");
        assert_eq!(response.status().as_u16(), 401, "{path}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Basic realm=\"Secure Area\""
        );
    }
    let get = |auth: Option<String>| {
        let mut request = server.http.get(server.url("/global/health"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    assert_eq!(
        get(Some(basic("opencode:secret")))
            .await
            .expect("sent")
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        get(Some(basic("opencode:secret").replace("Basic", "basic")))
            .await
            .expect("sent")
            .status()
            .as_u16(),
        200
    );
    for wrong in [
        basic("opencode:wrong"),
        basic("admin:secret"),
        basic(":secret"),
        "Bearer secret".into(),
        "Basic %%%".into(),
    ] {
        assert_eq!(
            get(Some(wrong.clone())).await.expect("sent").status().as_u16(),
            401,
            "{wrong}"
        );
    }
    // EventSource clients pass the credentials in the query.
    let token = base64::engine::general_purpose::STANDARD.encode("opencode:secret");
    let response = server
        .http
        .get(server.url(&format!("/global/health?auth_token={token}")))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let response = server
        .http
        .get(server.url("/global/health?auth_token=secret"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn the_username_and_bearer_tokens_come_from_the_environment_and_config() {
    let env = TestEnv::new();
    env.write(
        "opencode.json",
        r#"{"server": {"auth": {"type": "bearer", "tokens": ["tok-abc"]}}}"#,
    );
    let server = env.serve_with(|c| {
        c.env("OPENCODE_SERVER_PASSWORD", "pw")
            .env("OPENCODE_SERVER_USERNAME", "alice");
    });
    let status = |auth: String| {
        let request = server
            .http
            .get(server.url("/global/health"))
            .header("authorization", auth);
        async move { request.send().await.expect("sent").status().as_u16() }
    };
    assert_eq!(status(basic("alice:pw")).await, 200);
    assert_eq!(status(basic("opencode:pw")).await, 401);
    assert_eq!(status("Bearer tok-abc".into()).await, 200);
    assert_eq!(status("Bearer tok-abd".into()).await, 401);
}

#[tokio::test]
async fn preflights_pass_without_credentials_and_origins_are_an_allowlist() {
    let env = TestEnv::new();
    let server = env.serve_with(|c| {
        c.env("OPENCODE_SERVER_PASSWORD", "secret")
            .args(["--cors", "https://app.example.com"]);
    });
    let preflight = |origin: &'static str| {
        server
            .http
            .request(reqwest::Method::OPTIONS, server.url("/session"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,authorization")
            .send()
    };
    let allowed = preflight("http://localhost:3000").await.expect("sent");
    assert_eq!(allowed.status().as_u16(), 204);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-methods"],
        "GET, HEAD, PUT, PATCH, POST, DELETE"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-headers"],
        "content-type,authorization"
    );
    assert_eq!(allowed.headers()["access-control-max-age"], "86400");
    let listed = preflight("https://app.example.com").await.expect("sent");
    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    for refused in ["http://example.test", "null", "https://app.example.com.evil.test"] {
        let response = preflight(refused).await.expect("sent");
        assert!(
            response.headers().get("access-control-allow-origin").is_none(),
            "{refused}"
        );
    }
    // A 401 to an allowed origin still carries CORS headers, so the page can read it.
    let response = server
        .http
        .get(server.url("/global/health"))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
}

#[tokio::test]
async fn a_foreign_origin_cannot_change_state_even_without_a_password() {
    let env = TestEnv::new();
    let server = env.serve();
    let post = |origin: &'static str| {
        server
            .http
            .post(server.url("/instance/dispose"))
            .header("origin", origin)
            .header("content-type", "text/plain")
            .body("{}")
            .send()
    };
    let refused = post("http://evil.test").await.expect("sent");
    assert_eq!(refused.status().as_u16(), 403);
    let body: serde_json::Value = refused.json().await.expect("json");
    assert_eq!(body["name"], "ForbiddenError");
    assert_eq!(
        post("http://localhost:5173")
            .await
            .expect("sent")
            .status()
            .as_u16(),
        200
    );
    // Reading is not changing state: a GET from anywhere is answered (without CORS headers).
    let read = server
        .http
        .get(server.url("/global/health"))
        .header("origin", "http://evil.test")
        .send()
        .await
        .expect("sent");
    assert_eq!(read.status().as_u16(), 200);
    assert!(read.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_foreign_host_header_is_refused_on_loopback() {
    let env = TestEnv::new();
    let server = env.serve();
    let response = server
        .http
        .get(server.url("/global/health"))
        .header("host", "attacker.example:4096")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 403);
    let response = server
        .http
        .get(server.url("/global/health"))
        .header("host", "localhost:4096")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let env = TestEnv::new();
    let server = env.serve();
    let big = format!("{{\"filePath\": \"{}\"}}", "x".repeat(33 << 20));
    let response = server
        .http
        .post(server.url("/v1/tools/read/execute"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 413);
}

#[test]
fn an_open_address_without_credentials_is_refused() {
    let env = TestEnv::new();
    let output = env
        .command()
        .args(["serve", "--hostname", "0.0.0.0", "--port", "0"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to listen") && stderr.contains("OPENCODE_SERVER_PASSWORD"),
        "{stderr}"
    );
}

#[tokio::test]
async fn unsupported_auth_types_stop_the_start_up() {
    let env = TestEnv::new();
    env.write("opencode.json", r#"{"server": {"auth": {"type": "magic"}}}"#);
    let output = env
        .command()
        .args(["serve", "--port", "0"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"magic\" is not supported"));
}
