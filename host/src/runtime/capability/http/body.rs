//! A response body as the guest reads it: hyper's body with the request's between-bytes timeout,
//! and a decision, when the guest lets go of it before its end, about the connection under it.
//!
//! A guest that stops reading at its own end marker (`data: [DONE]`, `message_stop`) usually
//! drops the body a few bytes before the end of the HTTP message, the chunked terminator that has
//! not arrived yet. Dropped as is, hyper would close that connection. So a body dropped while its
//! store is alive is drained for a moment in the background (at most [`DRAIN_BYTES`] bytes within
//! [`DRAIN_TIME`]), and its connection goes back to the pool if the message ends; otherwise it is
//! closed. A body dropped with its store (a cancelled call) is never drained: the connection is
//! cut at once, so the upstream stops and nothing half-read is ever reused.

use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::Error;

/// The longest a dropped body is drained for.
const DRAIN_TIME: Duration = Duration::from_millis(500);
/// The most a dropped body is drained of.
const DRAIN_BYTES: usize = 64 << 10;

pub struct ResponseBody {
    /// `None` once the message ended or failed: nothing is left to decide.
    incoming: Option<Incoming>,
    between_bytes: Duration,
    /// When the wait for the next frame times out.
    deadline: Pin<Box<Sleep>>,
    /// The sending store's life; gone once the store is dropped.
    store: Weak<()>,
}

impl ResponseBody {
    pub fn new(incoming: Incoming, between_bytes: Duration, store: Weak<()>) -> Self {
        // Tokio cannot sleep for zero; a nanosecond is as good.
        let between_bytes = between_bytes.max(Duration::from_nanos(1));
        Self {
            incoming: Some(incoming),
            between_bytes,
            deadline: Box::pin(tokio::time::sleep(between_bytes)),
            store,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let Some(incoming) = this.incoming.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = Instant::now() + this.between_bytes;
                this.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                // The whole message was read: dropping hyper's body now returns the connection.
                this.incoming = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(error))) => {
                this.incoming = None;
                Poll::Ready(Some(Err(if error.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::from(error)
                })))
            }
            Poll::Pending => {
                ready!(this.deadline.as_mut().poll(cx));
                // The upstream stalled: this connection is not worth keeping.
                this.incoming = None;
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        let Some(incoming) = self.incoming.take() else {
            return;
        };
        if incoming.is_end_stream() || self.store.strong_count() == 0 {
            // Ended (the connection is free) or abandoned with its store (hyper cuts it).
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(drain(incoming));
    }
}

/// Reads what is left of a body the guest dropped, so that its connection can be reused if the
/// message ends soon; gives up (and hyper closes the connection) otherwise.
async fn drain(mut incoming: Incoming) {
    let read_to_end = async {
        let mut left = DRAIN_BYTES;
        while let Some(frame) = incoming.frame().await {
            let Ok(frame) = frame else { return false };
            let size = frame.data_ref().map_or(0, Bytes::len);
            if size > left {
                return false;
            }
            left -= size;
        }
        true
    };
    let ended = tokio::time::timeout(DRAIN_TIME, read_to_end)
        .await
        .unwrap_or(false);
    tracing::trace!(ended, "drained a response body the guest let go of");
}
