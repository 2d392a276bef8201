//! The shop's HTML pages. Each page renders its catalog fragments on their
//! own, then places them in the layout.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use sea_orm::DatabaseConnection;

use crate::domain::{Dialect, ListingQuery, QueryPairs};
use crate::error::{AppError, PageError};
use crate::routes::PathParam;
use crate::services::{catalog, listings};
use crate::state::AppState;
use crate::views::fragments::{CategoryList, FilterForm, ProductCards, ProductDetail, ProductGrid};
use crate::views::pages::{CategoriesPage, HomePage, ListingPage, ProductPage, Shell};
use crate::views::{render, render_fragment};

/// Products shown under "New arrivals" on the home page.
const HOME_NEWEST: u64 = 8;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/categories", get(categories))
        .route("/categories/{slug}", get(category))
        .route("/products", get(products))
        .route("/products/{slug}", get(product))
}

async fn home(State(db): State<DatabaseConnection>) -> Result<Response, PageError> {
    let cats = catalog::categories(&db).await?;
    let newest = catalog::newest_products(&db, HOME_NEWEST).await?;
    Ok(render(&HomePage {
        shell: Shell::new("Home"),
        categories: render_fragment(&CategoryList { categories: &cats })?,
        newest: render_fragment(&ProductCards { products: &newest })?,
    }))
}

async fn categories(State(db): State<DatabaseConnection>) -> Result<Response, PageError> {
    let cats = catalog::categories(&db).await?;
    Ok(render(&CategoriesPage {
        shell: Shell::new("Categories"),
        list: render_fragment(&CategoryList { categories: &cats })?,
    }))
}

fn parse_listing(raw: Option<String>) -> Result<ListingQuery, AppError> {
    ListingQuery::parse(Dialect::Html, &QueryPairs::parse(raw.as_deref()))
        .map_err(AppError::BadRequest)
}

async fn category(
    State(db): State<DatabaseConnection>,
    PathParam(slug): PathParam<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let cat = catalog::category_by_slug(&db, &slug).await?;
    let mut query = parse_listing(raw)?;
    // The path names the category; a `category` parameter cannot widen it.
    query.filter.category_slug = None;
    query.filter.category_id = Some(cat.id);
    let listing = listings::list_products(&db, &query).await?;
    let path = format!("/categories/{}", cat.slug);
    // The grid's links must not repeat the category: it is in the path.
    let mut link_query = query.clone();
    link_query.filter.category_id = None;
    Ok(render(&ListingPage {
        shell: Shell::new(cat.name.clone()),
        heading: cat.name.clone(),
        intro: cat.description.clone(),
        filters: render_fragment(&FilterForm::new(&path, None, &link_query))?,
        grid: render_fragment(&ProductGrid::new(&listing, &link_query, &path))?,
    }))
}

async fn products(
    State(db): State<DatabaseConnection>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let query = parse_listing(raw)?;
    let listing = listings::list_products(&db, &query).await?;
    let cats = catalog::categories(&db).await?;
    let (title, heading) = match &query.filter.search {
        Some(q) => (format!("Search: {q}"), format!("Results for “{q}”")),
        None => ("All products".to_owned(), "All products".to_owned()),
    };
    let mut shell = Shell::new(title);
    shell.search = query
        .filter
        .search
        .as_ref()
        .map(|q| q.to_string())
        .unwrap_or_default();
    Ok(render(&ListingPage {
        shell,
        heading,
        intro: String::new(),
        filters: render_fragment(&FilterForm::new("/products", Some(&cats), &query))?,
        grid: render_fragment(&ProductGrid::new(&listing, &query, "/products"))?,
    }))
}

async fn product(
    State(db): State<DatabaseConnection>,
    PathParam(slug): PathParam<String>,
) -> Result<Response, PageError> {
    let product = catalog::product_by_slug(&db, &slug).await?;
    Ok(render(&ProductPage {
        shell: Shell::new(product.name.clone()),
        category_name: product.category.name.clone(),
        category_slug: product.category.slug.clone(),
        detail: render_fragment(&ProductDetail { product: &product })?,
    }))
}
