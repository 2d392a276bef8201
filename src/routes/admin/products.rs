//! The admin's products: a searchable list, and the create, edit and delete
//! forms. A form is parsed once into a [`NewProduct`]; a refused one is shown
//! again with what was typed and a message per field. A saved product's
//! edit page also holds its images: an upload form (multipart, with the
//! same CSRF token as every form) and, per image, a move and a delete.

use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;

use super::{form_status, refused_fields, saved};
use crate::auth::AuthSession;
use crate::domain::product::{self as parse, NewProduct, ProductChanges};
use crate::domain::{FieldErrors, Money, PageRequest, QueryPairs, SearchQuery};
use crate::error::{AppError, PageError};
use crate::media::Media;
use crate::models::product;
use crate::routes::extract::{AdminImagePath, CheckedForm, CsrfForm, FormToken, Id, Writer, require_csrf};
use crate::routes::uploads;
use crate::services::{catalog, images, writes};
use crate::state::AppState;
use crate::views::admin::{ProductForm, ProductFormPage, ProductsPage};
use crate::views::pages::Shell;
use crate::views::render;

const PER_PAGE: u32 = 25;
const LIST: &str = "/admin/products";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products", get(list).post(create))
        .route("/products/new", get(new))
        .route("/products/{id}", post(update))
        .route("/products/{id}/edit", get(edit))
        .route("/products/{id}/delete", post(delete))
        .route("/products/{id}/images", post(upload_images))
        .route("/products/{id}/images/{image_id}/move", post(move_image))
        .route("/products/{id}/images/{image_id}/delete", post(delete_image))
}

/// Moving an image: where to.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct MoveForm {
    csrf: String,
    position: String,
}

impl FormToken for MoveForm {
    fn token(&self) -> &str {
        &self.csrf
    }
}

impl FormToken for ProductForm {
    fn token(&self) -> &str {
        &self.csrf
    }
}

impl TryFrom<&ProductForm> for NewProduct {
    type Error = FieldErrors;

    fn try_from(form: &ProductForm) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let changes = ProductChanges {
            name: parse::name(&form.name, &mut errors),
            slug: parse::slug(&form.slug, &form.name, &mut errors),
            description: parse::description(&form.description, &mut errors),
            price: parse::price(Money::parse(&form.price), &mut errors),
            stock: parse::stock(form.stock.trim().parse().ok(), &mut errors),
            category_id: parse::category_id(form.category_id.trim().parse().ok(), &mut errors),
            is_active: Some(form.is_active()),
        };
        changes.complete(errors)
    }
}

async fn list(
    State(db): State<DatabaseConnection>,
    auth: AuthSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let query = QueryPairs::parse(raw.as_deref());
    let search =
        SearchQuery::parse(query.get("q").unwrap_or_default()).map_err(|e| AppError::bad_param("q", e.to_string()))?;
    let page = query.get("page").map(PageRequest::parse_page).transpose();
    let page = page
        .and_then(|page| PageRequest::new(page.unwrap_or(1), PER_PAGE))
        .map_err(|e| AppError::bad_param("page", e.to_string()))?;
    let (count, products) = catalog::admin_products(&db, search.as_ref(), page).await?;
    let q = search.as_ref().map(|s| s.to_string()).unwrap_or_default();
    let link = |n: u32| {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        if !q.is_empty() {
            ser.append_pair("q", &q);
        }
        ser.append_pair("page", &n.to_string());
        format!("{LIST}?{}", ser.finish())
    };
    let page_count = page.page_count(count);
    let page_page = ProductsPage {
        shell: Shell::for_visitor(&auth, "Admin · Products").await,
        products,
        count,
        page: page.page(),
        page_count,
        previous: (page.page() > 1).then(|| link(page.page() - 1)),
        next: (page.page() < page_count).then(|| link(page.page() + 1)),
        q,
    };
    Ok(render(&page_page))
}

async fn form_page(
    db: &DatabaseConnection,
    auth: &AuthSession,
    id: Option<i32>,
    form: ProductForm,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    let title = if id.is_some() { "Admin · Edit product" } else { "Admin · New product" };
    let status = form_status(&errors);
    let images = match id {
        Some(id) => images::gallery(db, id).await?,
        None => Vec::new(),
    };
    let page = ProductFormPage {
        shell: Shell::for_visitor(auth, title).await,
        id,
        images,
        csrf: auth.form_token().await?,
        form,
        errors,
        categories: catalog::categories(db).await?,
    };
    Ok((status, render(&page)).into_response())
}

async fn new(State(db): State<DatabaseConnection>, auth: AuthSession) -> Result<Response, PageError> {
    let form = ProductForm { stock: "0".into(), is_active: "1".into(), ..Default::default() };
    form_page(&db, &auth, None, form, FieldErrors::default()).await
}

async fn edit(State(db): State<DatabaseConnection>, auth: AuthSession, Id(id): Id) -> Result<Response, PageError> {
    let p = catalog::stored_product(&db, id).await?;
    form_page(&db, &auth, Some(id), ProductForm::from_model(p), FieldErrors::default()).await
}

async fn create(
    Writer { db, cache }: Writer,
    CheckedForm(auth, form): CheckedForm<ProductForm>,
) -> Result<Response, PageError> {
    save(&db, &auth, None, form, |new| writes::create_product(&db, &cache, new)).await
}

async fn update(
    Writer { db, cache }: Writer,
    Id(id): Id,
    CheckedForm(auth, form): CheckedForm<ProductForm>,
) -> Result<Response, PageError> {
    save(&db, &auth, Some(id), form, |new| writes::update_product(&db, &cache, id, new.into())).await
}

/// Parses the form and runs `write` with it; back to the list when it is
/// saved, back to the form with its messages when it is not.
async fn save<W>(
    db: &DatabaseConnection,
    auth: &AuthSession,
    id: Option<i32>,
    form: ProductForm,
    write: impl FnOnce(NewProduct) -> W,
) -> Result<Response, PageError>
where
    W: Future<Output = Result<product::Model, AppError>>,
{
    let written = match NewProduct::try_from(&form) {
        Ok(new) => write(new).await,
        Err(errors) => return form_page(db, auth, id, form, errors).await,
    };
    match written {
        Ok(p) => saved(auth, &format!("{} “{}”.", if id.is_some() { "Saved" } else { "Created" }, p.name), LIST).await,
        Err(e) => form_page(db, auth, id, form, refused_fields(e)?).await,
    }
}

async fn delete(
    Writer { db, cache }: Writer,
    Id(id): Id,
    CheckedForm(auth, _): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    writes::delete_product(&db, &cache, id).await?;
    saved(&auth, "Product deleted.", LIST).await
}

/// The edit page of product `id` again, with `errors` (an upload refused).
async fn edit_again(
    db: &DatabaseConnection,
    auth: &AuthSession,
    id: i32,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    let p = catalog::stored_product(db, id).await?;
    form_page(db, auth, Some(id), ProductForm::from_model(p), errors).await
}

/// Where an image write goes back to: the product's edit page.
fn edit_path(id: i32) -> String {
    format!("{LIST}/{id}/edit")
}

async fn upload_images(
    Writer { db, cache }: Writer,
    State(media): State<Media>,
    auth: AuthSession,
    Id(id): Id,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let body = uploads::read(multipart.map_err(AppError::from)?, "images", &["csrf"]).await?;
    require_csrf(&auth, body.field("csrf")).await?;
    catalog::stored_product(&db, id).await?;
    let added = match uploads::store_all(&media, body.files, "images").await {
        Ok(stored) => images::add(&db, &cache, id, stored).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match added {
        Ok(()) => saved(&auth, "Images added.", &edit_path(id)).await,
        Err(e) => edit_again(&db, &auth, id, refused_fields(e)?).await,
    }
}

async fn move_image(
    Writer { db, cache }: Writer,
    AdminImagePath(id, image_id): AdminImagePath,
    CheckedForm(auth, form): CheckedForm<MoveForm>,
) -> Result<Response, PageError> {
    let position = form.position.trim().parse().map_err(|_| AppError::bad_param("position", "Not a position."))?;
    images::move_to(&db, &cache, id, image_id, position).await?;
    saved(&auth, "Image moved.", &edit_path(id)).await
}

async fn delete_image(
    Writer { db, cache }: Writer,
    AdminImagePath(id, image_id): AdminImagePath,
    CheckedForm(auth, _): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    images::delete(&db, &cache, id, image_id).await?;
    saved(&auth, "Image deleted.", &edit_path(id)).await
}
