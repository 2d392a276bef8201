//! Whole pages: the layout around one or more fragments. The layout is the
//! only part that may ever show who is visiting, so it is rendered per request.

use askama::Template;

use super::Fragment;
use crate::auth::{AuthSession, SessionUser};
use crate::domain::FieldErrors;
use crate::domain::order::{Country, OrderStatus};
use crate::services::orders::OrderView;

/// What the layout needs: the page title, the header's search box, and the
/// visitor (signed-in user, their CSRF token for the logout form, a flash
/// message). The only part of a page that knows who is visiting. Its `Hash`
/// covers everything it shows: with the fragments, it decides the page
/// (see `cache::pages`).
#[derive(Default, Hash)]
pub struct Shell {
    pub title: String,
    pub search: String,
    pub user: Option<SessionUser>,
    pub csrf: String,
    pub flash: Option<String>,
    pub cart_count: u32,
}

impl Shell {
    /// A shell that shows nobody (error pages, anonymous visitors).
    pub fn new(title: impl Into<String>) -> Self {
        Shell { title: title.into(), ..Shell::default() }
    }

    /// The shell for this visitor.
    pub async fn for_visitor(auth: &AuthSession, title: impl Into<String>) -> Self {
        let mut shell = Shell::new(title);
        if let Some(user) = auth.user_for_layout().await {
            shell.csrf = auth.form_token().await.unwrap_or_default();
            shell.user = Some(user);
        }
        shell.flash = auth.take_flash().await;
        shell.cart_count = auth.cart_count().await;
        shell
    }
}

#[derive(Template)]
#[template(path = "pages/login.html")]
pub struct LoginPage {
    pub shell: Shell,
    pub csrf: String,
    pub next: String,
    pub email: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "pages/account.html")]
pub struct AccountPage {
    pub shell: Shell,
    pub csrf: String,
    pub email: String,
    pub is_admin: bool,
}

#[derive(Template)]
#[template(path = "pages/register.html")]
pub struct RegisterPage {
    pub shell: Shell,
    pub csrf: String,
    pub email: String,
    pub email_error: String,
    pub password_error: String,
    /// A message for the whole form (e.g. too many registrations).
    pub error: String,
}

#[derive(Template)]
#[template(path = "pages/home.html")]
pub struct HomePage {
    pub shell: Shell,
    pub categories: Fragment,
    pub featured: Fragment,
    pub newest: Fragment,
}

#[derive(Template)]
#[template(path = "pages/categories.html")]
pub struct CategoriesPage {
    pub shell: Shell,
    pub list: Fragment,
}

/// A page whose whole content is one (cached) fragment.
#[derive(Template)]
#[template(path = "pages/content.html")]
pub struct ContentPage {
    pub shell: Shell,
    pub main: Fragment,
}

#[derive(Template)]
#[template(path = "errors/error.html")]
pub struct ErrorPage {
    pub shell: Shell,
    pub status: u16,
    pub detail: String,
    pub errors: Vec<(String, Vec<String>)>,
}

#[derive(Template)]
#[template(path = "pages/cart.html")]
pub struct CartPage {
    pub shell: Shell,
    pub csrf: String,
    pub lines: Vec<CartLine>,
    pub subtotal: String,
    pub error: String,
}

/// One line of the cart page.
pub struct CartLine {
    pub product_id: i32,
    pub name: String,
    pub slug: String,
    pub price: String,
    pub quantity: u32,
    pub total: String,
    /// "Only 2 left" or "Sold out" when the quantity is now over the stock;
    /// empty otherwise.
    pub stock_note: String,
}

/// The checkout form as typed (kept when it is shown again with errors).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct CheckoutForm {
    pub csrf: String,
    /// Names this checkout: the same in every tab opened on the same cart
    /// (see `routes::checkout`). Sent as `token`.
    #[serde(rename = "token")]
    pub checkout_token: String,
    pub email: String,
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

/// One line of the checkout, at the current price, with what stands in its way.
pub struct CheckoutLine {
    pub name: String,
    pub slug: String,
    pub price: String,
    pub quantity: u32,
    pub total: String,
    /// Why the line cannot be ordered as it is (short stock, withdrawn).
    pub problems: Vec<String>,
}

#[derive(Template)]
#[template(path = "pages/checkout.html")]
pub struct CheckoutPage {
    pub shell: Shell,
    pub form: CheckoutForm,
    pub errors: FieldErrors,
    /// Messages for the whole form (not beside one field or line).
    pub notices: Vec<String>,
    pub lines: Vec<CheckoutLine>,
    pub total: String,
    pub countries: Vec<Country>,
    /// The code of the country chosen before, if it is one.
    pub country: String,
}

/// What a line asking for more than is left is told.
pub fn stock_note(stock: i32) -> String {
    if stock <= 0 { "Sold out".to_owned() } else { format!("Only {stock} left") }
}

/// An order's country by name, or its code if it has none.
pub fn country_name(code: &str) -> &str {
    Country::parse(code).map(Country::name).unwrap_or(code)
}

#[derive(Template)]
#[template(path = "pages/order.html")]
pub struct OrderPage {
    pub shell: Shell,
    pub order: OrderView,
    pub country: String,
}

#[derive(Template)]
#[template(path = "pages/orders.html")]
pub struct AccountOrdersPage {
    pub shell: Shell,
    pub orders: Vec<OrderView>,
    pub count: u64,
    pub page: u32,
    pub page_count: u32,
    pub previous: Option<String>,
    pub next: Option<String>,
}
