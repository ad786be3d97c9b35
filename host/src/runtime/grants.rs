//! Capabilities: a component's imports declare what it wants, the operator grants, and the
//! host enforces at call time. An ungranted capability is still linked, but refuses with a
//! typed error the guest can handle, never a trap.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use wasmtime_wasi_http::WasiHttpHooks;

/// Access to the project directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsAccess {
    /// No preopened directory at all.
    None,
    /// The project root, preopened as `.`, read-only.
    #[default]
    Read,
    /// The project root, preopened as `.`, read-write.
    ReadWrite,
}

/// What the operator granted one plugin.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Grants {
    pub filesystem: FsAccess,
    /// `host:port` authorities the plugin may send HTTP requests to (`api.example.com:443`).
    pub http: BTreeSet<String>,
    /// Whether the plugin may run shell commands through `process.run`.
    pub process: bool,
}

impl Grants {
    pub fn read_only() -> Self {
        Self::default()
    }

    pub fn read_write() -> Self {
        Self {
            filesystem: FsAccess::ReadWrite,
            ..Self::default()
        }
    }

    pub fn shell() -> Self {
        Self {
            process: true,
            ..Self::default()
        }
    }
}

/// The `wasi:http` hook that lets requests through only to granted authorities.
pub struct HttpPolicy {
    plugin: std::sync::Arc<str>,
    allowed: BTreeSet<String>,
}

impl HttpPolicy {
    pub fn new(plugin: std::sync::Arc<str>, allowed: BTreeSet<String>) -> Self {
        Self { plugin, allowed }
    }

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

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                ),
                wasmtime_wasi_http::Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> ResponseFuture {
        if !self.allows(request.uri()) {
            tracing::warn!(plugin = %self.plugin, uri = %request.uri(), "outgoing HTTP request denied: host not granted");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_policy_matches_host_and_port() {
        let policy = HttpPolicy::new("p".into(), ["api.example.com:443".to_string()].into());
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
        let policy = HttpPolicy::new("openai".into(), [allowed].into());
        assert!(policy.allows(&"http://127.0.0.1:4000/v1/chat/completions".parse().expect("uri")));
        assert!(!policy.allows(&"http://127.0.0.1:4001/v1/chat/completions".parse().expect("uri")));
        assert!(!policy.allows(&"http://localhost:4000/v1".parse().expect("uri")));
    }
}
