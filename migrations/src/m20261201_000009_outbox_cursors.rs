//! Every cache over the database gets every invalidation. Rows are no
//! longer deleted when one cache has taken them: each cache namespace (a
//! Redis and key prefix, an in-process cache, a set of edge caches) keeps
//! its own cursor, and rows go when they are older than the retention
//! window.
//!
//! - `xact` orders rows by transaction on PostgreSQL, where ids are handed
//!   out before commit and so can become visible out of order; a cursor
//!   there is a transaction horizon (see `cache::cursor`). SQLite has one
//!   writer at a time, so its ids are already in commit order and `xact`
//!   stays empty.
//! - `cache_cursors` holds the cursors of namespaces that cannot keep one
//!   themselves (edge caches), and, under the name `pruned`, the highest
//!   position retention has deleted: a namespace behind it has missed rows.
//! - `redis_applied` (one Redis and the edges sharing a row) goes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CacheOutbox {
    Table,
    RedisApplied,
    Xact,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CacheCursors {
    Table,
    Name,
    Position,
    Applied,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            // Evaluated at insert, in the inserting transaction.
            db.execute_unprepared(
                "ALTER TABLE cache_outbox ADD COLUMN xact BIGINT DEFAULT (pg_current_xact_id()::text::bigint)",
            )
            .await?;
        } else {
            manager
                .alter_table(
                    Table::alter()
                        .table(CacheOutbox::Table)
                        .add_column(ColumnDef::new(CacheOutbox::Xact).big_integer())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(Table::alter().table(CacheOutbox::Table).drop_column(CacheOutbox::RedisApplied).to_owned())
            .await?;
        manager
            .create_index(
                Index::create().name("cache_outbox_xact").table(CacheOutbox::Table).col(CacheOutbox::Xact).to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("cache_outbox_created_at")
                    .table(CacheOutbox::Table)
                    .col(CacheOutbox::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CacheCursors::Table)
                    .col(ColumnDef::new(CacheCursors::Name).string().not_null().primary_key())
                    .col(ColumnDef::new(CacheCursors::Position).big_integer().not_null())
                    .col(ColumnDef::new(CacheCursors::Applied).text().not_null())
                    .col(ColumnDef::new(CacheCursors::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(
            "INSERT INTO cache_cursors (name, position, applied, updated_at) VALUES ('pruned', 0, '', CURRENT_TIMESTAMP)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CacheCursors::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("cache_outbox_created_at").table(CacheOutbox::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("cache_outbox_xact").table(CacheOutbox::Table).to_owned()).await?;
        // One change per statement: SQLite alters one thing at a time.
        manager.alter_table(Table::alter().table(CacheOutbox::Table).drop_column(CacheOutbox::Xact).to_owned()).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CacheOutbox::Table)
                    .add_column(ColumnDef::new(CacheOutbox::RedisApplied).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await
    }
}
