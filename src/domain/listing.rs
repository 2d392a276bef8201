//! A product listing request: which products (the filter), in which order and
//! which page. Both the HTML pages and the JSON API parse their query strings
//! into a [`ListingQuery`]; its canonical form feeds links and cache keys, so
//! spellings that mean the same listing produce the same string.

use std::collections::BTreeMap;

use super::fields::FieldErrors;
use super::money::Money;
use super::page::{DEFAULT_PER_PAGE, PageRequest};
use super::price_band::PriceBand;
use super::search::SearchQuery;
use super::shopper::ShopperQuery;
use super::slug::Slug;

/// Which query-string vocabulary a request speaks: the shop's pages, or the
/// seed-compatible API (`search`, `category__id`, `ordering`, `page_size`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Html,
    Api,
}

impl Dialect {
    fn search(self) -> &'static str {
        match self {
            Dialect::Html => "q",
            Dialect::Api => "search",
        }
    }
    fn sort(self) -> &'static str {
        match self {
            Dialect::Html => "sort",
            Dialect::Api => "ordering",
        }
    }
    fn per_page(self) -> &'static str {
        match self {
            Dialect::Html => "per_page",
            Dialect::Api => "page_size",
        }
    }
}

/// A field products can be ordered by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortField {
    Price,
    Name,
    CreatedAt,
}

impl SortField {
    const ALL: [SortField; 3] = [SortField::Price, SortField::Name, SortField::CreatedAt];

    fn name(self) -> &'static str {
        match self {
            SortField::Price => "price",
            SortField::Name => "name",
            SortField::CreatedAt => "created_at",
        }
    }
}

/// One field of an ordering, and its direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SortKey {
    pub field: SortField,
    pub descending: bool,
}

/// The order of a listing: up to one key per field, the first deciding
/// first (DRF's `ordering=-price,name`); the product id breaks what ties
/// remain, in the first key's direction, so pages never repeat or skip a
/// product. The HTML pages offer one key at a time, or none: best match
/// ([`ProductSort::BEST_MATCH`]), the default of a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProductSort {
    /// The first `len` are the keys; the rest stay [`ProductSort::FILLER`],
    /// so equal orderings compare and hash equal.
    keys: [SortKey; SortField::ALL.len()],
    len: usize,
}

impl Default for ProductSort {
    fn default() -> Self {
        ProductSort::NEWEST
    }
}

impl ProductSort {
    const FILLER: SortKey = SortKey { field: SortField::Price, descending: false };

    const fn single(field: SortField, descending: bool) -> Self {
        let mut keys = [Self::FILLER; SortField::ALL.len()];
        keys[0] = SortKey { field, descending };
        ProductSort { keys, len: 1 }
    }

    pub const PRICE_ASC: ProductSort = ProductSort::single(SortField::Price, false);
    pub const PRICE_DESC: ProductSort = ProductSort::single(SortField::Price, true);
    pub const NAME_ASC: ProductSort = ProductSort::single(SortField::Name, false);
    pub const NAME_DESC: ProductSort = ProductSort::single(SortField::Name, true);
    pub const NEWEST: ProductSort = ProductSort::single(SortField::CreatedAt, true);
    pub const OLDEST: ProductSort = ProductSort::single(SortField::CreatedAt, false);
    /// No key: a search's relevance, then the id (see `services::search`).
    /// Only the pages' search has it; the API never parses to it.
    pub const BEST_MATCH: ProductSort = ProductSort { keys: [Self::FILLER; SortField::ALL.len()], len: 0 };

    pub const HTML_CHOICES: [(ProductSort, &'static str); 6] = [
        (ProductSort::BEST_MATCH, "Best match"),
        (ProductSort::NEWEST, "Newest"),
        (ProductSort::PRICE_ASC, "Price: low to high"),
        (ProductSort::PRICE_DESC, "Price: high to low"),
        (ProductSort::NAME_ASC, "Name: A to Z"),
        (ProductSort::NAME_DESC, "Name: Z to A"),
    ];

    pub fn keys(&self) -> &[SortKey] {
        &self.keys[..self.len]
    }

    /// The HTML spelling of one key (`newest` for newest first); `None` for
    /// an ordering the pages do not offer.
    fn html_param(self) -> Option<&'static str> {
        Some(match self {
            s if s == Self::BEST_MATCH => "relevance",
            s if s == Self::NEWEST => "newest",
            s if s == Self::PRICE_ASC => "price",
            s if s == Self::PRICE_DESC => "-price",
            s if s == Self::NAME_ASC => "name",
            s if s == Self::NAME_DESC => "-name",
            _ => return None,
        })
    }

    /// Parses a value of `dialect`: in the API, fields separated by commas,
    /// each with an optional `-` (blank parts are skipped, as DRF does; a
    /// field named again adds nothing and is dropped); in the pages, one of
    /// [`Self::HTML_CHOICES`]. `None` names a field that is not offered.
    fn parse(dialect: Dialect, value: &str) -> Option<Self> {
        if dialect == Dialect::Html {
            return Self::HTML_CHOICES.iter().map(|(sort, _)| *sort).find(|s| s.html_param() == Some(value));
        }
        let mut sort = ProductSort { keys: [Self::FILLER; SortField::ALL.len()], len: 0 };
        for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (descending, name) = match part.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, part),
            };
            let field = SortField::ALL.into_iter().find(|f| f.name() == name)?;
            if !sort.keys().iter().any(|k| k.field == field) {
                sort.keys[sort.len] = SortKey { field, descending };
                sort.len += 1;
            }
        }
        // Only commas: no ordering asked for.
        Some(if sort.len == 0 { Self::default() } else { sort })
    }

    /// The parameter value in a dialect. An ordering the pages do not
    /// offer falls back to their default there.
    pub fn param(self, dialect: Dialect) -> String {
        match dialect {
            Dialect::Html => self.html_param().unwrap_or("newest").to_owned(),
            Dialect::Api => self
                .keys()
                .iter()
                .map(|k| format!("{}{}", if k.descending { "-" } else { "" }, k.field.name()))
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    fn choices(dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Html => "relevance, price, -price, name, -name, newest",
            Dialect::Api => "price, -price, name, -name, created_at, -created_at (several separated by commas)",
        }
    }
}

/// Which products a listing shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ListingFilter {
    /// The API's `search`, read as DRF reads it.
    pub search: Option<SearchQuery>,
    /// The pages' `q`: words, their forms and typos (see `services::search`).
    pub words: Option<ShopperQuery>,
    /// The pages' `price`: one of the sidebar's bands.
    pub price_band: Option<PriceBand>,
    pub category_id: Option<i32>,
    pub category_slug: Option<Slug>,
    pub min_price: Option<Money>,
    pub max_price: Option<Money>,
    pub in_stock: bool,
}

impl ListingFilter {
    /// Whether a price of `cents` is within `min_price` and `max_price`,
    /// both inclusive, as `services::listings::filtered` tests it in SQL.
    pub fn admits_price(&self, cents: i64) -> bool {
        self.min_price.is_none_or(|m| cents >= m.cents()) && self.max_price.is_none_or(|m| cents <= m.cents())
    }
}

/// A parsed listing request: filter, order and page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ListingQuery {
    pub filter: ListingFilter,
    pub sort: ProductSort,
    pub page: PageRequest,
}

/// Decoded query-string pairs. A repeated parameter keeps its last value (as
/// Django's `QueryDict.get` does) and a blank value counts as absent, because
/// HTML forms submit every field, filled or not.
pub struct QueryPairs(BTreeMap<String, String>);

impl QueryPairs {
    pub fn parse(raw: Option<&str>) -> Self {
        let mut pairs = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if v.trim().is_empty() {
                pairs.remove(k.as_ref());
            } else {
                pairs.insert(k.into_owned(), v.into_owned());
            }
        }
        QueryPairs(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// Parses `page` (a number, or `last`) and the page-size parameter (named
/// `per_page_param`).
pub fn page_request(pairs: &QueryPairs, per_page_param: &str) -> Result<PageRequest, FieldErrors> {
    let mut errors = FieldErrors::default();
    let last = pairs.get("page").is_some_and(|p| p.trim() == "last");
    let page = pairs.get("page").filter(|_| !last).map(PageRequest::parse_page).transpose();
    let per_page = pairs.get(per_page_param).map(PageRequest::parse_per_page).transpose();
    if let Err(e) = &page {
        errors.add("page", e.to_string());
    }
    if let Err(e) = &per_page {
        errors.add(per_page_param, e.to_string());
    }
    match (page, per_page) {
        (Ok(page), Ok(per_page)) => {
            let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
            let request =
                if last { PageRequest::last(per_page) } else { PageRequest::new(page.unwrap_or(1), per_page) };
            request.map_err(|e| FieldErrors::single(per_page_param, e.to_string()))
        }
        _ => Err(errors),
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

impl ListingQuery {
    /// Parses every listing parameter of `dialect`, collecting all errors at
    /// once; unknown parameters are ignored.
    pub fn parse(dialect: Dialect, pairs: &QueryPairs) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut query = ListingQuery::default();

        if let Some(v) = pairs.get(dialect.search()) {
            let parsed = match dialect {
                Dialect::Api => SearchQuery::parse(v).map(|s| query.filter.search = s),
                Dialect::Html => ShopperQuery::parse(v).map(|w| query.filter.words = w),
            };
            if let Err(e) = parsed {
                errors.add(dialect.search(), e.to_string());
            }
        }
        if dialect == Dialect::Html
            && let Some(v) = pairs.get("price")
        {
            match PriceBand::parse(v) {
                Ok(band) => query.filter.price_band = Some(band),
                Err(e) => errors.add("price", e.to_string()),
            }
        }
        if dialect == Dialect::Api
            && let Some(v) = pairs.get("category__id")
        {
            match v.trim().parse::<i32>() {
                Ok(id) => query.filter.category_id = Some(id),
                Err(_) => errors.add("category__id", "Enter a whole number."),
            }
        }
        if let Some(v) = pairs.get("category") {
            match Slug::parse(v.trim()) {
                Ok(slug) => query.filter.category_slug = Some(slug),
                Err(e) => errors.add("category", e.to_string()),
            }
        }
        for (param, slot) in [("min_price", &mut query.filter.min_price), ("max_price", &mut query.filter.max_price)] {
            if let Some(v) = pairs.get(param) {
                match Money::parse(v) {
                    Ok(m) => *slot = Some(m),
                    Err(e) => errors.add(param, e.to_string()),
                }
            }
        }
        if let (Some(min), Some(max)) = (query.filter.min_price, query.filter.max_price)
            && min > max
        {
            errors.add("min_price", "Ensure min_price is less than or equal to max_price.");
        }
        if let Some(v) = pairs.get("in_stock") {
            match parse_bool(v) {
                Some(b) => query.filter.in_stock = b,
                None => errors.add("in_stock", "Enter true or false."),
            }
        }
        if let Some(v) = pairs.get(dialect.sort()) {
            match ProductSort::parse(dialect, v.trim()) {
                Some(sort) => query.sort = sort,
                None => errors.add(
                    dialect.sort(),
                    format!(
                        "Select a valid choice. {v:?} is not one of the available choices: {}.",
                        ProductSort::choices(dialect)
                    ),
                ),
            }
        }
        match page_request(pairs, dialect.per_page()) {
            Ok(page) => query.page = page,
            Err(e) => errors.extend(e),
        }
        // A search is ordered by best match unless told otherwise; without
        // one there is nothing to match, so the pages' default stands.
        if pairs.get(dialect.sort()).is_none()
            || (query.sort == ProductSort::BEST_MATCH && query.filter.words.is_none())
        {
            query.sort = query.default_sort();
        }

        if errors.is_empty() { Ok(query) } else { Err(errors) }
    }

    /// The order a listing has when none is asked for: best match for the
    /// pages' search, else newest first.
    pub fn default_sort(&self) -> ProductSort {
        if self.filter.words.is_some() { ProductSort::BEST_MATCH } else { ProductSort::default() }
    }

    /// The canonical parameters in `dialect`: a fixed order, defaults left
    /// out, values in their normalized spelling. Pagination links are built
    /// from it, so they carry the filters and nothing else.
    pub fn canonical_pairs(&self, dialect: Dialect) -> Vec<(&'static str, String)> {
        let f = &self.filter;
        let mut out = Vec::new();
        if let Some(id) = f.category_id {
            out.push(("category__id", id.to_string()));
        }
        if let Some(slug) = &f.category_slug {
            out.push(("category", slug.to_string()));
        }
        if f.in_stock {
            out.push(("in_stock", "true".to_owned()));
        }
        if let Some(m) = f.max_price {
            out.push(("max_price", m.to_string()));
        }
        if let Some(m) = f.min_price {
            out.push(("min_price", m.to_string()));
        }
        if let Some(band) = f.price_band {
            out.push(("price", band.param().to_owned()));
        }
        if self.sort != self.default_sort() {
            out.push((dialect.sort(), self.sort.param(dialect)));
        }
        if self.page.is_last() {
            out.push(("page", "last".to_owned()));
        } else if self.page.page() != 1 {
            out.push(("page", self.page.page().to_string()));
        }
        if self.page.per_page() != DEFAULT_PER_PAGE {
            out.push((dialect.per_page(), self.page.per_page().to_string()));
        }
        if let Some(q) = &f.search {
            out.push(("search", q.to_string()));
        }
        if let Some(q) = &f.words {
            out.push(("q", q.to_string()));
        }
        out
    }

    /// The canonical query string (without `?`), empty for the defaults.
    pub fn canonical_query(&self, dialect: Dialect) -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.canonical_pairs(dialect) {
            ser.append_pair(k, &v);
        }
        ser.finish()
    }

    pub fn with_page(&self, page: u32) -> ListingQuery {
        ListingQuery { page: self.page.with_page(page), ..self.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(raw: &str) -> Result<ListingQuery, FieldErrors> {
        ListingQuery::parse(Dialect::Api, &QueryPairs::parse(Some(raw)))
    }

    fn html(raw: &str) -> Result<ListingQuery, FieldErrors> {
        ListingQuery::parse(Dialect::Html, &QueryPairs::parse(Some(raw)))
    }

    #[test]
    fn spellings_of_one_listing_share_a_canonical_form() {
        let a = api("page=1&ordering=price").unwrap();
        let b = api("ordering=price").unwrap();
        let c = api("ordering=price&utm_source=x").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.canonical_query(Dialect::Api), "ordering=price");
        let s1 = api("search=Laptop%20%20Steel").unwrap();
        let s2 = api("search=laptop+steel&page_size=20").unwrap();
        assert_eq!(s1.canonical_query(Dialect::Api), s2.canonical_query(Dialect::Api));
    }

    #[test]
    fn blank_form_fields_are_absent() {
        let q = html("q=&category=&min_price=&max_price=&sort=&page=").unwrap();
        assert_eq!(q, ListingQuery::default());
        assert_eq!(q.canonical_query(Dialect::Html), "");
    }

    #[test]
    fn dialects_name_the_same_things_differently() {
        let h = html("q=lamp&sort=-price&per_page=50&page=2").unwrap();
        let a = api("search=lamp&ordering=-price&page_size=50&page=2").unwrap();
        assert_eq!((h.sort, h.page), (a.sort, a.page));
        // The same words, read for shoppers in the pages and as DRF in the API.
        assert_eq!(h.filter.words.as_ref().map(|w| w.as_str()), Some("lamp"));
        assert_eq!(a.filter.search.as_ref().map(|s| s.as_str()), Some("lamp"));
        assert!(h.filter.search.is_none() && a.filter.words.is_none());
        assert_eq!(h.canonical_query(Dialect::Html), "sort=-price&page=2&per_page=50&q=lamp");
        assert_eq!(a.canonical_query(Dialect::Api), "ordering=-price&page=2&page_size=50&search=lamp");
    }

    #[test]
    fn a_search_in_the_pages_is_ordered_by_best_match_unless_told_otherwise() {
        assert_eq!(html("q=lamps").unwrap().sort, ProductSort::BEST_MATCH);
        assert_eq!(html("q=lamps").unwrap().canonical_query(Dialect::Html), "q=lamps");
        let newest = html("q=lamps&sort=newest").unwrap();
        assert_eq!(newest.sort, ProductSort::NEWEST);
        assert_eq!(newest.canonical_query(Dialect::Html), "sort=newest&q=lamps");
        // Nothing to match: best match is the pages' default again.
        assert_eq!(html("sort=relevance").unwrap(), html("").unwrap());
        assert_eq!(html("sort=price").unwrap().sort, ProductSort::PRICE_ASC);
        assert!(api("ordering=relevance").is_err(), "the API keeps its own orderings");
        assert_eq!(api("search=lamp").unwrap().sort, ProductSort::NEWEST);
    }

    #[test]
    fn price_bands_parse_in_the_pages_only() {
        let q = html("price=25-100").unwrap();
        assert_eq!(q.filter.price_band, Some(PriceBand::From25To100));
        assert_eq!(q.canonical_query(Dialect::Html), "price=25-100");
        assert!(html("price=cheap").unwrap_err().as_map().contains_key("price"));
        assert_eq!(api("price=cheap").unwrap(), api("").unwrap(), "unknown to the API, so ignored");
    }

    #[test]
    fn collects_every_bad_parameter() {
        let errors = api("page=0&ordering=colour&min_price=-1&max_price=x&page_size=101&category__id=a&in_stock=maybe")
            .unwrap_err();
        let keys: Vec<_> = errors.as_map().keys().map(String::as_str).collect();
        assert_eq!(keys, ["category__id", "in_stock", "max_price", "min_price", "ordering", "page", "page_size"]);
    }

    #[test]
    fn min_price_above_max_price_is_refused() {
        let errors = api("min_price=10&max_price=9.99").unwrap_err();
        assert!(errors.as_map().contains_key("min_price"));
        assert!(api("min_price=10&max_price=10").is_ok());
    }

    #[test]
    fn a_price_range_admits_both_its_ends() {
        let f = api("min_price=10&max_price=20.50").unwrap().filter;
        assert!(f.admits_price(1000) && f.admits_price(2050));
        assert!(!f.admits_price(999) && !f.admits_price(2051));
        assert!(ListingFilter::default().admits_price(0) && ListingFilter::default().admits_price(i64::MAX));
    }

    #[test]
    fn html_and_api_keep_their_own_sort_vocabulary() {
        assert!(html("sort=created_at").is_err());
        assert!(api("ordering=newest").is_err());
        assert_eq!(api("ordering=created_at").unwrap().sort, ProductSort::OLDEST);
        assert!(html("sort=-price,name").is_err(), "the pages offer one key at a time");
    }

    #[test]
    fn the_api_orders_by_several_fields_in_turn() {
        let q = api("ordering=-price,%20name").unwrap();
        let keys: Vec<_> = q.sort.keys().iter().map(|k| (k.field, k.descending)).collect();
        assert_eq!(keys, [(SortField::Price, true), (SortField::Name, false)]);
        assert_eq!(q.canonical_query(Dialect::Api), "ordering=-price%2Cname");
        // A field named again adds nothing; blank parts are skipped.
        assert_eq!(api("ordering=-price,name,price,").unwrap(), q);
        assert_eq!(api("ordering=,").unwrap().sort, ProductSort::default());
        assert_eq!(api("ordering=-created_at").unwrap().canonical_query(Dialect::Api), "");
        let errors = api("ordering=price,colour").unwrap_err();
        assert!(errors.as_map()["ordering"][0].contains("created_at"), "{errors:?}");
        // The pages show an API-only ordering as their default.
        assert_eq!(q.sort.param(Dialect::Html), "newest");
    }
}
