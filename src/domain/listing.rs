//! A product listing request: which products (the filter), in which order and
//! which page. Both the HTML pages and the JSON API parse their query strings
//! into a [`ListingQuery`]; its canonical form feeds links and cache keys, so
//! spellings that mean the same listing produce the same string.

use std::collections::BTreeMap;

use super::fields::FieldErrors;
use super::money::Money;
use super::page::{DEFAULT_PER_PAGE, PageRequest};
use super::search::SearchQuery;
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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProductSort {
    PriceAsc,
    PriceDesc,
    NameAsc,
    NameDesc,
    #[default]
    Newest,
    Oldest,
}

impl ProductSort {
    pub const HTML_CHOICES: [(ProductSort, &'static str); 5] = [
        (ProductSort::Newest, "Newest"),
        (ProductSort::PriceAsc, "Price: low to high"),
        (ProductSort::PriceDesc, "Price: high to low"),
        (ProductSort::NameAsc, "Name: A to Z"),
        (ProductSort::NameDesc, "Name: Z to A"),
    ];

    fn parse(dialect: Dialect, value: &str) -> Option<Self> {
        use ProductSort::*;
        Some(match (dialect, value) {
            (_, "price") => PriceAsc,
            (_, "-price") => PriceDesc,
            (_, "name") => NameAsc,
            (_, "-name") => NameDesc,
            (Dialect::Html, "newest") | (Dialect::Api, "-created_at") => Newest,
            (Dialect::Api, "created_at") => Oldest,
            _ => return None,
        })
    }

    /// The parameter value in a dialect. `Oldest` has no HTML spelling and
    /// falls back to the default there.
    pub fn param(self, dialect: Dialect) -> &'static str {
        use ProductSort::*;
        match (self, dialect) {
            (PriceAsc, _) => "price",
            (PriceDesc, _) => "-price",
            (NameAsc, _) => "name",
            (NameDesc, _) => "-name",
            (Newest, Dialect::Html) | (Oldest, Dialect::Html) => "newest",
            (Newest, Dialect::Api) => "-created_at",
            (Oldest, Dialect::Api) => "created_at",
        }
    }

    fn choices(dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Html => "price, -price, name, -name, newest",
            Dialect::Api => "price, -price, name, -name, created_at, -created_at",
        }
    }
}

/// Which products a listing shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ListingFilter {
    pub search: Option<SearchQuery>,
    pub category_id: Option<i32>,
    pub category_slug: Option<Slug>,
    pub min_price: Option<Money>,
    pub max_price: Option<Money>,
    pub in_stock: bool,
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

/// Parses `page` and the page-size parameter (named `per_page_param`).
pub fn page_request(pairs: &QueryPairs, per_page_param: &str) -> Result<PageRequest, FieldErrors> {
    let mut errors = FieldErrors::default();
    let page = pairs.get("page").map(PageRequest::parse_page).transpose();
    let per_page = pairs.get(per_page_param).map(PageRequest::parse_per_page).transpose();
    if let Err(e) = &page {
        errors.add("page", e.to_string());
    }
    if let Err(e) = &per_page {
        errors.add(per_page_param, e.to_string());
    }
    match (page, per_page) {
        (Ok(page), Ok(per_page)) => PageRequest::new(page.unwrap_or(1), per_page.unwrap_or(DEFAULT_PER_PAGE))
            .map_err(|e| FieldErrors::single(per_page_param, e.to_string())),
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
            match SearchQuery::parse(v) {
                Ok(search) => query.filter.search = search,
                Err(e) => errors.add(dialect.search(), e.to_string()),
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

        if errors.is_empty() { Ok(query) } else { Err(errors) }
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
        if self.sort != ProductSort::default() {
            out.push((dialect.sort(), self.sort.param(dialect).to_owned()));
        }
        if self.page.page() != 1 {
            out.push(("page", self.page.page().to_string()));
        }
        if self.page.per_page() != DEFAULT_PER_PAGE {
            out.push((dialect.per_page(), self.page.per_page().to_string()));
        }
        if let Some(q) = &f.search {
            out.push((dialect.search(), q.to_string()));
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
        assert_eq!(h, a);
        assert_eq!(h.canonical_query(Dialect::Html), "sort=-price&page=2&per_page=50&q=lamp");
        assert_eq!(a.canonical_query(Dialect::Api), "ordering=-price&page=2&page_size=50&search=lamp");
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
    fn html_and_api_keep_their_own_sort_vocabulary() {
        assert!(html("sort=created_at").is_err());
        assert!(api("ordering=newest").is_err());
        assert_eq!(api("ordering=created_at").unwrap().sort, ProductSort::Oldest);
    }
}
