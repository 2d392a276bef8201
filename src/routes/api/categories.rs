//! `/api/categories/`: the cached list and detail, and an admin's writes.

use axum::Json;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::Response;
use sea_orm::DatabaseConnection;
use serde::Deserialize;
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ChangeRefusals, CreateRefusals, DeleteRefusals, ReadRefusals, cached_json, complete_schema, created, link,
};
use crate::cache::Cache;
use crate::domain::product::{self as parse, NewCategory, REQUIRED};
use crate::domain::{Dialect, FieldErrors, ListingQuery, PageRequest, QueryPairs, page_request};
use crate::error::{AppError, ErrorBody, Model};
use crate::models::category_entity;
use crate::routes::extract::{ApiAdmin, CategoryId, JsonBody, Reads, Writer};
use crate::services::{catalog, writes};
use crate::state::{AppState, PublicUrl};
use crate::views::api::{CategoryDto, CategoryList, PageParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_categories, create_category)).routes(routes!(
        get_category,
        put_category,
        patch_category,
        delete_category
    ))
}

/// Changes to a category: every field optional, null or absent for "leave as is".
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(as = CategoryPatch)]
pub struct CategoryInput {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = "^[^\\x00]*$")]
    name: Option<String>,
    /// Derived from the name when empty (or, on create and replace, absent).
    #[schema(pattern = "^([a-z0-9]+(-[a-z0-9]+)*)?$", max_length = 200)]
    slug: Option<String>,
    #[schema(pattern = "^[^\\x00]*$")]
    description: Option<String>,
}

/// The document's `CategoryInput`: a category as created or replaced.
pub struct CategoryInputDoc;

impl PartialSchema for CategoryInputDoc {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        complete_schema(CategoryInput::schema(), "A category as created or replaced.", &["name"], &[])
    }
}

impl ToSchema for CategoryInputDoc {
    fn name() -> std::borrow::Cow<'static, str> {
        "CategoryInput".into()
    }
}

impl CategoryInput {
    /// The category these fields give, each absent one taken from `current`
    /// (an update), or required or empty (a create or replace).
    fn over(self, current: Option<&category_entity::Model>) -> Result<NewCategory, FieldErrors> {
        let keep = |given: Option<String>, stored: fn(&category_entity::Model) -> &str| {
            given.or_else(|| current.map(|c| stored(c).to_owned())).unwrap_or_default()
        };
        if current.is_none() && self.name.is_none() {
            return Err(FieldErrors::single("name", REQUIRED));
        }
        let name = keep(self.name, |c| &c.name);
        let slug = keep(self.slug, |c| &c.slug);
        let description = keep(self.description, |c| &c.description);
        parse::new_category(&name, &slug, &description)
    }
}

impl TryFrom<CategoryInput> for NewCategory {
    type Error = FieldErrors;

    fn try_from(input: CategoryInput) -> Result<Self, FieldErrors> {
        input.over(None)
    }
}

/// A 404 in DRF's words for a category.
fn missing(error: AppError) -> AppError {
    Model::Category.not_found(error)
}

async fn category_dto(db: &DatabaseConnection, id: i32) -> Result<CategoryDto, AppError> {
    Ok(CategoryDto::from(&catalog::category_by_id(db, id).await?))
}

#[utoipa::path(get, path = "/api/categories/", tag = "categories",
    params(PageParams),
    responses((status = 200, description = "A page of categories, by name", body = CategoryList), ReadRefusals))]
async fn list_categories(reads: Reads, RawQuery(raw): RawQuery) -> Result<Response, AppError> {
    let page = page_request(&QueryPairs::parse(raw.as_deref()), "page_size").map_err(AppError::BadRequest)?;
    let key = reads.cache.keys().api_category_list(page);
    cached_json(&reads, key, category_page(&reads.db, &reads.base, page)).await
}

async fn category_page(db: &DatabaseConnection, base: &PublicUrl, page: PageRequest) -> Result<CategoryList, AppError> {
    let all = catalog::categories(db).await?;
    let count = all.len() as u64;
    let page = page.resolve(count);
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

#[utoipa::path(get, path = "/api/categories/{id}/", tag = "categories",
    params(("id" = i32, Path, description = "Category id", minimum = 1)),
    responses(
        (status = 200, description = "A category with its count of active products", body = CategoryDto),
        ReadRefusals,
    ))]
async fn get_category(reads: Reads, CategoryId(id): CategoryId) -> Result<Response, AppError> {
    let category = catalog::category_by_id(&reads.db, id);
    let dto = async { Ok(CategoryDto::from(&category.await.map_err(missing)?)) };
    cached_json(&reads, reads.cache.keys().api_category(id), dto).await
}

#[utoipa::path(post, path = "/api/categories/", tag = "categories", request_body = CategoryInputDoc,
    security(("bearer" = [])),
    responses((status = 201, description = "Created", body = CategoryDto), CreateRefusals))]
async fn create_category(
    ApiAdmin(Writer { db, cache }): ApiAdmin,
    JsonBody(input): JsonBody<CategoryInput>,
) -> Result<Response, AppError> {
    let new = NewCategory::try_from(input).map_err(AppError::BadRequest)?;
    let c = writes::create_category(&db, &cache, new).await?;
    Ok(created(format!("/api/categories/{}/", c.id), category_dto(&db, c.id).await?))
}

/// A replace (`complete`) or an update of category `id`.
async fn change_category(
    db: &DatabaseConnection,
    cache: &Cache,
    id: i32,
    input: CategoryInput,
    complete: bool,
) -> Result<Json<CategoryDto>, AppError> {
    let current = catalog::stored_category(db, id).await.map_err(missing)?;
    let new = input.over((!complete).then_some(&current)).map_err(AppError::BadRequest)?;
    writes::update_category(db, cache, id, new.into()).await.map_err(missing)?;
    Ok(Json(category_dto(db, id).await.map_err(missing)?))
}

#[utoipa::path(put, path = "/api/categories/{id}/", tag = "categories", request_body = CategoryInputDoc,
    params(("id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, description = "Replaced", body = CategoryDto), ChangeRefusals))]
async fn put_category(
    ApiAdmin(Writer { db, cache }): ApiAdmin,
    CategoryId(id): CategoryId,
    JsonBody(input): JsonBody<CategoryInput>,
) -> Result<Json<CategoryDto>, AppError> {
    change_category(&db, &cache, id, input, true).await
}

#[utoipa::path(patch, path = "/api/categories/{id}/", tag = "categories", request_body = CategoryInput,
    params(("id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 200, description = "Updated", body = CategoryDto), ChangeRefusals))]
async fn patch_category(
    ApiAdmin(Writer { db, cache }): ApiAdmin,
    CategoryId(id): CategoryId,
    JsonBody(input): JsonBody<CategoryInput>,
) -> Result<Json<CategoryDto>, AppError> {
    change_category(&db, &cache, id, input, false).await
}

// A category that still has products is refused with a 409.
#[utoipa::path(delete, path = "/api/categories/{id}/", tag = "categories",
    params(("id" = i32, Path, minimum = 1)), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), DeleteRefusals,
        (status = 409, description = "The category still has products", body = ErrorBody)))]
async fn delete_category(
    ApiAdmin(Writer { db, cache }): ApiAdmin,
    CategoryId(id): CategoryId,
) -> Result<StatusCode, AppError> {
    writes::delete_category(&db, &cache, id).await.map_err(missing)?;
    Ok(StatusCode::NO_CONTENT)
}
