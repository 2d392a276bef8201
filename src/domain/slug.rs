//! URL slugs: lowercase ASCII letters, digits and single hyphens.

use std::fmt;

pub const MAX_SLUG_LEN: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("Enter a valid slug consisting of lowercase letters, numbers and hyphens.")]
    Invalid,
    #[error("Ensure this field has no more than 200 characters.")]
    TooLong,
}

impl Slug {
    pub fn parse(input: &str) -> Result<Self, SlugError> {
        if input.len() > MAX_SLUG_LEN {
            return Err(SlugError::TooLong);
        }
        let valid = !input.is_empty()
            && !input.starts_with('-')
            && !input.ends_with('-')
            && !input.contains("--")
            && input.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid { Ok(Slug(input.to_owned())) } else { Err(SlugError::Invalid) }
    }

    /// Derives a slug from a display name: `Café Chairs & Tables` becomes
    /// `caf-chairs-tables`. Returns `None` when nothing usable is left.
    pub fn from_name(name: &str) -> Option<Self> {
        let mut out = String::with_capacity(name.len());
        for ch in name.chars() {
            if ch.is_ascii_alphanumeric() {
                out.push(ch.to_ascii_lowercase());
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        out.truncate(MAX_SLUG_LEN);
        let trimmed = out.trim_end_matches('-');
        Slug::parse(trimmed).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lowercase_words_joined_by_hyphens() {
        assert_eq!(Slug::parse("steel-laptop-2").unwrap().as_str(), "steel-laptop-2");
    }

    #[test]
    fn refuses_anything_else() {
        for bad in ["", "-a", "a-", "a--b", "Laptop", "a b", "a/b", "ünï"] {
            assert_eq!(Slug::parse(bad), Err(SlugError::Invalid), "{bad:?}");
        }
        assert_eq!(Slug::parse(&"a".repeat(201)), Err(SlugError::TooLong));
    }

    #[test]
    fn derives_a_slug_from_a_name() {
        assert_eq!(Slug::from_name("  Steel Laptop 15\" ").unwrap().as_str(), "steel-laptop-15");
        assert_eq!(Slug::from_name("Chairs & Tables").unwrap().as_str(), "chairs-tables");
        assert_eq!(Slug::from_name("!!!"), None);
    }
}
