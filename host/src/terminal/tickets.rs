//! Connect tickets: a browser's WebSocket cannot send credentials, so a client that can (it has
//! passed the server's auth) asks for a ticket and puts it in the connect URL. A ticket opens one
//! connection to one terminal of this instance, once, within a minute.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::protocol::PtyId;

/// How long a ticket is good for.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(60);
/// The most tickets outstanding at once; the oldest give way.
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct Tickets {
    issued: HashMap<String, (PtyId, Instant)>,
}

impl Tickets {
    pub fn issue(&mut self, terminal: &PtyId) -> std::io::Result<String> {
        let now = Instant::now();
        self.issued.retain(|_, (_, expires)| *expires > now);
        if self.issued.len() >= CAPACITY
            && let Some(oldest) = self
                .issued
                .iter()
                .min_by_key(|(_, (_, expires))| *expires)
                .map(|(ticket, _)| ticket.clone())
        {
            self.issued.remove(&oldest);
        }
        let mut secret = [0u8; 16];
        rustix::rand::getrandom(&mut secret, rustix::rand::GetRandomFlags::empty())?;
        let ticket = hex::encode(secret);
        self.issued
            .insert(ticket.clone(), (terminal.clone(), now + TICKET_LIFETIME));
        Ok(ticket)
    }

    /// Whether `ticket` opens `terminal` now; a ticket is used up by trying it on its terminal.
    pub fn consume(&mut self, ticket: &str, terminal: &PtyId) -> bool {
        match self.issued.get(ticket) {
            Some((issued_for, expires)) if issued_for == terminal => {
                let valid = *expires > Instant::now();
                self.issued.remove(ticket);
                valid
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_opens_its_terminal_once() {
        let mut tickets = Tickets::default();
        let (one, other) = (PtyId::new(), PtyId::new());
        let ticket = tickets.issue(&one).expect("a ticket");
        assert_eq!(ticket.len(), 32);
        assert!(!tickets.consume(&ticket, &other));
        assert!(tickets.consume(&ticket, &one));
        assert!(!tickets.consume(&ticket, &one));
        assert!(!tickets.consume("made-up", &one));
    }
}
