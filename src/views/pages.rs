//! Whole pages: the layout around one or more fragments. The layout is the
//! only part that may ever show who is visiting, so it is rendered per request.

use askama::Template;

use super::Fragment;
use crate::auth::{AuthSession, SessionUser};

/// What the layout needs: the page title, the header's search box, and the
/// visitor (signed-in user, their CSRF token for the logout form, a flash
/// message). The only part of a page that knows who is visiting.
#[derive(Default)]
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

/// One line of the cart page.
pub struct CartLine {
    pub product_id: i32,
    pub name: String,
    pub slug: String,
    pub price: String,
    pub quantity: u32,
    pub total: String,
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
