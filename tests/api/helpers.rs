//! The test harness: a real storefront server on a free port, over a fresh
//! database (a temporary SQLite file or a new PostgreSQL database), filled
//! with a small known catalog through the application's own write layer.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use storefront::auth::{Email, Password, users};
use storefront::cache::Cache;
use storefront::config::{DatabaseUrl, Settings};
use storefront::domain::{Money, Slug};
use storefront::services::writes::{self, NewCategory, NewProduct};
use storefront::startup::Application;
use storefront::state::AppState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a scenario once on each backend: `mod name { fn sqlite; fn postgres }`.
#[macro_export]
macro_rules! on_both_backends {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn scenario($app: $crate::helpers::TestApp) $body
                #[tokio::test]
                async fn sqlite() {
                    scenario($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await
                }
                #[tokio::test]
                async fn postgres() {
                    scenario($crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await).await
                }
            }
        )*
    };
}

/// Runs a scenario on each backend with each shared session store:
/// Redis (`sqlite`, `postgres`) and the shop's own database
/// (`sqlite_database_store`, `postgres_database_store`, whose session Redis
/// is an address where nothing listens, so nothing of the session can
/// come from there).
#[macro_export]
macro_rules! on_both_backends_and_stores {
    ($(async fn $name:ident($app:ident: TestApp) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn scenario($app: $crate::helpers::TestApp) $body
                #[tokio::test]
                async fn sqlite() {
                    scenario($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await
                }
                #[tokio::test]
                async fn postgres() {
                    scenario($crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await).await
                }
                #[tokio::test]
                async fn sqlite_database_store() {
                    let app = $crate::helpers::TestApp::spawn_configured(
                        $crate::helpers::Backend::Sqlite,
                        $crate::helpers::database_store,
                    );
                    scenario(app.await).await
                }
                #[tokio::test]
                async fn postgres_database_store() {
                    let app = $crate::helpers::TestApp::spawn_configured(
                        $crate::helpers::Backend::Postgres,
                        $crate::helpers::database_store,
                    );
                    scenario(app.await).await
                }
            }
        )*
    };
}

/// Sessions, carts and throttles in the database (`SESSION_STORE=database`);
/// the session Redis is an address where nothing listens.
pub fn database_store(settings: &mut Settings) {
    settings.sessions.store = storefront::config::SessionStoreKind::Database;
    settings.sessions.redis_url = "redis://127.0.0.1:1".into();
}

pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Fails the test, with how to start Redis, when the shared Redis is down.
pub async fn require_redis(url: &str) {
    // A cluster's first node stands for it.
    let url = storefront::config::redis_nodes(url).next().unwrap_or(url);
    let client = redis::Client::open(url).expect("redis url");
    let reachable = match tokio::time::timeout(Duration::from_secs(3), client.get_multiplexed_async_connection()).await
    {
        Ok(Ok(mut conn)) => redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok(),
        _ => false,
    };
    assert!(
        reachable,
        "Redis is not reachable at {url}. Start it with `redis-server --daemonize yes` \
         or `docker compose up -d redis`, or set TEST_REDIS_URL."
    );
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A PostgreSQL database of its own, dropped when the test ends.
pub struct TestDatabase {
    pub url: String,
    name: String,
    admin_url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let admin_url = postgres_admin_url();
        let admin = Database::connect(format!("{admin_url}/postgres")).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin_url} ({e}). Start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                 or `docker compose up -d postgres`, or set TEST_DATABASE_URL."
            )
        });
        let name = unique_name("sf_test");
        admin
            // Byte-order collation, so the tests' oracle sorts names as the database does.
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\" TEMPLATE template0 LC_COLLATE 'C'"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        TestDatabase { url: format!("{admin_url}/{name}"), name, admin_url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // The test's runtime may be gone: drop the database from a thread of
        // our own. FORCE closes the server's remaining pool connections.
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let url = format!("{}/postgres", self.admin_url);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let admin = Database::connect(url).await.ok()?;
                admin.execute_unprepared(&sql).await.ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

/// A temporary SQLite file, removed when the test ends.
pub struct TestSqlite {
    pub dir: tempfile::TempDir,
}

pub enum Store {
    Sqlite(TestSqlite),
    Postgres(TestDatabase),
}

impl Store {
    pub async fn create(backend: Backend) -> Store {
        match backend {
            Backend::Sqlite => Store::Sqlite(TestSqlite { dir: tempfile::tempdir().expect("temp dir") }),
            Backend::Postgres => Store::Postgres(TestDatabase::create().await),
        }
    }

    pub fn url(&self) -> String {
        match self {
            Store::Sqlite(s) => format!("sqlite://{}/shop.db", s.dir.path().display()),
            Store::Postgres(p) => p.url.clone(),
        }
    }

    /// Settings for this database, on a free port, with a cache key prefix
    /// of its own so tests sharing one Redis never see each other's keys.
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::with_database(DatabaseUrl::parse(&self.url()).expect("test database url"));
        settings.addr = "127.0.0.1:0".parse().expect("address");
        settings.cache.redis_url = redis_url();
        settings.cache.key_prefix = unique_name("sft");
        settings
    }
}

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

    /// Adds an active product to `category` (a fixture slug) through the
    /// write layer, under a slug of its own; returns (id, slug).
    pub async fn add_product(&self, category: &str, name: &str, description: &str, stock: u32) -> (i32, String) {
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
                created_at: None,
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

/// One product of the fixture, with what the oracle needs to know.
#[derive(Clone, Debug)]
pub struct FixtureProduct {
    pub id: i32,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub cents: i64,
    pub stock: u32,
    pub active: bool,
    pub category: &'static str,
    pub category_id: i32,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct FixtureCategory {
    pub id: i32,
    pub name: &'static str,
    pub slug: &'static str,
}

/// A small catalog whose every property the tests know.
#[derive(Clone, Debug, Default)]
pub struct Fixture {
    pub categories: Vec<FixtureCategory>,
    pub products: Vec<FixtureProduct>,
}

/// Laptop stands pad the catalog so listings span several pages.
pub const STANDS: u32 = 45;

impl Fixture {
    pub async fn load(db: &DatabaseConnection, cache: &Cache) -> Fixture {
        let mut fixture = Fixture::default();
        for (name, slug, description) in [
            ("Computers", "computers", "Laptops and accessories"),
            ("Books", "books", "Things to read"),
            ("Garden", "garden", "Nothing here yet"),
        ] {
            let c = writes::create_category(
                db,
                cache,
                NewCategory { name: name.into(), slug: Slug::parse(slug).unwrap(), description: description.into() },
            )
            .await
            .expect("category");
            fixture.categories.push(FixtureCategory { id: c.id, name, slug });
        }
        let mut rows: Vec<(String, String, i64, u32, bool, &'static str)> = vec![
            ("Steel Laptop 13".into(), "Light aluminium laptop for travel".into(), 99900, 5, true, "computers"),
            ("Gaming Laptop".into(), "Fast laptop with an RGB keyboard".into(), 149999, 0, true, "computers"),
            ("Laptop Sleeve".into(), "Padded sleeve, fits 13 inch".into(), 2950, 40, true, "computers"),
            ("Mechanical Keyboard".into(), "Clicky keys on a steel frame".into(), 8999, 12, true, "computers"),
            ("Hidden Laptop".into(), "Withdrawn from sale".into(), 1000, 9, false, "computers"),
            ("Rust in Action".into(), "A book about systems programming".into(), 3999, 3, true, "books"),
            ("The Laptop Handbook".into(), "Guide to caring for your LAPTOP".into(), 1999, 0, true, "books"),
            ("50% Off Cookbook".into(), "Recipes, use discount_code at checkout".into(), 999, 7, true, "books"),
            ("<script>alert(1)</script> Poster".into(), "Escaping <b>test</b> & more".into(), 500, 1, true, "books"),
        ];
        for i in 1..=STANDS {
            rows.push((
                format!("Laptop Stand {i:02}"),
                "Adjustable aluminium stand".into(),
                1000 + i64::from(i) * 100,
                i % 3,
                true,
                "computers",
            ));
        }
        let base = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
        for (i, (name, description, cents, stock, active, category)) in rows.into_iter().enumerate() {
            let category_id = fixture.categories.iter().find(|c| c.slug == category).unwrap().id;
            let slug = Slug::from_name(&name).unwrap();
            let created_at = base - chrono::Duration::hours(i as i64 * 7);
            let p = writes::create_product(
                db,
                cache,
                NewProduct {
                    category_id,
                    name: name.clone(),
                    slug: slug.clone(),
                    description: description.clone(),
                    price: Money::from_cents(cents).unwrap(),
                    stock,
                    is_active: active,
                    created_at: Some(created_at),
                },
            )
            .await
            .expect("product");
            fixture.products.push(FixtureProduct {
                id: p.id,
                name,
                slug: slug.to_string(),
                description,
                cents,
                stock,
                active,
                category,
                category_id,
                created_at,
            });
        }
        fixture
    }

    pub fn category(&self, slug: &str) -> &FixtureCategory {
        self.categories.iter().find(|c| c.slug == slug).expect("fixture category")
    }

    pub fn product(&self, name: &str) -> &FixtureProduct {
        self.products.iter().find(|p| p.name == name).expect("fixture product")
    }

    pub fn active(&self) -> impl Iterator<Item = &FixtureProduct> {
        self.products.iter().filter(|p| p.active)
    }
}
