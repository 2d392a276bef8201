//! A browser for the tests: a [`Visitor`] with its own cookie jar that
//! signs up, signs in and posts forms with their CSRF token, and what a
//! test reads from the pages it gets back (the CSRF field, the session
//! cookie, the cart's lines).

use reqwest::StatusCode;
use scraper::{Html, Selector};

use super::app::TestApp;

/// A browser: its own cookie jar, redirects not followed.
pub struct Visitor {
    pub client: reqwest::Client,
    pub base: String,
}

impl Visitor {
    /// A browser's client: cookies kept, redirects not followed.
    pub fn client() -> reqwest::ClientBuilder {
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none())
    }

    pub fn new(app: &TestApp) -> Visitor {
        Self::at(&app.address)
    }

    /// A visitor of the server at `base` (e.g. a `storefront serve`).
    pub fn at(base: &str) -> Visitor {
        Visitor { client: Self::client().build().unwrap(), base: base.to_owned() }
    }

    /// A visitor whose requests arrive as if forwarded for `address` by a
    /// proxy (Varnish appends the client's address to X-Forwarded-For).
    pub fn forwarded_for(app: &TestApp, address: &str) -> Visitor {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        let client = Self::client().default_headers(headers).build().unwrap();
        Visitor { client, base: app.address.clone() }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    pub async fn page(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.text().await.unwrap()
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.base)).form(form).send().await.unwrap()
    }

    /// The CSRF token of the first form on `path`.
    pub async fn csrf(&self, path: &str) -> String {
        csrf_in(&self.page(path).await)
    }

    pub async fn register(&self, email: &str, password: &str) -> reqwest::Response {
        let csrf = self.csrf("/register").await;
        self.post("/register", &[("email", email), ("password", password), ("csrf", &csrf)]).await
    }

    /// Registers, then signs in (registering alone signs nobody in).
    pub async fn sign_up(&self, email: &str, password: &str) -> reqwest::Response {
        let r = self.register(email, password).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "register {email}");
        let r = self.login(email, password).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign in as {email}");
        r
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        let csrf = self.csrf("/login").await;
        self.post("/login", &[("email", email), ("password", password), ("csrf", &csrf)]).await
    }

    pub async fn signed_in_as(&self) -> Option<String> {
        let html = self.page("/").await;
        let doc = Html::parse_document(&html);
        doc.select(&Selector::parse(".signed-in").unwrap())
            .next()
            .map(|e| e.text().collect::<String>().trim().to_owned())
    }
}

pub fn csrf_in(html: &str) -> String {
    let doc = Html::parse_document(html);
    let selector = Selector::parse("input[name=csrf]").unwrap();
    doc.select(&selector).next().and_then(|e| e.value().attr("value")).expect("a CSRF field").to_owned()
}

pub fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("storefront_session="))
        .map(str::to_owned)
}

pub fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().trim_start_matches("storefront_session=").to_owned()
}

/// A visitor signed in as a new account, made with `password`.
pub async fn signed_in_with(app: &TestApp, email: &str, password: &str, admin: bool) -> Visitor {
    app.create_user(email, password, admin).await;
    let visitor = Visitor::new(app);
    assert_eq!(visitor.login(email, password).await.status(), StatusCode::SEE_OTHER, "sign in as {email}");
    visitor
}

/// A browser signed in as the admin `root@example.com` (password
/// `root password`).
pub async fn admin(app: &TestApp) -> Visitor {
    signed_in_with(app, "root@example.com", "root password", true).await
}

/// Adds `quantity` of a product to `v`'s cart with the form on its page.
pub async fn add_to_cart(v: &Visitor, product_page: &str, product_id: i32, quantity: &str) -> reqwest::Response {
    let html = v.page(product_page).await;
    let csrf = csrf_in(&html);
    v.post("/cart/add", &[("csrf", &csrf), ("product_id", &product_id.to_string()), ("quantity", quantity)]).await
}

/// The cart page's lines: (product name, quantity).
pub fn cart_lines(html: &str) -> Vec<(String, String)> {
    let doc = Html::parse_document(html);
    let row = Selector::parse("tr.cart-line").unwrap();
    let name = Selector::parse("td a").unwrap();
    let qty = Selector::parse("input[name=quantity]").unwrap();
    doc.select(&row)
        .map(|r| {
            let n = r.select(&name).next().unwrap().text().collect::<String>();
            let q = r.select(&qty).next().unwrap().value().attr("value").unwrap().to_owned();
            (n, q)
        })
        .collect()
}
