//! The server's front door, one middleware in a fixed order: CORS preflights are answered
//! (without credentials, as browsers send them), then the `Host` header is checked on loopback
//! binds (DNS rebinding), then a browser `Origin` that is not allowed may not change state,
//! then credentials are checked. Allowed origins get CORS headers on every response.

use std::collections::BTreeSet;
use std::net::IpAddr;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::api::error::ApiError;

const DEFAULT_METHODS: &str = "GET, HEAD, PUT, PATCH, POST, DELETE";

/// Who may call the server, and from where.
#[derive(Debug, Clone, Default)]
pub struct SecurityPolicy {
    /// Basic auth `(user, password)`, from `OPENCODE_SERVER_PASSWORD` / `OPENCODE_SERVER_USERNAME`.
    pub basic: Option<(String, String)>,
    /// Bearer tokens from the configuration's `server.auth`.
    pub bearer_tokens: Vec<String>,
    /// Browser origins allowed besides localhost ones (`--cors`, `server.cors.origins`), exact.
    pub origins: BTreeSet<String>,
    /// `server.cors.methods`, answered to preflights (default: every method the API uses).
    pub cors_methods: Option<String>,
    /// `server.cors.headers`, answered to preflights (default: echo what was asked).
    pub cors_headers: Option<String>,
    /// When listening on loopback: the `Host` values accepted (host names without port).
    pub allowed_hosts: Option<BTreeSet<String>>,
}

/// The configuration's `server` section (OpenCode's keys; unknown ones are ignored here and kept
/// in the configuration).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServerSettings {
    pub port: Option<u16>,
    #[serde(alias = "hostname")]
    pub host: Option<String>,
    pub cors: CorsSettings,
    pub auth: Option<AuthSettings>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CorsSettings {
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub tokens: Vec<String>,
}

impl SecurityPolicy {
    pub fn has_credentials(&self) -> bool {
        self.basic.is_some() || !self.bearer_tokens.is_empty()
    }

    /// Localhost origins (any port, http or https, and the desktop app's) and the listed ones.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        if self.origins.contains(origin) {
            return true;
        }
        if matches!(
            origin,
            "tauri://localhost" | "http://tauri.localhost" | "https://tauri.localhost"
        ) {
            return true;
        }
        let Ok(uri) = origin.parse::<axum::http::Uri>() else {
            return false;
        };
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        let path_ok = uri.path() == "/" || uri.path().is_empty();
        scheme_ok && path_ok && uri.host().is_some_and(is_loopback_host) && uri.query().is_none()
    }

    fn credentials_ok(&self, headers: &HeaderMap, query: Option<&str>) -> bool {
        if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            let rest = rest.trim();
            if scheme.eq_ignore_ascii_case("basic") {
                return self.basic_ok(rest);
            }
            if scheme.eq_ignore_ascii_case("bearer") {
                return self
                    .bearer_tokens
                    .iter()
                    .any(|t| constant_time_eq(t.as_bytes(), rest.as_bytes()));
            }
            return false;
        }
        // EventSource cannot set headers: `?auth_token=<base64(user:password)>` instead.
        query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|pair| pair.strip_prefix("auth_token="))
            .any(|token| {
                let token = percent_encoding::percent_decode_str(token).decode_utf8_lossy();
                self.basic_ok(&token)
            })
    }

    fn basic_ok(&self, encoded: &str) -> bool {
        let Some((user, password)) = &self.basic else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Some(split) = decoded.iter().position(|&b| b == b':') else {
            return false;
        };
        let (given_user, given_password) = (&decoded[..split], &decoded[split + 1..]);
        // Both compared in full, always, so timing tells nothing about which one was wrong.
        let user_ok = constant_time_eq(user.as_bytes(), given_user);
        let password_ok = constant_time_eq(password.as_bytes(), given_password);
        user_ok & password_ok
    }

    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(allowed) = &self.allowed_hosts else {
            return true;
        };
        let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
            // HTTP/1.0 without Host: nothing a browser would send.
            return true;
        };
        let name = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(v6),
            None => host.rsplit_once(':').map_or(host, |(name, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    name
                } else {
                    host
                }
            }),
        };
        let name = name.to_ascii_lowercase();
        is_loopback_host(&name) || allowed.contains(&name)
    }
}

fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    // `ct_eq` on slices of different lengths returns false without comparing contents; the
    // length of the secret is not what we protect.
    bool::from(expected.ct_eq(given))
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether an address is loopback (so the server may run without credentials on it).
pub fn is_loopback_addr(addr: &std::net::SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Whether a request may change state: every method but the safe ones, and a WebSocket handshake
/// (a terminal's socket types into a shell), which a browser sends as a GET from any page.
fn is_state_changing(method: &Method, headers: &HeaderMap) -> bool {
    let websocket = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    websocket || !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A terminal connect carrying a ticket (`/pty/{id}/connect?ticket=…`): a browser's WebSocket
/// cannot send credentials, so the ticket stands for them and the handler checks it.
fn carries_terminal_ticket(uri: &axum::http::Uri) -> bool {
    let mut segments = uri.path().trim_start_matches('/').split('/');
    let is_connect = matches!(
        (segments.next(), segments.next(), segments.next(), segments.next()),
        (Some("pty"), Some(id), Some("connect"), None) if !id.is_empty()
    );
    is_connect
        && uri
            .query()
            .into_iter()
            .flat_map(|q| q.split('&'))
            .any(|pair| pair.strip_prefix("ticket=").is_some_and(|t| !t.is_empty()))
}

pub async fn layer(
    State(policy): State<std::sync::Arc<SecurityPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let allowed_origin = origin
        .as_deref()
        .filter(|o| policy.origin_allowed(o))
        .map(String::from);

    if request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(&policy, request.headers(), allowed_origin.as_deref());
    }

    let refusal = if !policy.host_allowed(request.headers()) {
        Some(ApiError::new(
            StatusCode::FORBIDDEN,
            "ForbiddenError",
            "Host header does not name this server (possible DNS rebinding); use localhost or 127.0.0.1",
        ))
    } else if origin.is_some()
        && allowed_origin.is_none()
        && is_state_changing(request.method(), request.headers())
    {
        Some(ApiError::new(
            StatusCode::FORBIDDEN,
            "ForbiddenError",
            format!(
                "origin {} may not change state on this server; allow it with --cors or server.cors.origins",
                origin.as_deref().unwrap_or_default()
            ),
        ))
    } else if policy.has_credentials()
        && !carries_terminal_ticket(request.uri())
        && !policy.credentials_ok(request.headers(), request.uri().query())
    {
        Some(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedError",
            "Authentication required",
        ))
    } else {
        None
    };

    let mut response = match refusal {
        Some(error) => {
            let unauthorized = error.status == StatusCode::UNAUTHORIZED;
            let mut response = error.into_response();
            if unauthorized {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Secure Area\""),
                );
            }
            response
        }
        None => next.run(request).await,
    };
    add_cors_headers(response.headers_mut(), allowed_origin.as_deref());
    response
}

fn preflight(policy: &SecurityPolicy, headers: &HeaderMap, allowed_origin: Option<&str>) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .unwrap_or_default();
    let out = response.headers_mut();
    let methods = policy.cors_methods.as_deref().unwrap_or(DEFAULT_METHODS);
    if let Ok(value) = HeaderValue::from_str(methods) {
        out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, value);
    }
    let asked = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
    let allow_headers = match &policy.cors_headers {
        Some(list) => HeaderValue::from_str(list).ok(),
        None => asked,
    };
    if let Some(value) = allow_headers {
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
    }
    out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    add_cors_headers(out, allowed_origin);
    out.insert(
        header::VARY,
        HeaderValue::from_static("Access-Control-Request-Headers, Origin"),
    );
    response
}

fn add_cors_headers(headers: &mut HeaderMap, allowed_origin: Option<&str>) {
    if let Some(origin) = allowed_origin
        && let Ok(value) = HeaderValue::from_str(origin)
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SecurityPolicy {
        SecurityPolicy {
            basic: Some(("opencode".into(), "secret".into())),
            bearer_tokens: vec!["tok-1".into()],
            origins: ["https://app.example.com".to_string()].into(),
            allowed_hosts: Some(BTreeSet::new()),
            ..SecurityPolicy::default()
        }
    }

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("ascii"),
        );
        headers
    }

    #[test]
    fn origins_are_an_exact_allowlist() {
        let p = policy();
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1:5173",
            "https://localhost",
            "tauri://localhost",
            "https://app.example.com",
        ] {
            assert!(p.origin_allowed(ok), "{ok}");
        }
        for bad in [
            "http://example.test",
            "null",
            "https://app.example.com.evil.test",
            "http://localhost.evil.test",
            "https://app.example.com:444",
        ] {
            assert!(!p.origin_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn basic_bearer_and_query_credentials() {
        let p = policy();
        let good = base64::engine::general_purpose::STANDARD.encode("opencode:secret");
        assert!(p.credentials_ok(&with_auth(&format!("Basic {good}")), None));
        assert!(p.credentials_ok(&with_auth(&format!("basic {good}")), None));
        assert!(p.credentials_ok(&with_auth("Bearer tok-1"), None));
        assert!(p.credentials_ok(&HeaderMap::new(), Some(&format!("x=1&auth_token={good}"))));
        let wrong_user = base64::engine::general_purpose::STANDARD.encode("admin:secret");
        let empty_user = base64::engine::general_purpose::STANDARD.encode(":secret");
        for bad in [
            format!("Basic {wrong_user}"),
            format!("Basic {empty_user}"),
            "Bearer secret".into(),
            "Basic !!".into(),
            "tok-1".into(),
        ] {
            assert!(!p.credentials_ok(&with_auth(&bad), None), "{bad}");
        }
        assert!(!p.credentials_ok(&HeaderMap::new(), Some("auth_token=secret")));
        assert!(!p.credentials_ok(&HeaderMap::new(), None));
    }

    #[test]
    fn host_header_must_be_loopback() {
        let p = policy();
        let host = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_str(v).expect("ascii"));
            h
        };
        for ok in ["localhost:4096", "127.0.0.1:4096", "[::1]:4096", "localhost"] {
            assert!(p.host_allowed(&host(ok)), "{ok}");
        }
        for bad in [
            "evil.test:4096",
            "attacker.localhost.evil.test",
            "192.168.1.5:4096",
        ] {
            assert!(!p.host_allowed(&host(bad)), "{bad}");
        }
    }
}
