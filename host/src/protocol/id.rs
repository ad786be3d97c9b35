//! Time-ordered identifiers in OpenCode's format: `<prefix>_<12 hex><14 base62>` (30 characters
//! for a three-letter prefix).
//!
//! The 12 hex characters are the low 48 bits of `timestamp_ms * 0x1000 + counter`, where the
//! counter restarts at 1 every millisecond. *Ascending* IDs use that value as is, so newer IDs
//! sort after older ones (`evt_`, `msg_`, `prt_`, `per_`); *descending* IDs invert it (`!x`), so
//! newer IDs sort first (`ses_`). The tail is 14 random characters from `0-9A-Za-z`.
//!
//! One process-wide generator serves every prefix (as upstream does). It is lock-free and strictly
//! monotonic within a process: two calls never produce the same time value, even in the same
//! millisecond, from many threads, or if the wall clock steps back (the value then keeps counting
//! up from the last one). More than 4095 IDs in one millisecond spill into the next millisecond's
//! values, which keeps the order. Like upstream, only the low 48 bits are kept, so the order wraps
//! about every 2.2 years of wall-clock time.
//!
//! The random tail is not cryptographic (SipHash with per-process random keys, splitmix-style); it
//! only has to make IDs from different processes distinct. Never use these IDs as secrets.
//!
//! Objects are named by newtypes ([`SessionId`], [`MessageId`], [`PartId`], [`PermissionId`],
//! [`EventId`]) that check their prefix when parsed or deserialized, so a malformed ID is a typed
//! error at the edge (400), never a lookup of garbage.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Characters of the random tail, in upstream's order.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of the random tail.
const RANDOM_LEN: usize = 14;
/// The time part keeps 48 bits (12 hex characters).
const TIME_MASK: u64 = (1 << 48) - 1;

/// The last `timestamp_ms * 0x1000 + counter` value handed out (full width, before masking).
static LAST: AtomicU64 = AtomicU64::new(0);
/// State of the random tail's generator.
static RANDOM_STATE: AtomicU64 = AtomicU64::new(0);
static RANDOM_KEYS: OnceLock<RandomState> = OnceLock::new();

/// Generator of OpenCode-style identifiers. See the module docs for the format.
///
/// ```
/// use wasmcode::protocol::id::Identifier;
/// let event = Identifier::ascending("evt");
/// assert!(event.starts_with("evt_") && event.len() == 30);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Identifier;

impl Identifier {
    /// A new ID that sorts after every ID this process generated before (`evt`, `msg`, `prt`,
    /// `per`). `prefix` is given without the underscore.
    pub fn ascending(prefix: &str) -> String {
        format(prefix, next_value(), false)
    }

    /// A new ID that sorts before every ID this process generated before (`ses`). `prefix` is
    /// given without the underscore.
    pub fn descending(prefix: &str) -> String {
        format(prefix, next_value(), true)
    }

    /// The creation time in epoch milliseconds of an *ascending* ID (`None` if it has no
    /// `prefix_` and 12 hex characters). Only the low 48 bits of the time survive, so this is
    /// exact for IDs created within the last ~2.2 years of the wrap (as upstream's).
    pub fn timestamp(id: &str) -> Option<u64> {
        let (_, rest) = id.split_once('_')?;
        let hex = rest.get(..12)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let value = u64::from_str_radix(hex, 16).ok()?;
        Some(value / 0x1000)
    }
}

/// Current wall-clock time in epoch milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Next strictly increasing `timestamp_ms * 0x1000 + counter` value.
fn next_value() -> u64 {
    let fresh = now_ms().saturating_mul(0x1000).saturating_add(1);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let candidate = fresh.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, candidate, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return candidate,
            Err(actual) => last = actual,
        }
    }
}

/// Formats a time value (as produced by [`next_value`]) into an ID.
fn format(prefix: &str, value: u64, descending: bool) -> String {
    let time = if descending { !value } else { value } & TIME_MASK;
    let mut id = String::with_capacity(prefix.len() + 1 + 12 + RANDOM_LEN);
    id.push_str(prefix);
    id.push('_');
    id.push_str(&std::format!("{time:012x}"));
    push_random(&mut id);
    id
}

/// Appends [`RANDOM_LEN`] random base62 characters.
fn push_random(out: &mut String) {
    let keys = RANDOM_KEYS.get_or_init(RandomState::new);
    let mut word = 0u64;
    let mut left = 0;
    for _ in 0..RANDOM_LEN {
        if left == 0 {
            // Each word is SipHash(random keys, unique counter): 64 fresh bits, ten characters.
            let n = RANDOM_STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
            let mut hasher = keys.build_hasher();
            hasher.write_u64(n);
            word = hasher.finish();
            left = 10;
        }
        out.push(char::from(BASE62[(word % 62) as usize]));
        word /= 62;
        left -= 1;
    }
}

/// An ID that does not have its type's prefix: `ses_` followed by letters and digits, say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} ID {id:?}: expected \"{prefix}_\" followed by letters and digits")]
pub struct InvalidId {
    pub what: &'static str,
    pub prefix: &'static str,
    pub id: String,
}

/// Whether `id` is `<prefix>_` followed by one or more ASCII letters and digits.
fn well_formed(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Declares an ID newtype: generated with its prefix, checked when parsed or deserialized,
/// serialized as the bare string, documented as a string with the prefix's pattern.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal, $order:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix, without its underscore.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh ID.
            #[allow(clippy::new_without_default, reason = "an ID is made, not defaulted")]
            pub fn new() -> Self {
                Self(Identifier::$order($prefix))
            }

            /// `id`, if it has this type's prefix.
            pub fn parse(id: &str) -> Result<Self, InvalidId> {
                if well_formed(id, $prefix) {
                    Ok(Self(id.to_owned()))
                } else {
                    Err(InvalidId { what: $what, prefix: $prefix, id: id.to_owned() })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(id: &str) -> Result<Self, InvalidId> {
                Self::parse(id)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let id = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                Self::parse(&id).map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix)))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// A session: `ses_`, newest first in sort order.
    SessionId, "ses", "session", descending
);
id_type!(
    /// A message: `msg_`, in creation order.
    MessageId, "msg", "message", ascending
);
id_type!(
    /// A part of a message: `prt_`, in creation order.
    PartId, "prt", "part", ascending
);
id_type!(
    /// A permission request: `per_`, in creation order.
    PermissionId, "per", "permission request", ascending
);
id_type!(
    /// A terminal: `pty_`, in creation order.
    PtyId, "pty", "terminal", ascending
);
id_type!(
    /// An event: `evt_`, in publication order.
    EventId, "evt", "event", ascending
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn assert_shape(id: &str, prefix: &str) {
        assert_eq!(id.len(), 30, "{id}");
        assert!(id.starts_with(&std::format!("{prefix}_")), "{id}");
        let hex = &id[4..16];
        assert!(
            hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{id}"
        );
        assert!(id[16..].bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    }

    #[test]
    fn format_matches_the_reference() {
        for prefix in ["evt", "msg", "prt", "per"] {
            assert_shape(&Identifier::ascending(prefix), prefix);
        }
        assert_shape(&Identifier::descending("ses"), "ses");
        // A captured event: `evt_20397d4a7001…` arrived in millisecond 1795356611751 (captured at .754), the first ID of
        // its millisecond (counter 1).
        assert_eq!(
            format("evt", 1_795_356_611_751 * 0x1000 + 1, false)[..16],
            *"evt_20397d4a7001"
        );
        // Descending IDs are the bitwise inverse: the captured session `ses_dfc67e33cffe…`
        // corresponds to the ascending value 0x203981cc3001.
        assert_eq!(format("ses", 0x2039_81cc_3001, true)[..16], *"ses_dfc67e33cffe");
    }

    #[test]
    fn ascending_ids_sort_in_creation_order_and_are_unique() {
        let ids: Vec<String> = (0..20_000).map(|_| Identifier::ascending("evt")).collect();
        assert!(
            ids.windows(2).all(|w| w[0][..16] < w[1][..16]),
            "time parts strictly increase"
        );
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        let ms = Identifier::timestamp(&ids[0]).expect("ascending id has a timestamp");
        assert!(ms.abs_diff(now_ms() & (TIME_MASK / 0x1000)) < 60_000);
    }

    #[test]
    fn descending_ids_sort_newest_first() {
        let ids: Vec<String> = (0..20_000).map(|_| Identifier::descending("ses")).collect();
        assert!(
            ids.windows(2).all(|w| w[0][..16] > w[1][..16]),
            "time parts strictly decrease"
        );
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn unique_and_ordered_across_threads() {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..5_000)
                        .map(|_| Identifier::ascending("prt"))
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        let mut all = HashSet::new();
        for thread in threads {
            let ids = thread.join().expect("generator thread panicked");
            assert!(
                ids.windows(2).all(|w| w[0] < w[1]),
                "each thread sees increasing ids"
            );
            for id in ids {
                assert!(all.insert(id[..16].to_string()), "time part handed out twice");
            }
        }
        assert_eq!(all.len(), 40_000);
    }

    #[test]
    fn newtypes_check_their_prefix() {
        let session = SessionId::new();
        assert_eq!(SessionId::parse(&session), Ok(session.clone()));
        assert!(session.starts_with("ses_"));
        let error = SessionId::parse("msg_1").expect_err("wrong prefix");
        assert_eq!(
            error.to_string(),
            r#"invalid session ID "msg_1": expected "ses_" followed by letters and digits"#
        );
        assert!(MessageId::parse("msg_").is_err() && MessageId::parse("msg_a-b").is_err());
        let parsed: Result<PartId, _> = serde_json::from_str(r#""prt_x""#);
        assert_eq!(parsed.map(String::from).ok().as_deref(), Some("prt_x"));
        assert!(serde_json::from_str::<PartId>(r#""msg_x""#).is_err());
    }

    #[test]
    fn timestamp_rejects_malformed_ids() {
        assert_eq!(Identifier::timestamp("evt"), None);
        assert_eq!(Identifier::timestamp("evt_zz"), None);
        assert_eq!(
            Identifier::timestamp("evt_20397d4a7001xxD7jVEEHt584H"),
            Some(0x2039_7d4a_7001 / 0x1000)
        );
    }
}
