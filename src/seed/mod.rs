//! A deterministic catalog generator: the demo shop on first start, and
//! `storefront seed` for realistic volumes. The same `--seed` always yields
//! the same catalog; names and descriptions read like a real shop, and about
//! 1-5% of products match `laptop`. Every product gets a picture drawn for
//! its category's theme (`pictures`).

mod pictures;
mod words;

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait, TransactionTrait,
};

use crate::domain::{Money, Slug};
use crate::error::AppError;
use crate::media::{Media, Stored};
use crate::models::{category_entity, product, product_entity, product_image};
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
pub async fn load(db: &DatabaseConnection, media: &Media, plan: SeedPlan, reset: bool) -> Result<(), AppError> {
    let pictures = draw_pictures(media, plan).await?;
    let txn = db.begin().await?;
    if reset {
        product_image::Entity::delete_many().exec(&txn).await?;
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
    give_pictures(&txn, &ids, &pictures).await?;
    writes::record_everything_changed(&txn).await?;
    txn.commit().await?;
    // Fresh statistics, so the planner sees the new rows at once rather than
    // after autovacuum's next pass (before it, a search scans the table). On
    // PostgreSQL, VACUUM also merges the trigram index's pending list, which
    // bulk inserts leave long and every search would otherwise walk, and
    // marks the search postings' pages all-visible, so a search reads them
    // from their index alone from the first request.
    let tidy = match db.get_database_backend() {
        DbBackend::Postgres => "VACUUM ANALYZE products, search_postings",
        _ => "ANALYZE",
    };
    db.execute_unprepared(tidy).await?;
    Ok(())
}

/// Draws and stores the pictures of the themes the plan's categories use:
/// `[theme][variant]`. Off the async threads, which drawing would hold up.
async fn draw_pictures(media: &Media, plan: SeedPlan) -> Result<Vec<Vec<Stored>>, AppError> {
    let themes = (plan.categories as usize).min(THEMES.len());
    let media = media.clone();
    let drawn = tokio::task::spawn_blocking(move || {
        use rayon::prelude::*;
        (0..themes)
            .into_par_iter()
            .map(|theme| (0..pictures::VARIANTS).map(|v| media.store_drawn(pictures::draw(theme, v))).collect())
            .collect::<Result<Vec<Vec<Stored>>, std::io::Error>>()
    });
    let failed = |e: String| AppError::Internal(format!("storing the seed's pictures: {e}"));
    drawn.await.map_err(|e| failed(e.to_string()))?.map_err(|e| failed(e.to_string()))
}

/// Gives every product of the categories `ids` (in the order of
/// [`generate_categories`]) one picture of its theme's, the variant by its
/// id: one `INSERT … SELECT` per category and variant, however many
/// products there are.
async fn give_pictures(txn: &impl ConnectionTrait, ids: &[i32], pictures: &[Vec<Stored>]) -> Result<(), AppError> {
    use sea_orm::sea_query::{Expr, ExprTrait, Query};
    let now = Utc::now();
    for (i, category_id) in ids.iter().enumerate() {
        for (variant, picture) in pictures[i % THEMES.len()].iter().enumerate() {
            let dimension = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
            let rows = Query::select()
                .column(product::Column::Id)
                .expr(Expr::val(picture.hash.to_string()))
                .expr(Expr::val(dimension(picture.width)))
                .expr(Expr::val(dimension(picture.height)))
                .expr(Expr::val(0))
                .expr(Expr::val(now))
                .from(product_entity::Entity)
                .and_where(Expr::col(product::Column::CategoryId).eq(*category_id))
                .and_where(Expr::col(product::Column::Id).modulo(pictures::VARIANTS as i32).eq(variant as i32))
                .to_owned();
            let insert = Query::insert()
                .into_table(product_image::Entity)
                .columns([
                    product_image::Column::ProductId,
                    product_image::Column::Hash,
                    product_image::Column::Width,
                    product_image::Column::Height,
                    product_image::Column::Position,
                    product_image::Column::CreatedAt,
                ])
                .select_from(rows)
                .map_err(|e| AppError::Internal(format!("the seed's picture insert: {e}")))?
                .to_owned();
            txn.execute(&insert).await?;
        }
    }
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
