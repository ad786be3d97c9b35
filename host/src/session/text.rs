//! Small text helpers for sessions: slugs, default titles, ISO-8601 times.

/// Words for slugs (`lucky-comet`): friendly, unambiguous, one syllable or two.
const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "eager", "gentle", "glowing",
    "golden", "happy", "jolly", "kind", "lucky", "mellow", "misty", "nimble", "proud", "quiet", "rapid",
    "shiny", "silent", "silver", "sunny", "swift", "tidy", "vivid", "witty",
];
const NOUNS: &[&str] = &[
    "apple", "badger", "breeze", "canyon", "cedar", "comet", "coral", "falcon", "forest", "harbor", "island",
    "lagoon", "maple", "meadow", "nebula", "orchid", "otter", "panda", "pebble", "planet", "river", "rocket",
    "sparrow", "summit", "tiger", "tulip", "valley", "willow", "wizard", "zephyr",
];

/// Two random words joined by a dash.
pub fn slug() -> String {
    let id = crate::protocol::Identifier::ascending("x");
    // The identifier's random tail is a convenient source of per-call randomness.
    let seed = id
        .bytes()
        .rev()
        .take(8)
        .fold(0u64, |acc, b| acc.wrapping_mul(131).wrapping_add(b as u64));
    let adjective = ADJECTIVES[(seed % ADJECTIVES.len() as u64) as usize];
    let noun = NOUNS[((seed / 31) % NOUNS.len() as u64) as usize];
    format!("{adjective}-{noun}")
}

const DEFAULT_TITLE_PREFIXES: [&str; 2] = ["New session - ", "Child session - "];

/// Whether `title` is one the server made up (and the title generator may replace).
pub fn is_default_title(title: &str) -> bool {
    DEFAULT_TITLE_PREFIXES.iter().any(|prefix| {
        title
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.len() == 24 && rest.ends_with('Z'))
    })
}

/// The title of a fork: `Title (fork #2)` after `Title (fork #1)`.
pub fn fork_title(title: &str) -> String {
    if let Some((base, number)) = title.rsplit_once(" (fork #")
        && let Some(n) = number.strip_suffix(')').and_then(|n| n.parse::<u32>().ok())
    {
        return format!("{base} (fork #{})", n + 1);
    }
    format!("{title} (fork #1)")
}

/// Epoch milliseconds as `2026-11-22T14:15:05.195Z`, as JavaScript's `toISOString`.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_matches_javascript() {
        assert_eq!(iso8601(1_795_356_905_195), "2026-11-22T14:15:05.195Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn default_titles_and_forks() {
        assert!(is_default_title("New session - 2026-11-22T14:15:05.195Z"));
        assert!(!is_default_title("Probe title"));
        assert_eq!(fork_title("Probe"), "Probe (fork #1)");
        assert_eq!(fork_title("Probe (fork #1)"), "Probe (fork #2)");
        let slug = slug();
        assert!(slug.contains('-') && slug.len() > 4);
    }
}
