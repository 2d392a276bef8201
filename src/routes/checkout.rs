//! Checkout from the cart, the confirmation page and a shopper's orders.
//!
//! The checkout form carries a token that names this checkout, so a double
//! click, a resubmit after the back button or the same form in two tabs
//! place one order (`IdempotencyKey::of_checkout`). The token is derived,
//! not stored: a hash of the session's owner key and how many orders the
//! session has placed. Two tabs opened on the same cart get the same one;
//! once an order is placed the count moves on, and the next checkout gets
//! a new one. The lines come from the cart when the form is sent, never
//! from the form, and the prices from the products at that moment.
//!
//! Every page here shows the visitor's own data and reads the session, so
//! none is ever shared by a cache (see `routes::cache_policy`).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};

use crate::auth::AuthSession;
use crate::domain::order::{self, Country, IdempotencyKey, OrderNumber, RawOrder};
use crate::domain::{FieldErrors, Money, PageRequest, QueryPairs};
use crate::error::{AppError, PageError};
use crate::routes::extract::{CheckedForm, FormToken, PagePath, to_login};
use crate::services::catalog;
use crate::services::orders::{self, OrderDesk, OrderFilter, Owner, Placed};
use crate::state::AppState;
use crate::views::pages::{
    AccountOrdersPage, CheckoutForm, CheckoutLine, CheckoutPage, OrderPage, Shell, country_name, stock_note,
};
use crate::views::render;

const ORDERS_PER_PAGE: u32 = 10;
const EMPTY_CART: &str = "Your cart is empty: add something before checking out.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/checkout", get(show).post(place))
        .route("/orders/{number}", get(confirmation))
        .route("/account/orders", get(account_orders))
}

impl FormToken for CheckoutForm {
    fn token(&self) -> &str {
        &self.csrf
    }
}

/// The cart's lines, in product-id order (the order the service names
/// them in: `lines[i]` is the i-th of these).
async fn cart_lines(auth: &AuthSession) -> Result<Vec<(i32, u32)>, AppError> {
    let Some(cart) = auth.cart_id(false).await? else { return Ok(Vec::new()) };
    let lines = auth.carts().lines(&cart).await.map_err(|e| AppError::Unavailable(e.to_string()))?;
    Ok(lines.into_iter().collect())
}

/// This checkout's token: the same for every form rendered on the session
/// until it places an order.
async fn checkout_token(db: &DatabaseConnection, owner_key: &str) -> Result<String, AppError> {
    let placed = orders::placed_by_session(db, owner_key).await?;
    Ok(order::hex(&Sha256::digest(format!("checkout:{owner_key}:{placed}").as_bytes())))
}

/// The empty cart goes back to the cart page, with a word if there is a
/// session to keep it in.
async fn back_to_cart(auth: &AuthSession) -> Result<Response, PageError> {
    if auth.has_cookie() {
        auth.flash(EMPTY_CART).await?;
    }
    Ok(Redirect::to("/cart").into_response())
}

async fn show(State(db): State<DatabaseConnection>, auth: AuthSession) -> Result<Response, PageError> {
    let lines = cart_lines(&auth).await?;
    let Some(owner_key) = auth.owner_key(false).await?.filter(|_| !lines.is_empty()) else {
        return back_to_cart(&auth).await;
    };
    let email = auth.user().await?.map(|u| u.email).unwrap_or_default();
    let form =
        CheckoutForm { checkout_token: checkout_token(&db, &owner_key).await?, email, ..CheckoutForm::default() };
    form_page(&db, &auth, &lines, form, FieldErrors::default(), StatusCode::OK).await
}

/// The form, with the lines at their current prices and whatever stands in
/// the way: `errors` per field and per line (`lines[i].…`), and, for a
/// fresh form, lines that already ask for more than is left.
async fn form_page(
    db: &DatabaseConnection,
    auth: &AuthSession,
    lines: &[(i32, u32)],
    mut form: CheckoutForm,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<Response, PageError> {
    let ids: Vec<i32> = lines.iter().map(|(id, _)| *id).collect();
    let products = catalog::active_products_by_ids(db, &ids).await?;
    let mut total: i64 = 0;
    let mut view = Vec::with_capacity(lines.len());
    for (i, (id, quantity)) in lines.iter().enumerate() {
        let mut problems: Vec<String> = [format!("lines[{i}].product_id"), format!("lines[{i}].quantity")]
            .iter()
            .flat_map(|field| errors.get(field).iter().cloned())
            .collect();
        let line = match products.get(id) {
            Some(p) => {
                let line_total = p.price.cents() * i64::from(*quantity);
                total += line_total;
                if problems.is_empty() && i64::from(*quantity) > i64::from(p.stock) {
                    problems.push(stock_note(p.stock));
                }
                CheckoutLine {
                    name: p.name.clone(),
                    slug: p.slug.clone(),
                    price: p.price.display().to_string(),
                    quantity: *quantity,
                    total: money(line_total),
                    problems,
                }
            }
            None => {
                if problems.is_empty() {
                    problems.push("No longer for sale: remove it from the cart.".to_owned());
                }
                let name = catalog::stored_product(db, *id)
                    .await
                    .map(|p| p.name)
                    .unwrap_or_else(|_| "A product no longer sold".to_owned());
                CheckoutLine {
                    name,
                    slug: String::new(),
                    price: String::new(),
                    quantity: *quantity,
                    total: String::new(),
                    problems,
                }
            }
        };
        view.push(line);
    }
    // Messages for no one field: the lines as a whole, and the form's token.
    let notices: Vec<String> = errors.get("lines").iter().chain(errors.get("token")).cloned().collect();
    form.csrf = auth.form_token().await?;
    let country = Country::parse(&form.country).map(|c| c.code().to_owned()).unwrap_or_default();
    let page = CheckoutPage {
        shell: Shell::for_visitor(auth, "Checkout").await,
        form,
        errors,
        notices,
        lines: view,
        total: money(total),
        countries: Country::all(),
        country,
    };
    Ok((status, render(&page)).into_response())
}

fn money(cents: i64) -> String {
    Money::from_cents(cents).map(|m| m.display().to_string()).unwrap_or_default()
}

async fn place(desk: OrderDesk, CheckedForm(auth, form): CheckedForm<CheckoutForm>) -> Result<Response, PageError> {
    let db = desk.db.clone();
    let lines = cart_lines(&auth).await?;
    let user_id = auth.user().await?.map(|u| u.id);
    let key = Some(form.checkout_token.trim()).filter(|t| !t.is_empty()).map(IdempotencyKey::of_checkout);
    if lines.is_empty() {
        // A form sent again after its order emptied the cart (a second tab,
        // a resubmit) is that order.
        let owner = Owner { user_id, session_key: auth.owner_key(false).await? };
        let known = owner.user_id.is_some() || owner.session_key.is_some();
        if let Some(Ok(key)) = &key
            && known
            && let Some(placed) = orders::placed_under(&db, &owner, key).await?
        {
            return already_placed(&auth, &placed.number).await;
        }
        return back_to_cart(&auth).await;
    }
    let Some(Ok(key)) = key else {
        let owner_key = auth.owner_key(true).await?.ok_or_else(|| AppError::Internal("owner key".into()))?;
        let fresh = CheckoutForm { checkout_token: checkout_token(&db, &owner_key).await?, ..form };
        let errors = FieldErrors::single("token", "This form was incomplete. Check the order and place it again.");
        return form_page(&db, &auth, &lines, fresh, errors, StatusCode::BAD_REQUEST).await;
    };
    let raw = RawOrder {
        email: Some(form.email.as_str()),
        name: Some(form.name.as_str()),
        line1: Some(form.line1.as_str()),
        line2: Some(form.line2.as_str()),
        city: Some(form.city.as_str()),
        postal_code: Some(form.postal_code.as_str()),
        country: Some(form.country.as_str()),
    };
    let mut errors = FieldErrors::default();
    let contact = order::parse_contact(&raw, "", &mut errors);
    let as_sent: Vec<(Option<i64>, Option<i64>)> =
        lines.iter().map(|(id, q)| (Some(i64::from(*id)), Some(i64::from(*q)))).collect();
    let parsed = order::parse_lines(&as_sent, &mut errors);
    let (Some((email, shipping)), Some(order_lines)) = (contact, parsed) else {
        return form_page(&db, &auth, &lines, form, errors, StatusCode::BAD_REQUEST).await;
    };
    let request = order::OrderRequest { email, shipping, lines: order_lines };
    let owner = Owner { user_id, session_key: auth.owner_key(true).await? };
    match orders::place(&desk, &request, &owner, Some(&key)).await {
        Ok(Placed::New(placed)) => {
            remove_ordered(&auth, &request.lines).await?;
            auth.flash(&format!("Thank you! Your order {} is placed.", placed.number)).await?;
            Ok(Redirect::to(&format!("/orders/{}", placed.number)).into_response())
        }
        Ok(Placed::Replayed(placed)) => already_placed(&auth, &placed.number).await,
        Err(AppError::Conflict(errors)) => form_page(&db, &auth, &lines, form, errors, StatusCode::CONFLICT).await,
        Err(AppError::BadRequest(errors)) => form_page(&db, &auth, &lines, form, errors, StatusCode::BAD_REQUEST).await,
        Err(e) => Err(e.into()),
    }
}

async fn already_placed(auth: &AuthSession, number: &str) -> Result<Response, PageError> {
    auth.flash(&format!("This order was already placed: {number}.")).await?;
    Ok(Redirect::to(&format!("/orders/{number}")).into_response())
}

/// Takes the ordered products' lines out of the cart; other products
/// added since stay.
async fn remove_ordered(auth: &AuthSession, lines: &[order::Line]) -> Result<(), AppError> {
    let Some(cart) = auth.cart_id(false).await? else { return Ok(()) };
    for line in lines {
        auth.carts().set(&cart, line.product_id, 0).await.map_err(|e| AppError::Unavailable(e.to_string()))?;
    }
    Ok(())
}

/// Who is asking, as an orders' owner.
async fn asking(auth: &AuthSession) -> Result<Owner, AppError> {
    let user_id = auth.user().await?.map(|u| u.id);
    Ok(Owner { user_id, session_key: auth.owner_key(false).await? })
}

/// An order, to its owner only: to anyone else it does not exist.
async fn confirmation(
    State(db): State<DatabaseConnection>,
    auth: AuthSession,
    PagePath(raw): PagePath<String>,
) -> Result<Response, PageError> {
    let number = OrderNumber::parse(&raw).ok_or_else(AppError::not_found)?;
    let owner = asking(&auth).await?;
    let found = orders::by_number(&db, &number).await?;
    let Some(order) = found.filter(|o| owner.owns(o)) else { return Err(AppError::not_found().into()) };
    let page = OrderPage {
        shell: Shell::for_visitor(&auth, format!("Order {}", order.number)).await,
        country: country_name(&order.ship_country).to_owned(),
        order,
    };
    Ok(render(&page))
}

async fn account_orders(
    State(db): State<DatabaseConnection>,
    auth: AuthSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    if auth.user().await?.is_none() {
        return Ok(to_login("/account/orders"));
    }
    let query = QueryPairs::parse(raw.as_deref());
    let page = query
        .get("page")
        .map(PageRequest::parse_page)
        .transpose()
        .and_then(|page| PageRequest::new(page.unwrap_or(1), ORDERS_PER_PAGE))
        .map_err(|e| AppError::bad_param("page", e.to_string()))?;
    let filter = OrderFilter { owner: Some(asking(&auth).await?), ..OrderFilter::default() };
    let found = orders::list(&db, &filter, page).await?;
    let link = |n: u32| format!("/account/orders?page={n}");
    let current = page.page();
    let view = AccountOrdersPage {
        shell: Shell::for_visitor(&auth, "Your orders").await,
        orders: found.orders,
        count: found.count,
        page: current,
        page_count: found.page_count,
        previous: (current > 1).then(|| link(current - 1)),
        next: (current < found.page_count).then(|| link(current + 1)),
    };
    Ok(render(&view))
}
