//! `/api/`: the API's root, as DRF's `DefaultRouter` serves it: the
//! absolute URL of each resource's list, from the configured public origin
//! (as the lists' `next` and `previous` are).

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{RootRefusals, link};
use crate::state::{AppState, PublicUrl};
use crate::views::api::ApiRoot;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(api_root))
}

#[utoipa::path(get, path = "/api/", tag = "root",
    responses((status = 200, description = "Where each resource's list is", body = ApiRoot), RootRefusals))]
async fn api_root(State(base): State<PublicUrl>) -> Json<ApiRoot> {
    let at = |path: &str| link(&base, path, String::new());
    Json(ApiRoot { products: at("/api/products/"), categories: at("/api/categories/"), orders: at("/api/orders/") })
}
