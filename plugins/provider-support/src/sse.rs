//! An incremental parser of `text/event-stream` (the WHATWG "server-sent events" format), fed
//! with body chunks as they arrive. It is lenient the way real LLM servers need: `\n`, `\r\n`
//! and `\r` line endings (also split across chunks), comments (`: keep-alive`), `data:` with or
//! without the space, a leading byte-order mark, and a last event that is not followed by the
//! blank line.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// A line longer than this (bytes) is refused: a server that never ends its line must not make
/// the plugin buffer without bound.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Why the input cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    LineTooLong,
}

impl std::fmt::Display for SseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::LineTooLong => write!(f, "an event-stream line is longer than {MAX_LINE_BYTES} bytes"),
        }
    }
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
    /// Nothing has been read yet (a byte-order mark may come first).
    started: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `bytes`, appending every event they complete to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if !self.started && !bytes.is_empty() {
            self.started = true;
            bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        }
        if self.after_cr {
            self.after_cr = false;
            bytes = bytes.strip_prefix(b"\n").unwrap_or(bytes);
        }
        while let Some(end) = bytes.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let (head, rest) = bytes.split_at(end);
            self.push_to_line(head)?;
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
            bytes = match rest {
                [b'\r', b'\n', tail @ ..] => tail,
                [b'\r'] => {
                    self.after_cr = true;
                    &[]
                }
                [_, tail @ ..] => tail,
                [] => &[],
            };
        }
        self.push_to_line(bytes)
    }

    /// The body ended: an unterminated last line and an event not followed by a blank line are
    /// still dispatched (servers that end with `data: [DONE]\n` exist).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, out);
        }
        self.dispatch(out);
    }

    fn push_to_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > MAX_LINE_BYTES {
            return Err(SseError::LineTooLong);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return; // a comment, e.g. `: keep-alive` or OpenRouter's `: OPENROUTER PROCESSING`
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            // `id` and `retry` are for reconnecting clients; a completion is never resumed.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if !std::mem::take(&mut self.has_data) {
            return;
        }
        out.push(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out).expect("parses");
        }
        parser.finish(&mut out);
        out
    }

    fn data(text: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: text.to_string(),
        }
    }

    #[test]
    fn splits_events_on_blank_lines() {
        let events = parse_chunks(&[b"data: {\"a\":1}\n\ndata: [DONE]\n\n"]);
        assert_eq!(events, vec![data("{\"a\":1}"), data("[DONE]")]);
    }

    #[test]
    fn accepts_every_line_ending_even_split_across_chunks() {
        let events = parse_chunks(&[b"data: one\r", b"\n\r", b"\ndata: two\r\rdata:three\n\n"]);
        assert_eq!(events, vec![data("one"), data("two"), data("three")]);
    }

    #[test]
    fn reassembles_an_event_split_anywhere() {
        let wire = b"event: content_block_delta\ndata: {\"type\":\"x\"}\n\n";
        for cut in 0..wire.len() {
            let events = parse_chunks(&[&wire[..cut], &wire[cut..]]);
            assert_eq!(
                events,
                vec![SseEvent {
                    event: Some("content_block_delta".into()),
                    data: "{\"type\":\"x\"}".into()
                }],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn skips_comments_and_unknown_fields() {
        let events = parse_chunks(&[b": keep-alive\n\nid: 7\nretry: 10\ndata: x\n\n: bye\n"]);
        assert_eq!(events, vec![data("x")]);
    }

    #[test]
    fn joins_multi_line_data() {
        let events = parse_chunks(&[b"data: a\ndata:b\ndata\n\n"]);
        assert_eq!(events, vec![data("a\nb\n")]);
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        let events = parse_chunks(&[b"event: ping\n\ndata: x\n\n"]);
        assert_eq!(events, vec![data("x")]);
    }

    #[test]
    fn dispatches_a_last_event_without_its_blank_line() {
        assert_eq!(parse_chunks(&[b"data: [DONE]"]), vec![data("[DONE]")]);
        assert_eq!(parse_chunks(&[b"data: [DONE]\n"]), vec![data("[DONE]")]);
    }

    #[test]
    fn strips_a_leading_byte_order_mark() {
        assert_eq!(parse_chunks(&[b"\xEF\xBB\xBFdata: x\n\n"]), vec![data("x")]);
    }

    #[test]
    fn keeps_utf8_split_across_chunks() {
        let wire = "data: héllo\n\n".as_bytes();
        let events = parse_chunks(&[&wire[..8], &wire[8..]]);
        assert_eq!(events, vec![data("héllo")]);
    }

    #[test]
    fn refuses_an_endless_line() {
        let mut parser = SseParser::new();
        let mut out = Vec::new();
        let chunk = vec![b'a'; 1 << 20];
        let mut result = Ok(());
        for _ in 0..=(MAX_LINE_BYTES >> 20) {
            result = parser.feed(&chunk, &mut out);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SseError::LineTooLong));
    }
}
