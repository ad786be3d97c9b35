//! The HTTP capability, `wasi:http/outgoing-handler` (and `wasi:http/types`): a plugin may send
//! requests to the `host:port` authorities it was granted, and to nothing else. A request to any
//! other authority is refused before anything is sent, with the typed `http-request-denied` error
//! (and a warning in the server's log naming the plugin and the URL).
//!
//! Requests that pass go out through the runtime's [`client::Client`]: one pool of upstream
//! connections shared by every store, so a session's successive model calls reuse one connection.
//! The per-store state is the allowlist and wasmtime-wasi-http's context. This module must not
//! let a request out before the allowlist check, nor hand a connection whose response was not
//! read to its end back to the pool (`client.rs` and `body.rs` see to that).

mod body;
mod client;

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::component::Linker;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use super::{Capability, SetupError, StoreFor};
use crate::runtime::store::StoreState;

/// The HTTP capability, with the connection pool every store's requests share.
pub struct Http {
    client: client::Client,
}

impl Http {
    pub fn new() -> Result<Self, SetupError> {
        Ok(Self {
            client: client::Client::new()
                .map_err(|e| SetupError(format!("cannot set up the HTTP client: {e}")))?,
        })
    }
}

/// A store's HTTP capability: wasmtime-wasi-http's context and the policy its requests pass.
pub struct HttpState {
    ctx: WasiHttpCtx,
    policy: Policy,
}

impl HttpState {
    /// The store is going away: requests still in flight are aborted, and their connections
    /// closed rather than drained for reuse.
    pub fn abandon(&mut self) {
        self.policy.life = None;
    }
}

impl Capability for Http {
    type State = HttpState;

    fn link(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
    }

    fn prepare(&self, store: &StoreFor<'_>, _wasi: &mut WasiCtxBuilder) -> Result<HttpState, SetupError> {
        Ok(HttpState {
            ctx: WasiHttpCtx::new(),
            policy: Policy {
                plugin: store.plugin.clone(),
                allowed: store.grants.http.clone(),
                client: self.client.clone(),
                life: None,
            },
        })
    }
}

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.capabilities.http.ctx,
            table: &mut self.table,
            hooks: &mut self.capabilities.http.policy,
        }
    }
}

/// The `wasi:http` hooks of one store: requests go only to granted authorities, through the
/// shared client.
struct Policy {
    plugin: Arc<str>,
    allowed: BTreeSet<String>,
    client: client::Client,
    /// Held while the store lives, from its first request on: response bodies hold a weak
    /// reference, and one dropped while the store lives (the guest is done with it) is drained
    /// so its connection can be reused; one dropped with the store is cut.
    life: Option<Arc<()>>,
}

impl Policy {
    fn allows(&self, uri: &http::Uri) -> bool {
        authority(uri).is_some_and(|authority| self.allowed.contains(&authority))
    }
}

/// The `host:port` a URI reaches, with the scheme's default port when it names none: the unit
/// of an HTTP grant.
fn authority(uri: &http::Uri) -> Option<String> {
    let host = uri.host()?;
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") { 80 } else { 443 });
    Some(format!("{host}:{port}"))
}

/// The authority an API base URL grants (`https://api.openai.com/v1` → `api.openai.com:443`), or
/// why it cannot be used as one.
pub fn base_url_authority(url: &str) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("it must start with http:// or https://".into()),
    }
    authority(&uri).ok_or_else(|| "it has no host".into())
}

/// What `send_request` returns: the response (or why there is none) and a future for the
/// connection's own errors.
type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                ),
                wasmtime_wasi_http::Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for Policy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> ResponseFuture {
        if !self.allows(request.uri()) {
            tracing::warn!(plugin = %self.plugin, uri = %request.uri(), "outgoing HTTP request denied: host not granted");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let client = self.client.clone();
        let life = Arc::downgrade(self.life.get_or_insert_with(|| Arc::new(())));
        Box::new(async move {
            let response = client.send(request, options.unwrap_or_default(), life).await?;
            // The connection is driven by the pool, not by this exchange: nothing to report here.
            let connection = Box::new(async { Ok(()) })
                as Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;
            Ok((response, connection))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> Policy {
        Policy {
            plugin: "p".into(),
            allowed: allowed.iter().map(|a| a.to_string()).collect(),
            client: client::Client::new().expect("a client"),
            life: None,
        }
    }

    #[test]
    fn the_policy_matches_host_and_port() {
        let policy = policy(&["api.example.com:443"]);
        assert!(policy.allows(&"https://api.example.com/v1".parse().expect("uri")));
        assert!(!policy.allows(&"http://api.example.com/v1".parse().expect("uri")));
        assert!(!policy.allows(&"https://evil.example.com/".parse().expect("uri")));
    }

    #[test]
    fn base_urls_grant_their_authority() {
        assert_eq!(
            base_url_authority("https://api.openai.com/v1").as_deref(),
            Ok("api.openai.com:443")
        );
        assert_eq!(
            base_url_authority("http://127.0.0.1:11434/v1/").as_deref(),
            Ok("127.0.0.1:11434")
        );
        assert_eq!(
            base_url_authority("http://[::1]:8080").as_deref(),
            Ok("[::1]:8080")
        );
        assert!(base_url_authority("ftp://example.com/").is_err());
        assert!(base_url_authority("/v1").is_err());
        assert!(base_url_authority("not a url").is_err());
    }

    #[test]
    fn a_policy_for_one_base_url_refuses_every_other_authority() {
        let allowed = base_url_authority("http://127.0.0.1:4000/v1").expect("valid");
        let policy = policy(&[&allowed]);
        assert!(policy.allows(&"http://127.0.0.1:4000/v1/chat/completions".parse().expect("uri")));
        assert!(!policy.allows(&"http://127.0.0.1:4001/v1/chat/completions".parse().expect("uri")));
        assert!(!policy.allows(&"http://localhost:4000/v1".parse().expect("uri")));
    }

    #[tokio::test]
    async fn a_denied_request_never_reaches_the_client() {
        let mut policy = policy(&["127.0.0.1:1"]);
        let request = http::Request::builder()
            .uri("http://127.0.0.1:2/")
            .body(client::empty_body())
            .expect("a request");
        let sent = Box::into_pin(policy.send_request(request, None, Box::new(async { Ok(()) }))).await;
        assert!(matches!(sent, Err(wasmtime_wasi_http::Error::HttpRequestDenied)));
        assert!(policy.life.is_none(), "nothing was sent");
    }
}
