//! `/api/orders/`: anyone may place an order (a session's needs its CSRF
//! header); its owner or an admin reads it back; admins list orders and
//! move them through their states.

use axum::Json;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AdminReadRefusals, ChangeRefusals, OrderCreateRefusals, OrderReadRefusals, created, link};
use crate::domain::order::{self, IdempotencyKey, OrderNumber, OrderRequest, OrderStatus, RawOrder};
use crate::domain::product::REQUIRED;
use crate::domain::{FieldErrors, QueryPairs, page_request};
use crate::error::AppError;
use crate::routes::extract::{ApiAdmin, ApiCaller, JsonBody, PathParam, Writer};
use crate::services::orders::{self, OrderDesk, OrderFilter, Placed};
use crate::state::{AppState, PublicUrl};
use crate::views::api::{OrderDto, OrderList, OrderListParams};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_orders, place_order)).routes(routes!(get_order, patch_order))
}

/// Where an order goes.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ShippingInput {
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    line1: Option<String>,
    #[schema(max_length = 200)]
    line2: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    city: Option<String>,
    #[schema(min_length = 1, max_length = 20)]
    postal_code: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `FR`.
    #[schema(min_length = 2, max_length = 2)]
    country: Option<String>,
}

/// One product and how many.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LineInput {
    /// The id of an active product.
    #[schema(value_type = i32, minimum = 1)]
    product_id: Option<Value>,
    /// 1 to 999.
    #[schema(value_type = i32, minimum = 1, maximum = 999)]
    quantity: Option<Value>,
}

/// An order to place.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OrderInput {
    #[schema(format = "email", max_length = 254)]
    email: Option<String>,
    shipping: Option<ShippingInput>,
    #[schema(min_items = 1, max_items = 100)]
    lines: Option<Vec<LineInput>>,
}

/// A whole number, sent as a JSON number or a string of digits (as DRF's
/// IntegerField takes it); anything else is `None`.
fn whole(value: &Option<Value>) -> Option<i64> {
    match value.as_ref()? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl TryFrom<OrderInput> for OrderRequest {
    type Error = FieldErrors;

    fn try_from(input: OrderInput) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let shipping = input.shipping.unwrap_or_else(|| {
            errors.add("shipping", REQUIRED);
            ShippingInput::default()
        });
        let raw = RawOrder {
            email: input.email.as_deref(),
            name: shipping.name.as_deref(),
            line1: shipping.line1.as_deref(),
            line2: shipping.line2.as_deref(),
            city: shipping.city.as_deref(),
            postal_code: shipping.postal_code.as_deref(),
            country: shipping.country.as_deref(),
        };
        let contact = order::parse_contact(&raw, "shipping.", &mut errors);
        let lines: Vec<(Option<i64>, Option<i64>)> =
            input.lines.unwrap_or_default().iter().map(|l| (whole(&l.product_id), whole(&l.quantity))).collect();
        let lines = order::parse_lines(&lines, &mut errors);
        match (contact, lines) {
            (Some((email, shipping)), Some(lines)) if errors.is_empty() => Ok(OrderRequest { email, shipping, lines }),
            _ => Err(errors),
        }
    }
}

/// The `Idempotency-Key` header, when sent.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, AppError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let raw = value.to_str().map_err(|_| AppError::bad_param("Idempotency-Key", "Not visible ASCII."))?;
    IdempotencyKey::parse(raw).map(Some).map_err(|m| AppError::bad_param("Idempotency-Key", m))
}

#[utoipa::path(post, path = "/api/orders/", tag = "orders", request_body = OrderInput,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Sent again with the same body, answers the order it placed instead of placing another")),
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "Placed", body = OrderDto),
        (status = 200, description = "Placed before under this Idempotency-Key, for the same request", body = OrderDto),
        OrderCreateRefusals))]
async fn place_order(
    desk: OrderDesk,
    caller: ApiCaller,
    headers: HeaderMap,
    JsonBody(input): JsonBody<OrderInput>,
) -> Result<Response, AppError> {
    caller.require_csrf().await?;
    let key = idempotency_key(&headers)?;
    let request = OrderRequest::try_from(input).map_err(AppError::BadRequest)?;
    let owner = caller.owner(true).await?;
    match orders::place(&desk, &request, &owner, key.as_ref()).await? {
        Placed::New(order) => {
            let location = format!("/api/orders/{}/", order.number);
            Ok(created(location, OrderDto::from(&order)))
        }
        Placed::Replayed(order) => Ok((StatusCode::OK, Json(OrderDto::from(&order))).into_response()),
    }
}

/// An order number in a path; anything else names no order.
fn number(raw: &str) -> Result<OrderNumber, AppError> {
    OrderNumber::parse(raw).ok_or_else(AppError::not_found)
}

#[utoipa::path(get, path = "/api/orders/{number}/", tag = "orders",
    params(("number" = String, Path, description = "The order's number", example = "SF-7K2M9QX4TD")),
    security(("bearer" = []), ()),
    responses((status = 200, description = "The order", body = OrderDto), OrderReadRefusals))]
async fn get_order(
    Writer { db, .. }: Writer,
    caller: ApiCaller,
    PathParam(raw): PathParam<String>,
) -> Result<Json<OrderDto>, AppError> {
    let user = caller.user().await?;
    let owner = caller.owner(false).await?;
    if user.is_none() && owner.session_key.is_none() {
        return Err(AppError::Unauthorized);
    }
    let order = orders::by_number(&db, &number(&raw)?).await?.ok_or_else(AppError::not_found)?;
    // Someone else's order is not there, as far as they can tell.
    let admin = user.is_some_and(|(_, admin)| admin);
    if !admin && !owner.owns(&order) {
        return Err(AppError::not_found());
    }
    Ok(Json(OrderDto::from(&order)))
}

/// A move to another state.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// `paid` or `cancelled` from pending, `shipped` or `cancelled` from paid.
    status: OrderStatus,
}

#[utoipa::path(patch, path = "/api/orders/{number}/", tag = "orders", request_body = StatusInput,
    params(("number" = String, Path, example = "SF-7K2M9QX4TD")), security(("bearer" = [])),
    responses((status = 200, description = "Moved (or already there)", body = OrderDto), ChangeRefusals))]
async fn patch_order(
    ApiAdmin(Writer { db, cache }): ApiAdmin,
    PathParam(raw): PathParam<String>,
    JsonBody(input): JsonBody<StatusInput>,
) -> Result<Json<OrderDto>, AppError> {
    let order = orders::set_status(&db, &cache, &number(&raw)?, input.status).await?;
    Ok(Json(OrderDto::from(&order)))
}

#[utoipa::path(get, path = "/api/orders/", tag = "orders", params(OrderListParams), security(("bearer" = [])),
    responses((status = 200, description = "A page of orders, newest first", body = OrderList), AdminReadRefusals))]
async fn list_orders(
    ApiAdmin(Writer { db, .. }): ApiAdmin,
    base: axum::extract::State<PublicUrl>,
    RawQuery(raw): RawQuery,
) -> Result<Json<OrderList>, AppError> {
    let pairs = QueryPairs::parse(raw.as_deref());
    let mut errors = FieldErrors::default();
    let status = pairs.get("status").and_then(|s| {
        let parsed = OrderStatus::parse(s);
        if parsed.is_none() {
            errors.add("status", "Select one of pending, paid, shipped, cancelled.");
        }
        parsed
    });
    let search = pairs.get("search").map(str::to_owned);
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        errors.add("search", "Ensure this value has at most 200 characters.");
    }
    let page = page_request(&pairs, "page_size").map_err(|e| errors.extend(e)).ok();
    let Some(page) = page.filter(|_| errors.is_empty()) else { return Err(AppError::BadRequest(errors)) };
    let filter = OrderFilter { status, search: search.clone(), owner: None };
    let found = orders::list(&db, &filter, page).await?;
    let at = |n: u32| {
        let mut qs = form_urlencoded::Serializer::new(String::new());
        if let Some(s) = status {
            qs.append_pair("status", s.as_str());
        }
        if let Some(s) = &search {
            qs.append_pair("search", s);
        }
        if n > 1 {
            qs.append_pair("page", &n.to_string());
        }
        if page.per_page() != crate::domain::PageRequest::default().per_page() {
            qs.append_pair("page_size", &page.per_page().to_string());
        }
        link(&base.0, "/api/orders/", qs.finish())
    };
    let current = page.page();
    Ok(Json(OrderList {
        count: found.count,
        next: (current < found.page_count).then(|| at(current + 1)),
        previous: (current > 1).then(|| at(current - 1)),
        results: found.orders.iter().map(OrderDto::from).collect(),
    }))
}
