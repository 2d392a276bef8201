//! The JSON API as an admin's script uses it: a bearer token for a new
//! account, and a product's price changed with a PATCH.

use storefront::auth::tokens;

use super::app::TestApp;

/// A bearer token for a new account (an admin if `admin`).
pub async fn token_for(app: &TestApp, email: &str, admin: bool) -> String {
    let user = app.create_user(email, "some password", admin).await;
    tokens::create(&app.db, user.id).await.unwrap().1
}

/// Sets product `id`'s price (`"12.34"`) through the API, expecting 200.
pub async fn set_price(app: &TestApp, token: &str, id: i32, price: &str) {
    let r = app.api_patch_product(token, id, &serde_json::json!({ "price": price })).await;
    assert_eq!(r.status(), 200, "the write is acknowledged");
}
