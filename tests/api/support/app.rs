//! The test harness: a real storefront server on a free port, over a fresh
//! database filled with the [`Fixture`] catalog, and one helper per
//! endpoint the tests call most.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use storefront::auth::{Email, Password, users};
use storefront::cache::Cache;
use storefront::config::Settings;
use storefront::domain::{Money, Slug};
use storefront::services::writes::{self, NewProduct};
use storefront::startup::Application;
use storefront::state::AppState;

use super::fixture::Fixture;
use super::store::{Backend, Store, require_redis, unique_name};

pub struct TestApp {
    pub address: String,
    /// The metrics listener's origin, when `settings.metrics_addr` was set.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub db: DatabaseConnection,
    pub state: AppState,
    pub fixture: Fixture,
    /// Keeps the database alive (and removes it) for the test's duration;
    /// `None` for a second instance sharing another's database.
    _store: Option<Store>,
}

impl TestApp {
    /// A server over a fresh database holding the [`Fixture`] catalog.
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_configured(backend, |_| {}).await
    }

    /// A server holding the [`Fixture`] catalog, with settings changed.
    pub async fn spawn_configured(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let app = Self::spawn_with(Store::create(backend).await, configure).await;
        let fixture = Fixture::load(&app.db, &app.state.cache).await;
        TestApp { fixture, ..app }
    }

    /// A server over a fresh, migrated, empty database.
    pub async fn spawn_empty(backend: Backend) -> TestApp {
        let store = Store::create(backend).await;
        Self::spawn_with(store, |_| {}).await
    }

    pub async fn spawn_with(store: Store, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let settings = store.settings();
        Self::spawn_settings(Some(store), settings, configure).await
    }

    /// A server with explicit settings (e.g. a second instance sharing the
    /// first one's database and cache prefix).
    pub async fn spawn_settings(
        store: Option<Store>,
        mut settings: Settings,
        configure: impl FnOnce(&mut Settings),
    ) -> TestApp {
        configure(&mut settings);
        if settings.cache.enabled {
            require_redis(&settings.cache.redis_url).await;
        }
        Self::start(store, settings).await
    }

    /// A server with explicit settings, started whether or not its Redis
    /// answers (a shop must start while it is down).
    pub async fn start(store: Option<Store>, settings: Settings) -> TestApp {
        let app = Application::build(settings).await.expect("application starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = app.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
        let db = app.state().db.clone();
        let state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        TestApp { address, metrics_address, client, db, state, fixture: Fixture::default(), _store: store }
    }

    /// Another app instance on the same database, Redis and key prefix.
    pub async fn second_instance(&self) -> TestApp {
        let settings = (*self.state.settings).clone();
        let mut app = Self::spawn_settings(None, settings, |_| {}).await;
        app.fixture = self.fixture.clone();
        app
    }

    /// An account, made as `storefront user create` makes one (or its
    /// password and rights reset, if it exists).
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        admin: bool,
    ) -> storefront::models::_entities::user::Model {
        let (email, password) = (Email::parse(email).expect("email"), Password::parse(password).expect("password"));
        users::create_or_update(&self.db, &self.state.hasher, email, password, admin).await.expect("user created")
    }

    pub fn cache(&self) -> &Cache {
        &self.state.cache
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `/metrics` on the metrics listener (the app must have been given
    /// `settings.metrics_addr`), expecting 200; returns the Prometheus text.
    pub async fn metrics(&self) -> String {
        let origin = self.metrics_address.as_deref().expect("the app serves metrics (set settings.metrics_addr)");
        let response = self.client.get(format!("{origin}/metrics")).send().await.expect("request sent");
        assert_eq!(response.status(), 200, "GET {origin}/metrics");
        response.text().await.expect("body")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }

    /// GET expecting `status`; returns the JSON body.
    pub async fn get_json(&self, path: &str, status: u16) -> serde_json::Value {
        let response = self.get(path).await;
        let got = response.status().as_u16();
        let body = response.text().await.expect("body");
        assert_eq!(got, status, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// GET expecting `status`; returns the HTML body.
    pub async fn get_html(&self, path: &str, status: u16) -> String {
        let response = self.get(path).await;
        let got = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let body = response.text().await.expect("body");
        assert_eq!(got, status, "GET {path}: {body}");
        assert!(content_type.starts_with("text/html"), "GET {path}: content-type {content_type}");
        body
    }

    /// GET with one extra request header (a conditional request, a fetch
    /// from an edge cache).
    pub async fn get_with_header(&self, path: &str, name: &str, value: &str) -> reqwest::Response {
        self.client.get(self.url(path)).header(name, value).send().await.expect("request sent")
    }

    /// `GET /api/products/{id}/` expecting `status`; returns the JSON body.
    pub async fn get_product_json(&self, id: i32, status: u16) -> serde_json::Value {
        self.get_json(&format!("/api/products/{id}/"), status).await
    }

    /// `GET /products/{slug}` expecting `status`; returns the HTML body.
    pub async fn get_product_page(&self, slug: &str, status: u16) -> String {
        self.get_html(&format!("/products/{slug}"), status).await
    }

    /// `PATCH /api/products/{id}/` with `body`, authorized by `token`.
    pub async fn api_patch_product(&self, token: &str, id: i32, body: &serde_json::Value) -> reqwest::Response {
        let url = self.url(&format!("/api/products/{id}/"));
        self.client.patch(url).bearer_auth(token).json(body).send().await.expect("request sent")
    }

    /// Adds an active product to `category` (a fixture slug) through the
    /// write layer, under a slug of its own; returns (id, slug).
    pub async fn add_product(&self, category: &str, name: &str, description: &str, stock: u32) -> (i32, String) {
        self.add_product_created(category, name, description, stock, None).await
    }

    /// [`Self::add_product`], created at `created_at` (else now).
    pub async fn add_product_created(
        &self,
        category: &str,
        name: &str,
        description: &str,
        stock: u32,
        created_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> (i32, String) {
        let slug = Slug::parse(&unique_name("product").replace('_', "-")).expect("a slug");
        let p = writes::create_product(
            &self.db,
            self.cache(),
            NewProduct {
                category_id: self.fixture.category(category).id,
                name: name.to_owned(),
                slug: slug.clone(),
                description: description.to_owned(),
                price: Money::from_cents(1000).unwrap(),
                stock,
                is_active: true,
                created_at,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("product {name:?}: {e:?}"));
        (p.id, slug.to_string())
    }

    /// Follows an API list's `next` links from `path`; returns every result.
    pub async fn all_pages(&self, path: &str) -> Vec<serde_json::Value> {
        let mut results = Vec::new();
        let mut url = Some(self.url(path));
        let mut pages = 0;
        while let Some(u) = url {
            let body: serde_json::Value = self.client.get(&u).send().await.expect("sent").json().await.expect("json");
            results.extend(body["results"].as_array().unwrap_or_else(|| panic!("{u}: {body}")).iter().cloned());
            url = body["next"].as_str().map(str::to_owned);
            pages += 1;
            assert!(pages < 1000, "pagination does not end");
        }
        results
    }
}
