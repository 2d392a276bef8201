//! The JSON API, compatible with the seed's Django REST Framework URLs:
//! trailing slashes optional, DRF-style pagination, `{"detail", "errors"}`
//! errors. Also serves its own OpenAPI document.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use utoipa::OpenApi;

use crate::cache::{Cache, EntryKey, Filled};
use crate::routes::cached::{CachedBody, JSON};

use crate::domain::{Dialect, ListingQuery, PageRequest, QueryPairs, page_request};
use crate::error::{AppError, ErrorBody};
use crate::routes::PathParam;
use crate::services::{catalog, listings};
use crate::state::{AppState, PublicUrl};
use crate::views::api::{
    CategoryDto, CategoryList, CategoryRefDto, Ordering, PageParams, ProductDto, ProductList, ProductListParams,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Storefront API",
        description = "Catalog of the storefront shop, compatible with the seed's REST API."
    ),
    paths(
        list_products, get_product, list_categories, get_category,
        super::api_writes::create_product, super::api_writes::put_product, super::api_writes::patch_product,
        super::api_writes::delete_product, super::api_writes::create_category, super::api_writes::put_category,
        super::api_writes::patch_category, super::api_writes::delete_category,
    ),
    modifiers(&BearerAuth, &BlankQueryValues),
    components(schemas(
        ProductList, ProductDto, CategoryRefDto, CategoryList, CategoryDto, ErrorBody, Ordering,
        super::api_writes::ProductInputDoc, super::api_writes::ProductInput,
        super::api_writes::CategoryInputDoc, super::api_writes::CategoryInput,
    ))
)]
pub struct ApiDoc;

/// Declares the bearer-token scheme the write operations use.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Marks every query parameter `allowEmptyValue`: queries are read through
/// `QueryPairs`, which takes a blank value (`?page=`) as an absent one.
struct BlankQueryValues;

impl utoipa::Modify for BlankQueryValues {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            let parameters = operations.into_iter().flatten().flat_map(|op| op.parameters.iter_mut().flatten());
            for parameter in parameters.filter(|p| p.parameter_in == ParameterIn::Query) {
                // utoipa has no field for this keyword; its extensions are
                // flattened into the parameter object.
                parameter.extensions.get_or_insert_with(Default::default).insert("allowEmptyValue".into(), true.into());
            }
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/products/", get(list_products))
        .route("/api/products", get(list_products))
        .route("/api/products/{id}/", get(get_product))
        .route("/api/products/{id}", get(get_product))
        .route("/api/categories/", get(list_categories))
        .route("/api/categories", get(list_categories))
        .route("/api/categories/{id}/", get(get_category))
        .route("/api/categories/{id}", get(get_category))
        .route("/api/openapi.json", get(openapi))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Serves `key` from the cache, or runs `load` and serializes its result.
///
/// `load` goes to the heap at once: a hit never polls it, and every layer
/// of middleware would otherwise move its (large) state around with the
/// request's future.
fn cached_json<'a, T, Fut>(
    cache: &'a Cache,
    headers: &'a HeaderMap,
    key: EntryKey,
    load: Fut,
) -> impl std::future::Future<Output = Result<Response, AppError>> + 'a
where
    T: Serialize,
    Fut: std::future::Future<Output = Result<T, AppError>> + 'a,
{
    let load = Box::pin(load);
    async move { cached_json_boxed(cache, headers, key, load).await }
}

async fn cached_json_boxed<T, Fut>(
    cache: &Cache,
    headers: &HeaderMap,
    key: EntryKey,
    load: std::pin::Pin<Box<Fut>>,
) -> Result<Response, AppError>
where
    T: Serialize,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    let cached = cache
        .get_or_fill(&key, || async {
            let value = load.await?;
            let body =
                serde_json::to_vec(&value).map_err(|e| AppError::Internal(format!("serializing {}: {e}", key.kind)))?;
            Ok(Filled { body: Bytes::from(body), title: String::new() })
        })
        .await?;
    Ok(CachedBody {
        body: cached.body,
        etag: cached.etag,
        status: cached.status,
        ttl: cache.ttl(key.ttl),
        tags: key.tags,
        content_type: JSON,
        private: false,
    }
    .into_response(headers))
}

/// Ids are positive integers; anything else is a 400 naming the parameter.
fn parse_id(raw: &str) -> Result<i32, AppError> {
    match raw.parse::<i32>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(AppError::bad_param("id", "A valid positive integer is required.")),
    }
}

/// An absolute link to `path` with the canonical query string `qs`.
fn link(base: &PublicUrl, path: &str, qs: String) -> String {
    if qs.is_empty() { format!("{}{path}", base.as_str()) } else { format!("{}{path}?{qs}", base.as_str()) }
}

#[utoipa::path(
    get,
    path = "/api/products/",
    tag = "products",
    params(ProductListParams),
    responses(
        (status = 200, description = "A page of active products", body = ProductList),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 404, description = "The page is past the last one (\"Invalid page.\")", body = ErrorBody),
    )
)]
async fn list_products(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    State(base): State<PublicUrl>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    // Invalid input is refused before the cache is touched.
    let query = ListingQuery::parse(Dialect::Api, &QueryPairs::parse(raw.as_deref())).map_err(AppError::BadRequest)?;
    let key = cache.keys().api_product_list(&query);
    cached_json(&cache, &headers, key, async {
        let page = listings::list_products(&db, &query).await?;
        let at = |n: u32| link(&base, "/api/products/", query.with_page(n).canonical_query(Dialect::Api));
        let current = page.page.page();
        Ok(ProductList {
            count: page.count,
            next: page.has_next().then(|| at(current + 1)),
            previous: page.has_previous().then(|| at(current - 1)),
            results: page.items.iter().map(ProductDto::from).collect(),
        })
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/products/{id}/",
    tag = "products",
    params(("id" = i32, Path, description = "Product id", minimum = 1)),
    responses(
        (status = 200, description = "An active product", body = ProductDto),
        (status = 400, description = "The id is not a positive integer", body = ErrorBody),
        (status = 404, description = "No active product has this id", body = ErrorBody),
    )
)]
async fn get_product(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    headers: HeaderMap,
    PathParam(id): PathParam<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    cached_json(&cache, &headers, cache.keys().api_product(id), async {
        Ok(ProductDto::from(&catalog::product_by_id(&db, id).await?))
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/categories/",
    tag = "categories",
    params(PageParams),
    responses(
        (status = 200, description = "A page of categories, by name", body = CategoryList),
        (status = 400, description = "A parameter is invalid", body = ErrorBody),
        (status = 404, description = "The page is past the last one (\"Invalid page.\")", body = ErrorBody),
    )
)]
async fn list_categories(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    State(base): State<PublicUrl>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let page = page_request(&QueryPairs::parse(raw.as_deref()), "page_size").map_err(AppError::BadRequest)?;
    let key = cache.keys().api_category_list(page);
    cached_json(&cache, &headers, key, category_page(&db, &base, page)).await
}

async fn category_page(db: &DatabaseConnection, base: &PublicUrl, page: PageRequest) -> Result<CategoryList, AppError> {
    let all = catalog::categories(db).await?;
    let count = all.len() as u64;
    let page_count = page.page_count(count);
    if page.page() > page_count {
        return Err(AppError::invalid_page());
    }
    let at = |n: u32| link(base, "/api/categories/", page_query(page.with_page(n)));
    let results = all
        .iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.per_page() as usize)
        .map(CategoryDto::from)
        .collect();
    Ok(CategoryList {
        count,
        next: (page.page() < page_count).then(|| at(page.page() + 1)),
        previous: (page.page() > 1).then(|| at(page.page() - 1)),
        results,
    })
}

/// The canonical query of a plain paginated list.
fn page_query(page: PageRequest) -> String {
    let query = ListingQuery { page, ..ListingQuery::default() };
    query.canonical_query(Dialect::Api)
}

#[utoipa::path(
    get,
    path = "/api/categories/{id}/",
    tag = "categories",
    params(("id" = i32, Path, description = "Category id", minimum = 1)),
    responses(
        (status = 200, description = "A category with its count of active products", body = CategoryDto),
        (status = 400, description = "The id is not a positive integer", body = ErrorBody),
        (status = 404, description = "No category has this id", body = ErrorBody),
    )
)]
async fn get_category(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    headers: HeaderMap,
    PathParam(id): PathParam<String>,
) -> Result<Response, AppError> {
    let id = parse_id(&id)?;
    cached_json(&cache, &headers, cache.keys().api_category(id), async {
        Ok(CategoryDto::from(&catalog::category_by_id(&db, id).await?))
    })
    .await
}
