//! The JSON API under `/api`, compatible with the seed's Django REST
//! Framework URLs: DRF-style pagination, `{"detail", "errors"}` errors, and
//! the URL spellings DRF's router serves (a missing trailing slash, `.json`,
//! `?format=json`: see [`urls`]). Reads are cached like the pages; writes
//! take an admin's credentials. The router and the OpenAPI document come
//! from one list of handlers, so neither can name a route the other lacks.
//!
//! The handlers name their full paths rather than being nested under
//! `/api`: axum wraps every nested route in two more layers (stripping the
//! prefix rebuilds the URI), which callgrind measured at about 8,000 more
//! instructions per API cache hit, 10% (scripts/profile.py).

mod categories;
mod images;
mod orders;
mod products;
mod root;
mod urls;

pub use urls::ApiUrls;

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Serialize;
use utoipa::openapi::response::{Response as DocResponse, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::cache::{Cache, EntryKey, Filled, Pinned};
use crate::domain::order::OrderStatus;
use crate::encoding;
use crate::error::{AppError, ErrorBody};
use crate::routes::cached::{CachedBody, JSON, Representation, Sharing};
use crate::routes::extract::Reads;
use crate::state::{AppState, PublicUrl};
use crate::views::api::{
    ApiRoot, CategoryDto, CategoryList, CategoryRefDto, ImageVariantDto, OrderDto, OrderLineDto, OrderList, ProductDto,
    ProductImageDto, ProductImageList, ProductList, ShippingDto,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Storefront API",
        description = "Catalog of the storefront shop, compatible with the seed's REST API."
    ),
    modifiers(&BearerAuth),
    components(schemas(
        ApiRoot, ProductList, ProductDto, CategoryRefDto, CategoryList, CategoryDto, ErrorBody,
        products::ProductInputDoc, products::ProductInput,
        categories::CategoryInputDoc, categories::CategoryInput,
        OrderDto, OrderLineDto, ShippingDto, OrderList, OrderStatus,
        orders::OrderInput, orders::ShippingInput, orders::LineInput, orders::StatusInput,
        ProductImageList, ProductImageDto, ImageVariantDto, images::ImageUpload, images::ImageMove,
    ))
)]
struct ApiDoc;

/// The API's routes and its OpenAPI document.
pub fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(root::router())
        .merge(products::router())
        .merge(images::router())
        .merge(categories::router())
        .merge(orders::router());
    let (router, mut doc) = api.split_for_parts();
    urls::FormatSuffixes.modify(&mut doc);
    BlankQueryValues.modify(&mut doc);
    (router, doc)
}

/// Serves the document, serialized once.
pub fn document(doc: &utoipa::openapi::OpenApi) -> MethodRouter<AppState> {
    let served = Bytes::from(serde_json::to_vec(doc).expect("the OpenAPI document serializes"));
    axum::routing::get(move || {
        let served = served.clone();
        async move { ([(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], served) }
    })
}

/// Declares the bearer-token scheme the write operations use.
struct BearerAuth;

impl Modify for BearerAuth {
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
/// Applied once the router has added the paths.
struct BlankQueryValues;

impl Modify for BlankQueryValues {
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

/// The refusals a request can be answered with, each in the API's error
/// shape. One table; each kind of operation documents the statuses it can
/// give.
fn refusals(statuses: &[u16]) -> BTreeMap<String, RefOr<DocResponse>> {
    let described = |status: u16| match status {
        400 => "A parameter or the body is invalid",
        401 => "No valid credentials",
        403 => "Not an admin",
        404 => {
            "Nothing has this id (\"No Product matches the given query.\", \"No ProductImage matches the given query.\"), the page is past the last one (\"Invalid page.\"), or the format is not json (\"Not found.\")"
        }
        409 => {
            "In conflict with what is stored: a slug in use, a category that still has products, stock too short for an order, or a move an order's state does not allow"
        }
        413 => "Body over 64 KiB (32 MiB for an image upload)",
        422 => "The Idempotency-Key was sent before with a different request",
        _ => unreachable!("no refusal is documented for {status}"),
    };
    let body = || ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
    statuses
        .iter()
        .map(|&s| {
            let response = ResponseBuilder::new().description(described(s)).content("application/json", body());
            (s.to_string(), RefOr::T(response.build()))
        })
        .collect()
}

/// What the root can refuse with: a format other than JSON.
pub struct RootRefusals;
/// What a read can refuse with.
pub struct ReadRefusals;
/// What a create can refuse with.
pub struct CreateRefusals;
/// What a replace or an update can refuse with.
pub struct ChangeRefusals;
/// What a delete can refuse with.
pub struct DeleteRefusals;
/// What placing an order can refuse with.
pub struct OrderCreateRefusals;
/// What reading one order can refuse with.
pub struct OrderReadRefusals;
/// What an admin's read can refuse with.
pub struct AdminReadRefusals;

impl IntoResponses for RootRefusals {
    fn responses() -> BTreeMap<String, RefOr<DocResponse>> {
        refusals(&[404])
    }
}

impl IntoResponses for AdminReadRefusals {
    fn responses() -> BTreeMap<String, RefOr<DocResponse>> {
        refusals(&[400, 401, 403, 404])
    }
}

impl IntoResponses for OrderCreateRefusals {
    fn responses() -> BTreeMap<String, RefOr<DocResponse>> {
        refusals(&[400, 401, 403, 404, 409, 413, 422])
    }
}

impl IntoResponses for OrderReadRefusals {
    fn responses() -> BTreeMap<String, RefOr<DocResponse>> {
        refusals(&[401, 404])
    }
}

impl IntoResponses for ReadRefusals {
    fn responses() -> BTreeMap<String, RefOr<DocResponse>> {
        refusals(&[400, 404])
    }
}

impl IntoResponses for CreateRefusals {
    fn responses() -> BTreeMap<String, RefOr<DocResponse>> {
        refusals(&[400, 401, 403, 404, 409, 413])
    }
}

impl IntoResponses for ChangeRefusals {
    fn responses() -> BTreeMap<String, RefOr<DocResponse>> {
        refusals(&[400, 401, 403, 404, 409, 413])
    }
}

impl IntoResponses for DeleteRefusals {
    fn responses() -> BTreeMap<String, RefOr<DocResponse>> {
        refusals(&[400, 401, 403, 404])
    }
}

/// Serves `key` from the cache, or runs `load` and serializes its result.
///
/// `load` goes to the heap at once: a hit never polls it, and every layer
/// of middleware would otherwise move its (large) state around with the
/// request's future.
fn cached_json<'a, T, Fut>(
    reads: &'a Reads,
    key: EntryKey,
    load: Fut,
) -> impl std::future::Future<Output = Result<Response, AppError>> + 'a
where
    T: Serialize + 'a,
    Fut: std::future::Future<Output = Result<T, AppError>> + 'a,
{
    cached_json_pinned(reads, key, async move { Ok((load.await?, Pinned::default())) })
}

/// [`cached_json`] for a body whose fill pins the tags of what it holds
/// (see `Cache::pin`).
fn cached_json_pinned<'a, T, Fut>(
    reads: &'a Reads,
    key: EntryKey,
    load: Fut,
) -> impl std::future::Future<Output = Result<Response, AppError>> + 'a
where
    T: Serialize,
    Fut: std::future::Future<Output = Result<(T, Pinned), AppError>> + 'a,
{
    let load = Box::pin(load);
    async move { cached_json_boxed(&reads.cache, &reads.headers, key, load).await }
}

async fn cached_json_boxed<T, Fut>(
    cache: &Cache,
    headers: &HeaderMap,
    key: EntryKey,
    load: std::pin::Pin<Box<Fut>>,
) -> Result<Response, AppError>
where
    T: Serialize,
    Fut: std::future::Future<Output = Result<(T, Pinned), AppError>>,
{
    let cached = cache
        .get_or_fill(&key, || async {
            let (value, pinned) = load.await?;
            let body =
                serde_json::to_vec(&value).map_err(|e| AppError::Internal(format!("serializing {}: {e}", key.kind)))?;
            Ok(Filled { body: Bytes::from(body), title: String::new(), pinned, sent_whole: true })
        })
        .await?;
    let mut tags = key.tags;
    tags.extend_from_slice(cached.pinned_tags());
    let body = Representation::choose(
        encoding::negotiate(headers),
        cache,
        cached.body,
        &cached.etag,
        cached.encodings.as_ref(),
    );
    Ok(CachedBody {
        body,
        status: cached.status,
        sharing: Sharing::of(&tags, cache.ttl(key.ttl), false),
        content_type: JSON,
    }
    .into_response(headers))
}

/// An absolute link to `path` with the canonical query string `qs`.
fn link(base: &PublicUrl, path: &str, qs: String) -> String {
    if qs.is_empty() { format!("{}{path}", base.as_str()) } else { format!("{}{path}?{qs}", base.as_str()) }
}

/// A 201 with the new resource's address.
fn created(location: String, body: impl Serialize) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(v) = location.parse() {
        headers.insert(header::LOCATION, v);
    }
    (StatusCode::CREATED, headers, Json(body)).into_response()
}

/// The document's schema of a create or replace body: the patch's schema,
/// with `required` fields and, where given, a property's schema replaced
/// (a price that may not be null).
fn complete_schema(
    patch: RefOr<utoipa::openapi::schema::Schema>,
    description: &str,
    required: &[&str],
    replaced: &[(&str, utoipa::openapi::schema::Object)],
) -> RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    let RefOr::T(Schema::Object(mut object)) = patch else { unreachable!("a derived struct schema is an object") };
    object.description = Some(description.to_owned());
    object.required = required.iter().map(|f| (*f).to_owned()).collect();
    for (field, property) in object.properties.iter_mut() {
        let RefOr::T(Schema::Object(property)) = property else { continue };
        // An absent field is not null on a create: it is derived or empty.
        property.default = None;
        // A required field may not be null.
        if required.contains(&field.as_str())
            && let SchemaType::Array(types) = &property.schema_type
        {
            let mut types: Vec<Type> = types.iter().filter(|t| **t != Type::Null).cloned().collect();
            property.schema_type =
                if types.len() == 1 { SchemaType::Type(types.remove(0)) } else { SchemaType::Array(types) };
        }
    }
    for (field, schema) in replaced {
        object.properties.insert((*field).to_owned(), RefOr::T(Schema::Object(schema.clone())));
    }
    RefOr::T(Schema::Object(object))
}
