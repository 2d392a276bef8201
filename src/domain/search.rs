//! Search text, parsed as Django REST Framework's `SearchFilter` reads it,
//! and the one case folding that both the stored search document and every
//! term go through.
//!
//! **Terms.** The input is split like DRF's `search_smart_split`: on
//! whitespace, except inside a quoted phrase (`"desk lamp"` or `'desk
//! lamp'`, quotes removed, `\"` and `\\` unescaped), and unquoted words
//! again on commas. `search=desk,lamp` is two terms; `search=,,` and
//! `search=""` are none, so no search.
//!
//! **Case.** DRF on PostgreSQL matches `UPPER(column) LIKE UPPER(term)`,
//! PostgreSQL's `upper` mapping each character on its own. [`fold`] does the
//! same in Rust, so it does not depend on the database's locale, or on
//! SQLite's `LIKE`, which folds ASCII only: each character becomes its
//! uppercase when that is one character (`é` → `É`, `ς` and `σ` → `Σ`, `ı`
//! and `i` → `I`), and stays as it is when it is not (`ß`, `ŉ`). Folding
//! never changes the number of characters.
//!
//! **One query, one key.** Every term must occur in a product as a literal
//! substring (see `models::product::matches_all_terms`), so a repeated term,
//! or a term inside another one, changes nothing about the result: such
//! terms are dropped, and the rest are sorted. `lamp lamps`, `Lamps,lamps`
//! and `lamps` are then one query, one cache entry and one canonical link,
//! and the number of terms (each a `LIKE` over every product) is capped
//! after that reduction.

use std::fmt;

pub const MAX_SEARCH_CHARS: usize = 200;

/// The most terms a search may keep once repeated and contained terms are
/// dropped.
pub const MAX_SEARCH_TERMS: usize = 8;

/// What separates a product's name from its description in the stored
/// document: a control character, which no term holds, so a phrase never
/// matches across the two.
const DOCUMENT_SEPARATOR: char = '\n';

/// A parsed search: its folded terms, sorted, and the canonical spelling
/// they parse back from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SearchQuery {
    terms: Vec<String>,
    canonical: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("Ensure this value has at most 200 characters.")]
    TooLong,
    #[error("Ensure this value has at most 8 different words.")]
    TooManyTerms,
}

/// `c` in upper case when that is one character, else `c`.
fn upper(c: char) -> char {
    let mut mapped = c.to_uppercase();
    match (mapped.next(), mapped.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// `c` in lower case when that is one character that folds back to `c`,
/// else `c`: the spelling shown for a folded term, which parses to it again.
fn shown(c: char) -> char {
    let mut mapped = c.to_lowercase();
    match (mapped.next(), mapped.next()) {
        (Some(l), None) if upper(l) == c => l,
        _ => c,
    }
}

/// The case folding of search: of the stored document and of each term.
pub fn fold(text: &str) -> String {
    text.chars().map(upper).collect()
}

/// The text a product is searched in: its folded name and description.
pub fn search_document(name: &str, description: &str) -> String {
    let mut document = fold(name);
    document.push(DOCUMENT_SEPARATOR);
    document.push_str(&fold(description));
    document
}

/// Django's `smart_split`: whitespace-separated tokens, where a token runs
/// on through any complete quoted string (`a"b c"d` is one token); a quote
/// with no end is an ordinary character.
fn smart_split(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let plain = |c: char| !c.is_whitespace() && c != '"' && c != '\'';
    // The index after the quoted string opening at `open`, if it closes.
    let closing = |open: usize| {
        let quote = chars[open].1;
        let mut i = open + 1;
        while let Some(&(_, c)) = chars.get(i) {
            match c {
                '\\' if i + 1 < chars.len() => i += 2,
                '\\' => return None,
                c if c == quote => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    };
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].1.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        while j < chars.len() && plain(chars[j].1) {
            j += 1;
        }
        let mut end = None;
        while j < chars.len() && !chars[j].1.is_whitespace() {
            let Some(after) = closing(j) else { break };
            j = after;
            while j < chars.len() && plain(chars[j].1) {
                j += 1;
            }
            end = Some(j);
        }
        let end = end.unwrap_or_else(|| {
            let mut k = start;
            while k < chars.len() && !chars[k].1.is_whitespace() {
                k += 1;
            }
            k
        });
        tokens.push(&text[at(start)..at(end)]);
        i = end;
    }
    tokens
}

/// DRF's `search_smart_split`: a token in matching quotes is one phrase,
/// unescaped; any other is split on commas.
fn split_terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    for token in smart_split(text) {
        let token = token.trim_matches(',');
        let mut ends = token.chars();
        let (first, last) = (ends.next(), ends.next_back().or(token.chars().next()));
        match first {
            Some(q @ ('"' | '\'')) if last == Some(q) => {
                let inner = if token.len() > 1 { &token[1..token.len() - 1] } else { "" };
                let escaped_quote = format!("\\{q}");
                terms.push(inner.replace(&escaped_quote, &q.to_string()).replace("\\\\", "\\"));
            }
            _ => terms.extend(token.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)),
        }
    }
    terms
}

/// How a folded term is written in the canonical form: bare when it can
/// be, else quoted with whichever quote it holds fewer of, escaped.
fn write_term(out: &mut String, term: &str) {
    let shown: String = term.chars().map(shown).collect();
    if !shown.chars().any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | ',')) {
        out.push_str(&shown);
        return;
    }
    let count = |q| shown.chars().filter(|c| *c == q).count();
    let quote = if count('"') > count('\'') { '\'' } else { '"' };
    out.push(quote);
    for c in shown.chars() {
        if c == quote || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push(quote);
}

impl SearchQuery {
    /// `Ok(None)` when there is no term: an empty search box, `,,` or `""`
    /// mean "no search".
    pub fn parse(input: &str) -> Result<Option<Self>, SearchError> {
        if input.chars().count() > MAX_SEARCH_CHARS {
            return Err(SearchError::TooLong);
        }
        // Control characters separate terms like spaces: a NUL byte, which
        // PostgreSQL refuses in text, never reaches a query, and no term
        // can hold the document's separator.
        let spaced: String = input.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let mut terms: Vec<String> = split_terms(&spaced).iter().map(|t| fold(t)).filter(|t| !t.is_empty()).collect();
        // Sorted and deduplicated, so the order terms came in never matters.
        terms.sort_unstable();
        terms.dedup();
        // A term that another (now different) term contains is implied by it.
        let kept: Vec<String> = terms
            .iter()
            .filter(|term| !terms.iter().any(|other| other != *term && other.contains(term.as_str())))
            .cloned()
            .collect();
        if kept.len() > MAX_SEARCH_TERMS {
            return Err(SearchError::TooManyTerms);
        }
        if kept.is_empty() {
            return Ok(None);
        }
        let mut canonical = String::new();
        for term in &kept {
            if !canonical.is_empty() {
                canonical.push(' ');
            }
            write_term(&mut canonical, term);
        }
        // Quoting can lengthen odd input (`'a"b'` is written `"a\"b"`): the
        // canonical form must parse again, so it must fit too.
        if canonical.chars().count() > MAX_SEARCH_CHARS {
            return Err(SearchError::TooLong);
        }
        Ok(Some(SearchQuery { terms: kept, canonical }))
    }

    /// The folded terms; every one must match the product's name or
    /// description.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(String::as_str)
    }

    /// The canonical spelling, for keys, links and the search box.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }
}

impl fmt::Display for SearchQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn terms(input: &str) -> Vec<String> {
        SearchQuery::parse(input).unwrap().map(|q| q.terms().map(str::to_owned).collect()).unwrap_or_default()
    }

    #[test]
    fn control_characters_separate_terms() {
        let q = SearchQuery::parse("lap\0top\u{7}\tbag").unwrap().unwrap();
        assert_eq!(q.as_str(), "bag lap top");
        assert_eq!(SearchQuery::parse("\0\0").unwrap(), None);
    }

    #[test]
    fn normalizes_case_and_whitespace() {
        let q = SearchQuery::parse("  Steel\t LAPTOP \n").unwrap().unwrap();
        assert_eq!(q.as_str(), "laptop steel");
        assert_eq!(q.terms().collect::<Vec<_>>(), ["LAPTOP", "STEEL"]);
    }

    #[test]
    fn commas_separate_terms_like_whitespace() {
        assert_eq!(terms("desk,lamp"), ["DESK", "LAMP"]);
        assert_eq!(terms(",desk,, lamp,"), ["DESK", "LAMP"]);
        assert_eq!(SearchQuery::parse(",,").unwrap(), None);
        assert_eq!(SearchQuery::parse("desk,lamp"), SearchQuery::parse("lamp desk"));
    }

    #[test]
    fn a_quoted_phrase_is_one_term() {
        assert_eq!(terms("\"desk lamp\""), ["DESK LAMP"]);
        assert_eq!(terms("'desk lamp' oak"), ["DESK LAMP", "OAK"]);
        // Commas inside a phrase are kept; around it they are trimmed.
        assert_eq!(terms(",\"a, b\","), ["A, B"]);
        assert_eq!(terms(r#""say \"hi\"""#), [r#"SAY "HI""#]);
        assert_eq!(SearchQuery::parse("\"\"").unwrap(), None);
        assert_eq!(SearchQuery::parse("'").unwrap(), None, "a lone quote is an empty phrase");
        // A phrase contains its words, which then add nothing.
        assert_eq!(terms("desk \"desk lamp\""), ["DESK LAMP"]);
    }

    #[test]
    fn quotes_that_do_not_make_a_phrase_are_characters() {
        // An unclosed quote, and quotes inside a word, as Django splits them.
        assert_eq!(terms("\"desk lamp"), ["\"DESK", "LAMP"]);
        assert_eq!(terms("a\"b c\"d"), ["A\"B C\"D"]);
        assert_eq!(terms("\"a b\"x"), ["\"A B\"X"]);
    }

    #[test]
    fn folds_each_character_to_upper_case_as_postgresql_upper_does() {
        assert_eq!(fold("Éclair çay"), "ÉCLAIR ÇAY");
        assert_eq!(fold("İstanbul istanbul ısı"), "İSTANBUL ISTANBUL ISI");
        assert_eq!(fold("οδος ΟΔΟΣ σ"), "ΟΔΟΣ ΟΔΟΣ Σ");
        assert_eq!(fold("Straße"), "STRAßE", "ß has no one-character capital");
        assert_eq!(fold("Чай"), "ЧАЙ");
        for s in ["İ", "ß", "ŉ", "ǅ", "ﬁ"] {
            assert_eq!(fold(s).chars().count(), s.chars().count(), "{s}");
        }
    }

    #[test]
    fn repeated_terms_count_once() {
        let q = SearchQuery::parse(&vec!["e"; 100].join(" ")).unwrap().unwrap();
        assert_eq!(q.as_str(), "e");
        assert_eq!(SearchQuery::parse("Lamp lamp LAMP"), SearchQuery::parse("lamp"));
    }

    #[test]
    fn a_term_inside_another_adds_nothing() {
        assert_eq!(SearchQuery::parse("lamp lamps").unwrap().unwrap().as_str(), "lamps");
        assert_eq!(SearchQuery::parse("ps LAMPS am").unwrap().unwrap().as_str(), "lamps");
        // Only whole-term containment counts: neither of these contains the other.
        assert_eq!(SearchQuery::parse("desk lamp").unwrap().unwrap().as_str(), "desk lamp");
        // Containment is judged after folding, as matching is.
        assert_eq!(SearchQuery::parse("OAK oaken").unwrap().unwrap().as_str(), "oaken");
    }

    #[test]
    fn the_order_of_terms_does_not_matter() {
        assert_eq!(SearchQuery::parse("steel laptop"), SearchQuery::parse("laptop  STEEL laptop"));
    }

    #[test]
    fn caps_the_number_of_different_terms() {
        let eight = "one two three four five six seven eight";
        assert_eq!(SearchQuery::parse(eight).unwrap().unwrap().terms().count(), 8);
        assert_eq!(SearchQuery::parse(&format!("{eight} nine")), Err(SearchError::TooManyTerms));
        // Counted after dropping repeats and contained terms.
        assert!(SearchQuery::parse(&format!("{eight} eight eigh t ONE")).unwrap().is_some());
    }

    #[test]
    fn blank_means_no_search() {
        assert_eq!(SearchQuery::parse("   ").unwrap(), None);
    }

    #[test]
    fn caps_the_input_in_characters_not_bytes_or_folded_form() {
        assert!(SearchQuery::parse(&"é".repeat(200)).unwrap().is_some());
        assert_eq!(SearchQuery::parse(&"a".repeat(201)), Err(SearchError::TooLong));
        let q = SearchQuery::parse(&"İ".repeat(150)).unwrap().unwrap();
        assert_eq!(q.as_str().chars().count(), 150);
        assert_eq!(SearchQuery::parse(q.as_str()), Ok(Some(q)));
    }

    #[test]
    fn the_canonical_form_reads_as_typed_and_parses_again() {
        for (input, canonical) in [
            ("İstanbul", "İstanbul"),
            ("ΟΔΟΣ", "οδοσ"),
            ("'say \"hi\"'", "'say \"hi\"'"),
            ("\"it's\"", "\"it's\""),
            ("\"a\\\\b\"", "a\\b"),
            (",\"Desk Lamp\",", "\"desk lamp\""),
        ] {
            let q = SearchQuery::parse(input).unwrap().unwrap();
            assert_eq!(q.as_str(), canonical, "{input}");
            assert_eq!(SearchQuery::parse(q.as_str()), Ok(Some(q)), "{input}");
        }
    }

    proptest! {
        #[test]
        fn every_accepted_search_parses_again_from_its_canonical_form(
            input in "[a-zA-Z0-9 ,\"'\\\\İıßςσΣéÉ\u{1f}ǅﬁ]{0,60}"
        ) {
            if let Ok(Some(q)) = SearchQuery::parse(&input) {
                prop_assert_eq!(SearchQuery::parse(q.as_str()), Ok(Some(q.clone())));
                for term in q.terms() {
                    prop_assert_eq!(fold(term), term);
                }
            }
        }
    }
}
