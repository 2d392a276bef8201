//! The admin's categories: the list, and the create, edit and delete forms.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;

use super::{form_status, refused_fields, saved};
use crate::auth::AuthSession;
use crate::domain::FieldErrors;
use crate::domain::product::{self as parse, NewCategory};
use crate::error::{AppError, PageError};
use crate::models::category;
use crate::routes::extract::{CheckedForm, CsrfForm, FormToken, Id, Writer};
use crate::services::{catalog, writes};
use crate::state::AppState;
use crate::views::admin::{CategoriesPage, CategoryForm, CategoryFormPage};
use crate::views::pages::Shell;
use crate::views::render;

const LIST: &str = "/admin/categories";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/categories", get(list).post(create))
        .route("/categories/new", get(new))
        .route("/categories/{id}", post(update))
        .route("/categories/{id}/edit", get(edit))
        .route("/categories/{id}/delete", post(delete))
}

impl FormToken for CategoryForm {
    fn token(&self) -> &str {
        &self.csrf
    }
}

impl TryFrom<&CategoryForm> for NewCategory {
    type Error = FieldErrors;

    fn try_from(form: &CategoryForm) -> Result<Self, FieldErrors> {
        parse::new_category(&form.name, &form.slug, &form.description)
    }
}

async fn list(State(db): State<DatabaseConnection>, auth: AuthSession) -> Result<Response, PageError> {
    let page = CategoriesPage {
        shell: Shell::for_visitor(&auth, "Admin · Categories").await,
        categories: catalog::categories(&db).await?,
    };
    Ok(render(&page))
}

async fn form_page(
    auth: &AuthSession,
    id: Option<i32>,
    form: CategoryForm,
    errors: FieldErrors,
) -> Result<Response, PageError> {
    let title = if id.is_some() { "Admin · Edit category" } else { "Admin · New category" };
    let status = form_status(&errors);
    let page = CategoryFormPage {
        shell: Shell::for_visitor(auth, title).await,
        id,
        csrf: auth.form_token().await?,
        form,
        errors,
    };
    Ok((status, render(&page)).into_response())
}

async fn new(auth: AuthSession) -> Result<Response, PageError> {
    form_page(&auth, None, CategoryForm::default(), FieldErrors::default()).await
}

async fn edit(State(db): State<DatabaseConnection>, auth: AuthSession, Id(id): Id) -> Result<Response, PageError> {
    let form = CategoryForm::from_model(catalog::stored_category(&db, id).await?);
    form_page(&auth, Some(id), form, FieldErrors::default()).await
}

async fn create(
    Writer { db, cache }: Writer,
    CheckedForm(auth, form): CheckedForm<CategoryForm>,
) -> Result<Response, PageError> {
    save(&auth, None, form, |new| writes::create_category(&db, &cache, new)).await
}

async fn update(
    Writer { db, cache }: Writer,
    Id(id): Id,
    CheckedForm(auth, form): CheckedForm<CategoryForm>,
) -> Result<Response, PageError> {
    save(&auth, Some(id), form, |new| writes::update_category(&db, &cache, id, new.into())).await
}

/// Parses the form and runs `write` with it; back to the list when it is
/// saved, back to the form with its messages when it is not.
async fn save<W>(
    auth: &AuthSession,
    id: Option<i32>,
    form: CategoryForm,
    write: impl FnOnce(NewCategory) -> W,
) -> Result<Response, PageError>
where
    W: Future<Output = Result<category::Model, AppError>>,
{
    let written = match NewCategory::try_from(&form) {
        Ok(new) => write(new).await,
        Err(errors) => return form_page(auth, id, form, errors).await,
    };
    match written {
        Ok(c) => saved(auth, &format!("{} “{}”.", if id.is_some() { "Saved" } else { "Created" }, c.name), LIST).await,
        Err(e) => form_page(auth, id, form, refused_fields(e)?).await,
    }
}

/// A category that still has products stays, and its form says why.
async fn delete(
    Writer { db, cache }: Writer,
    Id(id): Id,
    CheckedForm(auth, _): CheckedForm<CsrfForm>,
) -> Result<Response, PageError> {
    match writes::delete_category(&db, &cache, id).await {
        Ok(()) => saved(&auth, "Category deleted.", LIST).await,
        Err(e) => {
            let errors = refused_fields(e)?;
            let form = CategoryForm::from_model(catalog::stored_category(&db, id).await?);
            form_page(&auth, Some(id), form, errors).await
        }
    }
}
