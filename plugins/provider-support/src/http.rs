//! One HTTP POST through `wasi:http/outgoing-handler`, its response body read incrementally, and
//! every failure turned into the `provider-error` it stands for.

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse, Method, OutgoingBody,
    OutgoingRequest, RequestOptions, Scheme,
};
use crate::bindings::wasi::io::streams::{InputStream, StreamError};
use crate::merge_headers;
use crate::wit::{ProviderConfig, ProviderError, StatusError};

/// The most of an error response's body kept for `status-error.body`.
const ERROR_BODY_LIMIT: usize = 64 << 10;
/// How much one read of the response body may return: whatever is available, up to this.
const READ_CHUNK: u64 = 64 << 10;
/// What a request body's buffer starts with.
const INITIAL_BODY_CAPACITY: usize = 256 << 10;
/// A host that accepts no connection within this time is treated as unreachable.
const CONNECT_TIMEOUT_NS: u64 = 30_000_000_000;

/// Joins an API base URL (`https://api.openai.com/v1`, with or without a trailing `/`) and an
/// endpoint path (`chat/completions`).
pub fn endpoint(base_url: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base_url.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// The parts of an `http://` or `https://` URL that `wasi:http` wants separately.
#[derive(Debug, PartialEq, Eq)]
struct Target<'a> {
    https: bool,
    authority: &'a str,
    path_with_query: &'a str,
}

fn split_url(url: &str) -> Result<Target<'_>, ProviderError> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(ProviderError::InvalidRequest(format!(
            "the base URL {url:?} must start with http:// or https://"
        )));
    };
    let (authority, path_with_query) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(ProviderError::InvalidRequest(format!(
            "the URL {url:?} has no host"
        )));
    }
    Ok(Target {
        https,
        authority,
        path_with_query,
    })
}

/// Asks `{config.base_url}/{path}` for a streamed completion: POSTs `body` as JSON with the headers
/// every provider sends (JSON in, an event stream out, our user agent) and the provider's own
/// `extra` ones (key, API version), each replaced by a configured header of the same name.
pub fn post_json(
    config: &ProviderConfig,
    path: &str,
    body: &impl serde::Serialize,
    extra: Vec<(String, String)>,
) -> Result<ResponseBody, ProviderError> {
    // Room for a long conversation up front: growing from a few bytes copies the body ~log2(n)
    // times. Untouched capacity costs no memory pages.
    let mut bytes = Vec::with_capacity(INITIAL_BODY_CAPACITY);
    serde_json::to_writer(&mut bytes, body)
        .map_err(|e| ProviderError::InvalidRequest(format!("cannot encode the request: {e}")))?;
    let mut defaults = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("accept".to_string(), "text/event-stream".to_string()),
        (
            "user-agent".to_string(),
            concat!("wasmcode/", env!("CARGO_PKG_VERSION")).to_string(),
        ),
    ];
    defaults.extend(extra);
    let headers = merge_headers(defaults, &config.headers);
    post(&endpoint(&config.base_url, path), &headers, &bytes)
}

/// Sends `body` as a POST to `url` with `headers` and waits for the response head. A success
/// status gives the body to read; any other status is returned as `provider-error.status` with
/// the (bounded) error body and the upstream's retry hint.
pub fn post(url: &str, headers: &[(String, String)], body: &[u8]) -> Result<ResponseBody, ProviderError> {
    let target = split_url(url)?;
    let mut entries = Vec::with_capacity(headers.len() + 1);
    for (name, value) in headers {
        entries.push((name.to_ascii_lowercase(), value.clone().into_bytes()));
    }
    // Without a length the body goes out chunked, which some servers read as empty.
    entries.push(("content-length".to_string(), body.len().to_string().into_bytes()));
    let fields = Fields::from_list(&entries).map_err(|e| {
        ProviderError::InvalidRequest(format!(
            "the request headers were refused: {e:?} (check the configured `headers`)"
        ))
    })?;

    let request = OutgoingRequest::new(fields);
    let invalid = |what: &str| ProviderError::InvalidRequest(format!("invalid {what} in {url:?}"));
    request
        .set_method(&Method::Post)
        .map_err(|()| invalid("method"))?;
    let scheme = if target.https { Scheme::Https } else { Scheme::Http };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    request
        .set_authority(Some(target.authority))
        .map_err(|()| invalid("host"))?;
    request
        .set_path_with_query(Some(target.path_with_query))
        .map_err(|()| invalid("path"))?;
    let outgoing_body = request
        .body()
        .map_err(|()| ProviderError::Protocol("the request body was already taken".into()))?;

    let options = RequestOptions::new();
    // A host that refuses to set it keeps its own default, which is fine.
    let _ = options.set_connect_timeout(Some(CONNECT_TIMEOUT_NS));

    // `handle` before writing: the body sink holds one chunk, so writing first could block
    // forever on a request that has not been sent.
    let pending = outgoing_handler::handle(request, Some(options))
        .map_err(|code| error_from_code(&code, target.authority))?;
    if let Err(write_error) = write_body(outgoing_body, body) {
        // A refused or failed request shows up here first as a closed stream; the real reason
        // is in the response future, which resolves promptly once the request has failed.
        return Err(match wait_for(&pending, target.authority) {
            Err(error) => error,
            Ok(_) => write_error,
        });
    }
    let response = wait_for(&pending, target.authority)?;
    let status = response.status();
    let response_headers = response.headers();
    let retry_after_ms = retry_after_ms(
        header(&response_headers, "retry-after-ms").as_deref(),
        header(&response_headers, "retry-after").as_deref(),
        std::time::SystemTime::now(),
    );
    drop(response_headers);
    let mut body = ResponseBody::new(response)?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let text = body.read_bounded(ERROR_BODY_LIMIT);
    Err(ProviderError::Status(StatusError {
        status,
        body: text,
        retry_after_ms,
    }))
}

fn write_body(outgoing: OutgoingBody, body: &[u8]) -> Result<(), ProviderError> {
    let failed = |e: StreamError| ProviderError::Connection(format!("cannot send the request body: {e:?}"));
    {
        let stream = outgoing
            .write()
            .map_err(|()| ProviderError::Protocol("the request body stream was already taken".into()))?;
        // As much as the stream permits per write (the host takes up to a MiB at once), not
        // `blocking-write-and-flush`'s 4 KiB: a long conversation goes out in one or two writes
        // rather than a round trip to the connection per 4 KiB.
        let mut rest = body;
        while !rest.is_empty() {
            let permitted = stream.check_write().map_err(failed)?;
            if permitted == 0 {
                stream.subscribe().block();
                continue;
            }
            let (now, later) =
                rest.split_at(rest.len().min(usize::try_from(permitted).unwrap_or(usize::MAX)));
            stream.write(now).map_err(failed)?;
            rest = later;
        }
        // No flush: a write hands its bytes to the connection, and once the last of the
        // `content-length` bytes is taken the connection lets go of the stream, so a flush could
        // find it closed.
        // The stream must be dropped before the body is finished.
    }
    OutgoingBody::finish(outgoing, None)
        .map_err(|code| ProviderError::Connection(format!("cannot finish the request body: {code:?}")))
}

fn wait_for(pending: &FutureIncomingResponse, authority: &str) -> Result<IncomingResponse, ProviderError> {
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(response))) => Ok(response),
        Some(Ok(Err(code))) => Err(error_from_code(&code, authority)),
        Some(Err(())) => Err(ProviderError::Protocol("the response was already taken".into())),
        None => Err(ProviderError::Protocol(
            "the response is not ready after waiting for it".into(),
        )),
    }
}

fn header(fields: &Fields, name: &str) -> Option<String> {
    fields
        .get(name)
        .into_iter()
        .next()
        .map(|value| String::from_utf8_lossy(&value).trim().to_string())
}

/// What an upstream's retry hint asks for, in milliseconds: `retry-after-ms` (OpenAI's, may be
/// fractional) first, else `Retry-After` as seconds or as an HTTP date.
pub fn retry_after_ms(
    retry_after_ms: Option<&str>,
    retry_after: Option<&str>,
    now: std::time::SystemTime,
) -> Option<u64> {
    if let Some(ms) = retry_after_ms.and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(ms.ceil() as u64);
    }
    let value = retry_after?;
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).ceil() as u64);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at.duration_since(now).unwrap_or_default();
    Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
}

/// Turns a `wasi:http` error code into the `provider-error` a session can act on.
pub fn error_from_code(code: &ErrorCode, authority: &str) -> ProviderError {
    match code {
        ErrorCode::HttpRequestDenied => ProviderError::Denied(format!(
            "the host does not allow this plugin to reach {authority}"
        )),
        ErrorCode::DnsTimeout
        | ErrorCode::DnsError(_)
        | ErrorCode::DestinationNotFound
        | ErrorCode::DestinationUnavailable
        | ErrorCode::DestinationIpProhibited
        | ErrorCode::DestinationIpUnroutable
        | ErrorCode::ConnectionRefused
        | ErrorCode::ConnectionTerminated
        | ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::ConnectionLimitReached
        | ErrorCode::TlsProtocolError
        | ErrorCode::TlsCertificateError
        | ErrorCode::TlsAlertReceived(_)
        | ErrorCode::HttpResponseIncomplete
        | ErrorCode::HttpResponseTimeout
        | ErrorCode::InternalError(_) => {
            ProviderError::Connection(format!("cannot reach {authority}: {}", describe(code)))
        }
        ErrorCode::HttpRequestMethodInvalid
        | ErrorCode::HttpRequestUriInvalid
        | ErrorCode::HttpRequestUriTooLong
        | ErrorCode::HttpRequestLengthRequired
        | ErrorCode::HttpRequestBodySize(_)
        | ErrorCode::HttpRequestHeaderSectionSize(_)
        | ErrorCode::HttpRequestHeaderSize(_)
        | ErrorCode::HttpRequestTrailerSectionSize(_)
        | ErrorCode::HttpRequestTrailerSize(_)
        | ErrorCode::ConfigurationError => ProviderError::InvalidRequest(format!(
            "the request to {authority} was refused before sending: {}",
            describe(code)
        )),
        _ => ProviderError::Protocol(format!(
            "unexpected HTTP answer from {authority}: {}",
            describe(code)
        )),
    }
}

fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionTerminated => "connection closed".into(),
        ErrorCode::ConnectionTimeout => "connection timed out".into(),
        ErrorCode::DnsError(payload) => match &payload.rcode {
            Some(rcode) => format!("DNS error ({rcode})"),
            None => "DNS error".into(),
        },
        ErrorCode::InternalError(Some(message)) => message.clone(),
        other => format!("{other:?}"),
    }
}

/// A response body being read. Fields are in drop order: the stream is a child of the body, which
/// is a child of the response, and a child must go first.
pub struct ResponseBody {
    stream: InputStream,
    _body: IncomingBody,
    _response: IncomingResponse,
}

impl ResponseBody {
    fn new(response: IncomingResponse) -> Result<Self, ProviderError> {
        let body = response
            .consume()
            .map_err(|()| ProviderError::Protocol("the response body was already taken".into()))?;
        let stream = body
            .stream()
            .map_err(|()| ProviderError::Protocol("the response body stream was already taken".into()))?;
        Ok(Self {
            stream,
            _body: body,
            _response: response,
        })
    }

    /// The next bytes of the body as soon as any are available; `None` at its end. A failure here
    /// is the connection breaking mid-response.
    pub fn read(&mut self) -> Result<Option<Vec<u8>>, ProviderError> {
        loop {
            match self.stream.blocking_read(READ_CHUNK) {
                Ok(bytes) if bytes.is_empty() => continue,
                Ok(bytes) => return Ok(Some(bytes)),
                Err(StreamError::Closed) => return Ok(None),
                Err(StreamError::LastOperationFailed(error)) => {
                    let reason = match crate::bindings::wasi::http::types::http_error_code(&error) {
                        Some(code) => describe(&code),
                        None => error.to_debug_string(),
                    };
                    return Err(ProviderError::Connection(format!(
                        "the connection broke while reading the response: {reason}"
                    )));
                }
            }
        }
    }

    /// Up to `limit` bytes of what is left, as (lossy) text: for error bodies, where whatever
    /// could be read is better than nothing.
    fn read_bounded(&mut self, limit: usize) -> String {
        let mut bytes = Vec::new();
        while bytes.len() < limit {
            match self.read() {
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        bytes.truncate(limit);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    #[test]
    fn joins_endpoints_with_exactly_one_slash() {
        assert_eq!(
            endpoint("https://api.openai.com/v1", "chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:1234/v1/", "/messages"),
            "http://127.0.0.1:1234/v1/messages"
        );
    }

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/v1/chat/completions?x=1").expect("valid"),
            Target {
                https: false,
                authority: "127.0.0.1:8080",
                path_with_query: "/v1/chat/completions?x=1"
            }
        );
        assert_eq!(
            split_url("https://api.anthropic.com")
                .expect("valid")
                .path_with_query,
            "/"
        );
        assert!(matches!(
            split_url("ftp://x/"),
            Err(ProviderError::InvalidRequest(_))
        ));
        assert!(matches!(
            split_url("https:///v1"),
            Err(ProviderError::InvalidRequest(_))
        ));
    }

    #[test]
    fn reads_retry_hints() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(retry_after_ms(Some("1500.2"), Some("9"), now), Some(1501));
        assert_eq!(retry_after_ms(None, Some("2"), now), Some(2000));
        assert_eq!(retry_after_ms(Some("soon"), Some("0.5"), now), Some(500));
        assert_eq!(retry_after_ms(None, Some("-1"), now), None);
        assert_eq!(retry_after_ms(None, None, now), None);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after_ms(None, Some(&date), now), Some(30_000));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after_ms(None, Some(&past), now), Some(0));
        assert_eq!(retry_after_ms(None, Some("next tuesday"), now), None);
    }
}
