//! `bench-floor PORT`: answers `GET /global/health` as wasmcode does, with nothing else in the
//! way (no security layer, no instances, no router of 90 routes).

use axum::routing::get;
use axum::{Json, Router};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: bench-floor PORT");
    let health = || async { Json(serde_json::json!({"healthy": true, "version": "0.1.0"})) };
    let app = Router::new().route("/global/health", get(health));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
