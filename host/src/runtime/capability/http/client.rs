//! The outgoing HTTP client behind `wasi:http`: hyper-util's pooling client, one per runtime,
//! keyed by scheme and authority, so successive requests of any store to the same upstream reuse
//! an idle connection instead of opening a new one.
//!
//! Connections are made as wasmtime-wasi-http's `default_send_request` makes them: TCP to the
//! request's authority, TLS with rustls (ring) and the webpki root certificates for `https`,
//! HTTP/1.1. The request options' timeouts keep their meaning: `connect-timeout` bounds making a
//! new connection (TLS included), `first-byte-timeout` the wait for the response head (counted
//! from when the request is handed to the pool, so a new connection's making counts too), and
//! `between-bytes-timeout` each wait for more of the body (`body.rs`).
//!
//! A connection goes back to the pool only once its response was read to the end: hyper closes
//! a connection whose response body is dropped part-way, and a request dropped before its answer
//! (the store was dropped) takes its connection down with it.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::body::ResponseBody;

/// wasmtime-wasi-http's default for each timeout a request leaves unset.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// How long an idle connection stays in the pool.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per upstream.
const MAX_IDLE_PER_UPSTREAM: usize = 16;

tokio::task_local! {
    /// The connect timeout of the request being sent. The pool calls the connector from inside
    /// the request's own future, where this is set; a connection the pool finishes in the
    /// background was started, and its timeout read, there too.
    static CONNECT_TIMEOUT: Duration;
}

/// The runtime's pool of upstream connections. Cloning it (once per store) is one reference
/// count and shares the pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<hyper_util::client::legacy::Client<Connector, WasiBody>>,
}

impl Client {
    pub fn new() -> Result<Self, rustls::Error> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let tls =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
        let connector = Connector {
            tls: TlsConnector::from(Arc::new(tls)),
        };
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(MAX_IDLE_PER_UPSTREAM)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Sends `request` (its URI absolute: scheme, authority, path) and waits for the response
    /// head. `store` is the sending store's life: see [`ResponseBody`].
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: RequestOptions,
        store: Weak<()>,
    ) -> Result<http::Response<WasiBody>, Error> {
        let connect_timeout = options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT);
        let first_byte_timeout = options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT);
        let between_bytes_timeout = options.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT);
        // A connection whose response was just read to its end goes back to the pool from a
        // background task (hyper-util's, or the drain in `body.rs`); letting it run first means
        // a request sent right after reuses it rather than racing it with a new connection.
        tokio::task::yield_now().await;
        let response = CONNECT_TIMEOUT.scope(
            connect_timeout,
            tokio::time::timeout(first_byte_timeout, self.inner.request(request)),
        );
        let response = match response.await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(request_error(&error)),
            Err(_elapsed) => return Err(Error::ConnectionReadTimeout),
        };
        Ok(response.map(|incoming| ResponseBody::new(incoming, between_bytes_timeout, store).boxed_unsync()))
    }
}

/// A body for requests that send none.
#[cfg(test)]
pub fn empty_body() -> WasiBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("the request has no host")]
    NoHost,
    #[error("connecting timed out")]
    Timeout,
    #[error("cannot connect: {0}")]
    Tcp(io::Error),
    #[error("invalid TLS server name: {0}")]
    ServerName(rustls::pki_types::InvalidDnsNameError),
    #[error("TLS handshake failed: {0}")]
    Tls(io::Error),
}

impl ConnectError {
    /// The `wasi:http` error it stands for, as `default_send_request` reports it.
    fn to_wasi(&self) -> Error {
        // `io::Error` is not `Clone`; wasmtime-wasi-http reads its kind and its message.
        let copy = |e: &io::Error| io::Error::new(e.kind(), e.to_string());
        match self {
            Self::NoHost => Error::HttpRequestUriInvalid,
            Self::Timeout => Error::ConnectionTimeout,
            Self::Tcp(e) => Error::Connect(copy(e)),
            // What wasmtime-wasi-http's default hook reports for an invalid name.
            Self::ServerName(_) => Error::DnsError {
                rcode: Some("invalid dns name".into()),
                info_code: None,
            },
            Self::Tls(e) => Error::Tls(copy(e)),
        }
    }
}

/// Makes new connections for the pool: TCP, then TLS for `https`.
#[derive(Clone)]
struct Connector {
    tls: TlsConnector,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let timeout = CONNECT_TIMEOUT.try_with(|t| *t).unwrap_or(DEFAULT_TIMEOUT);
        let tls = self.tls.clone();
        Box::pin(async move {
            match tokio::time::timeout(timeout, connect(&uri, &tls)).await {
                Ok(stream) => stream.map(TokioIo::new),
                Err(_elapsed) => Err(ConnectError::Timeout),
            }
        })
    }
}

async fn connect(uri: &Uri, tls: &TlsConnector) -> Result<Stream, ConnectError> {
    let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let host = uri.host().ok_or(ConnectError::NoHost)?;
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    // `[::1]` as the URI writes it; the resolver wants the bare address.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(ConnectError::Tcp)?;
    // Requests are small writes followed by a wait for the answer: do not hold them back.
    let _ = tcp.set_nodelay(true);
    if !https {
        return Ok(Stream::Plain(tcp));
    }
    let name = server_name(host)?;
    let stream = tls.connect(name, tcp).await.map_err(ConnectError::Tls)?;
    Ok(Stream::Tls(Box::new(stream)))
}

/// The name a TLS certificate must be valid for: an IP address, or a DNS name.
fn server_name(host: &str) -> Result<ServerName<'static>, ConnectError> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    ServerName::try_from(host.to_string()).map_err(ConnectError::ServerName)
}

/// The `wasi:http` error for a request that got no response.
fn request_error(error: &hyper_util::client::legacy::Error) -> Error {
    let mut cause = std::error::Error::source(error);
    while let Some(source) = cause {
        if let Some(connect) = source.downcast_ref::<ConnectError>() {
            return connect.to_wasi();
        }
        if let Some(hyper) = source.downcast_ref::<hyper::Error>() {
            return hyper_error(hyper);
        }
        cause = source.source();
    }
    Error::InternalError(Some(error.to_string()))
}

/// A failed exchange, classified by what a caller can do about it.
fn hyper_error(error: &hyper::Error) -> Error {
    if error.is_timeout() {
        Error::HttpResponseTimeout
    } else if error.is_incomplete_message() || error.is_closed() || error.is_canceled() {
        // The upstream closed the connection before answering: a retry may succeed.
        Error::ConnectionTerminated
    } else {
        // A malformed answer, or the guest's request body failed while being sent.
        Error::HttpProtocolError
    }
}

/// One connection, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// What the test upstream does with each connection.
    #[derive(Clone, Copy)]
    enum Upstream {
        /// Answers every request on the connection with a 5-byte body, keeping it alive.
        Answer,
        /// Accepts and says nothing, ever (a TLS handshake that never completes).
        Mute,
        /// Reads the request and never answers.
        Silent,
        /// Sends the head and one chunk of a chunked body, then nothing until the client leaves.
        Stall,
        /// Sends the head and one chunk, then the rest of the message after this many ms; then
        /// answers the next request as `Answer` does.
        EndLate(u64),
    }

    struct Server {
        addr: SocketAddr,
        accepted: Arc<AtomicUsize>,
        /// Connections the client closed.
        closed: Arc<AtomicUsize>,
    }

    impl Server {
        async fn start(upstream: Upstream) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
            let addr = listener.local_addr().expect("bound");
            let accepted = Arc::new(AtomicUsize::new(0));
            let closed = Arc::new(AtomicUsize::new(0));
            let (count, gone) = (accepted.clone(), closed.clone());
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    count.fetch_add(1, Ordering::SeqCst);
                    let gone = gone.clone();
                    tokio::spawn(async move {
                        serve(socket, upstream).await;
                        gone.fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
            Self {
                addr,
                accepted,
                closed,
            }
        }

        fn url(&self, scheme: &str) -> String {
            format!("{scheme}://{}/", self.addr)
        }

        fn accepted(&self) -> usize {
            self.accepted.load(Ordering::SeqCst)
        }

        async fn wait_closed(&self, count: usize) -> bool {
            for _ in 0..200 {
                if self.closed.load(Ordering::SeqCst) >= count {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            false
        }
    }

    /// Reads one request head; false when the client went away.
    async fn read_head(socket: &mut TcpStream) -> bool {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match socket.read(&mut byte).await {
                Ok(1) => head.push(byte[0]),
                _ => return false,
            }
        }
        true
    }

    /// Waits until the client closes the connection, ignoring what it sends.
    async fn until_closed(socket: &mut TcpStream) {
        let mut buf = [0u8; 1024];
        while let Ok(1..) = socket.read(&mut buf).await {}
    }

    async fn serve(mut socket: TcpStream, upstream: Upstream) {
        const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        const CHUNKED_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n";
        let mut first = true;
        loop {
            if let Upstream::Mute = upstream {
                until_closed(&mut socket).await;
                return;
            }
            if !read_head(&mut socket).await {
                return;
            }
            let written = match upstream {
                Upstream::Answer => socket.write_all(ANSWER).await,
                Upstream::EndLate(ms) if first => {
                    first = false;
                    let _ = socket.write_all(CHUNKED_HEAD).await;
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    socket.write_all(b"0\r\n\r\n").await
                }
                Upstream::EndLate(_) => socket.write_all(ANSWER).await,
                Upstream::Silent | Upstream::Stall | Upstream::Mute => {
                    if let Upstream::Stall = upstream {
                        let _ = socket.write_all(CHUNKED_HEAD).await;
                    }
                    // Nothing more until the client goes away.
                    until_closed(&mut socket).await;
                    return;
                }
            };
            if written.is_err() {
                return;
            }
        }
    }

    fn get(url: &str) -> http::Request<WasiBody> {
        http::Request::builder()
            .uri(url)
            .body(empty_body())
            .expect("a request")
    }

    fn timeouts(connect: u64, first_byte: u64, between_bytes: u64) -> RequestOptions {
        RequestOptions {
            connect_timeout: Some(Duration::from_millis(connect)),
            first_byte_timeout: Some(Duration::from_millis(first_byte)),
            between_bytes_timeout: Some(Duration::from_millis(between_bytes)),
        }
    }

    async fn read_all(response: http::Response<WasiBody>) -> Vec<u8> {
        let body = response.into_body().collect().await.expect("the body reads");
        body.to_bytes().to_vec()
    }

    #[tokio::test]
    async fn successive_requests_share_one_connection() {
        let server = Server::start(Upstream::Answer).await;
        let client = Client::new().expect("a client");
        let store = Arc::new(());
        for _ in 0..5 {
            let response = client
                .send(
                    get(&server.url("http")),
                    RequestOptions::default(),
                    Arc::downgrade(&store),
                )
                .await
                .expect("an answer");
            assert_eq!(read_all(response).await, b"hello");
        }
        assert_eq!(server.accepted(), 1);
    }

    #[tokio::test]
    async fn a_body_abandoned_with_its_store_closes_the_connection() {
        // The message would end 100 ms later: a drain would save the connection, and must not.
        let server = Server::start(Upstream::EndLate(100)).await;
        let client = Client::new().expect("a client");
        let store = Arc::new(());
        let response = client
            .send(
                get(&server.url("http")),
                RequestOptions::default(),
                Arc::downgrade(&store),
            )
            .await
            .expect("an answer");
        let mut body = response.into_body();
        let frame = body.frame().await.expect("a frame").expect("data");
        assert_eq!(frame.into_data().ok().as_deref(), Some(&b"first"[..]));
        // The store goes first (a cancelled call), then its resources.
        drop(store);
        drop(body);
        assert!(server.wait_closed(1).await, "the upstream saw the client go");
        let store = Arc::new(());
        let response = client
            .send(
                get(&server.url("http")),
                RequestOptions::default(),
                Arc::downgrade(&store),
            )
            .await
            .expect("an answer");
        drop(response);
        assert_eq!(server.accepted(), 2, "the abandoned connection was not reused");
    }

    #[tokio::test]
    async fn a_body_let_go_just_before_its_end_is_drained_and_its_connection_reused() {
        let server = Server::start(Upstream::EndLate(100)).await;
        let client = Client::new().expect("a client");
        let store = Arc::new(());
        let response = client
            .send(
                get(&server.url("http")),
                RequestOptions::default(),
                Arc::downgrade(&store),
            )
            .await
            .expect("an answer");
        let mut body = response.into_body();
        body.frame().await.expect("a frame").expect("data");
        // The guest is done with it (its own end marker came), the store lives on.
        drop(body);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let response = client
            .send(
                get(&server.url("http")),
                RequestOptions::default(),
                Arc::downgrade(&store),
            )
            .await
            .expect("an answer");
        assert_eq!(read_all(response).await, b"hello");
        assert_eq!(server.accepted(), 1);
    }

    #[tokio::test]
    async fn the_connect_timeout_covers_the_tls_handshake() {
        let server = Server::start(Upstream::Mute).await;
        let client = Client::new().expect("a client");
        let started = Instant::now();
        let error = client
            .send(
                get(&server.url("https")),
                timeouts(200, 10_000, 10_000),
                Weak::new(),
            )
            .await
            .expect_err("no handshake");
        assert!(matches!(error, Error::ConnectionTimeout), "{error:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn the_first_byte_timeout_bounds_the_wait_for_the_answer() {
        let server = Server::start(Upstream::Silent).await;
        let client = Client::new().expect("a client");
        let error = client
            .send(
                get(&server.url("http")),
                timeouts(10_000, 200, 10_000),
                Weak::new(),
            )
            .await
            .expect_err("no answer");
        assert!(matches!(error, Error::ConnectionReadTimeout), "{error:?}");
        assert!(server.wait_closed(1).await, "the abandoned connection was closed");
    }

    #[tokio::test]
    async fn the_between_bytes_timeout_bounds_each_wait_for_the_body() {
        let server = Server::start(Upstream::Stall).await;
        let client = Client::new().expect("a client");
        let response = client
            .send(
                get(&server.url("http")),
                timeouts(10_000, 10_000, 200),
                Weak::new(),
            )
            .await
            .expect("an answer");
        let mut body = response.into_body();
        body.frame().await.expect("a frame").expect("data");
        let error = body.frame().await.expect("an error").expect_err("stalled");
        assert!(matches!(error, Error::ConnectionReadTimeout), "{error:?}");
    }

    #[tokio::test]
    async fn an_upstream_that_refuses_connections_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}/", listener.local_addr().expect("bound"));
        drop(listener);
        let client = Client::new().expect("a client");
        let error = client
            .send(get(&url), RequestOptions::default(), Weak::new())
            .await
            .expect_err("refused");
        assert!(
            matches!(&error, Error::Connect(e) if e.kind() == io::ErrorKind::ConnectionRefused),
            "{error:?}"
        );
    }

    #[test]
    fn tls_server_names_are_addresses_or_host_names() {
        assert_eq!(
            server_name("127.0.0.1").expect("valid"),
            ServerName::from(std::net::Ipv4Addr::LOCALHOST)
        );
        assert_eq!(
            server_name("::1").expect("valid"),
            ServerName::from(std::net::Ipv6Addr::LOCALHOST)
        );
        assert_eq!(
            server_name("api.openai.com").expect("valid"),
            ServerName::try_from("api.openai.com").expect("a DNS name")
        );
        assert!(server_name("not a host").is_err());
    }
}
