//! The fixture: a small catalog whose every property the tests know,
//! written through the application's own write layer.

use chrono::{DateTime, TimeZone, Utc};
use sea_orm::DatabaseConnection;
use storefront::cache::Cache;
use storefront::domain::{Money, Slug};
use storefront::services::writes::{self, NewCategory, NewProduct};

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
    pub description: &'static str,
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
            fixture.categories.push(FixtureCategory { id: c.id, name, slug, description });
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
