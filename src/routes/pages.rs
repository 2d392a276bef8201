//! The shop's HTML pages. A page is the layout (rendered per request: later
//! it shows who is signed in) around catalog fragments that are cached in
//! Redis and never see the visitor.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::RawQuery;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use sea_orm::DatabaseConnection;
use tokio::sync::OnceCell;

use crate::auth::AuthSession;
use crate::cache::{Cache, CacheStatus, EntryKey, Filled, KeptPage, PageInputs, Pinned, Tag};
use crate::domain::{Dialect, ListingQuery, QueryPairs, Slug};
use crate::error::{AppError, PageError};
use crate::routes::cached::{CachedBody, HTML, Representation, Sharing, revalidates};
use crate::routes::extract::{PagePath, Reads};
use crate::services::catalog::{self, CategorySummary};
use crate::services::search_rows::{self, SearchRows};
use crate::services::{facets, images, listings};
use crate::state::AppState;
use crate::views::fragments::{
    CSRF_HOLE, CategoryList, FACETS_HOLE, Facets, FilterForm, ListingMain, ProductCards, ProductGrid, ProductMain,
};
use crate::views::pages::{CategoriesPage, ContentPage, HomePage, Shell};
use crate::views::{Fragment, render_fragment, render_html};

/// Products shown under "New arrivals" on the home page.
const HOME_NEWEST: u64 = 8;
/// Categories whose newest product the home page features.
const HOME_FEATURED: u64 = 4;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/categories", get(categories))
        .route("/categories/{slug}", get(category))
        .route("/products", get(products))
        .route("/products/{slug}", get(product))
}

/// The fragments of one page, gathered from the cache.
struct Parts<'a> {
    cache: &'a Cache,
    status: Option<CacheStatus>,
    /// The fragments' keys' tags, each once.
    tags: Vec<Tag>,
    /// The tags each fragment's fill pinned: possibly many, so merged with
    /// the keys' only when the page's response is worked out anew (see
    /// [`Parts::all_tags`]), not on every hit.
    pins: Vec<Arc<[Tag]>>,
    ttl: Option<Duration>,
    /// Bytes of fragment HTML gathered, to size the page's buffer.
    bytes: usize,
    /// The fragments' ETags, in order: with the layout's values, the page.
    inputs: PageInputs,
}

impl<'a> Parts<'a> {
    fn new(cache: &'a Cache) -> Self {
        Parts {
            cache,
            status: None,
            tags: Vec::new(),
            pins: Vec::new(),
            ttl: None,
            bytes: 0,
            inputs: PageInputs::default(),
        }
    }

    /// A fragment (and its title) from the cache, or rendered by `fill`.
    /// `fill` goes to the heap at once, so that the request's future (moved
    /// by every layer of middleware) does not carry it (see `cached_json`).
    fn fragment<'p, Fut>(
        &'p mut self,
        key: EntryKey,
        fill: Fut,
    ) -> impl std::future::Future<Output = Result<(Fragment, String), AppError>> + 'p
    where
        Fut: std::future::Future<Output = Result<(Fragment, String), AppError>> + 'p,
    {
        self.fragment_pinned(key, async move {
            let (fragment, title) = fill.await?;
            Ok((fragment, title, Pinned::default()))
        })
    }

    /// [`Parts::fragment`] for a fragment whose fill pins the tags of what
    /// it shows (a listing's cards, see `Cache::pin`).
    fn fragment_pinned<'p, Fut>(
        &'p mut self,
        key: EntryKey,
        fill: Fut,
    ) -> impl std::future::Future<Output = Result<(Fragment, String), AppError>> + 'p
    where
        Fut: std::future::Future<Output = Result<(Fragment, String, Pinned), AppError>> + 'p,
    {
        let fill = Box::pin(fill);
        self.fragment_boxed(key, fill)
    }

    async fn fragment_boxed<Fut>(
        &mut self,
        key: EntryKey,
        fill: std::pin::Pin<Box<Fut>>,
    ) -> Result<(Fragment, String), AppError>
    where
        Fut: std::future::Future<Output = Result<(Fragment, String, Pinned), AppError>>,
    {
        let cached = self
            .cache
            .get_or_fill(&key, || async {
                let (fragment, title, pinned) = fill.await?;
                Ok(Filled { body: fragment.into_bytes(), title, pinned, sent_whole: false })
            })
            .await?;
        self.status = Some(self.status.map_or(cached.status, |s| s.combine(cached.status)));
        let ttl = self.cache.ttl(key.ttl);
        self.ttl = Some(self.ttl.map_or(ttl, |t| t.min(ttl)));
        for tag in key.tags {
            if !self.tags.contains(&tag) {
                self.tags.push(tag);
            }
        }
        if let Some(pinned) = &cached.pinned {
            self.pins.push(pinned.clone());
        }
        self.bytes += cached.body.len();
        self.inputs.fragment(&cached.etag);
        Ok((Fragment::from_bytes(cached.body), cached.title))
    }

    /// The page around the fragments, with the headers of a cached response;
    /// private when the visitor has a session (the layout may show them).
    ///
    /// The page is decided by its template, the fragments, the shell and
    /// `extra` (anything else `page` puts in): their digest is its ETag. A
    /// revalidation that names it is answered without rendering; a page
    /// shown to everyone is rendered once and then served from memory.
    fn respond<T: askama::Template>(
        mut self,
        headers: &HeaderMap,
        auth: &AuthSession,
        shell: Shell,
        extra: &[&str],
        page: impl FnOnce(Shell) -> Result<T, AppError>,
    ) -> Result<Response, PageError> {
        let private = auth.has_cookie();
        let ttl = self.ttl.unwrap_or_default();
        self.inputs.value(&std::any::type_name::<T>());
        self.inputs.value(&shell);
        self.inputs.value(&extra);
        let digest = self.inputs.digest();
        let etag = digest.etag();
        let memo = if private { None } else { self.cache.pages() };
        // Pages are negotiable (a layout alone is several KB): a 304 names
        // the form the request would get, without rendering it.
        let coding = crate::encoding::negotiate(headers);
        let unchanged = revalidates(headers, &coding.etag(&etag));
        let (body, sharing) = if let Some(kept) = memo.and_then(|m| m.get(digest)) {
            let body = if unchanged {
                Representation::unchanged(coding, &etag)
            } else {
                Representation::choose(coding, self.cache, kept.body, &etag, Some(&kept.encodings))
            };
            (body, Sharing::of_names(kept.tag_names, kept.ttl))
        } else {
            let tags = self.all_tags();
            if unchanged {
                (Representation::unchanged(coding, &etag), Sharing::of(&tags, ttl, private))
            } else {
                let body = Bytes::from(render_html(&page(shell)?, self.bytes)?);
                match memo {
                    // Kept for everyone: compressed once, here.
                    Some(memo) => {
                        let tag_names = Sharing::tag_names(&tags);
                        let encodings = self.cache.compress(&body);
                        let representation =
                            Representation::choose(coding, self.cache, body.clone(), &etag, Some(&encodings));
                        memo.insert(digest, KeptPage { body, encodings, tag_names: tag_names.clone(), ttl });
                        (representation, Sharing::of_names(tag_names, ttl))
                    }
                    // Someone's own, or nothing is kept: the one form asked for.
                    None => (
                        Representation::choose(coding, self.cache, body, &etag, None),
                        Sharing::of(&tags, ttl, private),
                    ),
                }
            }
        };
        Ok(CachedBody { body, status: self.status.unwrap_or(CacheStatus::Bypass), sharing, content_type: HTML }
            .into_response(headers))
    }

    /// The keys' tags, then each tag the fills pinned that is not among them,
    /// once.
    fn all_tags(&mut self) -> Vec<Tag> {
        let mut tags = std::mem::take(&mut self.tags);
        // One fragment's pins are already unique (see `Cache::pin`).
        let mut pinned: Vec<Tag> = match self.pins.as_slice() {
            [] => Vec::new(),
            [one] => one.to_vec(),
            many => {
                let mut all: Vec<Tag> = many.iter().flat_map(|p| p.iter().cloned()).collect();
                all.sort_unstable();
                all.dedup();
                all
            }
        };
        pinned.retain(|t| !tags.contains(t));
        tags.append(&mut pinned);
        tags
    }
}

/// A listing's cards show each product's availability band: its fill pins
/// each one's band tag.
fn pin_bands(cache: &Cache, ids: &[i32]) -> impl std::future::Future<Output = Pinned> + use<> {
    let cache = cache.clone();
    let tags = ids.iter().map(|&id| Tag::Band(id)).collect();
    async move { cache.pin(tags).await }
}

async fn category_list(db: &DatabaseConnection) -> Result<(Fragment, String), AppError> {
    let cats = catalog::categories(db).await?;
    Ok((render_fragment(&CategoryList { categories: &cats })?, String::new()))
}

async fn home(Reads { db, cache, headers, .. }: Reads, auth: AuthSession) -> Result<Response, PageError> {
    let mut parts = Parts::new(&cache);
    let (categories, _) = parts.fragment(cache.keys().category_list(), category_list(&db)).await?;
    let (featured, _) = parts
        .fragment_pinned(cache.keys().featured_products(), async {
            let (mut featured, pinned) =
                catalog::featured_products(&db, HOME_FEATURED, |ids| pin_bands(&cache, ids)).await?;
            images::attach(&db, &mut featured).await?;
            Ok((render_fragment(&ProductCards { products: &featured })?, String::new(), pinned))
        })
        .await?;
    let (newest, _) = parts
        .fragment_pinned(cache.keys().newest_products(), async {
            let (mut newest, pinned) = catalog::newest_products(&db, HOME_NEWEST, |ids| pin_bands(&cache, ids)).await?;
            images::attach(&db, &mut newest).await?;
            Ok((render_fragment(&ProductCards { products: &newest })?, String::new(), pinned))
        })
        .await?;
    let shell = Shell::for_visitor(&auth, "Home").await;
    parts.respond(&headers, &auth, shell, &[], |shell| Ok(HomePage { shell, categories, featured, newest }))
}

async fn categories(Reads { db, cache, headers, .. }: Reads, auth: AuthSession) -> Result<Response, PageError> {
    let mut parts = Parts::new(&cache);
    let (list, _) = parts.fragment(cache.keys().category_list(), category_list(&db)).await?;
    let shell = Shell::for_visitor(&auth, "Categories").await;
    parts.respond(&headers, &auth, shell, &[], |shell| Ok(CategoriesPage { shell, list }))
}

fn parse_listing(raw: Option<String>) -> Result<ListingQuery, AppError> {
    ListingQuery::parse(Dialect::Html, &QueryPairs::parse(raw.as_deref())).map_err(AppError::BadRequest)
}

async fn category(
    Reads { db, cache, headers, .. }: Reads,
    auth: AuthSession,
    PagePath(slug): PagePath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    // Nothing that is not a slug can name a category: no query, no key.
    let slug = Slug::parse(&slug).map_err(|_| AppError::not_found())?;
    // The path names the category; a `category` parameter cannot widen it.
    let mut query = parse_listing(raw)?;
    query.filter.category_slug = None;
    let mut parts = Parts::new(&cache);
    let (main, title) = parts
        .fragment_pinned(cache.keys().category_listing(slug.as_str(), &query), async {
            let cat = catalog::category_by_slug(&db, slug.as_str()).await?;
            let path = format!("/categories/{}", cat.slug);
            let mut by_id = query.clone();
            by_id.filter.category_id = Some(cat.id);
            let (mut listing, pinned) = listings::list_products(&db, &by_id, |ids| pin_bands(&cache, ids)).await?;
            images::attach(&db, &mut listing.items).await?;
            // Links carry the query without the category: it is in the path.
            let main = ListingMain {
                heading: cat.name.clone(),
                intro: cat.description.clone(),
                filters: render_fragment(&FilterForm::new(&path, None, &query))?,
                grid: render_fragment(&ProductGrid::new(&listing, &query, &path))?,
                facets_hole: "",
            };
            Ok((render_fragment(&main)?, cat.name, pinned))
        })
        .await?;
    let shell = Shell::for_visitor(&auth, title).await;
    parts.respond(&headers, &auth, shell, &[], |shell| Ok(ContentPage { shell, main }))
}

async fn products(
    Reads { db, cache, headers, .. }: Reads,
    auth: AuthSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let query = parse_listing(raw)?;
    let (title, heading) = match &query.filter.words {
        Some(q) => (format!("Search: {q}"), format!("Results for “{q}”")),
        None => ("All products".to_owned(), "All products".to_owned()),
    };
    // A search's matching rows serve both fills, read by the first that
    // runs (none when both are cached; see `services::search_rows`).
    let rows: OnceCell<Option<SearchRows>> = OnceCell::new();
    let rows = || rows.get_or_try_init(|| search_rows::read(&db, &query.filter));
    // Both fills name the categories: read once when both run.
    let categories: OnceCell<Vec<CategorySummary>> = OnceCell::new();
    let categories = || categories.get_or_try_init(|| catalog::categories(&db));
    let mut parts = Parts::new(&cache);
    let (main, _) = parts
        .fragment_pinned(cache.keys().product_listing(&query), async {
            let pin = |ids: &[i32]| pin_bands(&cache, ids);
            let (mut listing, pinned) = match rows().await? {
                Some(rows) => listings::list_searched(&db, &query, rows, pin).await?,
                None => listings::list_products(&db, &query, pin).await?,
            };
            images::attach(&db, &mut listing.items).await?;
            let main = ListingMain {
                heading,
                intro: String::new(),
                filters: render_fragment(&FilterForm::new("/products", Some(categories().await?), &query))?,
                grid: render_fragment(&ProductGrid::new(&listing, &query, "/products"))?,
                facets_hole: FACETS_HOLE,
            };
            Ok((render_fragment(&main)?, String::new(), pinned))
        })
        .await?;
    let (facets, _) = parts
        .fragment(cache.keys().product_facets(&query), async {
            let counts = match rows().await? {
                Some(rows) => rows.facets(),
                None => facets::counts(&db, &query.filter).await?,
            };
            Ok((render_fragment(&Facets::new(&counts, categories().await?, &query, "/products"))?, String::new()))
        })
        .await?;
    let mut shell = Shell::for_visitor(&auth, title).await;
    shell.search = query.filter.words.as_ref().map(|q| q.to_string()).unwrap_or_default();
    // Put together only when the page is not kept whole already.
    parts.respond(&headers, &auth, shell, &[], |shell| {
        let main = main.as_str().map_err(|_| AppError::Internal("cached listing is not UTF-8".into()))?;
        let facets = facets.as_str().map_err(|_| AppError::Internal("cached facets are not UTF-8".into()))?;
        // The first hole is the only one (see `FACETS_HOLE`).
        let main = Fragment::from(main.replacen(FACETS_HOLE, facets, 1));
        Ok(ContentPage { shell, main })
    })
}

async fn product(
    Reads { db, cache, headers, .. }: Reads,
    auth: AuthSession,
    PagePath(slug): PagePath<String>,
) -> Result<Response, PageError> {
    let slug = Slug::parse(&slug).map_err(|_| AppError::not_found())?;
    let mut parts = Parts::new(&cache);
    let (main, title) = parts
        .fragment(cache.keys().product_page(slug.as_str()), async {
            let mut product = catalog::product_by_slug(&db, slug.as_str()).await?;
            images::attach(&db, std::slice::from_mut(&mut product)).await?;
            Ok((render_fragment(&ProductMain { product: &product, csrf_hole: CSRF_HOLE })?, product.name.clone()))
        })
        .await?;
    // The add-to-cart form gets this visitor's token: their session's, or a
    // signed one (nothing is stored for a visitor without a session).
    let token = auth.form_token().await.unwrap_or_default();
    let shell = Shell::for_visitor(&auth, title).await;
    // The first hole is the only one (see `CSRF_HOLE`). Visitors without a
    // session share the hour's signed token, so their page is shared too.
    parts.respond(&headers, &auth, shell, &[&token], |shell| {
        let main = main.as_str().map_err(|_| AppError::Internal("cached product page is not UTF-8".into()))?;
        Ok(ContentPage { shell, main: Fragment::from(main.replacen(CSRF_HOLE, &token, 1)) })
    })
}
