//! Search text: trimmed, whitespace collapsed, lowercased and capped, so two
//! spellings of one search are one query (and, later, one cache entry).

use std::fmt;

pub const MAX_SEARCH_CHARS: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SearchQuery(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("Ensure this value has at most 200 characters.")]
    TooLong,
}

impl SearchQuery {
    /// `Ok(None)` for blank input: an empty search box means "no search".
    pub fn parse(input: &str) -> Result<Option<Self>, SearchError> {
        if input.chars().count() > MAX_SEARCH_CHARS {
            return Err(SearchError::TooLong);
        }
        // Control characters separate terms like spaces: a NUL byte, which
        // PostgreSQL refuses in text, never reaches a query.
        let normalized = input
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|term| !term.is_empty())
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ");
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
        assert_eq!(q.as_str(), "lap top bag");
        assert_eq!(SearchQuery::parse("\0\0").unwrap(), None);
    }

    #[test]
    fn normalizes_case_and_whitespace() {
        let q = SearchQuery::parse("  Steel\t LAPTOP \n").unwrap().unwrap();
        assert_eq!(q.as_str(), "steel laptop");
        assert_eq!(q.terms().collect::<Vec<_>>(), ["steel", "laptop"]);
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
