//! Query planning: from a regex, the trigrams a file must contain for the regex to match in it,
//! as an AND/OR [`Query`] — the method of Russ Cox's "Regular Expression Matching with a Trigram
//! Index" (2012), over `regex-syntax`'s HIR (the parse `regex` and ripgrep use).
//!
//! Each HIR node is summarised by an [`Info`]: the exact strings it matches when there are few,
//! otherwise the strings its matches start and end with, plus a query every match satisfies.
//! Concatenation multiplies exact sets and adds the trigrams that span the boundary;
//! alternation unions them and ORs the queries. Sets that grow too large are turned into
//! trigrams and shortened to two bytes (all a later boundary can use), so summaries stay small
//! whatever the pattern.
//!
//! The plan may over-approximate (a candidate file need not match: the real search decides) but
//! must never under-approximate: a file the regex matches in always satisfies the query. Hence
//! every shortcut here only drops information (`All` is always a valid answer), and strings are
//! folded as the index folds them (ASCII lower case), so case-insensitive patterns plan too.

use std::collections::BTreeSet;
use std::fmt;

use regex_syntax::hir::{Class, Hir, HirKind};

use super::trigram::{Trigram, display, fold, trigrams_of};

/// Exact sets larger than this become prefix/suffix sets and trigrams.
const MAX_EXACT: usize = 16;
/// Prefix and suffix sets are shortened until at most this many strings remain.
const MAX_SET: usize = 32;
/// Larger character classes are treated as "any character" instead of enumerated.
const MAX_CLASS: u32 = 64;
/// An OR over more alternatives than this keeps only the trigrams they all require: it would
/// cost more to evaluate than it is likely to save.
const MAX_ALTERNATIVES: usize = 64;
/// A final query larger than this keeps only the trigrams it requires outright.
const MAX_QUERY_NODES: usize = 512;
/// At most this many of a long string's trigrams are required (spread over the string).
const MAX_TRIGRAMS_PER_STRING: usize = 16;
/// `x{n,}` is planned as at most this many copies of `x` followed by anything.
const MAX_COPIES: u32 = 3;

/// Which files may match: a formula over "the file contains this trigram".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Query {
    /// Every file: nothing is known.
    All,
    Trigram(Trigram),
    /// Two or more sub-queries, none of them `All` or an `And`, sorted, no duplicates.
    And(Vec<Query>),
    /// Two or more sub-queries, none of them `All` or an `Or`, sorted, no duplicates.
    Or(Vec<Query>),
}

impl Query {
    pub fn and(self, other: Query) -> Query {
        Query::all_of([self, other])
    }

    pub fn or(self, other: Query) -> Query {
        Query::any_of([self, other])
    }

    /// The conjunction of `parts` (`All` when there are none).
    pub fn all_of(parts: impl IntoIterator<Item = Query>) -> Query {
        let mut flat = Vec::new();
        for part in parts {
            match part {
                Query::All => {}
                Query::And(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        flat.sort_unstable();
        flat.dedup();
        match flat.len() {
            0 => Query::All,
            1 => flat.pop().unwrap_or(Query::All),
            _ => Query::And(flat),
        }
    }

    /// The disjunction of `parts`, with the trigrams every part requires pulled out front (and
    /// only those, when there are too many parts to be worth an OR). No parts would mean "no
    /// file"; that never arises from a pattern that can match, so it is answered with `All`.
    pub fn any_of(parts: impl IntoIterator<Item = Query>) -> Query {
        let mut flat = Vec::new();
        for part in parts {
            match part {
                Query::All => return Query::All,
                Query::Or(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        flat.sort_unstable();
        flat.dedup();
        if flat.len() <= 1 {
            return flat.pop().unwrap_or(Query::All);
        }
        let common = flat
            .iter()
            .map(Query::direct_trigrams)
            .reduce(|a, b| a.intersection(&b).copied().collect())
            .unwrap_or_default();
        let required = || common.iter().map(|&trigram| Query::Trigram(trigram));
        if flat.len() > MAX_ALTERNATIVES {
            return Query::all_of(required());
        }
        if common.is_empty() {
            return Query::Or(flat);
        }
        let rest: Vec<Query> = flat.into_iter().map(|part| part.without(&common)).collect();
        // The parts have no trigram in common any more, so this does not recurse again.
        Query::all_of(required().chain([Query::any_of(rest)]))
    }

    /// The trigrams this query requires by itself (not through a nested OR).
    fn direct_trigrams(&self) -> BTreeSet<Trigram> {
        match self {
            Query::Trigram(trigram) => BTreeSet::from([*trigram]),
            Query::And(parts) => parts
                .iter()
                .filter_map(|part| match part {
                    Query::Trigram(trigram) => Some(*trigram),
                    _ => None,
                })
                .collect(),
            Query::All | Query::Or(_) => BTreeSet::new(),
        }
    }

    /// This query with the requirement of `trigrams` dropped.
    fn without(self, trigrams: &BTreeSet<Trigram>) -> Query {
        match self {
            Query::Trigram(trigram) if trigrams.contains(&trigram) => Query::All,
            Query::And(parts) => Query::all_of(
                parts
                    .into_iter()
                    .filter(|part| !matches!(part, Query::Trigram(t) if trigrams.contains(t))),
            ),
            other => other,
        }
    }

    /// How many nodes the query has.
    pub fn size(&self) -> usize {
        match self {
            Query::All | Query::Trigram(_) => 1,
            Query::And(parts) | Query::Or(parts) => 1 + parts.iter().map(Query::size).sum::<usize>(),
        }
    }

    /// A query of at most about `max` nodes that this one implies: past the limit, only the
    /// trigrams required outright are kept (dropping a requirement is always safe).
    fn pruned(self, max: usize) -> Query {
        if self.size() <= max {
            return self;
        }
        Query::all_of(self.direct_trigrams().into_iter().take(max).map(Query::Trigram))
    }

    /// Whether a file containing exactly the trigrams `has` accepts satisfies the query.
    pub fn accepts(&self, has: &impl Fn(Trigram) -> bool) -> bool {
        match self {
            Query::All => true,
            Query::Trigram(trigram) => has(*trigram),
            Query::And(parts) => parts.iter().all(|part| part.accepts(has)),
            Query::Or(parts) => parts.iter().any(|part| part.accepts(has)),
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, parts: &[Query], sep: &str| -> fmt::Result {
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                match part {
                    Query::And(_) | Query::Or(_) => write!(f, "({part})")?,
                    _ => write!(f, "{part}")?,
                }
            }
            Ok(())
        };
        match self {
            Query::All => f.write_str("*"),
            Query::Trigram(trigram) => write!(f, "\"{}\"", display(*trigram)),
            Query::And(parts) => join(f, parts, " & "),
            Query::Or(parts) => join(f, parts, " | "),
        }
    }
}

/// The query for `pattern`, parsed as `grep-regex` parses it; `None` when the index cannot narrow
/// the search (a pattern without three known consecutive bytes, or one this parser rejects).
pub fn plan(pattern: &str) -> Option<Query> {
    let hir = regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()?;
    match analyze(&hir).into_query().pruned(MAX_QUERY_NODES) {
        Query::All => None,
        query => Some(query),
    }
}

/// Folded byte strings, ordered (so plans are deterministic).
type Strings = BTreeSet<Vec<u8>>;

/// What is known about the strings one HIR node matches.
#[derive(Debug, Clone)]
struct Info {
    /// Every string the node matches, when there are few; then `prefix` and `suffix` are unused.
    exact: Option<Strings>,
    /// Every match starts with one of these (`{""}`: nothing known).
    prefix: Strings,
    /// Every match ends with one of these.
    suffix: Strings,
    /// Every match satisfies this (beyond what the sets say).
    query: Query,
}

impl Info {
    fn exact(strings: Strings) -> Info {
        Info {
            exact: Some(strings),
            prefix: Strings::new(),
            suffix: Strings::new(),
            query: Query::All,
        }
    }

    fn empty_string() -> Info {
        Info::exact(Strings::from([Vec::new()]))
    }

    /// Any string at all, the empty one included.
    fn anything() -> Info {
        Info {
            exact: None,
            prefix: Strings::from([Vec::new()]),
            suffix: Strings::from([Vec::new()]),
            query: Query::All,
        }
    }

    fn prefixes(&self) -> &Strings {
        self.exact.as_ref().unwrap_or(&self.prefix)
    }

    fn suffixes(&self) -> &Strings {
        self.exact.as_ref().unwrap_or(&self.suffix)
    }

    /// Everything known, as one query.
    fn into_query(self) -> Query {
        match &self.exact {
            Some(exact) => self.query.and(any_string(exact)),
            None => Query::all_of([self.query, any_string(&self.prefix), any_string(&self.suffix)]),
        }
    }

    /// Keeps the sets small: too many exact strings become prefix and suffix sets; a prefix or
    /// suffix set's trigrams move into the query and its strings are cut to two bytes (a later
    /// boundary trigram needs no more), then shorter while there are too many.
    fn simplified(mut self) -> Info {
        if self.exact.as_ref().is_some_and(|exact| exact.len() > MAX_EXACT) {
            let exact = self.exact.take().unwrap_or_default();
            self.query = self.query.and(any_string(&exact));
            self.prefix = exact.clone();
            self.suffix = exact;
        }
        if self.exact.is_none() {
            self.query = Query::all_of([self.query, any_string(&self.prefix), any_string(&self.suffix)]);
            self.prefix = shorten(&self.prefix, End::Start, 2);
            self.suffix = shorten(&self.suffix, End::Finish, 2);
        }
        self
    }
}

/// Which end of a string to keep when shortening it.
#[derive(Clone, Copy)]
enum End {
    Start,
    Finish,
}

/// `strings` cut to at most `keep` bytes (from the start or the end), shorter still while more
/// than [`MAX_SET`] remain.
fn shorten(strings: &Strings, end: End, keep: usize) -> Strings {
    let mut keep = keep;
    loop {
        let cut: Strings = strings
            .iter()
            .map(|s| match end {
                End::Start => s[..s.len().min(keep)].to_vec(),
                End::Finish => s[s.len().saturating_sub(keep)..].to_vec(),
            })
            .collect();
        if cut.len() <= MAX_SET || keep == 0 {
            return cut;
        }
        keep -= 1;
    }
}

/// Every concatenation of a string of `a` and a string of `b`.
fn cross(a: &Strings, b: &Strings) -> Strings {
    a.iter()
        .flat_map(|x| {
            b.iter().map(move |y| {
                let mut joined = x.clone();
                joined.extend_from_slice(y);
                joined
            })
        })
        .collect()
}

/// "The file contains one of `strings`": the OR, over the strings, of the AND of each string's
/// trigrams. A string shorter than three bytes says nothing, so it makes the whole OR `All`.
fn any_string(strings: &Strings) -> Query {
    if strings.is_empty() || strings.iter().any(|s| s.len() < 3) {
        return Query::All;
    }
    Query::any_of(
        strings
            .iter()
            .map(|s| Query::all_of(required_trigrams(s).into_iter().map(Query::Trigram))),
    )
}

/// The trigrams required of a string: all of them, or an evenly spread sample of a long one.
fn required_trigrams(string: &[u8]) -> BTreeSet<Trigram> {
    let all: Vec<Trigram> = trigrams_of(string).collect();
    if all.len() <= MAX_TRIGRAMS_PER_STRING {
        return all.into_iter().collect();
    }
    let step = all.len().div_ceil(MAX_TRIGRAMS_PER_STRING);
    all.into_iter().step_by(step).collect()
}

fn analyze(hir: &Hir) -> Info {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Info::empty_string(),
        HirKind::Literal(literal) => {
            Info::exact(Strings::from([literal.0.iter().copied().map(fold).collect()]))
        }
        HirKind::Class(class) => class_info(class),
        HirKind::Capture(capture) => analyze(&capture.sub),
        HirKind::Repetition(repetition) => repeat(analyze(&repetition.sub), repetition.min, repetition.max),
        HirKind::Concat(parts) => parts
            .iter()
            .fold(Info::empty_string(), |info, part| concat(info, analyze(part))),
        HirKind::Alternation(branches) => branches
            .iter()
            .map(analyze)
            .reduce(alternate)
            .unwrap_or_else(Info::empty_string),
    }
}

/// A small class is the set of its (folded) characters; a large one could be anything.
fn class_info(class: &Class) -> Info {
    let mut strings = Strings::new();
    match class {
        Class::Unicode(class) => {
            let size: u32 = class
                .ranges()
                .iter()
                .map(|r| (r.end() as u32 - r.start() as u32).saturating_add(1))
                .fold(0, u32::saturating_add);
            if size == 0 || size > MAX_CLASS {
                return Info::anything();
            }
            for range in class.ranges() {
                for c in (range.start() as u32..=range.end() as u32).filter_map(char::from_u32) {
                    let mut buf = [0; 4];
                    strings.insert(c.encode_utf8(&mut buf).bytes().map(fold).collect());
                }
            }
        }
        Class::Bytes(class) => {
            let size: u32 = class
                .ranges()
                .iter()
                .map(|r| u32::from(r.end() - r.start()) + 1)
                .sum();
            if size == 0 || size > MAX_CLASS {
                return Info::anything();
            }
            for range in class.ranges() {
                for byte in range.start()..=range.end() {
                    strings.insert(vec![fold(byte)]);
                }
            }
        }
    }
    Info::exact(strings).simplified()
}

fn concat(a: Info, b: Info) -> Info {
    let query = a.query.clone().and(b.query.clone());
    if let (Some(x), Some(y)) = (&a.exact, &b.exact)
        && x.len() * y.len() <= MAX_EXACT
    {
        return Info {
            exact: Some(cross(x, y)),
            prefix: Strings::new(),
            suffix: Strings::new(),
            query,
        }
        .simplified();
    }
    // Only the last two bytes before the boundary and the first two after can form a trigram
    // that neither side knows about.
    let before = shorten(a.suffixes(), End::Finish, 2);
    let after = shorten(b.prefixes(), End::Start, 2);
    let boundary = any_string(&cross(&before, &after));
    let prefix = match &a.exact {
        Some(x) => cross(x, &after),
        None => a.prefix,
    };
    let suffix = match &b.exact {
        Some(y) => cross(&before, y),
        None => b.suffix,
    };
    Info {
        exact: None,
        prefix,
        suffix,
        query: query.and(boundary),
    }
    .simplified()
}

fn alternate(a: Info, b: Info) -> Info {
    if let (Some(x), Some(y)) = (&a.exact, &b.exact) {
        return Info {
            exact: Some(x.union(y).cloned().collect()),
            prefix: Strings::new(),
            suffix: Strings::new(),
            query: a.query.or(b.query),
        }
        .simplified();
    }
    let prefix = a.prefixes().union(b.prefixes()).cloned().collect();
    let suffix = a.suffixes().union(b.suffixes()).cloned().collect();
    Info {
        exact: None,
        prefix,
        suffix,
        query: a.into_query().or(b.into_query()),
    }
    .simplified()
}

fn repeat(sub: Info, min: u32, max: Option<u32>) -> Info {
    match (min, max) {
        (0, Some(0)) => Info::empty_string(),
        // `x?`: what `x` matches, or nothing (so nothing `x` requires is required).
        (0, Some(1)) => match sub.exact {
            Some(mut exact) => {
                exact.insert(Vec::new());
                Info::exact(exact).simplified()
            }
            None => Info::anything(),
        },
        (0, _) => Info::anything(),
        (1, Some(1)) => sub,
        (min, max) => {
            let copies = min.min(MAX_COPIES);
            let mut copied = sub.clone();
            for _ in 1..copies {
                copied = concat(copied, sub.clone());
            }
            if copies == min && max == Some(min) {
                return copied;
            }
            let mut info = concat(copied.clone(), Info::anything());
            // Whatever follows, a match still ends with `copies` whole matches of `sub`.
            info.suffix = copied.suffixes().clone();
            info.simplified()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::index::trigram::pack;
    use crate::project::testing::Rng;

    fn planned(pattern: &str) -> String {
        plan(pattern).map_or_else(|| "none".to_owned(), |q| q.to_string())
    }

    #[test]
    fn literals_require_their_trigrams() {
        assert_eq!(planned("hello"), r#""ell" & "hel" & "llo""#);
        assert_eq!(planned("abc"), r#""abc""#);
        // Shorter than a trigram: nothing to narrow with.
        assert_eq!(planned("ab"), "none");
        assert_eq!(planned(""), "none");
        // Escapes are literals too.
        assert_eq!(planned(r"a\.b"), r#""a.b""#);
    }

    #[test]
    fn alternation_ors_and_factors_common_trigrams() {
        assert_eq!(planned("foo|bar"), r#""bar" | "foo""#);
        assert_eq!(
            planned("(foo|bar)baz"),
            r#""baz" & (("arb" & "bar" & "rba") | ("foo" & "oba" & "oob"))"#
        );
        // A branch that says nothing makes the whole alternation say nothing.
        assert_eq!(planned("foo|x"), "none");
        assert_eq!(planned("hello(world|there)"), planned("hello(there|world)"));
        let query = plan("hello(world|there)").expect("plans");
        let has = |text: &'static str| move |t| trigrams_of(text.as_bytes()).any(|x| x == t);
        assert!(query.accepts(&has("say helloworld")));
        assert!(query.accepts(&has("hellothere")));
        assert!(!query.accepts(&has("hello world")));
    }

    #[test]
    fn small_classes_expand_and_large_ones_are_anything() {
        assert_eq!(planned("gree[dt]"), r#""gre" & "ree" & ("eed" | "eet")"#);
        assert_eq!(
            planned("ab[0-9]"),
            r#""ab0" | "ab1" | "ab2" | "ab3" | "ab4" | "ab5" | "ab6" | "ab7" | "ab8" | "ab9""#
        );
        // `\w` is huge: only the literal parts count.
        assert_eq!(planned(r"foo\wbar"), r#""bar" & "foo""#);
        assert_eq!(planned(r"\w+"), "none");
        assert_eq!(planned("[^a]bc"), "none");
    }

    #[test]
    fn dot_star_separates_required_literals() {
        assert_eq!(planned("foo.*bar"), r#""bar" & "foo""#);
        assert_eq!(planned("a.*foo.*b"), r#""foo""#);
        assert_eq!(planned(".*"), "none");
        assert_eq!(planned("x.y.z"), "none");
    }

    #[test]
    fn repetitions() {
        assert_eq!(planned("(abc)+"), r#""abc""#);
        assert_eq!(planned("a{3}"), r#""aaa""#);
        // At least two `b`s: a match ends with `bb`, then `c`.
        assert_eq!(planned("ab{2,}c"), r#""abb" & "bbc""#);
        assert_eq!(planned("(abc)*"), "none");
        assert_eq!(planned("x(abc)?y"), "none");
        assert_eq!(planned("colou?r"), r#""col" & "olo" & ("lor" | ("lou" & "our"))"#);
        assert_eq!(planned("(abcd){2,5}z"), planned("(abcd){2,5}z"));
        let query = plan("(abcd){2,5}z").expect("plans");
        let has = |text: &'static str| move |t| trigrams_of(text.as_bytes()).any(|x| x == t);
        assert!(query.accepts(&has("abcdabcdz")));
        assert!(!query.accepts(&has("abcdz")));
    }

    #[test]
    fn case_insensitive_patterns_fold() {
        assert_eq!(planned("(?i)Hello"), r#""ell" & "hel" & "llo""#);
        assert_eq!(planned("(?i)hello"), planned("HELLO"));
        // Unicode case folding adds the Kelvin sign to `k`, which needs its own trigrams.
        let query = plan("(?i)kit").expect("plans");
        let has = |text: &'static str| move |t| trigrams_of(text.as_bytes()).any(|x| x == t);
        assert!(query.accepts(&has("KIT")));
        assert!(query.accepts(&has("\u{212a}it")));
        assert!(!query.accepts(&has("kid")));
    }

    #[test]
    fn anchors_and_word_boundaries_are_zero_width() {
        assert_eq!(planned("^foo$"), r#""foo""#);
        assert_eq!(planned(r"\bfoo\b"), r#""foo""#);
        assert_eq!(planned("(?m)^fn main"), planned("fn main"));
    }

    #[test]
    fn non_ascii_and_bytes() {
        assert_eq!(planned("éa"), r#""\xc3\xa9a""#);
        assert_eq!(planned("(?i)éa"), r#""\xc3\x89a" | "\xc3\xa9a""#);
        assert_eq!(
            plan("(?-u:\\xff\\xfe\\xfd)"),
            Some(Query::Trigram(pack(0xff, 0xfe, 0xfd)))
        );
    }

    #[test]
    fn invalid_or_huge_patterns_never_fail_and_stay_small() {
        assert_eq!(planned("("), "none");
        let alternatives: Vec<String> = (0..500).map(|i| format!("word{i:03}")).collect();
        // Too many alternatives for one OR, but the trigrams they share still count.
        let words = planned(&alternatives.join("|"));
        assert!(words.starts_with(r#""ord" & "wor""#), "{words}");
        let long = "abcdefghij".repeat(100);
        match plan(&long).expect("plans") {
            Query::And(parts) => assert!(parts.len() <= MAX_TRIGRAMS_PER_STRING),
            other => panic!("{other}"),
        }
        // Products of classes stay bounded.
        assert_eq!(planned(&"[a-p]".repeat(40)), "none");
        let product = plan(&"(a|b|c|d)".repeat(30)).expect("plans");
        assert!(product.size() <= MAX_QUERY_NODES, "{}", product.size());
    }

    fn random_pattern(rng: &mut Rng, depth: u32) -> String {
        // No `\w` or `\b`: Unicode word classes make each matcher take a tenth of a second to
        // build in a debug build; the unit tests above cover them.
        let atoms = [
            "a", "b", "c", "A", "ab", "abc", "bca", "cab", "abca", "[ab]", "[a-c]", "[^b]", ".", "é", "^",
            "$",
        ];
        let n = 1 + rng.below(4);
        let mut out = String::new();
        for _ in 0..n {
            let mut piece = if depth > 0 && rng.below(4) == 0 {
                let branches = 1 + rng.below(3);
                let inner: Vec<String> = (0..branches).map(|_| random_pattern(rng, depth - 1)).collect();
                format!("({})", inner.join("|"))
            } else {
                rng.pick(&atoms).to_owned()
            };
            if !matches!(piece.as_str(), "^" | "$" | r"\b") {
                piece.push_str(rng.pick(&["", "", "", "*", "+", "?", "{2}", "{1,3}"]));
            }
            out.push_str(&piece);
        }
        if rng.below(5) == 0 {
            out.insert_str(0, "(?i)");
        }
        out
    }

    #[test]
    fn plans_never_reject_a_matching_line() {
        use grep_matcher::Matcher as _;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Tokens from the patterns' own atoms, so that many lines match.
        let alphabet = [
            "a", "b", "c", "A", "B", "é", "É", " ", "_", "abc", "bca", "ABC", "cab",
        ];
        for round in 0..400 {
            let pattern = random_pattern(&mut rng, 2);
            let Ok(matcher) = crate::project::find::matcher(&pattern) else {
                continue;
            };
            let query = plan(&pattern);
            for _ in 0..50 {
                let len = rng.below(12);
                let line: String = (0..len).map(|_| rng.pick(&alphabet)).collect();
                if !matcher.is_match(line.as_bytes()).expect("matches") {
                    continue;
                }
                if let Some(query) = &query {
                    let has = |t| trigrams_of(line.as_bytes()).any(|x| x == t);
                    assert!(
                        query.accepts(&has),
                        "round {round}: /{pattern}/ matches {line:?} but the plan {query} rejects it"
                    );
                }
            }
        }
    }
}
