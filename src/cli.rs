//! The `storefront` command line: `serve` (the default), `migrate`, `seed`.

use clap::{Parser, Subcommand};

use crate::cache::Cache;
use crate::config::Settings;
use crate::seed::{self, SeedPlan};
use crate::startup::{self, Application};

#[derive(Debug, Parser)]
#[command(
    name = "storefront",
    version,
    about = "A server-rendered shop with a JSON API"
)]
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
            app.run_until_stopped()
                .await
                .map_err(|e| CliError::Failed(format!("server error: {e}")))
        }
        Command::Migrate => {
            let db = startup::connect(&settings).await?;
            startup::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed {
            categories,
            products,
            seed: seed_value,
            reset,
        } => {
            let db = startup::connect(&settings).await?;
            startup::migrate(&db).await?;
            let failed =
                |e: crate::error::AppError| CliError::Failed(format!("seeding failed: {e}"));
            if !reset && !seed::catalog_is_empty(&db).await.map_err(failed)? {
                return Err(CliError::Failed(
                    "the catalog is not empty; pass --reset to replace it".into(),
                ));
            }
            let plan = SeedPlan {
                categories,
                products,
                seed: seed_value,
            };
            let started = std::time::Instant::now();
            seed::load(&db, plan, reset).await.map_err(failed)?;
            let cache = Cache::new(&settings.cache, db.clone()).map_err(CliError::Failed)?;
            if let Err(e) = cache.flush_outbox().await {
                eprintln!(
                    "storefront: the cache could not be told yet ({e}); a running server will apply it"
                );
            }
            println!(
                "seeded {categories} categories and {products} products (seed {seed_value}) in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}
