//! The admin's orders: a list filtered by status and searched by number or
//! email, an order's detail, and one button per move its state allows.
//! Moves go through `services::orders::set_status`, which refuses what the
//! states do not allow and restocks a cancelled order.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use super::saved;
use crate::auth::AuthSession;
use crate::domain::order::{OrderNumber, OrderStatus};
use crate::domain::{PageRequest, QueryPairs};
use crate::error::{AppError, PageError};
use crate::routes::extract::{CheckedForm, FormToken, PagePath, Writer};
use crate::services::orders::{self, OrderFilter, OrderView};
use crate::state::AppState;
use crate::views::admin::{OrderDetailPage, OrdersPage};
use crate::views::pages::{Shell, country_name};
use crate::views::render;

const PER_PAGE: u32 = 25;
const LIST: &str = "/admin/orders";
/// The longest search kept (an email is at most 254 characters).
const MAX_SEARCH: usize = 254;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orders", get(list))
        .route("/orders/{number}", get(detail))
        .route("/orders/{number}/status", post(move_to))
}

/// A number in a path; anything else names no order.
fn number(raw: &str) -> Result<OrderNumber, AppError> {
    OrderNumber::parse(raw).ok_or_else(AppError::not_found)
}

async fn list(
    State(db): State<DatabaseConnection>,
    auth: AuthSession,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let query = QueryPairs::parse(raw.as_deref());
    let status = match query.get("status").map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            OrderStatus::parse(s)
                .ok_or_else(|| AppError::bad_param("status", "Select one of pending, paid, shipped, cancelled."))?,
        ),
    };
    let q: String = query.get("q").unwrap_or_default().trim().chars().take(MAX_SEARCH).collect();
    let page = query
        .get("page")
        .map(PageRequest::parse_page)
        .transpose()
        .and_then(|page| PageRequest::new(page.unwrap_or(1), PER_PAGE))
        .map_err(|e| AppError::bad_param("page", e.to_string()))?;
    let filter = OrderFilter { status, search: Some(q.clone()).filter(|q| !q.is_empty()), owner: None };
    let found = orders::list(&db, &filter, page).await?;
    let link = |n: u32| {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        if let Some(s) = status {
            ser.append_pair("status", s.as_str());
        }
        if !q.is_empty() {
            ser.append_pair("q", &q);
        }
        ser.append_pair("page", &n.to_string());
        format!("{LIST}?{}", ser.finish())
    };
    let current = page.page();
    let view = OrdersPage {
        shell: Shell::for_visitor(&auth, "Admin · Orders").await,
        status: status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        statuses: OrderStatus::ALL,
        orders: found.orders,
        count: found.count,
        page: current,
        page_count: found.page_count,
        previous: (current > 1).then(|| link(current - 1)),
        next: (current < found.page_count).then(|| link(current + 1)),
        q,
    };
    Ok(render(&view))
}

async fn detail_page(
    auth: &AuthSession,
    order: OrderView,
    error: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    let page = OrderDetailPage {
        shell: Shell::for_visitor(auth, format!("Admin · Order {}", order.number)).await,
        csrf: auth.form_token().await?,
        country: country_name(&order.ship_country).to_owned(),
        order,
        error,
    };
    Ok((status, render(&page)).into_response())
}

async fn detail(
    State(db): State<DatabaseConnection>,
    auth: AuthSession,
    PagePath(raw): PagePath<String>,
) -> Result<Response, PageError> {
    let order = orders::by_number(&db, &number(&raw)?).await?.ok_or_else(AppError::not_found)?;
    detail_page(&auth, order, String::new(), StatusCode::OK).await
}

/// A status button: the form token and the status to move to.
#[derive(Deserialize, Default)]
#[serde(default)]
struct StatusForm {
    csrf: String,
    status: String,
}

impl FormToken for StatusForm {
    fn token(&self) -> &str {
        &self.csrf
    }
}

async fn move_to(
    Writer { db, cache }: Writer,
    PagePath(raw): PagePath<String>,
    CheckedForm(auth, form): CheckedForm<StatusForm>,
) -> Result<Response, PageError> {
    let number = number(&raw)?;
    let to = OrderStatus::parse(&form.status)
        .ok_or_else(|| AppError::bad_param("status", "Select one of pending, paid, shipped, cancelled."))?;
    match orders::set_status(&db, &cache, &number, to).await {
        Ok(order) => {
            let message = format!("Order {} is now {}.", order.number, order.status);
            saved(&auth, &message, &format!("{LIST}/{}", order.number)).await
        }
        Err(AppError::Conflict(errors)) => {
            let order = orders::by_number(&db, &number).await?.ok_or_else(AppError::not_found)?;
            let message = errors.get("status").join(" ");
            detail_page(&auth, order, message, StatusCode::CONFLICT).await
        }
        Err(e) => Err(e.into()),
    }
}
