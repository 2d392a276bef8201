//! The `storefront` command line: `serve` (the default), `migrate`, `seed`.

use clap::{Parser, Subcommand};

use crate::auth::{Email, Password};
use crate::cache::Cache;
use crate::config::Settings;
use crate::seed::{self, SeedPlan};
use crate::startup::{self, Application};
use crate::state::AppState;

#[derive(Debug, Parser)]
#[command(name = "storefront", version, about = "A server-rendered shop with a JSON API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations and serve the shop on STOREFRONT_ADDR.
    Serve {
        /// Load the demo catalog if the catalog is empty (always done on SQLite).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending migrations and exit.
    Migrate,
    /// Generate a deterministic catalog.
    Seed {
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        categories: u32,
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
        products: u32,
        /// The same seed always generates the same catalog.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Delete the existing catalog first (otherwise a non-empty catalog is refused).
        #[arg(long)]
        reset: bool,
    },
    /// Inspect, warm or clear this app's cache.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage API tokens (`Authorization: Bearer ...` for API writes).
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create an API token for an admin account; it is printed once.
    Create {
        #[arg(long)]
        email: String,
    },
    /// Revoke a token by its id (printed when it was created).
    Revoke { id: i32 },
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create an account (or reset its password). The password is read from
    /// STOREFRONT_PASSWORD or the first line of standard input, never from an
    /// argument, so it stays out of shell history and process lists.
    Create {
        #[arg(long)]
        email: String,
        /// Let this account edit the catalog.
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// Hit rate (all instances), entries and Redis memory.
    Stats,
    /// Pre-fill the pages and API responses shoppers ask for first.
    Warm {
        /// How many of the newest products get their pages warmed.
        #[arg(long, default_value_t = 50)]
        products: u64,
    },
    /// Make every entry of this app stale (never FLUSHDB: sessions may share Redis).
    Clear,
}

/// A failure of a command, printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Startup(#[from] startup::StartupError),
    #[error("{0}")]
    Failed(String),
}

pub async fn run(command: Command, mut settings: Settings) -> Result<(), CliError> {
    match command {
        Command::Serve { demo } => {
            settings.demo_catalog = demo || settings.database_url.is_sqlite();
            let app = Application::build(settings).await?;
            tracing::info!("storefront listening on http://{}", app.local_addr());
            app.run_until_stopped().await.map_err(|e| CliError::Failed(format!("server error: {e}")))
        }
        Command::Migrate => {
            let db = startup::connect(&settings).await?;
            startup::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed { categories, products, seed: seed_value, reset } => {
            let db = startup::connect_migrated(&settings).await?;
            let failed = |e: crate::error::AppError| CliError::Failed(format!("seeding failed: {e}"));
            if !reset && !seed::catalog_is_empty(&db).await.map_err(failed)? {
                return Err(CliError::Failed("the catalog is not empty; pass --reset to replace it".into()));
            }
            let plan = SeedPlan { categories, products, seed: seed_value };
            let started = std::time::Instant::now();
            let media = startup::media(&settings)?;
            seed::load(&db, &media, plan, reset).await.map_err(failed)?;
            let cache = Cache::new(&settings.cache, db.clone()).map_err(CliError::Failed)?;
            if let Err(e) = cache.flusher().flush().await {
                eprintln!("storefront: the cache could not be told yet ({e}); a running server will apply it");
            }
            println!(
                "seeded {categories} categories and {products} products (seed {seed_value}) in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::User { action: UserAction::Create { email, admin } } => {
            let email = Email::parse(&email).map_err(|e| CliError::Failed(format!("--email: {e}")))?;
            let raw = match std::env::var("STOREFRONT_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .map_err(|e| CliError::Failed(format!("reading the password from stdin: {e}")))?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let password = Password::parse(&raw).map_err(|e| CliError::Failed(format!("password: {e}")))?;
            let db = startup::connect(&settings).await?;
            startup::migrate(&db).await?;
            let hasher = crate::auth::Hasher::new(settings.password_hash_queue);
            let user = crate::auth::users::create_or_update(&db, &hasher, email, password, admin)
                .await
                .map_err(|e| CliError::Failed(format!("user create: {e}")))?;
            let role = if user.is_admin { "admin" } else { "shopper" };
            println!("account {} ({role}) is ready", user.email);
            Ok(())
        }
        Command::Token { action } => {
            let db = startup::connect(&settings).await?;
            startup::migrate(&db).await?;
            let failed = |e: crate::error::AppError| CliError::Failed(format!("token: {e}"));
            match action {
                TokenAction::Create { email } => {
                    let email = Email::parse(&email).map_err(|e| CliError::Failed(format!("--email: {e}")))?;
                    let user = crate::auth::users::find_by_email(&db, &email)
                        .await
                        .map_err(failed)?
                        .ok_or_else(|| CliError::Failed(format!("no account has the email {email}")))?;
                    if !user.is_admin {
                        return Err(CliError::Failed(format!("{email} is not an admin; API writes need one")));
                    }
                    let (id, token) = crate::auth::tokens::create(&db, user.id).await.map_err(failed)?;
                    println!("token {id} for {email} (shown once, keep it secret):");
                    println!("{token}");
                    Ok(())
                }
                TokenAction::Revoke { id } => {
                    if crate::auth::tokens::revoke(&db, id).await.map_err(failed)? {
                        println!("token {id} revoked");
                        Ok(())
                    } else {
                        Err(CliError::Failed(format!("no live token has the id {id}")))
                    }
                }
            }
        }
        Command::Cache { action } => {
            let state = startup::state_for_commands(settings).await?;
            match action {
                CacheAction::Stats => cache_stats(&state).await,
                CacheAction::Warm { products } => cache_warm(state, products).await,
                CacheAction::Clear => {
                    state.cache.flusher().clear().await.map_err(|e| CliError::Failed(format!("cache clear: {e}")))?;
                    println!("every cached entry under {:?} is now stale", state.cache.keys().prefix());
                    Ok(())
                }
            }
        }
    }
}

async fn cache_stats(state: &AppState) -> Result<(), CliError> {
    let cache = &state.cache;
    let failed = |e: crate::cache::CacheError| CliError::Failed(format!("cache stats: {e}"));
    let (hits, misses) = cache.shared_stats().await.map_err(failed)?;
    // Keys live on every primary (each master of a cluster): visit each.
    let mut entries = 0u64;
    let mut memory = 0u64;
    for node in cache.primaries().await.map_err(failed)? {
        let (keys, used) =
            primary_stats(node, cache.keys()).await.map_err(|e| CliError::Failed(format!("cache stats: {e}")))?;
        entries += keys;
        memory += used;
    }
    let used = format!("{:.2}M", memory as f64 / (1024.0 * 1024.0));
    let total = hits + misses;
    let rate = if total == 0 { 0.0 } else { hits as f64 * 100.0 / total as f64 };
    println!("prefix        {} (version {})", cache.keys().prefix(), cache.keys().version());
    println!("hits          {hits}");
    println!("misses        {misses}");
    println!("hit rate      {rate:.1}%");
    println!("entries       {entries}");
    println!("redis memory  {used}");
    // Invalidations recorded that a cache this instance serves has yet to
    // apply (the flusher of a running server applies them).
    let pending = cache.flusher().pending().await.map_err(|e| CliError::Failed(format!("cache stats: {e}")))?;
    let pending: Vec<String> = pending.iter().map(|(cache, n)| format!("{cache} {n}")).collect();
    println!("pending       {}", pending.join(", "));
    Ok(())
}

/// The number of this app's entries on one Redis primary, and its memory.
async fn primary_stats(node: redis::ConnectionInfo, keys: &crate::cache::Keys) -> redis::RedisResult<(u64, u64)> {
    let client = redis::Client::open(node)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
        .set_response_timeout(Some(std::time::Duration::from_secs(5)));
    let mut conn = client.get_multiplexed_async_connection_with_config(&config).await?;
    let mut entries = 0u64;
    let mut cursor = 0u64;
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(keys.pattern())
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        entries +=
            found.iter().filter(|k| !keys.is_tag(k) && **k != keys.stats() && **k != keys.outbox_cursor()).count()
                as u64;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let info: String = redis::cmd("INFO").arg("memory").query_async(&mut conn).await?;
    let used = info.lines().find_map(|l| l.strip_prefix("used_memory:")).and_then(|v| v.trim().parse().ok());
    Ok((entries, used.unwrap_or(0)))
}

/// Requests the first pages through the app's own router, so exactly the
/// entries real requests read are filled.
async fn cache_warm(state: AppState, newest: u64) -> Result<(), CliError> {
    use tower::ServiceExt;
    let db = state.db.clone();
    let failed = |e: crate::error::AppError| CliError::Failed(format!("cache warm: {e}"));
    let categories = crate::services::catalog::categories(&db).await.map_err(failed)?;
    let (products, ()) = crate::services::catalog::newest_products(&db, newest, |_| async {}).await.map_err(failed)?;
    let mut paths: Vec<String> = ["/", "/categories", "/products", "/api/categories/", "/api/products/"]
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    for c in &categories {
        paths.push(format!("/categories/{}", c.slug));
        paths.push(format!("/api/products/?category__id={}", c.id));
    }
    for p in &products {
        paths.push(format!("/products/{}", p.slug));
        paths.push(format!("/api/products/{}/", p.id));
    }
    let router = crate::routes::router(state);
    let bar = indicatif::ProgressBar::new(paths.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("warming {bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut failures = 0;
    for path in &paths {
        bar.set_message(path.clone());
        let request = axum::http::Request::get(path.as_str())
            .body(axum::body::Body::empty())
            .map_err(|e| CliError::Failed(format!("cache warm: {e}")))?;
        let Ok(response) = router.clone().oneshot(request).await;
        if !response.status().is_success() {
            failures += 1;
        }
        bar.inc(1);
    }
    bar.finish_with_message("done");
    println!("warmed {} entries ({failures} failed)", paths.len() - failures);
    Ok(())
}
