//! The shoppers' search on PostgreSQL, answerable from an index alone.
//!
//! A search page counts every product its words match and facets them by
//! category, stock and price band. Through `search_vector`'s GIN index each
//! match costs a visit to its wide row on the heap, and at 100k products
//! those visits were most of a bypassed search's time. `search_postings`
//! holds one narrow row per lexeme of each active product's vector, with
//! what the listing and its facets read of the product beside it (`in_name`:
//! the lexeme is in the name, weight A; a vector without weights has none), under a
//! primary key that covers them: a word's matches are one index-only range.
//!
//! A trigger keeps it in step with `products`. A change of the text or of
//! `is_active` rewrites the product's postings; a change of category or
//! price, or of stock across zero, updates them in place; any other stock
//! change (every order) leaves them alone. A deleted product's postings go
//! with it. SQLite needs none of this: its FTS5 index is already narrow.

use sea_orm_migration::prelude::*;

use crate::statements::run_for;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "CREATE TABLE search_postings (\
       lexeme text NOT NULL, \
       product_id integer NOT NULL REFERENCES products (id) ON DELETE CASCADE, \
       in_name boolean NOT NULL, \
       category_id integer NOT NULL, \
       price_cents bigint NOT NULL, \
       in_stock boolean NOT NULL, \
       PRIMARY KEY (lexeme, product_id) INCLUDE (in_name, category_id, price_cents, in_stock))",
    "CREATE INDEX idx_search_postings_product ON search_postings (product_id)",
    r"CREATE FUNCTION products_search_postings() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' THEN
          IF NEW.search_vector = OLD.search_vector AND NEW.is_active = OLD.is_active THEN
            IF NEW.category_id <> OLD.category_id OR NEW.price_cents <> OLD.price_cents
               OR (NEW.stock > 0) <> (OLD.stock > 0) THEN
              UPDATE search_postings
                 SET category_id = NEW.category_id, price_cents = NEW.price_cents, in_stock = NEW.stock > 0
               WHERE product_id = NEW.id;
            END IF;
            RETURN NULL;
          END IF;
          DELETE FROM search_postings WHERE product_id = NEW.id;
        END IF;
        IF NEW.is_active THEN
          INSERT INTO search_postings (lexeme, product_id, in_name, category_id, price_cents, in_stock)
            SELECT lexeme, NEW.id, coalesce('A' = ANY (weights), false), NEW.category_id, NEW.price_cents, NEW.stock > 0
              FROM unnest(NEW.search_vector);
        END IF;
        RETURN NULL;
      END $$",
    "CREATE TRIGGER products_search_postings AFTER INSERT OR UPDATE ON products \
     FOR EACH ROW EXECUTE FUNCTION products_search_postings()",
    "INSERT INTO search_postings (lexeme, product_id, in_name, category_id, price_cents, in_stock) \
     SELECT v.lexeme, p.id, coalesce('A' = ANY (v.weights), false), p.category_id, p.price_cents, p.stock > 0 \
       FROM products p, unnest(p.search_vector) AS v WHERE p.is_active",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS products_search_postings ON products",
    "DROP FUNCTION IF EXISTS products_search_postings()",
    "DROP TABLE IF EXISTS search_postings",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_for(manager, POSTGRES_UP, &[]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_for(manager, POSTGRES_DOWN, &[]).await
    }
}
