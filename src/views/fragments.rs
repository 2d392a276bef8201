//! Fragments: the parts of pages that show catalog data and nothing about the
//! visitor. Each is rendered on its own so it can be cached as bytes.

use askama::Template;

use super::Fragment;
use crate::domain::{Dialect, ListingQuery, PriceBand, ProductSort};
use crate::services::facets::FacetCounts;
use crate::services::{CategorySummary, ProductPage, ProductView};

#[derive(Template)]
#[template(path = "fragments/category_list.html")]
pub struct CategoryList<'a> {
    pub categories: &'a [CategorySummary],
}

#[derive(Template)]
#[template(path = "fragments/product_cards.html")]
pub struct ProductCards<'a> {
    pub products: &'a [ProductView],
}

/// A product page's content: breadcrumbs and the product.
#[derive(Template)]
#[template(path = "fragments/product_main.html")]
pub struct ProductMain<'a> {
    pub product: &'a ProductView,
    /// Stands where the visitor's CSRF token goes: the fragment is shared, so
    /// the token is filled in per request (see `routes::pages::product`).
    /// The template writes it unescaped; it is always [`CSRF_HOLE`].
    pub csrf_hole: &'static str,
}

/// The placeholder for a per-visitor CSRF token inside a cached fragment.
/// It holds `<` and `>`, which askama's HTML escaping always turns into
/// `&#60;` and `&#62;`: no product name or description, however chosen, can
/// put it into a fragment. Only the template does, once.
pub const CSRF_HOLE: &str = "<storefront:csrf>";

/// A listing page's content: heading, filter form and grid.
#[derive(Template)]
#[template(path = "fragments/listing_main.html")]
pub struct ListingMain {
    pub heading: String,
    pub intro: String,
    pub filters: Fragment,
    pub grid: Fragment,
    /// Where the facets go, [`FACETS_HOLE`] or nothing: they are a cached
    /// fragment of their own, shared by every page and order of a listing,
    /// filled in per request (see `routes::pages::products`). Written
    /// unescaped.
    pub facets_hole: &'static str,
}

/// The placeholder for the facets inside a cached listing; as safe from
/// product text as [`CSRF_HOLE`], for the same reason.
pub const FACETS_HOLE: &str = "<storefront:facets>";

/// One link of the facets: a filter to apply, or (selected) to remove.
pub struct FacetLink {
    pub label: String,
    pub count: u64,
    pub href: String,
    pub selected: bool,
}

/// The sidebar's counts for a listing's query and filters.
#[derive(Template)]
#[template(path = "fragments/facets.html")]
pub struct Facets {
    pub categories: Vec<FacetLink>,
    /// One link: products in stock.
    pub in_stock: Vec<FacetLink>,
    pub bands: Vec<FacetLink>,
}

impl Facets {
    /// `query` is the listing's, `categories` the shop's (for names and
    /// slugs), `path` the page's own path.
    pub fn new(counts: &FacetCounts, categories: &[CategorySummary], query: &ListingQuery, path: &str) -> Self {
        let href = |q: ListingQuery| {
            let qs = q.with_page(1).canonical_query(Dialect::Html);
            if qs.is_empty() { path.to_owned() } else { format!("{path}?{qs}") }
        };
        let with = |change: &dyn Fn(&mut ListingQuery)| {
            let mut q = query.clone();
            change(&mut q);
            href(q)
        };
        let f = &query.filter;
        let categories = categories
            .iter()
            .filter_map(|c| {
                let count = counts.categories.iter().find(|(id, _)| *id == c.id).map(|(_, n)| *n)?;
                let selected = f.category_slug.as_ref().is_some_and(|s| s.as_str() == c.slug);
                let slug = c.slug.clone();
                let href = with(&|q| {
                    q.filter.category_slug = if selected { None } else { crate::domain::Slug::parse(&slug).ok() };
                });
                Some(FacetLink { label: c.name.clone(), count, href, selected })
            })
            .collect();
        let in_stock = vec![FacetLink {
            label: "In stock".to_owned(),
            count: counts.in_stock,
            href: with(&|q| q.filter.in_stock = !f.in_stock),
            selected: f.in_stock,
        }];
        let bands = counts
            .bands
            .iter()
            .map(|(band, count)| {
                let selected = f.price_band == Some(*band);
                let band = *band;
                FacetLink {
                    label: band.label().to_owned(),
                    count: *count,
                    href: with(&|q| q.filter.price_band = if selected { None } else { Some(band) }),
                    selected,
                }
            })
            .collect();
        Facets { categories, in_stock, bands }
    }
}

/// One link of the pagination nav.
pub struct PageLink {
    pub label: String,
    pub href: Option<String>,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "fragments/product_grid.html")]
pub struct ProductGrid<'a> {
    pub listing: &'a ProductPage,
    pub searched: bool,
    pub previous: Option<String>,
    pub next: Option<String>,
    pub pages: Vec<PageLink>,
}

impl<'a> ProductGrid<'a> {
    /// `path` is the page's own path; links keep the canonical filters.
    pub fn new(listing: &'a ProductPage, query: &ListingQuery, path: &str) -> Self {
        let href = |page: u32| {
            let qs = query.with_page(page).canonical_query(Dialect::Html);
            if qs.is_empty() { path.to_owned() } else { format!("{path}?{qs}") }
        };
        let current = listing.page.page();
        let last = listing.page_count;
        let mut pages = Vec::new();
        let mut gap = false;
        for n in 1..=last {
            // First, last, and two either side of the current page.
            if n == 1 || n == last || n.abs_diff(current) <= 2 {
                pages.push(PageLink { label: n.to_string(), href: Some(href(n)), current: n == current });
                gap = false;
            } else if !gap {
                pages.push(PageLink { label: "…".into(), href: None, current: false });
                gap = true;
            }
        }
        ProductGrid {
            listing,
            searched: query.filter.search.is_some() || query.filter.words.is_some(),
            previous: listing.has_previous().then(|| href(current - 1)),
            next: listing.has_next().then(|| href(current + 1)),
            pages: if last > 1 { pages } else { Vec::new() },
        }
    }
}

/// The values a filter form shows, as the visitor typed them (normalized).
pub struct SortOption {
    pub value: String,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "fragments/filter_form.html")]
pub struct FilterForm<'a> {
    pub action: &'a str,
    /// `None` on a category's own page, where the category is fixed.
    pub categories: Option<&'a [CategorySummary]>,
    pub selected_category: String,
    pub q: String,
    pub min_price: String,
    pub max_price: String,
    pub in_stock: bool,
    /// A band chosen in the facets, kept when the form is sent.
    pub price_band: &'static str,
    pub sort_options: Vec<SortOption>,
    pub per_page: u32,
}

impl<'a> FilterForm<'a> {
    pub fn new(action: &'a str, categories: Option<&'a [CategorySummary]>, query: &ListingQuery) -> Self {
        let f = &query.filter;
        FilterForm {
            action,
            categories,
            selected_category: f.category_slug.as_ref().map(|s| s.to_string()).unwrap_or_default(),
            q: f.words.as_ref().map(|s| s.to_string()).unwrap_or_default(),
            min_price: f.min_price.map(|m| m.to_string()).unwrap_or_default(),
            max_price: f.max_price.map(|m| m.to_string()).unwrap_or_default(),
            in_stock: f.in_stock,
            price_band: f.price_band.map_or("", PriceBand::param),
            // Best match is offered when there is something to match.
            sort_options: ProductSort::HTML_CHOICES
                .iter()
                .filter(|(sort, _)| *sort != ProductSort::BEST_MATCH || f.words.is_some())
                .map(|(sort, label)| SortOption {
                    value: sort.param(Dialect::Html),
                    label,
                    selected: *sort == query.sort,
                })
                .collect(),
            per_page: query.page.per_page(),
        }
    }
}

#[cfg(test)]
mod tests {
    use askama::Template;
    use chrono::Utc;

    use super::{CSRF_HOLE, ProductMain};
    use crate::domain::Money;
    use crate::services::{CategoryRef, ProductView};

    fn product(text: &str, stock: i32) -> ProductView {
        ProductView {
            id: 7,
            name: text.to_owned(),
            slug: "a-product".to_owned(),
            description: text.to_owned(),
            price: Money::from_cents(100).unwrap(),
            stock,
            is_active: true,
            category: CategoryRef {
                id: 1,
                name: text.to_owned(),
                slug: "things".to_owned(),
                description: text.to_owned(),
            },
            created_at: Utc::now(),
            updated_at: Utc::now(),
            images: Vec::new(),
        }
    }

    #[test]
    fn the_csrf_hole_is_only_where_the_template_puts_it() {
        let text = format!("{CSRF_HOLE} __storefront_csrf__ {CSRF_HOLE}");
        let in_stock = ProductMain { product: &product(&text, 3), csrf_hole: CSRF_HOLE }.render().unwrap();
        assert_eq!(in_stock.matches(CSRF_HOLE).count(), 1, "{in_stock}");
        assert!(in_stock.contains(&format!(r#"name="csrf" value="{CSRF_HOLE}""#)), "{in_stock}");
        let sold_out = ProductMain { product: &product(&text, 0), csrf_hole: CSRF_HOLE }.render().unwrap();
        assert_eq!(sold_out.matches(CSRF_HOLE).count(), 0, "no form, no hole: {sold_out}");
    }
}
