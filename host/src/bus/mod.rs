//! Events: the per-instance bus (sequence numbers, a bounded replay ring, bounded per-subscriber
//! queues), the global bus behind `/global/event`, and their SSE streams.
//!
//! # What this module owns
//! * [`Bus`]: one per directory instance. [`Bus::publish`] gives each event an `evt_` id and a
//!   per-bus sequence number, keeps the last [`BusOptions::replay`] events in a ring, and hands
//!   the event to every live [`Subscription`]. It never blocks on subscribers and never fails,
//!   even when nobody listens. A bus made with [`Bus::forwarding`] also publishes every event,
//!   wrapped as `{directory, project, payload}`, on a [`GlobalBus`].
//! * [`GlobalBus`]: the same machinery carrying [`GlobalEvent`]s.
//! * [`sse`]: turning a [`Subscription`] into an HTTP response (CONTRACT §4 plus `id:` lines,
//!   `Last-Event-ID` replay, `server.resync`).
//!
//! # What it must not do
//! It does not know what event types mean, build their properties, route HTTP requests or decide
//! which instance a request belongs to; it must not block a publisher, hold a lock across an
//! `.await`, or buffer without bound. It calls no user code while publishing (the only hook is
//! the fixed forwarding to the global bus).
//!
//! # Delivery model
//! Sequence numbers start at `unix_ms * 1000 + 1` when the bus is created, so a cursor from an
//! earlier server run is older than anything in the ring and yields a resync instead of a wrong
//! replay. (They stay below 2^53, so JavaScript clients can parse them as numbers.) Each
//! subscriber reads from a `tokio::sync::broadcast` channel of capacity [`BusOptions::queue`]: a
//! subscriber more than `queue` events behind is *lagged* and its subscription ends (its SSE
//! stream closes; the client can reconnect with `Last-Event-ID` and get the missed events from
//! the ring). Memory is bounded by `replay + queue` events per bus whatever the subscribers do.

pub mod event;
pub mod sse;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use axum::body::Bytes;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

pub use event::{GlobalEvent, Message};

use crate::protocol::id::now_ms;
use crate::protocol::{Envelope, Event};

/// The bus of one directory instance (`/event`).
pub type Bus = EventBus<Envelope>;
/// The server-wide bus (`/global/event`).
pub type GlobalBus = EventBus<GlobalEvent>;

/// Sizes of a bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusOptions {
    /// How many recent events are kept for `Last-Event-ID` replay (default 1024).
    pub replay: usize,
    /// How many events a subscriber may fall behind before it is disconnected (default 4096;
    /// at least 1).
    pub queue: usize,
}

impl Default for BusOptions {
    fn default() -> Self {
        Self {
            replay: 1024,
            // A model streaming fast (a local one, or a burst from a slow network) produces
            // hundreds of deltas at once; a client must be far behind before it is cut off.
            queue: 4096,
        }
    }
}

/// One published message with its sequence number and its serialized form, shared by the ring
/// and every subscriber.
#[derive(Debug)]
pub struct Published<M> {
    /// Position in the bus (strictly increasing, no gaps).
    pub seq: u64,
    /// The message.
    pub message: Arc<M>,
    /// The whole SSE frame: `id: <seq>\ndata: <json>\n\n`.
    frame: Bytes,
    /// Where the JSON starts and ends inside `frame`.
    json: std::ops::Range<usize>,
}

impl<M> Published<M> {
    /// The JSON of the message, as sent in the `data:` line.
    pub fn json(&self) -> &str {
        std::str::from_utf8(&self.frame[self.json.clone()]).unwrap_or_default()
    }

    /// The SSE frame (`id: <seq>\ndata: <json>\n\n`), cheap to clone.
    pub fn frame(&self) -> Bytes {
        self.frame.clone()
    }
}

/// A publish/subscribe bus with sequence numbers and a replay ring. Cheap to clone (all clones
/// share one bus). See the module docs for the delivery model.
pub struct EventBus<M> {
    inner: Arc<Inner<M>>,
}

impl<M> Clone for EventBus<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M> std::fmt::Debug for EventBus<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("EventBus")
            .field("last_seq", &state.last_seq)
            .field("replay_len", &state.ring.len())
            .field("subscribers", &self.inner.sender.receiver_count())
            .finish()
    }
}

/// Called with every published message while the bus lock is held (so in sequence order).
type Tap<M> = Box<dyn Fn(&Arc<Published<M>>) + Send + Sync>;

struct Inner<M> {
    state: Mutex<State<M>>,
    sender: broadcast::Sender<Arc<Published<M>>>,
    replay: usize,
    tap: Option<Tap<M>>,
    /// Each live subscription's last delivered sequence number (see [`EventBus::flushed`]).
    delivered: Mutex<Vec<Weak<AtomicU64>>>,
}

struct State<M> {
    /// Sequence number of the last published message (the first one gets `last_seq + 1`).
    last_seq: u64,
    ring: VecDeque<Arc<Published<M>>>,
}

impl<M> Inner<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // A panic while holding the lock cannot leave the state inconsistent (each step is a
        // single push/pop), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<M: Message> EventBus<M> {
    fn with_tap(options: BusOptions, tap: Option<Tap<M>>) -> Self {
        let (sender, _) = broadcast::channel(options.queue.max(1));
        let state = State {
            last_seq: now_ms().saturating_mul(1000),
            ring: VecDeque::new(),
        };
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                sender,
                replay: options.replay,
                tap,
                delivered: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Publishes a message: assigns the next sequence number, stores it in the ring, and sends
    /// it to every subscriber. Never blocks on subscribers; never fails.
    pub fn publish_message(&self, message: M) -> Arc<Published<M>> {
        let json = serde_json::to_string(&message).unwrap_or_else(|error| {
            tracing::error!(%error, "bus: message does not serialize; sending an error event");
            serde_json::json!({"type": "server.error", "properties": {"message": error.to_string()}})
                .to_string()
        });
        let mut state = self.inner.lock();
        let seq = state.last_seq + 1;
        state.last_seq = seq;
        let head = std::format!("id: {seq}\ndata: ");
        let start = head.len();
        let mut frame = head.into_bytes();
        frame.extend_from_slice(json.as_bytes());
        let end = frame.len();
        frame.extend_from_slice(b"\n\n");
        let published = Arc::new(Published {
            seq,
            message: Arc::new(message),
            frame: Bytes::from(frame),
            json: start..end,
        });
        if self.inner.replay > 0 {
            if state.ring.len() == self.inner.replay {
                state.ring.pop_front();
            }
            state.ring.push_back(published.clone());
        }
        // Err only means nobody is subscribed right now.
        let _ = self.inner.sender.send(published.clone());
        if let Some(tap) = &self.inner.tap {
            tap(&published);
        }
        published
    }

    /// Subscribes. With `last_event_id`, first replays the events after that sequence number
    /// (if the ring still has all of them; otherwise the subscription starts with a resync, see
    /// [`Subscription::resync`]); then delivers live events. Replay and live delivery meet
    /// exactly: nothing is missed or repeated.
    pub fn subscribe(&self, last_event_id: Option<u64>) -> Subscription<M> {
        let state = self.inner.lock();
        // Subscribing under the lock: every later publish reaches `receiver`, every earlier one
        // is in the ring snapshot.
        let receiver = self.inner.sender.subscribe();
        let latest = state.last_seq;
        let delivered = Arc::new(AtomicU64::new(latest));
        self.inner
            .delivered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Arc::downgrade(&delivered));
        let mut subscription = Subscription {
            receiver,
            replay: VecDeque::new(),
            cursor: latest,
            resync: None,
            lagged: false,
            delivered,
        };
        match last_event_id {
            None => {}
            Some(cursor) if cursor == latest => {}
            Some(cursor) if cursor > latest => subscription.resync = Some(Resync::UnknownCursor),
            Some(cursor) => {
                let oldest = state.ring.front().map_or(latest + 1, |first| first.seq);
                if cursor.saturating_add(1) < oldest {
                    subscription.resync = Some(Resync::Expired);
                } else {
                    subscription.replay = state.ring.iter().filter(|p| p.seq > cursor).cloned().collect();
                    subscription.cursor = cursor;
                }
            }
        }
        subscription
    }

    /// Waits until every live subscription has taken the messages up to `seq` (so an SSE client
    /// has been sent them), at most `timeout`; whether they all did. A stalled subscriber only
    /// delays the caller by `timeout`. Used so that a client which receives a prompt's answer has
    /// also been sent every event of the turn.
    pub async fn flushed(&self, seq: u64, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let behind = {
                let mut delivered = self
                    .inner
                    .delivered
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                delivered.retain(|cursor| cursor.strong_count() > 0);
                delivered
                    .iter()
                    .filter_map(Weak::upgrade)
                    .any(|cursor| cursor.load(Ordering::Acquire) < seq)
            };
            if !behind {
                // One more turn of the scheduler for the streams to hand their frames to the
                // connection.
                tokio::task::yield_now().await;
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Sequence number of the last published message (before the first publish: the bus's
    /// starting point, one less than the first sequence number).
    pub fn last_seq(&self) -> u64 {
        self.inner.lock().last_seq
    }

    /// How many messages the replay ring holds now (never more than [`BusOptions::replay`]).
    pub fn replay_len(&self) -> usize {
        self.inner.lock().ring.len()
    }

    /// How many subscriptions are alive.
    pub fn subscriber_count(&self) -> usize {
        self.inner.sender.receiver_count()
    }
}

impl EventBus<Envelope> {
    /// A standalone instance bus.
    pub fn new(options: BusOptions) -> Self {
        Self::with_tap(options, None)
    }

    /// An instance bus that also publishes every event on `global`, wrapped as
    /// `{directory, project, payload}` with the same `evt_` id, in the same order.
    pub fn forwarding(
        options: BusOptions,
        global: GlobalBus,
        directory: String,
        project: Option<String>,
    ) -> Self {
        let tap: Tap<Envelope> = Box::new(move |published| {
            let message = GlobalEvent::new(
                Some(directory.clone()),
                project.clone(),
                published.message.clone(),
            );
            global.publish_message(message);
        });
        Self::with_tap(options, Some(tap))
    }

    /// Publishes an event with a fresh `evt_` id.
    pub fn publish(&self, event: Event) -> Arc<Published<Envelope>> {
        self.publish_message(Envelope::new(event))
    }
}

impl EventBus<GlobalEvent> {
    /// The server-wide bus.
    pub fn new(options: BusOptions) -> Self {
        Self::with_tap(options, None)
    }

    /// Publishes an event directly on the global stream (`global.disposed`, say), with a fresh
    /// `evt_` id.
    pub fn publish(
        &self,
        directory: Option<String>,
        project: Option<String>,
        event: Event,
    ) -> Arc<Published<GlobalEvent>> {
        self.publish_message(GlobalEvent::new(directory, project, Envelope::new(event)))
    }
}

/// Why a subscription could not replay from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// The cursor is older than the replay ring (or from an earlier server run).
    Expired,
    /// The cursor is newer than anything this bus published (another server or bus).
    UnknownCursor,
}

impl Resync {
    /// The `reason` sent in `server.resync`: `"expired"` or `"unknown-cursor"`.
    pub fn reason(self) -> &'static str {
        match self {
            Resync::Expired => "expired",
            Resync::UnknownCursor => "unknown-cursor",
        }
    }
}

/// A live subscription: the replayed events (if any), then live ones. Dropping it unsubscribes.
pub struct Subscription<M> {
    receiver: broadcast::Receiver<Arc<Published<M>>>,
    replay: VecDeque<Arc<Published<M>>>,
    cursor: u64,
    resync: Option<Resync>,
    lagged: bool,
    /// The last sequence number handed out by `recv` (`u64::MAX` once over).
    delivered: Arc<AtomicU64>,
}

impl<M> std::fmt::Debug for Subscription<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("cursor", &self.cursor)
            .field("replay", &self.replay.len())
            .field("resync", &self.resync)
            .field("lagged", &self.lagged)
            .finish()
    }
}

impl<M> Subscription<M> {
    /// The next message, or `None` once the subscription is over: it fell more than
    /// [`BusOptions::queue`] messages behind ([`Subscription::lagged`]), or the bus is gone.
    /// Cancel-safe.
    pub async fn recv(&mut self) -> Option<Arc<Published<M>>> {
        if self.lagged {
            return None;
        }
        if let Some(published) = self.replay.pop_front() {
            self.delivered.store(published.seq, Ordering::Release);
            return Some(published);
        }
        match self.receiver.recv().await {
            Ok(published) => {
                self.delivered.store(published.seq, Ordering::Release);
                Some(published)
            }
            Err(RecvError::Closed) => {
                self.delivered.store(u64::MAX, Ordering::Release);
                None
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "bus: subscriber fell behind; disconnecting it");
                self.lagged = true;
                self.delivered.store(u64::MAX, Ordering::Release);
                None
            }
        }
    }

    /// Whether the subscription ended because it fell behind.
    pub fn lagged(&self) -> bool {
        self.lagged
    }

    /// `Some` when the requested cursor could not be replayed: the client must refetch state.
    /// Live delivery then starts at [`Subscription::cursor`].
    pub fn resync(&self) -> Option<Resync> {
        self.resync
    }

    /// The sequence number this subscription starts after: the requested cursor when replaying,
    /// otherwise the bus's last sequence number at subscribe time.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// How many replayed events are still to be delivered.
    pub fn pending_replay(&self) -> usize {
        self.replay.len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    /// Any event: what the bus does never depends on the type.
    pub(crate) fn test_event(file: &str) -> Event {
        Event::FileEdited(crate::protocol::event::FileEdited { file: file.into() })
    }

    fn small(replay: usize, queue: usize) -> BusOptions {
        BusOptions { replay, queue }
    }

    async fn next<M>(subscription: &mut Subscription<M>) -> Option<Arc<Published<M>>> {
        tokio::time::timeout(Duration::from_secs(10), subscription.recv())
            .await
            .expect("no event within 10 s")
    }

    #[tokio::test]
    async fn publish_without_subscribers_is_fine_and_the_ring_is_bounded() {
        let bus = Bus::new(small(16, 4));
        let start = bus.last_seq();
        for n in 0..5_000 {
            let published = bus.publish(test_event(&n.to_string()));
            assert_eq!(published.seq, start + 1 + n);
            assert!(bus.replay_len() <= 16);
        }
        assert_eq!(bus.replay_len(), 16);
        assert_eq!(bus.subscriber_count(), 0);
        let last = bus.publish(test_event("x"));
        assert!(last.message.id.starts_with("evt_"));
        assert_eq!(
            last.json(),
            serde_json::to_string(last.message.as_ref()).expect("serializes")
        );
        assert_eq!(
            &last.frame()[..],
            std::format!("id: {}\ndata: {}\n\n", last.seq, last.json()).as_bytes()
        );
    }

    #[tokio::test]
    async fn sequence_starts_from_the_wall_clock() {
        let before = now_ms() * 1000;
        let bus = Bus::new(BusOptions::default());
        assert!(bus.last_seq() >= before && bus.last_seq() < (1 << 53));
    }

    #[tokio::test]
    async fn live_events_arrive_in_order() {
        let bus = Bus::new(BusOptions::default());
        let mut subscription = bus.subscribe(None);
        assert_eq!(subscription.cursor(), bus.last_seq());
        let sent: Vec<_> = (0..100)
            .map(|n| bus.publish(test_event(&n.to_string())))
            .collect();
        for expected in &sent {
            let got = next(&mut subscription).await.expect("event");
            assert_eq!(got.seq, expected.seq);
            assert_eq!(got.message.id, expected.message.id);
        }
    }

    #[tokio::test]
    async fn replay_returns_exactly_the_missed_events_then_live_ones() {
        let bus = Bus::new(small(8, 16));
        let sent: Vec<_> = (0..10).map(|n| bus.publish(test_event(&n.to_string()))).collect();
        let cursor = sent[5].seq;
        let mut subscription = bus.subscribe(Some(cursor));
        assert_eq!((subscription.resync(), subscription.cursor()), (None, cursor));
        assert_eq!(subscription.pending_replay(), 4);
        let live = bus.publish(test_event("x"));
        for expected in sent[6..].iter().chain([&live]) {
            assert_eq!(next(&mut subscription).await.expect("event").seq, expected.seq);
        }
        // Nothing else is pending.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), subscription.recv())
                .await
                .is_err()
        );

        // Up to date: nothing to replay. Oldest event still in the ring: replays the whole ring.
        let mut current = bus.subscribe(Some(live.seq));
        assert_eq!((current.resync(), current.pending_replay()), (None, 0));
        let oldest = bus.subscribe(Some(sent[2].seq));
        assert_eq!((oldest.resync(), oldest.pending_replay()), (None, 8));
        let next_live = bus.publish(test_event("x"));
        assert_eq!(next(&mut current).await.expect("event").seq, next_live.seq);
    }

    #[tokio::test]
    async fn stale_or_foreign_cursors_resync() {
        let bus = Bus::new(small(4, 16));
        let sent: Vec<_> = (0..10).map(|n| bus.publish(test_event(&n.to_string()))).collect();
        let mut expired = bus.subscribe(Some(sent[4].seq));
        assert_eq!(expired.resync(), Some(Resync::Expired));
        assert_eq!((expired.cursor(), expired.pending_replay()), (sent[9].seq, 0));
        assert_eq!(
            bus.subscribe(Some(1)).resync(),
            Some(Resync::Expired),
            "cursor from an earlier run"
        );
        assert_eq!(
            bus.subscribe(Some(sent[9].seq + 1)).resync(),
            Some(Resync::UnknownCursor)
        );
        // A resynced subscription continues with live events.
        let live = bus.publish(test_event("x"));
        assert_eq!(next(&mut expired).await.expect("event").seq, live.seq);

        let no_ring = Bus::new(small(0, 16));
        let first = no_ring.publish(test_event("x"));
        no_ring.publish(test_event("x"));
        assert_eq!(no_ring.subscribe(Some(first.seq)).resync(), Some(Resync::Expired));
        assert_eq!(no_ring.replay_len(), 0);
    }

    #[tokio::test]
    async fn a_stalled_subscriber_is_dropped_without_affecting_others() {
        let bus = Bus::new(small(8, 16));
        let mut stalled = bus.subscribe(None);
        let mut healthy = bus.subscribe(None);
        let mut seqs = Vec::new();
        for n in 0..200 {
            let published = bus.publish(test_event(&n.to_string()));
            assert_eq!(
                next(&mut healthy)
                    .await
                    .expect("healthy subscriber gets every event")
                    .seq,
                published.seq
            );
            seqs.push(published.seq);
        }
        assert_eq!(
            next(&mut stalled).await.map(|p| p.seq),
            None,
            "stalled subscriber is cut off"
        );
        assert!(stalled.lagged());
        assert_eq!(next(&mut stalled).await.map(|p| p.seq), None, "and stays cut off");
        drop(stalled);
        assert_eq!(bus.subscriber_count(), 1);
        let after = bus.publish(test_event("x"));
        assert_eq!(next(&mut healthy).await.expect("event").seq, after.seq);
    }

    #[tokio::test]
    async fn dropping_the_bus_ends_subscriptions() {
        let bus = Bus::new(BusOptions::default());
        let mut subscription = bus.subscribe(None);
        let published = bus.publish(test_event("x"));
        drop(bus);
        assert_eq!(next(&mut subscription).await.map(|p| p.seq), Some(published.seq));
        assert!(next(&mut subscription).await.is_none());
        assert!(!subscription.lagged());
    }

    #[tokio::test]
    async fn instance_events_are_forwarded_to_the_global_bus() {
        let global = GlobalBus::new(BusOptions::default());
        let mut all = global.subscribe(None);
        let a = Bus::forwarding(
            BusOptions::default(),
            global.clone(),
            "/a".into(),
            Some("p1".into()),
        );
        let b = Bus::forwarding(BusOptions::default(), global.clone(), "/b".into(), None);
        let one = a.publish(test_event("one"));
        let two = b.publish(test_event("two"));
        let three = global.publish(None, None, Event::GlobalDisposed(Default::default()));

        let got = next(&mut all).await.expect("event");
        assert_eq!(
            got.json(),
            std::format!(
                r#"{{"directory":"/a","project":"p1","payload":{{"id":"{}","type":"file.edited","properties":{{"file":"one"}}}}}}"#,
                one.message.id
            )
        );
        let got = next(&mut all).await.expect("event");
        assert_eq!(got.message.payload.id, two.message.id);
        assert_eq!(got.message.directory.as_deref(), Some("/b"));
        assert_eq!(got.message.project, None);
        let got = next(&mut all).await.expect("event");
        assert_eq!(got.seq, three.seq);
        assert_eq!(got.message.payload.event.name(), "global.disposed");
    }

    #[tokio::test]
    async fn flushed_waits_for_every_live_subscriber() {
        let bus: Bus = Bus::new(small(8, 8));
        let mut reader = bus.subscribe(None);
        let stalled = bus.subscribe(None);
        let published = bus.publish(test_event("x"));
        assert!(!bus.flushed(published.seq, Duration::from_millis(20)).await);
        next(&mut reader).await.expect("an event");
        assert!(
            !bus.flushed(published.seq, Duration::from_millis(20)).await,
            "the stalled one lags"
        );
        drop(stalled);
        assert!(bus.flushed(published.seq, Duration::from_millis(20)).await);
    }
}
