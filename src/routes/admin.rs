//! The admin: products and categories, with create, edit and delete forms.
//! Only admins get in: visitors are sent to log in, shoppers get a 403 page.
//! Every write goes through `services::writes`, so the cache and every
//! public page see it on the very next request.

use axum::Router;
use axum::extract::RawQuery;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;

use crate::auth::AuthSession;
use crate::cache::Cache;
use crate::domain::{Money, PageRequest, QueryPairs, SearchQuery, Slug};
use crate::error::{AppError, PageError};
use crate::models::{category_entity, product, product_entity};
use crate::routes::PagePath;
use crate::routes::auth::{FormBody, require_csrf};
use crate::services::catalog;
use crate::services::writes::{self, CategoryChanges, NewCategory, NewProduct};
use crate::state::AppState;
use crate::views::admin::{
    AdminProductRow, CategoriesPage, CategoryForm, CategoryFormPage, FieldErrors, ProductForm, ProductFormPage,
    ProductsPage,
};
use crate::views::pages::Shell;
use crate::views::render;

const PER_PAGE: u32 = 25;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/products") }))
        .route("/admin/products", get(products).post(create_product))
        .route("/admin/products/new", get(new_product))
        .route("/admin/products/{id}", post(update_product))
        .route("/admin/products/{id}/edit", get(edit_product))
        .route("/admin/products/{id}/delete", post(delete_product))
        .route("/admin/categories", get(categories).post(create_category))
        .route("/admin/categories/new", get(new_category))
        .route("/admin/categories/{id}", post(update_category))
        .route("/admin/categories/{id}/edit", get(edit_category))
        .route("/admin/categories/{id}/delete", post(delete_category))
        .route_layer(middleware::from_fn_with_state(state, require_admin))
}

/// Visitors go to the login page (and come back); shoppers get 403.
async fn require_admin(auth: AuthSession, request: Request, next: Next) -> Response {
    match auth.user().await {
        Ok(Some(user)) if user.is_admin => next.run(request).await,
        Ok(Some(_)) => AppError::Forbidden("This page is for the shop's administrators.").into_html(),
        Ok(None) => {
            let target = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/admin");
            let next: String = form_urlencoded::byte_serialize(target.as_bytes()).collect();
            Redirect::to(&format!("/login?next={next}")).into_response()
        }
        Err(e) => e.into_html(),
    }
}

fn parse_id(raw: &str) -> Result<i32, AppError> {
    raw.parse::<i32>().ok().filter(|id| *id > 0).ok_or_else(AppError::not_found)
}

async fn products(
    State(db): State<DatabaseConnection>,
    auth: AuthSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let query = QueryPairs::parse(raw.as_deref());
    let q = query.get("q").unwrap_or_default();
    let search = SearchQuery::parse(q).map_err(|e| AppError::bad_param("q", e.to_string()))?;
    let page = match query.get("page") {
        Some(page) => PageRequest::parse_page(page).map_err(|e| AppError::bad_param("page", e.to_string()))?,
        None => 1,
    };
    let page = PageRequest::new(page, PER_PAGE).map_err(|e| AppError::bad_param("page", e.to_string()))?;
    let backend = db.get_database_backend();
    let mut select = product_entity::Entity::find();
    if let Some(search) = &search {
        select = select.filter(product::matches_all_terms(backend, search.terms()));
    }
    let count = select.clone().count(&db).await.map_err(AppError::from)?;
    let rows = select
        .find_also_related(category_entity::Entity)
        .order_by_desc(product::Column::Id)
        .offset(page.offset())
        .limit(u64::from(PER_PAGE))
        .all(&db)
        .await
        .map_err(AppError::from)?;
    let q = search.as_ref().map(|s| s.to_string()).unwrap_or_default();
    let link = |n: u32| {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        if !q.is_empty() {
            ser.append_pair("q", &q);
        }
        ser.append_pair("page", &n.to_string());
        format!("/admin/products?{}", ser.finish())
    };
    let page_count = page.page_count(count);
    let page_page = ProductsPage {
        shell: Shell::for_visitor(&auth, "Admin · Products").await,
        products: rows
            .into_iter()
            .map(|(p, c)| AdminProductRow {
                id: p.id,
                name: p.name,
                category: c.map(|c| c.name).unwrap_or_default(),
                price: Money::from_cents(p.price_cents).map(|m| m.to_string()).unwrap_or_default(),
                stock: p.stock,
                is_active: p.is_active,
            })
            .collect(),
        count,
        page: page.page(),
        page_count,
        previous: (page.page() > 1).then(|| link(page.page() - 1)),
        next: (page.page() < page_count).then(|| link(page.page() + 1)),
        q,
    };
    Ok(render(&page_page))
}

/// PostgreSQL text cannot hold NUL (inserting one is a 500 there), so it is
/// refused on both backends, with DRF's message.
const NUL: &str = "Null characters are not allowed.";

fn validate_name(name: &str, errors: &mut FieldErrors) -> String {
    let name = name.trim();
    if name.is_empty() {
        errors.add("name", "This field is required.");
    } else if name.chars().count() > 200 {
        errors.add("name", "Ensure this field has no more than 200 characters.");
    } else if name.contains('\0') {
        errors.add("name", NUL);
    }
    name.to_owned()
}

fn validate_description(description: &str, errors: &mut FieldErrors) -> String {
    if description.contains('\0') {
        errors.add("description", NUL);
    }
    description.trim().to_owned()
}

/// The slug as typed, or derived from the name when left empty.
fn validate_slug(raw: &str, name: &str, errors: &mut FieldErrors) -> Option<Slug> {
    let raw = raw.trim();
    if raw.is_empty() && name.is_empty() {
        // The missing name is the error to report.
        return None;
    }
    let slug = if raw.is_empty() {
        Slug::from_name(name).ok_or("Enter a slug: the name has no letters or digits.")
    } else {
        Slug::parse(raw).map_err(|_| "Enter a valid slug: lowercase letters, numbers and hyphens.")
    };
    slug.map_err(|e| errors.add("slug", e)).ok()
}

pub(crate) async fn validate_product(db: &DatabaseConnection, form: &ProductForm) -> Result<NewProduct, FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = validate_name(&form.name, &mut errors);
    let slug = validate_slug(&form.slug, &name, &mut errors);
    let description = validate_description(&form.description, &mut errors);
    let price = Money::parse(&form.price).map_err(|e| errors.add("price", e.to_string())).ok();
    let stock = match form.stock.trim().parse::<u32>() {
        Ok(n) if n <= i32::MAX as u32 => Some(n),
        _ => {
            errors.add("stock", "Enter a whole number, 0 or more.");
            None
        }
    };
    let category_id = match form.category_id.trim().parse::<i32>() {
        Ok(cid) if category_entity::Entity::find_by_id(cid).one(db).await.ok().flatten().is_some() => Some(cid),
        _ => {
            errors.add("category_id", "Select a category that exists.");
            None
        }
    };
    match (slug, price, stock, category_id) {
        (Some(slug), Some(price), Some(stock), Some(category_id)) if errors.is_empty() => Ok(NewProduct {
            name,
            slug,
            category_id,
            price,
            stock,
            description,
            is_active: form.is_active(),
            created_at: None,
        }),
        _ => Err(errors),
    }
}

async fn product_form(
    db: &DatabaseConnection,
    auth: &AuthSession,
    id: Option<i32>,
    form: ProductForm,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    let title = if id.is_some() { "Admin · Edit product" } else { "Admin · New product" };
    let status = errors.status();
    let page = ProductFormPage {
        shell: Shell::for_visitor(auth, title).await,
        id,
        csrf: auth.form_token().await?,
        form,
        errors,
        categories: catalog::categories(db).await?,
    };
    Ok((status, render(&page)).into_response())
}

async fn new_product(State(db): State<DatabaseConnection>, auth: AuthSession) -> Result<Response, PageError> {
    let form = ProductForm { stock: "0".into(), is_active: "1".into(), ..Default::default() };
    product_form(&db, &auth, None, form, FieldErrors::default()).await
}

async fn edit_product(
    State(db): State<DatabaseConnection>,
    auth: AuthSession,
    PagePath(id): PagePath<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let p = product_entity::Entity::find_by_id(id)
        .one(&db)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    let form = ProductForm::from_model(p);
    product_form(&db, &auth, Some(id), form, FieldErrors::default()).await
}

/// A write's slug clash (lost race with another admin) as a field error.
fn slug_conflict(e: AppError) -> Result<FieldErrors, PageError> {
    match e {
        AppError::Conflict(errors) => {
            let mut fields = FieldErrors::default();
            for (field, messages) in errors.0 {
                for m in messages {
                    fields.add(&field, m);
                }
            }
            Ok(fields)
        }
        other => Err(PageError(other)),
    }
}

async fn create_product(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    auth: AuthSession,
    FormBody(form): FormBody<ProductForm>,
) -> Result<Response, PageError> {
    require_csrf(&auth, &form.csrf).await?;
    let valid = match validate_product(&db, &form).await {
        Ok(v) => v,
        Err(errors) => return product_form(&db, &auth, None, form, errors).await,
    };
    match writes::create_product(&db, &cache, valid).await {
        Ok(p) => {
            auth.flash(&format!("Created “{}”.", p.name)).await?;
            Ok(Redirect::to("/admin/products").into_response())
        }
        Err(e) => product_form(&db, &auth, None, form, slug_conflict(e)?).await,
    }
}

async fn update_product(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    auth: AuthSession,
    PagePath(id): PagePath<String>,
    FormBody(form): FormBody<ProductForm>,
) -> Result<Response, PageError> {
    require_csrf(&auth, &form.csrf).await?;
    let id = parse_id(&id)?;
    let valid = match validate_product(&db, &form).await {
        Ok(v) => v,
        Err(errors) => return product_form(&db, &auth, Some(id), form, errors).await,
    };
    match writes::update_product(&db, &cache, id, valid.into()).await {
        Ok(p) => {
            auth.flash(&format!("Saved “{}”.", p.name)).await?;
            Ok(Redirect::to("/admin/products").into_response())
        }
        Err(e) => product_form(&db, &auth, Some(id), form, slug_conflict(e)?).await,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfOnly {
    csrf: String,
}

async fn delete_product(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    auth: AuthSession,
    PagePath(id): PagePath<String>,
    FormBody(form): FormBody<CsrfOnly>,
) -> Result<Response, PageError> {
    require_csrf(&auth, &form.csrf).await?;
    writes::delete_product(&db, &cache, parse_id(&id)?).await?;
    auth.flash("Product deleted.").await?;
    Ok(Redirect::to("/admin/products").into_response())
}

async fn categories(State(db): State<DatabaseConnection>, auth: AuthSession) -> Result<Response, PageError> {
    let page = CategoriesPage {
        shell: Shell::for_visitor(&auth, "Admin · Categories").await,
        categories: catalog::categories(&db).await?,
    };
    Ok(render(&page))
}

async fn category_form(
    auth: &AuthSession,
    id: Option<i32>,
    form: CategoryForm,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    let title = if id.is_some() { "Admin · Edit category" } else { "Admin · New category" };
    let status = errors.status();
    let page = CategoryFormPage {
        shell: Shell::for_visitor(auth, title).await,
        id,
        csrf: auth.form_token().await?,
        form,
        errors,
    };
    Ok((status, render(&page)).into_response())
}

pub(crate) fn validate_category(form: &CategoryForm) -> Result<NewCategory, FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = validate_name(&form.name, &mut errors);
    let slug = validate_slug(&form.slug, &name, &mut errors);
    let description = validate_description(&form.description, &mut errors);
    match slug {
        Some(slug) if errors.is_empty() => Ok(NewCategory { name, slug, description }),
        _ => Err(errors),
    }
}

async fn new_category(auth: AuthSession) -> Result<Response, PageError> {
    category_form(&auth, None, CategoryForm::default(), FieldErrors::default()).await
}

async fn edit_category(
    State(db): State<DatabaseConnection>,
    auth: AuthSession,
    PagePath(id): PagePath<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let c = category_entity::Entity::find_by_id(id)
        .one(&db)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    let form = CategoryForm { name: c.name, slug: c.slug, description: c.description, csrf: String::new() };
    category_form(&auth, Some(id), form, FieldErrors::default()).await
}

async fn create_category(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    auth: AuthSession,
    FormBody(form): FormBody<CategoryForm>,
) -> Result<Response, PageError> {
    require_csrf(&auth, &form.csrf).await?;
    let new = match validate_category(&form) {
        Ok(v) => v,
        Err(errors) => return category_form(&auth, None, form, errors).await,
    };
    match writes::create_category(&db, &cache, new).await {
        Ok(c) => {
            auth.flash(&format!("Created “{}”.", c.name)).await?;
            Ok(Redirect::to("/admin/categories").into_response())
        }
        Err(e) => category_form(&auth, None, form, slug_conflict(e)?).await,
    }
}

async fn update_category(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    auth: AuthSession,
    PagePath(id): PagePath<String>,
    FormBody(form): FormBody<CategoryForm>,
) -> Result<Response, PageError> {
    require_csrf(&auth, &form.csrf).await?;
    let id = parse_id(&id)?;
    let valid = match validate_category(&form) {
        Ok(v) => v,
        Err(errors) => return category_form(&auth, Some(id), form, errors).await,
    };
    let changes =
        CategoryChanges { name: Some(valid.name), slug: Some(valid.slug), description: Some(valid.description) };
    match writes::update_category(&db, &cache, id, changes).await {
        Ok(c) => {
            auth.flash(&format!("Saved “{}”.", c.name)).await?;
            Ok(Redirect::to("/admin/categories").into_response())
        }
        Err(e) => category_form(&auth, Some(id), form, slug_conflict(e)?).await,
    }
}

async fn delete_category(
    State(db): State<DatabaseConnection>,
    State(cache): State<Cache>,
    auth: AuthSession,
    PagePath(id): PagePath<String>,
    FormBody(form): FormBody<CsrfOnly>,
) -> Result<Response, PageError> {
    require_csrf(&auth, &form.csrf).await?;
    let id = parse_id(&id)?;
    let products = product_entity::Entity::find()
        .filter(product::Column::CategoryId.eq(id))
        .count(&db)
        .await
        .map_err(AppError::from)?;
    if products > 0 {
        let c = category_entity::Entity::find_by_id(id)
            .one(&db)
            .await
            .map_err(AppError::from)?
            .ok_or_else(AppError::not_found)?;
        let mut errors = FieldErrors::default();
        errors.add("category", format!("“{}” still has {products} product(s): move or delete them first.", c.name));
        let form = CategoryForm { name: c.name, slug: c.slug, description: c.description, csrf: String::new() };
        return category_form(&auth, Some(id), form, errors).await;
    }
    writes::delete_category(&db, &cache, id).await?;
    auth.flash("Category deleted.").await?;
    Ok(Redirect::to("/admin/categories").into_response())
}
