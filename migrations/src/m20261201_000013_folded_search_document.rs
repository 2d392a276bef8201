//! The search document on both databases, folded by the application.
//!
//! PostgreSQL's generated `lower(name || ' ' || description)` and SQLite's
//! `LIKE`, which folds ASCII only, disagreed with each other and with the
//! terms, which were lowercased in Rust (`İ` became `i̇`, a final `Σ`
//! became `ς`). Now one folding, the application's, writes the document and
//! reads the terms. The column is left empty here (NULL), since the folding
//! lives in the application: it fills every empty document at start, and
//! each product write keeps its own current.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            // The trigram index stays on the column, now plain.
            db.execute_unprepared("ALTER TABLE products ALTER COLUMN search_document DROP EXPRESSION").await?;
            db.execute_unprepared("UPDATE products SET search_document = NULL").await?;
        } else {
            db.execute_unprepared("ALTER TABLE products ADD COLUMN search_document text").await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("DROP INDEX IF EXISTS idx_products_search_trgm").await?;
            db.execute_unprepared("ALTER TABLE products DROP COLUMN search_document").await?;
            db.execute_unprepared(
                "ALTER TABLE products ADD COLUMN search_document text \
                 GENERATED ALWAYS AS (lower(name || ' ' || description)) STORED",
            )
            .await?;
            db.execute_unprepared(
                "CREATE INDEX idx_products_search_trgm ON products USING gin (search_document gin_trgm_ops)",
            )
            .await?;
        } else {
            db.execute_unprepared("ALTER TABLE products DROP COLUMN search_document").await?;
        }
        Ok(())
    }
}
