//! The cart: add from a product page, review, change quantities, remove.
//! Quantities are checked against stock; the cart lives beside the session
//! and never touches the page cache.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use crate::auth::AuthSession;
use crate::auth::throttle::Throttle;
use crate::domain::Money;
use crate::error::{AppError, PageError, retry_after};
use crate::routes::extract::{ClientIp, FormBody, require_csrf};
use crate::services::cart::{LineChange, MAX_CART_LINES, MAX_QUANTITY};
use crate::services::catalog;
use crate::state::AppState;
use crate::views::pages::{CartLine, CartPage, Shell, stock_note};
use crate::views::render;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/cart", get(show))
        .route("/cart/add", post(add))
        .route("/cart/update", post(update))
        .route("/cart/remove", post(remove))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LineForm {
    csrf: String,
    product_id: String,
    quantity: String,
}

fn unavailable(e: crate::services::cart::CartError) -> AppError {
    AppError::Unavailable(e.to_string())
}

fn parse_quantity(raw: &str, allow_zero: bool) -> Result<u32, AppError> {
    match raw.trim().parse::<u32>() {
        Ok(0) if allow_zero => Ok(0),
        Ok(n) if (1..=MAX_QUANTITY).contains(&n) => Ok(n),
        _ => Err(AppError::bad_param("quantity", format!("Enter a whole number from 1 to {MAX_QUANTITY}."))),
    }
}

fn parse_product(raw: &str) -> Result<i32, AppError> {
    raw.trim()
        .parse::<i32>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| AppError::bad_param("product_id", "Unknown product."))
}

async fn show(State(db): State<DatabaseConnection>, auth: AuthSession) -> Result<Response, PageError> {
    cart_page(&db, &auth, StatusCode::OK, String::new()).await
}

async fn cart_page(
    db: &DatabaseConnection,
    auth: &AuthSession,
    status: StatusCode,
    error: String,
) -> Result<Response, PageError> {
    let mut lines = Vec::new();
    let mut subtotal: i64 = 0;
    if let Some(cart) = auth.cart_id(false).await? {
        let cart_lines = auth.carts().lines(&cart).await.map_err(unavailable)?;
        let ids: Vec<i32> = cart_lines.keys().copied().collect();
        let mut products = catalog::active_products_by_ids(db, &ids).await?;
        for (product_id, quantity) in cart_lines {
            // A product withdrawn since it was added leaves the cart.
            let Some(p) = products.remove(&product_id) else {
                auth.carts().set(&cart, product_id, 0).await.map_err(unavailable)?;
                continue;
            };
            let total = p.price.cents() * i64::from(quantity);
            subtotal += total;
            lines.push(CartLine {
                product_id,
                name: p.name,
                slug: p.slug,
                price: p.price.display().to_string(),
                quantity,
                total: Money::from_cents(total).map(|m| m.display().to_string()).unwrap_or_default(),
                // Stock may have gone since the line was added.
                stock_note: if i64::from(quantity) > i64::from(p.stock) { stock_note(p.stock) } else { String::new() },
            });
        }
    }
    let csrf = auth.form_token().await?;
    let page = CartPage {
        shell: Shell::for_visitor(auth, "Your cart").await,
        csrf,
        lines,
        subtotal: Money::from_cents(subtotal).map(|m| m.display().to_string()).unwrap_or_default(),
        error,
    };
    Ok((status, render(&page)).into_response())
}

const TOO_MANY_CARTS: &str = "Too many new carts from your network. Please try again later.";

async fn add(
    State(db): State<DatabaseConnection>,
    State(throttle): State<std::sync::Arc<Throttle>>,
    ClientIp(ip): ClientIp,
    auth: AuthSession,
    FormBody(form): FormBody<LineForm>,
) -> Result<Response, PageError> {
    // The session's token, or for a visitor without a session the signed
    // one their page was rendered with.
    require_csrf(&auth, &form.csrf).await?;
    let product = catalog::product_by_id(&db, parse_product(&form.product_id)?).await?;
    let quantity = parse_quantity(&form.quantity, false)?;
    // A new cart for a visitor nobody is signed in as is storage anyone
    // can ask for: so many an hour from one address, like registrations.
    if auth.cart_id(false).await?.is_none()
        && auth.user().await?.is_none()
        && let Some(wait) = throttle.reserve_new_cart(ip).await.map_err(|e| AppError::Unavailable(e.to_string()))?
    {
        let page = cart_page(&db, &auth, StatusCode::TOO_MANY_REQUESTS, TOO_MANY_CARTS.to_owned()).await?;
        return Ok(retry_after(page, wait));
    }
    let cart = auth.cart_id(true).await?.ok_or_else(|| AppError::Internal("cart id".into()))?;
    let limit = u32::try_from(product.stock).unwrap_or(0).min(MAX_QUANTITY);
    match auth.carts().add(&cart, product.id, quantity, limit).await.map_err(unavailable)? {
        LineChange::Done(_) => {
            auth.cart_kept().await?;
            auth.flash(&format!("Added {quantity} × “{}” to your cart.", product.name)).await?;
            Ok(Redirect::to("/cart").into_response())
        }
        LineChange::OverLimit(current) => {
            let message =
                format!("Only {} of “{}” in stock; your cart already has {current}.", product.stock, product.name);
            cart_page(&db, &auth, StatusCode::CONFLICT, message).await
        }
        LineChange::CartFull => cart_page(&db, &auth, StatusCode::CONFLICT, cart_full(&product.name)).await,
    }
}

fn cart_full(name: &str) -> String {
    format!("Your cart already holds {MAX_CART_LINES} different products; remove one to add “{name}”.")
}

async fn update(
    State(db): State<DatabaseConnection>,
    auth: AuthSession,
    FormBody(form): FormBody<LineForm>,
) -> Result<Response, PageError> {
    require_csrf(&auth, &form.csrf).await?;
    let product_id = parse_product(&form.product_id)?;
    let quantity = parse_quantity(&form.quantity, true)?;
    let Some(cart) = auth.cart_id(false).await? else { return Ok(Redirect::to("/cart").into_response()) };
    let mut name = String::new();
    if quantity > 0 {
        let product = catalog::product_by_id(&db, product_id).await?;
        if i64::from(quantity) > i64::from(product.stock) {
            let message = format!("Only {} of “{}” in stock.", product.stock, product.name);
            return cart_page(&db, &auth, StatusCode::CONFLICT, message).await;
        }
        name = product.name;
    }
    match auth.carts().set(&cart, product_id, quantity).await.map_err(unavailable)? {
        LineChange::CartFull => cart_page(&db, &auth, StatusCode::CONFLICT, cart_full(&name)).await,
        LineChange::Done(_) if quantity > 0 => {
            auth.cart_kept().await?;
            Ok(Redirect::to("/cart").into_response())
        }
        _ => Ok(Redirect::to("/cart").into_response()),
    }
}

async fn remove(auth: AuthSession, FormBody(form): FormBody<LineForm>) -> Result<Response, PageError> {
    require_csrf(&auth, &form.csrf).await?;
    let product_id = parse_product(&form.product_id)?;
    if let Some(cart) = auth.cart_id(false).await? {
        auth.carts().set(&cart, product_id, 0).await.map_err(unavailable)?;
    }
    Ok(Redirect::to("/cart").into_response())
}
