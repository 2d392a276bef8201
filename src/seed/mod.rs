//! A deterministic catalog generator: the demo shop on first start, and
//! `storefront seed` for realistic volumes. The same `--seed` always yields
//! the same catalog; names and descriptions read like a real shop, and about
//! 1-5% of products match `laptop`.

mod words;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait, TransactionTrait,
};

use crate::domain::{Money, Slug};
use crate::error::AppError;
use crate::models::{category_entity, product_entity};
use crate::services::writes::{self, NewCategory, NewProduct};
use words::THEMES;

/// How much to generate.
#[derive(Clone, Copy, Debug)]
pub struct SeedPlan {
    pub categories: u32,
    pub products: u32,
    pub seed: u64,
}

impl SeedPlan {
    /// The catalog a new user sees on first start.
    pub const DEMO: SeedPlan = SeedPlan { categories: 12, products: 240, seed: 42 };
}

/// Rows per INSERT: well under both backends' bind-parameter limits.
const BATCH: usize = 1000;

/// Generated timestamps count back from a fixed instant, so the catalog (and
/// its "newest" order) is the same on every run.
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid constant date")
}

pub fn generate_categories(plan: SeedPlan) -> Vec<NewCategory> {
    (0..plan.categories as usize)
        .map(|i| {
            let theme = &THEMES[i % THEMES.len()];
            let round = i / THEMES.len();
            let name = if round == 0 { theme.name.to_owned() } else { format!("{} {}", theme.name, round + 1) };
            NewCategory {
                slug: Slug::from_name(&name).expect("theme names have letters"),
                name,
                description: theme.description.to_owned(),
            }
        })
        .collect()
}

/// Products for categories whose ids are `category_ids` (in the order of
/// [`generate_categories`]).
pub fn generate_products(plan: SeedPlan, category_ids: &[i32]) -> Vec<NewProduct> {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    (0..plan.products as usize)
        .map(|i| {
            let c = rng.random_range(0..category_ids.len());
            let theme = &THEMES[c % THEMES.len()];
            let brand = words::BRANDS[rng.random_range(0..words::BRANDS.len())];
            let adjective = words::ADJECTIVES[rng.random_range(0..words::ADJECTIVES.len())];
            let noun = theme.nouns[rng.random_range(0..theme.nouns.len())];
            let name = format!("{brand} {adjective} {noun}");
            let slug = Slug::from_name(&format!("{name} {}", i + 1)).expect("names have letters");
            let material = theme.materials[rng.random_range(0..theme.materials.len())];
            let feature = theme.features[rng.random_range(0..theme.features.len())];
            let closing = words::CLOSINGS[rng.random_range(0..words::CLOSINGS.len())];
            let adjective_lc = adjective.to_lowercase();
            let article = if adjective_lc.starts_with(['a', 'e', 'i', 'o', 'u']) { "An" } else { "A" };
            let description = format!(
                "{article} {adjective_lc} {material} {} from {brand}, {feature}. {closing}",
                noun.to_lowercase()
            );
            let (lo, hi) = theme.price_range;
            let dollars = rng.random_range(lo..=hi);
            let cents = [0, 49, 95, 99][rng.random_range(0..4)];
            let stock = if rng.random_bool(0.15) { 0 } else { rng.random_range(1..=200) };
            let age = Duration::seconds(rng.random_range(0..365 * 24 * 3600));
            NewProduct {
                category_id: category_ids[c],
                name,
                slug,
                description,
                price: Money::from_cents(dollars * 100 + cents).expect("price ranges are small"),
                stock,
                is_active: !rng.random_bool(0.03),
                created_at: Some(epoch() - age),
            }
        })
        .collect()
}

pub async fn catalog_is_empty(db: &impl ConnectionTrait) -> Result<bool, AppError> {
    Ok(category_entity::Entity::find().count(db).await? == 0)
}

/// Generates and inserts a catalog in one transaction, products in batches;
/// with `reset`, the existing catalog is deleted first. The whole cache is
/// marked stale in the same transaction (bulk inserts run no hooks); the
/// caller applies that after commit with `Flusher::flush`.
pub async fn load(db: &DatabaseConnection, plan: SeedPlan, reset: bool) -> Result<(), AppError> {
    let txn = db.begin().await?;
    if reset {
        product_entity::Entity::delete_many().exec(&txn).await?;
        category_entity::Entity::delete_many().exec(&txn).await?;
    }
    let mut ids = Vec::with_capacity(plan.categories as usize);
    for new in generate_categories(plan) {
        ids.push(writes::category_active_model(new).insert(&txn).await?.id);
    }
    let products = generate_products(plan, &ids);
    for chunk in products.chunks(BATCH) {
        let models = chunk.iter().cloned().map(writes::product_active_model);
        product_entity::Entity::insert_many(models).exec(&txn).await?;
    }
    writes::record_everything_changed(&txn).await?;
    txn.commit().await?;
    // Fresh statistics, so the planner sees the new rows at once rather than
    // after autovacuum's next pass (before it, a search scans the table). On
    // PostgreSQL, VACUUM also merges the trigram index's pending list, which
    // bulk inserts leave long and every search would otherwise walk.
    let tidy = match db.get_database_backend() {
        DbBackend::Postgres => "VACUUM ANALYZE products",
        _ => "ANALYZE",
    };
    db.execute_unprepared(tidy).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_catalog() {
        let plan = SeedPlan { categories: 20, products: 500, seed: 7 };
        let ids: Vec<i32> = (1..=20).collect();
        let a = generate_products(plan, &ids);
        let b = generate_products(plan, &ids);
        assert_eq!(
            a.iter().map(|p| (&p.name, &p.description, p.price, p.stock)).collect::<Vec<_>>(),
            b.iter().map(|p| (&p.name, &p.description, p.price, p.stock)).collect::<Vec<_>>()
        );
        let other = generate_products(SeedPlan { seed: 8, ..plan }, &ids);
        assert_ne!(a[0].name, other[0].name);
    }

    #[test]
    fn laptop_matches_one_to_five_percent_of_products() {
        let plan = SeedPlan { categories: 20, products: 10_000, seed: 42 };
        let ids: Vec<i32> = (1..=20).collect();
        let products = generate_products(plan, &ids);
        let hits = products
            .iter()
            .filter(|p| format!("{} {}", p.name, p.description).to_lowercase().contains("laptop"))
            .count();
        let share = hits as f64 / products.len() as f64;
        assert!((0.01..=0.05).contains(&share), "laptop share {share}");
    }

    #[test]
    fn slugs_are_unique() {
        let plan = SeedPlan { categories: 30, products: 5_000, seed: 1 };
        let cats = generate_categories(plan);
        let mut slugs: Vec<_> = cats.iter().map(|c| c.slug.to_string()).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), 30);
        let ids: Vec<i32> = (1..=30).collect();
        let mut slugs: Vec<_> = generate_products(plan, &ids).into_iter().map(|p| p.slug.to_string()).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), 5_000);
    }
}
