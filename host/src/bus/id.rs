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
//! This module owns ID generation only; it must not parse or validate IDs for routing (that is the
//! session/API layer's job, with its own error shapes).

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
/// use wasmcode::bus::id::Identifier;
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
pub(crate) fn now_ms() -> u64 {
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
    fn timestamp_rejects_malformed_ids() {
        assert_eq!(Identifier::timestamp("evt"), None);
        assert_eq!(Identifier::timestamp("evt_zz"), None);
        assert_eq!(
            Identifier::timestamp("evt_20397d4a7001xxD7jVEEHt584H"),
            Some(0x2039_7d4a_7001 / 0x1000)
        );
    }
}
