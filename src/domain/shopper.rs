//! The pages' search box (`q`), read as a shopper means it: words, not
//! substrings. The API's `search` keeps DRF's reading (see `search`).
//!
//! **Words.** The input is split into runs of letters and digits (as both
//! databases' tokenizers split it: `T-Shirt` is `t` and `shirt`), lower
//! cased, sorted and made unique, so `Lamps desk` and `desk, lamps` are one
//! query and one cache entry. Word forms are the databases' business (their
//! stemmers make `lamps` find `lamp`).
//!
//! **Phrases.** Words in double quotes are one term, matched as a phrase
//! (`"laptop sleeve"`: those words in that order, in the name or in the
//! description); an unclosed quote is no quote. Single quotes are
//! apostrophes (`chef's`), not phrases.
//!
//! **Stop words.** The words PostgreSQL's `english` configuration leaves out
//! of its index are left out here too, on both databases: SQLite's index
//! keeps them, and a search for any of the words would otherwise find every
//! product that says "with" there and none on PostgreSQL. A search of stop
//! words alone keeps them to show, and finds nothing.

use std::fmt;

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

use super::search::{MAX_SEARCH_CHARS, MAX_SEARCH_TERMS, SearchError};

/// PostgreSQL's `english` stop words (its `english.stop`).
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "d",
    "did",
    "do",
    "does",
    "doing",
    "don",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "ll",
    "m",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "o",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "re",
    "s",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "ve",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "y",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// A parsed shopper search: the terms to match (no stop words), and the
/// canonical spelling for keys, links and the search box.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ShopperQuery {
    /// Each a word, or a phrase: its words separated by one space.
    words: Vec<String>,
    canonical: String,
}

/// Runs of letters and digits, lower-cased.
fn split_words(text: &str) -> impl Iterator<Item = String> + '_ {
    // Combining marks belong to their word: lower-casing `İ` gives `i` and
    // a combining dot, and the canonical spelling must split as the input did.
    let in_word = |c: char| c.is_alphanumeric() || c.general_category_group() == GeneralCategoryGroup::Mark;
    text.split(move |c: char| !in_word(c)).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// A term as the canonical form writes it: a phrase in double quotes.
fn write_term(term: &str) -> String {
    if is_phrase(term) { format!("\"{term}\"") } else { term.to_owned() }
}

/// Whether a term is a phrase of several words.
pub fn is_phrase(term: &str) -> bool {
    term.contains(' ')
}

impl ShopperQuery {
    /// `Ok(None)` when there is no word at all. Over 200 characters, or more
    /// than 8 different words, is refused (as the API's `search` is).
    pub fn parse(input: &str) -> Result<Option<Self>, SearchError> {
        // Counted as lower-cased, the form the canonical spelling has: `İ`
        // is two characters there, and the canonical form must parse back.
        if input.chars().flat_map(char::to_lowercase).count() > MAX_SEARCH_CHARS {
            return Err(SearchError::TooLong);
        }
        let quotes = input.matches('"').count();
        let (mut content, mut stops) = (Vec::new(), Vec::new());
        for (i, segment) in input.split('"').enumerate() {
            let words: Vec<String> = split_words(segment).collect();
            // Odd segments follow an opening quote; the last is quoted only
            // if a closing quote follows it.
            if i % 2 == 1 && i < quotes {
                // Stop words inside a phrase hold their place; at its ends
                // they add nothing.
                let start = words.iter().position(|w| !is_stop_word(w));
                let end = words.iter().rposition(|w| !is_stop_word(w));
                match (start, end) {
                    (Some(start), Some(end)) => content.push(words[start..=end].join(" ")),
                    _ => stops.extend(words),
                }
            } else {
                for word in words {
                    if is_stop_word(&word) { stops.push(word) } else { content.push(word) }
                }
            }
        }
        for terms in [&mut content, &mut stops] {
            terms.sort_unstable();
            terms.dedup();
        }
        if content.is_empty() && stops.is_empty() {
            return Ok(None);
        }
        let shown = if content.is_empty() { &stops } else { &content };
        if shown.len() > MAX_SEARCH_TERMS {
            return Err(SearchError::TooManyTerms);
        }
        let canonical = shown.iter().map(|t| write_term(t)).collect::<Vec<_>>().join(" ");
        Ok(Some(ShopperQuery { words: content, canonical }))
    }

    /// The terms to match, sorted: words, and phrases ([`is_phrase`]);
    /// none for a search of stop words alone.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// This search with some words replaced (`(typed, instead)` pairs), as
    /// a typo fallback searches it.
    pub fn replacing(&self, corrections: &[(String, String)]) -> ShopperQuery {
        let mut words: Vec<String> = self
            .words
            .iter()
            .map(|w| corrections.iter().find(|(typed, _)| typed == w).map_or(w, |(_, instead)| instead).clone())
            .collect();
        words.sort_unstable();
        words.dedup();
        let canonical = words.iter().map(|t| write_term(t)).collect::<Vec<_>>().join(" ");
        ShopperQuery { words, canonical }
    }

    pub fn as_str(&self) -> &str {
        &self.canonical
    }
}

impl fmt::Display for ShopperQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

/// How many edits a correction of `word` may make: none for a word of up
/// to 3 characters (every short word is a neighbour of many), 1 up to 7,
/// 2 beyond.
pub fn max_edits(word: &str) -> usize {
    match word.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// The edit distance between `a` and `b` (insertions, deletions,
/// substitutions and swaps of neighbours, each one edit) if it is at most
/// `max`; `None` beyond, found without finishing the table.
pub fn edit_distance_within(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    // Three rows of the table: two back (for swaps), one back, this one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1).min(row[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            row[j] = best;
        }
        if row.iter().min().is_some_and(|m| *m > max) {
            return None;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut row);
    }
    let distance = previous[b.len()];
    (distance <= max).then_some(distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(input: &str) -> Vec<String> {
        ShopperQuery::parse(input).unwrap().map(|q| q.words().to_vec()).unwrap_or_default()
    }

    #[test]
    fn the_stop_list_is_sorted_for_its_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_stop_word("with") && !is_stop_word("lamp"));
    }

    #[test]
    fn splits_into_lower_cased_words_as_the_tokenizers_do() {
        assert_eq!(words("Desk LAMPS"), ["desk", "lamps"]);
        assert_eq!(words("T-Shirt, chef's knife"), ["chef", "knife", "shirt"]);
        assert_eq!(words("usb-c 30-hour"), ["30", "c", "hour", "usb"]);
        assert_eq!(ShopperQuery::parse(" ,.- ").unwrap(), None);
    }

    #[test]
    fn spellings_of_one_search_share_a_canonical_form() {
        let a = ShopperQuery::parse("Lamps desk lamps").unwrap().unwrap();
        let b = ShopperQuery::parse("desk, LAMPS").unwrap().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "desk lamps");
        assert_eq!(ShopperQuery::parse(a.as_str()).unwrap(), Some(a));
    }

    #[test]
    fn stop_words_are_not_searched_but_alone_are_kept_to_show() {
        let q = ShopperQuery::parse("lamp with a shade").unwrap().unwrap();
        assert_eq!(q.words(), ["lamp", "shade"]);
        assert_eq!(q.as_str(), "lamp shade");
        let only = ShopperQuery::parse("with the").unwrap().unwrap();
        assert!(only.words().is_empty());
        assert_eq!(only.as_str(), "the with");
    }

    #[test]
    fn double_quotes_make_a_phrase_and_parse_again() {
        assert_eq!(words("\"Laptop Sleeve\" bag"), ["bag", "laptop sleeve"]);
        let q = ShopperQuery::parse("\"the lamp with a shade\"").unwrap().unwrap();
        assert_eq!(q.words(), ["lamp with a shade"], "inner stop words hold their place");
        assert_eq!(q.as_str(), "\"lamp with a shade\"");
        assert_eq!(ShopperQuery::parse(q.as_str()).unwrap(), Some(q));
        assert_eq!(words("\"lamp\""), ["lamp"], "one word is a word");
        assert_eq!(words("\"desk lamp"), ["desk", "lamp"], "no closing quote, no phrase");
        assert_eq!(words("chef's 'desk lamp'"), ["chef", "desk", "lamp"], "single quotes are apostrophes");
    }

    #[test]
    fn refuses_too_long_and_too_many_words() {
        assert_eq!(ShopperQuery::parse(&"a".repeat(201)), Err(SearchError::TooLong));
        assert_eq!(ShopperQuery::parse("one two three four five six seven eight nine"), Err(SearchError::TooManyTerms));
        // Counted once repeated words and stop words are gone.
        assert!(ShopperQuery::parse("one two three four five six seven eight one the with").unwrap().is_some());
    }

    #[test]
    fn replacing_words_keeps_the_form_canonical() {
        let q = ShopperQuery::parse("wireless hedphones").unwrap().unwrap();
        let fixed = q.replacing(&[("hedphones".into(), "headphones".into())]);
        assert_eq!(fixed.as_str(), "headphones wireless");
    }

    #[test]
    fn edit_distance_is_bounded() {
        assert_eq!(edit_distance_within("laptp", "laptop", 1), Some(1));
        assert_eq!(edit_distance_within("hedphones", "headphones", 2), Some(1));
        assert_eq!(edit_distance_within("lpatop", "laptop", 1), Some(1), "a swap is one edit");
        assert_eq!(edit_distance_within("kettle", "kettle", 0), Some(0));
        assert_eq!(edit_distance_within("lamp", "laptop", 1), None);
        assert_eq!(edit_distance_within("desk", "dusk", 0), None);
        assert_eq!(edit_distance_within("abcdefgh", "hgfedcba", 2), None);
        assert_eq!(edit_distance_within("héadphones", "headphones", 1), Some(1), "characters, not bytes");
    }

    #[test]
    fn short_words_are_never_corrected() {
        assert_eq!(max_edits("bag"), 0);
        assert_eq!(max_edits("laptp"), 1);
        assert_eq!(max_edits("hedphones"), 2);
    }
}
