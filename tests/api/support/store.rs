//! What a test runs on: a fresh database of its own (a temporary SQLite
//! file or a new PostgreSQL database), the shared Redis, and names no other
//! test uses.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use storefront::config::{DatabaseUrl, Settings};

/// The database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Sessions, carts and throttles in the database (`SESSION_STORE=database`);
/// the session Redis is an address where nothing listens.
pub fn database_store(settings: &mut Settings) {
    settings.sessions.store = storefront::config::SessionStoreKind::Database;
    settings.sessions.redis_url = "redis://127.0.0.1:1".into();
}

/// `prefix` made unique across tests and test runs (a database, a key
/// prefix, a slug).
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
        // Mail without SMTP goes to files: never into the checkout's data/.
        settings.mail.dir = std::env::temp_dir().join(unique_name("storefront-mail"));
        // Uploaded and seeded images too.
        settings.media_dir = std::env::temp_dir().join(unique_name("storefront-media"));
        settings
    }
}
