//! `/api/products/`: the cached list and detail, and an admin's writes. A
//! body is parsed once, into a [`NewProduct`] (create, replace) or into
//! [`ProductChanges`] (update), reporting every field at fault at once.

use axum::Json;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::Response;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ChangeRefusals, CreateRefusals, DeleteRefusals, ReadRefusals, cached_json, cached_json_pinned, complete_schema,
    created, link,
};
use crate::cache::Tag;
use crate::domain::product::{self as parse, NewProduct, ProductChanges, REQUIRED};
use crate::domain::{Dialect, FieldErrors, ListingQuery, Money, QueryPairs};
use crate::error::{AppError, Model};
use crate::models::product;
use crate::routes::extract::{ApiAdmin, JsonBody, ProductId, Reads, Writer};
use crate::services::catalog::{self, ProductView};
use crate::services::{listings, writes};
use crate::state::AppState;
use crate::views::api::{ProductDto, ProductList, ProductListParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_products, create_product)).routes(routes!(
        get_product,
        put_product,
        patch_product,
        delete_product
    ))
}

/// Changes to a product: every field optional, null or absent for "leave as is".
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(as = ProductPatch)]
pub struct ProductInput {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = "^[^\\x00]*$")]
    name: Option<String>,
    /// Derived from the name when empty (or, on create and replace, absent).
    #[schema(pattern = "^([a-z0-9]+(-[a-z0-9]+)*)?$", max_length = 200)]
    slug: Option<String>,
    #[schema(pattern = "^[^\\x00]*$")]
    description: Option<String>,
    #[schema(schema_with = price_or_null)]
    price: Option<Value>,
    #[schema(minimum = 0, maximum = 2147483647)]
    stock: Option<i64>,
    /// The id of an existing category.
    category_id: Option<i32>,
    /// New products are active unless told otherwise.
    is_active: Option<bool>,
}

const REQUIRED_FIELDS: [&str; 4] = ["name", "price", "stock", "category_id"];

/// The document's `ProductInput`: a product as created or replaced.
pub struct ProductInputDoc;

impl PartialSchema for ProductInputDoc {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        complete_schema(
            ProductInput::schema(),
            "A product as created or replaced.",
            &REQUIRED_FIELDS,
            &[("price", price())],
        )
    }
}

impl ToSchema for ProductInputDoc {
    fn name() -> std::borrow::Cow<'static, str> {
        "ProductInput".into()
    }
}

/// A price in a body, as `Money::parse` reads it: a string or a JSON number.
fn price_schema(types: &[Type]) -> Object {
    ObjectBuilder::new()
        .schema_type(types.iter().cloned().collect::<SchemaType>())
        .description(Some("A decimal from 0 to 1000000000 with at most 2 places, as a string or a number."))
        .pattern(Some(r"^[0-9]+(\.[0-9]{1,2})?$"))
        .minimum(Some(0))
        .maximum(Some(1_000_000_000))
        .examples(["19.99"])
        .build()
}

fn price() -> Object {
    price_schema(&[Type::String, Type::Number])
}

fn price_or_null() -> Object {
    price_schema(&[Type::String, Type::Number, Type::Null])
}

/// A JSON price: a decimal string, or a number read as the decimal it is
/// written as.
fn parse_price(value: &Value) -> Result<Money, crate::domain::money::MoneyError> {
    match value {
        Value::String(s) => Money::parse(s),
        Value::Number(n) => Money::parse(&n.to_string()),
        _ => Err(crate::domain::money::MoneyError::NotANumber),
    }
}

impl ProductInput {
    /// Parses every field given; absent ones stay `None`. An empty slug is
    /// derived from the name given, or else from `current_name`.
    fn changes(self, current_name: &str, errors: &mut FieldErrors) -> ProductChanges {
        let name_for_slug = self.name.clone().unwrap_or_else(|| current_name.to_owned());
        ProductChanges {
            name: self.name.and_then(|v| parse::name(&v, errors)),
            slug: self.slug.and_then(|v| parse::slug(&v, &name_for_slug, errors)),
            description: self.description.and_then(|v| parse::description(&v, errors)),
            price: self.price.and_then(|v| parse::price(parse_price(&v), errors)),
            stock: self.stock.and_then(|v| parse::stock(Some(v), errors)),
            category_id: self.category_id,
            is_active: self.is_active,
        }
    }

    /// The update a PATCH asks for, over the product called `current_name`.
    fn into_changes(self, current_name: &str) -> Result<ProductChanges, FieldErrors> {
        let mut errors = FieldErrors::default();
        let changes = self.changes(current_name, &mut errors);
        if errors.is_empty() { Ok(changes) } else { Err(errors) }
    }
}

/// A create or replace: every required field given.
impl TryFrom<ProductInput> for NewProduct {
    type Error = FieldErrors;

    fn try_from(mut input: ProductInput) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let given = [input.name.is_some(), input.price.is_some(), input.stock.is_some(), input.category_id.is_some()];
        for (field, given) in REQUIRED_FIELDS.iter().zip(given) {
            if !given {
                errors.add(field, REQUIRED);
            }
        }
        input.slug.get_or_insert_default();
        input.description.get_or_insert_default();
        input.changes("", &mut errors).complete(errors)
    }
}

/// A 404 in DRF's words for a product.
fn missing(error: AppError) -> AppError {
    Model::Product.not_found(error)
}

/// The product as the API shows it, inactive ones included (for admins).
async fn product_dto(db: &DatabaseConnection, p: product::Model) -> Result<ProductDto, AppError> {
    let c = catalog::stored_category(db, p.category_id).await?;
    Ok(ProductDto::from(&ProductView::from_models(p, c)?))
}

#[utoipa::path(get, path = "/api/products/", tag = "products",
    params(ProductListParams),
    responses((status = 200, description = "A page of active products", body = ProductList), ReadRefusals))]
async fn list_products(reads: Reads, RawQuery(raw): RawQuery) -> Result<Response, AppError> {
    // Invalid input is refused before the cache is touched.
    let query = ListingQuery::parse(Dialect::Api, &QueryPairs::parse(raw.as_deref())).map_err(AppError::BadRequest)?;
    let key = reads.cache.keys().api_product_list(&query);
    // The list shows each product's every field: it pins each one's tag.
    let pin = |ids: &[i32]| reads.cache.pin(ids.iter().map(|&id| Tag::Product(id)).collect());
    cached_json_pinned(&reads, key, async {
        let (page, pinned) = listings::list_products(&reads.db, &query, pin).await?;
        let at = |n: u32| link(&reads.base, "/api/products/", query.with_page(n).canonical_query(Dialect::Api));
        let current = page.page.page();
        let list = ProductList {
            count: page.count,
            next: page.has_next().then(|| at(current + 1)),
            previous: page.has_previous().then(|| at(current - 1)),
            results: page.items.iter().map(ProductDto::from).collect(),
        };
        Ok((list, pinned))
    })
    .await
}

#[utoipa::path(get, path = "/api/products/{id}/", tag = "products",
    params(("id" = i32, Path, description = "Product id", minimum = 1)),
    responses((status = 200, description = "An active product", body = ProductDto), ReadRefusals))]
async fn get_product(reads: Reads, ProductId(id): ProductId) -> Result<Response, AppError> {
    let product = catalog::product_by_id(&reads.db, id);
    let dto = async { Ok(ProductDto::from(&product.await.map_err(missing)?)) };
    cached_json(&reads, reads.cache.keys().api_product(id), dto).await
}

#[utoipa::path(post, path = "/api/products/", tag = "products", request_body = ProductInputDoc,
    security(("bearer" = [])),
    responses((status = 201, description = "Created", body = ProductDto), CreateRefusals))]
async fn create_product(
    ApiAdmin(Writer { db, cache }): ApiAdmin,
    JsonBody(input): JsonBody<ProductInput>,
) -> Result<Response, AppError> {
    let new = NewProduct::try_from(input).map_err(AppError::BadRequest)?;
    let p = writes::create_product(&db, &cache, new).await?;
    let location = format!("/api/products/{}/", p.id);
    Ok(created(location, product_dto(&db, p).await?))
}

#[utoipa::path(put, path = "/api/products/{id}/", tag = "products", request_body = ProductInputDoc,
    params(("id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, description = "Replaced", body = ProductDto), ChangeRefusals))]
async fn put_product(
    ApiAdmin(Writer { db, cache }): ApiAdmin,
    ProductId(id): ProductId,
    JsonBody(input): JsonBody<ProductInput>,
) -> Result<Json<ProductDto>, AppError> {
    catalog::stored_product(&db, id).await.map_err(missing)?;
    let new = NewProduct::try_from(input).map_err(AppError::BadRequest)?;
    let p = writes::update_product(&db, &cache, id, new.into()).await.map_err(missing)?;
    Ok(Json(product_dto(&db, p).await?))
}

#[utoipa::path(patch, path = "/api/products/{id}/", tag = "products", request_body = ProductInput,
    params(("id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, description = "Updated", body = ProductDto), ChangeRefusals))]
async fn patch_product(
    ApiAdmin(Writer { db, cache }): ApiAdmin,
    ProductId(id): ProductId,
    JsonBody(input): JsonBody<ProductInput>,
) -> Result<Json<ProductDto>, AppError> {
    let current = catalog::stored_product(&db, id).await.map_err(missing)?;
    let changes = input.into_changes(&current.name).map_err(AppError::BadRequest)?;
    let p = writes::update_product(&db, &cache, id, changes).await.map_err(missing)?;
    Ok(Json(product_dto(&db, p).await?))
}

#[utoipa::path(delete, path = "/api/products/{id}/", tag = "products",
    params(("id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), DeleteRefusals))]
async fn delete_product(
    ApiAdmin(Writer { db, cache }): ApiAdmin,
    ProductId(id): ProductId,
) -> Result<StatusCode, AppError> {
    writes::delete_product(&db, &cache, id).await.map_err(missing)?;
    Ok(StatusCode::NO_CONTENT)
}
