//! Search text: trimmed, whitespace collapsed, lowercased and capped, so two
//! spellings of one search are one query (and, later, one cache entry).
//!
//! Every term must occur in a product as a literal substring (see
//! `models::product::matches_all_terms`), so a repeated term, or a term inside
//! another one, changes nothing about the result: such terms are dropped, and
//! the rest are sorted. `lamp lamps`, `lamps lamps` and `lamps` are then one
//! query, one cache entry and one canonical link, and the number of terms
//! (each a `LIKE` over every product) is capped after that reduction.

use std::fmt;

pub const MAX_SEARCH_CHARS: usize = 200;

/// The most terms a search may keep once repeated and contained terms are
/// dropped.
pub const MAX_SEARCH_TERMS: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SearchQuery(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("Ensure this value has at most 200 characters.")]
    TooLong,
    #[error("Ensure this value has at most 8 different words.")]
    TooManyTerms,
}

impl SearchQuery {
    /// `Ok(None)` for blank input: an empty search box means "no search".
    pub fn parse(input: &str) -> Result<Option<Self>, SearchError> {
        if input.chars().count() > MAX_SEARCH_CHARS {
            return Err(SearchError::TooLong);
        }
        // Control characters separate terms like spaces: a NUL byte, which
        // PostgreSQL refuses in text, never reaches a query.
        let mut terms = input
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|term| !term.is_empty())
            .map(str::to_lowercase)
            .collect::<Vec<_>>();
        // Sorted and deduplicated, so the order terms came in never matters.
        terms.sort_unstable();
        terms.dedup();
        // A term that another (now different) term contains is implied by it.
        let kept = terms
            .iter()
            .filter(|term| !terms.iter().any(|other| other != *term && other.contains(term.as_str())))
            .map(String::as_str)
            .collect::<Vec<_>>();
        if kept.len() > MAX_SEARCH_TERMS {
            return Err(SearchError::TooManyTerms);
        }
        let normalized = kept.join(" ");
        // Lowercasing can lengthen text (`İ` becomes two chars): cap the
        // result too, so the canonical form always parses again.
        if normalized.chars().count() > MAX_SEARCH_CHARS {
            return Err(SearchError::TooLong);
        }
        Ok((!normalized.is_empty()).then_some(SearchQuery(normalized)))
    }

    /// Every term must match the product's name or description.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SearchQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(q.terms().collect::<Vec<_>>(), ["laptop", "steel"]);
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
        // Containment is judged after lowercasing, as matching is.
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
    fn caps_length_in_characters_not_bytes() {
        assert!(SearchQuery::parse(&"é".repeat(200)).unwrap().is_some());
        assert_eq!(SearchQuery::parse(&"a".repeat(201)), Err(SearchError::TooLong));
    }

    #[test]
    fn the_normalized_form_parses_again() {
        // 200 `İ` used to normalize to 400 chars: an accepted search whose
        // canonical link was refused (see fuzz/fuzz_targets/listing_query.rs).
        assert_eq!(SearchQuery::parse(&"İ".repeat(200)), Err(SearchError::TooLong));
        let q = SearchQuery::parse(&"İ".repeat(100)).unwrap().unwrap();
        assert_eq!(q.as_str().chars().count(), 200);
        assert_eq!(SearchQuery::parse(q.as_str()), Ok(Some(q)));
    }
}
