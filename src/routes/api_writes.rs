//! API writes for admin clients: create, replace, update and delete products
//! and categories. Credentials: `Authorization: Bearer <token>` (from
//! `storefront token create`), or the session cookie plus an `X-CSRF-Token`
//! header. Bodies are validated exactly as the admin forms validate them.

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};
use bytes::Bytes;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use crate::auth::{AuthSession, tokens};
use crate::cache::Cache;
use crate::domain::ParamErrors;
use crate::error::{AppError, ErrorBody};
use crate::models::{category_entity, product, product_entity};
use crate::routes::PathParam;
use crate::routes::admin::{validate_category, validate_product};
use crate::services::catalog::{self, ProductView};
use crate::services::writes::{self, CategoryChanges};
use crate::state::AppState;
use crate::views::admin::{CategoryForm, FieldErrors, ProductForm};
use crate::views::api::{CategoryDto, ProductDto};

pub fn router() -> Router<AppState> {
    let product = || patch(patch_product).put(put_product).delete(delete_product);
    let category = || patch(patch_category).put(put_category).delete(delete_category);
    Router::new()
        .route("/api/products/", post(create_product))
        .route("/api/products", post(create_product))
        .route("/api/products/{id}/", product())
        .route("/api/products/{id}", product())
        .route("/api/categories/", post(create_category))
        .route("/api/categories", post(create_category))
        .route("/api/categories/{id}/", category())
        .route("/api/categories/{id}", category())
}

/// An admin, by bearer token or by session cookie with the CSRF header.
pub struct ApiAdmin;

impl FromRequestParts<AppState> for ApiAdmin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let not_admin = AppError::Forbidden("You do not have permission to perform this action.");
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).ok_or(AppError::Unauthorized)?;
            let user = tokens::user_for(&state.db, token.trim()).await?.ok_or(AppError::Unauthorized)?;
            return if user.is_admin { Ok(ApiAdmin) } else { Err(not_admin) };
        }
        let auth = AuthSession::from_request_parts(parts, state).await?;
        let user = auth.user().await?.ok_or(AppError::Unauthorized)?;
        let csrf = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !auth.session_token_matches(csrf).await? {
            return Err(AppError::Forbidden("CSRF token missing or incorrect."));
        }
        if user.is_admin { Ok(ApiAdmin) } else { Err(not_admin) }
    }
}

/// A JSON object body whose rejection is answered in the API's error shape.
/// Only an object: serde also reads a struct from an array, by position, so
/// `["Lamps"]` would rename a category.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes =
            Bytes::from_request(Request::from_parts(parts.clone(), body), state).await.map_err(JsonRejection::from)?;
        let array = bytes.trim_ascii_start().starts_with(b"[");
        // axum's own checks and messages (content type, syntax, the field at fault) first.
        let Json(value) = Json::<T>::from_request(Request::from_parts(parts, Body::from(bytes)), state).await?;
        if array {
            return Err(AppError::bad_param("body", "Expected a JSON object."));
        }
        Ok(JsonBody(value))
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        AppError::body_rejected(rejection.status(), rejection.body_text())
    }
}

// The document's four body schemas: `ProductInput` and `CategoryInput` for
// POST and PUT, `ProductPatch` and `CategoryPatch` for PATCH. The handlers
// read every body into the all-optional structs below and check the required
// fields themselves, to report every missing one at once; the `*InputDoc`
// structs exist for the document only. Their doc comments are the
// document's descriptions.

/// Changes to a product: every field optional, null or absent for "leave as is".
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(as = ProductPatch)]
pub struct ProductInput {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = "^[^\\x00]*$")]
    name: Option<String>,
    /// Derived from the name when empty.
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
    is_active: Option<bool>,
}

/// A product as created or replaced.
#[allow(dead_code)]
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProductInput)]
pub struct ProductInputDoc {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = "^[^\\x00]*$")]
    name: String,
    /// Derived from the name when empty or absent.
    #[schema(pattern = "^([a-z0-9]+(-[a-z0-9]+)*)?$", max_length = 200)]
    slug: Option<String>,
    #[schema(pattern = "^[^\\x00]*$")]
    description: Option<String>,
    #[schema(schema_with = price)]
    price: Value,
    #[schema(minimum = 0, maximum = 2147483647)]
    stock: i64,
    /// The id of an existing category.
    category_id: i32,
    /// Default true.
    is_active: Option<bool>,
}

/// Changes to a category: every field optional, null or absent for "leave as is".
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(as = CategoryPatch)]
pub struct CategoryInput {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = "^[^\\x00]*$")]
    name: Option<String>,
    /// Derived from the name when empty.
    #[schema(pattern = "^([a-z0-9]+(-[a-z0-9]+)*)?$", max_length = 200)]
    slug: Option<String>,
    #[schema(pattern = "^[^\\x00]*$")]
    description: Option<String>,
}

/// A category as created or replaced.
#[allow(dead_code)]
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CategoryInput)]
pub struct CategoryInputDoc {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = "^[^\\x00]*$")]
    name: String,
    /// Derived from the name when empty or absent.
    #[schema(pattern = "^([a-z0-9]+(-[a-z0-9]+)*)?$", max_length = 200)]
    slug: Option<String>,
    #[schema(pattern = "^[^\\x00]*$")]
    description: Option<String>,
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

fn to_params(errors: FieldErrors) -> AppError {
    AppError::BadRequest(ParamErrors(errors.0))
}

const REQUIRED: &str = "This field is required.";

impl ProductInput {
    /// Lays the given fields over `base` (empty for a create); with
    /// `complete`, every writable field must be given (POST, PUT).
    fn over(self, mut base: ProductForm, complete: bool) -> Result<ProductForm, AppError> {
        let mut errors = FieldErrors::default();
        if complete {
            for (field, missing) in [
                ("name", self.name.is_none()),
                ("price", self.price.is_none()),
                ("stock", self.stock.is_none()),
                ("category_id", self.category_id.is_none()),
            ] {
                if missing {
                    errors.add(field, REQUIRED);
                }
            }
        }
        if let Some(v) = self.name {
            base.name = v;
        }
        if let Some(v) = self.slug {
            base.slug = v;
        }
        if let Some(v) = self.description {
            base.description = v;
        }
        match self.price {
            Some(Value::String(s)) => base.price = s,
            Some(Value::Number(n)) => base.price = n.to_string(),
            Some(_) => errors.add("price", "Enter a number."),
            None => {}
        }
        if let Some(v) = self.stock {
            base.stock = v.to_string();
        }
        if let Some(v) = self.category_id {
            base.category_id = v.to_string();
        }
        if let Some(v) = self.is_active {
            base.is_active = if v { "1".into() } else { String::new() };
        } else if complete {
            base.is_active = "1".into();
        }
        if errors.is_empty() { Ok(base) } else { Err(to_params(errors)) }
    }
}

impl CategoryInput {
    fn over(self, mut base: CategoryForm, complete: bool) -> Result<CategoryForm, AppError> {
        if complete && self.name.is_none() {
            return Err(AppError::bad_param("name", REQUIRED));
        }
        if let Some(v) = self.name {
            base.name = v;
        }
        if let Some(v) = self.slug {
            base.slug = v;
        }
        if let Some(v) = self.description {
            base.description = v;
        }
        Ok(base)
    }
}

fn parse_id(raw: &str) -> Result<i32, AppError> {
    match raw.parse::<i32>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(AppError::bad_param("id", "A valid positive integer is required.")),
    }
}

/// The product as the API shows it, inactive ones included (for admins).
async fn product_dto(db: &DatabaseConnection, p: product::Model) -> Result<ProductDto, AppError> {
    let c = category_entity::Entity::find_by_id(p.category_id).one(db).await?.ok_or_else(AppError::not_found)?;
    Ok(ProductDto::from(&ProductView::from_models(p, c)?))
}

async fn find_product(db: &DatabaseConnection, id: i32) -> Result<product::Model, AppError> {
    product_entity::Entity::find_by_id(id).one(db).await?.ok_or_else(AppError::not_found)
}

async fn save_product(
    db: &DatabaseConnection,
    cache: &Cache,
    id: Option<i32>,
    form: ProductForm,
) -> Result<product::Model, AppError> {
    let valid = validate_product(db, &form).await.map_err(to_params)?;
    match id {
        None => writes::create_product(db, cache, valid).await,
        Some(id) => writes::update_product(db, cache, id, valid.into()).await,
    }
}

fn created(location: String, body: impl serde::Serialize) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(v) = location.parse() {
        headers.insert(header::LOCATION, v);
    }
    (StatusCode::CREATED, headers, Json(body)).into_response()
}

#[utoipa::path(post, path = "/api/products/", tag = "products", request_body = ProductInputDoc,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = ProductDto),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "Slug in use", body = ErrorBody),
    ))]
pub(crate) async fn create_product(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    _: ApiAdmin,
    JsonBody(input): JsonBody<ProductInput>,
) -> Result<Response, AppError> {
    let form = input.over(ProductForm::default(), true)?;
    let p = save_product(&db, &cache, None, form).await?;
    let location = format!("/api/products/{}/", p.id);
    Ok(created(location, product_dto(&db, p).await?))
}

#[utoipa::path(put, path = "/api/products/{id}/", tag = "products", request_body = ProductInputDoc,
    params(("id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses(
        (status = 200, description = "Replaced", body = ProductDto),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 409, description = "Slug in use", body = ErrorBody),
    ))]
pub(crate) async fn put_product(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    _: ApiAdmin,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<ProductInput>,
) -> Result<Json<ProductDto>, AppError> {
    let id = parse_id(&id)?;
    find_product(&db, id).await?;
    let form = input.over(ProductForm::default(), true)?;
    let p = save_product(&db, &cache, Some(id), form).await?;
    Ok(Json(product_dto(&db, p).await?))
}

#[utoipa::path(patch, path = "/api/products/{id}/", tag = "products", request_body = ProductInput,
    params(("id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = ProductDto),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 409, description = "Slug in use", body = ErrorBody),
    ))]
pub(crate) async fn patch_product(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    _: ApiAdmin,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<ProductInput>,
) -> Result<Json<ProductDto>, AppError> {
    let id = parse_id(&id)?;
    let current = find_product(&db, id).await?;
    let form = input.over(ProductForm::from_model(current), false)?;
    let p = save_product(&db, &cache, Some(id), form).await?;
    Ok(Json(product_dto(&db, p).await?))
}

#[utoipa::path(delete, path = "/api/products/{id}/", tag = "products",
    params(("id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a positive integer", body = ErrorBody),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
    ))]
pub(crate) async fn delete_product(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    _: ApiAdmin,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, AppError> {
    writes::delete_product(&db, &cache, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn category_dto(db: &DatabaseConnection, id: i32) -> Result<CategoryDto, AppError> {
    Ok(CategoryDto::from(&catalog::category_by_id(db, id).await?))
}

#[utoipa::path(post, path = "/api/categories/", tag = "categories", request_body = CategoryInputDoc,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = CategoryDto),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "Slug in use", body = ErrorBody),
    ))]
pub(crate) async fn create_category(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    _: ApiAdmin,
    JsonBody(input): JsonBody<CategoryInput>,
) -> Result<Response, AppError> {
    let form = input.over(CategoryForm::default(), true)?;
    let new = validate_category(&form).map_err(to_params)?;
    let c = writes::create_category(&db, &cache, new).await?;
    Ok(created(format!("/api/categories/{}/", c.id), category_dto(&db, c.id).await?))
}

async fn change_category(
    db: &DatabaseConnection,
    cache: &Cache,
    id: &str,
    input: CategoryInput,
    complete: bool,
) -> Result<Json<CategoryDto>, AppError> {
    let id = parse_id(id)?;
    let current = category_entity::Entity::find_by_id(id).one(db).await?.ok_or_else(AppError::not_found)?;
    let base = if complete {
        CategoryForm::default()
    } else {
        CategoryForm { name: current.name, slug: current.slug, description: current.description, csrf: String::new() }
    };
    let valid = validate_category(&input.over(base, complete)?).map_err(to_params)?;
    let changes =
        CategoryChanges { name: Some(valid.name), slug: Some(valid.slug), description: Some(valid.description) };
    writes::update_category(db, cache, id, changes).await?;
    Ok(Json(category_dto(db, id).await?))
}

#[utoipa::path(put, path = "/api/categories/{id}/", tag = "categories", request_body = CategoryInputDoc,
    params(("id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses(
        (status = 200, description = "Replaced", body = CategoryDto),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such category", body = ErrorBody),
        (status = 409, description = "Slug in use", body = ErrorBody),
    ))]
pub(crate) async fn put_category(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    _: ApiAdmin,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<CategoryInput>,
) -> Result<Json<CategoryDto>, AppError> {
    change_category(&db, &cache, &id, input, true).await
}

#[utoipa::path(patch, path = "/api/categories/{id}/", tag = "categories", request_body = CategoryInput,
    params(("id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = CategoryDto),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such category", body = ErrorBody),
        (status = 409, description = "Slug in use", body = ErrorBody),
    ))]
pub(crate) async fn patch_category(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    _: ApiAdmin,
    PathParam(id): PathParam<String>,
    JsonBody(input): JsonBody<CategoryInput>,
) -> Result<Json<CategoryDto>, AppError> {
    change_category(&db, &cache, &id, input, false).await
}

#[utoipa::path(delete, path = "/api/categories/{id}/", tag = "categories",
    params(("id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a positive integer", body = ErrorBody),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such category", body = ErrorBody),
        (status = 409, description = "The category still has products", body = ErrorBody),
    ))]
pub(crate) async fn delete_category(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    _: ApiAdmin,
    PathParam(id): PathParam<String>,
) -> Result<StatusCode, AppError> {
    let id = parse_id(&id)?;
    let products = product_entity::Entity::find().filter(product::Column::CategoryId.eq(id)).count(&db).await?;
    if products > 0 {
        return Err(AppError::Conflict(ParamErrors::single(
            "category",
            format!("The category still has {products} product(s): move or delete them first."),
        )));
    }
    writes::delete_category(&db, &cache, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
