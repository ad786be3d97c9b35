//! The `completion-stream` resource: reads the response body only as far as the next event
//! needs, runs the bytes through the SSE parser and the provider's [`Decoder`], and hands out
//! the resulting events one `next()` at a time.

use std::cell::RefCell;
use std::collections::VecDeque;

use crate::http::ResponseBody;
use crate::sse::{SseEvent, SseParser};
use crate::wit::{ProviderError, StreamEvent};

/// How much of a body that turns out not to be an event stream is quoted in the error.
const HEAD_QUOTED: usize = 300;

/// Events decoded but not yet handed out.
pub type Events = VecDeque<StreamEvent>;

/// Whether the upstream said its stream is complete (`[DONE]`, `message_stop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Done,
}

/// A provider's wire format, from SSE events to normalized stream events.
pub trait Decoder {
    /// Handles one SSE event, pushing what it means onto `out`.
    fn event(&mut self, event: &SseEvent, out: &mut Events) -> Result<Flow, ProviderError>;

    /// The upstream is done (it said so, or the body ended): pushes the closing events
    /// (pending tool calls, `usage`, `finish`), or fails when the stream was cut short.
    fn end(&mut self, out: &mut Events) -> Result<(), ProviderError>;
}

/// Decodes a whole wire text at once, through the SSE parser and `decoder` as the stream driver
/// runs them: for tests and tools that hold the bytes already.
pub fn decode_all(decoder: &mut dyn Decoder, wire: &str) -> Result<Vec<StreamEvent>, ProviderError> {
    let mut parser = SseParser::new();
    let mut sse = Vec::new();
    parser
        .feed(wire.as_bytes(), &mut sse)
        .map_err(|e| ProviderError::Protocol(e.to_string()))?;
    parser.finish(&mut sse);
    let mut out = Events::new();
    for event in &sse {
        if decoder.event(event, &mut out)? == Flow::Done {
            break;
        }
    }
    decoder.end(&mut out)?;
    Ok(out.into_iter().collect())
}

/// The guest side of one `completion-stream`.
pub struct Completion {
    inner: RefCell<Driver>,
}

impl Completion {
    pub fn new(body: ResponseBody, decoder: impl Decoder + 'static) -> Self {
        Self {
            inner: RefCell::new(Driver {
                body: Some(body),
                parser: SseParser::new(),
                decoder: Box::new(decoder),
                queue: Events::new(),
                sse: Vec::new(),
                head: Vec::new(),
                saw_event: false,
                over: false,
            }),
        }
    }
}

impl crate::bindings::exports::wasmcode::plugin::provider::GuestCompletionStream for Completion {
    fn next(&self) -> Option<Result<StreamEvent, ProviderError>> {
        // The host never calls `next` re-entrantly; should it, the answer is an error, not a panic.
        match self.inner.try_borrow_mut() {
            Ok(mut driver) => driver.next(),
            Err(_) => Some(Err(ProviderError::Protocol(
                "`next` was called while another `next` was running".into(),
            ))),
        }
    }
}

struct Driver {
    /// `None` once the upstream is done: the connection is released as soon as it is not needed.
    body: Option<ResponseBody>,
    parser: SseParser,
    decoder: Box<dyn Decoder>,
    queue: Events,
    /// Scratch space for the SSE events of one body chunk.
    sse: Vec<SseEvent>,
    /// The first bytes of the body, kept until an event shows it is an event stream: a server
    /// that answered something else (a JSON error with status 200) is quoted in the error.
    head: Vec<u8>,
    saw_event: bool,
    /// Nothing more will be produced (after `end`, or after an error).
    over: bool,
}

impl Driver {
    fn next(&mut self) -> Option<Result<StreamEvent, ProviderError>> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Some(Ok(event));
            }
            if self.over {
                return None;
            }
            if let Err(error) = self.advance() {
                self.over = true;
                self.body = None;
                self.queue.clear();
                return Some(Err(error));
            }
        }
    }

    /// Reads one chunk of the body and decodes what it completes; at the end of the body (or
    /// when the upstream says it is done) closes the stream.
    fn advance(&mut self) -> Result<(), ProviderError> {
        let Some(body) = self.body.as_mut() else {
            return self.end();
        };
        let chunk = body.read()?;
        let mut events = std::mem::take(&mut self.sse);
        events.clear();
        match &chunk {
            Some(bytes) => self
                .parser
                .feed(bytes, &mut events)
                .map_err(|e| ProviderError::Protocol(e.to_string()))?,
            None => self.parser.finish(&mut events),
        }
        if !self.saw_event {
            self.saw_event = !events.is_empty();
            if let Some(bytes) = &chunk
                && self.head.len() < HEAD_QUOTED
            {
                let room = HEAD_QUOTED - self.head.len();
                self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            if chunk.is_none() && !self.saw_event {
                return Err(ProviderError::Protocol(format!(
                    "the upstream answered without an event stream: {:?}",
                    String::from_utf8_lossy(&self.head)
                )));
            }
        }
        let mut done = chunk.is_none();
        for event in events.drain(..) {
            // Whatever follows the upstream's own end marker is ignored.
            if !done && self.decoder.event(&event, &mut self.queue)? == Flow::Done {
                done = true;
            }
        }
        self.sse = events;
        if done {
            return self.end();
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), ProviderError> {
        self.body = None;
        self.over = true;
        self.decoder.end(&mut self.queue)
    }
}
