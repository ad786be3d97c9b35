//! A terminal's output: decoded to text as it arrives, sent to every connected client, and its
//! last 2 MiB kept for clients that connect late or reconnect. A cursor counts the bytes of text
//! produced so far; a client that remembers the cursor it was last told resumes from there.
//!
//! Each client has a bounded queue, and the reader waits for room in it, so a client that reads
//! slowly slows the program (its writes block on the full terminal), as a real terminal does, and
//! loses nothing. A client that stops reading altogether is cut off after [`STALL_LIMIT`], so it
//! cannot hold the program up for good.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

/// How much output is kept for a late connect.
pub const KEPT: usize = 2 * 1024 * 1024;
/// A replay is sent in messages of at most this many bytes.
pub const REPLAY_CHUNK: usize = 64 * 1024;
/// Reads (of at most 16 KiB each) queued for one client.
const LIVE_QUEUE: usize = 64;
/// How long the output waits for a client with a full queue before cutting it off.
pub const STALL_LIMIT: Duration = Duration::from_secs(10);

/// A connected client's queue.
pub type Client = mpsc::Sender<Arc<str>>;

#[derive(Default)]
pub struct Output {
    /// The text kept; its last byte is at cursor `end`.
    kept: String,
    /// The cursor of `kept`'s first byte.
    start: u64,
    /// Bytes of text produced so far.
    end: u64,
    clients: Vec<Client>,
}

/// What a client gets when it connects: the output it missed, the cursor after it, and the
/// output from then on (which ends if the client is cut off).
pub struct Attachment {
    pub replay: String,
    pub cursor: u64,
    pub live: mpsc::Receiver<Arc<str>>,
}

impl Output {
    /// Appends `text`, forgetting what falls out of the kept window; the clients to send it to
    /// (sending may wait, so the caller does it without holding the output).
    pub fn push(&mut self, text: &str) -> Vec<Client> {
        if text.is_empty() {
            return Vec::new();
        }
        self.end += text.len() as u64;
        self.kept.push_str(text);
        if self.kept.len() > KEPT {
            let cut = self.kept.ceil_char_boundary(self.kept.len() - KEPT);
            self.kept.drain(..cut);
            self.start += cut as u64;
        }
        self.clients.retain(|client| !client.is_closed());
        self.clients.clone()
    }

    /// Attaches a client that has seen the output up to `cursor`: `None` replays everything kept,
    /// `Some(-1)` nothing (only what comes next).
    pub fn attach(&mut self, cursor: Option<i64>) -> Attachment {
        let from = match cursor {
            None => 0,
            Some(-1) => self.end,
            Some(cursor) => cursor.max(0) as u64,
        };
        let replay = if from >= self.end {
            String::new()
        } else {
            let offset = from.saturating_sub(self.start) as usize;
            let offset = self.kept.ceil_char_boundary(offset.min(self.kept.len()));
            self.kept[offset..].to_string()
        };
        let (client, live) = mpsc::channel(LIVE_QUEUE);
        self.clients.push(client);
        Attachment {
            replay,
            cursor: self.end,
            live,
        }
    }

    /// Forgets a client (it stopped reading): its queue ends.
    pub fn cut_off(&mut self, client: &Client) {
        self.clients.retain(|c| !c.same_channel(client));
    }
}

/// Splits `text` into pieces of at most [`REPLAY_CHUNK`] bytes, on character boundaries.
pub fn chunks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.floor_char_boundary(REPLAY_CHUNK.min(rest.len()));
        if end == 0 {
            end = rest.ceil_char_boundary(1);
        }
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

/// Turns a byte stream into text: a character split across two reads is joined, bytes that are
/// not UTF-8 become U+FFFD.
#[derive(Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    pub fn decode(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut text = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match error.error_len() {
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[bad..];
                        }
                        // An incomplete character at the end: wait for the rest of it.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_across_reads_are_joined() {
        let mut stream = Utf8Stream::default();
        let bytes = "héllo €".as_bytes();
        let (a, b) = bytes.split_at(2);
        let (b, c) = b.split_at(b.len() - 1);
        assert_eq!(stream.decode(a), "h");
        assert_eq!(stream.decode(b), "éllo ");
        assert_eq!(stream.decode(c), "€");
        assert_eq!(stream.decode(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn a_late_client_gets_what_it_missed_and_a_cursor_to_resume_from() {
        let mut output = Output::default();
        output.push("one ");
        let first = output.attach(None);
        assert_eq!((first.replay.as_str(), first.cursor), ("one ", 4));
        output.push("two");
        let resumed = output.attach(Some(4));
        assert_eq!((resumed.replay.as_str(), resumed.cursor), ("two", 7));
        let fresh = output.attach(Some(-1));
        assert_eq!((fresh.replay.as_str(), fresh.cursor), ("", 7));
        assert_eq!(output.attach(Some(99)).replay, "");
    }

    #[test]
    fn only_the_last_two_mebibytes_are_kept() {
        let mut output = Output::default();
        let line = "é".repeat(1000);
        for _ in 0..1100 {
            output.push(&line);
        }
        let all = output.attach(None);
        assert!(all.replay.len() <= KEPT && all.replay.len() > KEPT - 4);
        assert_eq!(all.cursor, 1100 * 2000);
        assert!(chunks(&all.replay).all(|c| c.len() <= REPLAY_CHUNK));
        assert_eq!(chunks(&all.replay).collect::<String>(), all.replay);
    }
}
