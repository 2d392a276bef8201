//! Schema migrations for the storefront database, shared by SQLite and PostgreSQL.
//!
//! Each migration is one file named by date; `Migrator` lists them in order.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_catalog;
mod m20261123_000002_create_cache_outbox;
mod m20261123_000003_create_users;
mod m20261123_000004_create_api_tokens;
mod m20261124_000005_search_document;
mod m20261124_000006_category_counts;
mod m20261124_000007_outbox_edge_purge;
mod m20261201_000008_auth_hardening;
mod m20261201_000009_outbox_cursors;
mod m20261201_000010_embedded_stores;
mod m20261201_000011_mail_outbox;
mod m20261201_000012_orders;
mod m20261201_000013_folded_search_document;
mod m20261202_000014_product_images;
mod m20261202_000015_shopper_search;
mod m20261202_000016_search_postings;
mod m20261203_000017_packed_postings;

mod statements {
    use sea_orm_migration::prelude::*;
    use sea_orm_migration::sea_orm::DbBackend;

    /// Runs each statement written for the database's backend in turn: a
    /// migration written as raw SQL, `postgres` on PostgreSQL, `sqlite` on
    /// SQLite (none where it has nothing to do).
    pub async fn run_for(manager: &SchemaManager<'_>, postgres: &[&str], sqlite: &[&str]) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => postgres,
            _ => sqlite,
        };
        let db = manager.get_connection();
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_catalog::Migration),
            Box::new(m20261123_000002_create_cache_outbox::Migration),
            Box::new(m20261123_000003_create_users::Migration),
            Box::new(m20261123_000004_create_api_tokens::Migration),
            Box::new(m20261124_000005_search_document::Migration),
            Box::new(m20261124_000006_category_counts::Migration),
            Box::new(m20261124_000007_outbox_edge_purge::Migration),
            Box::new(m20261201_000008_auth_hardening::Migration),
            Box::new(m20261201_000009_outbox_cursors::Migration),
            Box::new(m20261201_000010_embedded_stores::Migration),
            Box::new(m20261201_000011_mail_outbox::Migration),
            Box::new(m20261201_000012_orders::Migration),
            Box::new(m20261201_000013_folded_search_document::Migration),
            Box::new(m20261202_000014_product_images::Migration),
            Box::new(m20261202_000015_shopper_search::Migration),
            Box::new(m20261202_000016_search_postings::Migration),
            Box::new(m20261203_000017_packed_postings::Migration),
        ]
    }
}
