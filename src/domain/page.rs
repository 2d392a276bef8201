//! Which page of a listing is asked for: a number, or `last` (as Django's
//! paginator reads `page=last`), which only the listing's count can resolve.

pub const DEFAULT_PER_PAGE: u32 = 20;
pub const MAX_PER_PAGE: u32 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageRequest {
    page: u32,
    per_page: u32,
    /// `page=last`, not yet resolved against a count (`page` is then 1).
    last: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("A valid integer is required.")]
    NotAnInteger,
    #[error("Ensure this value is greater than or equal to 1.")]
    TooSmall,
    #[error("Ensure this value is less than or equal to 100.")]
    TooLarge,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { page: 1, per_page: DEFAULT_PER_PAGE, last: false }
    }
}

/// Parses a positive integer, refusing signs and blanks; `None` for one too
/// large for a `u32` (the digits are checked first, so that is the only way
/// the parse can fail).
fn positive(input: &str) -> Result<Option<u32>, PageError> {
    let s = input.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PageError::NotAnInteger);
    }
    match s.parse::<u32>() {
        Ok(0) => Err(PageError::TooSmall),
        Ok(n) => Ok(Some(n)),
        Err(_) => Ok(None),
    }
}

impl PageRequest {
    pub fn new(page: u32, per_page: u32) -> Result<Self, PageError> {
        if page == 0 || per_page == 0 {
            return Err(PageError::TooSmall);
        }
        if per_page > MAX_PER_PAGE {
            return Err(PageError::TooLarge);
        }
        Ok(PageRequest { page, per_page, last: false })
    }

    /// The last page, whichever it turns out to be.
    pub fn last(per_page: u32) -> Result<Self, PageError> {
        Ok(PageRequest { last: true, ..Self::new(1, per_page)? })
    }

    /// Whether this asks for the last page and is not resolved yet.
    pub fn is_last(self) -> bool {
        self.last
    }

    /// This request with `last` made the number of the last page for
    /// `count` items; a numbered page as it is.
    pub fn resolve(self, count: u64) -> Self {
        if self.last {
            PageRequest { page: self.page_count(count), per_page: self.per_page, last: false }
        } else {
            self
        }
    }

    /// A page number has no bound of its own: one too large for a `u32` is
    /// past the last page of every listing (ids are `i32`, so no listing has
    /// that many pages), and is read as `u32::MAX`, which is answered like
    /// any page past the last, `404 "Invalid page."`.
    pub fn parse_page(input: &str) -> Result<u32, PageError> {
        Ok(positive(input)?.unwrap_or(u32::MAX))
    }

    pub fn parse_per_page(input: &str) -> Result<u32, PageError> {
        match positive(input)? {
            Some(n) if n <= MAX_PER_PAGE => Ok(n),
            _ => Err(PageError::TooLarge),
        }
    }

    pub fn page(self) -> u32 {
        self.page
    }

    pub fn per_page(self) -> u32 {
        self.per_page
    }

    pub fn offset(self) -> u64 {
        debug_assert!(!self.last, "resolve a last page before reading its offset");
        u64::from(self.page - 1) * u64::from(self.per_page)
    }

    pub fn with_page(self, page: u32) -> Self {
        PageRequest { page: page.max(1), per_page: self.per_page, last: false }
    }

    /// Number of pages for `count` items; an empty listing still has page 1.
    pub fn page_count(self, count: u64) -> u32 {
        let pages = count.div_ceil(u64::from(self.per_page)).max(1);
        u32::try_from(pages).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_positive_integers_only() {
        assert_eq!(PageRequest::parse_page("3"), Ok(3));
        assert_eq!(PageRequest::parse_page("0"), Err(PageError::TooSmall));
        for bad in ["", "-1", "+1", "1.0", "two", "1e2"] {
            assert_eq!(PageRequest::parse_page(bad), Err(PageError::NotAnInteger), "{bad:?}");
        }
        assert_eq!(PageRequest::parse_per_page("101"), Err(PageError::TooLarge));
        assert_eq!(PageRequest::parse_per_page("99999999999"), Err(PageError::TooLarge));
        assert_eq!(PageRequest::parse_per_page("100"), Ok(100));
    }

    #[test]
    fn a_page_beyond_u32_is_the_last_u32_page() {
        assert_eq!(PageRequest::parse_page("4294967295"), Ok(u32::MAX));
        assert_eq!(PageRequest::parse_page("4294967296"), Ok(u32::MAX));
        assert_eq!(PageRequest::parse_page(&"9".repeat(400)), Ok(u32::MAX));
        // Far past the end of any listing, and its offset does not overflow.
        let p = PageRequest::new(u32::MAX, MAX_PER_PAGE).unwrap();
        assert_eq!(p.page_count(u64::from(u32::MAX)), 42_949_673);
        assert_eq!(p.offset(), u64::from(u32::MAX - 1) * 100);
    }

    #[test]
    fn the_last_page_is_resolved_by_the_count() {
        let last = PageRequest::last(20).unwrap();
        assert!(last.is_last());
        assert_eq!(last.resolve(41), PageRequest::new(3, 20).unwrap());
        assert_eq!(last.resolve(40).page(), 2);
        assert_eq!(last.resolve(0).page(), 1, "an empty listing's last page is its first");
        assert_eq!(PageRequest::new(2, 20).unwrap().resolve(100).page(), 2);
    }

    #[test]
    fn computes_offsets_and_page_counts() {
        let p = PageRequest::new(3, 20).unwrap();
        assert_eq!(p.offset(), 40);
        assert_eq!(p.page_count(0), 1);
        assert_eq!(p.page_count(40), 2);
        assert_eq!(p.page_count(41), 3);
    }
}
