//! A guest's stdout and stderr: each line goes to the server's log, tagged with the plugin, the
//! tool and the stream, up to a budget per call (a chatty plugin cannot flood the log), and the
//! last lines of stderr are kept so that a trap can say what the guest said before it died: a
//! Rust panic's message, a Python traceback's last line, a JavaScript error.
//!
//! Writes never fail and never block: a guest that prints past the budget goes on as if its
//! output were read.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Lines logged per call and stream; the rest are counted.
const LOGGED_LINES: usize = 200;
/// A line longer than this is cut (the rest of it is dropped).
const LINE_BYTES: usize = 4096;
/// Lines of stderr kept for a trap's message.
const KEPT_LINES: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// One call's guest output: the two streams' shared state.
#[derive(Clone)]
pub struct GuestOutput {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    plugin: Arc<str>,
    /// The tool, empty for calls that are not tool calls.
    tool: String,
    stdout: Lines,
    stderr: Lines,
    /// The last lines of stderr, oldest first.
    kept: Vec<String>,
}

#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
    logged: usize,
    dropped: usize,
}

impl GuestOutput {
    pub fn new(plugin: &Arc<str>, tool: &str) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                plugin: plugin.clone(),
                tool: tool.to_string(),
                stdout: Lines::default(),
                stderr: Lines::default(),
                kept: Vec::new(),
            })),
        }
    }

    pub fn stdout(&self) -> GuestStream {
        GuestStream {
            output: self.clone(),
            stream: Stream::Stdout,
        }
    }

    pub fn stderr(&self) -> GuestStream {
        GuestStream {
            output: self.clone(),
            stream: Stream::Stderr,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, stream: Stream, bytes: &[u8]) {
        self.lock().write(stream, bytes);
    }

    /// Ends the call: logs what is left of an unterminated line and how much was dropped.
    pub fn finish(&self) {
        let mut inner = self.lock();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let rest = std::mem::take(&mut inner.lines(stream).partial);
            if !rest.is_empty() {
                inner.line(stream, &rest);
            }
            let dropped = inner.lines(stream).dropped;
            if dropped > 0 {
                let (plugin, tool) = (&*inner.plugin, tool_field(&inner.tool));
                tracing::info!(
                    plugin,
                    tool,
                    stream = stream.name(),
                    "{dropped} more lines not logged"
                );
            }
        }
    }

    /// What the guest said last on stderr that explains a crash, if anything.
    pub fn last_words(&self) -> Option<String> {
        let inner = self.lock();
        let mut kept = inner.kept.clone();
        let partial = String::from_utf8_lossy(&inner.stderr.partial).trim().to_string();
        if !partial.is_empty() {
            kept.push(partial);
        }
        last_words(&kept)
    }
}

impl Inner {
    fn lines(&mut self, stream: Stream) -> &mut Lines {
        match stream {
            Stream::Stdout => &mut self.stdout,
            Stream::Stderr => &mut self.stderr,
        }
    }

    fn write(&mut self, stream: Stream, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|b| *b == b'\n') {
            let mut line = std::mem::take(&mut self.lines(stream).partial);
            line.extend_from_slice(&bytes[..end]);
            self.line(stream, &line);
            bytes = &bytes[end + 1..];
        }
        let partial = &mut self.lines(stream).partial;
        let room = LINE_BYTES.saturating_sub(partial.len());
        partial.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn line(&mut self, stream: Stream, line: &[u8]) {
        let line = String::from_utf8_lossy(&line[..line.len().min(LINE_BYTES)]);
        let line = line.trim_end_matches('\r');
        if stream == Stream::Stderr {
            if self.kept.len() == KEPT_LINES {
                self.kept.remove(0);
            }
            self.kept.push(line.to_string());
        }
        let lines = self.lines(stream);
        if lines.logged == LOGGED_LINES {
            lines.dropped += 1;
            return;
        }
        lines.logged += 1;
        let (plugin, tool) = (&*self.plugin, tool_field(&self.tool));
        tracing::info!(plugin, tool, stream = stream.name(), "{line}");
    }
}

fn tool_field(tool: &str) -> Option<&str> {
    Some(tool).filter(|t| !t.is_empty())
}

/// The line of `stderr` that says why a guest crashed: a Rust panic's message (the line after
/// `panicked at <place>:`), else the last line that is not a hint about backtraces (a Python
/// traceback ends with the exception, a JavaScript runtime prints the error last).
fn last_words(stderr: &[String]) -> Option<String> {
    let lines: Vec<&str> = stderr
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    if let Some(at) = lines.iter().rposition(|l| l.contains("panicked at")) {
        let place = lines[at];
        let message = lines
            .get(at + 1)
            .filter(|l| !l.starts_with("note:"))
            .copied()
            .unwrap_or_default();
        // `thread '<unnamed>' panicked at src/lib.rs:9:5:` then the message.
        let place = place.split("panicked at").nth(1).unwrap_or_default().trim();
        return Some(format!("panicked at {place} {message}").trim().to_string());
    }
    lines
        .iter()
        .rev()
        .find(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
        .map(|l| l.to_string())
}

/// One of a call's streams, as WASI sees it.
pub struct GuestStream {
    output: GuestOutput,
    stream: Stream,
}

impl Clone for GuestStream {
    fn clone(&self) -> Self {
        Self {
            output: self.output.clone(),
            stream: self.stream,
        }
    }
}

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Room offered to the guest per write: any amount is taken.
const ROOM: usize = 64 * 1024;

impl OutputStream for GuestStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.output.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(ROOM)
    }
}

impl Pollable for GuestStream {
    // What `#[async_trait]` would write: the stream is always ready.
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async {})
    }
}

impl AsyncWrite for GuestStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.output.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(stderr: &str) -> Option<String> {
        let output = GuestOutput::new(&Arc::from("p"), "t");
        output
            .stderr()
            .p2_stream()
            .write(Bytes::from(stderr.to_string()))
            .expect("writes");
        output.last_words()
    }

    #[test]
    fn a_rust_panic_gives_its_message_and_place() {
        let stderr = "\nthread '<unnamed>' panicked at src/lib.rs:9:5:\nthe answer is not 42\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            words(stderr).as_deref(),
            Some("panicked at src/lib.rs:9:5: the answer is not 42")
        );
    }

    #[test]
    fn a_python_traceback_gives_its_exception() {
        let stderr =
            "Traceback (most recent call last):\n  File \"app.py\", line 3, in stream\nValueError: no key\n";
        assert_eq!(words(stderr).as_deref(), Some("ValueError: no key"));
    }

    #[test]
    fn an_unterminated_last_line_counts_and_silence_says_nothing() {
        assert_eq!(words("Error: boom").as_deref(), Some("Error: boom"));
        assert_eq!(words(""), None);
    }

    /// The log lines `write` produces, formatted as the server logs them.
    fn logged(write: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("not poisoned").extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, write);
        let bytes = buffer.0.lock().expect("not poisoned").clone();
        String::from_utf8(bytes).expect("UTF-8")
    }

    #[test]
    fn each_line_is_logged_with_its_plugin_tool_and_stream() {
        let log = logged(|| {
            let output = GuestOutput::new(&Arc::from("oai-py"), "");
            let mut stdout = output.stdout().p2_stream();
            stdout
                .write(Bytes::from_static(b"loading model list\npart"))
                .expect("writes");
            stdout.write(Bytes::from_static(b"ial line")).expect("writes");
            let output_tool = GuestOutput::new(&Arc::from("probe"), "fs");
            output_tool
                .stderr()
                .p2_stream()
                .write(Bytes::from_static(b"warning: odd\n"))
                .expect("writes");
            output.finish();
        });
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 3, "{log}");
        assert!(
            lines[0].ends_with(r#"loading model list plugin="oai-py" stream="stdout""#),
            "{log}"
        );
        assert!(
            lines[1].ends_with(r#"warning: odd plugin="probe" tool="fs" stream="stderr""#),
            "{log}"
        );
        assert!(
            lines[2].ends_with(r#"partial line plugin="oai-py" stream="stdout""#),
            "{log}"
        );
    }

    #[test]
    fn long_output_is_bounded_and_never_refused() {
        let output = GuestOutput::new(&Arc::from("p"), "t");
        let mut stream = output.stdout().p2_stream();
        for _ in 0..1000 {
            assert!(stream.check_write().expect("room") > 0);
            stream.write(Bytes::from_static(b"a line\n")).expect("writes");
        }
        let mut inner = output.lock();
        assert_eq!(inner.lines(Stream::Stdout).logged, LOGGED_LINES);
        assert_eq!(inner.lines(Stream::Stdout).dropped, 1000 - LOGGED_LINES);
    }
}
